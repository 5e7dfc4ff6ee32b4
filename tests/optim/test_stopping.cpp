// How the iterative methods end: a status at a minimum (never an exception), no movement
// once stopped, budgets, faults that still throw, the line search's tied point, and the
// curvature of parameter-only terms in the natural-gradient step.
#include <cmath>
#include <limits>

#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::optim;
using namespace xtgrad::testing;

namespace {
template <class Opt>
Closure closure_of(Opt& opt, const std::function<Tensor()>& f, std::size_t* calls = nullptr) {
    return [&opt, f, calls] {
        if (calls) ++*calls;
        opt.zero_grad();
        Tape tape;
        auto loss = f();
        loss.backward();
        return loss.item();
    };
}

struct Logistic {  // L2-regularised logistic regression on breast cancer, standardized
    Tensor x, t, w, b;
    double lambda;
    explicit Logistic(double lambda = 5e-3) : lambda(lambda) {
        auto data = nn::load_csv(std::string(XTGRAD_DATA_DIR) + "/breast_cancer.csv", {.header_lines = 1});
        nn::Standardizer s;
        s.fit(data.features);
        x = Tensor::constant(s.transform(data.features));
        Array<double> target = data.target;
        target.reshape({target.size(), 1});
        t = Tensor::constant(target);
        w = Tensor::parameter(xt::zeros<double>({std::size_t(30), std::size_t(1)}));
        b = Tensor::parameter(xt::zeros<double>({1}));
    }
    Tensor logits() const { return matmul(x, w) + b; }
    Tensor data_loss(const Tensor& z) const { return nn::binary_cross_entropy_with_logits(z, t); }
    Tensor penalty() const { return lambda * (sum(square(w)) + sum(square(b))); }
    Tensor loss() const { return data_loss(logits()) + penalty(); }
    CurvatureModel<double> model() const {
        return {[this] { return logits(); }, [this](const Tensor& z) { return data_loss(z); },
                [this] { return penalty(); }};
    }
};

template <class Opt>
void ends_with_a_status_at_the_rounding_floor(const char* name) {
    // tolerances switched off: the run can only end where rounding leaves no decrease
    Logistic lr;
    Opt opt(TensorList<double>{lr.w, lr.b},
            {.stop = {.tolerance_grad = 0, .tolerance_change = 0, .max_iterations = 2000}});
    std::size_t calls = 0;
    auto closure = closure_of(
        opt, [&] { return lr.loss(); }, &calls);
    OptimizeResult r;
    BOOST_CHECK_NO_THROW(r = opt.minimize(closure));
    BOOST_TEST_MESSAGE(name << ": " << r.message << " after " << r.iterations << " iterations");
    BOOST_TEST(r.converged, name << ": " << r.message);
    BOOST_TEST(opt.converged());
    BOOST_TEST(r.status != StopReason::iteration_limit);
    // once stopped, a step neither evaluates nor moves anything
    Array<double> w = lr.w.value(), b = lr.b.value();
    std::size_t before = calls;
    double f = 0;
    BOOST_CHECK_NO_THROW(f = opt.step(closure));
    BOOST_TEST(calls == before);
    BOOST_TEST(lr.w.value() == w);
    BOOST_TEST(lr.b.value() == b);
    BOOST_TEST(f == r.loss);
}
}  // namespace

BOOST_AUTO_TEST_CASE(default_tolerances_end_a_normal_run_normally) {
    for (int method = 0; method < 2; ++method) {
        Logistic lr;
        std::unique_ptr<LineSearchMethod<double, LBFGSOptions>> lbfgs;
        OptimizeResult r;
        if (method == 0) {
            LBFGS<double> opt(TensorList<double>{lr.w, lr.b}, {});
            r = opt.minimize(closure_of(opt, [&] { return lr.loss(); }));
        } else {
            ConjugateGradient<double> opt(TensorList<double>{lr.w, lr.b}, {});
            r = opt.minimize(closure_of(opt, [&] { return lr.loss(); }));
        }
        BOOST_TEST(r.converged, r.message);
        BOOST_TEST((r.status == StopReason::gradient_small || r.status == StopReason::loss_change_small), r.message);
        BOOST_TEST(r.iterations < 200u);
        BOOST_TEST(r.message.rfind("converged: ", 0) == 0u, r.message);
    }
}

BOOST_AUTO_TEST_CASE(lbfgs_ends_at_the_rounding_floor_with_a_status) {
    ends_with_a_status_at_the_rounding_floor<LBFGS<double>>("L-BFGS");
}

BOOST_AUTO_TEST_CASE(conjugate_gradient_ends_at_the_rounding_floor_with_a_status) {
    ends_with_a_status_at_the_rounding_floor<ConjugateGradient<double>>("nonlinear CG");
}

BOOST_AUTO_TEST_CASE(the_gradient_tolerance_is_checked_before_a_step) {
    auto p = Tensor::parameter(Array<double>{1.0, -2.0});
    LBFGS<double> opt(TensorList<double>{p}, {});
    std::size_t calls = 0;
    auto closure = closure_of(
        opt,
        [&] {
            return sum(square(p - Tensor::constant(Array<double>{1.0, -2.0})));
        },
        &calls);
    opt.step(closure);  // already at the minimum
    BOOST_TEST(opt.status() == StopReason::gradient_small);
    BOOST_TEST(opt.iterations() == 0u);
    BOOST_TEST(calls == 1u);
    // moving the parameters by hand makes it start again from the new point
    p.set_value(Array<double>{3.0, 3.0});
    opt.step(closure);
    BOOST_TEST(!opt.stopped());
    BOOST_TEST(opt.iterations() == 1u);
}

BOOST_AUTO_TEST_CASE(budgets_stop_a_run_without_convergence) {
    Logistic lr;
    LBFGS<double> opt(TensorList<double>{lr.w, lr.b}, {.stop = {.tolerance_grad = 0, .max_iterations = 3}});
    auto r = opt.minimize(closure_of(opt, [&] { return lr.loss(); }));
    BOOST_TEST(r.status == StopReason::iteration_limit);
    BOOST_TEST(!r.converged);
    BOOST_TEST(r.iterations == 3u);
    Logistic lr2;
    ConjugateGradient<double> cg(TensorList<double>{lr2.w, lr2.b}, {.stop = {.max_evaluations = 5}});
    auto r2 = cg.minimize(closure_of(cg, [&] { return lr2.loss(); }));
    BOOST_TEST(r2.status == StopReason::evaluation_limit);
    BOOST_TEST(r2.evaluations >= 5u);
    BOOST_TEST(r2.message.find("max_evaluations") != std::string::npos, r2.message);
    // restart() forgets the stop and the counters
    cg.restart();
    BOOST_TEST(!cg.stopped());
    BOOST_TEST(cg.evaluations() == 0u);
}

BOOST_AUTO_TEST_CASE(a_gradient_that_is_not_the_losses_stops_the_run_with_the_parameters_unchanged) {
    // the closure reports the gradient of -f: every step "downhill" goes up
    auto p = Tensor::parameter(Array<double>{1.0, 2.0});
    LBFGS<double> opt(TensorList<double>{p}, {});
    auto closure = [&] {
        opt.zero_grad();
        Tape tape;
        auto loss = sum(square(p));
        (-loss).backward();
        return loss.item();
    };
    BOOST_CHECK_NO_THROW(opt.step(closure));
    BOOST_TEST(opt.status() == StopReason::line_search_failed);
    BOOST_TEST(!opt.converged());
    BOOST_TEST(opt.message().find("is the gradient the loss's?") != std::string::npos, opt.message());
    BOOST_TEST(p.value() == (Array<double>{1.0, 2.0}));
}

BOOST_AUTO_TEST_CASE(real_faults_still_throw_with_the_parameters_restored) {
    auto p = Tensor::parameter(Array<double>{1.0, 2.0});
    ConjugateGradient<double> cg(TensorList<double>{p}, {});
    // a non-finite loss where the step starts
    auto nan_closure = closure_of(cg, [&] { return sum(square(p)) * std::nan(""); });
    expect_error<NonFiniteError>([&] { cg.step(nan_closure); }, "the loss is nan");
    BOOST_TEST(p.value() == (Array<double>{1.0, 2.0}));
    // a closure that throws midway through the line search
    ConjugateGradient<double> cg2(TensorList<double>{p}, {});
    int n = 0;
    auto throwing = closure_of(cg2, [&] {
        if (++n == 3) throw std::runtime_error("out of memory");
        return sum(square(p - 3.0));
    });
    expect_error<std::runtime_error>([&] { cg2.step(throwing); }, "out of memory");
    BOOST_TEST(p.value() == (Array<double>{1.0, 2.0}));
    // non-finite values along the line are only "too far": the search backs off
    ConjugateGradient<double> cg3(TensorList<double>{p}, {});
    auto walled = [&] {
        cg3.zero_grad();
        Tape tape;
        auto f = sum(square(p - 3.0));
        f.backward();
        return xt::amax(p.value())() > 2.5 ? std::numeric_limits<double>::infinity() : f.item();
    };
    BOOST_CHECK_NO_THROW(cg3.step(walled));
    BOOST_TEST(xt::amax(p.value())() <= 2.5);
    BOOST_TEST(cg3.iterations() == 1u);
}

BOOST_AUTO_TEST_CASE(the_line_search_accepts_a_point_that_ties_the_best_so_far) {
    // phi(a) = 1 + 1e-17 (a - 1)^2: phi(0) and phi(1) both round to 1, phi'(1) = 0 meets both
    // strong Wolfe conditions; the first trial step (10) overshoots.
    std::size_t calls = 0;
    LineFunction phi = [&](double a) {
        ++calls;
        return std::pair{1 + 1e-17 * (a - 1) * (a - 1), 2e-17 * (a - 1)};
    };
    auto r = strong_wolfe(phi, 1 + 1e-17, -2e-17, 10.0);
    BOOST_TEST(r.ok);
    BOOST_TEST(std::abs(r.alpha - 1) < 1e-9, "alpha " << r.alpha);
    BOOST_TEST(r.evaluations == 2u, r.evaluations << " evaluations");
    BOOST_TEST(calls == r.evaluations);
}

BOOST_AUTO_TEST_CASE(the_line_search_stops_at_its_largest_step_while_the_loss_still_falls) {
    // phi(a) = -a - a^2 falls ever faster: no step meets the curvature condition, and the search,
    // extrapolating, must stop at max_step (a bound of L-BFGS-B) and never look beyond it
    for (double initial : {1.0, 3.0, 10.0}) {
        std::size_t calls = 0;
        double furthest = 0;
        LineFunction phi = [&](double a) {
            ++calls;
            furthest = std::max(furthest, a);
            return std::pair{-a - a * a, -1 - 2 * a};
        };
        auto r = strong_wolfe(phi, 0.0, -1.0, initial, {.max_step = 3.0});
        BOOST_TEST(r.ok, "initial " << initial);
        BOOST_TEST(r.alpha == 3.0);
        BOOST_TEST(furthest == 3.0);
        BOOST_TEST(r.evaluations <= 3u, r.evaluations << " evaluations from " << initial);
        BOOST_TEST(calls == r.evaluations);
    }
}

BOOST_AUTO_TEST_CASE(the_penalty_adds_its_exact_curvature_to_the_gauss_newton_product) {
    // z = w, L(z) = |z|^2 / 2, penalty 50 |w|^2: the Hessian is 101 I
    auto w = Tensor::parameter(uniform({4}, 1));
    CurvatureModel<double> model{[&] { return w * 1.0; }, [](const Tensor& z) { return 0.5 * sum(square(z)); },
                                 [&] { return 50.0 * sum(square(w)); }};
    Array<double> v = uniform({4}, 2);
    auto gn = gauss_newton_vector_product<double>(model, {w}, {v});
    auto h = hessian_vector_product<double>(model, {w}, {v});
    BOOST_TEST(xt::amax(xt::abs(gn[0] - 101.0 * v))() < 1e-12);
    BOOST_TEST(xt::amax(xt::abs(h[0] - 101.0 * v))() < 1e-12);
    // the same penalty written inside loss(z) would lose its curvature: refused
    CurvatureModel<double> wrong{[&] { return w * 1.0; },
                                 [&](const Tensor& z) { return 0.5 * sum(square(z)) + 50.0 * sum(square(w)); }};
    expect_error<ValueError>([&] { gauss_newton_vector_product<double>(wrong, {w}, {v}); },
                             "loss(z) depends on the parameters directly");
    NaturalGradient<double> ng(TensorList<double>{w}, wrong, {});
    expect_error<ValueError>([&] { ng.step(); }, "CurvatureModel::penalty");
}

BOOST_AUTO_TEST_CASE(gauss_newton_products_equal_the_explicit_matrix_for_every_closed_form_and_the_generic_one) {
    // a small tanh MLP; J from jacobian(), H_L from hessian() in output space
    std::mt19937_64 rng(3);
    nn::MLP<double> mlp({3, 4, 3}, nn::Activation::tanh, rng);
    auto x = Tensor::constant(uniform({5, 3}, 7));
    auto params = mlp.parameters();
    std::vector<std::size_t> labels{0, 2, 1, 1, 0};
    auto targets = Tensor::constant(uniform({5, 3}, 8, 0.0, 1.0, false));
    using Loss = std::function<Tensor(const Tensor&)>;
    std::vector<std::pair<const char*, Loss>> losses{
        {"softmax cross entropy (mean)", [&](const Tensor& z) { return nn::cross_entropy(z, labels); }},
        {"softmax cross entropy (sum)",
         [&](const Tensor& z) { return nn::cross_entropy(z, labels, {.reduction = nn::Reduction::sum}); }},
        {"sigmoid cross entropy", [&](const Tensor& z) { return nn::binary_cross_entropy_with_logits(z, targets); }},
        {"squared error", [&](const Tensor& z) { return nn::mean_squared_error(z, targets); }},
        {"weighted cross entropy (generic)",
         [&](const Tensor& z) {
             return nn::cross_entropy(z, labels, {.class_weights = {1.0, 3.0, 0.5}});
         }},
        {"quartic (generic)", [&](const Tensor& z) { return sum(square(square(z))); }},
    };
    auto jac = jacobian([&] { return mlp(x); }, params);  // [15 outputs, each parameter's shape]
    Array<double> z;
    {
        NoGrad no_grad;
        z = mlp(x).value();
    }
    std::vector<Array<double>> v;
    for (std::size_t i = 0; i < params.size(); ++i) v.push_back(uniform(params[i].shape(), 20 + i));
    for (auto& [name, loss] : losses) {
        auto zp = Tensor::parameter(z);
        Array<double> hl = hessian([&] { return loss(zp); }, {zp});  // [15, 15]
        // J v, H_L J v, J^T H_L J v by hand
        std::size_t m = z.size();
        std::vector<double> jv(m, 0.0), hjv(m, 0.0);
        for (std::size_t i = 0; i < params.size(); ++i)
            for (std::size_t o = 0; o < m; ++o)
                for (std::size_t k = 0; k < params[i].size(); ++k)
                    jv[o] += jac[i].data()[o * params[i].size() + k] * v[i].data()[k];
        for (std::size_t o = 0; o < m; ++o)
            for (std::size_t q = 0; q < m; ++q) hjv[o] += hl(o, q) * jv[q];
        CurvatureModel<double> model{[&] { return mlp(x); }, loss};
        auto gn = gauss_newton_vector_product<double>(model, params, v);
        double worst = 0, scale = 0;
        for (std::size_t i = 0; i < params.size(); ++i)
            for (std::size_t k = 0; k < params[i].size(); ++k) {
                double expected = 0;
                for (std::size_t o = 0; o < m; ++o) expected += jac[i].data()[o * params[i].size() + k] * hjv[o];
                worst = std::max(worst, std::abs(gn[i].data()[k] - expected));
                scale = std::max(scale, std::abs(expected));
            }
        BOOST_TEST(worst <= 1e-12 * std::max(scale, 1.0), name << ": worst difference " << worst);
    }
}

BOOST_AUTO_TEST_CASE(natural_gradient_with_the_penalty_converges_like_newton) {
    // ridge regression with a large lambda: the Hessian is X^T X + lambda I, which the
    // Gauss-Newton product now includes; two steps reach the optimum
    for (double lambda : {10.0, 100.0}) {
        Array<double> xv = uniform({40, 5}, 11), yv = uniform({40}, 12);
        auto X = Tensor::constant(xv), Y = Tensor::constant(yv);
        auto w = Tensor::parameter(xt::zeros<double>({std::size_t(5)}));
        CurvatureModel<double> model{[&] { return matmul(X, w); },
                                     [&](const Tensor& z) { return nn::sum_squared_error(z, Y); },
                                     [&] { return (lambda / 2) * sum(square(w)); }};
        NaturalGradient<double> ng(TensorList<double>{w}, model,
                                   {.damping = 0, .adapt_damping = false, .min_damping = 0});
        auto r = ng.minimize();
        BOOST_TEST(r.converged, "lambda " << lambda << ": " << r.message);
        BOOST_TEST(r.iterations <= 3u, "lambda " << lambda << ": " << r.iterations << " steps");
        BOOST_TEST(ng.evaluations() >= r.iterations);
    }
    // L2-regularised logistic regression: the Fisher step within a few steps of Newton's
    Logistic a(0.05), b(0.05);
    NaturalGradient<double> fisher(TensorList<double>{a.w, a.b}, a.model(), {});
    NaturalGradient<double> newton(TensorList<double>{b.w, b.b}, b.model(), {.curvature = Curvature::hessian});
    auto rf = fisher.minimize(), rn = newton.minimize();
    BOOST_TEST_MESSAGE("L2 logistic regression: Fisher " << rf.iterations << " steps, Hessian " << rn.iterations);
    BOOST_TEST(rf.converged, rf.message);
    BOOST_TEST(rn.converged, rn.message);
    BOOST_TEST(rf.iterations <= rn.iterations + 3);
    // stopped: a further step changes nothing
    Array<double> w = a.w.value();
    fisher.step();
    BOOST_TEST(a.w.value() == w);
}

namespace {
// The identity with a rule of the wrong sign: every gradient through it points uphill.
Tensor flipped(const Tensor& x) {
    return custom_op(
        "flipped", {x}, [](const TensorList<double>& in) { return Array<double>(in[0].value()); },
        [](const TensorList<double>&, const Tensor&, const Tensor& g) -> TensorList<double> { return {-g}; });
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_rule_with_the_wrong_sign_ends_every_minimize_with_a_status) {
    // No step can decrease the loss along the directions these methods compute: each must end
    // with line_search_failed (not converged), never loop for ever or claim a minimum.
    Array<double> target{1.0, -2.0, 0.5};
    auto loss_of = [&](const Tensor& z) { return 0.5 * sum(square(z - Tensor::constant(target))); };
    for (bool adapt : {false, true}) {
        auto w = Tensor::parameter(Array<double>{0.0, 0.0, 0.0});
        NaturalGradient<double> ng(TensorList<double>{w}, {[&] { return flipped(w); }, loss_of, {}},
                                   {.adapt_damping = adapt});
        auto r = ng.minimize();
        BOOST_TEST((r.status == StopReason::line_search_failed), "adapt_damping " << adapt << ": " << r.message);
        BOOST_TEST(!r.converged);
        BOOST_TEST(r.loss == 0.5 * (1.0 + 4.0 + 0.25));  // parameters unchanged
        BOOST_TEST(r.iterations < (adapt ? 200u : 2u));
        BOOST_TEST(r.message.find("a rule with a wrong sign?") != std::string::npos, r.message);
    }
    auto w = Tensor::parameter(Array<double>{0.0, 0.0, 0.0});
    LBFGS<double> lbfgs(TensorList<double>{w}, {});
    auto rl = lbfgs.minimize(closure_of(lbfgs, [&] { return loss_of(flipped(w)); }));
    BOOST_TEST((rl.status == StopReason::line_search_failed), rl.message);
    ConjugateGradient<double> cg(TensorList<double>{w}, {});
    auto rc = cg.minimize(closure_of(cg, [&] { return loss_of(flipped(w)); }));
    BOOST_TEST((rc.status == StopReason::line_search_failed), rc.message);
}

BOOST_AUTO_TEST_CASE(the_default_iteration_limit_is_finite) {
    BOOST_TEST(StopCriteria{}.max_iterations == 10000u);
}

// The loss-change criterion is relative to the loss (scipy's ftol): a change of 1e-4 in a loss
// of 1e6 is small at tolerance_change 1e-9, one of 1e-2 is not; below 1 it is absolute.
BOOST_AUTO_TEST_CASE(the_loss_change_criterion_is_relative_to_the_loss) {
    struct Probe : StoppingState {
        using StoppingState::change_small;
    };
    const StopCriteria c{.tolerance_change = 1e-9};
    BOOST_TEST(Probe().change_small(c, 1e6, 1e6 - 1e-4));
    BOOST_TEST(!Probe().change_small(c, 1e6, 1e6 - 1e-2));
    BOOST_TEST(Probe().change_small(c, -1e6, -1e6 - 1e-4));
    BOOST_TEST(Probe().change_small(c, 0.5, 0.5 - 5e-10));
    BOOST_TEST(!Probe().change_small(c, 0.5, 0.5 - 5e-9));
    Probe p;
    p.change_small(c, 1e6, 1e6 - 1e-4);
    BOOST_TEST(p.status() == StopReason::loss_change_small);
    // 0 switches the test off, even for a step that changed nothing
    BOOST_TEST(!Probe().change_small({.tolerance_change = 0}, 0.5, 0.5));
}

// Newton's method (the Hessian, CG run to the end) on L2 logistic regression reaches the
// rounding floor of the gradient as numpy's Newton does (8 steps from zero): near the minimum
// the loss cannot tell a better point from a worse one, and a full step that makes the
// gradient smaller is accepted.
BOOST_AUTO_TEST_CASE(newton_reaches_a_gradient_of_1e_12) {
    for (bool compiled : {false, true}) {
        // the loss summed over the 569 rows and the prior's alpha / 2 |w|^2 with alpha = 1 (the
        // evidence's convention): a loss of about 70, whose rounding hides the last steps' decrease
        Logistic lr(0.5);
        CurvatureModel<double> model{
            [&] { return lr.logits(); },
            [&](const Tensor& z) { return nn::binary_cross_entropy_with_logits(z, lr.t, nn::Reduction::sum); },
            [&] { return lr.penalty(); }};
        NaturalGradient<double> newton(TensorList<double>{lr.w, lr.b}, model,
                                       {.damping = 1e-10,
                                        .cg_iterations = 64,
                                        .cg_rtol = 1e-14,
                                        .curvature = Curvature::hessian,
                                        .compile = compiled,
                                        .stop = {.tolerance_grad = 1e-12, .tolerance_change = 0}});
        auto r = newton.minimize();
        BOOST_TEST_MESSAGE("Newton (compiled " << compiled << "): " << r.message << " after " << r.iterations
                                               << " steps");
        BOOST_TEST(r.status == StopReason::gradient_small, r.message);
        BOOST_TEST(r.iterations <= 10u);  // numpy's Newton (solve with H) from zero: 10 steps to 3.9e-15
        Tape tape;
        auto g = grad(model.loss(model.outputs()) + model.penalty(), {lr.w, lr.b});
        BOOST_TEST(std::max(xt::amax(xt::abs(g[0].value()))(), xt::amax(xt::abs(g[1].value()))()) <= 1e-12);
    }
}

// Issue 24: near the minimum a Newton step's whole decrease is below the loss's rounding, and
// backtracking on that noise took 1/8 steps or stopped at the "rounding floor" with |g| 1e-8.
// There the gradient judges the step: from 1e-9 off the minimum, one full step to |g| < 1e-12.
BOOST_AUTO_TEST_CASE(newton_at_the_rounding_floor_accepts_a_step_that_reduces_the_gradient) {
    Logistic lr(0.5);
    CurvatureModel<double> model = lr.model();
    NaturalGradientOptions o{.damping = 1e-10,
                             .cg_iterations = 64,
                             .cg_rtol = 1e-14,
                             .curvature = Curvature::hessian,
                             .stop = {.tolerance_grad = 1e-12, .tolerance_change = 0}};
    NaturalGradient<double>(TensorList<double>{lr.w, lr.b}, model, o).minimize();
    Array<double> off = lr.w.value();
    for (std::size_t i = 0; i < off.size(); ++i) off.data()[i] += 1e-9 * (i % 2 ? 1.0 : -1.0);
    lr.w.set_value(off);
    double before;
    {
        Tape tape;
        auto g = grad(lr.loss(), {lr.w});
        before = xt::amax(xt::abs(g[0].value()))();
    }
    BOOST_TEST(before > 1e-9);  // the perturbation shows in the gradient, not in the loss
    NaturalGradient<double> newton(TensorList<double>{lr.w, lr.b}, model, o);
    auto r = newton.minimize();
    BOOST_TEST(r.status == StopReason::gradient_small, r.message);
    BOOST_TEST(r.iterations <= 2u);
}

// The other side of the same rule: at the rounding floor a full step that leaves the loss equal
// but makes the gradient larger is not taken. A step of 2.5 Newton steps (lr 2.5) from 1e-9 off
// the minimum overshoots to a gradient 1.5 times larger, with a loss equal within rounding.
BOOST_AUTO_TEST_CASE(newton_at_the_rounding_floor_refuses_a_step_that_grows_the_gradient) {
    Logistic lr(0.5);
    CurvatureModel<double> model = lr.model();
    NaturalGradientOptions o{.damping = 1e-10,
                             .cg_iterations = 64,
                             .cg_rtol = 1e-14,
                             .curvature = Curvature::hessian,
                             .stop = {.tolerance_grad = 1e-12, .tolerance_change = 0}};
    NaturalGradient<double>(TensorList<double>{lr.w, lr.b}, model, o).minimize();
    Array<double> off = lr.w.value();
    for (std::size_t i = 0; i < off.size(); ++i) off.data()[i] += 1e-9 * (i % 2 ? 1.0 : -1.0);
    lr.w.set_value(off);
    auto gradient_norm = [&] {
        Tape tape;
        auto g = grad(lr.loss(), {lr.w, lr.b});
        return std::sqrt(xt::sum(xt::square(g[0].value()))() + xt::sum(xt::square(g[1].value()))());
    };
    const double before = gradient_norm();
    o.lr = 2.5;
    o.adapt_damping = false;
    NaturalGradient<double> overshooting(TensorList<double>{lr.w, lr.b}, model, o);
    overshooting.step();
    BOOST_TEST(gradient_norm() <= before, "|g| " << before << " -> " << gradient_norm());
}

// The step a line search returns meets the sufficient-decrease condition, not only a
// decrease: on phi(a) = (1 - 2a)^2 from a = 0.9 (phi 0.64 < 1, but above 1 + 0.4 a phi'(0),
// with a slope that meets the curvature condition) it must look further, with refinement and
// without.
BOOST_AUTO_TEST_CASE(a_line_search_step_meets_sufficient_decrease) {
    auto phi = [](double a) { return std::pair{(1 - 2 * a) * (1 - 2 * a), -4 * (1 - 2 * a)}; };
    const LineSearchOptions o{.c1 = 0.4, .c2 = 0.9, .refine = false};  // (refine would find the minimum)
    for (bool refine : {false, true}) {
        LineSearchOptions with = o;
        with.refine = refine;
        auto r = strong_wolfe(phi, 1.0, -4.0, 0.9, with);
        BOOST_TEST(r.ok);
        BOOST_TEST(r.value <= 1.0 + o.c1 * r.alpha * -4.0, "alpha " << r.alpha << ", phi " << r.value);
        BOOST_TEST(std::abs(r.slope) <= o.c2 * 4.0);
    }
}

// Martens' warm start: CG begins from 0.95 times the last step's solution. The first step has
// none and equals a cold one; the next ones differ; both runs reach the minimum's loss.
BOOST_AUTO_TEST_CASE(cg_warm_start_continues_from_the_last_solution) {
    Logistic a, b;
    NaturalGradientOptions cold{
        .cg_iterations = 2, .curvature = Curvature::hessian, .stop = {.tolerance_grad = 1e-10, .tolerance_change = 0}};
    NaturalGradientOptions warm = cold;
    warm.cg_warm_start = 0.95;
    NaturalGradient<double> c(TensorList<double>{a.w, a.b}, a.model(), cold);
    NaturalGradient<double> w(TensorList<double>{b.w, b.b}, b.model(), warm);
    c.step();
    w.step();
    BOOST_TEST((a.w.value() == b.w.value()));
    c.step();
    w.step();
    BOOST_TEST(!(a.w.value() == b.w.value()));
    auto rc = c.minimize(), rw = w.minimize();
    BOOST_TEST_MESSAGE("cold: " << rc.message << " (" << rc.iterations << "); warm: " << rw.message << " (" << rw.iterations << ")");
    BOOST_TEST(rc.converged, rc.message);
    BOOST_TEST(rw.converged, rw.message);
    BOOST_TEST(rc.loss == rw.loss, boost::test_tools::tolerance(1e-12));
    warm.cg_warm_start = 1.5;
    BOOST_CHECK_EXCEPTION(
        NaturalGradient<double>(TensorList<double>{a.w, a.b}, a.model(), warm), ValueError, [](const ValueError& e) {
            return std::string(e.what()).find("cg_warm_start must be in [0, 1], got 1.5") != std::string::npos;
        });
}
