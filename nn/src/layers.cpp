// Dropout and Embedding: each a few ops, so differentiable twice.
#include "xtgrad/nn/layers.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xtgrad/nn/functional.hpp"

namespace xtgrad::nn {

template <class T>
Dropout<T>::Dropout(double p, std::uint64_t seed) : Dropout(p, Generator(seed)) {}

template <class T>
Dropout<T>::Dropout(double p, Generator generator) : p_(p), gen_(std::move(generator)) {
    if (!(p >= 0 && p < 1)) throw ValueError(fmt::format("Dropout: p must be in [0, 1), got {}", p));
}

template <class T>
BasicTensor<T> Dropout<T>::forward(const BasicTensor<T>& input) {
    if (!input.defined()) throw ValueError("Dropout: the input is undefined");
    return dropout(input, p_, this->is_training(), gen_);
}

template <class T>
template <class Source>
void Embedding<T>::initialise(Source& source) {
    if (count_ == 0 || dim_ == 0)
        throw ValueError(fmt::format("Embedding: count {} and dim {} must be positive", count_, dim_));
    Array<T> w;
    if constexpr (std::is_same_v<Source, Generator>) {
        w = randn<T>({count_, dim_}, source).value();
    } else {
        std::normal_distribution<double> normal(0.0, 1.0);
        w = Array<T>::from_shape({count_, dim_});
        for (auto& e : w) e = T(normal(source));
    }
    weight_ = this->register_parameter("weight", std::move(w));
}

template <class T>
Embedding<T>::Embedding(std::size_t count, std::size_t dim, std::mt19937_64& rng) : count_(count), dim_(dim) {
    initialise(rng);
}

template <class T>
Embedding<T>::Embedding(std::size_t count, std::size_t dim, Generator& gen) : count_(count), dim_(dim) {
    initialise(gen);
}

template <class T>
BasicTensor<T> Embedding<T>::forward(const IndexArray& indices) {
    for (std::size_t i = 0; i < indices.size(); ++i)
        if (indices[i] < 0 || std::size_t(indices[i]) >= count_)
            throw ValueError(
                fmt::format("Embedding({}, {}): index {} at position {} is out of range", count_, dim_, indices[i], i));
    return functional::embedding(indices, weight_);
}

template <class T>
BasicTensor<T> Embedding<T>::forward(const BasicTensor<T>& indices) {
    if (!indices.defined()) throw ValueError("Embedding: the indices are undefined");
    return functional::embedding(indices, weight_);
}

template class Dropout<float>;
template class Dropout<double>;
template class Embedding<float>;
template class Embedding<double>;

}  // namespace xtgrad::nn
