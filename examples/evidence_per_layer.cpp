// Beyond the slides: one weight decay for a whole network is not even consistent. Measure the
// input in other units (x -> 10 x) and the same function needs first-layer weights ten times
// smaller, so a prior that was right for the output layer is now a hundred times too weak or
// strong for the first (MacKay 1992; Bishop, PRML 5.5.1). One precision per layer fixes that,
// and the evidence chooses all of them at once: the exact total derivative of the Laplace
// evidence in each log alpha (the MAP's movement included), maximised by quasi-Newton steps.
// A 1-3-1 tanh network on 60 noisy points of a smooth curve, the noise level known; the Laplace
// approximation uses the exact Hessian, so every MAP fit must be a strict minimum.
#include <algorithm>
#include <cmath>
#include <random>

#include "support/lecture.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
constexpr double kSigma = 0.1;  // the noise's standard deviation, known
constexpr std::size_t kHidden = 3;

double truth(double x) {
    return std::sin(1.5 * x + 0.7) + 0.2 * x;
}

// A 1-3-1 tanh network on (x, y) with Gaussian noise of precision 1 / kSigma^2, its parameters
// in prior groups: per layer (hidden weights, hidden biases, output weights) or one group for
// all three; the output bias has a flat prior either way.
struct Net {
    std::shared_ptr<nn::MLP<double>> mlp;
    Tensor X, Y;
    std::vector<optim::PriorGroup<double>> groups;
    optim::CurvatureModel<double> data_model;
};

std::shared_ptr<Net> make_net(const Array<double>& x, const Array<double>& y, bool per_layer) {
    auto net = std::make_shared<Net>();
    std::mt19937_64 rng(3);
    net->mlp = std::make_shared<nn::MLP<double>>(std::vector<std::size_t>{1, kHidden, 1}, nn::Activation::tanh, rng);
    net->X = Tensor::constant(x);
    net->Y = Tensor::constant(y);
    Tensor w1, b1, w2, b2;
    for (auto& [name, p] : net->mlp->named_parameters()) {
        if (name == "0.weight")
            w1 = p;
        else if (name == "0.bias")
            b1 = p;
        else if (name == "2.weight")
            w2 = p;
        else if (name == "2.bias")
            b2 = p;
        else
            throw std::logic_error("evidence_per_layer: the MLP has a parameter '" + name + "' no prior group holds");
    }
    if (per_layer)
        net->groups = {
            {"hidden weights", {w1}}, {"hidden biases", {b1}}, {"output weights", {w2}}, {"output bias", {b2}, false}};
    else
        net->groups = {{"all weights and hidden biases", {w1, b1, w2}}, {"output bias", {b2}, false}};
    Net* raw = net.get();
    const double n = double(x.shape()[0]), beta = 1 / (kSigma * kSigma);
    net->data_model = {[raw] { return (*raw->mlp)(raw->X); },
                       [raw, n, beta](const Tensor& z) {  // -log N(y | z, 1/beta), every constant kept
                           return sum(square(z - raw->Y)) * (beta / 2) + 0.5 * n * std::log(2 * M_PI / beta);
                       },
                       {}};
    return net;
}

// The MAP fit for `alphas`, from where the parameters are: L-BFGS, then Newton's method to the
// rounding floor (the evidence's gradient is only as good as the fit). Newton refuses a point
// whose Hessian is indefinite (a saddle, where L-BFGS can stall, as at a unit switched off):
// then a small random kick and another try, as the Laplace approximation needs a strict minimum.
void fit_map(Net& net, const std::vector<double>& alphas) {
    auto params = net.mlp->parameters();
    std::mt19937_64 rng(11);
    std::normal_distribution<double> kick(0.0, 0.05);
    for (int attempt = 0;; ++attempt) {
        optim::LBFGS<double> lbfgs(params, {.stop = {.tolerance_grad = 1e-9, .tolerance_change = 0}});
        lbfgs.minimize([&] {
            lbfgs.zero_grad();
            Tape tape;
            auto loss = net.data_model.loss(net.data_model.outputs()) + optim::gaussian_prior(net.groups, alphas);
            loss.backward();
            return loss.item();
        });
        try {
            optim::fit_map_newton(net.groups, net.data_model, alphas);
            return;
        } catch (const DomainError&) {
            if (attempt == 8) throw;
            for (auto& p : params) {
                Array<double> v = p.value();
                for (auto& e : v) e += kick(rng);
                p.set_value(v);
            }
        }
    }
}

optim::EvidenceMaximum maximize(Net& net) {
    return optim::maximize_evidence(net.groups, net.data_model, [&](const std::vector<double>& a) { fit_map(net, a); },
                                    {.tolerance_grad = 1e-7});
}

std::vector<Array<double>> values(const Net& net) {
    std::vector<Array<double>> v;
    for (auto& p : net.mlp->parameters()) v.push_back(p.value());
    return v;
}

void restore(Net& net, const std::vector<Array<double>>& v) {
    auto params = net.mlp->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].set_value(v[i]);
}

std::string alphas_text(const Net& net, const optim::EvidenceMaximum& r) {
    std::string s;
    for (std::size_t g = 0; g < r.alphas.size(); ++g)
        if (net.groups[g].penalised)
            s += (s.empty() ? "" : ", ") + net.groups[g].name + " " + sci(r.alphas[g]) + " (gamma " +
                 fixed(r.gammas[g], 2) + ")";
    return s;
}
}  // namespace

void evidence_per_layer(Context& ctx) {
    const std::size_t n = 60;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> uniform(-2.5, 2.5);
    std::normal_distribution<double> noise(0.0, kSigma);
    Array<double> x = Array<double>::from_shape({n, 1}), y = Array<double>::from_shape({n, 1});
    for (std::size_t i = 0; i < n; ++i) {
        x(i, 0) = uniform(rng);
        y(i, 0) = truth(x(i, 0)) + noise(rng);
    }

    // (a) one precision per layer, at the evidence's maximum
    auto layered = make_net(x, y, true);
    auto top = maximize(*layered);
    double largest = 0;
    for (double g : top.gradient) largest = std::max(largest, std::abs(g));
    ctx.note("per layer: " + alphas_text(*layered, top) + "; log evidence " + fixed(top.log_evidence, 4) + " after " +
             std::to_string(top.iterations) + " quasi-Newton steps and " + std::to_string(top.fits) + " MAP fits");
    ctx.claim("maximize_evidence finds a maximum in the three layers' precisions at once",
              "largest |dL/d log alpha| " + sci(largest) + ": " + top.message, top.converged && largest <= 1e-7);

    // the evidence along each precision with the others held, the MAP re-fitted at every point,
    // walking out from the maximum (each fit warm-started from the last: one branch of minima)
    const std::vector<Array<double>> at_top = values(*layered);
    std::vector<std::vector<double>> rows;
    bool interior = true;
    std::size_t flat = 0;
    for (std::size_t g = 0; g < 3; ++g) {
        rows.push_back({double(g), 0.0, 0.0, 0.0});
        for (int direction : {-1, 1}) {
            restore(*layered, at_top);
            for (int k = 1; k <= 8; ++k) {
                std::vector<double> a = top.alphas;
                a[g] *= std::pow(10.0, 0.25 * direction * k);
                fit_map(*layered, a);
                auto at = optim::laplace_evidence_gradient(layered->groups, layered->data_model, a);
                // gamma_g = p_g - alpha_g tr(H^-1)_gg outside [0, p_g]: a posterior wider than the
                // prior along some direction, a minimum nearly flat (a branch of minima ending)
                bool valid = true;
                for (std::size_t h = 0; h < 3; ++h)
                    valid = valid && at.gammas[h] >= 0 && at.gammas[h] <= double(kHidden);
                rows.push_back(
                    {double(g), 0.25 * direction * k, at.log_evidence - top.log_evidence, valid ? 0.0 : 1.0});
                interior = interior && at.log_evidence < top.log_evidence;
                flat += !valid;
            }
        }
    }
    std::sort(rows.begin(), rows.end());
    restore(*layered, at_top);
    ctx.claim("each layer's precision is at an interior maximum (every point of its slice, 10^-2..10^2 times, lower)",
              std::to_string(rows.size() - 3) + " re-fitted points, all below", interior);
    ctx.note(std::to_string(flat) + " of " + std::to_string(rows.size() - 3) +
             " slice points (circled) have a gamma outside [0, p_g]: a posterior wider than the prior along some "
             "direction, where a branch of minima flattens out and ends; the Laplace approximation is poor there "
             "and the slice jumps where the fit moves to another branch. Near the maximum every gamma is in range.");

    // (b) one precision for the whole network: a special case, so never more evidence
    auto shared = make_net(x, y, false);
    auto one = maximize(*shared);
    ctx.claim(
        "per-layer precisions have more evidence than one shared precision",
        fixed(top.log_evidence, 3) + " vs " + fixed(one.log_evidence, 3) + " nats (alpha " + sci(one.alphas[0]) + ")",
        one.converged && top.log_evidence > one.log_evidence + 0.5);

    // (c) the input in tenths: x -> 10 x. One shared precision is a different prior now; per
    // layer, alpha_1 -> 100 alpha_1 with w_1 -> w_1 / 10 is the same model, the same evidence
    const double scale = 10;
    auto shared_tenths = make_net(x * scale, y, false);
    auto one_tenths = maximize(*shared_tenths);
    auto layered_tenths = make_net(x * scale, y, true);
    {
        std::vector<Array<double>> v = at_top;
        v[0] = v[0] / scale;  // 0.weight
        restore(*layered_tenths, v);
    }
    std::vector<double> a_tenths = top.alphas;
    a_tenths[0] *= scale * scale;
    auto moved = optim::laplace_evidence_gradient(layered_tenths->groups, layered_tenths->data_model, a_tenths);
    double moved_largest = 0;
    for (double d : moved.d_log_alpha) moved_largest = std::max(moved_largest, std::abs(d));
    ctx.claim("with the input in tenths, one shared precision loses evidence (the prior depends on units)",
              fixed(one_tenths.log_evidence, 3) + " vs " + fixed(one.log_evidence, 3) + " nats",
              one_tenths.converged && one_tenths.log_evidence < one.log_evidence - 1);
    ctx.claim("per layer, alpha_1 x 100 and w_1 / 10 give the same evidence, still its maximum",
              fixed(moved.log_evidence, 9) + " vs " + fixed(top.log_evidence, 9) + ", gradient " + sci(moved_largest),
              std::abs(moved.log_evidence - top.log_evidence) < 1e-8 && moved_largest < 1e-6);
    ctx.note("x in tenths, one shared precision: alpha " + sci(one_tenths.alphas[0]) + ", gamma " +
             fixed(one_tenths.gammas[0], 2) + " (" + fixed(one.gammas[0], 2) + " in the original units)");

    // the predictive band of the per-layer model: N(f(x), sigma^2 + g(x)^T H^-1 g(x)), g = df/dw
    auto params = layered->mlp->parameters();
    optim::CurvatureModel<double> posterior_model = layered->data_model;
    posterior_model.penalty = [&] { return optim::gaussian_prior(layered->groups, top.alphas); };
    optim::Laplace<double> posterior(params, posterior_model);
    std::vector<std::vector<double>> curve;
    for (double u = -3.5; u <= 3.5001; u += 0.05) {
        Array<double> at = xt::full_like(Array<double>::from_shape({1, 1}), u);
        Tape tape;
        auto f = (*layered->mlp)(Tensor::constant(at));
        auto g = grad(f, params);
        std::vector<Array<double>> direction;
        for (auto& t : g) direction.push_back(t.value());
        double sd = std::sqrt(kSigma * kSigma + posterior.variance_along(direction));
        double mean = f.value()(0, 0);
        NoGrad no_grad;
        double flat = (*shared->mlp)(Tensor::constant(at)).value()(0, 0);
        curve.push_back({u, mean, mean - 2 * sd, mean + 2 * sd, flat, truth(u), 0});
    }
    for (std::size_t i = 0; i < n; ++i) curve.push_back({x(i, 0), y(i, 0), 0, 0, 0, 0, 1});

    std::vector<std::vector<double>> table;
    for (auto& r : rows) table.push_back({r[0], r[1], r[2], r[3], 0, 0, 2});
    for (auto& r : curve) table.push_back(r);
    ctx.plot("evidence_per_layer", {"x", "y", "low", "high", "shared", "truth", "kind"}, table,
             "set multiplot layout 1,2 title 'a 1-3-1 tanh network: one weight decay per layer, chosen by the "
             "evidence'\n"
             "set title 'log evidence along each precision, the others held'\n"
             "set xlabel 'log10 (alpha / alpha at the maximum)'\nset ylabel 'log evidence - maximum (nats)'\n"
             "set key inside bottom left\nset yrange [-12:1]\n"
             "plot csv using ($7 == 2 && $1 == 0 ? $2 : 1/0):3 with linespoints lw 2 title 'hidden weights', "
             "csv using ($7 == 2 && $1 == 1 ? $2 : 1/0):3 with linespoints lw 2 title 'hidden biases', "
             "csv using ($7 == 2 && $1 == 2 ? $2 : 1/0):3 with linespoints lw 2 title 'output weights', "
             "csv using ($7 == 2 && $4 == 1 ? $2 : 1/0):3 with points pt 6 ps 2.5 lc rgb 'black' title 'a gamma "
             "outside [0, p_g]'\n"
             "set title 'the fit: per-layer MAP +- 2 s.d. (Laplace), one shared precision'\n"
             "set xlabel 'x'\nset ylabel 'y'\nset key inside top left\nset autoscale y\n"
             "plot csv using ($7 == 0 ? $1 : 1/0):3:4 with filledcurves fc rgb '#c6dbef' title 'per layer +- 2 s.d.', "
             "csv using ($7 == 0 ? $1 : 1/0):2 with lines lw 2 lc rgb '#1f77b4' title 'per layer', "
             "csv using ($7 == 0 ? $1 : 1/0):5 with lines lw 2 dt 3 lc rgb '#ff7f0e' title 'one shared precision', "
             "csv using ($7 == 0 ? $1 : 1/0):6 with lines lw 1 dt 2 lc rgb 'black' title 'truth', "
             "csv using ($7 == 1 ? $1 : 1/0):2 with points pt 7 ps 0.8 lc rgb '#d62728' title 'data'\n"
             "unset multiplot",
             1200);
}

}  // namespace lecture
