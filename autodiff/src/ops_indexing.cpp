// Gathering by integer indices and its adjoint, adding at indices. take_along_axis and
// scatter_add are each other's rules, as are index_select and index_add; all four are
// linear in their tensor inputs, so second derivatives follow at no cost.
#include <cmath>

#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
// Indices validated against an extent and made non-negative.
std::vector<std::size_t> resolve(std::string_view op, const IndexArray& indices, std::size_t extent, std::size_t axis,
                                 const Shape& shape) {
    std::vector<std::size_t> out(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) {
        std::int64_t v = indices[i];
        std::int64_t n = static_cast<std::int64_t>(extent);
        if (v < -n || v >= n)
            throw ValueError(fmt::format(
                "{}: index {} at {} of the indices (shape {}) is out of range for axis {} of "
                "extent {} (shape {})",
                op, v, index_string(indices.shape(), i), to_string(indices.shape()), axis, extent, to_string(shape)));
        out[i] = static_cast<std::size_t>(v < 0 ? v + n : v);
    }
    return out;
}

// take_along_axis and scatter_add walk the same map: position p of the indices (shape I)
// to position p-with-axis-replaced of the array (shape A). `visit(array_flat, index_flat)`.
template <class F>
void along_axis(const Shape& array_shape, const Shape& index_shape, std::size_t axis,
                const std::vector<std::size_t>& idx, F visit) {
    std::size_t nd = array_shape.size();
    std::vector<std::size_t> stride(nd, 1), pos(nd, 0);
    for (std::size_t d = nd; d-- > 1;) stride[d - 1] = stride[d] * array_shape[d];
    std::size_t base = 0;  // array offset of pos, without the axis term
    for (std::size_t flat = 0; flat < idx.size(); ++flat) {
        visit(base + idx[flat] * stride[axis], flat);
        for (std::size_t d = nd; d-- > 0;) {  // odometer over the index shape
            if (d != axis) base += stride[d];
            if (++pos[d] < index_shape[d]) break;
            if (d != axis) base -= stride[d] * index_shape[d];
            pos[d] = 0;
        }
    }
}

void check_index_shape(std::string_view op, const Shape& array_shape, const Shape& index_shape, std::size_t axis) {
    bool ok = index_shape.size() == array_shape.size();
    for (std::size_t d = 0; ok && d < array_shape.size(); ++d)
        if (d != axis && index_shape[d] > array_shape[d]) ok = false;
    if (!ok)
        throw ShapeError(
            fmt::format("{}: indices of shape {} for an array of shape {} along axis {} (same number of "
                        "dimensions, extents off the axis no larger)",
                        op, to_string(index_shape), to_string(array_shape), axis));
}

// The op bodies below take validated, non-negative indices `idx` laid out in `i_shape`.
template <class T>
TensorT<T> scatter_add_checked(const TensorT<T>& a, std::size_t axis, const Shape& i_shape,
                               std::vector<std::size_t> idx, const TensorT<T>& src);

template <class T>
TensorT<T> take_checked(const TensorT<T>& a, std::size_t axis, const Shape& i_shape, std::vector<std::size_t> idx) {
    Shape a_shape = a.shape();
    return make_op<T>(
        "take_along_axis", {a},
        [a_shape, i_shape, axis, idx](const TensorList<T>& in) {
            Array<T> out = Array<T>::from_shape(i_shape);
            const T* x = in[0].value().data();
            T* o = out.data();
            along_axis(a_shape, i_shape, axis, idx, [&](std::size_t at, std::size_t flat) { o[flat] = x[at]; });
            return out;
        },
        [axis, i_shape, idx](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {scatter_add_checked(zeros_like(in[0]), axis, i_shape, idx, g)};
        });
}

template <class T>
TensorT<T> scatter_add_checked(const TensorT<T>& a, std::size_t axis, const Shape& i_shape,
                               std::vector<std::size_t> idx, const TensorT<T>& src) {
    Shape a_shape = a.shape();
    return make_op<T>(
        "scatter_add", {a, src},
        [a_shape, i_shape, axis, idx](const TensorList<T>& in) {
            Array<T> out = in[0].value();
            const T* s = in[1].value().data();
            T* o = out.data();
            along_axis(a_shape, i_shape, axis, idx, [&](std::size_t at, std::size_t flat) { o[at] += s[flat]; });
            return out;
        },
        [axis, i_shape, idx](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? g : TensorT<T>(), wants(in, 1) ? take_checked(g, axis, i_shape, idx) : TensorT<T>()};
        });
}

// [outer, extent, inner] views for index_select / index_add along `axis`.
struct Blocks {
    std::size_t outer = 1, inner = 1;
};
Blocks blocks_of(const Shape& shape, std::size_t axis) {
    Blocks b;
    for (std::size_t d = 0; d < axis; ++d) b.outer *= shape[d];
    for (std::size_t d = axis + 1; d < shape.size(); ++d) b.inner *= shape[d];
    return b;
}

// index_select's and index_add's loops, for indices fixed at the call or read from a tensor.
template <class T>
Array<T> selected(const Array<T>& x, std::size_t axis, const std::vector<std::size_t>& idx) {
    Shape out_shape = x.shape();
    const std::size_t extent = out_shape[axis];
    out_shape[axis] = idx.size();
    Array<T> out = Array<T>::from_shape(out_shape);
    Blocks b = blocks_of(out_shape, axis);
    for (std::size_t o = 0; o < b.outer; ++o)
        for (std::size_t i = 0; i < idx.size(); ++i) {
            const T* from = x.data() + (o * extent + idx[i]) * b.inner;
            std::copy(from, from + b.inner, out.data() + (o * idx.size() + i) * b.inner);
        }
    return out;
}

template <class T>
Array<T> added(const Array<T>& a, std::size_t axis, const std::vector<std::size_t>& idx, const Array<T>& src) {
    Array<T> out = a;
    const std::size_t extent = a.shape()[axis];
    Blocks b = blocks_of(a.shape(), axis);
    const T* s = src.data();
    for (std::size_t o = 0; o < b.outer; ++o)
        for (std::size_t i = 0; i < idx.size(); ++i) {
            const T* from = s + (o * idx.size() + i) * b.inner;
            T* to = out.data() + (o * extent + idx[i]) * b.inner;
#pragma omp simd
            for (std::size_t k = 0; k < b.inner; ++k) to[k] += from[k];
        }
    return out;
}

template <class T>
TensorT<T> index_add_checked(const TensorT<T>& a, std::size_t axis, std::vector<std::size_t> idx,
                             const TensorT<T>& src);

template <class T>
TensorT<T> select_checked(const TensorT<T>& a, std::size_t axis, std::vector<std::size_t> idx) {
    return make_op<T>(
        "index_select", {a},
        [axis, idx](const TensorList<T>& in) { return selected(in[0].value(), axis, idx); },
        [axis, idx](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {index_add_checked(zeros_like(in[0]), axis, idx, g)};
        });
}

template <class T>
TensorT<T> index_add_checked(const TensorT<T>& a, std::size_t axis, std::vector<std::size_t> idx,
                             const TensorT<T>& src) {
    return make_op<T>(
        "index_add", {a, src},
        [axis, idx](const TensorList<T>& in) { return added(in[0].value(), axis, idx, in[1].value()); },
        [axis, idx](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? g : TensorT<T>(), wants(in, 1) ? select_checked(g, axis, idx) : TensorT<T>()};
        });
}

std::size_t axis_of(std::string_view op, std::ptrdiff_t axis, const Shape& shape) {
    if (shape.empty()) throw ShapeError(fmt::format("{}: needs at least one dimension, got a scalar", op));
    return normalize_axis(op, axis, shape.size());
}

// ---- indices held in a tensor: the ops' forward functions read and check them, every call ----

template <class T>
std::vector<std::size_t> resolve_values(std::string_view op, const Array<T>& v, std::size_t extent, std::size_t axis,
                                        const Shape& shape) {
    std::vector<std::size_t> out(v.size());
    const double n = double(extent);
    for (std::size_t i = 0; i < v.size(); ++i) {
        const T x = v.data()[i];
        if (!std::isfinite(x) || x != std::floor(x) || x < -n || x >= n)
            throw ValueError(fmt::format(
                "{}: index {} at {} of the indices (shape {}) is {} for axis {} of extent {} (shape {})", op, x,
                index_string(v.shape(), i), to_string(v.shape()),
                std::isfinite(x) && x == std::floor(x) ? "out of range" : "not a whole number", axis, extent,
                to_string(shape)));
        out[i] = x < 0 ? std::size_t(x + n) : std::size_t(x);
    }
    return out;
}

template <class T>
TensorT<T> scatter_by(const TensorT<T>& a, std::size_t axis, const TensorT<T>& indices, const TensorT<T>& src);

template <class T>
TensorT<T> take_by(const TensorT<T>& a, std::size_t axis, const TensorT<T>& indices) {
    Shape a_shape = a.shape();
    return make_op<T>(
        "take_along_axis", {a, indices},
        [a_shape, axis](const TensorList<T>& in) {
            const Array<T>& iv = in[1].value();
            auto idx = resolve_values("take_along_axis", iv, a_shape[axis], axis, a_shape);
            Array<T> out = Array<T>::from_shape(iv.shape());
            const T* x = in[0].value().data();
            T* o = out.data();
            along_axis(a_shape, iv.shape(), axis, idx, [&](std::size_t at, std::size_t flat) { o[flat] = x[at]; });
            return out;
        },
        [axis](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {scatter_by(zeros_like(in[0]), axis, in[1], g), TensorT<T>()};
        });
}

template <class T>
TensorT<T> scatter_by(const TensorT<T>& a, std::size_t axis, const TensorT<T>& indices, const TensorT<T>& src) {
    Shape a_shape = a.shape();
    return make_op<T>(
        "scatter_add", {a, indices, src},
        [a_shape, axis](const TensorList<T>& in) {
            const Array<T>& iv = in[1].value();
            auto idx = resolve_values("scatter_add", iv, a_shape[axis], axis, a_shape);
            Array<T> out = in[0].value();
            const T* s = in[2].value().data();
            T* o = out.data();
            along_axis(a_shape, iv.shape(), axis, idx, [&](std::size_t at, std::size_t flat) { o[at] += s[flat]; });
            return out;
        },
        [axis](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? g : TensorT<T>(), TensorT<T>(),
                    wants(in, 2) ? take_by(g, axis, in[1]) : TensorT<T>()};
        });
}

template <class T>
TensorT<T> index_add_by(const TensorT<T>& a, std::size_t axis, const TensorT<T>& indices, const TensorT<T>& src);

template <class T>
TensorT<T> select_by(const TensorT<T>& a, std::size_t axis, const TensorT<T>& indices) {
    Shape a_shape = a.shape();
    return make_op<T>(
        "index_select", {a, indices},
        [a_shape, axis](const TensorList<T>& in) {
            return selected(in[0].value(), axis, resolve_values("index_select", in[1].value(), a_shape[axis], axis, a_shape));
        },
        [axis](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {index_add_by(zeros_like(in[0]), axis, in[1], g), TensorT<T>()};
        });
}

template <class T>
TensorT<T> index_add_by(const TensorT<T>& a, std::size_t axis, const TensorT<T>& indices, const TensorT<T>& src) {
    Shape a_shape = a.shape();
    return make_op<T>(
        "index_add", {a, indices, src},
        [a_shape, axis](const TensorList<T>& in) {
            auto idx = resolve_values("index_add", in[1].value(), a_shape[axis], axis, a_shape);
            return added(in[0].value(), axis, idx, in[2].value());
        },
        [axis](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? g : TensorT<T>(), TensorT<T>(),
                    wants(in, 2) ? select_by(g, axis, in[1]) : TensorT<T>()};
        });
}
}  // namespace

template <class T>
TensorT<T> take_along_axis(const TensorT<T>& a, const IndexArray& indices, std::ptrdiff_t axis) {
    check_usable("take_along_axis", a, 0);
    std::size_t ax = axis_of("take_along_axis", axis, a.shape());
    check_index_shape("take_along_axis", a.shape(), indices.shape(), ax);
    return take_checked(a, ax, indices.shape(), resolve("take_along_axis", indices, a.shape()[ax], ax, a.shape()));
}

template <class T>
TensorT<T> scatter_add(const TensorT<T>& a, std::ptrdiff_t axis, const IndexArray& indices, const TensorT<T>& src) {
    check_usable("scatter_add", a, 0);
    check_usable("scatter_add", src, 1);
    std::size_t ax = axis_of("scatter_add", axis, a.shape());
    check_index_shape("scatter_add", a.shape(), indices.shape(), ax);
    if (src.shape() != indices.shape())
        throw ShapeError(fmt::format("scatter_add: src of shape {} for indices of shape {} (they must agree)",
                                     to_string(src.shape()), to_string(indices.shape())));
    return scatter_add_checked(a, ax, indices.shape(), resolve("scatter_add", indices, a.shape()[ax], ax, a.shape()),
                               src);
}

template <class T>
TensorT<T> index_select(const TensorT<T>& a, std::ptrdiff_t axis, const IndexArray& indices) {
    check_usable("index_select", a, 0);
    std::size_t ax = axis_of("index_select", axis, a.shape());
    if (indices.dim() != 1)
        throw ShapeError(
            fmt::format("index_select: indices must be one-dimensional, got shape {}", to_string(indices.shape())));
    return select_checked(a, ax, resolve("index_select", indices, a.shape()[ax], ax, a.shape()));
}

template <class T>
TensorT<T> index_add(const TensorT<T>& a, std::ptrdiff_t axis, const IndexArray& indices, const TensorT<T>& src) {
    check_usable("index_add", a, 0);
    check_usable("index_add", src, 1);
    std::size_t ax = axis_of("index_add", axis, a.shape());
    if (indices.dim() != 1)
        throw ShapeError(
            fmt::format("index_add: indices must be one-dimensional, got shape {}", to_string(indices.shape())));
    Shape expected = a.shape();
    expected[ax] = indices.size();
    if (src.shape() != expected)
        throw ShapeError(
            fmt::format("index_add: src of shape {} for {} indices into shape {} along axis {} (expected "
                        "{})",
                        to_string(src.shape()), indices.size(), to_string(a.shape()), ax, to_string(expected)));
    return index_add_checked(a, ax, resolve("index_add", indices, a.shape()[ax], ax, a.shape()), src);
}

template <class T>
TensorT<T> take_along_axis(const TensorT<T>& a, const TensorT<T>& indices, std::ptrdiff_t axis) {
    check_usable("take_along_axis", a, 0);
    check_usable("take_along_axis", indices, 1);
    std::size_t ax = axis_of("take_along_axis", axis, a.shape());
    check_index_shape("take_along_axis", a.shape(), indices.shape(), ax);
    return take_by(a, ax, indices);
}

template <class T>
TensorT<T> scatter_add(const TensorT<T>& a, std::ptrdiff_t axis, const TensorT<T>& indices, const TensorT<T>& src) {
    check_usable("scatter_add", a, 0);
    check_usable("scatter_add", indices, 1);
    check_usable("scatter_add", src, 2);
    std::size_t ax = axis_of("scatter_add", axis, a.shape());
    check_index_shape("scatter_add", a.shape(), indices.shape(), ax);
    if (src.shape() != indices.shape())
        throw ShapeError(fmt::format("scatter_add: src of shape {} for indices of shape {} (they must agree)",
                                     to_string(src.shape()), to_string(indices.shape())));
    return scatter_by(a, ax, indices, src);
}

template <class T>
TensorT<T> index_select(const TensorT<T>& a, std::ptrdiff_t axis, const TensorT<T>& indices) {
    check_usable("index_select", a, 0);
    check_usable("index_select", indices, 1);
    std::size_t ax = axis_of("index_select", axis, a.shape());
    if (indices.dim() != 1)
        throw ShapeError(
            fmt::format("index_select: indices must be one-dimensional, got shape {}", to_string(indices.shape())));
    return select_by(a, ax, indices);
}

template <class T>
TensorT<T> index_add(const TensorT<T>& a, std::ptrdiff_t axis, const TensorT<T>& indices, const TensorT<T>& src) {
    check_usable("index_add", a, 0);
    check_usable("index_add", indices, 1);
    check_usable("index_add", src, 2);
    std::size_t ax = axis_of("index_add", axis, a.shape());
    if (indices.dim() != 1)
        throw ShapeError(
            fmt::format("index_add: indices must be one-dimensional, got shape {}", to_string(indices.shape())));
    Shape expected = a.shape();
    expected[ax] = indices.size();
    if (src.shape() != expected)
        throw ShapeError(fmt::format("index_add: src of shape {} for {} indices into shape {} along axis {} (expected {})",
                                     to_string(src.shape()), indices.size(), to_string(a.shape()), ax,
                                     to_string(expected)));
    return index_add_by(a, ax, indices, src);
}

#define XTGRAD_INSTANTIATE(T)                                                                                 \
    template TensorT<T> take_along_axis(const TensorT<T>&, const TensorT<T>&, std::ptrdiff_t);                \
    template TensorT<T> scatter_add(const TensorT<T>&, std::ptrdiff_t, const TensorT<T>&, const TensorT<T>&); \
    template TensorT<T> index_select(const TensorT<T>&, std::ptrdiff_t, const TensorT<T>&);                   \
    template TensorT<T> index_add(const TensorT<T>&, std::ptrdiff_t, const TensorT<T>&, const TensorT<T>&);   \
    template TensorT<T> take_along_axis(const TensorT<T>&, const IndexArray&, std::ptrdiff_t);                \
    template TensorT<T> scatter_add(const TensorT<T>&, std::ptrdiff_t, const IndexArray&, const TensorT<T>&); \
    template TensorT<T> index_select(const TensorT<T>&, std::ptrdiff_t, const IndexArray&);                   \
    template TensorT<T> index_add(const TensorT<T>&, std::ptrdiff_t, const IndexArray&, const TensorT<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
