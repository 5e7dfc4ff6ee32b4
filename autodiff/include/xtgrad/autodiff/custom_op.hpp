// Defining an op: a forward function and a backward rule, side by side.
//
// Built-in ops are defined through exactly this interface, so a user's op is recorded,
// differentiated twice and checked by `gradcheck` like any built-in one. The backward
// rule receives the inputs, the output and the gradient of the output as tensors and
// returns one gradient per input, computed with xtgrad's differentiable ops: that is
// what makes the rule itself differentiable (Hessian-vector products need it).
#pragma once

#include <functional>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <vector>

#include "xtgrad/autodiff/tensor.hpp"

namespace xtgrad {

template <class T>
using TensorList = std::vector<BasicTensor<T>>;

/// Computes the value of the op from the values of its inputs.
template <class T>
using ForwardFn = std::function<Array<T>(const TensorList<T>& inputs)>;

/// Returns d(loss)/d(input_i) for every input, given d(loss)/d(output).
/// An undefined tensor in the result means "no gradient for this input".
template <class T>
using BackwardFn = std::function<TensorList<T>(const TensorList<T>& inputs, const BasicTensor<T>& output,
                                               const BasicTensor<T>& grad_output)>;

/// Runs `forward` on the inputs and, when gradients are wanted, records a node whose
/// backward rule is `backward`. `name` appears in error messages and gradcheck reports.
/// The rule's results are checked at backward time: one per input, each of its input's shape.
/// The dtype is deduced from the inputs: `custom_op("softsign", {x}, forward, backward)`
/// with lambdas for forward and backward.
template <class T>
BasicTensor<T> custom_op(std::string_view name, TensorList<T> inputs, std::type_identity_t<ForwardFn<T>> forward,
                         std::type_identity_t<BackwardFn<T>> backward);

/// The same for a braced list of inputs, whose dtype deduction needs this overload.
template <class T, class F, class B>
BasicTensor<T> custom_op(std::string_view name, std::initializer_list<BasicTensor<T>> inputs, F&& forward,
                         B&& backward) {
    return custom_op<T>(name, TensorList<T>(inputs), ForwardFn<T>(std::forward<F>(forward)),
                        BackwardFn<T>(std::forward<B>(backward)));
}

extern template Tensor custom_op(std::string_view, TensorList<double>, std::type_identity_t<ForwardFn<double>>,
                                 std::type_identity_t<BackwardFn<double>>);
extern template Tensor32 custom_op(std::string_view, TensorList<float>, std::type_identity_t<ForwardFn<float>>,
                                   std::type_identity_t<BackwardFn<float>>);

}  // namespace xtgrad
