// Compiled functions: record a function of tensors once, then evaluate it, its gradient and
// Hessian-vector products at new input values by replaying the recording, without tracing
// the function again (jax.jit's trace-once; CppAD's ADFun, recorded once and evaluated at
// new points).
//
//   auto loss = compile<double>([&](const TensorList<double>& in) {
//       return sum(square(matmul(x, in[0]) - y));        // in[0]: the weights
//   });
//   auto [f, g] = loss.value_and_grad({w});              // traces once, at w's shape
//   auto [f2, g2] = loss.value_and_grad({w2});           // replays: no tracing
//
// A recording is kept per kind of evaluation (value, gradient, Hessian-vector product) and
// per set of input shapes and dtype, like jax.jit's cache: new shapes trace again. Replays
// follow a plan made once (recording.hpp, docs/design.md): chains of elementwise ops are
// fused into blocked passes and no heap allocation is made once warm. Results equal eager
// evaluation's bits, except sums over more than one block of 8 KiB (1024 doubles, 2048
// floats), which are added block by block and differ by rounding.
//
// What a replay cannot see: the function runs once, at the inputs it was traced at. Control
// flow that depends on input values (an `if` on an element, a loop until convergence) and
// values computed from the inputs outside xtgrad's ops are replayed as they were at the
// trace. CompileOptions::check traces afresh after every replay and throws TraceError when
// the two differ. Parameters the function captures (a module's weights) are read at their
// current values on every replay; captured constants are constants of the recording (what
// is computed from them alone is not recorded): data that changes between calls must be an
// input. The function must not create a Tape of its own.
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "xtgrad/autodiff/custom_op.hpp"  // TensorList
#include "xtgrad/autodiff/recording.hpp"
#include "xtgrad/autodiff/tensor.hpp"

namespace xtgrad {

struct CompileOptions {
    /// After every replay, trace the function afresh at the same inputs and compare each
    /// output element (the same ops in the same order: equal bits, or NaN for NaN).
    bool check = false;
};

template <class T>
class CompiledFunction {
public:
    using Function = std::function<BasicTensor<T>(const TensorList<T>& inputs)>;
    explicit CompiledFunction(Function f, CompileOptions options = {});
    ~CompiledFunction();
    CompiledFunction(CompiledFunction&&) noexcept;
    CompiledFunction& operator=(CompiledFunction&&) noexcept;

    /// f(inputs) (jax.jit(f)(x); CppAD's Forward(0)).
    Array<T> operator()(const std::vector<Array<T>>& inputs);
    /// A single-element f and its gradient with respect to every input (jax.value_and_grad;
    /// CppAD's Forward(0) then Reverse(1)).
    std::pair<T, std::vector<Array<T>>> value_and_grad(const std::vector<Array<T>>& inputs);
    /// The same, the gradients written into `grads` (in place when they already have the
    /// inputs' shapes: a steady-state call allocates nothing).
    T value_and_grad(const std::vector<Array<T>>& inputs, std::vector<Array<T>>& grads);
    /// The Hessian of a single-element f at `inputs` times `v`, one array per input of its
    /// shape (forward-over-reverse in JAX; CppAD's Reverse(2)); exact, from the recorded
    /// gradient's own graph.
    std::vector<Array<T>> hvp(const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& v);
    /// The same, written into `out` (in place when it already has the shapes).
    void hvp(const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& v, std::vector<Array<T>>& out);
    /// f(inputs) and the vector-Jacobian product J^T u, one array per input (jax.vjp; CppAD's
    /// Reverse(1) with weights u); u has f's shape.
    std::pair<Array<T>, std::vector<Array<T>>> vjp(const std::vector<Array<T>>& inputs, const Array<T>& cotangent);
    /// f(inputs) and the Jacobian-vector product J t for tangents t, one per input (jax.jvp;
    /// CppAD's Forward(1)), computed as the derivative of a vector-Jacobian product.
    std::pair<Array<T>, Array<T>> jvp(const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& tangents);
    /// Recordings made so far (cache misses).
    std::size_t traces() const;
    /// How the recordings' replays were planned, summed over the cache.
    RecordingStats stats() const;

private:
    template <class>
    friend class CompiledLoss;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// A training loss compiled for the optimizers: a function of the data passed at each call
/// (a batch) and of parameters it captures (a model's weights, read at their current values on
/// every replay). A call replays it and leaves d loss / d parameter in each parameter's grad()
/// (replacing what was there, as zero_grad then backward would), so it is the closure
/// `step(closure)`, ConjugateGradient and LBFGS take:
///
///   CompiledLoss<double> loss(model.parameters(), [&](const TensorList<double>& data) {
///       return nn::cross_entropy(model(data[0]), data[1]);   // targets as a tensor: replayed
///   });
///   lbfgs.minimize([&] { return loss({x, one_hot_targets}); });
///
/// Everything that changes between calls must be data: labels held in an IndexArray the
/// function captures are constants of the recording.
template <class T>
class CompiledLoss {
public:
    using Function = typename CompiledFunction<T>::Function;
    CompiledLoss(TensorList<T> parameters, Function f, CompileOptions options = {});
    double operator()(const std::vector<Array<T>>& data);
    std::size_t traces() const { return function_.traces(); }

private:
    CompiledFunction<T> function_;
    TensorList<T> parameters_;
};

/// CompiledFunction<T>(f, options).
template <class T>
CompiledFunction<T> compile(typename CompiledFunction<T>::Function f, CompileOptions options = {}) {
    return CompiledFunction<T>(std::move(f), options);
}

extern template class CompiledFunction<float>;
extern template class CompiledFunction<double>;
extern template class CompiledLoss<float>;
extern template class CompiledLoss<double>;

}  // namespace xtgrad
