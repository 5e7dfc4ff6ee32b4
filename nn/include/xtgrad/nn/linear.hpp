// Fully connected layers and the MLP built from them.
#pragma once

#include <random>
#include <vector>

#include "xtgrad/nn/functional.hpp"
#include "xtgrad/nn/init.hpp"
#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

struct LinearOptions {
    std::size_t in = 0;   ///< input features (> 0; PyTorch's in_features)
    std::size_t out = 0;  ///< output features (> 0; PyTorch's out_features)
    bool bias = true;
    /// PyTorch's default: U(+-1/sqrt(in)) for the weight and the bias. With another rule the
    /// bias starts at zero.
    Init weight_init = Init::pytorch_default;
};

/// y = x W^T + b with W of shape [out, in] and b [out], as torch::nn::Linear (the names,
/// shapes and layout a PyTorch state_dict has): functional::linear, one BLAS call with W
/// transposed by a flag. Accepts inputs [..., in]; throws ShapeError naming the layer otherwise.
template <class T>
class Linear : public Layer<T> {
public:
    /// Linear(64, 10): weights from the default generator (as PyTorch's from its global one).
    Linear(std::size_t in, std::size_t out, bool bias = true);
    explicit Linear(const LinearOptions& options);
    Linear(const LinearOptions& options, std::mt19937_64& rng);
    /// The same, the weights drawn from a Generator (random.hpp).
    Linear(const LinearOptions& options, Generator& gen);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const LinearOptions& options() const { return options_; }
    const BasicTensor<T>& weight() const { return weight_; }
    const BasicTensor<T>& bias() const { return bias_; }  ///< undefined when options.bias is false

private:
    template <class Source>
    void initialise(Source& source);
    LinearOptions options_;
    BasicTensor<T> weight_, bias_;
};

/// Linear layers of the given widths ({784, 256, 256, 10}: three layers) with `activation`
/// between them and none after the last. Weights are He-initialised for ReLU, Xavier otherwise.
template <class T>
class MLP : public Sequential<T> {
public:
    MLP(const std::vector<std::size_t>& widths, Activation activation, std::mt19937_64& rng);
    MLP(const std::vector<std::size_t>& widths, Activation activation, Generator& gen);

private:
    template <class Source>
    void build(const std::vector<std::size_t>& widths, Activation activation, Source& source);
};

extern template class Linear<float>;
extern template class Linear<double>;
extern template class MLP<float>;
extern template class MLP<double>;

}  // namespace xtgrad::nn
