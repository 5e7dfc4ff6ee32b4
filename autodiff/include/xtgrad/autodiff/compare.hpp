// Comparisons of tensors give masks of the broadcast shape (numpy's rules): `x > 0.0` is a
// Mask, PyTorch's bool tensor. A mask is an op's result like any other: recorded where its
// operands are, so a compiled function recomputes it at every replay (jax.jit traces
// comparisons the same way). Masks combine with `&&`, `||`, `!` (recorded too), select with
// `where`, and convert to Array<bool> for host code (`xt::any(m.array())`, `m.array()(i)`):
// a conversion, so inside a compiled function's trace it is refused as any read of a traced
// value is (trace.hpp). Comparisons are not differentiable. A NaN compares false, except
// with `!=`.
//
//   Mask inside = (x > -1.0) && (x < 1.0);
//   Tensor y = where(inside, x, 0.5 * x);
#pragma once

#include <optional>

#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad {

/// The result of a comparison: true/false per element, held as a tensor of 1 and 0 of the
/// operands' dtype (so that a recording replays it like any op).
template <class T>
class BasicMask {
public:
    /// A mask from data (an Array<bool> computed by host code): a constant.
    explicit BasicMask(const Array<bool>& values);
    /// A mask from a tensor of ones and zeros (what comparisons produce).
    explicit BasicMask(BasicTensor<T> flags) : flags_(std::move(flags)) {}

    /// 1 where true, 0 where false.
    const BasicTensor<T>& tensor() const { return flags_; }
    const Shape& shape() const { return flags_.shape(); }
    std::size_t size() const { return flags_.size(); }
    /// The mask as booleans for host code; TraceError inside a compiled function's trace.
    const Array<bool>& array() const;
    operator const Array<bool>&() const { return array(); }

private:
    BasicTensor<T> flags_;
    mutable std::optional<Array<bool>> bools_;
};

using Mask = BasicMask<double>;
using Mask32 = BasicMask<float>;

/// a < b, a <= b, a > b, a >= b, a == b, a != b elementwise with broadcasting (PyTorch's
/// lt, le, gt, ge, eq, ne; the operators below call them); ShapeError when the shapes do not
/// broadcast.
template <class T>
BasicMask<T> lt(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicMask<T> le(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicMask<T> gt(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicMask<T> ge(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicMask<T> eq(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicMask<T> ne(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicMask<T> operator&&(const BasicMask<T>& a, const BasicMask<T>& b);
template <class T>
BasicMask<T> operator||(const BasicMask<T>& a, const BasicMask<T>& b);
template <class T>
BasicMask<T> operator!(const BasicMask<T>& a);

/// mask ? a : b elementwise with broadcasting, the mask an input of the op (a recording
/// replays it, never freezes it); a number allowed in either branch.
template <class M, class A, class B>
requires detail::is_mask<detail::bare<M>> && detail::where_operands<detail::bare<A>, detail::bare<B>>
auto where(const M& mask, A&& a, B&& b) {
    using T = detail::where_value_t<detail::bare<A>, detail::bare<B>>;
    static_assert(std::is_same_v<M, BasicMask<T>>, "where: the mask comes from tensors of another dtype");
    return detail::select<T>(mask.tensor(), detail::as_tensor<T>(std::forward<A>(a)),
                             detail::as_tensor<T>(std::forward<B>(b)));
}

/// mask ? a : b with two numbers: a tensor of the mask's shape and dtype (torch.where(m, 1.0, 0.0)).
template <class T>
BasicTensor<T> where(const BasicMask<T>& mask, Scalar<T> a, Scalar<T> b) {
    return detail::select<T>(mask.tensor(), BasicTensor<T>::scalar(a), BasicTensor<T>::scalar(b));
}

#define XTGRAD_COMPARISON_OPERATOR(SYMBOL, OP)                                         \
    template <class T>                                                                 \
    BasicMask<T> operator SYMBOL(const BasicTensor<T>& a, const BasicTensor<T>& b) {   \
        return OP(a, b);                                                                \
    }                                                                                  \
    template <class T>                                                                 \
    BasicMask<T> operator SYMBOL(const BasicTensor<T>& a, Scalar<T> b) {               \
        return OP(a, BasicTensor<T>::scalar(b));                                        \
    }                                                                                  \
    template <class T>                                                                 \
    BasicMask<T> operator SYMBOL(Scalar<T> a, const BasicTensor<T>& b) {               \
        return OP(BasicTensor<T>::scalar(a), b);                                        \
    }
XTGRAD_COMPARISON_OPERATOR(<, lt)
XTGRAD_COMPARISON_OPERATOR(<=, le)
XTGRAD_COMPARISON_OPERATOR(>, gt)
XTGRAD_COMPARISON_OPERATOR(>=, ge)
XTGRAD_COMPARISON_OPERATOR(==, eq)
XTGRAD_COMPARISON_OPERATOR(!=, ne)
#undef XTGRAD_COMPARISON_OPERATOR

extern template class BasicMask<float>;
extern template class BasicMask<double>;

}  // namespace xtgrad
