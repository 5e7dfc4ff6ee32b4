// Max and average pooling over 1 or 2 spatial axes with PyTorch's geometry: padding (at most
// half the kernel), dilation (max only), ceil_mode and count_include_pad. 1-D pooling is 2-D
// pooling over a height of 1.
//
// Max pooling finds each window's maximum in one pass over the images (positions outside the
// input are skipped, which is padding with -inf) and gathers them with take_along_axis, so
// its gradient is a scatter to the maxima. Average pooling zero-pads the images on each side
// as far as the windows reach, takes the windows' sums from unfold2d and divides each by its
// count, a constant of the geometry.
#include <fmt/format.h>

#include "xtgrad/nn/functional.hpp"

namespace xtgrad::nn::functional {

namespace {
// The windows along one axis of extent `in`: window o starts at o stride - pad and reads
// `kernel` positions `dilation` apart.
struct Axis {
    std::size_t in, kernel, stride, pad, dilation, out;
    std::ptrdiff_t start(std::size_t o) const { return std::ptrdiff_t(o * stride) - std::ptrdiff_t(pad); }
    // how far past the input the windows read (at most pad; more with ceil_mode)
    std::size_t right_reach() const {
        std::size_t end = (out - 1) * stride + dilation * (kernel - 1) + 1;  // in padded coordinates
        return end > in + pad ? end - in - pad : 0;
    }
};

Axis axis_geometry(const char* op, std::size_t in, std::size_t kernel, std::size_t stride, std::size_t pad,
                   std::size_t dilation, bool ceil_mode) {
    const std::size_t span = dilation * (kernel - 1) + 1;
    if (pad > kernel / 2)
        throw ValueError(
            fmt::format("{}: padding {} is more than half the kernel {} (PyTorch's limit)", op, pad, kernel));
    if (in + 2 * pad < span)
        throw ShapeError(
            fmt::format("{}: a window of {} positions (kernel {}, dilation {}) does not fit an extent of "
                        "{} with padding {}",
                        op, span, kernel, dilation, in, pad));
    const std::size_t room = in + 2 * pad - span;
    std::size_t out = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;  // the last window must start inside
    return {in, kernel, stride, pad, dilation, out};
}

struct Geometry {
    Axis h, w;
};

template <class T>
Geometry pool_geometry(const char* op, const BasicTensor<T>& x, const Pool2dOptions& o) {
    if (!x.defined() || x.dim() != 4)
        throw ShapeError(fmt::format("{}: expects images [N, C, H, W], got shape {}", op,
                                     x.defined() ? to_string(x.shape()) : "undefined"));
    auto k = o.kernel_size.checked(op, "kernel_size", 1);
    auto s = o.stride ? o.stride->checked(op, "stride", 1) : k;
    auto p = o.padding.checked(op, "padding", 0);
    auto d = o.dilation.checked(op, "dilation", 1);
    return {axis_geometry(op, x.shape()[2], k[0], s[0], p[0], d[0], o.ceil_mode),
            axis_geometry(op, x.shape()[3], k[1], s[1], p[1], d[1], o.ceil_mode)};
}

// Where each window's maximum lies, as an index into its image's H W pixels: the first
// maximum in row-major order (PyTorch's choice), or the first NaN, which then propagates.
// Positions outside the image are skipped (padding is -inf); the rows and columns a window
// reads inside the image are worked out once per window, so the inner loop has no tests.
template <class T>
Array<T> window_maxima(const Array<T>& images, const Geometry& g) {
    const std::size_t n = images.shape()[0] * images.shape()[1], h = g.h.in, w = g.w.in;
    Array<T> positions = Array<T>::from_shape({images.shape()[0], images.shape()[1], g.h.out * g.w.out});
    T* out = positions.data();
    // the kernel taps of window o that fall inside an axis: [first, last)
    auto taps = [](const Axis& a, std::size_t o) {
        std::ptrdiff_t start = a.start(o), d = std::ptrdiff_t(a.dilation), k = std::ptrdiff_t(a.kernel);
        std::ptrdiff_t first = start < 0 ? (-start + d - 1) / d : 0;
        std::ptrdiff_t last = std::min(k, (std::ptrdiff_t(a.in) - start + d - 1) / d);
        return std::pair<std::ptrdiff_t, std::ptrdiff_t>{first, std::max(first, last)};
    };
    for (std::size_t i = 0; i < n; ++i) {
        const T* image = images.data() + i * h * w;
        for (std::size_t oy = 0; oy < g.h.out; ++oy) {
            const auto [ky0, ky1] = taps(g.h, oy);
            for (std::size_t ox = 0; ox < g.w.out; ++ox) {
                const auto [kx0, kx1] = taps(g.w, ox);
                auto at = [&](std::ptrdiff_t ky, std::ptrdiff_t kx) {
                    return (g.h.start(oy) + ky * std::ptrdiff_t(g.h.dilation)) * std::ptrdiff_t(w) + g.w.start(ox) +
                           kx * std::ptrdiff_t(g.w.dilation);
                };
                std::ptrdiff_t best = at(ky0, kx0);  // every window holds a pixel (padding <= kernel / 2)
                T top = image[best];
                bool nan = false;
                for (std::ptrdiff_t ky = ky0; ky < ky1; ++ky)
                    for (std::ptrdiff_t kx = kx0; kx < kx1; ++kx) {
                        const std::ptrdiff_t p = at(ky, kx);
                        const T v = image[p];
                        nan |= v != v;
                        if (v > top) top = v, best = p;
                    }
                if (nan) {  // rare: the first NaN in row-major order wins
                    for (std::ptrdiff_t ky = ky0; ky < ky1 && image[best] == image[best]; ++ky)
                        for (std::ptrdiff_t kx = kx0; kx < kx1; ++kx)
                            if (image[at(ky, kx)] != image[at(ky, kx)]) {
                                best = at(ky, kx);
                                break;
                            }
                }
                *out++ = T(best);
            }
        }
    }
    return positions;
}

// Zeros before and after x along `axis`.
template <class T>
BasicTensor<T> zero_padded(const BasicTensor<T>& x, std::ptrdiff_t axis, std::size_t before, std::size_t after) {
    if (before == 0 && after == 0) return x;
    auto zeros = [&](std::size_t n) {
        Shape s = x.shape();
        s[std::size_t(axis)] = n;
        return BasicTensor<T>::constant(Array<T>(xt::zeros<T>(s)));
    };
    std::vector<BasicTensor<T>> parts;
    if (before) parts.push_back(zeros(before));
    parts.push_back(x);
    if (after) parts.push_back(zeros(after));
    return concat(parts, axis);
}

// How many positions of window o count in its mean along one axis.
std::size_t divisor(const Axis& a, std::size_t o, bool count_include_pad) {
    std::ptrdiff_t first = a.start(o), end = first + std::ptrdiff_t(a.kernel);
    std::ptrdiff_t limit = std::ptrdiff_t(a.in + a.pad);
    std::ptrdiff_t padded_end = std::min(end, limit);  // PyTorch: windows are clipped at the padding's end
    if (count_include_pad) return std::size_t(padded_end - first);
    return std::size_t(std::min(end, std::ptrdiff_t(a.in)) - std::max(first, std::ptrdiff_t(0)));
}

template <class T>
BasicTensor<T> from_pooled(const BasicTensor<T>& pooled, const Shape& in, const Geometry& g) {
    return reshape(pooled, {in[0], in[1], g.h.out, g.w.out});
}
}  // namespace

template <class T>
BasicTensor<T> max_pool2d(const BasicTensor<T>& x, const Pool2dOptions& options) {
    const Geometry g = pool_geometry("max_pool2d", x, options);
    const Shape& s = x.shape();
    if (double(s[2]) * double(s[3]) > (std::is_same_v<T, float> ? 0x1.0p24 : 0x1.0p53))
        throw ValueError(
            fmt::format("max_pool2d: images of {}x{} pixels: positions would not be exact in the dtype", s[2], s[3]));
    // The window maxima's positions are an op of their own (a rule that passes nothing back), so
    // that a compiled function finds them again at every replay; the gather by them is
    // take_along_axis with the positions as a tensor.
    auto maxima = custom_op<T>(
        "max_pool2d.argmax", {x}, [g](const TensorList<T>& in) { return window_maxima(in[0].value(), g); },
        [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(1); });
    auto pixels = reshape(x, {s[0], s[1], s[2] * s[3]});
    return from_pooled(take_along_axis(pixels, maxima, 2), s, g);
}

template <class T>
BasicTensor<T> avg_pool2d(const BasicTensor<T>& x, const Pool2dOptions& options) {
    const Geometry g = pool_geometry("avg_pool2d", x, options);
    if (g.h.dilation != 1 || g.w.dilation != 1)
        throw ValueError("avg_pool2d: dilation is not supported (PyTorch's average pooling has none)");
    const Shape& s = x.shape();
    // padded as far as the windows reach: unfold2d's grid over it is the pooling's grid
    auto padded = zero_padded(zero_padded(x, 2, g.h.pad, g.h.right_reach()), 3, g.w.pad, g.w.right_reach());
    const Shape& ps = padded.shape();
    Patches2d p{{g.h.kernel, g.w.kernel}, {g.h.stride, g.w.stride}, {0, 0}, {1, 1}};
    auto sums = sum(unfold2d(reshape(padded, {s[0] * s[1], 1, ps[2], ps[3]}), p), 2);  // [N C, L]
    Array<T> counts = Array<T>::from_shape({g.h.out * g.w.out});
    for (std::size_t oy = 0; oy < g.h.out; ++oy)
        for (std::size_t ox = 0; ox < g.w.out; ++ox)
            counts(oy * g.w.out + ox) =
                T(1) / T(divisor(g.h, oy, options.count_include_pad) * divisor(g.w, ox, options.count_include_pad));
    return from_pooled(sums * BasicTensor<T>::constant(std::move(counts)), s, g);
}

namespace {
Pool2dOptions as_2d(const char* op, const Pool1dOptions& o) {
    auto k = o.kernel_size.checked(op, "kernel_size", 1)[0];
    auto s = o.stride ? o.stride->checked(op, "stride", 1)[0] : k;
    return Pool2dOptions{.kernel_size = {std::size_t(1), k},
                         .stride = {std::size_t(1), s},
                         .padding = {std::size_t(0), o.padding.checked(op, "padding", 0)[0]},
                         .dilation = {std::size_t(1), o.dilation.checked(op, "dilation", 1)[0]},
                         .ceil_mode = o.ceil_mode,
                         .count_include_pad = o.count_include_pad};
}

template <class T>
void check_sequence(const char* op, const BasicTensor<T>& x) {
    if (!x.defined() || x.dim() != 3)
        throw ShapeError(fmt::format("{}: expects sequences [N, C, L], got shape {}", op,
                                     x.defined() ? to_string(x.shape()) : "undefined"));
}
}  // namespace

template <class T>
BasicTensor<T> max_pool1d(const BasicTensor<T>& x, const Pool1dOptions& options) {
    check_sequence("max_pool1d", x);
    return squeeze(max_pool2d(unsqueeze(x, 2), as_2d("max_pool1d", options)), 2);
}

template <class T>
BasicTensor<T> avg_pool1d(const BasicTensor<T>& x, const Pool1dOptions& options) {
    check_sequence("avg_pool1d", x);
    return squeeze(avg_pool2d(unsqueeze(x, 2), as_2d("avg_pool1d", options)), 2);
}

#define XTGRAD_INSTANTIATE(T)                                                        \
    template BasicTensor<T> max_pool1d(const BasicTensor<T>&, const Pool1dOptions&); \
    template BasicTensor<T> max_pool2d(const BasicTensor<T>&, const Pool2dOptions&); \
    template BasicTensor<T> avg_pool1d(const BasicTensor<T>&, const Pool1dOptions&); \
    template BasicTensor<T> avg_pool2d(const BasicTensor<T>&, const Pool2dOptions&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)

}  // namespace xtgrad::nn::functional

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
