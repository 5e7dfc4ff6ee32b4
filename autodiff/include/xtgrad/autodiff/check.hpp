// Finite-difference checking of derivatives, as library code.
//
// gradcheck compares the reverse-mode gradient of f with central differences, element
// by element, and reports per input the worst element. When the check fails it
// re-records f on a diagnostic tape and checks every node's local rule the same way,
// so the report names the op (and its input shapes) whose derivative is wrong.
// hvpcheck does the same one order up: exact Hessian-vector products against central
// differences of gradients.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xtgrad/autodiff/compile.hpp"
#include "xtgrad/autodiff/derivatives.hpp"

namespace xtgrad {

struct CheckOptions {
    double eps = 1e-6;   ///< finite-difference step (use float64 inputs for checking)
    double atol = 1e-6;  ///< pass when |analytic - numeric| <= atol + rtol * |numeric|
    double rtol = 1e-5;
    std::uint64_t seed = 12345;  ///< for the random contraction of non-scalar outputs and directions
};

/// The worst element of one input.
struct InputCheck {
    std::size_t input = 0;
    Shape shape;
    std::string worst_index;  ///< e.g. "[2,3]"
    double analytic = 0;
    double numeric = 0;
    double excess = 0;  ///< |analytic - numeric| / (atol + rtol |numeric|): <= 1 passes
    bool ok = true;
};

/// A tape node whose local derivative disagrees with finite differences.
struct NodeCheck {
    std::size_t position = 0;  ///< index on the tape (execution order)
    std::string op;
    std::vector<Shape> input_shapes;
    InputCheck worst;
};

struct CheckReport {
    bool ok = true;
    std::vector<InputCheck> inputs;
    std::vector<NodeCheck> faulty_nodes;  ///< filled when the check fails
    /// Human-readable summary naming the worst element of each failing input and the faulty ops.
    std::string message() const;
    explicit operator bool() const { return ok; }
};

namespace detail {
template <class T>
CheckReport gradcheck(const Closure<T>& f, const TensorList<T>& inputs, const CheckOptions& options);
template <class T>
CheckReport hvpcheck(const Closure<T>& f, const TensorList<T>& inputs, const CheckOptions& options);
}  // namespace detail

/// First order: d f / d inputs against central differences. f may return any shape (it is
/// contracted with fixed random weights); inputs must be parameters (leaves).
template <class F, class T = detail::value_of<F>>
CheckReport gradcheck(F&& f, const TensorList<T>& inputs, const CheckOptions& options = {}) {
    return detail::gradcheck<T>(detail::Closure<T>(std::forward<F>(f)), inputs, options);
}

/// Second order: hvp(f, inputs, v) against central differences of gradients along a random v.
/// f may return any shape (contracted with fixed random weights to a scalar).
template <class F, class T = detail::value_of<F>>
CheckReport hvpcheck(F&& f, const TensorList<T>& inputs, const CheckOptions& options = {}) {
    return detail::hvpcheck<T>(detail::Closure<T>(std::forward<F>(f)), inputs, options);
}

/// A compiled function's replayed gradient against central differences of its replayed value
/// at `at` (f must have one element). The replay, not a fresh trace, is what is checked.
template <class T>
CheckReport gradcheck(CompiledFunction<T>& f, const std::vector<Array<T>>& at, const CheckOptions& options = {});
/// Its replayed Hessian-vector product along a random direction against central differences
/// of its replayed gradient.
template <class T>
CheckReport hvpcheck(CompiledFunction<T>& f, const std::vector<Array<T>>& at, const CheckOptions& options = {});

}  // namespace xtgrad
