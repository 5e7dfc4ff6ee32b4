// Slides on second-order methods: conjugate gradients and the natural gradient against
// (full-batch) gradient descent and Adam, from the same starting point, on logistic
// regression (breast cancer, convex) and an MLP (digits). Loss against iterations and against
// wall time; iterations and time to reach a common target loss.
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
struct Problem {
    TensorList<double> params;
    Array<double> start_values;  // concatenated in params order is not needed: we keep each
    std::vector<Array<double>> start;
    std::function<Tensor()> loss;         // recorded on the active tape
    optim::CurvatureModel<double> model;  // the same loss, for the natural gradient
};

struct Trace {
    std::string method;
    std::vector<double> loss, seconds;
    std::string ending;  // how CG and NG stopped, if they did
};

void reset(Problem& p) {
    for (std::size_t i = 0; i < p.params.size(); ++i) p.params[i].set_value(p.start[i]);
}

template <class Opt>
optim::Closure closure_of(Opt& opt, Problem& p) {
    return [&opt, &p] {
        opt.zero_grad();
        Tape tape;
        auto l = p.loss();
        l.backward();
        return l.item();
    };
}

double current_loss(Problem& p) {
    NoGrad no_grad;
    return p.loss().item();
}

Trace run(const std::string& method, Problem& p, std::size_t iterations, double sgd_lr, double adam_lr) {
    reset(p);
    Trace t{method, {}, {}};
    auto started = std::chrono::steady_clock::now();
    auto record = [&] {
        t.loss.push_back(current_loss(p));
        t.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    };
    record();
    auto loop = [&](auto&& step) {
        for (std::size_t k = 0; k < iterations; ++k) {
            step();  // once a method has stopped (converged), a step leaves the parameters alone
            record();
        }
    };
    if (method == "gradient descent") {
        optim::SGD<double> opt(p.params, {.lr = sgd_lr});
        auto c = closure_of(opt, p);
        loop([&] { opt.step(c); });
    } else if (method == "Adam") {
        optim::Adam<double> opt(p.params, {.lr = adam_lr});
        auto c = closure_of(opt, p);
        loop([&] { opt.step(c); });
    } else if (method == "conjugate gradient") {
        optim::ConjugateGradient<double> opt(p.params, {});
        auto c = closure_of(opt, p);
        loop([&] { opt.step(c); });
        t.ending = opt.message();
    } else {
        // full batch: the model, its gradient and the curvature product are recorded once and
        // replayed (fused) at every step; each CG iteration replays only the product
        optim::NaturalGradient<double> opt(p.params, p.model, {.cg_iterations = 20, .compile = true});
        loop([&] { opt.step(); });
        t.ending = opt.message();
    }
    return t;
}

// first index where loss <= target, or npos
std::size_t first_below(const Trace& t, double target) {
    for (std::size_t i = 0; i < t.loss.size(); ++i)
        if (t.loss[i] <= target) return i;
    return std::string::npos;
}

// Runs the four methods from the same start. `optimum`, when known (a convex problem), is
// the minimum the plot measures the loss against; otherwise the plot shows the loss itself.
std::vector<Trace> compare(Context& ctx, const std::string& name, Problem& p, std::size_t iterations, double sgd_lr,
                           double adam_lr, double& target, std::optional<double> optimum) {
    std::vector<Trace> traces;
    for (const char* m : {"gradient descent", "Adam", "conjugate gradient", "natural gradient"})
        traces.push_back(run(m, p, iterations, sgd_lr, adam_lr));
    double best = std::numeric_limits<double>::infinity();
    for (auto& t : traces) best = std::min(best, *std::min_element(t.loss.begin(), t.loss.end()));
    if (optimum) best = *optimum;
    double start = traces[0].loss[0];
    target = best + 1e-3 * (start - best);
    for (auto& t : traces) {
        std::size_t i = first_below(t, target);
        ctx.note(name + ": " + t.method + " " +
                 (i == std::string::npos ? "does not reach the target in " + std::to_string(iterations) + " iterations"
                                         : "reaches the target after " + std::to_string(i) + " iterations, " +
                                               fixed(1e3 * t.seconds[i], 1) + " ms") +
                 " (final loss " + fixed(t.loss.back(), 6) + ")" +
                 (t.ending.empty() || t.ending == "running" ? "" : "; " + t.ending));
    }
    std::vector<std::vector<double>> rows;
    for (std::size_t k = 0; k <= iterations; ++k) {
        std::vector<double> row{double(k)};
        for (auto& t : traces) {
            // above the optimum, floored at 1e-16 relative (rounding) so that the log scale can show it
            row.push_back(optimum ? std::max(t.loss[k] - best, 1e-16 * std::abs(best)) : t.loss[k]);
            row.push_back(1e3 * t.seconds[k]);
        }
        rows.push_back(row);
    }
    std::string what = optimum ? "loss - optimum" : "loss";
    ctx.plot("second_order_" + name, {"iteration", "gd", "gd_ms", "adam", "adam_ms", "cg", "cg_ms", "ng", "ng_ms"},
             rows,
             "set multiplot layout 1,2 title '" + name + ": " + what +
                 ", full batch, same start'\nset logscale y\nset format y '%.0e'\nset ylabel '" + what +
                 "'\nset key outside bottom center horizontal maxcols 2\nset xlabel 'iteration'\n"
                 "plot csv using 1:2 w l lw 2 t 'gradient descent', csv using 1:4 w l lw 2 t 'Adam', csv using 1:6 w l "
                 "lw 2 t 'conjugate gradient', csv using 1:8 w l lw 2 t 'natural gradient'\n"
                 "set xlabel 'milliseconds (log scale)'\nset logscale x\nset format x '%g'\nplot csv using 3:2 w l lw "
                 "2 t 'gradient descent', csv using 5:4 w l lw 2 t "
                 "'Adam', csv using 7:6 w l lw 2 t 'conjugate gradient', csv using 9:8 w l lw 2 t 'natural gradient'\n"
                 "unset multiplot",
             1100);
    return traces;
}
}  // namespace

void second_order_methods(Context& ctx) {
    // logistic regression on breast cancer
    auto bc = breast_cancer(ctx);
    auto x = Tensor::constant(bc.x_train), t = Tensor::constant(column(bc.y_train));
    auto w = Tensor::parameter(xt::zeros<double>({std::size_t(30), std::size_t(1)}));
    auto b = Tensor::parameter(xt::zeros<double>({1}));
    Problem lr;
    lr.params = {w, b};
    lr.start = {w.value(), b.value()};
    auto lr_outputs = [&, w, b] { return matmul(x, w) + b; };
    auto lr_data_loss = [&](const Tensor& z) { return nn::binary_cross_entropy_with_logits(z, t); };
    auto lr_penalty = [w] { return 1e-3 * sum(square(w)); };
    lr.loss = [=] { return lr_data_loss(lr_outputs()) + lr_penalty(); };
    lr.model = {lr_outputs, lr_data_loss, lr_penalty};
    double target = 0;
    std::size_t iters = 100;
    // the optimum of this convex problem, from Newton-CG run to the rounding floor
    double optimum = 0;
    {
        optim::NaturalGradient<double> newton(lr.params, lr.model,
                                              {.cg_iterations = 100,
                                               .curvature = optim::Curvature::hessian,
                                               .stop = {.tolerance_grad = 1e-12, .max_iterations = 100}});
        optimum = newton.minimize().loss;
        reset(lr);
    }
    auto traces = compare(ctx, "logistic_regression", lr, iters, 1.0, 0.05, target, optimum);
    std::size_t gd = first_below(traces[0], target), adam = first_below(traces[1], target);
    std::size_t cg = first_below(traces[2], target), ng = first_below(traces[3], target);
    auto it = [](std::size_t i) { return i == std::string::npos ? std::string("not reached") : std::to_string(i); };
    ctx.claim("logistic regression: natural gradient needs fewest iterations",
              "NG " + it(ng) + ", CG " + it(cg) + ", Adam " + it(adam) + ", GD " + it(gd),
              ng != std::string::npos && ng < std::min(gd, adam));
    ctx.claim("logistic regression: CG needs fewer iterations than GD, Adam",
              "CG " + it(cg) + " vs " + it(gd) + ", " + it(adam), cg != std::string::npos && cg < std::min(gd, adam));

    // an MLP on digits (full batch)
    auto dg = digits(ctx);
    std::mt19937_64 rng(4);
    auto mlp = std::make_shared<nn::MLP<double>>(std::vector<std::size_t>{64, 16, 10}, nn::Activation::tanh, rng);
    auto xd = Tensor::constant(dg.x_train);
    Problem net;
    net.params = mlp->parameters();
    for (auto& p : net.params) net.start.push_back(p.value());
    auto net_outputs = [&, mlp] { return (*mlp)(xd); };
    auto net_data_loss = [&](const Tensor& z) { return nn::cross_entropy(z, dg.y_train); };
    auto net_penalty = [mlp] { return nn::l2_penalty(*mlp, 1e-4); };
    net.loss = [=] { return net_data_loss(net_outputs()) + net_penalty(); };
    net.model = {net_outputs, net_data_loss, net_penalty};
    std::size_t net_iters = 80;
    auto nt = compare(ctx, "mlp_digits", net, net_iters, 0.5, 0.01, target, std::nullopt);
    double final_gd = nt[0].loss.back(), final_ng = nt[3].loss.back(), final_cg = nt[2].loss.back();
    ctx.claim("MLP: after equal iterations, CG and NG are below gradient descent",
              "GD " + fixed(final_gd, 4) + ", CG " + fixed(final_cg, 4) + ", NG " + fixed(final_ng, 4),
              final_cg < final_gd && final_ng < final_gd);
    ctx.note("per iteration, CG costs a few loss evaluations and NG twenty curvature products: see the time panel");

    // the compiled natural gradient (used above) against the same steps recorded anew each time
    auto steps = [&](bool compiled) {
        reset(net);
        optim::NaturalGradient<double> opt(net.params, net.model, {.cg_iterations = 20, .compile = compiled});
        std::vector<double> losses;
        auto started = std::chrono::steady_clock::now();
        for (int k = 0; k < 10; ++k) {
            opt.step();
            losses.push_back(opt.last_report().loss_after);
        }
        double ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / 10;
        return std::make_pair(losses, ms);
    };
    auto [eager_losses, eager_ms] = steps(false);
    auto [compiled_losses, compiled_ms] = steps(true);
    auto relative = [](double a, double b) { return std::abs(a - b) / std::abs(b); };
    double first = relative(compiled_losses.front(), eager_losses.front());
    double last = relative(compiled_losses.back(), eager_losses.back());
    // From the same point the step is the same to rounding (measured 3e-12 relative). The
    // products' last bits differ (sums in another order), and linear CG on the damped Fisher
    // amplifies them from step to step (measured: 2e-9 after two steps, 4e-4 after five), as
    // any reordering of the sums would: the runs then agree on the loss reached, not its digits.
    ctx.claim("MLP: a compiled natural-gradient step is the eager step", "relative loss difference after the first step " + sci(first), first <= 1e-8);
    ctx.claim("MLP: compiled and eager natural gradient reach the same loss", "after 10 steps " + fixed(compiled_losses.back(), 5) + " vs " + fixed(eager_losses.back(), 5) + " (relative " + sci(last) + ")", last <= 1e-2);
    ctx.note("MLP natural-gradient step (20 CG iterations): eager " + fixed(eager_ms, 1) + " ms, compiled " +
             fixed(compiled_ms, 1) + " ms (this machine, this run)");
}

}  // namespace lecture
