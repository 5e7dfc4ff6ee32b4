// Matrix-free linear conjugate gradients for A x = b with A symmetric positive definite,
// given only as a product v -> A v (a Hessian-, Gauss-Newton- or Fisher-vector product).
#pragma once

#include <functional>
#include <vector>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad::optim {

/// A vector in parameter space: one array per parameter.
template <class T>
using ParamVector = std::vector<Array<T>>;

template <class T>
using LinearOperator = std::function<ParamVector<T>(const ParamVector<T>&)>;

template <class T>
struct LinearCGOptions {
    std::size_t max_iterations = 100;
    double rtol = 1e-10;               ///< stop when |b - A x| <= rtol |b|
    double atol = 0;                   ///< ... or when |b - A x| <= atol
    LinearOperator<T> preconditioner;  ///< applies M^-1 (M symmetric positive definite); empty: none
};

struct LinearCGResult {
    std::size_t iterations = 0;
    double residual_norm = 0;      ///< |b - A x| at the end
    double relative_residual = 0;  ///< residual_norm / |b|
    bool converged = false;
    /// p^T A p <= 0 met: A is not positive definite along p; x is the iterate before it
    /// (Newton-CG then uses x, or b itself when it is the first iteration).
    bool negative_curvature = false;
};

/// Solves A x = b starting from x (zeros when x is empty), in place.
template <class T>
LinearCGResult linear_cg(const LinearOperator<T>& A, const ParamVector<T>& b, ParamVector<T>& x,
                         const LinearCGOptions<T>& options = {});

}  // namespace xtgrad::optim
