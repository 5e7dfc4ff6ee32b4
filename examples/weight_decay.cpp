// Slides on weight decay: adding lambda/2 |w|^2 to the loss pulls every weight back towards 0
// with a force proportional to the weight (Hooke's law: "elastic weights"); the weight norm
// shrinks as lambda grows; too little regularisation over-fits a small training set, too much
// under-fits. Coupled decay (an L2 term in the loss) and decoupled decay (AdamW) differ under
// Adam's per-coordinate scaling.
#include <cmath>
#include <random>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
struct Result {
    double weight_norm, test_error;
};

// The first n rows of the training set, and a multinomial logistic regression at zero on them.
struct Subset {
    Tensor x, W, b;
    std::vector<std::size_t> labels;
    Subset(const Classification& d, std::size_t n) {
        std::size_t features = d.x_train.shape()[1];
        Array<double> xs = Array<double>::from_shape({n, features});
        std::copy_n(d.x_train.data(), n * features, xs.data());
        x = Tensor::constant(std::move(xs));
        labels.assign(d.y_train.begin(), d.y_train.begin() + static_cast<std::ptrdiff_t>(n));
        W = Tensor::parameter(xt::zeros<double>({features, d.classes}));
        b = Tensor::parameter(xt::zeros<double>({d.classes}));
    }
};

// Multinomial logistic regression on a small training subset, fitted to convergence.
Result fit(const Classification& d, std::size_t n_train, double lambda) {
    Subset sub(d, n_train);
    auto &W = sub.W, &b = sub.b, &x = sub.x;
    const auto& ys = sub.labels;
    optim::LBFGS<double> lbfgs(TensorList<double>{W, b}, {.stop = {.max_iterations = 300}});
    auto closure = [&] {
        lbfgs.zero_grad();
        Tape tape;
        auto loss = nn::cross_entropy(matmul(x, W) + b, ys) + (lambda / 2) * sum(square(W));
        loss.backward();
        return loss.item();
    };
    lbfgs.minimize(closure);
    NoGrad no_grad;
    double acc = nn::accuracy((matmul(Tensor::constant(d.x_test), W) + b).value(), d.y_test);
    return {std::sqrt(xt::sum(W.value() * W.value())()), 1 - acc};
}
// The same model trained by Adam with the decay coupled (an L2 term in the loss) or decoupled (AdamW).
Result train_adam(const Classification& d, std::size_t n_train, double lambda, bool decoupled, std::size_t steps) {
    Subset sub(d, n_train);
    auto &W = sub.W, &b = sub.b, &x = sub.x;
    const auto& ys = sub.labels;
    // decay on W alone in both variants: the coupled term covers W alone
    optim::AdamOptions w_options{
        .lr = 0.05, .weight_decay = decoupled ? lambda : 0.0, .decoupled_weight_decay = decoupled};
    optim::Adam<double> adam({{{W}, w_options, {"W"}}, {{b}, {.lr = 0.05}, {"b"}}});
    Tape tape;
    for (std::size_t k = 0; k < steps; ++k) {
        adam.zero_grad();
        auto loss = nn::cross_entropy(matmul(x, W) + b, ys);
        if (!decoupled) loss = loss + (lambda / 2) * sum(square(W));
        loss.backward();
        adam.step();
        tape.release();
    }
    NoGrad no_grad;
    double acc = nn::accuracy((matmul(Tensor::constant(d.x_test), W) + b).value(), d.y_test);
    return {std::sqrt(xt::sum(W.value() * W.value())()), 1 - acc};
}
}  // namespace

void weight_decay(Context& ctx) {
    // Hooke's law: the gradient of lambda/2 |w|^2 is lambda w
    {
        std::mt19937_64 rng(2);
        nn::MLP<double> mlp({8, 6, 3}, nn::Activation::tanh, rng);
        Tape tape;
        auto params = mlp.parameters();
        auto g = grad(nn::l2_penalty(mlp, 0.37, false), params);
        double dev = 0;
        for (std::size_t i = 0; i < params.size(); ++i)
            dev = std::max(dev, xt::amax(xt::abs(g[i].value() - 0.37 * params[i].value()))());
        ctx.claim("decay force = lambda w (Hooke's law)", "max |grad - lambda w| " + sci(dev), dev < 1e-15);
    }

    auto d = digits(ctx);
    std::size_t n_train = 250;  // a small training set over-fits without decay
    std::vector<double> lambdas = {0.0, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0};
    std::vector<Result> results;
    std::vector<std::vector<double>> rows;
    for (double lambda : lambdas) {
        results.push_back(fit(d, n_train, lambda));
        rows.push_back({lambda > 0 ? lambda : 1e-5, results.back().weight_norm, 100 * results.back().test_error});
    }
    bool shrinking = true;
    for (std::size_t i = 1; i < results.size(); ++i)
        shrinking = shrinking && results[i].weight_norm < results[i - 1].weight_norm;
    ctx.claim("weight norm shrinks as lambda grows",
              "|w| " + fixed(results.front().weight_norm, 2) + " -> " + fixed(results.back().weight_norm, 3),
              shrinking);
    std::size_t best = 0;
    for (std::size_t i = 1; i < results.size(); ++i)
        if (results[i].test_error < results[best].test_error) best = i;
    double err0 = results.front().test_error, errbest = results[best].test_error, errmax = results.back().test_error;
    ctx.claim("too little and too much decay both cost test error",
              "err: " + fixed(100 * err0, 1) + "% (0), " + fixed(100 * errbest, 1) + "% (" + sci(lambdas[best]) +
                  "), " + fixed(100 * errmax, 1) + "% (" + fixed(lambdas.back(), 0) + ")",
              err0 > errbest && errmax > errbest);
    ctx.plot(
        "weight_decay_sweep", {"lambda", "weight_norm", "test_error_percent"}, rows,
        "set multiplot layout 1,2 title 'weight decay on digits (multinomial logistic regression, small training "
        "set)'\nset logscale x\nset format x '%.0e'\nset xtics font ',9'\nset xlabel 'lambda (0 shown at 1e-5)'\n"
        "set ylabel '|W|'\nplot csv using 1:2 with linespoints lw 2 title 'weight norm'\n"
        "set ylabel 'test error (%)'\nplot csv using 1:3 with linespoints lw 2 title 'test error'\nunset multiplot");

    // coupled (L2 term under Adam) versus decoupled (AdamW): one step with no data gradient
    auto w_coupled = Tensor::parameter(Array<double>{2.0, -0.5, 0.01});
    auto w_decoupled = Tensor::parameter(Array<double>{2.0, -0.5, 0.01});
    const double lr = 0.1, lambda = 0.1;
    optim::Adam<double> adam(TensorList<double>{w_coupled}, {.lr = lr});
    optim::AdamW<double> adamw(TensorList<double>{w_decoupled}, {.lr = lr, .weight_decay = lambda});
    {
        Tape tape;
        adam.zero_grad();
        ((lambda / 2) * sum(square(w_coupled))).backward();  // the L2 term is the only loss
        adam.step();
        adamw.zero_grad();
        (0.0 * sum(w_decoupled)).backward();  // no data gradient at all
        adamw.step();
    }
    Array<double> start = {2.0, -0.5, 0.01};
    Array<double> expected = start * (1 - lr * lambda);
    double dev = xt::amax(xt::abs(w_decoupled.value() - expected))();
    ctx.claim("AdamW: one step shrinks w by (1 - lr lambda), proportionally", "max |diff| " + sci(dev), dev < 1e-15);
    Array<double> moved = start - w_coupled.value();
    ctx.note("Adam with the L2 term moves every weight by about lr = 0.1 whatever its size: " + fixed(moved(0), 4) +
             ", " + fixed(moved(1), 4) + ", " + fixed(moved(2), 4) + " (Adam normalises the decay force away)");

    // side by side on the digits model: the same Adam, the decay coupled (in the loss) or decoupled
    std::size_t steps = 300;
    for (double lam : {1e-2, 1e-1}) {
        Result coupled = train_adam(d, n_train, lam, false, steps),
               decoupled = train_adam(d, n_train, lam, true, steps);
        ctx.note("lambda " + fixed(lam, 2) + ", " + std::to_string(steps) + " Adam steps: coupled L2 |W| " +
                 fixed(coupled.weight_norm, 2) + ", test error " + fixed(100 * coupled.test_error, 1) +
                 "%; decoupled (AdamW) |W| " + fixed(decoupled.weight_norm, 2) + ", test error " +
                 fixed(100 * decoupled.test_error, 1) + "%");
    }
}

}  // namespace lecture
