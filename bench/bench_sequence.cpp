// Sequence models beside libtorch, float32, one Adam step each (forward, backward, update),
// with 1 and 2 threads, eager and compiled (CompiledLoss):
//   LSTM: 2 layers, input 32, hidden 128, sequence 50, batch 32, a linear layer on the last
//         output, mean squared error against a target [32, 1];
//   Transformer encoder layer: d_model 128, 4 heads, feed-forward 512, dropout 0, post-norm,
//         sequence 64, batch 32 (batch_first), mean of squares of the output.
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "timing.hpp"
#include "torch_workloads.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;

namespace {
struct LstmRegressor : nn::Module<float> {
    std::shared_ptr<nn::LSTM<float>> lstm;
    std::shared_ptr<nn::Linear<float>> head;
    explicit LstmRegressor(Generator& gen)
        : lstm(register_module(
              "lstm",
              std::make_shared<nn::LSTM<float>>(
                  nn::RecurrentOptions{.input_size = 32, .hidden_size = 128, .num_layers = 2, .batch_first = true},
                  gen))),
          head(register_module("head",
                               std::make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 128, .out = 1}, gen))) {}
    Tensor32 forward(const Tensor32& x) {
        auto out = (*lstm)(x).output;  // [B, T, 128]
        return (*head)(select(out, 1, -1));
    }
};

// One Adam step (forward, backward, update) of `model` per call, eager (a tape per step) or
// compiled (CompiledLoss); the function owns what it uses.
template <class Model, class Loss>
std::function<void()> adam_stepper(std::shared_ptr<Model> model, const Array<float>& x, const Array<float>& y,
                                   Loss loss_of, bool compiled) {
    auto adam = std::make_shared<optim::Adam<float>>(model->parameters(), optim::AdamOptions{.lr = 1e-3});
    if (!compiled)
        return [=] {
            Tape tape;
            adam->zero_grad();
            loss_of(*model, Tensor32::constant(x), Tensor32::constant(y)).backward();
            adam->step();
        };
    auto loss = std::make_shared<CompiledLoss<float>>(
        model->parameters(), [=](const TensorList<float>& data) { return loss_of(*model, data[0], data[1]); });
    return [=] {
        (*loss)({x, y});
        adam->step();
    };
}

std::function<void()> lstm_stepper(bool compiled) {
    Generator gen(0);
    auto model = std::make_shared<LstmRegressor>(gen);
    Array<float> x = randn<float>({32, 50, 32}, gen).value(), y = randn<float>({32, 1}, gen).value();
    return adam_stepper(
        model, x, y,
        [](LstmRegressor& m, const Tensor32& in, const Tensor32& t) { return mean(square(m.forward(in) - t)); },
        compiled);
}

std::function<void()> encoder_stepper(bool compiled) {
    Generator gen(0);
    auto layer = std::make_shared<nn::TransformerEncoderLayer<float>>(
        nn::TransformerEncoderLayerOptions{
            .d_model = 128, .nhead = 4, .dim_feedforward = 512, .dropout = 0.0, .batch_first = true},
        gen);
    Array<float> x = randn<float>({32, 64, 128}, gen).value(), y = Array<float>::from_shape({1});
    return adam_stepper(
        layer, x, y,
        [](nn::TransformerEncoderLayer<float>& l, const Tensor32& in, const Tensor32&) { return mean(square(l(in))); },
        compiled);
}

void report(const char* what, int threads, double eager, double compiled, double theirs) {
    std::printf("  %-12s %d thread%s: xtgrad %8.2f ms, compiled %8.2f ms", what, threads, threads > 1 ? "s" : " ",
                eager * 1e3, compiled * 1e3);
    if (theirs > 0)
        std::printf("   libtorch %8.2f ms   xtgrad speed / libtorch speed: eager %5.2fx, compiled %5.2fx", theirs * 1e3,
                    theirs / eager, theirs / compiled);
    std::printf("\n");
}
}  // namespace

// Usage: bench_sequence [--quick] [--only lstm|encoder]
int main(int argc, char** argv) {
    bool quick = false;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
    }
    const int reps = quick ? 5 : 30;
    std::printf("sequence models, float32, one Adam step (median of %d, the three sides' steps taken in turn)\n", reps);
    std::printf("  LSTM: 2 layers, input 32, hidden 128, sequence 50, batch 32\n");
    std::printf("  Transformer encoder layer: d_model 128, 4 heads, feed-forward 512, sequence 64, batch 32\n");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        const bool torch = torch_side::available();
        // xtgrad eager, xtgrad compiled and libtorch, one step of each in turn
        auto measure = [&](const char* what, std::function<void()> eager, std::function<void()> compiled,
                           std::function<void()> (*theirs)()) {
            std::vector<std::function<void()>> sides{std::move(eager), std::move(compiled)};
            if (torch) sides.push_back(theirs());
            auto t = bench::interleaved_medians(sides, reps);
            report(what, threads, t[0], t[1], torch ? t[2] : 0);
        };
        if (only.empty() || only == "lstm")
            measure("LSTM", lstm_stepper(false), lstm_stepper(true), torch_side::lstm_adam_stepper);
        if (only.empty() || only == "encoder")
            measure("encoder", encoder_stepper(false), encoder_stepper(true), torch_side::encoder_adam_stepper);
    }
    return 0;
}
