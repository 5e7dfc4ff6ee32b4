// syevd on the row-major buffer: a symmetric matrix is its own transpose, so LAPACK's
// column-major call reads it as it is, and the eigenvectors it writes as columns are the
// buffer's rows.
#include "symmetric_eigen.hpp"

#include <lapacke.h>

#include <cmath>

#include <fmt/format.h>

namespace xtgrad::optim::detail {

namespace {
int syevd(lapack_int n, float* a, float* w) {
    return LAPACKE_ssyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a, n, w);
}
int syevd(lapack_int n, double* a, double* w) {
    return LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a, n, w);
}
}  // namespace

template <class T>
SymmetricEigen<T> symmetric_eigen(const char* who, const Array<T>& a) {
    if (a.dimension() != 2 || a.shape()[0] != a.shape()[1])
        throw ShapeError(fmt::format("{}: the eigendecomposition needs a square matrix, got {}", who,
                                     to_string(Shape(a.shape().begin(), a.shape().end()))));
    const std::size_t n = a.shape()[0];
    for (T x : a)
        if (!std::isfinite(x))
            throw DomainError(
                fmt::format("{}: a {}x{} curvature factor holds {}: the eigendecomposition needs finite "
                            "entries",
                            who, n, n, x));
    SymmetricEigen<T> r{Array<T>::from_shape({n}), a};
    if (n == 0) return r;
    const int info = syevd(lapack_int(n), r.vectors.data(), r.values.data());
    if (info == LAPACK_WORK_MEMORY_ERROR)
        throw MemoryError(
            fmt::format("{}: out of memory: LAPACK could not allocate the eigendecomposition's workspace "
                        "for a {}x{} matrix",
                        who, n, n));
    if (info != 0)
        throw DomainError(fmt::format("{}: the eigendecomposition of a {}x{} curvature factor failed (LAPACK info {})",
                                      who, n, n, info));
    return r;
}

template SymmetricEigen<float> symmetric_eigen(const char*, const Array<float>&);
template SymmetricEigen<double> symmetric_eigen(const char*, const Array<double>&);

}  // namespace xtgrad::optim::detail
