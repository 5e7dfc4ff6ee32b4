// Parameter initialisation, always from an explicit seeded engine so results reproduce.
#pragma once

#include <random>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad {
class Generator;
}

namespace xtgrad::nn {

enum class Init {
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

}  // namespace xtgrad::nn
