// Convolution and pooling layers: options checked at construction with the layer's name, the
// weights initialised as PyTorch's, the forward pass a call of the functional form.
#include "xtgrad/nn/conv.hpp"

#include <fmt/format.h>

namespace xtgrad::nn {

namespace {
template <std::size_t N>
const char* conv_name() {
    return N == 1 ? "Conv1d" : "Conv2d";
}

// Every size checked once, so that a bad option fails where the layer is made.
template <std::size_t N>
void check_options(const ConvOptions<N>& o) {
    const char* layer = conv_name<N>();
    o.kernel_size.checked(layer, "kernel_size", 1);
    o.stride.checked(layer, "stride", 1);
    o.padding.checked(layer, "padding", 0);
    o.dilation.checked(layer, "dilation", 1);
    if (o.in_channels == 0 || o.out_channels == 0 || o.groups == 0 || o.in_channels % o.groups ||
        o.out_channels % o.groups)
        throw ValueError(fmt::format("{}: channels {} -> {} must be positive and divisible by groups {}", layer,
                                     o.in_channels, o.out_channels, o.groups));
}

template <std::size_t N>
functional::ConvFuncOptions<N> geometry(const ConvOptions<N>& o) {
    return {.stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups};
}

template <std::size_t N>
const char* pool_name(bool max) {
    if (max) return N == 1 ? "MaxPool1d" : "MaxPool2d";
    return N == 1 ? "AvgPool1d" : "AvgPool2d";
}

template <std::size_t N>
void check_pool(const char* layer, const functional::PoolOptions<N>& o) {
    auto k = o.kernel_size.checked(layer, "kernel_size", 1);
    if (o.stride) o.stride->checked(layer, "stride", 1);
    auto p = o.padding.checked(layer, "padding", 0);
    o.dilation.checked(layer, "dilation", 1);
    for (std::size_t i = 0; i < N; ++i)
        if (p[i] > k[i] / 2)
            throw ValueError(fmt::format("{}: padding {} is more than half the kernel {} (PyTorch's limit)", layer,
                                         p[i], k[i]));
}
}  // namespace

template <class T, std::size_t N>
template <class Source>
void Conv<T, N>::initialise(Source& source) {
    const auto& o = options_;
    check_options(o);
    auto k = o.kernel_size.checked(conv_name<N>(), "kernel_size", 1);
    Shape shape{o.out_channels, o.in_channels / o.groups};
    std::size_t field = 1;
    for (auto e : k) shape.push_back(e), field *= e;
    const std::size_t fan_in = o.in_channels / o.groups * field, fan_out = o.out_channels / o.groups * field;
    weight_ = this->register_parameter("weight", initial_values<T>(o.weight_init, shape, fan_in, fan_out, source));
    if (!o.bias) return;
    Array<T> b = Array<T>(xt::zeros<T>({o.out_channels}));
    if (o.weight_init == Init::pytorch_default)  // PyTorch's reset_parameters: U(+-1/sqrt(fan_in))
        b = initial_values<T>(Init::pytorch_default, {o.out_channels}, fan_in, 1, source);
    bias_ = this->register_parameter("bias", std::move(b));
}

template <class T, std::size_t N>
Conv<T, N>::Conv(std::size_t in_channels, std::size_t out_channels, ExpandingArray<N> kernel_size,
                 const functional::ConvFuncOptions<N>& g)
    : Conv(ConvOptions<N>{.in_channels = in_channels,
                          .out_channels = out_channels,
                          .kernel_size = kernel_size,
                          .stride = g.stride,
                          .padding = g.padding,
                          .dilation = g.dilation,
                          .groups = g.groups}) {}

template <class T, std::size_t N>
Conv<T, N>::Conv(std::size_t in_channels, std::size_t out_channels, ExpandingArray<N> kernel_size,
                 ExpandingArray<N> stride, ExpandingArray<N> padding, ExpandingArray<N> dilation, std::size_t groups,
                 bool bias)
    : Conv(ConvOptions<N>{in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias}) {}

template <class T, std::size_t N>
Conv<T, N>::Conv(const ConvOptions<N>& o) : options_(o) {
    initialise(default_generator());
}

template <class T, std::size_t N>
Conv<T, N>::Conv(const ConvOptions<N>& o, std::mt19937_64& rng) : options_(o) {
    initialise(rng);
}

template <class T, std::size_t N>
Conv<T, N>::Conv(const ConvOptions<N>& o, Generator& gen) : options_(o) {
    initialise(gen);
}

template <class T, std::size_t N>
BasicTensor<T> Conv<T, N>::forward(const BasicTensor<T>& input) {
    const char* layer = conv_name<N>();
    if (!input.defined() || input.dim() != N + 2 || input.shape()[1] != options_.in_channels)
        throw ShapeError(fmt::format("{}: expects {} [N, {}, {}], got shape {}", layer, N == 1 ? "sequences" : "images",
                                     options_.in_channels, N == 1 ? "L" : "H, W",
                                     input.defined() ? to_string(input.shape()) : "undefined"));
    if constexpr (N == 1)
        return functional::conv1d(input, weight_, bias_, geometry(options_));
    else
        return functional::conv2d(input, weight_, bias_, geometry(options_));
}

template <class T, std::size_t N>
MaxPool<T, N>::MaxPool(const functional::PoolOptions<N>& options) : options_(options) {
    check_pool(pool_name<N>(true), options);
}

template <class T, std::size_t N>
BasicTensor<T> MaxPool<T, N>::forward(const BasicTensor<T>& input) {
    if constexpr (N == 1)
        return functional::max_pool1d(input, options_);
    else
        return functional::max_pool2d(input, options_);
}

template <class T, std::size_t N>
AvgPool<T, N>::AvgPool(const functional::PoolOptions<N>& options) : options_(options) {
    check_pool(pool_name<N>(false), options);
    if (options.dilation != ExpandingArray<N>(1))
        throw ValueError(fmt::format("{}: dilation is not supported (PyTorch's average pooling has none)",
                                     pool_name<N>(false)));
}

template <class T, std::size_t N>
BasicTensor<T> AvgPool<T, N>::forward(const BasicTensor<T>& input) {
    if constexpr (N == 1)
        return functional::avg_pool1d(input, options_);
    else
        return functional::avg_pool2d(input, options_);
}

template <class T>
BasicTensor<T> Flatten<T>::forward(const BasicTensor<T>& input) {
    if (!input.defined() || input.dim() < 1)
        throw ShapeError("Flatten: expects a batch [N, ...], got a scalar or an undefined tensor");
    return input.dim() == 1 ? unsqueeze(input, 1) : flatten(input, 1);
}

template class Conv<float, 1>;
template class Conv<double, 1>;
template class Conv<float, 2>;
template class Conv<double, 2>;
template class MaxPool<float, 1>;
template class MaxPool<double, 1>;
template class MaxPool<float, 2>;
template class MaxPool<double, 2>;
template class AvgPool<float, 1>;
template class AvgPool<double, 1>;
template class AvgPool<float, 2>;
template class AvgPool<double, 2>;
template class Flatten<float>;
template class Flatten<double>;

}  // namespace xtgrad::nn
