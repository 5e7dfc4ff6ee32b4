// The second-order workload of the benchmarks: MLP 64-128-10 (tanh, cross entropy) on random
// inputs and labels, float64, as a CurvatureModel (libtorch's side: torch_workloads.cpp).
#pragma once

#include <random>

#include <xtensor/xrandom.hpp>

#include "xtgrad/optim.hpp"

namespace bench {

struct Mlp64 {
    std::mt19937_64 rng{0};
    xtgrad::nn::MLP<double> net{{64, 128, 10}, xtgrad::nn::Activation::tanh, rng};
    xtgrad::Tensor x;
    std::vector<std::size_t> labels;
    xtgrad::optim::CurvatureModel<double> model;

    explicit Mlp64(std::size_t batch) {
        xt::random::seed(0);
        x = xtgrad::Tensor::constant(xt::random::randn<double>({batch, std::size_t(64)}));
        for (std::size_t i = 0; i < batch; ++i) labels.push_back(rng() % 10);
        model = {[this] { return net(x); },
                 [this](const xtgrad::Tensor& z) { return xtgrad::nn::cross_entropy(z, labels); }};
    }
    Mlp64(const Mlp64&) = delete;  // the model's functions point to this object
};

}  // namespace bench
