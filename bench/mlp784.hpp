// The MLP 784-256-256-10 (ReLU) workload shared by the nn and optim benchmarks: the model,
// a seeded float32 batch and labels.
#pragma once

#include <random>
#include <vector>

#include <xtensor/xrandom.hpp>

#include "xtgrad/nn.hpp"

namespace bench {

struct Mlp784 {
    std::mt19937_64 rng{0};
    xtgrad::nn::MLP<float> net{{784, 256, 256, 10}, xtgrad::nn::Activation::relu, rng};
    xtgrad::Tensor32 x;
    std::vector<std::size_t> labels;
    explicit Mlp784(std::size_t batch) {
        xt::random::seed(0);
        x = xtgrad::Tensor32::constant(xt::random::randn<float>({batch, std::size_t(784)}));
        for (std::size_t i = 0; i < batch; ++i) labels.push_back(rng() % 10);
    }
};

}  // namespace bench
