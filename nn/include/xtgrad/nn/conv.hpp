// Convolution and pooling over images [N, C, H, W], built on unfold2d (im2col) and matmul, so
// they are differentiable twice like every op. Layouts and output sizes are PyTorch's.
#pragma once

#include <array>
#include <random>

#include "xtgrad/nn/init.hpp"
#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

struct Conv2dOptions {
    std::size_t in_channels = 0, out_channels = 0;  ///< > 0, each divisible by groups
    std::array<std::size_t, 2> kernel{3, 3};
    std::array<std::size_t, 2> stride{1, 1};
    std::array<std::size_t, 2> padding{0, 0};  ///< zeros on each side
    std::array<std::size_t, 2> dilation{1, 1};
    std::size_t groups = 1;  ///< channels split into groups convolved separately
    bool bias = true;
    Init weight_init = Init::he_uniform;  ///< fan_in = in_channels / groups * kh * kw
};

/// 2-D cross-correlation, as torch::nn::Conv2d: weight [out, in / groups, kh, kw], bias [out];
/// output [N, out, (H + 2 pad - dil (kh - 1) - 1) / stride + 1, likewise for W]. Computed as
/// matmul(unfold2d(x), weight^T) per group.
template <class T>
class Conv2d : public Module<T> {
public:
    Conv2d(const Conv2dOptions& options, std::mt19937_64& rng);
    /// The same, the weights drawn from a Generator (random.hpp).
    Conv2d(const Conv2dOptions& options, Generator& gen);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const Conv2dOptions& options() const { return options_; }
    const BasicTensor<T>& weight() const { return weight_; }
    const BasicTensor<T>& bias() const { return bias_; }

private:
    template <class Source>
    void initialise(Source& source);
    Conv2dOptions options_;
    BasicTensor<T> weight_, bias_;
};

struct Pool2dOptions {
    std::array<std::size_t, 2> kernel{2, 2};
    std::array<std::size_t, 2> stride{0, 0};   ///< {0, 0}: the kernel size (PyTorch's default)
    std::array<std::size_t, 2> padding{0, 0};  ///< AvgPool2d only (zeros, counted in the mean)
};

/// The maximum of each window, per channel; the gradient goes to the maximum (the first in
/// row-major order at ties, as in PyTorch; a NaN in a window is its maximum and propagates).
/// Padding is refused (ValueError): zeros would win windows of negative values.
template <class T>
class MaxPool2d : public Module<T> {
public:
    explicit MaxPool2d(const Pool2dOptions& options);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;

private:
    Pool2dOptions options_;
};

/// The mean of each window, per channel (padding zeros included, as PyTorch's default).
template <class T>
class AvgPool2d : public Module<T> {
public:
    explicit AvgPool2d(const Pool2dOptions& options);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;

private:
    Pool2dOptions options_;
};

/// [N, d1, d2, ...] to [N, d1 d2 ...].
template <class T>
class Flatten : public Module<T> {
public:
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
};

extern template class Conv2d<float>;
extern template class Conv2d<double>;
extern template class MaxPool2d<float>;
extern template class MaxPool2d<double>;
extern template class AvgPool2d<float>;
extern template class AvgPool2d<double>;
extern template class Flatten<float>;
extern template class Flatten<double>;

}  // namespace xtgrad::nn
