// The tutorial (docs/tutorial.md) as a program: a model, its gradients checked, trained with
// Adam, then refined with natural-gradient steps. Exits non-zero if a step does not work.
#include <cstdio>
#include <random>

#include "xtgrad/optim.hpp"

using namespace xtgrad;

int main() {
    // 1. data: the shipped breast cancer set, split and standardized
    auto table = nn::load_csv(XTGRAD_DATA_DIR "/breast_cancer.csv", {.header_lines = 1});
    auto [train, test] = nn::train_test_split(table, 0.25, /*seed=*/1);
    nn::Standardizer scale;
    scale.fit(train.features);
    auto x = Tensor::constant(scale.transform(train.features));
    auto labels = nn::to_labels(train.target);

    // 2. a model: an MLP 30-16-2 with tanh, and its loss
    std::mt19937_64 rng(42);
    nn::MLP<double> model({30, 16, 2}, nn::Activation::tanh, rng);
    auto loss_fn = [&] { return nn::cross_entropy(model(x), labels) + nn::l2_penalty(model, 1e-3); };

    // 3. check its gradients (first and second order) against finite differences
    auto first = gradcheck(loss_fn, model.parameters());
    auto second = hvpcheck(loss_fn, model.parameters());
    std::printf("gradcheck: %s\nhvpcheck:  %s\n", first.message().c_str(), second.message().c_str());
    if (!first.ok || !second.ok) return 1;

    // 4. train with Adam: record, backward, step, release
    optim::Adam<double> adam(model.named_parameters(), {.lr = 1e-2});
    Tape tape;
    for (int epoch = 0; epoch < 100; ++epoch) {
        adam.zero_grad();
        auto loss = loss_fn();
        loss.backward();
        adam.step();
        tape.release();
    }

    // 5. a few natural-gradient steps (Fisher = Gauss-Newton, solved by conjugate gradients)
    optim::CurvatureModel<double> curvature{
        .outputs = [&] { return model(x); },                                    // z(params)
        .loss = [&](const Tensor& z) { return nn::cross_entropy(z, labels); },  // L(z): z only
        .penalty = [&] { return nn::l2_penalty(model, 1e-3); }};                // parameters only
    optim::NaturalGradient<double> natural(model.parameters(), curvature, {});
    for (int k = 0; k < 5; ++k) {
        natural.step();
        auto& r = natural.last_report();
        std::printf("natural gradient step %d: loss %.6f -> %.6f, %zu CG iterations, damping %.2e\n", k, r.loss_before,
                    r.loss_after, r.cg.iterations, r.damping);
    }

    // when to stop: L-BFGS to a minimum, ending with a status as scipy's minimisers do
    optim::LBFGS<double> lbfgs(model.parameters(), {.stop = {.max_iterations = 500}});
    optim::OptimizeResult fit = lbfgs.minimize([&] {
        lbfgs.zero_grad();
        Tape t;
        auto l = loss_fn();
        l.backward();
        return l.item();
    });
    std::printf("L-BFGS: %s after %zu iterations, %zu evaluations\n", fit.message.c_str(), fit.iterations,
                fit.evaluations);
    if (!fit.converged) return 1;

    // 6. evaluate and save
    NoGrad no_grad;
    double acc =
        nn::accuracy(model(Tensor::constant(scale.transform(test.features))).value(), nn::to_labels(test.target));
    std::printf("test accuracy %.1f %%\n", 100 * acc);
    nn::save_parameters(model, "/tmp/xtgrad_tutorial_model.npz");
    return acc > 0.9 ? 0 : 1;
}
