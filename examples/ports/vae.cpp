// A variational autoencoder of the 8 x 8 digits, ported from vae.py (docs/ports.md counts
// both): a module whose forward returns three tensors. Usage: port_vae DIGITS_CSV [EPOCHS]
#include <cstdio>
#include <string>
#include <tuple>

#include <xtgrad/optim.hpp>

using namespace xtgrad;
using namespace xtgrad::nn;
using std::make_shared;

struct VAE : Module<float> {
    static constexpr std::size_t latent = 4;
    std::shared_ptr<Linear<float>> encoder = register_module("encoder", make_shared<Linear<float>>(64, 32));
    std::shared_ptr<Linear<float>> mean = register_module("mean", make_shared<Linear<float>>(32, latent));
    std::shared_ptr<Linear<float>> log_var = register_module("log_var", make_shared<Linear<float>>(32, latent));
    std::shared_ptr<Sequential<float>> decoder = register_module(
        "decoder", make_shared<Sequential<float>>(make_shared<Linear<float>>(latent, 32), make_shared<Tanh<float>>(),
                                                  make_shared<Linear<float>>(32, 64)));

    std::tuple<Tensor32, Tensor32, Tensor32> forward(const Tensor32& x) {
        auto h = tanh((*encoder)(x));
        auto m = (*mean)(h), lv = (*log_var)(h);
        auto z = m + exp(0.5f * lv) * randn_like(m);
        return {(*decoder)(z), m, lv};
    }
};

Tensor32 loss_of(const Tensor32& logits, const Tensor32& x, const Tensor32& mean, const Tensor32& log_var) {
    auto reconstruction = binary_cross_entropy_with_logits(logits, x, Reduction::sum);
    auto kl = -0.5f * sum(1.0f + log_var - square(mean) - exp(log_var));
    return (reconstruction + kl) / float(x.shape()[0]);
}

int main(int argc, char** argv) {
    auto data = load_csv(argv[1]);
    int epochs = argc > 2 ? std::stoi(argv[2]) : 20;
    DataLoader<float> loader(data, {.batch_size = 64, .shuffle = true}, [](Array<float> x) { return x /= 16.0f; });
    default_generator().manual_seed(0);
    VAE model;
    optim::Adam<float> optimizer(model.parameters(), {.lr = 3e-3});
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        double total = 0;
        for (const auto& batch : loader) {
            Tape tape;
            optimizer.zero_grad();
            auto [logits, mean, log_var] = model.forward(batch.x);
            auto loss = loss_of(logits, batch.x, mean, log_var);
            loss.backward();
            optimizer.step();
            total += loss.item() * double(batch.rows.size());
        }
        std::printf("epoch %d: negative ELBO per image %.3f\n", epoch, total / double(data.rows()));
    }
}
