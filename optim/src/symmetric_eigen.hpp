// The eigendecomposition of a small symmetric matrix (LAPACK syevd), for K-FAC's factors.
#pragma once

#include "xtgrad/autodiff.hpp"

namespace xtgrad::optim::detail {

/// A = V^T diag(values) V: eigenvalues ascending, the eigenvectors as the ROWS of `vectors`.
template <class T>
struct SymmetricEigen {
    Array<T> values;   ///< [n]
    Array<T> vectors;  ///< [n, n], row i the eigenvector of values(i)
};

/// Of a symmetric [n, n] matrix (its upper triangle read as LAPACK's lower). `who` names the
/// caller in errors: MemoryError when LAPACK cannot allocate its workspace, DomainError for
/// NaN or infinite entries or when the iteration does not converge.
template <class T>
SymmetricEigen<T> symmetric_eigen(const char* who, const Array<T>& a);

}  // namespace xtgrad::optim::detail
