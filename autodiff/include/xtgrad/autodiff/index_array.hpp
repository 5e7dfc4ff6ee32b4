// Integer indices and labels, however the caller holds them: a std::vector of any integer
// type, an xtensor array or expression of integers (`xt::arange<int>(n)`, a label column
// loaded as `Array<std::int64_t>`), or a braced list (`{2, 0, 1}`). Every op and loss that
// takes indices or labels takes an IndexArray, so none of these needs a conversion by hand.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <vector>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad {

/// Integer types that are indices; bool is not one (a mask passed where indices are expected
/// would silently select elements 0 and 1).
template <class I>
concept IndexInteger = std::integral<I> && !std::same_as<I, bool>;

class IndexArray {
public:
    IndexArray() = default;
    template <IndexInteger I>
    IndexArray(std::initializer_list<I> values) : shape_{values.size()} {
        for (I v : values) values_.push_back(checked(v));
    }
    template <IndexInteger I>
    IndexArray(const std::vector<I>& values) : shape_{values.size()} {
        values_.reserve(values.size());
        for (I v : values) values_.push_back(checked(v));
    }
    /// Indices already in row-major order with their shape (ValueError unless the shape
    /// holds exactly values.size() of them).
    IndexArray(std::vector<std::int64_t> values, Shape shape);
    /// Any xtensor array or expression of integers, with its shape.
    template <class E>
    requires IndexInteger<typename E::value_type> IndexArray(const xt::xexpression<E>& e) {
        const auto& d = e.derived_cast();
        shape_.assign(d.shape().begin(), d.shape().end());
        values_.reserve(d.size());
        if constexpr (requires { d.data(); }) {
            if (d.layout() == xt::layout_type::row_major) {  // a container: its memory, not xtensor's iterator
                for (std::size_t i = 0; i < d.size(); ++i) values_.push_back(checked(d.data()[i]));
                return;
            }
        }
        for (auto v : d) values_.push_back(checked(v));
    }

    const Shape& shape() const noexcept { return shape_; }
    std::size_t size() const noexcept { return values_.size(); }
    std::size_t dim() const noexcept { return shape_.size(); }
    std::int64_t operator[](std::size_t flat) const { return values_[flat]; }
    const std::int64_t* data() const noexcept { return values_.data(); }

    /// The values as class labels for `op`: one dimension, each in [0, classes). ShapeError
    /// or ValueError naming `op`, the position and the value otherwise ("label 7 at row 2
    /// is out of range for 3 classes"; `noun` replaces "label").
    std::vector<std::size_t> labels(std::string_view op, std::size_t classes, std::string_view noun = "label") const;

private:
    // The next value, checked: its position is the number of values taken so far.
    template <class I>
    std::int64_t checked(I v) const {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
            if (v > static_cast<I>(std::numeric_limits<std::int64_t>::max()))
                too_large(static_cast<unsigned long long>(v), values_.size());
        }
        return static_cast<std::int64_t>(v);
    }
    [[noreturn]] static void too_large(unsigned long long v, std::size_t position);

    Shape shape_{0};
    std::vector<std::int64_t> values_;
};

}  // namespace xtgrad
