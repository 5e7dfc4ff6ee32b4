// Linear algebra through LAPACK: values against their definitions, first and second
// derivatives against finite differences, and every failure a clear error.
#define BOOST_TEST_MODULE ops_lapack
#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

namespace {
constexpr std::size_t kN = 4;

// A well-conditioned general matrix: random entries plus n on the diagonal.
Array<double> well_conditioned(std::uint64_t seed) {
    Array<double> a = uniform({kN, kN}, seed, 0.1, 1.0);
    for (std::size_t i = 0; i < kN; ++i) a(i, i) += double(kN);
    return a;
}

// A symmetric positive definite matrix M M^T + n I.
Array<double> spd(std::uint64_t seed) {
    Array<double> m = uniform({kN, kN}, seed, 0.1, 1.0);
    Array<double> s = xt::zeros<double>({kN, kN});
    for (std::size_t i = 0; i < kN; ++i)
        for (std::size_t j = 0; j < kN; ++j) {
            for (std::size_t k = 0; k < kN; ++k) s(i, j) += m(i, k) * m(j, k);
            if (i == j) s(i, j) += double(kN);
        }
    return s;
}

// A symmetric function of a free parameter: finite differences move one entry of P, and
// sym(P) stays symmetric, as cholesky and logdet require.
Tensor sym(const Tensor& p) {
    return (p + transpose(p)) * 0.5;
}

double max_abs_diff(const Array<double>& a, const Array<double>& b) {
    return xt::amax(xt::abs(a - b))();
}
}  // namespace

BOOST_AUTO_TEST_CASE(solve_and_inverse_values) {
    Tape tape;
    auto a = Tensor::constant(well_conditioned(1));
    auto b = Tensor::constant(uniform({kN, 3}, 2));
    auto x = solve(a, b);
    BOOST_TEST(max_abs_diff(matmul(a, x).value(), b.value()) < 1e-13);
    auto v = Tensor::constant(uniform({kN}, 3));
    BOOST_TEST(max_abs_diff(matmul(a, solve(a, v)).value(), v.value()) < 1e-13);
    Array<double> eye = xt::eye<double>(kN);
    BOOST_TEST(max_abs_diff(matmul(a, inverse(a)).value(), eye) < 1e-13);
}

BOOST_AUTO_TEST_CASE(solve_and_inverse_to_second_order) {
    Tape tape;
    auto a = Tensor::parameter(well_conditioned(4));
    auto b = param({kN, 2}, 5);
    auto v = param({kN}, 6);
    check_both([&] { return solve(a, b); }, {a, b});
    check_both([&] { return solve(a, v); }, {a, v});
    check_both([&] { return sin(solve(a, b)); }, {a, b});
    check_both([&] { return inverse(a); }, {a});
    check_both([&] { return square(inverse(a)); }, {a});
}

BOOST_AUTO_TEST_CASE(triangular_solve_reads_one_triangle_to_second_order) {
    Tape tape;
    auto a = Tensor::parameter(well_conditioned(7));
    auto b = param({kN, 3}, 8);
    auto v = param({kN}, 9);
    for (bool upper : {false, true}) {
        BOOST_TEST_CONTEXT("upper " << upper) {
            check_both([&] { return square(triangular_solve(a, b, upper)); }, {a, b});
            check_both([&] { return triangular_solve(a, v, upper); }, {a, v});
            auto t = upper ? triu(a) : tril(a);
            auto x = triangular_solve(a, b, upper);  // the other triangle is not read
            BOOST_TEST(max_abs_diff(matmul(t, x).value(), b.value()) < 1e-13);
            BOOST_TEST(max_abs_diff(x.value(), solve(t, b).value()) < 1e-13);
        }
    }
}

BOOST_AUTO_TEST_CASE(cholesky_values_and_derivatives) {
    Tape tape;
    auto s = Tensor::constant(spd(10));
    auto l = cholesky(s);
    BOOST_TEST(max_abs_diff(matmul(l, transpose(l)).value(), s.value()) < 1e-13);
    BOOST_TEST(l.value()(0, 1) == 0.0);
    BOOST_TEST(l.value()(0, 0) > 0.0);
    auto p = Tensor::parameter(spd(11));
    check_both([&] { return cholesky(sym(p)); }, {p});
    check_both([&] { return sin(cholesky(sym(p))); }, {p});
    auto b = param({kN, 2}, 12);
    auto factor = Tensor::parameter(well_conditioned(13));
    check_both([&] { return cholesky_solve(b, tril(factor)); }, {b, factor});
    auto ls = cholesky(s);
    BOOST_TEST(max_abs_diff(cholesky_solve(b, ls).value(), solve(s, b).value()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(logdet_and_slogdet) {
    Tape tape;
    auto s = Tensor::parameter(spd(14));
    auto sd = slogdet(s);
    BOOST_TEST(sd.sign.item() == 1.0);
    BOOST_TEST(std::abs(logdet(s).item() - sd.logabsdet.item()) < 1e-12);
    // gradient of logdet is the inverse
    auto g = grad(logdet(sym(s)), {s})[0];
    BOOST_TEST(max_abs_diff(g.value(), inverse(s).value()) < 1e-12);
    check_both([&] { return logdet(sym(s)); }, {s});
    auto a = Tensor::parameter(well_conditioned(15));
    check_both([&] { return slogdet(a).logabsdet; }, {a});
    // a row swap: determinant -1
    auto swap = Tensor::constant({0.0, 1.0, 1.0, 0.0}, {2, 2});
    auto r = slogdet(swap);
    BOOST_TEST(r.sign.item() == -1.0);
    BOOST_TEST(std::abs(r.logabsdet.item()) < 1e-15);
    auto neg_diag = Tensor::constant({-2.0, 0.0, 0.0, 3.0}, {2, 2});
    BOOST_TEST(slogdet(neg_diag).sign.item() == -1.0);
    BOOST_TEST(std::abs(slogdet(neg_diag).logabsdet.item() - std::log(6.0)) < 1e-15);
}

// The gradient with respect to a symmetric matrix itself (no symmetrising op in between, as a
// user's covariance parameter): symmetric, as PyTorch's, so that a gradient step keeps the
// matrix symmetric, and its pairing with a symmetric direction E is the directional derivative.
BOOST_AUTO_TEST_CASE(symmetric_matrix_ops_have_symmetric_gradients_in_the_matrix_itself) {
    Array<double> raw = uniform({kN, kN}, 18);
    const Array<double> e = 0.5 * (raw + xt::transpose(raw));
    const Array<double> weights = uniform({kN, kN}, 19);
    const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> functions{
        {"sum(W * cholesky(S))", [&](const Tensor& s) { return sum(Tensor::constant(weights) * cholesky(s)); }},
        {"sum(sin(cholesky(S)))", [](const Tensor& s) { return sum(sin(cholesky(s))); }},
        {"logdet(S)", [](const Tensor& s) { return logdet(s); }},
    };
    for (const auto& [name, f] : functions) {
        Tape tape;
        auto s = Tensor::parameter(spd(20));
        auto g = grad(f(s), {s})[0].value();
        BOOST_TEST(max_abs_diff(g, xt::transpose(g)) < 1e-14, name << ": the gradient is not symmetric");
        const double h = 1e-5;
        double fd = (f(Tensor::constant(spd(20) + h * e)).item() - f(Tensor::constant(spd(20) - h * e)).item()) / (2 * h);
        BOOST_TEST(std::abs(xt::sum(g * e)() - fd) < 1e-8, name << ": <G, E> = " << xt::sum(g * e)() << ", d/dt " << fd);
        // the Hessian-vector product along a symmetric direction is symmetric too
        auto hv = hvp([&] { return f(s); }, {s}, {Tensor::constant(e)})[0].value();
        BOOST_TEST(max_abs_diff(hv, xt::transpose(hv)) < 1e-13, name << ": the Hessian-vector product");
        // a gradient step on S keeps a matrix that cholesky accepts
        s.set_value(s.value() - 0.01 * g);
        BOOST_CHECK_NO_THROW(f(s));
    }
    {  // logdet's gradient in S itself is S^-1
        Tape tape;
        auto s = Tensor::parameter(spd(21));
        BOOST_TEST(max_abs_diff(grad(logdet(s), {s})[0].value(), inverse(s).value()) < 1e-12);
    }
}

BOOST_AUTO_TEST_CASE(hessian_of_logdet_is_minus_the_inverse_sandwich) {
    // d2 logdet(S)[V, W] = -tr(S^-1 V S^-1 W): the HVP along a symmetric V is -S^-1 V S^-1.
    Tape tape;
    auto s = Tensor::parameter(spd(16));
    Array<double> raw = uniform({kN, kN}, 17);
    Array<double> vsym = 0.5 * (raw + xt::transpose(raw));
    auto h = hvp([&] { return logdet(sym(s)); }, {s}, {Tensor::constant(vsym)})[0];
    auto si = inverse(s);
    auto expected = neg(matmul(matmul(si, Tensor::constant(vsym)), si));
    BOOST_TEST(max_abs_diff(h.value(), expected.value()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(float32_solve) {
    Tape tape;
    auto a = Tensor32::constant({4.0f, 1.0f, 1.0f, 3.0f}, {2, 2});
    auto b = Tensor32::constant({1.0f, 2.0f}, {2});
    auto x = solve(a, b).value();
    BOOST_TEST(std::abs(4 * x(0) + x(1) - 1.0f) < 1e-6f);
    BOOST_TEST(std::abs(logdet(a).item() - std::log(11.0f)) < 1e-6f);
}

BOOST_AUTO_TEST_CASE(failures_are_clear_errors) {
    Tape tape;
    auto rect = param({2, 3}, 18);
    auto singular = Tensor::parameter({1.0, 2.0, 2.0, 4.0}, {2, 2});
    auto indefinite = Tensor::constant({1.0, 2.0, 2.0, 1.0}, {2, 2});
    auto asymmetric = Tensor::constant({2.0, 1.0, 0.0, 2.0}, {2, 2});
    auto b2 = Tensor::constant({1.0, 2.0}, {2});
    // finite inputs whose answer overflows: refused, not returned as inf (found by fuzz_linalg)
    auto tiny = Tensor::constant({1e-300, 0.0, 0.0, 1e-300}, {2, 2});
    expect_error<DomainError>([&] { solve(tiny, Tensor::constant({1e300, 1.0}, {2})); },
                              "solve: the result has inf at [0] for a finite matrix of shape [2,2]: it overflows "
                              "float64");
    expect_error<DomainError>([&] { inverse(Tensor::constant({1e-200, 1e200, 0.0, 1e-200}, {2, 2})); },
                              "inverse: the result has");
    // a subnormal pivot: getrf's factor holds 0 * inf = NaN, which LAPACKE's check in getri reports
    expect_error<DomainError>([&] { inverse(Tensor::constant({1e-310, 0.0, 0.0, 1.0}, {2, 2})); },
                              "inverse: LAPACK found NaN in its argument 3 for a 2x2 matrix");
    expect_error<DomainError>([&] { triangular_solve(tiny, Tensor::constant({1e300, 1.0}, {2}), false); },
                              "triangular_solve: the result has inf");
    expect_error<ShapeError>([&] { solve(rect, b2); }, "solve: expects a square matrix [n, n], got shape [2,3]");
    expect_error<ShapeError>(
        [&] {
            solve(singular, Tensor::constant({1.0, 2.0, 3.0}, {3}));
        },
        "solve: right-hand side of shape [3] for a matrix of shape [2,2]");
    expect_error<DomainError>([&] { solve(singular, b2); }, "solve: the matrix of shape [2,2] is singular");
    expect_error<DomainError>([&] { inverse(singular); }, "inverse: the matrix of shape [2,2] is singular");
    expect_error<DomainError>([&] { cholesky(indefinite); },
                              "cholesky: the matrix of shape [2,2] is not positive definite (its leading minor of "
                              "order 2 is not positive)");
    expect_error<ValueError>([&] { cholesky(asymmetric); },
                             "cholesky: the matrix is not symmetric: A[1,0] = 0 but A[0,1] = 1");
    expect_error<DomainError>([&] { logdet(indefinite); }, "logdet: needs a positive definite matrix");
    expect_error<DomainError>(
        [&] {
            triangular_solve(singular * Tensor::constant({1.0, 1.0, 1.0, 0.0}, {2, 2}), b2, false);
        },
        "triangular_solve: the matrix of shape [2,2] is singular (diagonal entry [1,1] is 0)");
    auto with_nan = Tensor::constant({1.0, std::nan(""), 0.0, 1.0}, {2, 2});
    expect_error<ValueError>([&] { solve(with_nan, b2); }, "solve: A has nan at [0,1]");
    // singular: numpy's (0, -inf), and no gradient there
    auto r = slogdet(singular);
    BOOST_TEST(r.sign.item() == 0.0);
    BOOST_TEST(r.logabsdet.item() == -std::numeric_limits<double>::infinity());
    expect_error<DomainError>([&] { r.logabsdet.backward(); }, "slogdet: the matrix of shape [2,2] is singular");
}
