// LAPACK and BLAS calls for float and double under one name each (row-major storage).
// Every call returns LAPACK's `info`: 0 on success, > 0 for a singular or indefinite matrix.
#pragma once

#include <cblas.h>
#include <lapacke.h>

namespace xtgrad::detail::lapack {

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
