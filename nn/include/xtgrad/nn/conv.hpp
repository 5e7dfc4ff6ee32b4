// Convolution and pooling over sequences [N, C, L] and images [N, C, H, W]: thin layers over
// functional.hpp's forms, with PyTorch's names, layouts, output sizes and initialisation.
#pragma once

#include <array>
#include <random>

#include "xtgrad/nn/functional.hpp"
#include "xtgrad/nn/init.hpp"
#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

/// Options of Conv1d and Conv2d (torch::nn::ConvOptions). kernel_size has no default:
/// leaving it out does not compile; sizes below their minimum (kernel_size, stride, dilation 1;
/// padding 0) and channels that groups does not divide are refused at construction, naming
/// the layer. Designated initialisers must follow this order (C++'s rule).
template <std::size_t N>
struct ConvOptions {
    std::size_t in_channels = 0, out_channels = 0;  ///< > 0, each divisible by groups
    ExpandingArray<N> kernel_size;
    ExpandingArray<N> stride = 1;
    ExpandingArray<N> padding = 0;  ///< zeros on each side
    ExpandingArray<N> dilation = 1;
    std::size_t groups = 1;  ///< channels split into groups convolved separately
    bool bias = true;
    /// fan_in = in_channels / groups * kernel elements. With PyTorch's default the bias is
    /// U(+-1/sqrt(fan_in)) as PyTorch's; with another rule it starts at zero.
    Init weight_init = Init::pytorch_default;
};
using Conv1dOptions = ConvOptions<1>;
using Conv2dOptions = ConvOptions<2>;

/// Cross-correlation over N spatial axes, as torch::nn::Conv1d/Conv2d: weight [out, in /
/// groups, k...], bias [out]; functional::conv1d/conv2d with the layer's weights.
template <class T, std::size_t N>
class Conv : public Layer<T> {
public:
    /// Weights drawn from the default generator (as PyTorch's from its global one).
    Conv(std::size_t in_channels, std::size_t out_channels, ExpandingArray<N> kernel_size,
         const functional::ConvFuncOptions<N>& geometry = {});  ///< Conv2d(1, 16, 3, {.padding = 1})
    /// PyTorch's positional order: Conv2d(1, 16, 3, 1, 1) is stride 1, padding 1.
    Conv(std::size_t in_channels, std::size_t out_channels, ExpandingArray<N> kernel_size, ExpandingArray<N> stride,
         ExpandingArray<N> padding = 0, ExpandingArray<N> dilation = 1, std::size_t groups = 1, bool bias = true);
    explicit Conv(const ConvOptions<N>& options);
    Conv(const ConvOptions<N>& options, std::mt19937_64& rng);
    Conv(const ConvOptions<N>& options, Generator& gen);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const ConvOptions<N>& options() const { return options_; }
    const BasicTensor<T>& weight() const { return weight_; }
    const BasicTensor<T>& bias() const { return bias_; }  ///< undefined when options.bias is false

private:
    template <class Source>
    void initialise(Source& source);
    ConvOptions<N> options_;
    BasicTensor<T> weight_, bias_;
};
template <class T>
using Conv1d = Conv<T, 1>;
template <class T>
using Conv2d = Conv<T, 2>;

/// Max pooling over N spatial axes (torch::nn::MaxPool1d/2d): functional::max_pool1d/2d.
/// Options are checked at construction, naming the layer.
template <class T, std::size_t N>
class MaxPool : public Layer<T> {
public:
    explicit MaxPool(ExpandingArray<N> kernel_size) : MaxPool(functional::PoolOptions<N>{.kernel_size = kernel_size}) {}
    explicit MaxPool(const functional::PoolOptions<N>& options);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const functional::PoolOptions<N>& options() const { return options_; }

private:
    functional::PoolOptions<N> options_;
};
template <class T>
using MaxPool1d = MaxPool<T, 1>;
template <class T>
using MaxPool2d = MaxPool<T, 2>;

/// Average pooling over N spatial axes (torch::nn::AvgPool1d/2d): functional::avg_pool1d/2d.
template <class T, std::size_t N>
class AvgPool : public Layer<T> {
public:
    explicit AvgPool(ExpandingArray<N> kernel_size) : AvgPool(functional::PoolOptions<N>{.kernel_size = kernel_size}) {}
    explicit AvgPool(const functional::PoolOptions<N>& options);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const functional::PoolOptions<N>& options() const { return options_; }

private:
    functional::PoolOptions<N> options_;
};
template <class T>
using AvgPool1d = AvgPool<T, 1>;
template <class T>
using AvgPool2d = AvgPool<T, 2>;
using functional::Pool1dOptions;
using functional::Pool2dOptions;
using functional::Conv1dFuncOptions;
using functional::Conv2dFuncOptions;

/// [N, d1, d2, ...] to [N, d1 d2 ...].
template <class T>
class Flatten : public Layer<T> {
public:
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
};

extern template class Conv<float, 1>;
extern template class Conv<double, 1>;
extern template class Conv<float, 2>;
extern template class Conv<double, 2>;
extern template class MaxPool<float, 1>;
extern template class MaxPool<double, 1>;
extern template class MaxPool<float, 2>;
extern template class MaxPool<double, 2>;
extern template class AvgPool<float, 1>;
extern template class AvgPool<double, 1>;
extern template class AvgPool<float, 2>;
extern template class AvgPool<double, 2>;
extern template class Flatten<float>;
extern template class Flatten<double>;

}  // namespace xtgrad::nn
