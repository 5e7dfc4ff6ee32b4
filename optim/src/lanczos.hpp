// The Lanczos process with full reorthogonalisation and the eigen-decomposition of its small
// tridiagonal matrix: what the matrix-free Laplace log-determinant (stochastic Lanczos
// quadrature) and the curvature diagnostics (spectrum.hpp) share.
#pragma once

#include <functional>
#include <vector>

namespace xtgrad::optim::detail {

/// The tridiagonal T = Q^T A Q of a symmetric operator A from a unit start vector: its
/// diagonal `alpha`, off-diagonal `beta`, and the orthonormal basis Q (columns `q`). Stops
/// after `steps` or at an invariant subspace (beta below 1e-12 |alpha|).
struct Lanczos {
    std::vector<double> alpha, beta;
    std::vector<std::vector<double>> q;
};
Lanczos lanczos(const std::function<std::vector<double>(const std::vector<double>&)>& apply,
                const std::vector<double>& start, std::size_t steps);

/// Eigenvalues (ascending) and eigenvectors (columns of `vectors`, row-major n x n) of a small
/// symmetric matrix, by cyclic Jacobi rotations: accurate for the few dozen rows of a Lanczos
/// matrix.
void symmetric_eigen(std::vector<double> a, std::size_t n, std::vector<double>& values, std::vector<double>& vectors);

/// The eigenvalues and eigenvectors of the Lanczos matrix (Ritz values, ascending, and the
/// coordinates of the Ritz vectors in the basis q).
void ritz(const Lanczos& l, std::vector<double>& values, std::vector<double>& vectors);

}  // namespace xtgrad::optim::detail
