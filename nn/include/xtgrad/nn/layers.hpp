// Layers without a family of their own: Dropout, Embedding.
#pragma once

#include <random>

#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

/// In training, zeroes each element with probability p and scales the others by 1 / (1 - p)
/// (inverted dropout, as PyTorch); in evaluation (`eval()`), the identity. The masks come from
/// a Generator (random.hpp): the layer's own, seeded (a run is reproducible), or one given
/// (PyTorch's layers share the global one). p in [0, 1). A compiled function draws a fresh
/// mask on every replay, the same as eager calls would with the same generator.
template <class T>
class Dropout : public Layer<T> {
public:
    explicit Dropout(double p, std::uint64_t seed = 0);
    Dropout(double p, Generator generator);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    Generator& generator() { return gen_; }

private:
    double p_;
    Generator gen_;
};

/// A table of `count` vectors of size `dim`, looked up by integer indices: the output has the
/// indices' shape followed by dim. Initialised N(0, 1) as PyTorch; its gradient adds up the
/// rows of repeated indices (index_select's rule).
template <class T>
class Embedding : public Layer<T> {
public:
    Embedding(std::size_t count, std::size_t dim, std::mt19937_64& rng);
    /// The same, the table drawn from a Generator (random.hpp).
    Embedding(std::size_t count, std::size_t dim, Generator& gen);
    BasicTensor<T> forward(const IndexArray& indices);
    /// Indices held in a tensor (their values must be whole numbers).
    BasicTensor<T> forward(const BasicTensor<T>& indices) override;
    using Layer<T>::operator();
    /// embedding(indices) with an IndexArray, named in a compiled function's trace as any call.
    BasicTensor<T> operator()(const IndexArray& indices) {
        return this->scoped([&] { return forward(indices); });
    }
    const BasicTensor<T>& weight() const { return weight_; }

private:
    template <class Source>
    void initialise(Source& source);
    std::size_t count_, dim_;
    BasicTensor<T> weight_;
};

extern template class Dropout<float>;
extern template class Dropout<double>;
extern template class Embedding<float>;
extern template class Embedding<double>;

}  // namespace xtgrad::nn
