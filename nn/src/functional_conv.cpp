// linear, conv1d and conv2d as functions of their weights: matmul_nt for linear, unfold2d
// (im2col) and a matmul per group for convolutions; conv1d is conv2d over a height of 1.
// Under a LayerCapture (K-FAC) an ungrouped convolution reports its patches and the product
// of the patches with its weight, the rows of a Linear over every position of every image.
#include <fmt/format.h>

#include "shape_text.hpp"
#include "xtgrad/nn/capture.hpp"
#include "xtgrad/nn/functional.hpp"

namespace xtgrad::nn::functional {

namespace {
using xtgrad::nn::text::shape_of;

template <class T>
void check_bias(const char* op, const BasicTensor<T>& bias, std::size_t out) {
    if (bias.defined() && (bias.dim() != 1 || bias.shape()[0] != out))
        throw ShapeError(
            fmt::format("{}: bias of shape {} for {} outputs (expected [{}])", op, to_string(bias.shape()), out, out));
}
}  // namespace

template <class T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias) {
    if (!weight.defined() || weight.dim() != 2)
        throw ShapeError(fmt::format("linear: weight of shape {} (expected [out, in])", shape_of(weight)));
    if (!x.defined() || x.dim() == 0 || x.shape().back() != weight.shape()[1])
        throw ShapeError(fmt::format("linear: input of shape {} for a weight [out, in] = {} (expected [..., {}])",
                                     shape_of(x), to_string(weight.shape()), weight.shape()[1]));
    check_bias("linear", bias, weight.shape()[0]);
    return bias.defined() ? matmul_nt(x, weight, bias) : matmul_nt(x, weight);
}

namespace {
// conv2d, reporting the call to an active capture as a call of `reported` (the caller's own
// weight: conv1d's is not the 4-D view it convolves with)
template <class T>
BasicTensor<T> convolve(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias,
                        const Conv2dFuncOptions& o, const char* type, const BasicTensor<T>& reported) {
    if (!weight.defined() || weight.dim() != 4)
        throw ShapeError(
            fmt::format("conv2d: weight of shape {} (expected [out, in / groups, kh, kw])", shape_of(weight)));
    const std::size_t out = weight.shape()[0], groups = o.groups;
    if (groups == 0 || out % groups)
        throw ValueError(fmt::format("conv2d: {} output channels cannot be split into {} groups", out, groups));
    const std::size_t cg = weight.shape()[1], og = out / groups;
    if (!x.defined() || x.dim() != 4 || x.shape()[1] != cg * groups)
        throw ShapeError(fmt::format("conv2d: input of shape {} for a weight {} in {} groups (expected [N, {}, H, W])",
                                     shape_of(x), to_string(weight.shape()), groups, cg * groups));
    check_bias("conv2d", bias, out);
    Patches2d p{{weight.shape()[2], weight.shape()[3]},
                o.stride.checked("conv2d", "stride", 1),
                o.padding.checked("conv2d", "padding", 0),
                o.dilation.checked("conv2d", "dilation", 1)};
    const std::size_t k = cg * p.kernel[0] * p.kernel[1];
    std::vector<BasicTensor<T>> outputs;
    BasicTensor<T> patches;
    for (std::size_t g = 0; g < groups; ++g) {
        auto xg = groups == 1 ? x : narrow(x, 1, std::ptrdiff_t(g * cg), cg);
        auto wg = groups == 1 ? weight : narrow(weight, 0, std::ptrdiff_t(g * og), og);
        patches = unfold2d(xg, p);                                    // [N, L, k]
        outputs.push_back(matmul_nt(patches, reshape(wg, {og, k})));  // [N, L, og]
    }
    auto y = groups == 1 ? outputs[0] : concat(outputs, 2);
    if (bias.defined()) y = y + bias;
    // K-FAC's blocks are per weight; a grouped convolution's would be per group (not done: its
    // weight takes the plain gradient)
    if (auto* capture = LayerCapture<T>::active(); capture && groups == 1) {
        Array<T> rows = patches.value();
        rows.reshape({rows.size() / k, k});
        capture->record({type, reported, bias, std::move(rows), y, {}, {}});
    }
    const Shape& s = x.shape();
    auto [oh, ow] = unfold2d_grid(s, p);
    return reshape(permute(y, {0, 2, 1}), {s[0], out, oh, ow});
}
}  // namespace

template <class T>
BasicTensor<T> conv2d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias,
                      const Conv2dFuncOptions& o) {
    return convolve(x, weight, bias, o, "Conv2d", weight);
}

template <class T>
BasicTensor<T> conv1d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias,
                      const Conv1dFuncOptions& o) {
    if (!x.defined() || x.dim() != 3)
        throw ShapeError(fmt::format("conv1d: input of shape {} (expected [N, C, L])", shape_of(x)));
    if (!weight.defined() || weight.dim() != 3)
        throw ShapeError(fmt::format("conv1d: weight of shape {} (expected [out, in / groups, k])", shape_of(weight)));
    auto s = o.stride.checked("conv1d", "stride", 1)[0];
    auto p = o.padding.checked("conv1d", "padding", 0)[0];
    auto d = o.dilation.checked("conv1d", "dilation", 1)[0];
    Conv2dFuncOptions two{.stride = {1, s}, .padding = {0, p}, .dilation = {1, d}, .groups = o.groups};
    auto y = convolve(unsqueeze(x, 2), unsqueeze(weight, 2), bias, two, "Conv1d", weight);  // [N, out, 1, L']
    return squeeze(y, 2);
}

#define XTGRAD_INSTANTIATE(T)                                                                            \
    template BasicTensor<T> linear(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> conv1d(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,  \
                                   const Conv1dFuncOptions&);                                            \
    template BasicTensor<T> conv2d(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,  \
                                   const Conv2dFuncOptions&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)

}  // namespace xtgrad::nn::functional

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
