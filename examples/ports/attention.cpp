// A causal self-attention block, with a key-padding mask, learning to continue sine waves of
// different lengths, ported from attention.py (docs/ports.md counts both): modules whose
// forward takes a tensor and a mask. Usage: port_attention [EPOCHS]
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>

#include <xtensor/xbuilder.hpp>
#include <xtgrad/optim.hpp>

using namespace xtgrad;
using namespace xtgrad::nn;
using std::make_shared;

struct CausalSelfAttention : Module<float> {
    static constexpr std::size_t dim = 16;
    std::shared_ptr<Linear<float>> qkv = register_module("qkv", make_shared<Linear<float>>(dim, 3 * dim));
    std::shared_ptr<Linear<float>> out = register_module("out", make_shared<Linear<float>>(dim, dim));

    Tensor32 forward(const Tensor32& x, const Mask32& padding) {  // x [B, T, D]; padding [B, T], past the end
        auto parts = chunk((*qkv)(x), 3, -1);
        auto scores = matmul(parts[0], transpose(parts[1], -2, -1)) / std::sqrt(float(x.shape()[2]));
        Mask32 future(Array<bool>(xt::triu(xt::ones<bool>({x.shape()[1], x.shape()[1]}), 1)));
        scores = where(future || Mask32(unsqueeze(padding.tensor(), 1)), -INFINITY, scores);
        return (*out)(matmul(softmax(scores, -1), parts[2]));
    }
};

struct Model : Module<float> {
    std::shared_ptr<Linear<float>> embed = register_module("embed", make_shared<Linear<float>>(1, 16));
    std::shared_ptr<CausalSelfAttention> attention = register_module("attention", make_shared<CausalSelfAttention>());
    std::shared_ptr<LayerNorm<float>> norm = register_module("norm", make_shared<LayerNorm<float>>(Shape{16}));
    std::shared_ptr<Linear<float>> head = register_module("head", make_shared<Linear<float>>(16, 1));

    Tensor32 forward(const Tensor32& x, const Mask32& padding) {
        auto h = (*embed)(x);
        return (*head)((*norm)(h + attention->forward(h, padding)));
    }
};

int main(int argc, char** argv) {
    default_generator().manual_seed(0);
    const std::size_t n = 256, steps = 24;
    auto t = Tensor32::constant(Array<float>(xt::arange<float>(float(steps + 1))));
    auto series = sin((0.2f + 0.3f * rand<float>({n, 1})) * t + float(2 * std::numbers::pi) * rand<float>({n, 1}));
    auto x = unsqueeze(narrow(series, 1, 0, steps), 2), target = unsqueeze(narrow(series, 1, 1, steps), 2);
    auto positions = Tensor32::constant(Array<float>(xt::arange<float>(float(steps))));
    Mask32 padding = positions >= randint<float>(steps / 2, steps + 1, {n, 1});
    Model model;
    optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-2});
    int epochs = argc > 1 ? std::stoi(argv[1]) : 30;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        double total = 0;
        for (std::size_t b = 0; b < n; b += 32) {
            Tape tape;
            optimizer.zero_grad();
            auto rows = [&](const Tensor32& a) { return narrow(a, 0, std::ptrdiff_t(b), 32); };
            auto keep = unsqueeze(1.0f - rows(padding.tensor()), 2);
            auto error = square(model.forward(rows(x), Mask32(rows(padding.tensor()))) - rows(target));
            auto loss = sum(error * keep) / sum(keep);
            loss.backward();
            optimizer.step();
            total += loss.item();
        }
        std::printf("epoch %d: mean squared error %.4f\n", epoch, total / double(n / 32));
    }
}
