// Convolution and pooling from image patches: unfold2d, then a matmul or a reduction.
#include "xtgrad/nn/conv.hpp"

#include <fmt/format.h>

namespace xtgrad::nn {

namespace {
template <class T>
void check_images(const char* layer, const BasicTensor<T>& input, std::size_t channels) {
    if (!input.defined() || input.dim() != 4 || (channels && input.shape()[1] != channels))
        throw ShapeError(fmt::format("{}: expects images [N, {}, H, W], got shape {}", layer,
                                     channels ? std::to_string(channels) : "C",
                                     input.defined() ? to_string(input.shape()) : "undefined"));
}

// Patches of each channel on its own: [N, C, H, W] -> [N C, L, kh kw].
template <class T>
BasicTensor<T> channel_patches(const BasicTensor<T>& x, const Patches2d& p) {
    const Shape& s = x.shape();
    return unfold2d(reshape(x, {s[0] * s[1], 1, s[2], s[3]}), p);
}

Patches2d pool_patches(const Pool2dOptions& o) {
    std::array<std::size_t, 2> stride = o.stride[0] == 0 && o.stride[1] == 0 ? o.kernel : o.stride;
    return Patches2d{o.kernel, stride, o.padding, {1, 1}};
}

// [N C, L] (one value per window) back to [N, C, out_h, out_w].
template <class T>
BasicTensor<T> as_images(const BasicTensor<T>& pooled, const Shape& in, const Patches2d& p) {
    auto [oh, ow] = unfold2d_grid(in, p);
    return reshape(pooled, {in[0], in[1], oh, ow});
}
}  // namespace

template <class T>
template <class Source>
void Conv2d<T>::initialise(Source& source) {
    const auto& o = options_;
    if (o.in_channels == 0 || o.out_channels == 0 || o.groups == 0 || o.in_channels % o.groups ||
        o.out_channels % o.groups)
        throw ValueError(fmt::format("Conv2d: channels {} -> {} must be positive and divisible by groups {}",
                                     o.in_channels, o.out_channels, o.groups));
    std::size_t fan_in = o.in_channels / o.groups * o.kernel[0] * o.kernel[1];
    weight_ = this->register_parameter(
        "weight", initial_values<T>(o.weight_init, {o.out_channels, o.in_channels / o.groups, o.kernel[0], o.kernel[1]},
                                    fan_in, o.out_channels / o.groups * o.kernel[0] * o.kernel[1], source));
    if (o.bias) bias_ = this->register_parameter("bias", Array<T>(xt::zeros<T>({o.out_channels})));
}

template <class T>
Conv2d<T>::Conv2d(const Conv2dOptions& o, std::mt19937_64& rng) : options_(o) {
    initialise(rng);
}

template <class T>
Conv2d<T>::Conv2d(const Conv2dOptions& o, Generator& gen) : options_(o) {
    initialise(gen);
}

template <class T>
BasicTensor<T> Conv2d<T>::forward(const BasicTensor<T>& input) {
    check_images("Conv2d", input, options_.in_channels);
    const auto& o = options_;
    Patches2d p{o.kernel, o.stride, o.padding, o.dilation};
    std::size_t cg = o.in_channels / o.groups, og = o.out_channels / o.groups, k = cg * o.kernel[0] * o.kernel[1];
    std::vector<BasicTensor<T>> outputs;
    for (std::size_t g = 0; g < o.groups; ++g) {
        auto x = o.groups == 1 ? input : slice(input, 1, std::ptrdiff_t(g * cg), std::ptrdiff_t((g + 1) * cg));
        auto w = o.groups == 1 ? weight_ : slice(weight_, 0, std::ptrdiff_t(g * og), std::ptrdiff_t((g + 1) * og));
        outputs.push_back(matmul(unfold2d(x, p), transpose(reshape(w, {og, k}))));  // [N, L, og]
    }
    auto y = o.groups == 1 ? outputs[0] : concat(outputs, 2);
    if (o.bias) y = y + bias_;
    const Shape& s = input.shape();
    auto [oh, ow] = unfold2d_grid(s, p);
    return reshape(permute(y, {0, 2, 1}), {s[0], o.out_channels, oh, ow});
}

template <class T>
MaxPool2d<T>::MaxPool2d(const Pool2dOptions& options) : options_(options) {
    if (options.padding[0] || options.padding[1])
        throw ValueError("MaxPool2d: padding is not supported (zeros would win windows of negative values)");
}

namespace {
// Where each window's maximum lies, as an index into its image's H W pixels: the first
// maximum in row-major order (PyTorch's choice), or the first NaN, which then propagates.
template <class T>
IndexArray window_maxima(const Array<T>& images, const Patches2d& p, std::size_t oh, std::size_t ow) {
    const std::size_t n = images.shape()[0] * images.shape()[1], h = images.shape()[2], w = images.shape()[3];
    const std::size_t kh = p.kernel[0], kw = p.kernel[1];
    std::vector<std::int64_t> where(n * oh * ow);
    std::int64_t* out = where.data();
    for (std::size_t i = 0; i < n; ++i) {
        const T* image = images.data() + i * h * w;
        for (std::size_t oy = 0; oy < oh; ++oy)
            for (std::size_t ox = 0; ox < ow; ++ox) {
                const std::size_t first = oy * p.stride[0] * w + ox * p.stride[1];
                std::size_t best = first;
                T top = image[first];
                bool nan = false;
                for (std::size_t ky = 0; ky < kh; ++ky)
                    for (std::size_t kx = 0; kx < kw; ++kx) {
                        const std::size_t at = first + ky * w + kx;
                        const T v = image[at];
                        nan |= v != v;
                        if (v > top) top = v, best = at;
                    }
                if (nan) {  // rare: the first NaN in row-major order wins
                    for (std::size_t k = 0; k < kh * kw; ++k) {
                        const std::size_t at = first + k / kw * w + k % kw;
                        if (image[at] != image[at]) {
                            best = at;
                            break;
                        }
                    }
                }
                *out++ = std::int64_t(best);
            }
    }
    return IndexArray(std::move(where), {images.shape()[0], images.shape()[1], oh * ow});
}
}  // namespace

// A gather of each window's maximum: the gradient is a scatter of g to those pixels (and the
// gradient's gradient a gather again), so the layer is differentiable to any order and costs
// one pass over the images plus the gathers, instead of a copy of every window.
template <class T>
BasicTensor<T> MaxPool2d<T>::forward(const BasicTensor<T>& input) {
    check_images("MaxPool2d", input, 0);
    Patches2d p = pool_patches(options_);
    const Shape& s = input.shape();
    // plain variables, not a structured binding: clang 14 cannot capture those in a lambda
    const std::array<std::size_t, 2> grid = unfold2d_grid(s, p);
    const std::size_t oh = grid[0], ow = grid[1];
    if (double(s[2]) * double(s[3]) > (std::is_same_v<T, float> ? 0x1.0p24 : 0x1.0p53))
        throw ValueError(fmt::format("MaxPool2d: images of {}x{} pixels: positions would not be exact in the dtype",
                                     s[2], s[3]));
    // The window maxima's positions are an op of their own (a rule that passes nothing back), so
    // that a compiled function finds them again at every replay; the gather by them is
    // take_along_axis with the positions as a tensor.
    auto maxima = custom_op<T>(
        "max_pool2d.argmax", {input},
        [p, oh, ow](const TensorList<T>& in) {
            IndexArray where = window_maxima(in[0].value(), p, oh, ow);
            const Shape& is = in[0].shape();
            Array<T> positions = Array<T>::from_shape({is[0], is[1], oh * ow});
            for (std::size_t i = 0; i < where.size(); ++i) positions.data()[i] = T(where[i]);
            return positions;
        },
        [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(1); });
    auto pixels = reshape(input, {s[0], s[1], s[2] * s[3]});
    return reshape(take_along_axis(pixels, maxima, 2), {s[0], s[1], oh, ow});
}

template <class T>
AvgPool2d<T>::AvgPool2d(const Pool2dOptions& options) : options_(options) {}

template <class T>
BasicTensor<T> AvgPool2d<T>::forward(const BasicTensor<T>& input) {
    check_images("AvgPool2d", input, 0);
    Patches2d p = pool_patches(options_);
    return as_images(mean(channel_patches(input, p), {2}), input.shape(), p);
}

template <class T>
BasicTensor<T> Flatten<T>::forward(const BasicTensor<T>& input) {
    if (!input.defined() || input.dim() < 1)
        throw ShapeError("Flatten: expects a batch [N, ...], got a scalar or an undefined tensor");
    return reshape(input, {input.shape()[0], input.size() / input.shape()[0]});
}

template class Conv2d<float>;
template class Conv2d<double>;
template class MaxPool2d<float>;
template class MaxPool2d<double>;
template class AvgPool2d<float>;
template class AvgPool2d<double>;
template class Flatten<float>;
template class Flatten<double>;

}  // namespace xtgrad::nn
