// LayerNorm and BatchNorm from mean, var and broadcasting ops.
#include "xtgrad/nn/normalization.hpp"

#include <fmt/format.h>

namespace xtgrad::nn {

template <class T>
LayerNorm<T>::LayerNorm(const Shape& normalized_shape, double eps, bool affine) : shape_(normalized_shape), eps_(eps) {
    if (shape_.empty()) throw ValueError("LayerNorm: normalized_shape must have at least one dimension");
    if (!(eps > 0)) throw ValueError(fmt::format("LayerNorm: eps must be positive, got {}", eps));
    if (affine) {
        weight_ = this->register_parameter("weight", Array<T>(xt::ones<T>(shape_)));
        bias_ = this->register_parameter("bias", Array<T>(xt::zeros<T>(shape_)));
    }
}

template <class T>
BasicTensor<T> LayerNorm<T>::forward(const BasicTensor<T>& x) {
    bool ok = x.defined() && x.dim() >= shape_.size() &&
              std::equal(shape_.begin(), shape_.end(), x.shape().end() - std::ptrdiff_t(shape_.size()));
    if (!ok)
        throw ShapeError(fmt::format("LayerNorm({}): input of shape {} must end in {}", to_string(shape_),
                                     x.defined() ? to_string(x.shape()) : "undefined", to_string(shape_)));
    Axes axes;
    for (std::size_t i = 0; i < shape_.size(); ++i) axes.push_back(-std::ptrdiff_t(i) - 1);
    auto centred = x - mean(x, axes, true);
    auto y = centred / sqrt(mean(square(centred), axes, true) + T(eps_));  // the biased variance
    return weight_.defined() ? y * weight_ + bias_ : y;
}

template <class T>
BatchNorm<T>::BatchNorm(std::size_t channels, std::size_t dims, double eps, double momentum, bool affine)
    : channels_(channels), dims_(dims), eps_(eps), momentum_(momentum) {
    if (channels == 0 || dims < 2 || dims > 4)
        throw ValueError(
            fmt::format("BatchNorm: channels must be positive and dims 2, 3 or 4, got {} and {}", channels, dims));
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        throw ValueError(fmt::format("BatchNorm: eps > 0 and momentum in [0, 1] needed, got {} and {}", eps, momentum));
    if (affine) {
        weight_ = this->register_parameter("weight", Array<T>(xt::ones<T>({channels})));
        bias_ = this->register_parameter("bias", Array<T>(xt::zeros<T>({channels})));
    }
    running_mean_ = this->register_buffer("running_mean", Array<T>(xt::zeros<T>({channels})));
    running_var_ = this->register_buffer("running_var", Array<T>(xt::ones<T>({channels})));
}

template <class T>
BasicTensor<T> BatchNorm<T>::forward(const BasicTensor<T>& x) {
    if (!x.defined() || x.dim() != dims_ || x.shape()[1] != channels_)
        throw ShapeError(fmt::format("BatchNorm({} channels): expects {} dimensions [N, {}, ...], got shape {}",
                                     channels_, dims_, channels_, x.defined() ? to_string(x.shape()) : "undefined"));
    Axes axes{0};
    for (std::size_t d = 2; d < dims_; ++d) axes.push_back(std::ptrdiff_t(d));
    Shape per_channel(dims_, 1);
    per_channel[1] = channels_;
    BasicTensor<T> centred, scale;
    if (this->is_training()) {
        std::size_t count = x.size() / channels_;
        if (count < 2)
            throw ValueError(fmt::format("BatchNorm: training needs more than one value per channel, got shape {}",
                                         to_string(x.shape())));
        auto m = mean(x, axes, true);
        centred = x - m;
        auto v = mean(square(centred), axes, true);  // the biased variance
        scale = sqrt(v + T(eps_));
        // the running statistics move outside the graph (PyTorch's unbiased running variance), by
        // ops: a compiled function's replays move them as eager calls do
        NoGrad outside;
        T unbiased = T(double(count) / double(count - 1)), mo = T(momentum_);
        Shape channels{channels_};
        running_mean_.assign((T(1) - mo) * running_mean_ + mo * reshape(m, channels));
        running_var_.assign((T(1) - mo) * running_var_ + (mo * unbiased) * reshape(v, channels));
    } else {
        centred = x - reshape(running_mean_, per_channel);
        scale = sqrt(reshape(running_var_, per_channel) + T(eps_));
    }
    auto y = centred / scale;
    return weight_.defined() ? y * reshape(weight_, per_channel) + reshape(bias_, per_channel) : y;
}

template class LayerNorm<float>;
template class LayerNorm<double>;
template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace xtgrad::nn
