// Shared by the op files: argument validation with clear messages, and evaluation of
// xtensor expressions into tensor storage. The only place besides the op .cpp files
// that includes xtensor's heavy headers.
#pragma once

#include <string_view>

#include <fmt/format.h>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xstrided_view.hpp>

#include "tape.hpp"
#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad::detail {

/// numpy's broadcast of two shapes; ShapeError naming `op` when they do not broadcast.
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);
/// A possibly negative axis turned into an index; ValueError when out of range.
std::size_t normalize_axis(std::string_view op, std::ptrdiff_t axis, std::size_t ndim);
/// The shape `request` asks of `from`'s elements, its one -1 worked out; ShapeError naming `op`
/// for a negative size, two -1s, or a number of elements other than from's.
Shape resolve_sizes(std::string_view op, const ShapeArg& request, const Shape& from);
/// Reduction axes: empty means all; sorted, unique, in range.
std::vector<std::size_t> normalize_axes(std::string_view op, const Axes& axes, std::size_t ndim);
/// `shape` with `axes` set to 1 (keepdims) or removed.
Shape reduced_shape(const Shape& shape, const std::vector<std::size_t>& axes, bool keepdims);
/// "[1,2]": the multi-index of flat position `flat` in a row-major array of `shape`.
std::string index_string(const Shape& shape, std::size_t flat);

/// A value a backward rule derives from its inputs without differentiating through it (a
/// step mask, a sign, the share of a tie), recorded as a node whose rule passes nothing back:
/// its derivative is zero where it is defined, and a replayed recording (compile.hpp)
/// recomputes it at new inputs instead of keeping the one from the trace.
template <class T, class F>
BasicTensor<T> derived_constant(std::string_view name, TensorList<T>&& inputs, F&& forward) {
    const std::size_t n = inputs.size();
    return make_op<T>(name, std::move(inputs), std::forward<F>(forward),
                      [n](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(n); });
}

/// On a diagnostic tape (a compiled function's recording), marks the node that computed `out`
/// as evaluable block by block with `block` (BlockFn), or as a sum of every element: what lets
/// a replay fuse it with its neighbours. Nothing on other tapes or for constants.
template <class T>
void mark_fusable(const BasicTensor<T>& out, NodeBase::Fusion fusion, BlockFn<T> block = {}) {
    TapeState* tape = active_tape();
    if (tape == nullptr || !tape->diagnostic || !out.requires_grad()) return;
    if (Node<T>* node = node_of(*tape, out); node != nullptr && !node->leaf) {
        node->fusion = fusion;
        node->block = std::move(block);
    }
}

/// The block form of a binary op's scalar function, with binary_kernel's fast paths: the
/// same function on the same operands, so a fused replay gives the same bits.
template <class T, class Op>
BlockFn<T> binary_block(Op op) {
    return [op](const T* const* in, const std::size_t* stride, T* o, std::size_t n) {
        const T* a = in[0];
        const T* b = in[1];
        if (stride[0] && stride[1]) {
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) o[i] = op(a[i], b[i]);
        } else if (stride[1]) {
            const T s = a[0];
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) o[i] = op(s, b[i]);
        } else if (stride[0]) {
            const T s = b[0];
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) o[i] = op(a[i], s);
        } else {
            const T r = op(a[0], b[0]);
            for (std::size_t i = 0; i < n; ++i) o[i] = r;
        }
    };
}

/// A derived constant computed element by element by `f` (a scalar function): relu's step.
/// Fusable in a compiled replay, from the same `f`.
template <class T, class F>
BasicTensor<T> derived_elementwise(std::string_view name, const BasicTensor<T>& x, F f) {
    auto out = derived_constant<T>(name, {x}, [f](const TensorList<T>& in) {
        const Array<T>& v = in[0].value();
        Array<T> r = Array<T>::from_shape(v.shape());  // a plain loop: it vectorises, xt::cast does not
        for (std::size_t i = 0; i < v.size(); ++i) r.data()[i] = f(v.data()[i]);
        return r;
    });
    if (diagnostic_active())
        mark_fusable<T>(out, NodeBase::Fusion::elementwise, [f](const T* const* in, const std::size_t*, T* o, std::size_t n) {
            for (std::size_t i = 0; i < n; ++i) o[i] = f(in[0][i]);
        });
    return out;
}

/// Evaluates an expression into fresh storage of its shape (vectorised by xsimd).
template <class T, class E>
Array<T> evaluate(const E& e) {
    Array<T> out = Array<T>::from_shape(e.shape());
    xt::noalias(out) = e;
    return out;
}

/// out = op(a, b) elementwise with numpy broadcasting to `out_shape` (already validated).
/// Fast paths for equal shapes and scalars; otherwise the last dimension is the inner
/// loop (stride 0 or 1 for each operand) and an odometer walks the outer ones. Plain
/// loops vectorise where xtensor's broadcasting steppers do not.
template <class T, class Op>
Array<T> binary_kernel(const Array<T>& a, const Array<T>& b, const Shape& out_shape, Op op) {
    Array<T> out = Array<T>::from_shape(out_shape);
    T* o = out.data();
    const T* pa = a.data();
    const T* pb = b.data();
    const std::size_t n = out.size();
    if (a.size() == n && b.size() == n) {
#pragma omp simd
        for (std::size_t i = 0; i < n; ++i) o[i] = op(pa[i], pb[i]);
        return out;
    }
    if (a.size() == 1 && b.size() == n) {
        const T s = pa[0];
#pragma omp simd
        for (std::size_t i = 0; i < n; ++i) o[i] = op(s, pb[i]);
        return out;
    }
    if (b.size() == 1 && a.size() == n) {
        const T s = pb[0];
#pragma omp simd
        for (std::size_t i = 0; i < n; ++i) o[i] = op(pa[i], s);
        return out;
    }
    const std::size_t nd = out_shape.size();
    // strides of a and b over the output's dimensions, 0 where an operand is broadcast
    xt::svector<std::size_t, 8> sa(nd, 0), sb(nd, 0), idx(nd, 0);
    for (std::size_t d = nd, stride_a = 1, stride_b = 1; d-- > 0;) {
        std::size_t da = d + a.dimension() >= nd ? a.shape()[d + a.dimension() - nd] : 1;
        std::size_t db = d + b.dimension() >= nd ? b.shape()[d + b.dimension() - nd] : 1;
        sa[d] = da == 1 ? 0 : stride_a;
        sb[d] = db == 1 ? 0 : stride_b;
        stride_a *= da;
        stride_b *= db;
    }
    const std::size_t inner = out_shape[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
    std::size_t oa = 0, ob = 0;
    for (std::size_t start = 0; start < n; start += inner) {
        const T* ra = pa + oa;
        const T* rb = pb + ob;
        T* ro = o + start;
        if (ia && ib) {
#pragma omp simd
            for (std::size_t i = 0; i < inner; ++i) ro[i] = op(ra[i], rb[i]);
        } else if (ib) {
#pragma omp simd
            for (std::size_t i = 0; i < inner; ++i) ro[i] = op(ra[0], rb[i]);
        } else if (ia) {
#pragma omp simd
            for (std::size_t i = 0; i < inner; ++i) ro[i] = op(ra[i], rb[0]);
        } else {
            for (std::size_t i = 0; i < inner; ++i) ro[i] = op(ra[0], rb[0]);
        }
        // advance the odometer over the outer dimensions
        for (std::size_t d = nd - 1; d-- > 0;) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < out_shape[d]) break;
            oa -= sa[d] * out_shape[d];
            ob -= sb[d] * out_shape[d];
            idx[d] = 0;
        }
    }
    return out;
}

/// Whether input i of a node wants a gradient: rules skip the work for constants, and in a
/// pruned sweep (grad with explicit inputs) for inputs with no path to those inputs.
template <class T>
bool wants(const TensorList<T>& in, std::size_t i) {
    if (!in[i].requires_grad()) return false;
    TapeState* tape = active_tape();
    if (tape == nullptr || !tape->pruning) return true;
    auto* node = node_of(*tape, in[i]);
    return node != nullptr && node->needed;
}

/// Whether a block has a NaN: a pass without branches, which vectorises (a search for the first
/// one does not); the ops that check their results for NaN look for where only when it says so.
template <class T>
bool has_nan(const T* p, std::size_t n) {
    unsigned nan = 0;  // (an integer reduction vectorises; a bool one did not)
#pragma omp simd reduction(| : nan)
    for (std::size_t i = 0; i < n; ++i) nan |= unsigned(p[i] != p[i]);
    return nan != 0;
}

/// DomainError when `out` has a NaN where `in` has none: the op left its domain.
template <class T>
void check_domain(std::string_view op, const Array<T>& in, const Array<T>& out, std::string_view domain) {
    const T* o = out.data();
    const T* x = in.data();
    if (!has_nan(o, out.size())) return;
    for (std::size_t i = 0, n = out.size(); i < n; ++i) {
        if (o[i] != o[i] && x[i] == x[i])
            throw DomainError(fmt::format("{}: input has {} at index {} of shape {}; {} is defined for {}", op, x[i],
                                          index_string(in.shape(), i), to_string(in.shape()), op, domain));
    }
}

/// Sum of a contiguous block, vectorised (xtensor's lazy reducers are not).
template <class T>
T sum_all(const T* p, std::size_t n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (std::size_t i = 0; i < n; ++i) s += p[i];
    return s;
}

/// Reduces `x` along one axis with `op`, keeping the axis as size 1. The array is seen as
/// [outer, extent, inner] so the inner loop runs over contiguous memory.
/// (xtensor 0.24's immediate reducers cannot rebind containers with a custom allocator.)
template <class T, class Op>
Array<T> reduce_axis(const Array<T>& x, std::size_t axis, T init, Op op) {
    const Shape& shape = x.shape();
    std::size_t outer = 1, inner = 1, extent = shape[axis];
    for (std::size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (std::size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    Shape out_shape = shape;
    out_shape[axis] = 1;
    Array<T> out = Array<T>::from_shape(out_shape);
    T* o = out.data();
    const T* p = x.data();
    if (inner == 1) {  // the last axis (rows of a matrix): one running value per row, in order
        // Eight rows at a time: eight independent running values hide the latency of each op
        // (a softmax's row maximum took 3 % of an encoder layer's step); each row is still
        // reduced in its own order, so the bits are those of one row at a time.
        constexpr std::size_t kRows = 8;
        std::size_t a = 0;
        for (; a + kRows <= outer; a += kRows) {
            T acc[kRows];
            for (std::size_t j = 0; j < kRows; ++j) acc[j] = init;
            for (std::size_t r = 0; r < extent; ++r)
                for (std::size_t j = 0; j < kRows; ++j) acc[j] = op(acc[j], p[(a + j) * extent + r]);
            for (std::size_t j = 0; j < kRows; ++j) o[a + j] = acc[j];
        }
        for (; a < outer; ++a) {
            T acc = init;
            for (std::size_t r = 0; r < extent; ++r) acc = op(acc, p[a * extent + r]);
            o[a] = acc;
        }
        return out;
    }
    for (std::size_t a = 0; a < outer; ++a) {
        T* acc = o + a * inner;
        for (std::size_t i = 0; i < inner; ++i) acc[i] = init;
        for (std::size_t r = 0; r < extent; ++r) {
            const T* row = p + (a * extent + r) * inner;
#pragma omp simd
            for (std::size_t i = 0; i < inner; ++i) acc[i] = op(acc[i], row[i]);
        }
    }
    return out;
}

/// Reduces over several axes (sorted), keeping them as size 1.
template <class T, class Op>
Array<T> reduce_axes(const Array<T>& x, const std::vector<std::size_t>& axes, T init, Op op) {
    if (axes.empty()) return x;
    Array<T> r = reduce_axis(x, axes.back(), init, op);
    for (std::size_t k = axes.size() - 1; k-- > 0;) r = reduce_axis(r, axes[k], init, op);
    return r;
}

/// a[first::by] along `ax` (`length` indices), as slice() after checking its arguments; with
/// `drop_axis` (length 1) without that axis, as select() and unbind() give it: one op, one copy.
template <class T>
BasicTensor<T> slice_along(const BasicTensor<T>& a, std::size_t ax, std::size_t first, std::size_t length,
                           std::size_t by, bool drop_axis);

/// Copies `count` slices along `axis` from `src` (starting at `src_start`, every
/// `src_step`) into `dst` (starting at `dst_start`, every `dst_step`). Both arrays have
/// the same extents except along `axis`. (Plain loops: assignment through xtensor 0.24's
/// dynamic strided views does not compile for svector shapes.)
template <class T>
void copy_along_axis(const Array<T>& src, std::size_t src_start, std::size_t src_step, Array<T>& dst,
                     std::size_t dst_start, std::size_t dst_step, std::size_t count, std::size_t axis) {
    std::size_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= src.shape()[d];
    for (std::size_t d = axis + 1; d < src.dimension(); ++d) inner *= src.shape()[d];
    std::size_t src_extent = src.shape()[axis], dst_extent = dst.shape()[axis];
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t r = 0; r < count; ++r) {
            const T* from = src.data() + (o * src_extent + src_start + r * src_step) * inner;
            T* to = dst.data() + (o * dst_extent + dst_start + r * dst_step) * inner;
            std::copy(from, from + inner, to);
        }
}

struct Plus {
    template <class T>
    T operator()(T a, T b) const {
        return a + b;
    }
};
struct Minus {
    template <class T>
    T operator()(T a, T b) const {
        return a - b;
    }
};
struct Divides {
    template <class T>
    T operator()(T a, T b) const {
        return a / b;
    }
};
// max and min propagate NaN, as numpy's and PyTorch's do: once a NaN is met it stays.
struct Max {
    template <class T>
    T operator()(T a, T b) const {
        return b > a || b != b ? b : a;
    }
};
struct Min {
    template <class T>
    T operator()(T a, T b) const {
        return b < a || b != b ? b : a;
    }
};

template <class T>
BasicTensor<T> zeros_like(const BasicTensor<T>& t) {
    return BasicTensor<T>::constant(Array<T>(xt::zeros<T>(t.shape())));
}

}  // namespace xtgrad::detail

/// Explicit instantiation of an op family for both dtypes.
#define XTGRAD_FOR_DTYPES(MACRO) \
    MACRO(float)                 \
    MACRO(double)
