// Derivatives: reverse-mode gradients, vector-Jacobian and Jacobian-vector products,
// exact Hessian-vector products, and dense Jacobians/Hessians for small problems.
//
// The functional forms (vjp, jvp, hvp, jacobian, hessian) take a closure that computes
// the output from leaves (parameters) it captures, record it on a tape of their own,
// and return constants: nothing they record outlives the call.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

#include "xtgrad/autodiff/custom_op.hpp"

namespace xtgrad {

/// d(outputs)/d(inputs) contracted with `grad_outputs` (ones for single-element outputs
/// when empty). With `create_graph` the results are recorded on the tape and can be
/// differentiated again. An input not on the path from the outputs is a GradError unless
/// `allow_unused`, which gives zeros.
template <class T>
TensorList<T> grad(const TensorList<T>& outputs, const std::type_identity_t<TensorList<T>>& inputs,
                   const std::type_identity_t<TensorList<T>>& grad_outputs = {}, bool create_graph = false,
                   bool allow_unused = false);

/// Gradient of a single-element output.
template <class T>
TensorList<T> grad(const BasicTensor<T>& output, const std::type_identity_t<TensorList<T>>& inputs,
                   bool create_graph = false, bool allow_unused = false) {
    return grad<T>(TensorList<T>{output}, inputs, {}, create_graph, allow_unused);
}

template <class T>
struct VjpResult {
    BasicTensor<T> output;  ///< f() (a constant)
    TensorList<T> vjp;      ///< v^T J for each input
};

template <class T>
struct JvpResult {
    BasicTensor<T> output;  ///< f() (a constant)
    BasicTensor<T> jvp;     ///< J v, shaped like the output
};

namespace detail {
template <class F>
using value_of = typename std::invoke_result_t<F&>::value_type;
template <class T>
using Closure = std::function<BasicTensor<T>()>;

template <class T>
VjpResult<T> vjp(const Closure<T>& f, const TensorList<T>& inputs, const BasicTensor<T>& v);
template <class T>
JvpResult<T> jvp(const Closure<T>& f, const TensorList<T>& inputs, const TensorList<T>& tangents);
template <class T>
TensorList<T> hvp(const Closure<T>& f, const TensorList<T>& inputs, const TensorList<T>& v);
template <class T>
std::vector<Array<T>> jacobian(const Closure<T>& f, const TensorList<T>& inputs);
template <class T>
Array<T> hessian(const Closure<T>& f, const TensorList<T>& inputs);
}  // namespace detail

/// f() and v^T (df/dinputs): one reverse sweep.
template <class F, class T = detail::value_of<F>>
VjpResult<T> vjp(F&& f, const TensorList<T>& inputs, const BasicTensor<T>& v) {
    return detail::vjp<T>(detail::Closure<T>(std::forward<F>(f)), inputs, v);
}

/// f() and (df/dinputs) tangents, by differentiating a vector-Jacobian product (two sweeps).
template <class F, class T = detail::value_of<F>>
JvpResult<T> jvp(F&& f, const TensorList<T>& inputs, const TensorList<T>& tangents) {
    return detail::jvp<T>(detail::Closure<T>(std::forward<F>(f)), inputs, tangents);
}

/// The exact Hessian of a scalar f() times v: the gradient of <grad f, v>, whose
/// rules are differentiated like any op (no finite differences).
template <class F, class T = detail::value_of<F>>
TensorList<T> hvp(F&& f, const TensorList<T>& inputs, const TensorList<T>& v) {
    return detail::hvp<T>(detail::Closure<T>(std::forward<F>(f)), inputs, v);
}

/// For each input, the Jacobian as a matrix [f().size(), input.size()] (row-major flattening).
template <class F, class T = detail::value_of<F>>
std::vector<Array<T>> jacobian(F&& f, const TensorList<T>& inputs) {
    return detail::jacobian<T>(detail::Closure<T>(std::forward<F>(f)), inputs);
}

/// The Hessian of a scalar f() w.r.t. all inputs flattened and concatenated: [N, N].
template <class F, class T = detail::value_of<F>>
Array<T> hessian(F&& f, const TensorList<T>& inputs) {
    return detail::hessian<T>(detail::Closure<T>(std::forward<F>(f)), inputs);
}

}  // namespace xtgrad
