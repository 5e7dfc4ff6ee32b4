// Normalisation layers: LayerNorm (per sample) and BatchNorm (per channel over the batch,
// with running statistics for evaluation, saved in checkpoints as buffers).
#pragma once

#include "xtgrad/nn/functional.hpp"
#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

/// Normalises over the trailing `normalized_shape` dimensions: (x - mean) / sqrt(var + eps),
/// var without correction, then (if affine) times weight plus bias, both of that shape
/// (torch::nn::LayerNorm). The same in training and evaluation.
template <class T>
class LayerNorm : public Layer<T> {
public:
    explicit LayerNorm(const Shape& normalized_shape, double eps = 1e-5, bool affine = true);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const BasicTensor<T>& weight() const { return weight_; }  ///< undefined without affine
    const BasicTensor<T>& bias() const { return bias_; }

private:
    Shape shape_;
    double eps_;
    BasicTensor<T> weight_, bias_;
};

/// Batch normalisation of the channels of [N, C] or [N, C, L] (BatchNorm1d) or [N, C, H, W]
/// (BatchNorm2d), as torch::nn::BatchNorm: in training, each channel is normalised with the
/// batch's mean and biased variance (gradients flow through both) and the buffers
/// running_mean and running_var move by `momentum` towards the batch's mean and unbiased
/// variance; in evaluation the running statistics are used. weight (1) and bias (0) are [C].
template <class T>
class BatchNorm : public Layer<T> {
public:
    /// `dims`: the input's number of dimensions, 2, 3 or 4; 1 accepts 2 or 3 (BatchNorm1d).
    BatchNorm(std::size_t channels, std::size_t dims, double eps = 1e-5, double momentum = 0.1, bool affine = true);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const BasicTensor<T>& weight() const { return weight_; }  ///< undefined without affine
    const BasicTensor<T>& bias() const { return bias_; }
    const BasicTensor<T>& running_mean() const { return running_mean_; }
    const BasicTensor<T>& running_var() const { return running_var_; }

private:
    std::size_t channels_, dims_;
    double eps_, momentum_;
    BasicTensor<T> weight_, bias_, running_mean_, running_var_;
};

/// Group normalisation of [N, C, ...] (torch::nn::GroupNorm): functional::group_norm with
/// weight (ones) and bias (zeros) [C] when affine. The same in training and evaluation.
template <class T>
class GroupNorm : public Layer<T> {
public:
    GroupNorm(std::size_t groups, std::size_t channels, double eps = 1e-5, bool affine = true);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    const BasicTensor<T>& weight() const { return weight_; }
    const BasicTensor<T>& bias() const { return bias_; }

private:
    std::size_t groups_, channels_;
    double eps_;
    BasicTensor<T> weight_, bias_;
};

/// torch::nn::BatchNorm2d: BatchNorm over images [N, C, H, W].
template <class T>
struct BatchNorm2d : BatchNorm<T> {
    explicit BatchNorm2d(std::size_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true)
        : BatchNorm<T>(channels, 4, eps, momentum, affine) {}
};
/// torch::nn::BatchNorm1d: BatchNorm over [N, C] or [N, C, L], either accepted.
template <class T>
struct BatchNorm1d : BatchNorm<T> {
    explicit BatchNorm1d(std::size_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true)
        : BatchNorm<T>(channels, 1, eps, momentum, affine) {}
};

extern template class GroupNorm<float>;
extern template class GroupNorm<double>;
extern template class LayerNorm<float>;
extern template class LayerNorm<double>;
extern template class BatchNorm<float>;
extern template class BatchNorm<double>;

}  // namespace xtgrad::nn
