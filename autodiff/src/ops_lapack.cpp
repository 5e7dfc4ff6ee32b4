// Solves, inverses, Cholesky and determinants through LAPACK. Forward values come from
// LAPACK; every rule is written with these ops, matmul and transpose, so the rules are
// differentiable again.
//
// A factorisation is a node of its own (lu_factors, cholesky_factor: derived constants, whose
// rule passes nothing back), and the op that reads it takes A as an input as well, for its
// gradient: the backward of solve is then one getrs on the forward's factors (PyTorch's
// linalg_solve does the same), logdet's gradient one potri, and a compiled replay refactors at
// the new A because the factor is recomputed as a node.
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
            throw DomainError(
                fmt::format("{}: the result has {} at {} for a finite matrix of shape {}: it overflows "
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
    T scale = 0;  // relative to the largest entry at any scale (1e-9 as well as 1e9)
    for (std::size_t i = 0; i < a.size(); ++i) scale = std::max(scale, std::abs(a.data()[i]));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (std::abs(a(i, j) - a(j, i)) > T(1e-8) * scale)
                throw ValueError(fmt::format("{}: the matrix is not symmetric: A[{},{}] = {} but A[{},{}] = {}", op, i,
                                             j, a(i, j), j, i, a(j, i)));
}

template <class T>
const char* dtype_name() {
    return std::is_same_v<T, float> ? "float32" : "float64";
}

// The largest row sum of |A| (the infinity norm), or the largest column sum (the 1-norm): the
// norm LAPACK's condition estimates are relative to. Infinite when it overflows T.
template <class T>
T matrix_norm(const Array<T>& a, bool by_rows) {
    const std::size_t n = a.shape()[0];
    long double worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
        long double s = 0;
        for (std::size_t j = 0; j < n; ++j) s += std::abs(by_rows ? a(i, j) : a(j, i));
        worst = std::max(worst, s);
    }
    return static_cast<T>(worst);
}

// Refuses (DomainError naming the op) a matrix whose reciprocal condition number, estimated by
// LAPACK, is below machine epsilon: its solution has no correct digit, and a matrix singular
// in exact arithmetic usually reaches here with a pivot of rounding size instead of an exact
// zero (two equal rows: getrf's pivot is 1e-17, not 0). `rcond` NaN is refused as well.
template <class T>
void check_condition(std::string_view op, const Shape& shape, T rcond, std::string_view how) {
    const T eps = std::numeric_limits<T>::epsilon();
    if (rcond >= eps) return;
    if (rcond == T(0))
        throw DomainError(
            fmt::format("{}: the matrix of shape {} is singular to working precision: its inverse "
                        "overflows {} ({} estimates its reciprocal condition number at 0); "
                        "{{.check_condition = false}} skips this test",
                        op, to_string(shape), dtype_name<T>(), how));
    throw DomainError(
        fmt::format("{}: the matrix of shape {} is singular to working precision: its reciprocal "
                    "condition number is {:.3g} ({}), below {}'s machine epsilon {:.3g}, so the "
                    "result would have no correct digit; {{.check_condition = false}} solves it "
                    "anyway, as numpy does",
                    op, to_string(shape), rcond, how, dtype_name<T>(), eps));
}

[[noreturn]] void singular_lu(std::string_view op, const Shape& shape, int info) {
    throw DomainError(fmt::format("{}: the matrix of shape {} is singular (U[{},{}] = 0 in its LU factorization)", op,
                                  to_string(shape), info - 1, info - 1));
}

// getrf_t on a copy of A into `lu` (row-major [n, n] or more rows): DomainError for an exact
// zero pivot, and below machine epsilon in the reciprocal condition number when `check`.
template <class T>
void factor_lu(std::string_view op, const Array<T>& a, T* lu, int* ipiv, bool check) {
    const int n = static_cast<int>(a.shape()[0]);
    std::copy(a.data(), a.data() + a.size(), lu);
    int info = lapack::checked(op, lapack::getrf_t(n, lu, ipiv), n);
    if (info > 0) singular_lu(op, a.shape(), info);
    // a subnormal pivot: 1 / 1e-310 overflows and 0 * inf is NaN in the factor below it
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!std::isfinite(lu[i]))
            throw DomainError(
                fmt::format("{}: the matrix of shape {} is too badly scaled for {}: its LU factors "
                            "are not finite (a pivot near the smallest positive number)",
                            op, to_string(a.shape()), dtype_name<T>()));
    const T norm = matrix_norm(a, true);
    if (!check || !std::isfinite(norm)) return;  // a norm that overflows: the result's own check decides
    T rcond = 0;
    lapack::checked(op, lapack::gecon_t(n, lu, norm, &rcond), n);
    check_condition(op, a.shape(), rcond, "LAPACK's gecon, infinity norm");
}

// The LU factors of A^T in LAPACK's layout and their pivots, as one [n + 1, n] array (the last
// row holds the pivots, exact in T): a node, so that the solve's backward reads the forward's
// factors and a replay refactors at a new A.
template <class T>
TensorT<T> lu_factors(std::string_view op, const TensorT<T>& a, bool check) {
    return derived_constant<T>("lu_factor", {a}, [op, check](const TensorList<T>& in) {
        const Array<T>& av = in[0].value();
        const std::size_t n = av.shape()[0];
        Array<T> f = Array<T>::from_shape({n + 1, n});
        std::vector<int> ipiv(n);
        factor_lu(op, av, f.data(), ipiv.data(), check);
        for (std::size_t i = 0; i < n; ++i) f(n, i) = static_cast<T>(ipiv[i]);
        return f;
    });
}

// X with A X = B (`transpose` false) or A^T X = B (true), from `factors` = lu_factors(A). A is
// an input for the gradient only; the factors' rule is zero. The rule is this op again on the
// same factors with the transpose flipped: gB = A^-T g (or A^-1 g), gA = -gB X^T (or -X gB^T).
template <class T>
TensorT<T> lu_solve(const TensorT<T>& a, const TensorT<T>& b, const TensorT<T>& factors, bool transpose) {
    return make_op<T>(
        "solve", {a, b, factors},
        [transpose](const TensorList<T>& in) {
            const Array<T>& f = in[2].value();
            const Array<T>& bv = in[1].value();
            const std::size_t n = f.shape()[1], k = bv.dimension() == 1 ? 1 : bv.shape()[1];
            std::vector<int> ipiv(n);
            for (std::size_t i = 0; i < n; ++i) ipiv[i] = static_cast<int>(f(n, i));
            Array<T> x = Array<T>::from_shape(bv.shape());
            // LAPACK wants B column-major: a vector as it is, [n, k] transposed in and out
            std::vector<T> cm(k == 1 ? 0 : n * k);
            T* work = k == 1 ? x.data() : cm.data();
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < k; ++j) work[j * n + i] = bv.data()[i * k + j];
            lapack::checked("solve", lapack::getrs_t(transpose, int(n), int(k), f.data(), ipiv.data(), work), int(n));
            if (k > 1)
                for (std::size_t i = 0; i < n; ++i)
                    for (std::size_t j = 0; j < k; ++j) x.data()[i * k + j] = work[j * n + i];
            check_result_finite("solve", x, in[0].shape());
            return x;
        },
        [transpose](const TensorList<T>& in, const TensorT<T>& x, const TensorT<T>& g) -> TensorList<T> {
            auto gb = lu_solve(in[0], g, in[2], !transpose);
            TensorT<T> ga;
            if (wants(in, 0)) ga = transpose ? minus_outer(x, gb) : minus_outer(gb, x);
            return {ga, wants(in, 1) ? gb : TensorT<T>(), TensorT<T>()};
        });
}

// X with A X = B for triangular A; the forward refuses a zero on A's diagonal, and when `check`
// a reciprocal condition number below machine epsilon. The rule's solve does not check again.
template <class T>
TensorT<T> triangular(const TensorT<T>& a, const TensorT<T>& b, bool upper, bool check) {
    const std::pair<int, int> nk = check_system("triangular_solve", a, b);
    const int n = nk.first, k = nk.second;  // plain ints: clang 14 cannot capture a binding
    return make_op<T>(
        "triangular_solve", {a, b},
        [n, k, upper, check](const TensorList<T>& in) {
            const Array<T>& av = in[0].value();
            for (int i = 0; i < n; ++i)
                if (av(i, i) == T(0))
                    throw DomainError(
                        fmt::format("triangular_solve: the matrix of shape {} is singular (diagonal "
                                    "entry [{},{}] is 0)",
                                    to_string(av.shape()), i, i));
            if (check) {
                T rcond = 0;
                lapack::checked("triangular_solve", lapack::trcon(upper, n, av.data(), &rcond), n);
                check_condition("triangular_solve", av.shape(), rcond, "LAPACK's trcon, infinity norm");
            }
            Array<T> x = in[1].value();
            lapack::trsm(upper, n, k, av.data(), x.data());
            check_result_finite("triangular_solve", x, av.shape());
            return x;
        },
        [upper](const TensorList<T>& in, const TensorT<T>& x, const TensorT<T>& g) -> TensorList<T> {
            auto gb = triangular(transpose(in[0]), g, !upper, false);
            TensorT<T> ga;
            if (wants(in, 0)) {
                auto full = minus_outer(gb, x);
                ga = upper ? triu(full) : tril(full);  // only the triangle is read
            }
            return {ga, wants(in, 1) ? gb : TensorT<T>()};
        });
}

// The lower Cholesky factor of symmetric A, its upper triangle zeroed; DomainError naming `op`
// when A is not positive definite.
template <class T>
Array<T> cholesky_value(std::string_view op, const Array<T>& a) {
    const int n = static_cast<int>(a.shape()[0]);
    Array<T> l = a;
    int info = lapack::checked(op, lapack::potrf_lower(n, l.data()), n);
    if (info > 0)
        throw DomainError(
            fmt::format("{}: the matrix of shape {} is not positive definite (its leading minor of "
                        "order {} is not positive)",
                        op, to_string(a.shape()), info));
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j) l(i, j) = T(0);
    check_result_finite(op, l, a.shape());
    return l;
}

// A^-1 for symmetric positive definite A from its lower factor `l` = cholesky_factor(A) (one
// potri): A is an input for the gradient, -A^-1 g A^-1.
template <class T>
TensorT<T> cholesky_inverse(const TensorT<T>& a, const TensorT<T>& l) {
    return make_op<T>(
        "cholesky_inverse", {a, l},
        [](const TensorList<T>& in) {
            Array<T> y = in[1].value();
            const int n = static_cast<int>(y.shape()[0]);
            int info = lapack::checked("logdet", lapack::potri_lower(n, y.data()), n);
            if (info > 0)  // a zero on L's diagonal, which cholesky_factor does not let through
                throw DomainError(fmt::format("logdet: the matrix of shape {} is singular", to_string(y.shape())));
            for (int i = 0; i < n; ++i)
                for (int j = i + 1; j < n; ++j) y(i, j) = y(j, i);
            check_result_finite("logdet", y, y.shape());
            return y;
        },
        [](const TensorList<T>&, const TensorT<T>& y, const TensorT<T>& g) -> TensorList<T> {
            return {neg(matmul(matmul(y, g), y)), TensorT<T>()};  // Y = Y^T
        });
}
}  // namespace

template <class T>
TensorT<T> solve(const TensorT<T>& a, const TensorT<T>& b, const SolveOptions& options) {
    check_system("solve", a, b);
    return lu_solve(a, b, lu_factors("solve", a, options.check_condition), false);
}

template <class T>
TensorT<T> inverse(const TensorT<T>& a, const SolveOptions& options) {
    check_usable("inverse", a, 0);
    square_matrix("inverse", a);
    check_finite("inverse", "A", a);
    const bool check = options.check_condition;
    return make_op<T>(
        "inverse", {a},
        [check](const TensorList<T>& in) {
            const Array<T>& av = in[0].value();
            const int n = static_cast<int>(av.shape()[0]);
            Array<T> y = Array<T>::from_shape(av.shape());
            std::vector<int> ipiv(static_cast<std::size_t>(n));
            factor_lu("inverse", av, y.data(), ipiv.data(), check);
            int info = lapack::checked("inverse", lapack::getri_t(n, y.data(), ipiv.data()), n);
            if (info > 0) singular_lu("inverse", av.shape(), info);
            check_result_finite("inverse", y, av.shape());
            return y;
        },
        [](const TensorList<T>&, const TensorT<T>& y, const TensorT<T>& g) -> TensorList<T> {
            auto yt = transpose(y);
            return {neg(matmul(matmul(yt, g), yt))};
        });
}

template <class T>
TensorT<T> triangular_solve(const TensorT<T>& a, const TensorT<T>& b, bool upper) {
    return triangular(a, b, upper, true);
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
    return options.transpose ? triangular(transpose(m), b, !options.upper, options.check_condition)
                             : triangular(m, b, options.upper, options.check_condition);
}

template <class T>
TensorT<T> cholesky(const TensorT<T>& a) {
    check_usable("cholesky", a, 0);
    square_matrix("cholesky", a);
    check_finite("cholesky", "A", a);
    check_symmetric("cholesky", unchecked_value(a));
    return make_op<T>(
        "cholesky", {a}, [](const TensorList<T>& in) { return cholesky_value("cholesky", in[0].value()); },
        // Murray 2016, eq. 10: gA = sym(L^-T Phi(L^T gL) L^-1), Phi = lower triangle, half diagonal
        [](const TensorList<T>&, const TensorT<T>& l, const TensorT<T>& g) -> TensorList<T> {
            auto lt = transpose(l);
            auto p = matmul(lt, tril(g));
            auto phi = tril(p) - diag(diag(p)) * T(0.5);
            auto z = triangular(lt, phi, true, false);                      // L^-T Phi
            auto s = transpose(triangular(lt, transpose(z), true, false));  // L^-T Phi L^-1
            return {(s + transpose(s)) * T(0.5)};
        });
}

template <class T>
TensorT<T> cholesky_solve(const TensorT<T>& b, const TensorT<T>& l, const SolveOptions& options) {
    check_usable("cholesky_solve", b, 0);
    check_usable("cholesky_solve", l, 1);
    const int n = square_matrix("cholesky_solve", l);
    right_hand_sides("cholesky_solve", l, b);
    if (options.check_condition) {
        // A = L L^T is as ill-conditioned as L squared (exactly so in the 2-norm)
        check_finite("cholesky_solve", "L", l);
        const Array<T>& lv = unchecked_value(l);
        for (int i = 0; i < n; ++i)
            if (lv(i, i) == T(0))
                throw DomainError(fmt::format("cholesky_solve: L L^T is singular (L[{},{}] = 0)", i, i));
        T rcond = 0;
        lapack::checked("cholesky_solve", lapack::trcon(false, n, lv.data(), &rcond), n);
        check_condition("cholesky_solve", l.shape(), rcond * rcond, "of L L^T: LAPACK's trcon of L, squared");
    }
    auto y = triangular(l, b, false, false);          // L y = b
    return triangular(transpose(l), y, true, false);  // L^T x = y
}

template <class T>
TensorT<T> logdet(const TensorT<T>& a, const SolveOptions& options) {
    check_usable("logdet", a, 0);
    square_matrix("logdet", a);
    check_finite("logdet", "A", a);
    check_symmetric("logdet", unchecked_value(a));
    const bool check = options.check_condition;
    auto l = derived_constant<T>("cholesky_factor", {a}, [check](const TensorList<T>& in) {
        const Array<T>& av = in[0].value();
        Array<T> f = cholesky_value("logdet", av);
        const T norm = matrix_norm(av, false);
        if (check && std::isfinite(norm)) {
            const int n = static_cast<int>(av.shape()[0]);
            T rcond = 0;
            lapack::checked("logdet", lapack::pocon_lower(n, f.data(), norm, &rcond), n);
            check_condition("logdet", av.shape(), rcond, "LAPACK's pocon, 1-norm");
        }
        return f;
    });
    return make_op<T>(
        "logdet", {a, l},
        [](const TensorList<T>& in) {
            const Array<T>& f = in[1].value();
            T s = 0;
            for (std::size_t i = 0; i < f.shape()[0]; ++i) s += std::log(f(i, i));
            Array<T> out = Array<T>::from_shape({});
            out() = T(2) * s;
            return out;
        },
        // d log det A = tr(A^-1 dA): the inverse from the forward's factor (one potri)
        [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {g * cholesky_inverse(in[0], in[1]), TensorT<T>()};
        });
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
            // det A^T = det A: getrf_t's factors of A^T give the sign and log|det| with no transposed copy
            int info = lapack::checked("slogdet", lapack::getrf_t(n, lu.data(), ipiv.data()), n);
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
                throw DomainError(
                    fmt::format("slogdet: the LU factor of the matrix of shape {} is not finite: the "
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

#define XTGRAD_INSTANTIATE(T)                                                                             \
    template TensorT<T> solve(const TensorT<T>&, const TensorT<T>&, const SolveOptions&);                 \
    template TensorT<T> inverse(const TensorT<T>&, const SolveOptions&);                                  \
    template TensorT<T> triangular_solve(const TensorT<T>&, const TensorT<T>&, bool);                     \
    template TensorT<T> triangular_solve(const TensorT<T>&, const TensorT<T>&, const TriangularOptions&); \
    template TensorT<T> cholesky(const TensorT<T>&);                                                      \
    template TensorT<T> cholesky_solve(const TensorT<T>&, const TensorT<T>&, const SolveOptions&);        \
    template TensorT<T> logdet(const TensorT<T>&, const SolveOptions&);                                   \
    template SignLogDet<T> slogdet(const TensorT<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
