// Xavier/Glorot and He/Kaiming initialisation from a caller's engine or Generator.
#include "xtgrad/nn/init.hpp"

#include <cmath>

#include <fmt/format.h>

#include <xtensor/xbuilder.hpp>

#include "xtgrad/autodiff/errors.hpp"
#include "xtgrad/autodiff/random.hpp"
#include "xtgrad/autodiff/tensor.hpp"
#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad::nn {

namespace {
// The scale of each rule, the values from `uniform(bound)` (on [-bound, bound]) or
// `normal(stddev)`, so that an engine and a Generator draw for the same rules.
template <class T, class Uniform, class Normal>
Array<T> drawn(Init init, const Shape& shape, std::size_t fan_in, std::size_t fan_out, Uniform uniform, Normal normal) {
    if (fan_in == 0 || fan_out == 0)
        throw ValueError(fmt::format("initial_values: fan_in {} and fan_out {} must be positive", fan_in, fan_out));
    const double in = double(fan_in), out = double(fan_out);
    switch (init) {
        case Init::pytorch_default: return uniform(1.0 / std::sqrt(in));
        case Init::xavier_uniform: return uniform(std::sqrt(6.0 / (in + out)));
        case Init::xavier_normal: return normal(std::sqrt(2.0 / (in + out)));
        case Init::he_uniform: return uniform(std::sqrt(6.0 / in));
        case Init::he_normal: return normal(std::sqrt(2.0 / in));
        case Init::zeros: return Array<T>(xt::zeros<T>(shape));
    }
    throw ValueError("initial_values: unknown rule");
}
}  // namespace

template <class T>
Array<T> initial_values(Init init, const Shape& shape, std::size_t fan_in, std::size_t fan_out, std::mt19937_64& rng) {
    auto fill = [&](auto distribution) {
        Array<T> a = Array<T>::from_shape(shape);
        for (auto& v : a) v = static_cast<T>(distribution(rng));
        return a;
    };
    return drawn<T>(
        init, shape, fan_in, fan_out,
        [&](double bound) { return fill(std::uniform_real_distribution<double>(-bound, bound)); },
        [&](double stddev) { return fill(std::normal_distribution<double>(0.0, stddev)); });
}

template <class T>
Array<T> initial_values(Init init, const Shape& shape, std::size_t fan_in, std::size_t fan_out, Generator& gen) {
    return drawn<T>(
        init, shape, fan_in, fan_out,
        [&](double bound) { return Array<T>((T(2) * rand<T>(shape, gen).value() - T(1)) * T(bound)); },
        [&](double stddev) { return Array<T>(randn<T>(shape, gen).value() * T(stddev)); });
}

namespace init {

double calculate_gain(std::string_view nonlinearity, double param) {
    if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" || nonlinearity == "sigmoid" ||
        nonlinearity == "identity")
        return 1.0;
    if (nonlinearity == "tanh") return 5.0 / 3.0;
    if (nonlinearity == "relu") return std::sqrt(2.0);
    if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
    if (nonlinearity == "selu") return 0.75;
    throw ValueError(fmt::format("calculate_gain: unknown nonlinearity '{}'", nonlinearity));
}

std::pair<std::size_t, std::size_t> fans(const Shape& shape) {
    if (shape.size() < 2)
        throw ValueError(fmt::format("init: fans of a tensor of shape {} (at least 2 dimensions needed)",
                                     to_string(shape)));
    std::size_t field = 1;
    for (std::size_t d = 2; d < shape.size(); ++d) field *= shape[d];
    return {shape[1] * field, shape[0] * field};
}

namespace {
template <class T>
BasicTensor<T>& filled(BasicTensor<T>& t, Array<T> values) {
    t.set_value(std::move(values));
    return t;
}
std::size_t fan(const Shape& shape, FanMode mode) {
    auto [in, out] = fans(shape);
    if ((mode == FanMode::fan_in ? in : out) == 0)
        throw ValueError(fmt::format("init: a fan of 0 for a tensor of shape {}", to_string(shape)));
    return mode == FanMode::fan_in ? in : out;
}
}  // namespace

template <class T>
BasicTensor<T>& uniform_(BasicTensor<T>& t, double a, double b, Generator& gen) {
    if (!(a <= b)) throw ValueError(fmt::format("uniform_: the bounds {} and {} are not in order", a, b));
    return filled(t, Array<T>(rand<T>(t.shape(), gen).value() * T(b - a) + T(a)));
}
template <class T>
BasicTensor<T>& normal_(BasicTensor<T>& t, double mean, double std, Generator& gen) {
    if (!(std >= 0)) throw ValueError(fmt::format("normal_: std must be non-negative, got {}", std));
    return filled(t, Array<T>(randn<T>(t.shape(), gen).value() * T(std) + T(mean)));
}
template <class T>
BasicTensor<T>& constant_(BasicTensor<T>& t, double value) {
    Array<T> values = Array<T>::from_shape(t.shape());
    values.fill(T(value));
    return filled(t, std::move(values));
}
template <class T>
BasicTensor<T>& zeros_(BasicTensor<T>& t) {
    return constant_(t, 0.0);
}
template <class T>
BasicTensor<T>& ones_(BasicTensor<T>& t) {
    return constant_(t, 1.0);
}
template <class T>
BasicTensor<T>& xavier_uniform_(BasicTensor<T>& t, double gain, Generator& gen) {
    auto [in, out] = fans(t.shape());
    double a = gain * std::sqrt(6.0 / double(in + out));
    return uniform_(t, -a, a, gen);
}
template <class T>
BasicTensor<T>& xavier_normal_(BasicTensor<T>& t, double gain, Generator& gen) {
    auto [in, out] = fans(t.shape());
    return normal_(t, 0.0, gain * std::sqrt(2.0 / double(in + out)), gen);
}
template <class T>
BasicTensor<T>& kaiming_uniform_(BasicTensor<T>& t, double a, FanMode mode, std::string_view nonlinearity,
                                 Generator& gen) {
    double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / double(fan(t.shape(), mode)));
    return uniform_(t, -bound, bound, gen);
}
template <class T>
BasicTensor<T>& kaiming_normal_(BasicTensor<T>& t, double a, FanMode mode, std::string_view nonlinearity,
                                Generator& gen) {
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(double(fan(t.shape(), mode))), gen);
}

#define XTGRAD_INSTANTIATE(T)                                                                                  \
    template BasicTensor<T>& uniform_(BasicTensor<T>&, double, double, Generator&);                            \
    template BasicTensor<T>& normal_(BasicTensor<T>&, double, double, Generator&);                             \
    template BasicTensor<T>& constant_(BasicTensor<T>&, double);                                               \
    template BasicTensor<T>& zeros_(BasicTensor<T>&);                                                          \
    template BasicTensor<T>& ones_(BasicTensor<T>&);                                                           \
    template BasicTensor<T>& xavier_uniform_(BasicTensor<T>&, double, Generator&);                             \
    template BasicTensor<T>& xavier_normal_(BasicTensor<T>&, double, Generator&);                              \
    template BasicTensor<T>& kaiming_uniform_(BasicTensor<T>&, double, FanMode, std::string_view, Generator&); \
    template BasicTensor<T>& kaiming_normal_(BasicTensor<T>&, double, FanMode, std::string_view, Generator&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE

}  // namespace init

template Array<float> initial_values(Init, const Shape&, std::size_t, std::size_t, Generator&);
template Array<double> initial_values(Init, const Shape&, std::size_t, std::size_t, Generator&);
template Array<float> initial_values(Init, const Shape&, std::size_t, std::size_t, std::mt19937_64&);
template Array<double> initial_values(Init, const Shape&, std::size_t, std::size_t, std::mt19937_64&);

}  // namespace xtgrad::nn
