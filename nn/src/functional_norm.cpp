// batch_norm, layer_norm and group_norm from mean, var and broadcasting ops.
#include <fmt/format.h>

#include "xtgrad/nn/functional.hpp"
#include "shape_text.hpp"

namespace xtgrad::nn::functional {

namespace {
using xtgrad::nn::text::shape_of;

template <class T>
void check_per_channel(const char* op, const char* what, const BasicTensor<T>& t, std::size_t channels) {
    if (t.defined() && (t.dim() != 1 || t.shape()[0] != channels))
        throw ShapeError(fmt::format("{}: {} of shape {} for {} channels (expected [{}])", op, what,
                                     to_string(t.shape()), channels, channels));
}

void check_eps(const char* op, double eps) {
    if (!(eps > 0)) throw ValueError(fmt::format("{}: eps must be positive, got {}", op, eps));
}

// [C] as [1, C, 1, ...] for an input of `dims` dimensions
template <class T>
BasicTensor<T> per_channel(const BasicTensor<T>& t, std::size_t dims) {
    Shape s(dims, 1);
    s[1] = t.shape()[0];
    return reshape(t, s);
}
}  // namespace

template <class T>
BasicTensor<T> batch_norm(const BasicTensor<T>& x, BasicTensor<T> running_mean, BasicTensor<T> running_var,
                          const BatchNormFuncOptions<T>& o) {
    if (!x.defined() || x.dim() < 2)
        throw ShapeError(fmt::format("batch_norm: expects [N, C, ...], got shape {}", shape_of(x)));
    const std::size_t channels = x.shape()[1], dims = x.dim();
    check_per_channel("batch_norm", "running_mean", running_mean, channels);
    check_per_channel("batch_norm", "running_var", running_var, channels);
    check_per_channel("batch_norm", "weight", o.weight, channels);
    check_per_channel("batch_norm", "bias", o.bias, channels);
    check_eps("batch_norm", o.eps);
    if (!(o.momentum >= 0 && o.momentum <= 1))
        throw ValueError(fmt::format("batch_norm: momentum must be in [0, 1], got {}", o.momentum));
    if (!o.training && !(running_mean.defined() && running_var.defined()))
        throw ValueError("batch_norm: evaluation (training = false) needs running_mean and running_var");
    Axes axes{0};
    for (std::size_t d = 2; d < dims; ++d) axes.push_back(std::ptrdiff_t(d));
    BasicTensor<T> centred, scale;
    if (o.training) {
        std::size_t count = x.size() / channels;
        if (count < 2)
            throw ValueError(fmt::format("batch_norm: training needs more than one value per channel, got shape {}",
                                         to_string(x.shape())));
        auto m = mean(x, axes, true);
        centred = x - m;
        auto v = mean(square(centred), axes, true);  // the biased variance
        scale = sqrt(v + T(o.eps));
        // the running statistics move outside the graph (PyTorch's unbiased running variance), by
        // ops: a compiled function's replays move them as eager calls do
        NoGrad outside;
        T unbiased = T(double(count) / double(count - 1)), mo = T(o.momentum);
        Shape c{channels};
        if (running_mean.defined()) running_mean.assign((T(1) - mo) * running_mean + mo * reshape(m, c));
        if (running_var.defined()) running_var.assign((T(1) - mo) * running_var + (mo * unbiased) * reshape(v, c));
    } else {
        centred = x - per_channel(running_mean, dims);
        scale = sqrt(per_channel(running_var, dims) + T(o.eps));
    }
    auto y = centred / scale;
    if (o.weight.defined()) y = y * per_channel(o.weight, dims);
    return o.bias.defined() ? y + per_channel(o.bias, dims) : y;
}

template <class T>
BasicTensor<T> layer_norm(const BasicTensor<T>& x, const Shape& normalized_shape, const BasicTensor<T>& weight,
                          const BasicTensor<T>& bias, double eps) {
    const Shape& ns = normalized_shape;
    if (ns.empty()) throw ValueError("layer_norm: normalized_shape must have at least one dimension");
    check_eps("layer_norm", eps);
    bool ok = x.defined() && x.dim() >= ns.size() &&
              std::equal(ns.begin(), ns.end(), x.shape().end() - std::ptrdiff_t(ns.size()));
    if (!ok)
        throw ShapeError(
            fmt::format("layer_norm: input of shape {} must end in {}", shape_of(x), to_string(normalized_shape)));
    for (const auto* t : {&weight, &bias})
        if (t->defined() && t->shape() != ns)
            throw ShapeError(fmt::format("layer_norm: {} of shape {} (expected the normalized shape {})",
                                         t == &weight ? "weight" : "bias", to_string(t->shape()), to_string(ns)));
    Axes axes;
    for (std::size_t i = 0; i < ns.size(); ++i) axes.push_back(-std::ptrdiff_t(i) - 1);
    auto centred = x - mean(x, axes, true);
    auto y = centred / sqrt(mean(square(centred), axes, true) + T(eps));  // the biased variance
    if (weight.defined()) y = y * weight;
    return bias.defined() ? y + bias : y;
}

template <class T>
BasicTensor<T> group_norm(const BasicTensor<T>& x, std::size_t groups, const BasicTensor<T>& weight,
                          const BasicTensor<T>& bias, double eps) {
    if (!x.defined() || x.dim() < 2)
        throw ShapeError(fmt::format("group_norm: expects [N, C, ...], got shape {}", shape_of(x)));
    const std::size_t channels = x.shape()[1];
    if (groups == 0 || channels % groups)
        throw ValueError(fmt::format("group_norm: {} channels cannot be split into {} groups", channels, groups));
    check_per_channel("group_norm", "weight", weight, channels);
    check_per_channel("group_norm", "bias", bias, channels);
    check_eps("group_norm", eps);
    // [N, C, ...] as [N, G, C/G ...]: each group normalised over its channels and positions
    auto grouped = reshape(x, {x.shape()[0], groups, x.size() / (x.shape()[0] * groups)});
    auto centred = grouped - mean(grouped, 2, true);
    auto y = reshape(centred / sqrt(mean(square(centred), 2, true) + T(eps)), x.shape());
    if (weight.defined()) y = y * per_channel(weight, x.dim());
    return bias.defined() ? y + per_channel(bias, x.dim()) : y;
}

#define XTGRAD_INSTANTIATE(T)                                                                      \
    template BasicTensor<T> batch_norm(const BasicTensor<T>&, BasicTensor<T>, BasicTensor<T>,      \
                                       const BatchNormFuncOptions<T>&);                            \
    template BasicTensor<T> layer_norm(const BasicTensor<T>&, const Shape&, const BasicTensor<T>&, \
                                       const BasicTensor<T>&, double);                             \
    template BasicTensor<T> group_norm(const BasicTensor<T>&, std::size_t, const BasicTensor<T>&,  \
                                       const BasicTensor<T>&, double);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)

}  // namespace xtgrad::nn::functional

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
