// Beyond the slides: the lecture leaves lambda "to be determined from experience, or
// empirically". The evidence p(D | alpha, beta) of the training data chooses it without any
// held-out data (MacKay 1992): exactly for linear-Gaussian regression, through the Laplace
// approximation (exact Hessian) for logistic regression. Cross-validation is the reference:
// the claim is that the evidence's lambda lands in the cross-validation optimum's basin, by the
// one-standard-error criterion (its CV error at most the minimum's plus one standard error
// over the folds). The Laplace posterior also gives predictive uncertainty (a 1-D regression).
#include <cmath>
#include <random>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
constexpr std::size_t kFolds = 5;

struct CvPoint {
    double mean = 0, standard_error = 0;
};

CvPoint summarise(const std::vector<double>& per_fold) {
    CvPoint c;
    for (double v : per_fold) c.mean += v / double(per_fold.size());
    double var = 0;
    for (double v : per_fold) var += (v - c.mean) * (v - c.mean) / double(per_fold.size() - 1);
    c.standard_error = std::sqrt(var / double(per_fold.size()));
    return c;
}

// Rows of x (and y) selected by `rows`.
Array<double> take(const Array<double>& a, const std::vector<std::size_t>& rows) {
    return index_select(Tensor::constant(a), 0, rows).value();
}

// Fold k of kFolds: its held-out rows and the others.
void fold(const std::vector<std::size_t>& order, std::size_t k, std::vector<std::size_t>& train,
          std::vector<std::size_t>& held_out) {
    train.clear();
    held_out.clear();
    for (std::size_t i = 0; i < order.size(); ++i) (i % kFolds == k ? held_out : train).push_back(order[i]);
}

Array<double> ridge(const Array<double>& x, const Array<double>& y, double lambda) {
    auto X = Tensor::constant(x);
    std::size_t d = x.shape()[1];
    Array<double> a = matmul(transpose(X), X).value() + lambda * xt::eye<double>(d);
    return solve(Tensor::constant(a), matmul(transpose(X), Tensor::constant(y))).value();
}

// Along `grid` and at `chosen` (the evidence's choice): the cross-validated error over the
// folds of `order` (fold_error(value, train rows, held-out rows)) and the log evidence.
// Rows for plot_evidence_and_cv, and the one-standard-error basin of the best grid point.
struct Sweep {
    std::vector<std::vector<double>> rows;
    CvPoint chosen, best;
    double best_value = 0;
    bool in_basin = false;  // chosen.mean <= best.mean + best.standard_error
};

template <class FoldError, class Evidence>
Sweep sweep(std::vector<double> grid, double chosen, const std::vector<std::size_t>& order, FoldError fold_error,
            Evidence evidence) {
    Sweep s;
    grid.push_back(chosen);
    std::vector<std::size_t> train, held_out;
    for (std::size_t i = 0; i < grid.size(); ++i) {
        std::vector<double> errors;
        for (std::size_t k = 0; k < kFolds; ++k) {
            fold(order, k, train, held_out);
            errors.push_back(fold_error(grid[i], train, held_out));
        }
        CvPoint cv = summarise(errors);
        bool is_chosen = i + 1 == grid.size();
        s.rows.push_back({grid[i], evidence(grid[i]), cv.mean, cv.standard_error, is_chosen ? 1.0 : 0.0});
        if (is_chosen)
            s.chosen = cv;
        else if (i == 0 || cv.mean < s.best.mean) {
            s.best = cv;
            s.best_value = grid[i];
        }
    }
    s.in_basin = s.chosen.mean <= s.best.mean + s.best.standard_error;
    return s;
}

struct EvidencePlotText {
    std::string title, parameter, evidence_title, evidence_axis, evidence_curve, cv_axis, cv_curve;
};

// Left: log evidence along the parameter with the evidence's maximum (and MacKay's fixed point
// where it differs); right: CV error +- s.e. at the same points. Rows: parameter, log evidence,
// CV mean, CV s.e., and 0 for the grid, 1 for the maximum, 2 for MacKay's point.
void plot_evidence_and_cv(Context& ctx, const std::string& name, const std::string& parameter,
                          const std::vector<std::vector<double>>& rows, const EvidencePlotText& text,
                          const std::string& maximum_title) {
    bool mackay = false;
    for (const auto& r : rows) mackay = mackay || r[4] == 2.0;
    auto marked = [&](const std::string& y) {
        std::string s = "csv using ($5 == 1 ? $1 : 1/0):" + y + " with points pt 7 ps 1.5 lc rgb '#d62728' title '" +
                        maximum_title + "'";
        if (mackay)
            s += ", csv using ($5 == 2 ? $1 : 1/0):" + y +
                 " with points pt 5 ps 1.3 lc rgb '#9467bd' title 'MacKay fixed point'";
        return s + "\n";
    };
    std::string commands =
        "set multiplot layout 1,2 title '" + text.title + "'\n" +  //
        "set logscale x\nset xlabel '" + text.parameter + "'\nset key bottom left\n" + "set title '" +
        text.evidence_title + "'\nset ylabel '" + text.evidence_axis + "'\n" +
        "plot csv using ($5 == 0 ? $1 : 1/0):2 with lines lw 2 lc rgb '#1f77b4' title '" + text.evidence_curve + "', " +
        marked("2") +
        "set title '5-fold cross-validation'\nset ylabel '" + text.cv_axis + "'\nset key top left\n" +
        "plot csv using ($5 == 0 ? $1 : 1/0):3:4 with yerrorlines lw 2 lc rgb '#2ca02c' title '" + text.cv_curve +
        " +- s.e.', " + marked("3") + "unset multiplot";
    ctx.plot(name, {parameter, "log_evidence", "cv_mean", "cv_se", "chosen"}, rows, commands, 1200);
}

// (a) ridge regression on diabetes: the closed-form evidence
void regression_evidence(Context& ctx) {
    Array<double> x, y;
    diabetes(ctx, x, y);
    Array<double> yc = y - xt::mean(y)();
    const std::size_t n = x.shape()[0];
    auto mackay = optim::reestimate_linear_gaussian(x, yc, {.alpha = 1, .beta = 1e-3});
    double lambda_star = mackay.alpha / mackay.beta;
    ctx.note("diabetes (442 x 10): MacKay's fixed point after " + std::to_string(mackay.iterations) +
             " iterations: alpha " + sci(mackay.alpha) + ", beta " + sci(mackay.beta) + " (noise sigma " +
             fixed(1 / std::sqrt(mackay.beta), 2) + "), lambda = alpha / beta = " + fixed(lambda_star, 3) +
             ", gamma = " + fixed(mackay.gamma, 2) + " well-determined parameters of 10");

    // the fixed point against direct maximisation of the closed form (L-BFGS in log alpha, log beta)
    auto X = Tensor::constant(x), Y = Tensor::constant(yc);
    auto la = Tensor::parameter({0.0}, {1}), lb = Tensor::parameter({std::log(1e-3)}, {1});
    optim::LBFGS<double> lbfgs({la, lb}, {.stop = {.tolerance_grad = 1e-10, .tolerance_change = 0}});
    auto fit = lbfgs.minimize([&] {
        lbfgs.zero_grad();
        Tape tape;
        auto loss = -optim::linear_gaussian_log_evidence(X, Y, la, lb);
        loss.backward();
        return loss.item();
    });
    double diff = std::max(std::abs(std::exp(la.value()(0)) / mackay.alpha - 1),
                           std::abs(std::exp(lb.value()(0)) / mackay.beta - 1));
    ctx.claim("MacKay's fixed point maximises the evidence (against L-BFGS on it)", "max rel. diff " + sci(diff),
              fit.converged && diff < 1e-6);

    // the Laplace approximation, with the engine's exact Hessian, is exact here
    double laplace_value;
    {
        Tape tape;
        Array<double> a = matmul(transpose(X), X).value() * mackay.beta + mackay.alpha * xt::eye<double>(10);
        auto w = Tensor::parameter((solve(Tensor::constant(a), matmul(transpose(X), Y)) * mackay.beta).value());
        const double log2pi = std::log(2 * M_PI);
        optim::CurvatureModel<double> model{
            [&] { return matmul(X, w); },
            [&](const Tensor& z) {
                return sum(square(z - Y)) * (mackay.beta / 2) + 0.5 * double(n) * (log2pi - std::log(mackay.beta));
            },
            [&] { return sum(square(w)) * (mackay.alpha / 2) + 5.0 * (log2pi - std::log(mackay.alpha)); }};
        laplace_value = optim::Laplace<double>({w}, model).log_evidence();
    }
    double rel = std::abs(laplace_value / mackay.log_evidence - 1);
    ctx.claim("Laplace evidence (exact Hessian) = closed form for linear-Gaussian regression",
              fixed(laplace_value, 6) + " vs " + fixed(mackay.log_evidence, 6) + ", rel. diff " + sci(rel),
              rel < 1e-10);

    // evidence and 5-fold cross-validation along lambda
    std::vector<double> lambdas;
    for (double e = -2; e <= 4.0001; e += 0.25) lambdas.push_back(std::pow(10.0, e));
    auto cv_mse = [&](double lambda, const std::vector<std::size_t>& train, const std::vector<std::size_t>& held_out) {
        Array<double> w = ridge(take(x, train), take(yc, train), lambda);
        Array<double> r = take(yc, held_out) - matmul(Tensor::constant(take(x, held_out)), Tensor::constant(w)).value();
        return xt::mean(r * r)();
    };
    auto log_evidence = [&](double lambda) {
        return optim::linear_gaussian_log_evidence(X, Y, Tensor::scalar(std::log(lambda * mackay.beta)),
                                                   Tensor::scalar(std::log(mackay.beta)))
            .item();
    };
    Sweep along = sweep(lambdas, lambda_star, nn::shuffled_indices(n, 3), cv_mse, log_evidence);
    ctx.claim("diabetes: the evidence's lambda is in the CV basin (CV MSE <= min + 1 s.e.)",
              "lambda " + fixed(lambda_star, 2) + ": CV MSE " + fixed(along.chosen.mean, 1) + " vs min " +
                  fixed(along.best.mean, 1) + " + s.e. " + fixed(along.best.standard_error, 1) + " at lambda " +
                  fixed(along.best_value, 2),
              along.in_basin);
    plot_evidence_and_cv(ctx, "evidence_diabetes", "lambda", along.rows,
                         {"diabetes ridge regression: the evidence of the training data chooses lambda",
                          "lambda = alpha / beta", "log evidence (beta at its estimate)", "log p(y | lambda)",
                          "closed form", "held-out mean squared error", "CV MSE"},
                         "evidence maximum (MacKay fixed point)");
}

// (b) logistic regression on breast cancer: the Laplace evidence, its exact maximum over the
// weights' precision with the intercept unpenalised (a flat prior), against MacKay's update
void classification_evidence(Context& ctx) {
    auto data = breast_cancer(ctx);
    const Array<double>& x = data.x_train;  // standardised; the intercept is a parameter of its own
    Array<double> t = column(data.y_train);
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    auto nll = [](const Tensor& z, const Tensor& target) {
        return nn::binary_cross_entropy_with_logits(z, target, nn::Reduction::sum);
    };
    // the model on rows (xs, ts): logits xs w + b; w has the prior N(0, I / alpha), b a flat one
    struct Model {
        Tensor X, T, w, b;
        std::vector<optim::PriorGroup<double>> groups;
        optim::CurvatureModel<double> data_model;
    };
    auto model_on = [&](const Array<double>& xs, const Array<double>& ts) {
        auto m = std::make_shared<Model>();
        m->X = Tensor::constant(xs);
        m->T = Tensor::constant(ts);
        m->w = Tensor::parameter(xt::zeros<double>({d, std::size_t(1)}));
        m->b = Tensor::parameter(xt::zeros<double>({std::size_t(1)}));
        m->groups = {{"weights", {m->w}}, {"intercept", {m->b}, false}};
        Model* raw = m.get();
        m->data_model = {[raw] { return matmul(raw->X, raw->w) + raw->b; },
                         [raw, nll](const Tensor& z) { return nll(z, raw->T); }, {}};
        return m;
    };
    auto full = model_on(x, t);
    // the evidence at alpha, the MAP fitted by Newton's method first
    auto log_evidence = [&](double alpha) {
        optim::fit_map_newton(full->groups, full->data_model, {alpha, 0.0});
        return optim::laplace_evidence_gradient(full->groups, full->data_model, {alpha, 0.0}).log_evidence;
    };
    auto mackay = optim::maximize_evidence(full->groups, full->data_model, {},
                                           {.method = optim::EvidenceMethod::mackay});
    auto exact = optim::maximize_evidence(full->groups, full->data_model);
    const double alpha = exact.alphas[0];
    ctx.note("breast cancer (training split, " + std::to_string(n) + " x " + std::to_string(d) +
             ", intercept unpenalised): the evidence's maximum alpha " + fixed(alpha, 4) + " (gamma = " +
             fixed(exact.gammas[0], 2) + " of " + std::to_string(d) + " weights) after " +
             std::to_string(exact.iterations) + " quasi-Newton steps and " + std::to_string(exact.fits) +
             " MAP fits; MacKay's fixed point alpha " + fixed(mackay.alphas[0], 4) + ", " +
             fixed(exact.log_evidence - mackay.log_evidence, 4) + " nats below the maximum, where the exact "
             "gradient in log alpha is " + sci(mackay.gradient[0]));
    // an independent check of the maximum: golden section on the evidence, then secants on its
    // central difference in log alpha
    double lo = std::log(alpha) - 2, hi = std::log(alpha) + 2, golden = (std::sqrt(5.0) - 1) / 2;
    auto at = [&](double log_alpha) { return log_evidence(std::exp(log_alpha)); };
    for (int k = 0; k < 30; ++k) {
        double a = hi - golden * (hi - lo), b = lo + golden * (hi - lo);
        (at(a) > at(b) ? hi : lo) = (at(a) > at(b) ? b : a);
    }
    auto slope = [&](double u) { return (at(u + 1e-3) - at(u - 1e-3)) / 2e-3; };
    double u0 = lo, u1 = hi, s0 = slope(u0), s1 = slope(u1);
    for (int k = 0; k < 20 && std::abs(u1 - u0) > 1e-12 && s1 != s0; ++k) {
        double u2 = u1 - s1 * (u1 - u0) / (s1 - s0);
        u0 = u1, s0 = s1, u1 = u2, s1 = slope(u1);
    }
    const double searched = std::exp(u1);
    ctx.claim("breast cancer: maximize_evidence's alpha is the evidence's maximum (a 1-D search, to 1e-6)",
              "alpha " + sci(alpha) + " vs " + sci(searched) + " (rel. diff " + sci(std::abs(alpha / searched - 1)) +
                  "); gradient in log alpha " + sci(exact.gradient[0]),
              exact.converged && std::abs(alpha / searched - 1) < 1e-6);
    ctx.claim("breast cancer: MacKay's update lands measurably off the maximum (exact gradient != 0)",
              "alpha " + fixed(mackay.alphas[0], 4) + " vs " + fixed(alpha, 4) + " (" +
                  fixed(100 * (mackay.alphas[0] / alpha - 1), 1) + " %), gradient " + sci(mackay.gradient[0]),
              mackay.converged && std::abs(mackay.gradient[0]) > 1e-4 && mackay.log_evidence < exact.log_evidence);

    std::vector<double> alphas;
    for (double e = -3; e <= 2.0001; e += 0.25) alphas.push_back(std::pow(10.0, e));
    auto cv_log_loss = [&](double a, const std::vector<std::size_t>& train, const std::vector<std::size_t>& held_out) {
        auto m = model_on(take(x, train), take(t, train));
        optim::fit_map_newton(m->groups, m->data_model, {a, 0.0});
        NoGrad no_grad;
        auto z = matmul(Tensor::constant(take(x, held_out)), m->w) + m->b;
        return nll(z, Tensor::constant(take(t, held_out))).item() / double(held_out.size());
    };
    Sweep along = sweep(alphas, alpha, nn::shuffled_indices(n, 4), cv_log_loss, log_evidence);
    {
        std::vector<double> errors;
        std::vector<std::size_t> train, held_out, order = nn::shuffled_indices(n, 4);
        for (std::size_t k = 0; k < kFolds; ++k) {
            fold(order, k, train, held_out);
            errors.push_back(cv_log_loss(mackay.alphas[0], train, held_out));
        }
        CvPoint cv = summarise(errors);
        along.rows.push_back({mackay.alphas[0], log_evidence(mackay.alphas[0]), cv.mean, cv.standard_error, 2.0});
    }
    ctx.claim("breast cancer: the evidence's alpha is in the CV basin (CV log loss <= min + 1 s.e.)",
              "alpha " + fixed(alpha, 3) + ": CV log loss " + fixed(along.chosen.mean, 4) + " vs min " +
                  fixed(along.best.mean, 4) + " + s.e. " + fixed(along.best.standard_error, 4) + " at alpha " +
                  fixed(along.best_value, 3),
              along.in_basin);
    plot_evidence_and_cv(ctx, "evidence_breast_cancer", "alpha", along.rows,
                         {"breast cancer logistic regression: the Laplace evidence chooses the weight decay",
                          "alpha (weight decay; intercept unpenalised)", "log evidence (Laplace, exact Hessian)",
                          "log p(t | alpha)", "Laplace estimate", "held-out log loss per sample", "CV log loss"},
                         "evidence maximum");
}

// (c) predictive uncertainty of a Bayesian linear model with Gaussian bumps as features
Array<double> bumps(const Array<double>& u) {
    const std::size_t k = 13;
    Array<double> f = Array<double>::from_shape({u.size(), k + 1});
    for (std::size_t i = 0; i < u.size(); ++i) {
        for (std::size_t j = 0; j < k; ++j) {
            double c = -6.0 + 12.0 * double(j) / double(k - 1);
            f(i, j) = std::exp(-0.5 * (u(i) - c) * (u(i) - c));
        }
        f(i, k) = 1.0;
    }
    return f;
}

void predictive_uncertainty(Context& ctx) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> left(-4.0, -1.0), right(1.5, 3.0);
    std::normal_distribution<double> noise(0.0, 0.2);
    auto truth = [](double u) { return std::sin(u) + 0.3 * u; };
    const std::size_t n = 100;
    Array<double> u = Array<double>::from_shape({n}), y = Array<double>::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) {
        u(i) = i % 2 ? left(rng) : right(rng);
        y(i) = truth(u(i)) + noise(rng);
    }
    Array<double> phi = bumps(u);
    auto mackay = optim::reestimate_linear_gaussian(phi, y, {.alpha = 1, .beta = 1});
    auto X = Tensor::constant(phi), Y = Tensor::constant(y);
    const std::size_t d = phi.shape()[1];
    Array<double> a = matmul(transpose(X), X).value() * mackay.beta + mackay.alpha * xt::eye<double>(d);
    Tape tape;
    auto w = Tensor::parameter((solve(Tensor::constant(a), matmul(transpose(X), Y)) * mackay.beta).value());
    optim::CurvatureModel<double> model{[&] { return matmul(X, w); },
                                        [&](const Tensor& z) { return sum(square(z - Y)) * (mackay.beta / 2); },
                                        [&] { return sum(square(w)) * (mackay.alpha / 2); }};
    optim::Laplace<double> posterior({w}, model);
    // predictive N(phi(u)^T w, 1/beta + phi(u)^T H^-1 phi(u)) on a grid
    std::vector<std::vector<double>> rows;
    double sd_gap = 0, sd_data = 0;
    for (double g = -6; g <= 6.0001; g += 0.05) {
        Array<double> f = bumps(Array<double>{g});
        f.reshape({d});
        double mean = xt::sum(f * w.value())();
        double sd = std::sqrt(1 / mackay.beta + posterior.variance_along({f}));
        if (std::abs(g - 0.25) < 1e-9) sd_gap = sd;
        if (std::abs(g + 2.5) < 1e-9) sd_data = sd;
        rows.push_back({g, mean, mean - 2 * sd, mean + 2 * sd, truth(g), 0});
    }
    for (std::size_t i = 0; i < n; ++i) rows.push_back({u(i), y(i), 0, 0, 0, 1});
    // coverage of fresh points where the data are
    std::size_t inside = 0, fresh = 2000;
    for (std::size_t i = 0; i < fresh; ++i) {
        double ui = i % 2 ? left(rng) : right(rng), yi = truth(ui) + noise(rng);
        Array<double> f = bumps(Array<double>{ui});
        f.reshape({d});
        double mean = xt::sum(f * w.value())(), sd = std::sqrt(1 / mackay.beta + posterior.variance_along({f}));
        inside += std::abs(yi - mean) <= 2 * sd;
    }
    double coverage = double(inside) / double(fresh);
    double sigma = 1 / std::sqrt(mackay.beta);
    ctx.claim("the evidence recovers the noise level from 100 points (sigma within 15 % of the true 0.2)",
              "sigma " + fixed(sigma, 3) + ", gamma " + fixed(mackay.gamma, 2) + " of " + std::to_string(d),
              std::abs(sigma / 0.2 - 1) < 0.15);
    ctx.note("the +-2 s.d. band holds " + fixed(100 * coverage, 1) +
             " % of 2000 fresh points drawn where the data are "
             "(a Bayesian band from one small sample, not a frequentist guarantee: the prior pulls the mean to 0)");
    ctx.claim("the predictive s.d. grows where there are no data (x = 0.25 vs -2.5)",
              fixed(sd_gap, 3) + " vs " + fixed(sd_data, 3), sd_gap > 1.5 * sd_data);
    ctx.plot("evidence_predictive", {"x", "y", "low", "high", "truth", "data"}, rows,
             "set title 'Bayesian linear regression, alpha and beta from the evidence: predictive mean +- 2 s.d.'\n"
             "set xlabel 'x'\nset ylabel 'y'\nset key top left\n"
             "plot csv using ($6 == 0 ? $1 : 1/0):3:4 with filledcurves fc rgb '#c6dbef' title 'mean +- 2 s.d.', "
             "csv using ($6 == 0 ? $1 : 1/0):2 with lines lw 2 lc rgb '#1f77b4' title 'predictive mean', "
             "csv using ($6 == 0 ? $1 : 1/0):5 with lines lw 2 dt 2 lc rgb 'black' title 'sin(x) + 0.3 x', "
             "csv using ($6 == 1 ? $1 : 1/0):2 with points pt 7 ps 1 lc rgb '#d62728' title 'training data'");
}
}  // namespace

void evidence_chooses_weight_decay(Context& ctx) {
    regression_evidence(ctx);
    classification_evidence(ctx);
    predictive_uncertainty(ctx);
}

}  // namespace lecture
