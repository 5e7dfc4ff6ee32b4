// Xavier/Glorot and He/Kaiming initialisation from a caller's engine.
#include "xtgrad/nn/init.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::nn {

template <class T>
Array<T> initial_values(Init init, const Shape& shape, std::size_t fan_in, std::size_t fan_out, std::mt19937_64& rng) {
    if (fan_in == 0 || fan_out == 0)
        throw ValueError(fmt::format("initial_values: fan_in {} and fan_out {} must be positive", fan_in, fan_out));
    Array<T> a = Array<T>::from_shape(shape);
    auto fill_uniform = [&](double bound) {
        std::uniform_real_distribution<double> u(-bound, bound);
        for (auto& v : a) v = static_cast<T>(u(rng));
    };
    auto fill_normal = [&](double stddev) {
        std::normal_distribution<double> n(0.0, stddev);
        for (auto& v : a) v = static_cast<T>(n(rng));
    };
    const double in = double(fan_in), out = double(fan_out);
    switch (init) {
        case Init::xavier_uniform:
            fill_uniform(std::sqrt(6.0 / (in + out)));
            break;
        case Init::xavier_normal:
            fill_normal(std::sqrt(2.0 / (in + out)));
            break;
        case Init::he_uniform:
            fill_uniform(std::sqrt(6.0 / in));
            break;
        case Init::he_normal:
            fill_normal(std::sqrt(2.0 / in));
            break;
        case Init::zeros:
            a.fill(T(0));
            break;
    }
    return a;
}

template Array<float> initial_values(Init, const Shape&, std::size_t, std::size_t, std::mt19937_64&);
template Array<double> initial_values(Init, const Shape&, std::size_t, std::size_t, std::mt19937_64&);

}  // namespace xtgrad::nn
