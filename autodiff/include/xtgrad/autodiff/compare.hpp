// Comparisons of tensors give masks: Array<bool> of the broadcast shape (numpy's rules),
// ready for `where`, for xtensor's `&&`, `||`, `!` and `xt::any`/`xt::all`, and for
// indexing by hand (`mask(i, j)`). A mask is data, not a tensor: comparisons are not
// differentiable and record nothing. A NaN compares false, except with `!=`.
//
//   Array<bool> inside = (x > -1.0) && (x < 1.0);
//   Tensor y = where(inside, x, 0.5 * x);
#pragma once

#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad {

enum class Comparison { less, less_equal, greater, greater_equal, equal, not_equal };

/// a (op) b elementwise with broadcasting; ShapeError when the shapes do not broadcast.
template <class T>
Array<bool> compare(const BasicTensor<T>& a, const BasicTensor<T>& b, Comparison op);

#define XTGRAD_COMPARISON_OPERATOR(SYMBOL, OP)                                      \
    template <class T>                                                              \
    Array<bool> operator SYMBOL(const BasicTensor<T>& a, const BasicTensor<T>& b) { \
        return compare(a, b, Comparison::OP);                                       \
    }                                                                               \
    template <class T>                                                              \
    Array<bool> operator SYMBOL(const BasicTensor<T>& a, Scalar<T> b) {             \
        return compare(a, BasicTensor<T>::scalar(b), Comparison::OP);               \
    }                                                                               \
    template <class T>                                                              \
    Array<bool> operator SYMBOL(Scalar<T> a, const BasicTensor<T>& b) {             \
        return compare(BasicTensor<T>::scalar(a), b, Comparison::OP);               \
    }
XTGRAD_COMPARISON_OPERATOR(<, less)
XTGRAD_COMPARISON_OPERATOR(<=, less_equal)
XTGRAD_COMPARISON_OPERATOR(>, greater)
XTGRAD_COMPARISON_OPERATOR(>=, greater_equal)
XTGRAD_COMPARISON_OPERATOR(==, equal)
XTGRAD_COMPARISON_OPERATOR(!=, not_equal)
#undef XTGRAD_COMPARISON_OPERATOR

}  // namespace xtgrad
