// Beyond the slides: a small convolutional network on the 8 x 8 digits, float32, trained with
// Adam beside the lecture's MLP (same optimizer, epochs and batches), and on a 256-image
// subset with the natural-gradient step (Fisher-vector products, CG). Conv2d, MaxPool2d and
// the DataLoader come from nn; every layer is differentiable twice, which the natural
// gradient's curvature products use.
#include <cmath>
#include <random>

#include "support/datasets.hpp"
#include "support/digits_training.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
constexpr std::size_t kEpochs = 20;
}  // namespace

void cnn_digits(Context& ctx) {
    auto d = digits(ctx);
    auto train_table = classification_table(d.x_train, d.y_train);
    Array<float> test_flat = d.x_test;
    auto x_test_images = Tensor32::constant(as_images(test_flat));
    auto x_test_flat = Tensor32::constant(test_flat);

    std::mt19937_64 rng(1);
    auto net = digits_cnn(rng);
    nn::DataLoader<float> image_loader(train_table, {.batch_size = 64, .seed = 1}, as_images);
    Curve conv = train_classifier(
        ctx, *net, [&](const Tensor32& x) { return (*net)(x); }, image_loader, x_test_images, d.y_test, "CNN (Adam)",
        kEpochs, 1e-2);

    nn::MLP<float> mlp({64, 32, 10}, nn::Activation::tanh, rng);
    nn::DataLoader<float> flat_loader(train_table, {.batch_size = 64, .seed = 1});
    Curve dense = train_classifier(
        ctx, mlp, [&](const Tensor32& x) { return mlp(x); }, flat_loader, x_test_flat, d.y_test, "MLP 64-32-10 (Adam)",
        kEpochs, 1e-2);
    std::size_t count = 0;
    for (auto& p : net->parameters()) count += p.size();
    ctx.claim("digits: the CNN (2 conv + pool, " + std::to_string(count) +
                  " parameters) reaches at least the MLP's test accuracy",
              fixed(100 * conv.accuracy.back(), 1) + " % vs " + fixed(100 * dense.accuracy.back(), 1) + " %",
              conv.accuracy.back() >= dense.accuracy.back());

    // the natural gradient on a subset: Fisher-vector products through conv and pool
    std::vector<std::size_t> subset(256);
    for (std::size_t i = 0; i < subset.size(); ++i) subset[i] = i;
    auto small = nn::take_rows(train_table, subset);
    Array<float> xs = small.features;
    auto xs_images = Tensor32::constant(as_images(xs));
    IndexArray ys = nn::to_labels(small.target);
    // the same start for both: one network, its initial values copied
    std::mt19937_64 rng2(2);
    auto net2 = digits_cnn(rng2);
    auto initial = net2->parameters();
    std::vector<Array<float>> start_values;
    for (auto& p : initial) start_values.push_back(p.value());
    auto subset_loss = [&] { return nn::cross_entropy((*net2)(xs_images), ys); };
    const std::size_t steps = 10;
    double initial_loss;
    {
        NoGrad no_grad;
        initial_loss = subset_loss().item();
    }
    std::vector<double> ng_loss{initial_loss}, adam_loss{initial_loss};  // after 0, 1, ... steps
    {
        optim::CurvatureModel<float> model{
            [&] { return (*net2)(xs_images); }, [&](const Tensor32& z) { return nn::cross_entropy(z, ys); }, {}};
        optim::NaturalGradient<float> ng(net2->parameters(), model, {.damping = 1e-2, .cg_iterations = 10});
        for (std::size_t k = 0; k < steps; ++k) {
            ng.step();
            ng_loss.push_back(ng.last_report().loss_after);
        }
    }
    for (std::size_t i = 0; i < initial.size(); ++i) initial[i].set_value(start_values[i]);
    {
        optim::Adam<float> adam(net2->parameters(), {.lr = 1e-2});
        for (std::size_t k = 0; k < steps; ++k) {
            Tape tape;
            adam.zero_grad();
            auto loss = subset_loss();
            loss.backward();
            adam.step();
            NoGrad no_grad;
            adam_loss.push_back(subset_loss().item());
        }
    }
    ctx.note("256 training images, full batch, the same start: after " + std::to_string(steps) +
             " steps the natural gradient (Fisher, 10 CG iterations) is at loss " + fixed(ng_loss.back(), 4) +
             ", Adam (lr 0.01) at " + fixed(adam_loss.back(), 4));
    ctx.claim("CNN on a subset: 10 natural-gradient steps end lower than 10 Adam steps",
              fixed(ng_loss.back(), 4) + " < " + fixed(adam_loss.back(), 4), ng_loss.back() < adam_loss.back());
    std::vector<std::vector<double>> rows;
    for (std::size_t epoch = 1; epoch <= kEpochs; ++epoch)
        rows.push_back({double(epoch), conv.loss[epoch - 1], dense.loss[epoch - 1], conv.accuracy[epoch - 1],
                        dense.accuracy[epoch - 1], epoch <= steps + 1 ? ng_loss[epoch - 1] : std::nan(""),
                        epoch <= steps + 1 ? adam_loss[epoch - 1] : std::nan("")});  // column 1 - 1 = steps
    ctx.plot("cnn_digits",
             {"epoch", "cnn_loss", "mlp_loss", "cnn_accuracy", "mlp_accuracy", "ng_subset", "adam_subset"}, rows,
             "set multiplot layout 1,3 title 'digits, float32: CNN and MLP with Adam (batches of 64); CNN on 256 "
             "images, full batch'\n"
             "set xlabel 'epoch'\nset title 'training loss'\nset ylabel 'cross entropy'\nset logscale y\n"
             "plot csv using 1:2 with linespoints lw 2 lc rgb '#1f77b4' title 'CNN', "
             "csv using 1:3 with linespoints lw 2 lc rgb '#ff7f0e' title 'MLP 64-32-10'\n"
             "unset logscale y\nset title 'test accuracy'\nset ylabel 'accuracy'\nset key bottom right\n"
             "plot csv using 1:4 with linespoints lw 2 lc rgb '#1f77b4' title 'CNN', "
             "csv using 1:5 with linespoints lw 2 lc rgb '#ff7f0e' title 'MLP 64-32-10'\n"
             "set title 'CNN, 256 images, full batch, same start'\nset xlabel 'step'\nset ylabel 'cross entropy'\n"
             "set logscale y\nset key top right\nset xrange [0:10]\n"
             "plot csv using ($1 - 1):6 with linespoints lw 2 lc rgb '#2ca02c' title 'natural gradient', "
             "csv using ($1 - 1):7 with linespoints lw 2 lc rgb '#d62728' title 'Adam'\nunset multiplot",
             1500);
}

}  // namespace lecture
