// Xavier/Glorot and He/Kaiming initialisation from a caller's engine or Generator.
#include "xtgrad/nn/init.hpp"

#include <cmath>

#include <fmt/format.h>

#include <xtensor/xbuilder.hpp>

#include "xtgrad/autodiff/errors.hpp"
#include "xtgrad/autodiff/random.hpp"

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

template Array<float> initial_values(Init, const Shape&, std::size_t, std::size_t, Generator&);
template Array<double> initial_values(Init, const Shape&, std::size_t, std::size_t, Generator&);
template Array<float> initial_values(Init, const Shape&, std::size_t, std::size_t, std::mt19937_64&);
template Array<double> initial_values(Init, const Shape&, std::size_t, std::size_t, std::mt19937_64&);

}  // namespace xtgrad::nn
