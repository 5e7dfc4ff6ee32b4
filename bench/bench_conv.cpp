// One Adam step of the digits CNN (examples/cnn_digits.cpp: Conv2d 1-16 and 16-32, 3 x 3,
// padding 1, ReLU, 2 x 2 max pooling, Linear 128-10) on [64, 1, 8, 8] float32 images, built
// from xtgrad::nn, beside torch::nn's same network and torch::optim::Adam, with 1 and 2 threads.
// Then one K-FAC step of the same network and batch (both convolutions and the Linear
// preconditioned; factors every step, inverses every tenth, timed over 30 steps so that the
// eigendecompositions count at their share) beside xtgrad's Adam step: libtorch has no K-FAC.
#include <cstdio>
#include <cstring>
#include <random>

#include <xtensor/xrandom.hpp>

#include "timing.hpp"
#include "torch_workloads.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;

namespace {
struct Cnn {
    nn::Sequential<float> net;
    Tensor32 x;
    std::vector<std::size_t> labels;
    explicit Cnn(std::size_t batch);
};

Cnn::Cnn(std::size_t batch) {
    std::mt19937_64 rng(0);
    net.push_back(std::make_shared<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = 1, .out_channels = 16, .kernel_size = 3, .padding = 1}, rng));
    net.push_back(std::make_shared<nn::ActivationLayer<float>>(nn::Activation::relu));
    net.push_back(std::make_shared<nn::MaxPool2d<float>>(nn::Pool2dOptions{.kernel_size = 2}));
    net.push_back(std::make_shared<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = 16, .out_channels = 32, .kernel_size = 3, .padding = 1}, rng));
    net.push_back(std::make_shared<nn::ActivationLayer<float>>(nn::Activation::relu));
    net.push_back(std::make_shared<nn::MaxPool2d<float>>(nn::Pool2dOptions{.kernel_size = 2}));
    net.push_back(std::make_shared<nn::Flatten<float>>());
    net.push_back(std::make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 128, .out = 10}, rng));
    xt::random::seed(0);
    x = Tensor32::constant(
        Array<float>(xt::random::randn<float>({batch, std::size_t(1), std::size_t(8), std::size_t(8)})));
    labels.resize(batch);
    for (std::size_t i = 0; i < batch; ++i) labels[i] = i % 10;
}

double xtgrad_step(std::size_t batch, int reps) {
    Cnn m(batch);
    optim::Adam<float> adam(m.net.parameters(), {.lr = 1e-2});
    return bench::median_seconds(
        [&] {
            Tape tape;
            adam.zero_grad();
            nn::cross_entropy(m.net(m.x), m.labels).backward();
            adam.step();
        },
        reps);
}

bench::CycleTimes kfac_step(std::size_t batch, optim::FisherEstimate fisher) {
    Cnn m(batch);
    optim::CurvatureModel<float> model{[&] { return m.net(m.x); },
                                       [&](const Tensor32& z) { return nn::cross_entropy(z, m.labels); }};
    optim::KFAC<float> kfac(m.net.parameters(), model,
                            {.lr = 0.01, .factor_every = 1, .inverse_every = 10, .fisher = fisher});
    return bench::cycle_seconds([&] { kfac.step(); });
}
}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 30 : 200;
    std::printf(
        "digits CNN (conv 1-16, conv 16-32, 3x3, max pool, linear 128-10), batch 64, float32: one Adam step "
        "(median), and one K-FAC step\n");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        double ours = xtgrad_step(64, reps);
        std::printf("  %d thread%s: xtgrad %8.3f ms", threads, threads > 1 ? "s" : " ", ours * 1e3);
        if (torch_side::available()) {
            double theirs = torch_side::cnn_adam_step(64, reps);
            std::printf("   libtorch %8.3f ms   xtgrad speed / libtorch speed %5.2fx", theirs * 1e3, theirs / ours);
        }
        std::printf("\n");
        auto k = kfac_step(64, optim::FisherEstimate::sampled);
        std::printf("             K-FAC %8.3f ms (mean of 30: factors each, inverses every 10)   / Adam step %5.2f\n",
                    k.mean * 1e3, k.mean / ours);
        std::printf("             K-FAC %8.3f ms between refreshes (median)                      / Adam step %5.2f\n",
                    k.between_refreshes * 1e3, k.between_refreshes / ours);
        // the empirical Fisher: its output gradients from the gradient's own sweep, one sweep less
        auto e = kfac_step(64, optim::FisherEstimate::empirical);
        std::printf("             K-FAC %8.3f ms between refreshes, empirical Fisher             / Adam step %5.2f\n",
                    e.between_refreshes * 1e3, e.between_refreshes / ours);
    }
    return 0;
}
