// LAPACK and BLAS calls for float and double under one name each (row-major storage).
// Every call returns LAPACK's `info`: 0 on success, > 0 for a singular or indefinite matrix,
// < 0 for a failure of LAPACKE's own (pass it through `checked`).
#pragma once

#include <cblas.h>
#include <lapacke.h>

#include <string_view>

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::detail::lapack {

/// The `info` of a LAPACKE call made by `op` on an n x n matrix, when it is 0 or positive (a
/// singular or indefinite matrix: the caller's to explain). Negative codes never pass as
/// success: LAPACKE's row-major interface copies the matrix to a workspace of its own, and a
/// failed allocation of it (out of memory) returned the input unchanged as the answer.
inline int checked(std::string_view op, int info, int n) {
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        throw MemoryError(
            fmt::format("{}: out of memory: LAPACK could not allocate its workspace for a {}x{} matrix", op, n, n));
    // Otherwise a negative code names an argument LAPACKE refused. The sizes passed here are
    // always consistent, so it is its NaN check of a matrix: one made by an earlier step of
    // the op (getri after getrf: a subnormal pivot, 1 / 1e-310 = inf, and 0 * inf below it).
    if (info < 0)
        throw DomainError(fmt::format("{}: LAPACK found NaN in its argument {} for a {}x{} matrix: the matrix is too "
                                      "badly scaled (a pivot near the smallest positive number)",
                                      op, -info, n, n));
    return info;
}

inline int gesv(int n, int nrhs, double* a, int* ipiv, double* b) {
    return LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, nrhs, a, n, ipiv, b, nrhs);
}
inline int gesv(int n, int nrhs, float* a, int* ipiv, float* b) {
    return LAPACKE_sgesv(LAPACK_ROW_MAJOR, n, nrhs, a, n, ipiv, b, nrhs);
}
inline int getrf(int n, double* a, int* ipiv) {
    return LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, a, n, ipiv);
}
inline int getrf(int n, float* a, int* ipiv) {
    return LAPACKE_sgetrf(LAPACK_ROW_MAJOR, n, n, a, n, ipiv);
}
inline int getri(int n, double* a, const int* ipiv) {
    return LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, a, n, ipiv);
}
inline int getri(int n, float* a, const int* ipiv) {
    return LAPACKE_sgetri(LAPACK_ROW_MAJOR, n, a, n, ipiv);
}
/// Lower Cholesky factor in place; info = k > 0 when the leading minor of order k is not positive.
inline int potrf(int n, double* a) {
    return LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, a, n);
}
inline int potrf(int n, float* a) {
    return LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'L', n, a, n);
}
/// B := A^-1 B for triangular A [n, n], B [n, k].
inline void trsm(bool upper, int n, int k, const double* a, double* b) {
    cblas_dtrsm(CblasRowMajor, CblasLeft, upper ? CblasUpper : CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0, a, n,
                b, k);
}
inline void trsm(bool upper, int n, int k, const float* a, float* b) {
    cblas_strsm(CblasRowMajor, CblasLeft, upper ? CblasUpper : CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0f, a, n,
                b, k);
}

}  // namespace xtgrad::detail::lapack
