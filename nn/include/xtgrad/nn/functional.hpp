// The layers as functions of their inputs and weights (torch.nn.functional's names and
// layouts): for weight sharing, hypernetworks and functional models. Every layer in conv.hpp,
// linear.hpp, normalization.hpp and layers.hpp is a thin wrapper over one of these. All are
// built from autodiff ops, so they are differentiable twice and compile like any op.
#pragma once

#include <optional>

#include "xtgrad/autodiff.hpp"
#include "xtgrad/nn/expanding_array.hpp"

namespace xtgrad::nn::functional {

/// x W^T + b with W [out, in] and b [out] (undefined: no bias): PyTorch's layout. x [..., in].
template <class T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias = {});

/// Geometry of a convolution over N spatial axes (torch's Conv{N}dFuncOptions).
template <std::size_t N>
struct ConvFuncOptions {
    ExpandingArray<N> stride = 1;
    ExpandingArray<N> padding = 0;  ///< zeros on each side
    ExpandingArray<N> dilation = 1;
    std::size_t groups = 1;  ///< channels split into groups convolved separately
};
using Conv1dFuncOptions = ConvFuncOptions<1>;
using Conv2dFuncOptions = ConvFuncOptions<2>;

/// Cross-correlation of x [N, C, L] with weight [out, C / groups, k] (+ bias [out]):
/// [N, out, (L + 2 pad - dil (k - 1) - 1) / stride + 1], as torch.nn.functional.conv1d.
template <class T>
BasicTensor<T> conv1d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias = {},
                      const Conv1dFuncOptions& options = {});
/// The same over images x [N, C, H, W] with weight [out, C / groups, kh, kw]: matmul of
/// unfold2d (im2col) patches with the weight, per group.
template <class T>
BasicTensor<T> conv2d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias = {},
                      const Conv2dFuncOptions& options = {});

/// Pooling windows over N spatial axes (torch's MaxPool/AvgPool options). kernel_size has no
/// default: leaving it out does not compile.
template <std::size_t N>
struct PoolOptions {
    ExpandingArray<N> kernel_size;
    OptionalExpandingArray<N> stride;  ///< none: kernel_size (PyTorch's default)
    ExpandingArray<N> padding = 0;     ///< at most half the kernel, as in PyTorch
    ExpandingArray<N> dilation = 1;    ///< max pooling only (PyTorch's average pooling has none)
    bool ceil_mode = false;            ///< a last, partial window where floor would drop it
    bool count_include_pad = true;     ///< average pooling: padding zeros count in the divisor
};
using Pool1dOptions = PoolOptions<1>;
using Pool2dOptions = PoolOptions<2>;

/// The maximum of each window of x [N, C, L] / [N, C, H, W], per channel; padding never wins
/// (it is -inf, as in PyTorch). The gradient goes to the maximum: the first in row-major
/// order at ties, a NaN in a window being its maximum.
template <class T>
BasicTensor<T> max_pool1d(const BasicTensor<T>& x, const Pool1dOptions& options);
template <class T>
BasicTensor<T> max_pool2d(const BasicTensor<T>& x, const Pool2dOptions& options);
/// The mean of each window: padding zeros count in the divisor when count_include_pad, as do
/// positions past the input up to the padding; windows of ceil_mode that reach beyond it do not.
template <class T>
BasicTensor<T> avg_pool1d(const BasicTensor<T>& x, const Pool1dOptions& options);
template <class T>
BasicTensor<T> avg_pool2d(const BasicTensor<T>& x, const Pool2dOptions& options);

/// Options of batch_norm (torch's BatchNormFuncOptions). weight and bias are [C] or undefined.
template <class T>
struct BatchNormFuncOptions {
    BasicTensor<T> weight, bias;
    bool training = false;
    double momentum = 0.1;
    double eps = 1e-5;
};
/// Normalises each channel of x [N, C, ...]: with the batch's mean and biased variance when
/// training (then running_mean and running_var, if defined, move by momentum towards the
/// batch's mean and unbiased variance), with the running statistics otherwise.
template <class T>
BasicTensor<T> batch_norm(const BasicTensor<T>& x, BasicTensor<T> running_mean, BasicTensor<T> running_var,
                          const BatchNormFuncOptions<T>& options = {});
/// (x - mean) / sqrt(var + eps) over the trailing `normalized_shape` axes (biased variance),
/// times weight plus bias of that shape when defined.
template <class T>
BasicTensor<T> layer_norm(const BasicTensor<T>& x, const Shape& normalized_shape, const BasicTensor<T>& weight = {},
                          const BasicTensor<T>& bias = {}, double eps = 1e-5);
/// x [N, C, ...] normalised over each of `groups` groups of C / groups channels (and all
/// positions), then times weight plus bias [C] when defined (torch.nn.functional.group_norm).
template <class T>
BasicTensor<T> group_norm(const BasicTensor<T>& x, std::size_t groups, const BasicTensor<T>& weight = {},
                          const BasicTensor<T>& bias = {}, double eps = 1e-5);

/// Rows of weight [count, dim] at `indices`: the indices' shape followed by dim. Indices out of
/// range are a ValueError naming the position. From a tensor of whole numbers the indices are
/// read at every evaluation (a compiled function's replays too).
template <class T>
BasicTensor<T> embedding(const IndexArray& indices, const BasicTensor<T>& weight);
template <class T>
BasicTensor<T> embedding(const BasicTensor<T>& indices, const BasicTensor<T>& weight);

/// Each label as a row of `classes` zeros with a one at the label: [indices' shape..., classes].
template <class T = double>
BasicTensor<T> one_hot(const IndexArray& labels, std::size_t classes);

/// x Phi(x), Phi the standard normal's distribution function (torch's gelu, approximate='none'):
/// x (1 + erf(x / sqrt 2)) / 2. With `tanh_approximation`, approximate='tanh':
/// x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2.
template <class T>
BasicTensor<T> gelu(const BasicTensor<T>& x, bool tanh_approximation = false) {
    if (tanh_approximation)
        return T(0.5) * x * (T(1) + tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
    return T(0.5) * x * (T(1) + erf(x * T(0.7071067811865476)));
}

using xtgrad::dropout;  // dropout(x, p, training, generator): random.hpp

}  // namespace xtgrad::nn::functional
