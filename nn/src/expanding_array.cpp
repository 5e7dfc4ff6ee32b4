// The check every layer and functional form makes of its sizes, with its name in the message.
#include "xtgrad/nn/expanding_array.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::nn {

template <std::size_t N>
std::array<std::size_t, N> ExpandingArray<N>::checked(std::string_view layer, std::string_view what,
                                                      std::ptrdiff_t minimum) const {
    std::array<std::size_t, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
        if (values_[i] < minimum)
            throw ValueError(
                fmt::format("{}: {} ({}) must be at least {}", layer, what, fmt::join(values_, ", "), minimum));
        out[i] = static_cast<std::size_t>(values_[i]);
    }
    return out;
}

template class ExpandingArray<1>;
template class ExpandingArray<2>;

}  // namespace xtgrad::nn
