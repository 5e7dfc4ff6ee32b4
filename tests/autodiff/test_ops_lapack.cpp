// Linear algebra through LAPACK: values against their definitions, first and second
// derivatives against finite differences, and every failure a clear error.
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
                              "solve: the result has ");
    expect_error<DomainError>([&] { solve(tiny, Tensor::constant({1e300, 1.0}, {2})); },
                              "for a finite matrix of shape [2,2]: it overflows float64");
    // det = 1e-400 underflows: LU's second pivot is an exact zero
    expect_error<DomainError>([&] { inverse(Tensor::constant({1e-200, 1e200, 0.0, 1e-200}, {2, 2})); },
                              "inverse: the matrix of shape [2,2] is singular (U[1,1] = 0");
    // a subnormal pivot: getrf's factor holds 1 / 1e-310 = inf and 0 * inf = NaN
    expect_error<DomainError>([&] { inverse(Tensor::constant({1e-310, 0.0, 0.0, 1.0}, {2, 2})); },
                              "inverse: the matrix of shape [2,2] is too badly scaled for float64: its LU factors "
                              "are not finite");
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
    expect_error<DomainError>([&] { logdet(indefinite); },
                              "logdet: the matrix of shape [2,2] is not positive definite (its leading minor of "
                              "order 2 is not positive)");
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

namespace {
// The Hilbert matrix H_ij = 1 / (i + j + 1): condition number 1.5e10 at n = 8, 1.7e16 at n = 12.
Array<double> hilbert(std::size_t n) {
    Array<double> h = Array<double>::from_shape({n, n});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) h(i, j) = 1.0 / double(i + j + 1);
    return h;
}

double norm_inf(const Array<double>& a) {
    const std::size_t cols = a.dimension() == 1 ? 1 : a.shape()[1];
    double worst = 0;
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < cols; ++j) s += std::abs(a.data()[i * cols + j]);
        worst = std::max(worst, s);
    }
    return worst;
}
}  // namespace

// Issue 24: gesv left a pivot of rounding size where the matrix is exactly singular and
// returned |x| ~ 1e16 with a residual of 9.4; every solve now refuses a reciprocal condition
// number below machine epsilon and says it, unless asked not to.
BOOST_AUTO_TEST_CASE(singular_and_nearly_singular_systems_are_refused_with_their_condition_number) {
    Tape tape;
    Array<double> twin = uniform({6, 6}, 40);
    for (std::size_t j = 0; j < 6; ++j) twin(4, j) = twin(1, j);  // two equal rows
    auto b6 = Tensor::constant(uniform({6}, 41));
    const std::string singular = "the matrix of shape [6,6] is singular";
    expect_error<DomainError>([&] { solve(Tensor::constant(twin), b6); }, "solve: " + singular);
    expect_error<DomainError>([&] { inverse(Tensor::constant(twin)); }, "inverse: " + singular);
    // the same, symmetric positive semidefinite: T T^T has rank 5
    auto psd = Tensor::constant(matmul(Tensor::constant(twin), transpose(Tensor::constant(twin))).value());
    try {  // potrf may find the zero minor exactly, or pocon its rounding-sized pivot
        logdet(psd);
        BOOST_ERROR("logdet of a rank-5 matrix of order 6 returned");
    } catch (const DomainError& e) {
        BOOST_TEST(std::string(e.what()).rfind("logdet: the matrix of shape [6,6] is ", 0) == 0u, e.what());
    }

    // Hilbert 12 (rcond ~ 1e-17): refused, the estimate in the message; solved when asked
    auto h12 = Tensor::constant(hilbert(12));
    auto b12 = Tensor::constant(Array<double>(xt::ones<double>({12})));
    expect_error<DomainError>([&] { solve(h12, b12); },
                              "solve: the matrix of shape [12,12] is singular to working precision: its reciprocal "
                              "condition number is ");
    expect_error<DomainError>([&] { inverse(h12); }, "inverse: the matrix of shape [12,12] is singular to working");
    expect_error<DomainError>([&] { logdet(h12); }, "logdet: the matrix of shape [12,12] is singular to working");
    expect_error<DomainError>([&] { cholesky_solve(b12, cholesky(h12)); },
                              "cholesky_solve: the matrix of shape [12,12] is singular to working");
    try {
        solve(h12, b12);
    } catch (const DomainError& e) {  // the estimate is in the message, and it is below eps
        std::string m = e.what();
        auto at = m.find("condition number is ") + 20;
        double rcond = std::stod(m.substr(at));
        BOOST_TEST(rcond < 2.3e-16);
        BOOST_TEST(rcond > 1e-19);
    }
    // solved anyway on request: LU's backward error, small as numpy's, though x has no digit
    auto x = solve(h12, b12, {.check_condition = false}).value();
    Array<double> residual = matmul(h12, Tensor::constant(x)).value() - b12.value();
    BOOST_TEST(norm_inf(residual) <= 1e-13 * norm_inf(hilbert(12)) * norm_inf(x));
    BOOST_TEST(std::isfinite(logdet(h12, {.check_condition = false}).item()));
    BOOST_TEST(inverse(h12, {.check_condition = false}).value().size() == 144u);

    // Hilbert 8 (rcond ~ 3e-11) is ill-conditioned but not singular to working precision
    auto h8 = Tensor::constant(hilbert(8));
    auto x8 = solve(h8, Tensor::constant(Array<double>(xt::ones<double>({8})))).value();
    BOOST_TEST(norm_inf(matmul(h8, Tensor::constant(x8)).value() - 1.0) < 1e-8);
    BOOST_TEST(std::isfinite(logdet(h8).item()));

    // triangular: a diagonal 1e-20 against 1 is singular to working precision; solved on request
    auto t = Tensor::constant({1.0, 0.0, 0.5, 1e-20}, {2, 2});
    auto b2 = Tensor::constant({1.0, 1.0}, {2});
    expect_error<DomainError>([&] { triangular_solve(t, b2, false); },
                              "triangular_solve: the matrix of shape [2,2] is singular to working precision");
    auto xt2 = triangular_solve(t, b2, {.check_condition = false}).value();
    BOOST_TEST(std::abs(xt2(1) - 0.5e20) < 1e5);
    expect_error<DomainError>([&] { cholesky_solve(b2, Tensor::constant({1.0, 0.0, 0.0, 1e-9}, {2, 2})); },
                              "cholesky_solve: the matrix of shape [2,2] is singular to working precision");
}

// Issue 24: subnormal and near-singular input gave {1e-310, 0, nan, nan} from inverse and
// {nan, nan, -inf} from a triangular solve; each is now a DomainError naming the op.
BOOST_AUTO_TEST_CASE(subnormal_matrices_give_errors_not_nan) {
    Tape tape;
    auto tiny = Tensor::constant({1e-310, 0.0, 0.0, 1e-310}, {2, 2});
    expect_error<DomainError>([&] { inverse(tiny); }, "inverse: ");
    expect_error<DomainError>([&] { inverse(tiny, {.check_condition = false}); }, "inverse: ");
    auto lower = Tensor::constant({1e-310, 0.0, 0.0, 1.0, 1e-310, 0.0, 1.0, 1.0, 1e-310}, {3, 3});
    auto b3 = Tensor::constant({1.0, 1.0, 1.0}, {3});
    expect_error<DomainError>([&] { triangular_solve(lower, b3, false); }, "triangular_solve: ");
    expect_error<DomainError>([&] { triangular_solve(lower, b3, {.check_condition = false}); },
                              "triangular_solve: the result has ");
    expect_error<DomainError>([&] { solve(tiny, Tensor::constant({1.0, 1.0}, {2})); }, "solve: ");
    // cholesky's symmetry test is relative to the largest entry at every scale (it was
    // absolute below 1: [[4e-9, 5e-9], [0, 4e-9]] passed)
    expect_error<ValueError>([&] { cholesky(Tensor::constant({4e-9, 5e-9, 0.0, 4e-9}, {2, 2})); },
                             "cholesky: the matrix is not symmetric: A[1,0] = 0 but A[0,1] = 5e-09");
    auto scaled = Tensor::constant(Array<double>(spd(30) * 1e-12));
    BOOST_CHECK_NO_THROW(cholesky(scaled));
}

// The backward of solve reads the forward's LU factors, logdet's the forward's Cholesky factor:
// a compiled function must refactor at each new input, not reuse the traced factors.
BOOST_AUTO_TEST_CASE(compiled_solves_refactor_at_each_replay) {
    const std::vector<std::pair<std::string, std::function<Tensor(const TensorList<double>&)>>> fs{
        {"solve", [](const TensorList<double>& in) { return sum(square(solve(in[0], in[1]))); }},
        {"solve [n, k]",
         [](const TensorList<double>& in) { return sum(sin(solve(in[0], reshape(in[1], {kN, 1}) * Tensor::constant({1.0, -2.0}, {1, 2}))));
         }},
        {"logdet", [](const TensorList<double>& in) { return logdet(sym(in[0])) * sum(in[1]); }},
        {"inverse", [](const TensorList<double>& in) { return sum(matmul(inverse(in[0]), in[1])); }},
    };
    for (const auto& [name, f] : fs) {
        BOOST_TEST_CONTEXT(name) {
            auto c = compile<double>(f);
            for (std::uint64_t seed = 50; seed < 53; ++seed) {
                Array<double> a = seed == 50 ? spd(1) : spd(seed);
                std::vector<Array<double>> at{a, uniform({kN}, seed + 10)};
                std::vector<Array<double>> v{uniform({kN, kN}, seed + 20), uniform({kN}, seed + 30)};
                Tape tape;
                TensorList<double> p{Tensor::parameter(at[0]), Tensor::parameter(at[1])};
                auto out = f(p);
                auto g = grad(out, p);
                auto hv = hvp([&] { return f(p); }, p, {Tensor::constant(v[0]), Tensor::constant(v[1])});
                auto [value, cg] = c.value_and_grad(at);
                BOOST_TEST(value == out.item());
                BOOST_TEST((cg[0] == g[0].value()));
                BOOST_TEST((cg[1] == g[1].value()));
                auto chv = c.hvp(at, v);
                BOOST_TEST((chv[0] == hv[0].value()));
                BOOST_TEST((chv[1] == hv[1].value()));
            }
        }
    }
}

// The rules on the reused factors, to second order: the transposed solve in the backward
// (A^T X = B's rule), a matrix right-hand side, and logdet's Hessian through potri's inverse.
BOOST_AUTO_TEST_CASE(rules_on_reused_factors_to_second_order) {
    Tape tape;
    auto a = Tensor::parameter(well_conditioned(60));
    auto b = param({kN, 3}, 61);
    auto w = param({kN, 3}, 62);
    // a function whose Hessian mixes the forward solve and the transposed one in the backward
    check_both([&] { return sum(w * solve(a, b)) + sum(square(solve(transpose(a), b))); }, {a, b, w});
    auto s = Tensor::parameter(spd(63));
    check_both([&] { return logdet(sym(s)) * logdet(sym(s)); }, {s});
    check_both([&] { return matmul(b, transpose(b)) * logdet(sym(s)); }, {s, b});
}
