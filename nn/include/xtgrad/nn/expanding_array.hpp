// Sizes per spatial axis for convolution and pooling options, as PyTorch's ExpandingArray.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string_view>

namespace xtgrad::nn {

/// A size for each of N spatial axes (kernel, stride, padding, dilation): one number for
/// every axis (`.padding = 1` is 1 on both axes of a 2-D layer, as in PyTorch) or one per axis
/// (`.kernel_size = {3, 5}`); a list of another length does not compile. Values are kept as
/// given, negative ones included, for the layer to refuse by name (`checked`).
template <std::size_t N>
class ExpandingArray {
public:
    template <std::integral I>
    ExpandingArray(I value) {  // NOLINT(google-explicit-constructor): `.stride = 2` is the point
        values_.fill(static_cast<std::ptrdiff_t>(value));
    }
    template <std::integral... I>
    requires(sizeof...(I) == N && N > 1) ExpandingArray(I... values)  // NOLINT(google-explicit-constructor)
        : values_{static_cast<std::ptrdiff_t>(values)...} {}

    template <std::integral I>
    ExpandingArray(const std::array<I, N>& values) {  // NOLINT(google-explicit-constructor)
        for (std::size_t i = 0; i < N; ++i) values_[i] = static_cast<std::ptrdiff_t>(values[i]);
    }

    std::ptrdiff_t operator[](std::size_t axis) const { return values_[axis]; }
    const std::array<std::ptrdiff_t, N>& values() const { return values_; }
    bool operator==(const ExpandingArray&) const = default;

    /// The sizes as unsigned numbers, each at least `minimum`; otherwise a ValueError such as
    /// "Conv2d: kernel_size (0, 0) must be at least 1".
    std::array<std::size_t, N> checked(std::string_view layer, std::string_view what, std::ptrdiff_t minimum) const;

private:
    std::array<std::ptrdiff_t, N> values_{};
};

/// An ExpandingArray that may be left out (a pooling stride, which is then the kernel size):
/// `.stride = 2` and `.stride = {2, 1}` as for ExpandingArray, nothing for none.
template <std::size_t N>
class OptionalExpandingArray {
public:
    OptionalExpandingArray() = default;
    template <class... A>
    requires(sizeof...(A) > 0 && std::constructible_from<ExpandingArray<N>, A...>)
        OptionalExpandingArray(A... values)  // NOLINT(google-explicit-constructor)
        : value_(ExpandingArray<N>(values...)) {}
    explicit operator bool() const { return value_.has_value(); }
    const ExpandingArray<N>& operator*() const { return *value_; }
    const ExpandingArray<N>* operator->() const { return &*value_; }

private:
    std::optional<ExpandingArray<N>> value_;
};

extern template class ExpandingArray<1>;
extern template class ExpandingArray<2>;

}  // namespace xtgrad::nn
