// Image patches (im2col) and their adjoint (col2im): the linear maps behind convolution and
// pooling. Each is the other's rule, so convolutions built from them are differentiable to
// any order.
#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
struct Geometry {
    std::size_t n, c, h, w, kh, kw, oh, ow;
    Patches2d p;
};

Geometry geometry(std::string_view op, const Shape& s, const Patches2d& p) {
    if (s.size() != 4) throw ShapeError(fmt::format("{}: expects images [N, C, H, W], got shape {}", op, to_string(s)));
    if (p.kernel[0] == 0 || p.kernel[1] == 0 || p.stride[0] == 0 || p.stride[1] == 0 || p.dilation[0] == 0 ||
        p.dilation[1] == 0)
        throw ValueError(
            fmt::format("{}: kernel, stride and dilation must be >= 1, got kernel [{},{}], stride "
                        "[{},{}], dilation [{},{}]",
                        op, p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.dilation[0], p.dilation[1]));
    // Each size below 2^31, so that the arithmetic below cannot wrap (a negative number turned
    // into a size_t arrives as one near 2^64: it wrapped to all-zero outputs before).
    constexpr std::size_t kLimit = std::size_t(1) << 31;
    for (auto [what, pair] : {std::pair{"kernel", p.kernel}, std::pair{"stride", p.stride},
                              std::pair{"padding", p.padding}, std::pair{"dilation", p.dilation}})
        if (pair[0] >= kLimit || pair[1] >= kLimit)
            throw ValueError(fmt::format("{}: {} [{},{}] is out of range (each at most 2^31 - 1{})", op, what, pair[0],
                                         pair[1],
                                         std::max(pair[0], pair[1]) >= (std::size_t(1) << 63)
                                             ? "; a negative number converted to an unsigned size?"
                                             : ""));
    Geometry g{s[0], s[1], s[2], s[3], p.kernel[0], p.kernel[1], 0, 0, p};
    // in 128 bits: none of these products can overflow
    using Wide = unsigned __int128;
    const Wide span_h = Wide(p.dilation[0]) * (g.kh - 1) + 1, span_w = Wide(p.dilation[1]) * (g.kw - 1) + 1;
    const Wide ph = Wide(g.h) + 2 * Wide(p.padding[0]), pw = Wide(g.w) + 2 * Wide(p.padding[1]);
    if (span_h > ph || span_w > pw)
        throw ShapeError(fmt::format("{}: a kernel spanning [{},{}] does not fit images of shape {} padded by [{},{}]",
                                     op, std::uint64_t(span_h), std::uint64_t(span_w), to_string(s), p.padding[0],
                                     p.padding[1]));
    const Wide oh = (ph - span_h) / p.stride[0] + 1, ow = (pw - span_w) / p.stride[1] + 1;
    // the patches [N, oh * ow, C * kh * kw] are what gets allocated: refused before it is tried
    // when no machine holds them (and size_t could not count them)
    const Wide patches = Wide(g.n) * oh * ow * Wide(g.c) * Wide(g.kh) * Wide(g.kw);
    if (oh >= kLimit * kLimit || ow >= kLimit * kLimit || patches > (Wide(1) << 56))
        throw MemoryError(fmt::format(
            "{}: out of memory: images of shape {} padded by [{},{}] with stride [{},{}] make {}x{} windows of "
            "{}x{}: more patch elements than any machine holds",
            op, to_string(s), p.padding[0], p.padding[1], p.stride[0], p.stride[1], std::uint64_t(oh),
            std::uint64_t(ow), g.kh, g.kw));
    g.oh = std::size_t(oh);
    g.ow = std::size_t(ow);
    return g;
}

// The kernel columns kx in [first, last) whose pixel ox * stride + kx * dilation - padding
// lies inside [0, size): the rest read padding.
std::pair<std::size_t, std::size_t> inside(std::size_t origin, std::size_t pad, std::size_t dil, std::size_t k,
                                           std::size_t size) {
    auto ceil_div = [](std::size_t a, std::size_t b) { return (a + b - 1) / b; };
    std::size_t first = origin >= pad ? 0 : ceil_div(pad - origin, dil);
    std::size_t last = origin >= size + pad ? 0 : std::min(k, ceil_div(size + pad - origin, dil));
    return {std::min(first, last), last};
}

// Calls visit(image_offset, column_offset, count, image_step) for every run of a patch row
// that falls inside the image: `count` elements, consecutive in the columns and `image_step`
// apart in the image (padding reads zeros and receives nothing). The bounds are worked out
// per run, so the copying loops have no tests.
template <class F>
void for_each_patch_run(const Geometry& g, F visit) {
    const std::size_t k = g.c * g.kh * g.kw, l = g.oh * g.ow;
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t oy = 0; oy < g.oh; ++oy) {
            auto [ky0, ky1] = inside(oy * g.p.stride[0], g.p.padding[0], g.p.dilation[0], g.kh, g.h);
            for (std::size_t ox = 0; ox < g.ow; ++ox) {
                auto [kx0, kx1] = inside(ox * g.p.stride[1], g.p.padding[1], g.p.dilation[1], g.kw, g.w);
                if (kx0 == kx1) continue;
                std::size_t col_row = (n * l + oy * g.ow + ox) * k;
                std::size_t x0 = ox * g.p.stride[1] + kx0 * g.p.dilation[1] - g.p.padding[1];
                for (std::size_t c = 0; c < g.c; ++c)
                    for (std::size_t ky = ky0; ky < ky1; ++ky) {
                        std::size_t y = oy * g.p.stride[0] + ky * g.p.dilation[0] - g.p.padding[0];
                        visit(((n * g.c + c) * g.h + y) * g.w + x0, col_row + (c * g.kh + ky) * g.kw + kx0, kx1 - kx0,
                              g.p.dilation[1]);
                    }
            }
        }
}

template <class T>
TensorT<T> fold(const TensorT<T>& cols, const Geometry& g);

template <class T>
TensorT<T> unfold(const TensorT<T>& images, const Geometry& g) {
    return make_op<T>(
        "unfold2d", {images},
        [g](const TensorList<T>& in) {
            Array<T> out = xt::zeros<T>({g.n, g.oh * g.ow, g.c * g.kh * g.kw});
            const T* src = in[0].value().data();
            T* dst = out.data();
            for_each_patch_run(g, [&](std::size_t image, std::size_t column, std::size_t count, std::size_t step) {
                for (std::size_t t = 0; t < count; ++t) dst[column + t] = src[image + t * step];
            });
            return out;
        },
        [g](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& gr) -> TensorList<T> { return {fold(gr, g)}; });
}

template <class T>
TensorT<T> fold(const TensorT<T>& cols, const Geometry& g) {
    return make_op<T>(
        "fold2d", {cols},
        [g](const TensorList<T>& in) {
            Array<T> out = xt::zeros<T>({g.n, g.c, g.h, g.w});
            const T* src = in[0].value().data();
            T* dst = out.data();
            for_each_patch_run(g, [&](std::size_t image, std::size_t column, std::size_t count, std::size_t step) {
                for (std::size_t t = 0; t < count; ++t) dst[image + t * step] += src[column + t];
            });
            return out;
        },
        [g](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& gr) -> TensorList<T> {
            return {unfold(gr, g)};
        });
}
}  // namespace

std::array<std::size_t, 2> unfold2d_grid(const Shape& image_shape, const Patches2d& patches) {
    Geometry g = geometry("unfold2d", image_shape, patches);
    return {g.oh, g.ow};
}

template <class T>
TensorT<T> unfold2d(const TensorT<T>& images, const Patches2d& patches) {
    check_usable("unfold2d", images, 0);
    return unfold(images, geometry("unfold2d", images.shape(), patches));
}

template <class T>
TensorT<T> fold2d(const TensorT<T>& columns, const Shape& image_shape, const Patches2d& patches) {
    check_usable("fold2d", columns, 0);
    Geometry g = geometry("fold2d", image_shape, patches);
    Shape expected{g.n, g.oh * g.ow, g.c * g.kh * g.kw};
    if (columns.shape() != expected)
        throw ShapeError(fmt::format("fold2d: columns of shape {} for images of shape {} (expected {})",
                                     to_string(columns.shape()), to_string(image_shape), to_string(expected)));
    return fold(columns, g);
}

#define XTGRAD_INSTANTIATE(T)                                          \
    template TensorT<T> unfold2d(const TensorT<T>&, const Patches2d&); \
    template TensorT<T> fold2d(const TensorT<T>&, const Shape&, const Patches2d&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
