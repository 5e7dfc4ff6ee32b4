// The digits examples' shared model and training loop.
#include "digits_training.hpp"

namespace lecture {

using namespace xtgrad;

nn::Table classification_table(const Array<double>& x, const std::vector<std::size_t>& y) {
    nn::Table t{x, Array<double>::from_shape({y.size()})};
    for (std::size_t i = 0; i < y.size(); ++i) t.target(i) = double(y[i]);
    return t;
}

Array<float> as_images(Array<float> x) {
    x.reshape({x.shape()[0], 1, 8, 8});
    return x;
}

std::shared_ptr<nn::Sequential<float>> digits_cnn(std::mt19937_64& rng) {
    auto net = std::make_shared<nn::Sequential<float>>();
    net->push_back(std::make_shared<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = 1, .out_channels = 16, .kernel_size = 3, .padding = 1}, rng));
    net->push_back(std::make_shared<nn::ActivationLayer<float>>(nn::Activation::relu));
    net->push_back(std::make_shared<nn::MaxPool2d<float>>(nn::Pool2dOptions{.kernel_size = 2}));  // 16 x 4 x 4
    net->push_back(std::make_shared<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = 16, .out_channels = 32, .kernel_size = 3, .padding = 1}, rng));
    net->push_back(std::make_shared<nn::ActivationLayer<float>>(nn::Activation::relu));
    net->push_back(std::make_shared<nn::MaxPool2d<float>>(nn::Pool2dOptions{.kernel_size = 2}));  // 32 x 2 x 2
    net->push_back(std::make_shared<nn::Flatten<float>>());
    net->push_back(std::make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 128, .out = 10}, rng));
    return net;
}

Curve train_classifier(Context& ctx, nn::Module<float>& model, const std::function<Tensor32(const Tensor32&)>& forward,
                       nn::DataLoader<float>& loader, const Tensor32& x_test, const std::vector<std::size_t>& y_test,
                       const char* label, std::size_t epochs, double lr) {
    optim::Adam<float> adam(model.parameters(), {.lr = lr});
    Curve curve;
    for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
        model.train();
        double total = 0;
        for (const auto& batch : loader) {
            Tape tape;
            adam.zero_grad();
            auto loss = nn::cross_entropy(forward(batch.x), batch.labels());
            loss.backward();
            adam.step();
            total += loss.item() * double(batch.rows.size());
        }
        model.eval();
        NoGrad no_grad;
        curve.loss.push_back(total / double(loader.rows()));
        curve.accuracy.push_back(nn::accuracy(forward(x_test).value(), y_test));
        ctx.progress(label, epoch, epochs, curve.loss.back(), curve.accuracy.back());
    }
    ctx.end_progress();
    return curve;
}

}  // namespace lecture
