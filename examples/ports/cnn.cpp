// A CNN with BatchNorm and Dropout on the 8 x 8 digits, ported from cnn.py (docs/ports.md
// counts both). Usage: port_cnn DIGITS_CSV [EPOCHS]
#include <cstdio>
#include <string>

#include <xtgrad/optim.hpp>

using namespace xtgrad;
using namespace xtgrad::nn;
using std::make_shared;

int main(int argc, char** argv) {
    auto data = load_csv(argv[1]);
    int epochs = argc > 2 ? std::stoi(argv[2]) : 10;
    data.features /= 16.0;
    auto train = row_range(data, 0, 1500), test = row_range(data, 1500, data.rows());
    auto x_test = reshape(Tensor32::constant(test.features), {-1, 1, 8, 8});
    DataLoader<float> loader(train, {.batch_size = 64, .shuffle = true, .sample_shape = {1, 8, 8}});
    default_generator().manual_seed(0);
    Sequential<float> model(  // Conv2d(in, out, kernel, stride, padding): PyTorch's positional order
        make_shared<Conv2d<float>>(1, 16, 3, 1, 1), make_shared<BatchNorm2d<float>>(16), make_shared<ReLU<float>>(),
        make_shared<MaxPool2d<float>>(2), make_shared<Conv2d<float>>(16, 32, 3, 1, 1),
        make_shared<BatchNorm2d<float>>(32), make_shared<ReLU<float>>(), make_shared<MaxPool2d<float>>(2),
        make_shared<Flatten<float>>(), make_shared<Dropout<float>>(0.25), make_shared<Linear<float>>(128, 10));
    optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-2});
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        model.train();
        double total = 0;
        for (const auto& batch : loader) {
            Tape tape;
            optimizer.zero_grad();
            auto loss = cross_entropy(model(batch.x), batch.labels());
            loss.backward();
            optimizer.step();
            total += loss.item() * double(batch.rows.size());
        }
        model.eval();
        NoGrad no_grad;
        double acc = accuracy(model(x_test).value(), to_labels(test.target));
        std::printf("epoch %d: training loss %.4f, test accuracy %.3f\n", epoch, total / 1500, acc);
    }
}
