// L-BFGS with bounds (L-BFGS-B): bounded Rosenbrock and a Gaussian-process fit against
// scipy's L-BFGS-B (scipy 1.10.1, scikit-learn 1.2.1, Debian 12; the figures below were
// measured with them), every iterate inside the box, the projected-gradient stop, and the
// options' validation.
#include <cmath>

#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::optim;
using namespace xtgrad::testing;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// Rosenbrock in (x, y) held as two scalar parameters, so that each has its own bounds (a group each).
struct Rosenbrock {
    Tensor x, y;
    std::size_t outside = 0;  // evaluations at a point outside the box
    Bounds bx, by;
    Rosenbrock(double x0, double y0, Bounds bx, Bounds by)
        : x(Tensor::parameter(Array<double>{x0})), y(Tensor::parameter(Array<double>{y0})), bx(bx), by(by) {}
    OptimizeResult minimize(double tolerance_grad) {
        StopCriteria stop{.tolerance_grad = tolerance_grad, .tolerance_change = 0};
        LBFGS<double> opt({{{x}, {.bounds = bx, .stop = stop}, {"x"}}, {{y}, {.bounds = by, .stop = stop}, {"y"}}});
        return opt.minimize([&] {
            opt.zero_grad();
            double xv = x.value()(0), yv = y.value()(0);
            if (xv < bx.lower || xv > bx.upper || yv < by.lower || yv > by.upper) ++outside;
            Tape tape;
            auto loss = sum(square(1.0 - x) + 100.0 * square(y - square(x)));
            loss.backward();
            return loss.item();
        });
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(bounded_rosenbrock_stops_on_the_bound_as_scipy) {
    // x <= 0.5 cuts the valley: the minimum is at the bound, (0.5, 0.25) with f = 0.25, where the
    // gradient is not zero but its projection is. scipy (gtol 1e-8, ftol 0): 20 iterations, 30 calls.
    Rosenbrock upper(-1.2, 1.0, {-2, 0.5}, {-2, 2});
    auto r = upper.minimize(1e-8);
    BOOST_TEST_MESSAGE("upper bound: " << r.message << ", " << r.iterations << " iterations, " << r.evaluations
                                       << " calls (scipy 20, 30)");
    BOOST_TEST(r.status == StopReason::gradient_small, r.message);
    BOOST_TEST(r.message.find("projected gradient") != std::string::npos);
    BOOST_TEST(upper.x.value()(0) == 0.5);  // exactly on the bound
    BOOST_TEST(std::abs(upper.y.value()(0) - 0.25) < 1e-9);
    BOOST_TEST(std::abs(r.loss - 0.25) < 1e-12);
    BOOST_TEST(upper.outside == 0u);
    BOOST_TEST(r.evaluations <= 33u);  // scipy 30, plus 10 %

    // 1.5 <= x: the lower bound is active from the start; scipy: 2 iterations, 3 calls
    Rosenbrock lower(-1.2, 1.0, {1.5, 3}, {});
    r = lower.minimize(1e-8);
    BOOST_TEST(r.status == StopReason::gradient_small, r.message);
    BOOST_TEST(lower.x.value()(0) == 1.5);  // the start projected into the box, then held there
    BOOST_TEST(std::abs(lower.y.value()(0) - 2.25) < 1e-9);
    BOOST_TEST(lower.outside == 0u);
    BOOST_TEST(r.evaluations <= 6u);

    // no finite bound: plain L-BFGS, to the unconstrained minimum
    Rosenbrock free(-1.2, 1.0, {}, {});
    r = free.minimize(1e-8);
    BOOST_TEST(r.status == StopReason::gradient_small, r.message);
    BOOST_TEST(std::abs(free.x.value()(0) - 1.0) < 1e-8);
}

BOOST_AUTO_TEST_CASE(ten_dimensional_rosenbrock_in_a_box_equals_scipys_solution) {
    // sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 on [-1.5, 0.8]^10 from 0; scipy's L-BFGS-B ends at
    // f = 6.00101639461 with the first coordinate on the upper bound
    auto p = Tensor::parameter(xt::zeros<double>({10}));
    LBFGS<double> opt(TensorList<double>{p},
                      {.bounds = {-1.5, 0.8}, .stop = {.tolerance_grad = 1e-9, .tolerance_change = 0}});
    auto r = opt.minimize([&] {
        opt.zero_grad();
        Tape tape;
        auto head = slice(p, 0, 0, 9), tail = slice(p, 0, 1, 10);
        auto loss = sum(100.0 * square(tail - square(head)) + square(1.0 - head));
        loss.backward();
        return loss.item();
    });
    BOOST_TEST(r.converged, r.message);
    BOOST_TEST(std::abs(r.loss - 6.00101639461) < 1e-9);
    const Array<double> scipy{8.0000000000e-01, 6.6588649089e-01, 4.6033364688e-01, 2.2443294262e-01, 6.0997386024e-02,
                              1.3862215207e-02, 1.0297192752e-02, 1.0206050609e-02, 1.0004122247e-02, 1.0008246505e-04};
    BOOST_TEST(xt::amax(xt::abs(p.value() - scipy))() < 1e-6);
    BOOST_TEST(xt::amax(p.value())() <= 0.8);
    BOOST_TEST_MESSAGE("10-D box: " << r.iterations << " iterations, " << r.evaluations << " calls (scipy 24, 33)");
}

namespace {
// Gaussian-process regression with the kernel C exp(-(x - x')^2 / (2 l^2)) + s I (scikit-learn's
// ConstantKernel * RBF + WhiteKernel), hyperparameters as log values theta = log(C, l, s): the
// negative log marginal likelihood 1/2 y^T K^-1 y + 1/2 log det K + n/2 log 2 pi.
struct GaussianProcess {
    Tensor x, y;
    explicit GaussianProcess(std::size_t n = 30) {
        Array<double> xs = Array<double>::from_shape({n, 1}), ys = Array<double>::from_shape({n});
        for (std::size_t i = 0; i < n; ++i) {
            xs(i, 0) = -3.0 + 6.0 * double(i) / double(n - 1);
            ys(i) = std::sin(2.0 * xs(i, 0)) + 0.2 * (double((i * 37) % 17) / 8.0 - 1.0);
        }
        x = Tensor::constant(xs);
        y = Tensor::constant(ys);
    }
    Tensor negative_log_likelihood(const Tensor& theta) const {
        const std::size_t n = y.size();
        auto c = exp(slice(theta, 0, 0, 1)), l = exp(slice(theta, 0, 1, 2)), s = exp(slice(theta, 0, 2, 3));
        auto diff = x - transpose(x);  // [n, n]
        auto k = c * exp(-0.5 * square(diff) / square(l)) + s * Tensor::constant(Array<double>(xt::eye<double>(n)));
        auto factor = cholesky(k);
        auto alpha = cholesky_solve(reshape(y, {n, 1}), factor);
        return 0.5 * sum(reshape(y, {n, 1}) * alpha) + 0.5 * logdet(k) + 0.5 * double(n) * std::log(2 * M_PI);
    }
};

// scikit-learn's default bounds (1e-5, 1e5) on every hyperparameter, in log space as it optimises
OptimizeResult fit(const GaussianProcess& gp, const Tensor& theta, bool bounded) {
    Bounds box = bounded ? Bounds{std::log(1e-5), std::log(1e5)} : Bounds{};
    LBFGS<double> opt(TensorList<double>{theta}, {.bounds = box, .stop = {.tolerance_grad = 1e-5}});
    return opt.minimize([&] {
        opt.zero_grad();
        Tape tape;
        auto loss = gp.negative_log_likelihood(theta);
        loss.backward();
        return loss.item();
    });
}
}  // namespace

BOOST_AUTO_TEST_CASE(gaussian_process_hyperparameters_as_scikit_learn) {
    GaussianProcess gp;
    // from (1, 1, 0.1): an interior optimum. scikit-learn: theta (-0.74476635, -0.56586823,
    // -4.84180729), log marginal likelihood 3.336367026269; scipy 12 iterations, 17 calls
    auto theta = Tensor::parameter(Array<double>{0.0, 0.0, std::log(0.1)});
    auto r = fit(gp, theta, true);
    BOOST_TEST(r.converged, r.message);
    BOOST_TEST(std::abs(-r.loss - 3.336367026269) < 1e-8);
    const Array<double> sklearn{-0.74476635, -0.56586823, -4.84180729};
    BOOST_TEST(xt::amax(xt::abs(theta.value() - sklearn))() < 1e-4);
    BOOST_TEST_MESSAGE("GP from (1, 1, 0.1): " << r.iterations << " iterations, " << r.evaluations
                                               << " calls (scipy 12, 17)");
    BOOST_TEST(r.evaluations <= 26u);

    // from a poor start (C 1e-3, l 50, s 1) the likelihood keeps rising as C -> 0: scikit-learn stops
    // on C's lower bound 1e-5 with theta (log 1e-5, 3.85623992, -0.70664888), log likelihood
    // -31.968432287258 (scipy 18 iterations, 21 calls); unbounded L-BFGS runs C off towards 0
    auto poor = Tensor::parameter(Array<double>{std::log(1e-3), std::log(50.0), 0.0});
    r = fit(gp, poor, true);
    BOOST_TEST(r.converged, r.message);
    BOOST_TEST(poor.value()(0) == std::log(1e-5));
    // with C at 1e-5 the likelihood hardly depends on l: its gradient is below the tolerance over
    // a range of l, and both stop somewhere in it
    BOOST_TEST(std::abs(poor.value()(1) - 3.85623992) < 1e-2);
    BOOST_TEST(std::abs(poor.value()(2) - -0.70664888) < 1e-4);
    BOOST_TEST(std::abs(-r.loss - -31.968432287258) < 1e-6);
    BOOST_TEST_MESSAGE("GP from (1e-3, 50, 1): " << r.iterations << " iterations, " << r.evaluations
                                                 << " calls (scipy 18, 21)");
    BOOST_TEST(r.evaluations <= 32u);
    auto unbounded = Tensor::parameter(Array<double>{std::log(1e-3), std::log(50.0), 0.0});
    try {
        fit(gp, unbounded, false);
    } catch (const DomainError&) {  // (it may also end in a matrix too ill-conditioned to factor)
    }
    BOOST_TEST(unbounded.value()(0) < std::log(1e-5), "unbounded C " << std::exp(unbounded.value()(0)));
}

BOOST_AUTO_TEST_CASE(bounds_are_validated) {
    auto p = Tensor::parameter(Array<double>{0.0});
    expect_error<ValueError>(
        [&] {
            LBFGS<double>(TensorList<double>{p}, {.bounds = {1.0, 0.0}});
        },
        "LBFGS: bounds must satisfy lower <= upper");
    expect_error<ValueError>(
        [&] {
            LBFGS<double>(TensorList<double>{p}, {.bounds = {std::nan(""), 0.0}});
        },
        "LBFGS: bounds must satisfy lower <= upper");
    expect_error<ValueError>(
        [&] {
            LBFGS<double>(TensorList<double>{p}, {.bounds = {kInf, kInf}});
        },
        "LBFGS: bounds must satisfy lower <= upper with lower < inf");
}

BOOST_AUTO_TEST_CASE(a_quadratic_with_many_active_bounds_in_scipys_number_of_calls) {
    // 1/2 x^T A x - b^T x on [-1, 1]^40 (A tridiagonal plus a rank-one term, eigenvalues 0.99 to
    // 23.7), b = s sin(1.7 i + 0.3)(1 + i/10): with s = 12, 32 of 40 coordinates end on a bound and
    // the generalised Cauchy point passes many breakpoints; scipy (m 10, gtol 1e-6, ftol 0) needs
    // 12 iterations and 13 calls there. With s = 4, 5 bounds are active (scipy 23, 24). The losses
    // are scipy's at gtol 1e-8.
    const std::size_t n = 40;
    Array<double> a = xt::zeros<double>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        a(i, i) = 2.0 + 0.5 * double(i);
        if (i + 1 < n) a(i, i + 1) = a(i + 1, i) = -1.0;
        for (std::size_t j = 0; j < n; ++j) a(i, j) += 0.5 * std::cos(double(i)) * std::cos(double(j));
    }
    for (auto [scale, scipy_loss, scipy_calls, scipy_active] :
         {std::tuple{12.0, -674.785737493286, 13u, 32u}, std::tuple{4.0, -116.12119687667443, 24u, 5u}}) {
        Array<double> b = Array<double>::from_shape({n});
        for (std::size_t i = 0; i < n; ++i) b(i) = scale * std::sin(1.7 * double(i) + 0.3) * (1 + double(i) / 10);
        auto x = Tensor::parameter(xt::zeros<double>({n}));
        auto am = Tensor::constant(a), bv = Tensor::constant(b);
        LBFGS<double> opt(TensorList<double>{x},
                          {.bounds = {-1.0, 1.0}, .stop = {.tolerance_grad = 1e-6, .tolerance_change = 0}});
        auto r = opt.minimize([&] {
            opt.zero_grad();
            Tape tape;
            auto loss = 0.5 * sum(x * reshape(matmul(am, reshape(x, {n, 1})), {n})) - sum(bv * x);
            loss.backward();
            return loss.item();
        });
        BOOST_TEST_MESSAGE("bounded quadratic, s = " << scale << ": " << r.iterations << " iterations, " << r.evaluations
                                                     << " calls (scipy " << scipy_calls << ")");
        BOOST_TEST(r.converged, r.message);
        BOOST_TEST(std::abs(r.loss - scipy_loss) < 1e-9);
        BOOST_TEST(std::size_t(xt::sum(xt::equal(xt::abs(x.value()), 1.0))()) == scipy_active);
        BOOST_TEST(r.evaluations <= std::size_t(1.1 * scipy_calls + 1));
    }
}
