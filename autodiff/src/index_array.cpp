// Indices and labels: the checks shared by every op and loss that takes them.
#include "xtgrad/autodiff/index_array.hpp"

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad {

IndexArray::IndexArray(std::vector<std::int64_t> values, Shape shape) : shape_(std::move(shape)), values_(std::move(values)) {
    std::size_t n = 1;
    for (auto d : shape_) n *= d;
    if (n != values_.size())
        throw ValueError(fmt::format("IndexArray: {} values for the shape {}, which holds {}", values_.size(),
                                     to_string(shape_), n));
}

void IndexArray::too_large(unsigned long long v, std::size_t position) {
    throw ValueError(fmt::format(
        "IndexArray: value {} at flat position {} does not fit a signed 64-bit index (a negative number converted to "
        "an unsigned type?); labels and indices become an IndexArray when an op is called with them",
        v, position));
}

std::vector<std::size_t> IndexArray::labels(std::string_view op, std::size_t classes, std::string_view noun) const {
    if (dim() != 1)
        throw ShapeError(fmt::format("{}: labels must be one-dimensional, got shape {}", op, to_string(shape_)));
    std::vector<std::size_t> out(values_.size());
    for (std::size_t n = 0; n < values_.size(); ++n) {
        std::int64_t v = values_[n];
        if (v < 0 || static_cast<std::uint64_t>(v) >= classes)
            throw ValueError(
                fmt::format("{}: {} {} at row {} is out of range for {} classes", op, noun, v, n, classes));
        out[n] = static_cast<std::size_t>(v);
    }
    return out;
}

}  // namespace xtgrad
