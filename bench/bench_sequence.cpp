// Sequence models beside libtorch, float32, one Adam step each (forward, backward, update),
// with 1 and 2 threads, eager and compiled (CompiledLoss):
//   LSTM: 2 layers, input 32, hidden 128, sequence 50, batch 32, a linear layer on the last
//         output, mean squared error against a target [32, 1];
//   Transformer encoder layer: d_model 128, 4 heads, feed-forward 512, dropout 0, post-norm,
//         sequence 64, batch 32 (batch_first), mean of squares of the output.
#include <cstdio>
#include <cstring>
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

template <class Model, class Loss>
double adam_step(Model& model, const Array<float>& x, const Array<float>& y, Loss loss_of, bool compiled, int reps) {
    optim::Adam<float> adam(model.parameters(), {.lr = 1e-3});
    if (!compiled)
        return bench::median_seconds(
            [&] {
                Tape tape;
                adam.zero_grad();
                loss_of(Tensor32::constant(x), Tensor32::constant(y)).backward();
                adam.step();
            },
            reps);
    CompiledLoss<float> loss(model.parameters(),
                             [&](const TensorList<float>& data) { return loss_of(data[0], data[1]); });
    return bench::median_seconds(
        [&] {
            loss({x, y});
            adam.step();
        },
        reps);
}

double lstm_step(bool compiled, int reps) {
    Generator gen(0);
    LstmRegressor model(gen);
    Array<float> x = randn<float>({32, 50, 32}, gen).value(), y = randn<float>({32, 1}, gen).value();
    return adam_step(
        model, x, y, [&](const Tensor32& in, const Tensor32& t) { return mean(square(model.forward(in) - t)); },
        compiled, reps);
}

double encoder_step(bool compiled, int reps) {
    Generator gen(0);
    nn::TransformerEncoderLayer<float> layer(
        {.d_model = 128, .nhead = 4, .dim_feedforward = 512, .dropout = 0.0, .batch_first = true}, gen);
    Array<float> x = randn<float>({32, 64, 128}, gen).value(), y = Array<float>::from_shape({1});
    return adam_step(
        layer, x, y, [&](const Tensor32& in, const Tensor32&) { return mean(square(layer(in))); }, compiled, reps);
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
    std::printf("sequence models, float32, one Adam step (median of %d)\n", reps);
    std::printf("  LSTM: 2 layers, input 32, hidden 128, sequence 50, batch 32\n");
    std::printf("  Transformer encoder layer: d_model 128, 4 heads, feed-forward 512, sequence 64, batch 32\n");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        bool torch = torch_side::available();
        if (only.empty() || only == "lstm")
            report("LSTM", threads, lstm_step(false, reps), lstm_step(true, reps),
                   torch ? torch_side::lstm_adam_step(reps) : 0);
        if (only.empty() || only == "encoder")
            report("encoder", threads, encoder_step(false, reps), encoder_step(true, reps),
                   torch ? torch_side::encoder_adam_step(reps) : 0);
    }
    return 0;
}
