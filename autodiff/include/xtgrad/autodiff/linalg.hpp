// Linear algebra through LAPACK (OpenBLAS), differentiable twice. Operands are single
// matrices ([n, n]; right-hand sides [n] or [n, k]); batches are not supported. Each rule is
// written with these ops, matmul and transpose (Giles 2008, "Extended collection of matrix
// derivative results"; Murray 2016, "Differentiation of the Cholesky decomposition"), so
// Hessian-vector products through them are exact.
//
// Singular or indefinite matrices throw DomainError, non-finite entries ValueError, each
// naming the op; nothing returns a silent NaN: a result that overflows from finite input is a
// DomainError too. A matrix singular to working precision (its reciprocal condition number, as
// LAPACK's gecon/pocon/trcon estimate it, below the dtype's machine epsilon) is refused by
// default, the estimate in the message; `{.check_condition = false}` solves it anyway.
//
// The backward of solve and logdet reuses the forward's factorisation (getrs, potri), as
// PyTorch's does; bench/bench_linalg.cpp times both beside libtorch.
#pragma once

#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad {

/// What the solves do with a matrix singular to working precision.
struct SolveOptions {
    /// Refuse (DomainError, with the estimate) a matrix whose reciprocal condition number is
    /// below machine epsilon, where the result has no correct digit: in exact arithmetic such a
    /// matrix is often singular, and LU finds a pivot of rounding size instead of a zero.
    /// false: only an exact zero pivot is refused, as numpy.linalg.solve and torch.linalg.solve
    /// do (scipy.linalg.solve warns); a result that overflows still is.
    bool check_condition = true;
};

/// X with A X = B (LU with partial pivoting). Gradients: gB = A^-T g from the forward's LU
/// factors (getrs), gA = -gB X^T.
template <class T>
BasicTensor<T> solve(const BasicTensor<T>& a, const BasicTensor<T>& b, const SolveOptions& options = {});

/// A^-1. Gradient -A^-T g A^-T.
template <class T>
BasicTensor<T> inverse(const BasicTensor<T>& a, const SolveOptions& options = {});

/// X with A X = B for triangular A (lower, or upper if `upper`); only that triangle of A is
/// read. Gradients: gB = triangular_solve(A^T, g, !upper), gA = -gB X^T on A's triangle.
template <class T>
BasicTensor<T> triangular_solve(const BasicTensor<T>& a, const BasicTensor<T>& b, bool upper);
/// How triangular_solve reads A (torch.linalg.solve_triangular's flags). `upper` defaults to
/// false here, where PyTorch makes it a required argument: `{.transpose = true}` is lower.
struct TriangularOptions {
    bool upper = false;           ///< A is upper triangular (its lower triangle is not read)
    bool transpose = false;       ///< solve A^T X = B (torch.triangular_solve's transpose)
    bool unit_diagonal = false;   ///< A's diagonal is taken as ones and not read (unitriangular)
    bool check_condition = true;  ///< as SolveOptions::check_condition (the bool form checks)
};
/// X with op(A) X = B for triangular A read as `options` say; built from the form above, tril
/// or triu and transpose, so its gradients are theirs (zero on the diagonal for unit_diagonal).
template <class T>
BasicTensor<T> triangular_solve(const BasicTensor<T>& a, const BasicTensor<T>& b, const TriangularOptions& options);

/// The lower-triangular L with A = L L^T, for symmetric positive definite A. A must be
/// symmetric (to 1e-8 relative to its largest entry; ValueError naming the entries otherwise);
/// its lower triangle is read. The gradient is symmetric (Murray 2016, as PyTorch's):
/// gA = sym(L^-T Phi(L^T gL) L^-1), Phi taking the lower triangle with half the diagonal.
template <class T>
BasicTensor<T> cholesky(const BasicTensor<T>& a);

/// X with (L L^T) X = B, given the Cholesky factor L (torch.cholesky_solve's order): two
/// triangular solves, so its gradients are theirs. The condition test is on L: L L^T's
/// reciprocal condition number is taken as L's squared (exact in the 2-norm).
template <class T>
BasicTensor<T> cholesky_solve(const BasicTensor<T>& b, const BasicTensor<T>& l, const SolveOptions& options = {});

/// log det A for symmetric positive definite A (symmetric as cholesky requires): 2 sum(log(diag
/// L)) from its Cholesky factor. Gradient A^-1, from the same factor (potri); the Hessian along
/// a symmetric V is -A^-1 V A^-1.
template <class T>
BasicTensor<T> logdet(const BasicTensor<T>& a, const SolveOptions& options = {});

/// sign(det A) and log|det A| for any square A (LU), as numpy.linalg.slogdet: a singular A
/// gives sign 0 and log|det| = -inf, whose gradient is a DomainError. Gradient A^-T.
template <class T>
struct SignLogDet {
    BasicTensor<T> sign;  ///< 0-dimensional: -1, 0 or 1 (a tensor, as torch.linalg.slogdet's)
    BasicTensor<T> logabsdet;
};
template <class T>
SignLogDet<T> slogdet(const BasicTensor<T>& a);

}  // namespace xtgrad
