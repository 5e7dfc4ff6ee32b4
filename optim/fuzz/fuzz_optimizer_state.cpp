// libFuzzer target: any bytes as a saved training checkpoint: parsed as .npz, then loaded as
// the state of every optimizer over a small fixed set of parameters, and a step taken with
// what loaded. Only xtgrad's typed errors may come out.
#include <cstdint>
#include <string_view>

#include "xtgrad/optim.hpp"

using namespace xtgrad;

namespace {
template <class Opt>
void load_and_step(Opt& opt, const nn::NamedArrays<double>& state, const TensorList<double>& params) {
    try {
        opt.load_state(state);
    } catch (const ValueError&) {
        return;
    } catch (const ShapeError&) {
        return;
    }
    auto closure = [&] {
        opt.zero_grad();
        Tape tape;
        auto loss = sum(square(params[0] - 1.0)) + sum(square(params[1]));
        loss.backward();
        return loss.item();
    };
    try {
        opt.step(closure);
    } catch (const optim::NonFiniteError&) {  // loaded state may lead to inf or NaN: that is reported
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    nn::NamedArrays<double> state;
    try {
        state = nn::parse_npz<double>(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npz",
                                      {.max_bytes = 16u << 20});
    } catch (const IoError&) {
        return 0;
    }
    auto w = Tensor::parameter(Array<double>{{0.5, -1.0}, {2.0, 0.25}});
    auto b = Tensor::parameter(Array<double>{0.1, 0.2});
    TensorList<double> params{w, b};
    nn::NamedTensors<double> named{{"w", w}, {"b", b}};
    {
        optim::SGD<double> opt(named, {.lr = 0.1, .momentum = 0.9});
        load_and_step(opt, state, params);
    }
    {
        optim::Adam<double> opt(named, {});
        load_and_step(opt, state, params);
    }
    {
        optim::LBFGS<double> opt(named, {.history_size = 4});
        load_and_step(opt, state, params);
    }
    {
        optim::ConjugateGradient<double> opt(named, {});
        load_and_step(opt, state, params);
    }
    {
        optim::NaturalGradient<double> opt(
            named, {[&] { return w * 1.0; }, [&](const Tensor& z) { return 0.5 * sum(square(z)); }}, {});
        try {
            opt.load_state(state);
            opt.step();
        } catch (const ValueError&) {
        } catch (const optim::NonFiniteError&) {
        }
    }
    return 0;
}
