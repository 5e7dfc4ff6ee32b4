// Solves, inverses, Cholesky and determinants through LAPACK. Forward values come from
// LAPACK; every rule is written with these ops, matmul and transpose, so the rules are
// differentiable again (the Hessian of logdet comes from differentiating cholesky's rule).
#include <climits>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels.hpp"
#include "lapack.hpp"
#include "xtgrad/autodiff/linalg.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
// n of an [n, n] operand; ShapeError otherwise.
template <class T>
int square_matrix(std::string_view op, const TensorT<T>& a) {
    if (a.dim() != 2 || a.shape()[0] != a.shape()[1])
        throw ShapeError(fmt::format("{}: expects a square matrix [n, n], got shape {}", op, to_string(a.shape())));
    if (a.shape()[0] > static_cast<std::size_t>(INT_MAX))
        throw ShapeError(fmt::format("{}: a matrix of shape {} is too large for LAPACK", op, to_string(a.shape())));
    return static_cast<int>(a.shape()[0]);
}

// Columns of a right-hand side [n] or [n, k] for an [n, n] matrix.
template <class T>
int right_hand_sides(std::string_view op, const TensorT<T>& a, const TensorT<T>& b) {
    bool ok = (b.dim() == 1 || b.dim() == 2) && b.shape()[0] == a.shape()[0];
    if (!ok)
        throw ShapeError(
            fmt::format("{}: right-hand side of shape {} for a matrix of shape {} (expected [{}] or [{}, k])", op,
                        to_string(b.shape()), to_string(a.shape()), a.shape()[0], a.shape()[0]));
    return b.dim() == 1 ? 1 : static_cast<int>(b.shape()[1]);
}

// LAPACK's behaviour on NaN or inf is unspecified: refuse them.
template <class T>
void check_finite(std::string_view op, std::string_view what, const TensorT<T>& t) {
    const Array<T>& v = unchecked_value(t);
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v.data()[i]))
            throw ValueError(fmt::format("{}: {} has {} at {} (shape {}); LAPACK needs finite entries", op, what,
                                         v.data()[i], index_string(v.shape(), i), to_string(v.shape())));
}

// A result with an infinity or NaN from finite inputs: entries too large, or too close to a
// singular matrix, for the dtype. Refused rather than returned (no silent NaN).
template <class T>
void check_result_finite(std::string_view op, const Array<T>& r, const Shape& a_shape) {
    for (std::size_t i = 0; i < r.size(); ++i)
        if (!std::isfinite(r.data()[i]))
            throw DomainError(fmt::format("{}: the result has {} at {} for a finite matrix of shape {}: it overflows "
                                          "{} (the matrix is too badly scaled, or too close to singular)",
                                          op, r.data()[i], index_string(r.shape(), i), to_string(a_shape),
                                          std::is_same_v<T, float> ? "float32" : "float64"));
}

// A X = B: both usable and finite, A square, B [n] or [n, k]; returns {n, k}.
template <class T>
std::pair<int, int> check_system(std::string_view op, const TensorT<T>& a, const TensorT<T>& b) {
    check_usable(op, a, 0);
    check_usable(op, b, 1);
    int n = square_matrix(op, a);
    int k = right_hand_sides(op, a, b);
    check_finite(op, "A", a);
    check_finite(op, "B", b);
    return {n, k};
}

// The gradient of a matrix operand from that of a solve: -gB X^T (an outer product for vectors).
template <class T>
TensorT<T> minus_outer(const TensorT<T>& gb, const TensorT<T>& x) {
    return neg(gb.dim() == 1 ? outer(gb, x) : matmul(gb, transpose(x)));
}

template <class T>
void check_symmetric(std::string_view op, const Array<T>& a) {
    std::size_t n = a.shape()[0];
    T scale = 1;
    for (std::size_t i = 0; i < a.size(); ++i) scale = std::max(scale, std::abs(a.data()[i]));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (std::abs(a(i, j) - a(j, i)) > T(1e-8) * scale)
                throw ValueError(fmt::format("{}: the matrix is not symmetric: A[{},{}] = {} but A[{},{}] = {}", op, i,
                                             j, a(i, j), j, i, a(j, i)));
}
}  // namespace

template <class T>
TensorT<T> solve(const TensorT<T>& a, const TensorT<T>& b) {
    // plain ints, not a structured binding: clang 14 cannot capture those in a lambda
    const std::pair<int, int> nk = check_system("solve", a, b);
    const int n = nk.first, k = nk.second;
    return make_op<T>(
        "solve", {a, b},
        [n, k](const TensorList<T>& in) {
            Array<T> lu = in[0].value();
            Array<T> x = in[1].value();
            std::vector<int> ipiv(static_cast<std::size_t>(n));
            int info = lapack::checked("solve", lapack::gesv(n, k, lu.data(), ipiv.data(), x.data()), n);
            if (info > 0)
                throw DomainError(
                    fmt::format("solve: the matrix of shape {} is singular (U[{},{}] = 0 in its LU "
                                "factorization)",
                                to_string(in[0].shape()), info - 1, info - 1));
            check_result_finite("solve", x, in[0].shape());
            return x;
        },
        [](const TensorList<T>& in, const TensorT<T>& x, const TensorT<T>& g) -> TensorList<T> {
            auto gb = solve(transpose(in[0]), g);
            return {wants(in, 0) ? minus_outer(gb, x) : TensorT<T>(), wants(in, 1) ? gb : TensorT<T>()};
        });
}

template <class T>
TensorT<T> inverse(const TensorT<T>& a) {
    check_usable("inverse", a, 0);
    int n = square_matrix("inverse", a);
    check_finite("inverse", "A", a);
    return make_op<T>(
        "inverse", {a},
        [n](const TensorList<T>& in) {
            Array<T> y = in[0].value();
            std::vector<int> ipiv(static_cast<std::size_t>(n));
            int info = lapack::checked("inverse", lapack::getrf(n, y.data(), ipiv.data()), n);
            if (info == 0) info = lapack::checked("inverse", lapack::getri(n, y.data(), ipiv.data()), n);
            if (info > 0)
                throw DomainError(
                    fmt::format("inverse: the matrix of shape {} is singular (U[{},{}] = 0 in its LU "
                                "factorization)",
                                to_string(in[0].shape()), info - 1, info - 1));
            check_result_finite("inverse", y, in[0].shape());
            return y;
        },
        [](const TensorList<T>&, const TensorT<T>& y, const TensorT<T>& g) -> TensorList<T> {
            auto yt = transpose(y);
            return {neg(matmul(matmul(yt, g), yt))};
        });
}

template <class T>
TensorT<T> triangular_solve(const TensorT<T>& a, const TensorT<T>& b, bool upper) {
    // plain ints, not a structured binding: clang 14 cannot capture those in a lambda
    const std::pair<int, int> nk = check_system("triangular_solve", a, b);
    const int n = nk.first, k = nk.second;
    for (int i = 0; i < n; ++i)
        if (unchecked_value(a)(i, i) == T(0))
            throw DomainError(
                fmt::format("triangular_solve: the matrix of shape {} is singular (diagonal entry [{},{}] "
                            "is 0)",
                            to_string(a.shape()), i, i));
    return make_op<T>(
        "triangular_solve", {a, b},
        [n, k, upper](const TensorList<T>& in) {
            Array<T> x = in[1].value();
            lapack::trsm(upper, n, k, in[0].value().data(), x.data());
            check_result_finite("triangular_solve", x, in[0].shape());
            return x;
        },
        [upper](const TensorList<T>& in, const TensorT<T>& x, const TensorT<T>& g) -> TensorList<T> {
            auto gb = triangular_solve(transpose(in[0]), g, !upper);
            TensorT<T> ga;
            if (wants(in, 0)) {
                auto full = minus_outer(gb, x);
                ga = upper ? triu(full) : tril(full);  // only the triangle is read
            }
            return {ga, wants(in, 1) ? gb : TensorT<T>()};
        });
}

template <class T>
TensorT<T> triangular_solve(const TensorT<T>& a, const TensorT<T>& b, const TriangularOptions& options) {
    check_system("triangular_solve", a, b);
    TensorT<T> m = a;
    if (options.unit_diagonal) {
        auto n = a.shape()[0];
        Array<T> ones = Array<T>::from_shape({n, n});
        ones.fill(T(0));
        for (std::size_t i = 0; i < n; ++i) ones(i, i) = T(1);
        m = (options.upper ? triu(a, 1) : tril(a, -1)) + TensorT<T>::constant(std::move(ones));
    }
    return options.transpose ? triangular_solve(transpose(m), b, !options.upper) : triangular_solve(m, b, options.upper);
}

template <class T>
TensorT<T> cholesky(const TensorT<T>& a) {
    check_usable("cholesky", a, 0);
    int n = square_matrix("cholesky", a);
    check_finite("cholesky", "A", a);
    check_symmetric("cholesky", unchecked_value(a));
    return make_op<T>(
        "cholesky", {a},
        [n](const TensorList<T>& in) {
            Array<T> l = in[0].value();
            int info = lapack::checked("cholesky", lapack::potrf(n, l.data()), n);
            if (info > 0)
                throw DomainError(
                    fmt::format("cholesky: the matrix of shape {} is not positive definite (its leading "
                                "minor of order {} is not positive)",
                                to_string(in[0].shape()), info));
            for (int i = 0; i < n; ++i)
                for (int j = i + 1; j < n; ++j) l(i, j) = T(0);
            check_result_finite("cholesky", l, in[0].shape());
            return l;
        },
        // Murray 2016, eq. 10: gA = sym(L^-T Phi(L^T gL) L^-1), Phi = lower triangle, half diagonal
        [](const TensorList<T>&, const TensorT<T>& l, const TensorT<T>& g) -> TensorList<T> {
            auto lt = transpose(l);
            auto p = matmul(lt, tril(g));
            auto phi = tril(p) - diag(diag(p)) * T(0.5);
            auto z = triangular_solve(lt, phi, true);                      // L^-T Phi
            auto s = transpose(triangular_solve(lt, transpose(z), true));  // L^-T Phi L^-1
            return {(s + transpose(s)) * T(0.5)};
        });
}

template <class T>
TensorT<T> cholesky_solve(const TensorT<T>& b, const TensorT<T>& l) {
    check_usable("cholesky_solve", b, 0);
    check_usable("cholesky_solve", l, 1);
    square_matrix("cholesky_solve", l);
    right_hand_sides("cholesky_solve", l, b);
    auto y = triangular_solve(l, b, false);          // L y = b
    return triangular_solve(transpose(l), y, true);  // L^T x = y
}

template <class T>
TensorT<T> logdet(const TensorT<T>& a) {
    check_usable("logdet", a, 0);
    square_matrix("logdet", a);
    TensorT<T> l;
    try {
        l = cholesky(a);
    } catch (const DomainError& e) {
        throw DomainError(fmt::format("logdet: needs a positive definite matrix; {}", e.what()));
    } catch (const ValueError& e) {
        throw ValueError(fmt::format("logdet: needs a symmetric matrix; {}", e.what()));
    }
    return sum(log(diag(l))) * T(2);
}

template <class T>
SignLogDet<T> slogdet(const TensorT<T>& a) {
    check_usable("slogdet", a, 0);
    int n = square_matrix("slogdet", a);
    check_finite("slogdet", "A", a);
    auto sign = std::make_shared<T>(T(0));
    auto value = make_op<T>(
        "slogdet", {a},
        [n, sign](const TensorList<T>& in) {
            Array<T> lu = in[0].value();
            std::vector<int> ipiv(static_cast<std::size_t>(n));
            int info = lapack::checked("slogdet", lapack::getrf(n, lu.data(), ipiv.data()), n);
            Array<T> out = Array<T>::from_shape({});
            if (info > 0) {  // singular: numpy's (0, -inf)
                *sign = T(0);
                out() = -std::numeric_limits<T>::infinity();
                return out;
            }
            T s = 1, log_abs = 0;
            for (int i = 0; i < n; ++i) {
                T u = lu(i, i);
                if (u < 0) s = -s;
                if (ipiv[static_cast<std::size_t>(i)] != i + 1) s = -s;  // each row swap flips the sign
                log_abs += std::log(std::abs(u));
            }
            // a subnormal pivot makes inf and then NaN in the factor (1 / 1e-310 = inf, 0 * inf):
            // no sign or log|det| can be read from it
            if (log_abs != log_abs || log_abs == std::numeric_limits<T>::infinity())
                throw DomainError(fmt::format("slogdet: the LU factor of the matrix of shape {} is not finite: the "
                                              "matrix is too badly scaled (a pivot near the smallest positive number)",
                                              to_string(in[0].shape())));
            *sign = s;
            out() = log_abs;
            return out;
        },
        [](const TensorList<T>& in, const TensorT<T>& out, const TensorT<T>& g) -> TensorList<T> {
            // (a validation: at a replay, the inverse below raises the same error)
            if (!std::isfinite(unchecked_value(out)()))
                throw DomainError(
                    fmt::format("slogdet: the matrix of shape {} is singular; log|det| = -inf has no "
                                "gradient",
                                to_string(in[0].shape())));
            return {g * transpose(inverse(in[0]))};
        });
    // the sign as a node after the op that finds it: a replay recomputes both
    auto sign_tensor = derived_constant<T>("slogdet.sign", {value}, [sign](const TensorList<T>&) {
        Array<T> s = Array<T>::from_shape({});
        s() = *sign;
        return s;
    });
    return {sign_tensor, value};
}

#define XTGRAD_INSTANTIATE(T)                                                         \
    template TensorT<T> solve(const TensorT<T>&, const TensorT<T>&);                  \
    template TensorT<T> inverse(const TensorT<T>&);                                   \
    template TensorT<T> triangular_solve(const TensorT<T>&, const TensorT<T>&, bool); \
    template TensorT<T> triangular_solve(const TensorT<T>&, const TensorT<T>&, const TriangularOptions&); \
    template TensorT<T> cholesky(const TensorT<T>&);                                  \
    template TensorT<T> cholesky_solve(const TensorT<T>&, const TensorT<T>&);         \
    template TensorT<T> logdet(const TensorT<T>&);                                    \
    template SignLogDet<T> slogdet(const TensorT<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad
