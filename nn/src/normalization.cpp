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
    return functional::layer_norm(x, shape_, weight_, bias_, eps_);
}

template <class T>
BatchNorm<T>::BatchNorm(std::size_t channels, std::size_t dims, double eps, double momentum, bool affine)
    : channels_(channels), dims_(dims), eps_(eps), momentum_(momentum) {
    if (channels == 0 || dims < 1 || dims > 4)
        throw ValueError(
            fmt::format("BatchNorm: channels must be positive and dims 1 (BatchNorm1d: 2 or 3), 2, 3 or 4, got {} and {}", channels, dims));
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
    bool dims_ok = x.defined() && (dims_ == 1 ? x.dim() == 2 || x.dim() == 3 : x.dim() == dims_);
    if (!dims_ok || x.shape()[1] != channels_)
        throw ShapeError(fmt::format("BatchNorm({} channels): expects {} dimensions [N, {}, ...], got shape {}",
                                     channels_, dims_ == 1 ? "2 or 3" : std::to_string(dims_), channels_,
                                     x.defined() ? to_string(x.shape()) : "undefined"));
    if (this->is_training() && x.size() / channels_ < 2)
        throw ValueError(fmt::format("BatchNorm: training needs more than one value per channel, got shape {}",
                                     to_string(x.shape())));
    return functional::batch_norm(
        x, running_mean_, running_var_,
        {.weight = weight_, .bias = bias_, .training = this->is_training(), .momentum = momentum_, .eps = eps_});
}

template <class T>
GroupNorm<T>::GroupNorm(std::size_t groups, std::size_t channels, double eps, bool affine)
    : groups_(groups), channels_(channels), eps_(eps) {
    if (groups == 0 || channels == 0 || channels % groups)
        throw ValueError(fmt::format("GroupNorm: {} channels cannot be split into {} groups", channels, groups));
    if (!(eps > 0)) throw ValueError(fmt::format("GroupNorm: eps must be positive, got {}", eps));
    if (affine) {
        weight_ = this->register_parameter("weight", Array<T>(xt::ones<T>({channels})));
        bias_ = this->register_parameter("bias", Array<T>(xt::zeros<T>({channels})));
    }
}

template <class T>
BasicTensor<T> GroupNorm<T>::forward(const BasicTensor<T>& x) {
    if (!x.defined() || x.dim() < 2 || x.shape()[1] != channels_)
        throw ShapeError(fmt::format("GroupNorm({} groups, {} channels): expects [N, {}, ...], got shape {}", groups_,
                                     channels_, channels_, x.defined() ? to_string(x.shape()) : "undefined"));
    return functional::group_norm(x, groups_, weight_, bias_, eps_);
}

template class GroupNorm<float>;
template class GroupNorm<double>;
template class LayerNorm<float>;
template class LayerNorm<double>;
template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace xtgrad::nn
