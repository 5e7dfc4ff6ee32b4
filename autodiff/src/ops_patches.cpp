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
    Geometry g{s[0], s[1], s[2], s[3], p.kernel[0], p.kernel[1], 0, 0, p};
    std::size_t span_h = p.dilation[0] * (g.kh - 1) + 1, span_w = p.dilation[1] * (g.kw - 1) + 1;
    std::size_t ph = g.h + 2 * p.padding[0], pw = g.w + 2 * p.padding[1];
    if (span_h > ph || span_w > pw)
        throw ShapeError(fmt::format("{}: a kernel spanning [{},{}] does not fit images of shape {} padded by [{},{}]",
                                     op, span_h, span_w, to_string(s), p.padding[0], p.padding[1]));
    g.oh = (ph - span_h) / p.stride[0] + 1;
    g.ow = (pw - span_w) / p.stride[1] + 1;
    return g;
}

// Calls visit(image_offset, column_offset) for every patch element that falls inside the
// image (padding reads zeros and receives nothing).
template <class F>
void for_each_patch_element(const Geometry& g, F visit) {
    const std::size_t k = g.c * g.kh * g.kw, l = g.oh * g.ow;
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t oy = 0; oy < g.oh; ++oy)
            for (std::size_t ox = 0; ox < g.ow; ++ox) {
                std::size_t col_row = (n * l + oy * g.ow + ox) * k;
                for (std::size_t c = 0; c < g.c; ++c)
                    for (std::size_t ky = 0; ky < g.kh; ++ky) {
                        auto y =
                            std::ptrdiff_t(oy * g.p.stride[0] + ky * g.p.dilation[0]) - std::ptrdiff_t(g.p.padding[0]);
                        if (y < 0 || y >= std::ptrdiff_t(g.h)) continue;
                        for (std::size_t kx = 0; kx < g.kw; ++kx) {
                            auto x = std::ptrdiff_t(ox * g.p.stride[1] + kx * g.p.dilation[1]) -
                                     std::ptrdiff_t(g.p.padding[1]);
                            if (x < 0 || x >= std::ptrdiff_t(g.w)) continue;
                            visit(((n * g.c + c) * g.h + std::size_t(y)) * g.w + std::size_t(x),
                                  col_row + (c * g.kh + ky) * g.kw + kx);
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
            for_each_patch_element(g, [&](std::size_t image, std::size_t column) { dst[column] = src[image]; });
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
            for_each_patch_element(g, [&](std::size_t image, std::size_t column) { dst[image] += src[column]; });
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
