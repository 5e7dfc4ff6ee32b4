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
        throw DomainError(
            fmt::format("{}: LAPACK found NaN in its argument {} for a {}x{} matrix: the matrix is too "
                        "badly scaled (a pivot near the smallest positive number)",
                        op, -info, n, n));
    return info;
}

// Factorisations and solves in LAPACK's column-major layout, called on row-major buffers: a
// row-major [n, n] matrix A is the column-major A^T, so getrf factors A^T = P L U in place with
// no transposed copy (LAPACKE's row-major interface makes two), and getrs with trans = 'T'
// solves A X = B from it. A symmetric A is its own transpose: potrf's upper factor U with
// A = U^T U, read row-major, is the lower L with A = L L^T. The _work forms skip LAPACKE's NaN
// scan (the ops refuse non-finite input themselves) and allocate nothing.
inline int getrf_t(int n, double* a, int* ipiv) {
    return LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, n, n, a, n, ipiv);
}
inline int getrf_t(int n, float* a, int* ipiv) {
    return LAPACKE_sgetrf_work(LAPACK_COL_MAJOR, n, n, a, n, ipiv);
}
/// B := A^-1 B (`transpose` false) or A^-T B (true) from getrf_t's factors of A^T; B is
/// column-major [n, k] (a vector when k = 1).
inline int getrs_t(bool transpose, int n, int k, const double* lu, const int* ipiv, double* b) {
    return LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, transpose ? 'N' : 'T', n, k, lu, n, ipiv, b, n);
}
inline int getrs_t(bool transpose, int n, int k, const float* lu, const int* ipiv, float* b) {
    return LAPACKE_sgetrs_work(LAPACK_COL_MAJOR, transpose ? 'N' : 'T', n, k, lu, n, ipiv, b, n);
}
/// A^-1 in place (row-major) from getrf_t's factors of A^T: (A^T)^-1 column-major.
inline int getri_t(int n, double* a, const int* ipiv) {
    return LAPACKE_dgetri(LAPACK_COL_MAJOR, n, a, n, ipiv);
}
inline int getri_t(int n, float* a, const int* ipiv) {
    return LAPACKE_sgetri(LAPACK_COL_MAJOR, n, a, n, ipiv);
}
/// The reciprocal condition number of A in the infinity norm (that of A^T in the 1-norm),
/// estimated from getrf_t's factors and `norm` = A's infinity norm.
inline int gecon_t(int n, const double* lu, double norm, double* rcond) {
    return LAPACKE_dgecon(LAPACK_COL_MAJOR, '1', n, lu, n, norm, rcond);
}
inline int gecon_t(int n, const float* lu, float norm, float* rcond) {
    return LAPACKE_sgecon(LAPACK_COL_MAJOR, '1', n, lu, n, norm, rcond);
}
/// Lower Cholesky factor (row-major) of symmetric A in place; its upper triangle is left as
/// it was. info = k > 0 when the leading minor of order k is not positive.
inline int potrf_lower(int n, double* a) {
    return LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', n, a, n);
}
inline int potrf_lower(int n, float* a) {
    return LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', n, a, n);
}
/// A^-1's lower triangle (row-major) in place, from the lower factor of potrf_lower.
inline int potri_lower(int n, double* l) {
    return LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'U', n, l, n);
}
inline int potri_lower(int n, float* l) {
    return LAPACKE_spotri_work(LAPACK_COL_MAJOR, 'U', n, l, n);
}
/// The reciprocal condition number of A = L L^T in the 1-norm, from its lower factor L
/// (row-major) and A's 1-norm.
inline int pocon_lower(int n, const double* l, double norm, double* rcond) {
    return LAPACKE_dpocon(LAPACK_COL_MAJOR, 'U', n, l, n, norm, rcond);
}
inline int pocon_lower(int n, const float* l, float norm, float* rcond) {
    return LAPACKE_spocon(LAPACK_COL_MAJOR, 'U', n, l, n, norm, rcond);
}
/// The reciprocal condition number of triangular A (row-major, lower or `upper`; its diagonal
/// read) in the infinity norm.
inline int trcon(bool upper, int n, const double* a, double* rcond) {
    return LAPACKE_dtrcon(LAPACK_COL_MAJOR, '1', upper ? 'L' : 'U', 'N', n, a, n, rcond);
}
inline int trcon(bool upper, int n, const float* a, float* rcond) {
    return LAPACKE_strcon(LAPACK_COL_MAJOR, '1', upper ? 'L' : 'U', 'N', n, a, n, rcond);
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
