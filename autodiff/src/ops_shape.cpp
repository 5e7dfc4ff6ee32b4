// Shape ops: each moves elements without arithmetic, and its rule moves the gradient
// back (reshape <-> reshape, broadcast_to <-> sum_to, slice <-> scatter, pick <-> scatter).
#include <numeric>

#include <xtensor/xmanipulation.hpp>

#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
// reshape and broadcast_to in block form: the operand, already laid out over the output's
// elements in row-major order, copied.
template <class T>
BlockFn<T> copy_block() {
    return [](const T* const* in, const std::size_t* stride, T* o, std::size_t n) {
        const T* a = in[0];
        if (stride[0])
            std::copy(a, a + n, o);
        else
            std::fill(o, o + n, a[0]);
    };
}

// The gradient of a slice: `g` placed into zeros of the input's shape.
template <class T>
TensorT<T> scatter_slice(const TensorT<T>& g, const Shape& in_shape, std::size_t axis, std::size_t start,
                         std::size_t step) {
    std::size_t length = g.shape()[axis];
    return make_op<T>(
        "slice_backward", {g},
        [=](const TensorList<T>& in) {
            Array<T> out = xt::zeros<T>(in_shape);
            copy_along_axis(in[0].value(), 0, 1, out, start, step, length, axis);
            return out;
        },
        [=](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& gg) -> TensorList<T> {
            auto s = static_cast<std::ptrdiff_t>(start);
            return {slice(gg, static_cast<std::ptrdiff_t>(axis), s, s + static_cast<std::ptrdiff_t>(length * step),
                          static_cast<std::ptrdiff_t>(step))};
        });
}

// The gradient of pick: g[n] placed at [n, index[n]] of zeros of shape [N, C].
template <class T>
TensorT<T> scatter_pick(const TensorT<T>& g, const std::vector<std::size_t>& index, std::size_t classes) {
    return make_op<T>(
        "pick_backward", {g},
        [index, classes](const TensorList<T>& in) {
            Array<T> out = xt::zeros<T>({index.size(), classes});
            const T* src = in[0].value().data();
            for (std::size_t n = 0; n < index.size(); ++n) out(n, index[n]) = src[n];
            return out;
        },
        [index](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& gg) -> TensorList<T> {
            return {pick(gg, IndexArray(index))};
        });
}
}  // namespace

template <class T>
TensorT<T> reshape(const TensorT<T>& a, const ShapeArg& request) {
    check_usable("reshape", a, 0);
    const Shape shape = resolve_sizes("reshape", request, a.shape());
    auto out = make_op<T>(
        "reshape", {a},
        [shape](const TensorList<T>& in) {
            Array<T> out = in[0].value();
            out.reshape(shape);
            return out;
        },
        [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {reshape(g, in[0].shape())};
        });
    if (diagnostic_active()) mark_fusable<T>(out, NodeBase::Fusion::elementwise, copy_block<T>());
    return out;
}

template <class T>
TensorT<T> broadcast_to(const TensorT<T>& a, const Shape& shape) {
    check_usable("broadcast_to", a, 0);
    check_not_empty("broadcast_to", shape);
    if (broadcast_shapes("broadcast_to", a.shape(), shape) != shape)
        throw ShapeError(
            fmt::format("broadcast_to: shape {} cannot be broadcast to {}", to_string(a.shape()), to_string(shape)));
    auto out = make_op<T>(
        "broadcast_to", {a},
        [shape](const TensorList<T>& in) {
            static const Array<T> unused = Array<T>::from_shape({});  // a size-1 operand the kernel ignores
            return binary_kernel(in[0].value(), unused, shape, [](T x, T) { return x; });
        },
        [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {sum_to(g, in[0].shape())};
        });
    // a fused replay lays the operand out over the output's elements (broadcasting it) itself
    if (diagnostic_active()) mark_fusable<T>(out, NodeBase::Fusion::elementwise, copy_block<T>());
    return out;
}

template <class T>
TensorT<T> stop_gradient(const TensorT<T>& a) {
    check_usable("stop_gradient", a, 0);
    return derived_elementwise<T>("stop_gradient", a, [](T v) { return v; });
}

template <class T>
TensorT<T> sum_to(const TensorT<T>& a, const Shape& shape) {
    check_usable("sum_to", a, 0);
    if (a.shape() == shape) return a;
    if (shape.size() > a.dim() || broadcast_shapes("sum_to", shape, a.shape()) != a.shape())
        throw ShapeError(
            fmt::format("sum_to: shape {} cannot be summed to {}", to_string(a.shape()), to_string(shape)));
    std::size_t lead = a.dim() - shape.size();
    Axes axes;
    for (std::size_t i = 0; i < a.dim(); ++i)
        if (i < lead || (shape[i - lead] == 1 && a.shape()[i] != 1)) axes.push_back(static_cast<std::ptrdiff_t>(i));
    TensorT<T> s = sum(a, axes, true);
    return s.shape() == shape ? s : reshape(s, shape);
}

namespace {
// a with its axes permuted: out[i0, i1, ...] = a[... in the order perm names]. The two last
// output axes are copied in 16 x 16 tiles, so that a transpose reads each cache line of the
// source once per tile instead of once per element (xtensor's strided assignment took about
// 7 ns per element on the convolution's [N, L, C] -> [N, C, L]); the outer axes are an odometer.
template <class T>
Array<T> permuted(const Array<T>& a, const std::vector<std::size_t>& perm) {
    const std::size_t d = perm.size();
    Shape shape(d);
    std::vector<std::size_t> in_stride(d), stride(d);
    for (std::size_t i = d, s = 1; i-- > 0; s *= a.shape()[i]) in_stride[i] = s;
    for (std::size_t i = 0; i < d; ++i) shape[i] = a.shape()[perm[i]], stride[i] = in_stride[perm[i]];
    Array<T> out = Array<T>::from_shape(shape);
    if (out.size() == 0) return out;
    if (d < 2) {
        std::copy(a.data(), a.data() + a.size(), out.data());
        return out;
    }
    const std::size_t rows = shape[d - 2], cols = shape[d - 1], sr = stride[d - 2], sc = stride[d - 1];
    const std::size_t outer = out.size() / (rows * cols);
    std::vector<std::size_t> index(d - 2, 0);
    const T* src = a.data();
    T* dst = out.data();
    constexpr std::size_t tile = 16;
    for (std::size_t o = 0; o < outer; ++o, dst += rows * cols) {
        std::size_t base = 0;
        for (std::size_t i = 0; i + 2 < d; ++i) base += index[i] * stride[i];
        const T* s0 = src + base;
        if (sc == 1) {
            for (std::size_t r = 0; r < rows; ++r) std::copy_n(s0 + r * sr, cols, dst + r * cols);
        } else {
            for (std::size_t r0 = 0; r0 < rows; r0 += tile)
                for (std::size_t c0 = 0; c0 < cols; c0 += tile) {
                    std::size_t r1 = std::min(rows, r0 + tile), c1 = std::min(cols, c0 + tile);
                    for (std::size_t r = r0; r < r1; ++r)
                        for (std::size_t c = c0; c < c1; ++c) dst[r * cols + c] = s0[r * sr + c * sc];
                }
        }
        for (std::size_t i = d - 2; i-- > 0;) {  // the odometer over the outer axes
            if (++index[i] < shape[i]) break;
            index[i] = 0;
        }
    }
    return out;
}
}  // namespace

template <class T>
TensorT<T> permute(const TensorT<T>& a, const std::vector<std::size_t>& perm) {
    check_usable("permute", a, 0);
    std::vector<std::size_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    bool valid = perm.size() == a.dim();
    for (std::size_t i = 0; valid && i < sorted.size(); ++i) valid = sorted[i] == i;
    if (!valid)
        throw ValueError(fmt::format("permute: [{}] is not a permutation of the {} axes of a tensor of shape {}",
                                     fmt::join(perm, ","), a.dim(), to_string(a.shape())));
    std::vector<std::size_t> inverse(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = i;
    return make_op<T>(
        "permute", {a}, [perm](const TensorList<T>& in) { return permuted(in[0].value(), perm); },
        [inverse](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {permute(g, inverse)};
        });
}

template <class T>
TensorT<T> transpose(const TensorT<T>& a) {
    check_usable("transpose", a, 0);
    std::vector<std::size_t> perm(a.dim());
    std::iota(perm.rbegin(), perm.rend(), std::size_t(0));
    return permute(a, perm);
}

template <class T>
TensorT<T> slice(const TensorT<T>& a, std::ptrdiff_t axis, std::ptrdiff_t start, std::ptrdiff_t stop,
                 std::ptrdiff_t step) {
    check_usable("slice", a, 0);
    std::size_t ax = normalize_axis("slice", axis, a.dim());
    auto extent = static_cast<std::ptrdiff_t>(a.shape()[ax]);
    if (step <= 0) throw ValueError(fmt::format("slice: step must be positive, got {}", step));
    std::ptrdiff_t b = start < 0 ? start + extent : start;
    std::ptrdiff_t e = stop < 0 ? stop + extent : std::min(stop, extent);
    if (b < 0 || b >= extent || e <= b)
        throw ValueError(fmt::format("slice: [{}:{}] along axis {} of shape {} selects no elements", start, stop, ax,
                                     to_string(a.shape())));
    auto first = static_cast<std::size_t>(b);
    auto by = static_cast<std::size_t>(step);
    std::size_t length = (static_cast<std::size_t>(e - b) + by - 1) / by;
    return detail::slice_along(a, ax, first, length, by, false);
}

namespace detail {

template <class T>
TensorT<T> slice_along(const TensorT<T>& a, std::size_t ax, std::size_t first, std::size_t length, std::size_t by,
                       bool drop_axis) {
    Shape shape = a.shape();
    shape[ax] = length;  // the slice's shape, and without the axis the result's
    Shape result = shape;
    if (drop_axis) result.erase(result.begin() + std::ptrdiff_t(ax));
    auto out = make_op<T>(
        drop_axis ? "select" : "slice", {a},
        [=](const TensorList<T>& in) {
            Array<T> out = Array<T>::from_shape(shape);
            copy_along_axis(in[0].value(), first, by, out, 0, 1, length, ax);
            out.reshape(result);  // (the same elements in the same order)
            return out;
        },
        [=](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {scatter_slice(drop_axis ? reshape(g, shape) : g, in[0].shape(), ax, first, by)};
        });
    // (not under NoGrad: a trace records such a slice with a rule that passes nothing back)
    if (TapeState* tape = active_tape(); tape != nullptr && grad_enabled() && out.requires_grad())
        if (Node<T>* node = node_of(*tape, out); node != nullptr && !node->leaf) node->slice_of = {{ax, first, by}};
    return out;
}

}  // namespace detail

template <class T>
TensorT<T> concat(const std::vector<TensorT<T>>& parts, std::ptrdiff_t axis) {
    if (parts.empty()) throw ValueError("concat: no tensors to join");
    for (std::size_t i = 0; i < parts.size(); ++i) check_usable("concat", parts[i], i);
    const Shape& first = parts[0].shape();
    std::size_t ax = normalize_axis("concat", axis, first.size());
    std::vector<std::size_t> offsets{0};
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const Shape& s = parts[i].shape();
        bool fits = s.size() == first.size();
        for (std::size_t d = 0; fits && d < s.size(); ++d) fits = d == ax || s[d] == first[d];
        if (!fits)
            throw ShapeError(
                fmt::format("concat: part {} has shape {}, part 0 has shape {}; they must agree except "
                            "along axis {}",
                            i, to_string(s), to_string(first), ax));
        offsets.push_back(offsets.back() + s[ax]);
    }
    Shape out_shape = first;
    out_shape[ax] = offsets.back();
    return make_op<T>(
        "concat", TensorList<T>(parts),
        [=](const TensorList<T>& in) {
            Array<T> out = Array<T>::from_shape(out_shape);
            for (std::size_t i = 0; i < in.size(); ++i)
                copy_along_axis(in[i].value(), 0, 1, out, offsets[i], 1, offsets[i + 1] - offsets[i], ax);
            return out;
        },
        [=](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            TensorList<T> grads(in.size());
            auto a = static_cast<std::ptrdiff_t>(ax);
            for (std::size_t i = 0; i < in.size(); ++i)
                if (wants(in, i))
                    grads[i] = slice(g, a, static_cast<std::ptrdiff_t>(offsets[i]),
                                     static_cast<std::ptrdiff_t>(offsets[i + 1]));
            return grads;
        });
}

template <class T>
TensorT<T> stack(const std::vector<TensorT<T>>& parts, std::ptrdiff_t axis) {
    if (parts.empty()) throw ValueError("stack: no tensors to join");
    for (std::size_t i = 0; i < parts.size(); ++i) {
        check_usable("stack", parts[i], i);
        if (parts[i].shape() != parts[0].shape())
            throw ShapeError(fmt::format("stack: part {} has shape {}, part 0 has shape {}; they must be equal", i,
                                         to_string(parts[i].shape()), to_string(parts[0].shape())));
    }
    std::size_t ax = normalize_axis("stack", axis, parts[0].dim() + 1);
    Shape expanded;  // the part's shape with a 1 at `ax` (built by hand: svector::insert trips -Warray-bounds)
    for (std::size_t d = 0; d <= parts[0].dim(); ++d) expanded.push_back(d == ax ? 1 : parts[0].shape()[d < ax ? d : d - 1]);
    std::vector<TensorT<T>> columns;
    for (auto& p : parts) columns.push_back(reshape(p, expanded));
    return concat(columns, static_cast<std::ptrdiff_t>(ax));
}

template <class T>
TensorT<T> pick(const TensorT<T>& a, const IndexArray& indices) {
    check_usable("pick", a, 0);
    if (a.dim() != 2)
        throw ShapeError(fmt::format("pick: expects a 2-D tensor [rows, classes], got shape {}", to_string(a.shape())));
    std::size_t rows = a.shape()[0], classes = a.shape()[1];
    if (indices.size() != rows || indices.dim() != 1)
        throw ShapeError(fmt::format("pick: {} indices (shape {}) for a tensor of shape {} (one per row needed)",
                                     indices.size(), to_string(indices.shape()), to_string(a.shape())));
    std::vector<std::size_t> index = indices.labels("pick", classes, "index");
    return make_op<T>(
        "pick", {a},
        [index](const TensorList<T>& in) {
            const auto& x = in[0].value();
            Array<T> out = Array<T>::from_shape({index.size()});
            for (std::size_t n = 0; n < index.size(); ++n) out(n) = x(n, index[n]);
            return out;
        },
        [index, classes](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {scatter_pick(g, index, classes)};
        });
}

#define XTGRAD_INSTANTIATE(T)                                                                                      \
    template TensorT<T> reshape(const TensorT<T>&, const ShapeArg&);                                               \
    template TensorT<T> broadcast_to(const TensorT<T>&, const Shape&);                                             \
    template TensorT<T> stop_gradient(const TensorT<T>&);                                                          \
    template TensorT<T> sum_to(const TensorT<T>&, const Shape&);                                                   \
    template TensorT<T> permute(const TensorT<T>&, const std::vector<std::size_t>&);                               \
    template TensorT<T> transpose(const TensorT<T>&);                                                              \
    template TensorT<T> slice(const TensorT<T>&, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);  \
    template TensorT<T> detail::slice_along(const TensorT<T>&, std::size_t, std::size_t, std::size_t, std::size_t, \
                                            bool);                                                                 \
    template TensorT<T> concat(const std::vector<TensorT<T>>&, std::ptrdiff_t);                                    \
    template TensorT<T> stack(const std::vector<TensorT<T>>&, std::ptrdiff_t);                                     \
    template TensorT<T> pick(const TensorT<T>&, const IndexArray&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
