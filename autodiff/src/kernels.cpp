// Argument validation shared by every op.
#include <fmt/ranges.h>

#include "kernels.hpp"

#include <algorithm>

namespace xtgrad::detail {

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
    std::size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        std::size_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        if (da != db && da != 1 && db != 1)
            throw ShapeError(fmt::format("{}: shapes {} and {} cannot be broadcast (dimension {}: {} vs {})", op,
                                         to_string(a), to_string(b), i, da, db));
        out[i] = da == 1 ? db : da;
    }
    return out;
}

std::size_t normalize_axis(std::string_view op, std::ptrdiff_t axis, std::size_t ndim) {
    auto n = static_cast<std::ptrdiff_t>(ndim);
    if (axis < -n || axis >= n)
        throw ValueError(fmt::format("{}: axis {} is out of range for a tensor with {} dimensions", op, axis, ndim));
    return static_cast<std::size_t>(axis < 0 ? axis + n : axis);
}

Shape resolve_sizes(std::string_view op, const ShapeArg& request, const Shape& from) {
    const auto& sizes = request.sizes();
    auto asked = [&] { return fmt::format("[{}]", fmt::join(sizes, ",")); };
    std::size_t have = 1, known = 1, inferred = sizes.size();
    for (std::size_t e : from) have *= e;
    bool overflow = false;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] == -1 && inferred == sizes.size()) {
            inferred = i;
        } else if (sizes[i] == -1) {
            throw ShapeError(fmt::format("{}: {} for {}: only one size may be -1", op, asked(), to_string(from)));
        } else if (sizes[i] < 0) {
            throw ShapeError(fmt::format("{}: {} for {}: size {} of axis {} is negative", op, asked(), to_string(from),
                                         sizes[i], i));
        } else {
            overflow = overflow || __builtin_mul_overflow(known, static_cast<std::size_t>(sizes[i]), &known);
        }
    }
    Shape out(sizes.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) out[i] = static_cast<std::size_t>(sizes[i]);
    if (!overflow && inferred < sizes.size() && known != 0 && have % known == 0) out[inferred] = have / known;
    if (overflow)
        throw ShapeError(fmt::format("{}: the sizes {} multiply beyond any tensor's", op, asked()));
    if (inferred == sizes.size() && known != have)
        throw ShapeError(fmt::format("{}: cannot reshape {} ({} elements) to {} ({} elements)", op, to_string(from),
                                     have, asked(), known));
    if (inferred < sizes.size() && (known == 0 || have % known != 0))
        throw ShapeError(fmt::format("{}: cannot reshape {} ({} elements) to {}: the other sizes multiply to {}, "
                                     "which does not divide {}",
                                     op, to_string(from), have, asked(), known, have));
    return out;
}

std::vector<std::size_t> normalize_axes(std::string_view op, const Axes& axes, std::size_t ndim) {
    std::vector<std::size_t> out;
    if (axes.empty()) {
        for (std::size_t i = 0; i < ndim; ++i) out.push_back(i);
        return out;
    }
    for (auto a : axes) out.push_back(normalize_axis(op, a, ndim));
    std::sort(out.begin(), out.end());
    if (std::adjacent_find(out.begin(), out.end()) != out.end())
        throw ValueError(fmt::format("{}: axis {} is repeated in the axes", op,
                                     *std::adjacent_find(out.begin(), out.end())));
    return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<std::size_t>& axes, bool keepdims) {
    Shape out;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
        if (!reduced)
            out.push_back(shape[i]);
        else if (keepdims)
            out.push_back(1);
    }
    return out;
}

std::string index_string(const Shape& shape, std::size_t flat) {
    std::vector<std::size_t> idx(shape.size());
    for (std::size_t i = shape.size(); i-- > 0;) {
        idx[i] = flat % shape[i];
        flat /= shape[i];
    }
    return fmt::format("[{}]", fmt::join(idx, ","));
}

void check_not_empty(std::string_view op, const Shape& shape) {
    for (auto d : shape)
        if (d == 0)
            throw ValueError(fmt::format("{}: shape {} has no elements; xtgrad does not support empty tensors", op,
                                         to_string(shape)));
    // an Array of such a shape says it has (the product modulo 2^64) elements: reads past its end
    std::size_t n = 1;
    for (auto d : shape)
        if (__builtin_mul_overflow(n, d, &n))
            throw ShapeError(fmt::format("{}: shape {} has more elements than any array can hold", op, to_string(shape)));
}

}  // namespace xtgrad::detail
