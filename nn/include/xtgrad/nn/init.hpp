// Parameter initialisation: the rules layers use (Init), and PyTorch's torch.nn.init
// functions by name, which overwrite a parameter's value in place from a Generator.
#pragma once

#include <random>
#include <string_view>

#include "xtgrad/autodiff/random.hpp"

namespace xtgrad::nn {

enum class Init {
    /// PyTorch's default for Linear and Conv: kaiming_uniform with a = sqrt(5), which is
    /// U(-a, a), a = 1 / sqrt(fan_in); the layer's bias then U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    pytorch_default,
    xavier_uniform,  ///< U(-a, a), a = sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio 2010)
    xavier_normal,   ///< N(0, 2 / (fan_in + fan_out))
    he_uniform,      ///< U(-a, a), a = sqrt(6 / fan_in)                (He et al. 2015)
    he_normal,       ///< N(0, 2 / fan_in)
    zeros,
};

/// An array of `shape` drawn by `init` for a layer with the given fan-in and fan-out.
template <class T>
Array<T> initial_values(Init init, const Shape& shape, std::size_t fan_in, std::size_t fan_out, std::mt19937_64& rng);
/// The same rules drawn from a Generator (random.hpp: counter-based, by seed and position).
template <class T>
Array<T> initial_values(Init init, const Shape& shape, std::size_t fan_in, std::size_t fan_out, Generator& gen);

/// torch.nn.init's functions: each overwrites `t`'s value (a parameter or buffer; the shape
/// stays) and returns it. Fans as torch.nn.init._calculate_fan_in_and_fan_out: for [out, in,
/// k...] fan_in = in k..., fan_out = out k... (at least 2 dimensions where a fan is needed).
namespace init {
enum class FanMode { fan_in, fan_out };
/// torch.nn.init.calculate_gain: "linear", "conv1d", "conv2d", "sigmoid" 1; "tanh" 5/3;
/// "relu" sqrt(2); "leaky_relu" sqrt(2 / (1 + param^2)) (param: the negative slope, 0.01 if
/// not given); "selu" 3/4. Others are a ValueError.
double calculate_gain(std::string_view nonlinearity, double param = 0.01);
/// {fan_in, fan_out} of a parameter of `shape`; ValueError for fewer than 2 dimensions.
std::pair<std::size_t, std::size_t> fans(const Shape& shape);

template <class T>
BasicTensor<T>& uniform_(BasicTensor<T>& t, double a = 0, double b = 1, Generator& gen = default_generator());
template <class T>
BasicTensor<T>& normal_(BasicTensor<T>& t, double mean = 0, double std = 1, Generator& gen = default_generator());
template <class T>
BasicTensor<T>& constant_(BasicTensor<T>& t, double value);
template <class T>
BasicTensor<T>& zeros_(BasicTensor<T>& t);
template <class T>
BasicTensor<T>& ones_(BasicTensor<T>& t);
/// U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)).
template <class T>
BasicTensor<T>& xavier_uniform_(BasicTensor<T>& t, double gain = 1, Generator& gen = default_generator());
/// N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out)).
template <class T>
BasicTensor<T>& xavier_normal_(BasicTensor<T>& t, double gain = 1, Generator& gen = default_generator());
/// U(-b, b), b = gain(nonlinearity, a) sqrt(3 / fan); PyTorch's defaults (a = 0, fan_in,
/// "leaky_relu"). Linear's and Conv's weights are this with a = sqrt(5).
template <class T>
BasicTensor<T>& kaiming_uniform_(BasicTensor<T>& t, double a = 0, FanMode mode = FanMode::fan_in,
                                 std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator());
/// N(0, s^2), s = gain(nonlinearity, a) / sqrt(fan).
template <class T>
BasicTensor<T>& kaiming_normal_(BasicTensor<T>& t, double a = 0, FanMode mode = FanMode::fan_in,
                                std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator());
}  // namespace init

}  // namespace xtgrad::nn
