// Second-order methods: nonlinear CG on a quadratic (n-step termination) and on Rosenbrock
// (against scipy's iteration count), L-BFGS, the linear CG solver, the natural-gradient step.
#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::optim;
using namespace xtgrad::testing;

namespace {
struct Quadratic {  // f(x) = 0.5 x^T A x - b^T x, A = M^T M + I
    Array<double> A, b, solution;
    explicit Quadratic(std::size_t n) {
        Array<double> M = uniform({n, n}, 3);
        A = Array<double>(xt::zeros<double>({n, n}));
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) {
                for (std::size_t k = 0; k < n; ++k) A(i, j) += M(k, i) * M(k, j);
                if (i == j) A(i, j) += 1.0;
            }
        b = uniform({n}, 4);
        // solve A x = b by Gaussian elimination (A is SPD and small)
        Array<double> m = A, r = b;
        for (std::size_t c = 0; c < n; ++c)
            for (std::size_t row = c + 1; row < n; ++row) {
                double f = m(row, c) / m(c, c);
                for (std::size_t k = c; k < n; ++k) m(row, k) -= f * m(c, k);
                r(row) -= f * r(c);
            }
        solution = Array<double>(xt::zeros<double>({n}));
        for (std::size_t c = n; c-- > 0;) {
            double s = r(c);
            for (std::size_t k = c + 1; k < n; ++k) s -= m(c, k) * solution(k);
            solution(c) = s / m(c, c);
        }
    }
    Tensor value(const Tensor& x) const {
        return 0.5 * dot(x, matmul(Tensor::constant(A), x)) - dot(Tensor::constant(b), x);
    }
};

template <class Opt>
Closure closure_of(Opt& opt, const std::function<Tensor()>& f) {
    return [&opt, f] {
        opt.zero_grad();
        Tape tape;
        auto loss = f();
        loss.backward();
        return loss.item();
    };
}

Tensor rosenbrock(const Tensor& p) {
    auto x = slice(p, 0, 0, 1), y = slice(p, 0, 1, 2);
    return sum(square(1.0 - x) + 100.0 * square(y - square(x)));
}
}  // namespace

BOOST_AUTO_TEST_CASE(conjugate_gradient_terminates_on_a_quadratic_in_n_iterations) {
    const std::size_t n = 10;
    Quadratic q(n);
    for (auto formula : {ConjugateGradientFormula::fletcher_reeves, ConjugateGradientFormula::polak_ribiere_plus,
                         ConjugateGradientFormula::hestenes_stiefel, ConjugateGradientFormula::dai_yuan}) {
        auto x = Tensor::parameter(xt::zeros<double>({n}));
        // exact line searches (refine) make CG end in n iterations on a quadratic
        ConjugateGradient<double> cg(TensorList<double>{x}, {.formula = formula,
                                                             .stop = {.tolerance_grad = 0, .tolerance_change = 0},
                                                             .line_search = {.c2 = 0.1, .refine = true}});
        auto closure = closure_of(cg, [&] { return q.value(x); });
        for (std::size_t k = 0; k < n; ++k) cg.step(closure);
        double err = xt::amax(xt::abs(x.value() - q.solution))();
        BOOST_TEST(err < 1e-10, "formula " << int(formula) << ": error " << err << " after " << n << " iterations");
    }
}

namespace {
// The array of `state` whose name ends in `suffix` (one parameter here).
Array<double> state_entry(const nn::NamedArrays<double>& state, const std::string& suffix) {
    for (auto& [name, a] : state)
        if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            return a;
    return {};
}
}  // namespace

// Each direction is -g + beta d_prev with beta from its formula's definition (Nocedal and
// Wright, 5.41-5.49), checked on Rosenbrock, where inexact line searches make the four
// formulas differ (on a quadratic with exact searches they coincide); PR+ is
// max(0, PR), and a clamped step (PR < 0) must occur here.
BOOST_AUTO_TEST_CASE(each_conjugate_gradient_direction_follows_its_formula) {
    std::size_t clamped = 0;
    for (auto formula : {ConjugateGradientFormula::fletcher_reeves, ConjugateGradientFormula::polak_ribiere_plus,
                         ConjugateGradientFormula::hestenes_stiefel, ConjugateGradientFormula::dai_yuan}) {
        auto p = Tensor::parameter(Array<double>{-1.2, 1.0});
        ConjugateGradient<double> cg(TensorList<double>{p}, {.formula = formula, .restart_every = 1000});
        auto closure = closure_of(cg, [&] { return rosenbrock(p); });
        cg.step(closure);
        std::size_t checked = 0;
        for (int k = 0; k < 25; ++k) {
            auto before = cg.state();
            Array<double> g0 = state_entry(before, ".grad_prev"), d0 = state_entry(before, ".dir_prev");
            cg.step(closure);
            auto after = cg.state();
            Array<double> g = state_entry(after, ".grad_prev"), d = state_entry(after, ".dir_prev");
            if (g0.size() == 0 || g.size() == 0) continue;  // a line search without the Wolfe conditions restarts
            const Array<double> y = g - g0;
            const double gg = xt::sum(g * g)(), gy = xt::sum(g * y)(), g0g0 = xt::sum(g0 * g0)(),
                         dy = xt::sum(d0 * y)();
            double beta = 0;
            switch (formula) {
                case ConjugateGradientFormula::fletcher_reeves: beta = gg / g0g0; break;
                case ConjugateGradientFormula::polak_ribiere_plus:
                    beta = std::max(0.0, gy / g0g0);
                    clamped += gy < 0;
                    break;
                case ConjugateGradientFormula::hestenes_stiefel: beta = gy / dy; break;
                case ConjugateGradientFormula::dai_yuan: beta = gg / dy; break;
            }
            Array<double> expected = -g + beta * d0;
            if (!(xt::sum(g * expected)() < 0)) expected = -g;  // not a descent direction: steepest descent
            BOOST_TEST(xt::amax(xt::abs(d - expected))() <= 1e-12 * (1 + xt::amax(xt::abs(d))()),
                       "formula " << int(formula) << ", iteration " << k + 2 << ": direction " << d(0) << ", " << d(1)
                                  << " against " << expected(0) << ", " << expected(1));
            ++checked;
            if (xt::amax(xt::abs(g))() < 1e-6) break;
        }
        BOOST_TEST(checked >= 10u, "formula " << int(formula) << ": " << checked << " directions checked");
    }
    BOOST_TEST(clamped >= 1u, "PR+ never clamped a negative beta on this run");
}

namespace {
// Iterates until the largest gradient component is at most 1e-5, as scipy's gtol = 1e-5 does.
template <class Opt>
void rosenbrock_counts(const char* name, std::size_t max_iterations, std::size_t max_calls) {
    auto p = Tensor::parameter(Array<double>{-1.2, 1.0});
    Opt opt(TensorList<double>{p}, {.stop = {.tolerance_grad = 1e-5, .tolerance_change = 0, .max_iterations = 500}});
    std::size_t calls = 0;
    auto closure = closure_of(opt, [&] {
        ++calls;
        return rosenbrock(p);
    });
    auto result = opt.minimize(closure);
    BOOST_TEST_MESSAGE(name << " on Rosenbrock: " << result.iterations << " iterations, " << calls << " closure calls; "
                            << result.message);
    BOOST_TEST(result.status == StopReason::gradient_small, name << ": " << result.message);
    BOOST_TEST(result.evaluations == calls);
    BOOST_TEST(result.iterations <= max_iterations, name << ": " << result.iterations << " iterations");
    BOOST_TEST(calls <= max_calls, name << ": " << calls << " closure calls");
    BOOST_TEST(xt::amax(xt::abs(p.value() - 1.0))() < 1e-4);
}
}  // namespace

// scipy 1.10 from (-1.2, 1) with gtol 1e-5: CG (Polak-Ribiere) 36 iterations and 78
// evaluations; L-BFGS-B about 45 evaluations.
BOOST_AUTO_TEST_CASE(conjugate_gradient_solves_rosenbrock_as_fast_as_scipy) {
    rosenbrock_counts<ConjugateGradient<double>>("nonlinear CG (PR+)", 36, 80);
}

// The last history_size pairs are kept, no more and no fewer, the newest last: after six
// iterations with a history of 3, pairs of iterations 4, 5 and 6.
BOOST_AUTO_TEST_CASE(lbfgs_keeps_exactly_its_history_size_of_pairs) {
    const std::size_t n = 8;
    Quadratic q(n);
    for (std::size_t history : {1, 3, 5}) {
        auto x = Tensor::parameter(xt::zeros<double>({n}));
        LBFGS<double> opt(TensorList<double>{x}, {.history_size = history, .stop = {.tolerance_grad = 0,
                                                                                    .tolerance_change = 0}});
        auto closure = closure_of(opt, [&] { return q.value(x); });
        std::vector<Array<double>> steps;
        for (int k = 0; k < 6; ++k) {
            Array<double> before = x.value();
            opt.step(closure);
            steps.push_back(x.value() - before);
        }
        auto state = opt.state();
        double kept = -1;
        for (auto& [name, a] : state)
            if (name == "lbfgs.history") kept = a();
        BOOST_TEST(kept == double(history), "history " << history << ": " << kept << " pairs kept");
        // the newest pair is the last step taken
        Array<double> newest = state_entry(state, ".s" + std::to_string(history - 1));
        BOOST_TEST(xt::amax(xt::abs(newest - steps.back()))() < 1e-15);
    }
}

BOOST_AUTO_TEST_CASE(lbfgs_solves_rosenbrock_as_fast_as_scipy) {
    rosenbrock_counts<LBFGS<double>>("L-BFGS", 37, 46);
}

BOOST_AUTO_TEST_CASE(linear_cg_solver) {
    const std::size_t n = 12;
    Quadratic q(n);
    LinearOperator<double> A = [&](const ParamVector<double>& v) {
        Array<double> out = xt::zeros<double>({n});
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) out(i) += q.A(i, j) * v[0](j);
        return ParamVector<double>{out};
    };
    ParamVector<double> x;
    auto r = linear_cg<double>(A, {q.b}, x, {.max_iterations = 100, .rtol = 1e-12});
    BOOST_TEST(r.converged);
    BOOST_TEST(r.relative_residual <= 1e-12);
    BOOST_TEST(r.iterations <= n + 3);  // n in exact arithmetic; rounding costs a few more at 1e-12
    BOOST_TEST(xt::amax(xt::abs(x[0] - q.solution))() < 1e-10);
    // a Jacobi preconditioner gives the same solution
    Array<double> diag = Array<double>::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) diag(i) = q.A(i, i);
    ParamVector<double> y;
    auto rp = linear_cg<double>(A, {q.b}, y, {.rtol = 1e-12, .preconditioner = [&](const ParamVector<double>& v) {
                                                  return ParamVector<double>{Array<double>(v[0] / diag)};
                                              }});
    BOOST_TEST(rp.converged);
    BOOST_TEST(xt::amax(xt::abs(y[0] - q.solution))() < 1e-10);
    // an iteration cap is reported as not converged
    ParamVector<double> z;
    auto capped = linear_cg<double>(A, {q.b}, z, {.max_iterations = 2});
    BOOST_TEST(!capped.converged);
    BOOST_TEST(capped.iterations == 2u);
    BOOST_TEST(capped.relative_residual > 1e-6);
    // an indefinite operator is detected
    LinearOperator<double> indefinite = [](const ParamVector<double>& v) {
        return ParamVector<double>{Array<double>(v[0] * Array<double>{1.0, -1.0})};
    };
    ParamVector<double> w;
    auto neg = linear_cg<double>(indefinite, {Array<double>{0.0, 1.0}}, w);
    BOOST_TEST(neg.negative_curvature);
    // an operator that returns the wrong shape is an error, not an out-of-bounds read
    LinearOperator<double> wrong = [](const ParamVector<double>&) { return ParamVector<double>{Array<double>{1.0}}; };
    ParamVector<double> u;
    expect_error<ShapeError>(
        [&] {
            linear_cg<double>(wrong, {Array<double>{0.0, 1.0}}, u);
        },
        "linear_cg: the operator returned part 0 of shape [1] for one of shape [2]");
}

namespace {
struct Logistic {  // logistic regression on the breast cancer data, standardized
    Tensor x, t, w, b;
    Logistic() {
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
    Tensor penalty() const { return 5e-3 * (sum(square(w)) + sum(square(b))); }
    Tensor loss_of(const Tensor& z) const { return data_loss(z) + penalty(); }
    CurvatureModel<double> model() const {
        return {[this] { return logits(); }, [this](const Tensor& z) { return data_loss(z); },
                [this] { return penalty(); }};
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(fisher_vector_product_of_logistic_regression_is_explicit) {
    Logistic lr;
    lr.w.set_value(uniform({30, 1}, 5, 0.0, 0.2));
    // F v = J^T diag(p (1 - p)) J v / N + 0.01 v, with J = [X 1]; the penalty's Hessian is 0.01 I
    Array<double> vw = uniform({30, 1}, 6), vb = {0.3};
    auto fv = gauss_newton_vector_product<double>(lr.model(), {lr.w, lr.b}, {vw, vb});
    Array<double> z;
    {
        NoGrad no_grad;
        z = lr.logits().value();
    }
    const std::size_t N = z.shape()[0];
    Array<double> expected_w = xt::zeros<double>({30, 1});
    double expected_b = 0;
    for (std::size_t n = 0; n < N; ++n) {
        double p = 1 / (1 + std::exp(-z(n, 0)));
        double jv = vb(0);
        for (std::size_t j = 0; j < 30; ++j) jv += lr.x.value()(n, j) * vw(j, 0);
        double h = p * (1 - p) * jv / double(N);
        for (std::size_t j = 0; j < 30; ++j) expected_w(j, 0) += lr.x.value()(n, j) * h;
        expected_b += h;
    }
    expected_w += 0.01 * vw;
    expected_b += 0.01 * vb(0);
    BOOST_TEST(xt::amax(xt::abs(fv[0] - expected_w))() < 1e-14);
    BOOST_TEST(std::abs(fv[1](0) - expected_b) < 1e-14);
}

BOOST_AUTO_TEST_CASE(natural_gradient_beats_sgd_on_a_convex_problem) {
    // the optimum, from many Newton-CG steps
    Logistic reference;
    NaturalGradient<double> newton(TensorList<double>{reference.w, reference.b}, reference.model(),
                                   {.cg_iterations = 50, .curvature = Curvature::hessian});
    for (int i = 0; i < 30; ++i) newton.step();
    double best = newton.last_report().loss_after;

    Logistic lr;
    NaturalGradient<double> ng(TensorList<double>{lr.w, lr.b}, lr.model(), {});
    std::size_t ng_iterations = 0;
    do {
        ng.step();
        ++ng_iterations;
        BOOST_TEST(ng.last_report().accepted);
    } while (ng_iterations < 50 && ng.last_report().loss_after - best > 1e-6 * best);
    Logistic lr2;
    SGD<double> sgd(TensorList<double>{lr2.w, lr2.b}, {.lr = 0.5});
    auto closure = closure_of(sgd, [&] { return lr2.loss_of(lr2.logits()); });
    double sgd_loss = 0;
    for (std::size_t i = 0; i < 20 * ng_iterations; ++i) sgd_loss = sgd.step(closure);
    BOOST_TEST_MESSAGE("natural gradient: " << ng_iterations << " steps to within 1e-6 of the optimum " << best
                                            << "; SGD after " << 20 * ng_iterations << " steps: " << sgd_loss);
    BOOST_TEST(ng_iterations <= 25u);
    BOOST_TEST(sgd_loss - best > 1e-6 * best);  // twenty times as many SGD steps are not enough
}

BOOST_AUTO_TEST_CASE(natural_gradient_rejects_a_bad_step_and_adapts_damping) {
    Logistic lr;
    NaturalGradient<double> ng(TensorList<double>{lr.w, lr.b}, lr.model(), {.lr = 1e6, .max_backtracks = 0});
    Array<double> before = lr.w.value();
    double damping = ng.damping();
    ng.step();
    BOOST_TEST(!ng.last_report().accepted);
    BOOST_TEST(lr.w.value() == before);
    BOOST_TEST(ng.damping() == damping * 1.5);
    expect_error<ValueError>([&] { NaturalGradient<double>(TensorList<double>{lr.w}, lr.model(), {.lr = -1}); },
                             "NaturalGradient: lr must be > 0");
}

namespace {
// A softmax classifier with a hidden layer on the iris data, with weight decay.
struct Classifier {
    Tensor x, y, w1, b1, w2, b2;
    explicit Classifier(std::uint64_t seed) {
        auto data = nn::load_csv(std::string(XTGRAD_DATA_DIR) + "/iris.csv", {.header_lines = 1});
        nn::Standardizer s;
        s.fit(data.features);
        x = Tensor::constant(s.transform(data.features));
        Array<double> onehot = xt::zeros<double>({data.target.size(), std::size_t(3)});
        for (std::size_t n = 0; n < data.target.size(); ++n) onehot(n, std::size_t(data.target(n))) = 1;
        y = Tensor::constant(onehot);
        w1 = param({4, 8}, seed, 0.1, 0.5), b1 = param({8}, seed + 1, 0.0, 0.1);
        w2 = param({8, 3}, seed + 2, 0.1, 0.5), b2 = param({3}, seed + 3, 0.0, 0.1);
    }
    TensorList<double> params() const { return {w1, b1, w2, b2}; }
    Tensor logits() const { return matmul(tanh(matmul(x, w1) + b1), w2) + b2; }
    CurvatureModel<double> model(bool generic) const {
        // mean cross entropy (H_L in closed form), or a loss whose H_L has no closed form
        std::function<Tensor(const Tensor&)> loss = [this](const Tensor& z) {
            return neg(sum(log_softmax(z, 1) * y)) * (1.0 / 150);
        };
        if (generic) loss = [](const Tensor& z) { return sum(exp(z * 0.5)) * (1.0 / 150); };
        return {[this] { return logits(); }, loss, [this] { return 1e-3 * (sum(square(w1)) + sum(square(w2))); }};
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(a_compiled_natural_gradient_step_follows_the_eager_one) {
    // With one CG iteration the steps agree to rounding. With ten, linear CG on the damped
    // curvature amplifies the products' last-bit differences (the compiled ones sum in another
    // order): measured 1e-10 to 3e-8 relative after six steps, bounded here by 1e-6.
    for (std::size_t cg : {1, 10})
    for (Curvature curvature : {Curvature::fisher, Curvature::hessian})
        for (bool generic : {false, true}) {
            const double tolerance = cg == 1 ? 1e-12 : 1e-6;
            Classifier eager(7), compiled(7);
            NaturalGradientOptions o{.cg_iterations = cg, .curvature = curvature};
            NaturalGradient<double> a(eager.params(), eager.model(generic), o);
            o.compile = true;
            NaturalGradient<double> b(compiled.params(), compiled.model(generic), o);
            for (int step = 0; step < 6; ++step) {
                a.step();
                b.step();
                const auto &ra = a.last_report(), &rb = b.last_report();
                // the same steps up to rounding: the compiled products sum in another order
                BOOST_TEST(rb.accepted == ra.accepted);
                BOOST_TEST(std::abs(rb.loss_before - ra.loss_before) <= tolerance * std::abs(ra.loss_before));
                BOOST_TEST(std::abs(rb.loss_after - ra.loss_after) <= tolerance * std::abs(ra.loss_after),
                           "step " << step << " generic " << generic << ": " << rb.loss_after << " vs "
                                   << ra.loss_after);
                BOOST_TEST(rb.cg.iterations == ra.cg.iterations);
            }
            BOOST_TEST(a.last_report().loss_after < a.last_report().loss_before);
        }
}

BOOST_AUTO_TEST_CASE(a_compiled_step_refuses_a_model_whose_data_changed) {
    Classifier c(3);
    NaturalGradient<double> ng(c.params(), c.model(false), {.cg_iterations = 5, .compile = true});
    ng.step();
    c.x = Tensor::constant(Array<double>(c.x.value() * 1.1));  // another batch, read by the captured model
    expect_error<TraceError>([&] { ng.step(); }, "the model reads something besides the parameters");
}
