// The 8 x 8 digits read row by row (8 steps of 8 pixels) by an LSTM, classified from its last
// hidden state, ported from lstm.py (docs/ports.md counts both). Usage: port_lstm DIGITS_CSV [EPOCHS]
#include <cstdio>
#include <string>

#include <xtgrad/optim.hpp>

using namespace xtgrad;
using namespace xtgrad::nn;
using std::make_shared;

struct Reader : Module<float> {
    std::shared_ptr<LSTM<float>> lstm = register_module(
        "lstm", make_shared<LSTM<float>>(RecurrentOptions{.input_size = 8, .hidden_size = 32, .batch_first = true}));
    std::shared_ptr<Linear<float>> head = register_module("head", make_shared<Linear<float>>(32, 10));

    Tensor32 forward(const Tensor32& x) {  // x [B, 8 rows, 8 pixels]
        auto [output, h_n, c_n] = (*lstm)(x);
        return (*head)(select(h_n, 0, -1));
    }
};

int main(int argc, char** argv) {
    auto data = load_csv(argv[1]);
    int epochs = argc > 2 ? std::stoi(argv[2]) : 10;
    data.features /= 16.0;
    auto train = row_range(data, 0, 1500), test = row_range(data, 1500, data.rows());
    DataLoader<float> loader(train, {.batch_size = 64, .shuffle = true, .sample_shape = {8, 8}});
    auto x_test = reshape(Tensor32::constant(test.features), {-1, 8, 8});
    default_generator().manual_seed(0);
    Reader model;
    optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-2});
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        double total = 0;
        for (const auto& batch : loader) {
            Tape tape;
            optimizer.zero_grad();
            auto loss = cross_entropy(model.forward(batch.x), batch.labels());
            loss.backward();
            optimizer.step();
            total += loss.item() * double(batch.rows.size());
        }
        NoGrad no_grad;
        double acc = accuracy(model.forward(x_test).value(), to_labels(test.target));
        std::printf("epoch %d: training loss %.4f, test accuracy %.3f\n", epoch, total / 1500, acc);
    }
}
