// The differentiable ops. Each is defined in autodiff/src/ops_<family>.cpp with its
// backward rule beside its forward; all exist for float and double.
//
// Binary elementwise ops broadcast as numpy does, and their gradients are summed back
// to each input's shape. Axis arguments may be negative (counted from the end).
// Every op validates its arguments when called and throws ShapeError, ValueError or
// DomainError with a message naming the op and the shapes or values at fault.
#pragma once

#include <array>
#include <cstdint>
#include <concepts>
#include <string_view>
#include <type_traits>
#include <vector>

#include "xtgrad/autodiff/index_array.hpp"
#include "xtgrad/autodiff/tensor.hpp"

namespace xtgrad {

template <class T>
using Scalar = std::type_identity_t<T>;  // so that `x * 2.0` works for Tensor32 too

// ---- elementwise, binary (broadcasting) -------------------------------------------
template <class T>
BasicTensor<T> add(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> sub(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> mul(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// Throws DomainError for 0/0.
template <class T>
BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// a^b elementwise. Throws DomainError where the result would be NaN (negative base,
/// non-integer exponent). The gradient w.r.t. b needs a > 0 where it is nonzero.
template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, Scalar<T> exponent);
/// Elementwise max/min; at ties the gradient is split evenly between a and b.
template <class T>
BasicTensor<T> maximum(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> minimum(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// mask ? a : b, all three broadcast together. A mask from host data; a comparison of tensors
/// gives a Mask (compare.hpp), recorded and replayed as the op it is.
template <class T>
BasicTensor<T> where(const Array<bool>& mask, const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
class BasicMask;
/// log(e^a + e^b), stable for any inputs (-inf included); gradients sigmoid(a - b) and
/// sigmoid(b - a), 1/2 each where a and b are the same infinity.
template <class T>
BasicTensor<T> logaddexp(const BasicTensor<T>& a, const BasicTensor<T>& b);

namespace detail {
template <class X>
inline constexpr bool is_tensor = false;
template <class T>
inline constexpr bool is_tensor<BasicTensor<T>> = true;
template <class X>
using bare = std::remove_cvref_t<X>;
template <class X>
inline constexpr bool is_mask = false;
template <class T>
inline constexpr bool is_mask<BasicMask<T>> = true;
/// where's op: flags != 0 ? a : b, the flags (a mask's tensor) an input without a gradient.
template <class T>
BasicTensor<T> select(const BasicTensor<T>& flags, const BasicTensor<T>& a, const BasicTensor<T>& b);
// The operands `where` accepts: two tensors of one dtype, or a tensor and a number.
template <class A, class B>
concept where_operands = (is_tensor<A> && std::same_as<A, B>) || (is_tensor<A> && std::is_arithmetic_v<B>) ||
                         (std::is_arithmetic_v<A> && is_tensor<B>);
template <class A, class B>
using where_value_t = typename std::conditional_t<is_tensor<A>, A, B>::value_type;
template <class T, class X>
BasicTensor<T> as_tensor(X&& x) {
    if constexpr (is_tensor<bare<X>>)
        return std::forward<X>(x);
    else
        return BasicTensor<T>::scalar(static_cast<T>(x));
}
}  // namespace detail

/// The same for any value categories, for masks that are xtensor expressions (`m1 && m2`),
/// and with a number in either branch (`where(x > 0.0, x, 0.0)`). Masks make xt::where a
/// candidate too (argument-dependent lookup), whose forwarding parameters would win; this
/// overload is more constrained and so preferred, and `where(mask, a, b)` works unqualified.
template <class M, class A, class B>
requires detail::where_operands<detail::bare<A>, detail::bare<B>> && (!detail::is_mask<detail::bare<M>>) &&
    std::convertible_to<M, const Array<bool>&>
auto where(M&& mask, A&& a, B&& b) {
    using T = detail::where_value_t<detail::bare<A>, detail::bare<B>>;
    return xtgrad::where<T>(static_cast<const Array<bool>&>(mask), detail::as_tensor<T>(std::forward<A>(a)),
                            detail::as_tensor<T>(std::forward<B>(b)));
}

// ---- elementwise, unary -------------------------------------------------------------
template <class T>
BasicTensor<T> neg(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> exp(const BasicTensor<T>& a);
/// Throws DomainError for negative inputs; log(0) = -inf.
template <class T>
BasicTensor<T> log(const BasicTensor<T>& a);
/// Throws DomainError for inputs below -1.
template <class T>
BasicTensor<T> log1p(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> expm1(const BasicTensor<T>& a);
/// Throws DomainError for negative inputs.
template <class T>
BasicTensor<T> sqrt(const BasicTensor<T>& a);
/// Gradient sign(a), 0 at 0.
template <class T>
BasicTensor<T> abs(const BasicTensor<T>& a);
/// The error function; gradient 2/sqrt(pi) e^(-a^2).
template <class T>
BasicTensor<T> erf(const BasicTensor<T>& a);
/// Gradient 1 / (1 + a^2).
template <class T>
BasicTensor<T> atan(const BasicTensor<T>& a);
/// Gradient 1 + tan(a)^2.
template <class T>
BasicTensor<T> tan(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> square(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> sin(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> cos(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> tanh(const BasicTensor<T>& a);
/// 1 / (1 + e^-a), fused and stable for any finite input.
template <class T>
BasicTensor<T> sigmoid(const BasicTensor<T>& a);
/// max(a, 0); gradient 0 at 0.
template <class T>
BasicTensor<T> relu(const BasicTensor<T>& a);
/// log(1 + e^a), stable for any finite input; gradient sigmoid(a).
template <class T>
BasicTensor<T> softplus(const BasicTensor<T>& a);
/// log(sigmoid(a)) = -softplus(-a), stable for any finite input; gradient sigmoid(-a).
template <class T>
BasicTensor<T> log_sigmoid(const BasicTensor<T>& a);
/// min(max(a, lo), hi); gradient 1 inside [lo, hi], 0 outside. Requires lo <= hi.
template <class T>
BasicTensor<T> clamp(const BasicTensor<T>& a, Scalar<T> lo, Scalar<T> hi);

// ---- reductions ----------------------------------------------------------------------
/// Sum of all elements (a scalar).
template <class T>
BasicTensor<T> sum(const BasicTensor<T>& a);
/// Sum over `axes` (empty: all), keeping them as size-1 dimensions if `keepdims`.
template <class T>
BasicTensor<T> sum(const BasicTensor<T>& a, const Axes& axes, bool keepdims = false);
template <class T>
BasicTensor<T> mean(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> mean(const BasicTensor<T>& a, const Axes& axes, bool keepdims = false);
/// Max/min over `axes`; the gradient goes to the arg-extremes, split evenly at ties.
template <class T>
BasicTensor<T> max(const BasicTensor<T>& a, const Axes& axes, bool keepdims = false);
template <class T>
BasicTensor<T> min(const BasicTensor<T>& a, const Axes& axes, bool keepdims = false);
/// Product over `axes` (empty: all). Computed as a balanced tree of products, so its
/// gradient (the product of the other elements) is exact where elements are zero.
template <class T>
BasicTensor<T> prod(const BasicTensor<T>& a, const Axes& axes = {}, bool keepdims = false);
/// Variance over `axes` (empty: all): sum((a - mean)^2) / (N - correction). The default
/// correction 1 is the unbiased estimate (PyTorch's default; numpy's ddof=0 is correction 0).
/// Throws ValueError when N - correction <= 0.
template <class T>
BasicTensor<T> var(const BasicTensor<T>& a, const Axes& axes = {}, double correction = 1, bool keepdims = false);
/// sqrt(var(a, ...)). Where the spread is zero the gradient is 0 (a subgradient), not NaN.
/// Called `stddev`: an unqualified `std(x)` under `using namespace xtgrad` would name namespace
/// std too; `xtgrad::std` is the same function under PyTorch's name, for qualified calls.
template <class T>
BasicTensor<T> stddev(const BasicTensor<T>& a, const Axes& axes = {}, double correction = 1, bool keepdims = false);
template <class T>
BasicTensor<T> std(const BasicTensor<T>& a, const Axes& axes = {}, double correction = 1, bool keepdims = false) {
    return stddev(a, axes, correction, keepdims);
}
/// The p-norm over `axes` (empty: all): ord 1, 2, infinity, or any p >= 1. At a = 0 the
/// gradient is 0 (a subgradient); for ord infinity it is split evenly among tied maxima.
template <class T>
BasicTensor<T> norm(const BasicTensor<T>& a, double ord = 2, const Axes& axes = {}, bool keepdims = false);
/// Running sum along `axis` (same shape); gradient: the running sum of g from the end.
template <class T>
BasicTensor<T> cumsum(const BasicTensor<T>& a, std::ptrdiff_t axis);
/// log(sum(exp(a))) along `axis`, fused and stable; entries may be -inf (not all of them).
template <class T>
BasicTensor<T> logsumexp(const BasicTensor<T>& a, std::ptrdiff_t axis, bool keepdims = false);
/// exp(a) / sum(exp(a)) along `axis`, stable for any finite logits and -inf entries.
template <class T>
BasicTensor<T> softmax(const BasicTensor<T>& a, std::ptrdiff_t axis);
/// a - logsumexp(a) along `axis`, fused: d out_k / d a_i = delta_ik - softmax(a)_i.
template <class T>
BasicTensor<T> log_softmax(const BasicTensor<T>& a, std::ptrdiff_t axis);

// ---- shape ----------------------------------------------------------------------------
/// The sizes asked of reshape, expand and unflatten: a Shape, or a braced list of integers of
/// any integer types where -1 stands for a size the op works out (`reshape(x, {n, -1})`, as
/// PyTorch's). Other negative sizes are refused by the op, naming it.
class ShapeArg {
public:
    ShapeArg() = default;
    ShapeArg(const Shape& shape) : sizes_(shape.begin(), shape.end()) {}  // NOLINT(google-explicit-constructor)
    template <std::integral... I>
    ShapeArg(I... sizes) : sizes_{to_size(sizes)...} {}  // NOLINT(google-explicit-constructor)
    ShapeArg(const std::vector<std::ptrdiff_t>& sizes) : sizes_(sizes.begin(), sizes.end()) {}  // NOLINT
    const xt::svector<std::ptrdiff_t, 4>& sizes() const { return sizes_; }

private:
    template <class I>
    static std::ptrdiff_t to_size(I v) {
        // a size beyond ptrdiff_t cannot be an extent of anything in memory: -2 is refused by the op
        if constexpr (std::is_unsigned_v<I>)
            return v > static_cast<std::make_unsigned_t<std::ptrdiff_t>>(PTRDIFF_MAX) ? -2 : static_cast<std::ptrdiff_t>(v);
        else
            return static_cast<std::ptrdiff_t>(v);
    }
    xt::svector<std::ptrdiff_t, 4> sizes_;
};

/// Same elements in row-major order, new shape (sizes must agree; one size may be -1).
template <class T>
BasicTensor<T> reshape(const BasicTensor<T>& a, const ShapeArg& shape);
/// Numpy broadcasting to `shape`; the gradient is summed back.
template <class T>
BasicTensor<T> broadcast_to(const BasicTensor<T>& a, const Shape& shape);
/// torch.expand: broadcast_to where -1 keeps an axis's extent (new leading axes need a size).
template <class T>
BasicTensor<T> expand(const BasicTensor<T>& a, const ShapeArg& shape);
/// Drops size-1 axes: all of them, or those among `axes` (an axis of another size is left as it
/// is, as PyTorch's squeeze does; numpy's refuses it).
template <class T>
BasicTensor<T> squeeze(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> squeeze(const BasicTensor<T>& a, const Axes& axes);
/// Inserts a size-1 axis at `axis` of the result (-1: last).
template <class T>
BasicTensor<T> unsqueeze(const BasicTensor<T>& a, std::ptrdiff_t axis);
/// Joins axes start_axis..end_axis (inclusive) into one (torch.flatten).
template <class T>
BasicTensor<T> flatten(const BasicTensor<T>& a, std::ptrdiff_t start_axis = 0, std::ptrdiff_t end_axis = -1);
/// Splits `axis` into `sizes` (one may be -1); the inverse of flatten (torch.unflatten).
template <class T>
BasicTensor<T> unflatten(const BasicTensor<T>& a, std::ptrdiff_t axis, const ShapeArg& sizes);
/// Tiles `a` repeats[i] times along axis i; more repeats than axes prepend axes (torch.repeat).
template <class T>
BasicTensor<T> repeat(const BasicTensor<T>& a, const std::vector<std::size_t>& repeats);
/// Reverses the order of elements along each of `axes`; its own gradient.
template <class T>
BasicTensor<T> flip(const BasicTensor<T>& a, const Axes& axes);
/// Shifts elements by shifts[i] along axes[i], wrapping around (torch.roll); without axes the
/// flattened tensor is rolled by shifts[0] and given its shape back.
template <class T>
BasicTensor<T> roll(const BasicTensor<T>& a, const std::vector<std::ptrdiff_t>& shifts, const Axes& axes = {});
/// `a`'s value, with a derivative of zero (jax.lax.stop_gradient). Unlike detach(), which
/// returns a constant cut from the tape, the result stays on the tape: a compiled function
/// recomputes it at new inputs where a detached value would be frozen at the trace.
template <class T>
BasicTensor<T> stop_gradient(const BasicTensor<T>& a);
/// The inverse of broadcast_to: sums `a` down to `shape` (leading axes and size-1 axes).
template <class T>
BasicTensor<T> sum_to(const BasicTensor<T>& a, const Shape& shape);
/// Reverses the axes (the matrix transpose for 2-D).
template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a);
/// Swaps two axes (torch.transpose(a, dim0, dim1); `transpose(k, -2, -1)` for a batch of
/// matrices).
template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a, std::ptrdiff_t axis0, std::ptrdiff_t axis1);
/// Reorders the axes: result axis i is input axis perm[i].
template <class T>
BasicTensor<T> permute(const BasicTensor<T>& a, const std::vector<std::size_t>& perm);
/// Elements start, start+step, ... (< stop) along `axis`; negative start/stop count from the end.
template <class T>
BasicTensor<T> slice(const BasicTensor<T>& a, std::ptrdiff_t axis, std::ptrdiff_t start, std::ptrdiff_t stop,
                     std::ptrdiff_t step = 1);
/// Joins tensors along an existing axis; all other extents must agree.
template <class T>
BasicTensor<T> concat(const std::vector<BasicTensor<T>>& parts, std::ptrdiff_t axis);
/// Joins equally shaped tensors along a new axis.
template <class T>
BasicTensor<T> stack(const std::vector<BasicTensor<T>>& parts, std::ptrdiff_t axis);
/// `length` elements from `start` along `axis` (negative start counts from the end): torch.narrow.
template <class T>
BasicTensor<T> narrow(const BasicTensor<T>& a, std::ptrdiff_t axis, std::ptrdiff_t start, std::size_t length);
/// The slice at `index` along `axis`, without that axis (torch.select; x[:, t] is select(x, 1, t),
/// h[-1] is select(h, 0, -1)); negative indices count from the end.
template <class T>
BasicTensor<T> select(const BasicTensor<T>& a, std::ptrdiff_t axis, std::ptrdiff_t index);
/// Pieces of `size` elements along `axis`, the last one shorter if they do not divide (torch.split).
template <class T>
std::vector<BasicTensor<T>> split(const BasicTensor<T>& a, std::size_t size, std::ptrdiff_t axis = 0);
/// Pieces with the given sizes along `axis`, which must add up to its extent.
template <class T>
std::vector<BasicTensor<T>> split(const BasicTensor<T>& a, const std::vector<std::size_t>& sizes,
                                  std::ptrdiff_t axis = 0);
/// At most `chunks` pieces of ceil(extent / chunks) elements along `axis` (torch.chunk: fewer
/// pieces when that size covers the extent sooner, as for 6 elements in 4 chunks: 2, 2, 2).
template <class T>
std::vector<BasicTensor<T>> chunk(const BasicTensor<T>& a, std::size_t chunks, std::ptrdiff_t axis = 0);
/// The slices along `axis`, each without that axis (torch.unbind); stack's inverse.
template <class T>
std::vector<BasicTensor<T>> unbind(const BasicTensor<T>& a, std::ptrdiff_t axis = 0);
/// The lower (upper) triangle of the last two dimensions: entries with j - i <= k (>= k)
/// are kept, the others are 0; the gradient is masked the same way.
template <class T>
BasicTensor<T> tril(const BasicTensor<T>& a, std::ptrdiff_t k = 0);
template <class T>
BasicTensor<T> triu(const BasicTensor<T>& a, std::ptrdiff_t k = 0);
/// As numpy.diag: a 1-D `a` becomes a square matrix with `a` on diagonal k; a 2-D `a`
/// gives its diagonal k as a vector. Each is the other's gradient.
template <class T>
BasicTensor<T> diag(const BasicTensor<T>& a, std::ptrdiff_t k = 0);

// ---- image patches (convolution and pooling are built on these) --------------------------
/// Geometry of 2-D patches: kernel [kh, kw], stride, zero padding and dilation per axis.
struct Patches2d {
    std::array<std::size_t, 2> kernel{1, 1};
    std::array<std::size_t, 2> stride{1, 1};
    std::array<std::size_t, 2> padding{0, 0};
    std::array<std::size_t, 2> dilation{1, 1};
};
/// im2col: images [N, C, H, W] to patches [N, L, C kh kw], L = out_h out_w patch positions in
/// row-major order, each patch ordered (channel, row, column); out_h = (H + 2 pad - dil (kh - 1)
/// - 1) / stride + 1 as in PyTorch. Gradient: fold2d.
template <class T>
BasicTensor<T> unfold2d(const BasicTensor<T>& images, const Patches2d& patches);
/// {out_h, out_w}: the grid of patch positions unfold2d takes from images of `image_shape`
/// (L = out_h out_w); ShapeError or ValueError as unfold2d for a geometry that does not fit.
std::array<std::size_t, 2> unfold2d_grid(const Shape& image_shape, const Patches2d& patches);
/// col2im, the adjoint of unfold2d: patches summed back into images of `image_shape`.
template <class T>
BasicTensor<T> fold2d(const BasicTensor<T>& columns, const Shape& image_shape, const Patches2d& patches);

// ---- indexing (integer indices as an IndexArray: vectors, xtensor arrays, braced lists) -----
/// For 2-D `a` of shape [N, C]: out[n] = a[n, index[n]] (class labels, one per row).
template <class T>
BasicTensor<T> pick(const BasicTensor<T>& a, const IndexArray& index);
/// numpy.take_along_axis: out[..., i, ...] = a[..., indices[..., i, ...], ...] along `axis`.
/// `indices` has a's number of dimensions and, off `axis`, extents no larger than a's (the
/// leading part is used, as torch.gather does); the result has the shape of `indices`.
/// Negative indices count from the end. Gradient: scatter_add of g into zeros.
template <class T>
BasicTensor<T> take_along_axis(const BasicTensor<T>& a, const IndexArray& indices, std::ptrdiff_t axis);
/// torch.gather: the same op with PyTorch's argument order.
template <class T>
BasicTensor<T> gather(const BasicTensor<T>& a, std::ptrdiff_t axis, const IndexArray& indices) {
    return take_along_axis(a, indices, axis);
}
/// a + src added at `indices` along `axis` (torch.scatter_add; repeated indices accumulate).
/// `indices` and `src` have one shape, whose extents off `axis` are no larger than a's.
/// Gradients: g for a, take_along_axis(g, indices, axis) for src.
template <class T>
BasicTensor<T> scatter_add(const BasicTensor<T>& a, std::ptrdiff_t axis, const IndexArray& indices,
                           const BasicTensor<T>& src);
/// The slices of `a` at the 1-D `indices` along `axis`, in that order (rows of a batch:
/// index_select(x, 0, batch)); repeats allowed, negative indices count from the end.
/// Gradient: index_add of g into zeros.
template <class T>
BasicTensor<T> index_select(const BasicTensor<T>& a, std::ptrdiff_t axis, const IndexArray& indices);
/// a with slice i of `src` added at slice indices[i] along `axis` (torch.index_add).
template <class T>
BasicTensor<T> index_add(const BasicTensor<T>& a, std::ptrdiff_t axis, const IndexArray& indices,
                         const BasicTensor<T>& src);

/// The same four ops with indices held in a tensor of whole numbers (PyTorch's index tensors):
/// an input of the op, read and checked by it on every evaluation, so a compiled function
/// recomputes them at each replay (indices from an IndexArray are constants of a recording).
/// Indices that are not whole numbers or out of range are a ValueError naming the op.
template <class T>
BasicTensor<T> take_along_axis(const BasicTensor<T>& a, const BasicTensor<T>& indices, std::ptrdiff_t axis);
template <class T>
BasicTensor<T> scatter_add(const BasicTensor<T>& a, std::ptrdiff_t axis, const BasicTensor<T>& indices,
                           const BasicTensor<T>& src);
template <class T>
BasicTensor<T> index_select(const BasicTensor<T>& a, std::ptrdiff_t axis, const BasicTensor<T>& indices);
template <class T>
BasicTensor<T> index_add(const BasicTensor<T>& a, std::ptrdiff_t axis, const BasicTensor<T>& indices,
                         const BasicTensor<T>& src);

// ---- linear algebra (BLAS) ----------------------------------------------------------------
/// Matrix product with numpy's matmul rules: 1-D operands are a row or a column, and the
/// leading (batch) axes of operands of any rank broadcast ([2,1,4,3] x [5,3,2] -> [2,5,4,2]).
/// [..., n, k] x [k, m] is one BLAS call; a batch is one call per matrix. Transposes in the
/// backward pass are BLAS flags.
template <class T>
BasicTensor<T> matmul(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// a b^T for a [..., k] and b [m, k] (BLAS's "NT"): the product of PyTorch's linear layout
/// (weight [out, in]), b transposed by a flag, not copied; [..., m]. Its rules are the same
/// primitive with other flags.
template <class T>
BasicTensor<T> matmul_nt(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// a b^T + c for c [m], added to every row: each row starts as c and BLAS adds the product to
/// it (PyTorch's addmm), so a layer's bias costs no pass of its own (nn's linear).
template <class T>
BasicTensor<T> matmul_nt(const BasicTensor<T>& a, const BasicTensor<T>& b, const BasicTensor<T>& c);
/// The sum of a matrix's diagonal.
template <class T>
BasicTensor<T> trace(const BasicTensor<T>& a);
/// Inner product of two vectors of equal length (a scalar).
template <class T>
BasicTensor<T> dot(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// Outer product of two vectors: [n] x [m] -> [n, m].
template <class T>
BasicTensor<T> outer(const BasicTensor<T>& a, const BasicTensor<T>& b);
/// Einstein summation over one or two operands, as numpy.einsum: "ij,jk->ik", "bij,bjk->bik",
/// "i,i->", "ij->ji"; without "->" the output is the subscripts that appear once, sorted.
/// Subscripts are letters; a letter repeated within one operand (a diagonal) and "..." are
/// not supported (ValueError). Built from sum, permute, reshape and matmul, so it is
/// differentiable to any order.
template <class T>
BasicTensor<T> einsum(std::string_view subscripts, const std::vector<BasicTensor<T>>& operands);
template <class T>
BasicTensor<T> einsum(std::string_view subscripts, const BasicTensor<T>& a) {
    return einsum<T>(subscripts, std::vector<BasicTensor<T>>{a});
}
template <class T>
BasicTensor<T> einsum(std::string_view subscripts, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return einsum<T>(subscripts, std::vector<BasicTensor<T>>{a, b});
}

// ---- operators --------------------------------------------------------------------------
template <class T>
BasicTensor<T> operator+(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return add(a, b);
}
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return sub(a, b);
}
template <class T>
BasicTensor<T> operator*(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return mul(a, b);
}
template <class T>
BasicTensor<T> operator/(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return div(a, b);
}
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a) {
    return neg(a);
}
template <class T>
BasicTensor<T> operator+(const BasicTensor<T>& a, Scalar<T> s) {
    return add(a, BasicTensor<T>::scalar(s));
}
template <class T>
BasicTensor<T> operator+(Scalar<T> s, const BasicTensor<T>& a) {
    return add(BasicTensor<T>::scalar(s), a);
}
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a, Scalar<T> s) {
    return sub(a, BasicTensor<T>::scalar(s));
}
template <class T>
BasicTensor<T> operator-(Scalar<T> s, const BasicTensor<T>& a) {
    return sub(BasicTensor<T>::scalar(s), a);
}
template <class T>
BasicTensor<T> operator*(const BasicTensor<T>& a, Scalar<T> s) {
    return mul(a, BasicTensor<T>::scalar(s));
}
template <class T>
BasicTensor<T> operator*(Scalar<T> s, const BasicTensor<T>& a) {
    return mul(BasicTensor<T>::scalar(s), a);
}
template <class T>
BasicTensor<T> operator/(const BasicTensor<T>& a, Scalar<T> s) {
    return div(a, BasicTensor<T>::scalar(s));
}
template <class T>
BasicTensor<T> operator/(Scalar<T> s, const BasicTensor<T>& a) {
    return div(BasicTensor<T>::scalar(s), a);
}

}  // namespace xtgrad
