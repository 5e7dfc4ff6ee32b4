// Shape ops a PyTorch user reaches for (squeeze, flatten, narrow, split, expand, repeat, roll,
// ...), written with reshape, slice, concat and broadcast_to: their gradients are those ops'
// rules, so they are differentiable to any order with no rule of their own. flip is the one
// primitive here (a copy no other op makes); its rule is flip again.
#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
auto signed_extent(const Shape& shape, std::size_t axis) {
    return static_cast<std::ptrdiff_t>(shape[axis]);
}

// The pieces of `a` along `ax` of the given sizes (which add up to its extent). Each piece is a
// slice. A first-order sweep adds a slice's gradient into its input's in place (tape.cpp), but
// a differentiable one (create_graph) and a compiled trace take the rule's way, the gradient
// in zeros of the input's size: there n slices of one tensor cost n times its size, and
// unbinding a sequence of T steps was O(T^2), most of an LSTM's step. Beyond four pieces the
// tensor is cut in four first and each quarter split again, which makes it O(size log n) (the
// quarters' copies included), the values and gradients unchanged. Quarters cost the rule's way
// what halves cost (4 log4 n = 2 log2 n times the size), and a first-order sweep, whose cost is
// a copy, zeros and a sum per level, half as much (an LSTM step: 4 % less time than with halves).
template <class T>
void pieces_into(const TensorT<T>& a, std::size_t ax, const std::size_t* sizes, std::size_t n,
                 std::vector<TensorT<T>>& out, bool drop_axis) {
    auto part = [&](std::size_t start, std::size_t stop, bool drop) {
        return start == 0 && stop == a.shape()[ax] && !drop ? a
                                                            : detail::slice_along(a, ax, start, stop - start, 1, drop);
    };
    if (n <= 4) {
        std::size_t start = 0;
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(part(start, start + sizes[i], drop_axis));
            start += sizes[i];
        }
        return;
    }
    std::size_t start = 0;
    for (std::size_t group = 0; group < 4; ++group) {  // pieces [n g / 4, n (g + 1) / 4)
        const std::size_t from = n * group / 4, to = n * (group + 1) / 4;
        std::size_t length = 0;
        for (std::size_t i = from; i < to; ++i) length += sizes[i];
        if (to - from == 1)  // (a quarter of one piece is that piece: no second copy)
            out.push_back(part(start, start + length, drop_axis));
        else
            pieces_into(part(start, start + length, false), ax, sizes + from, to - from, out, drop_axis);
        start += length;
    }
}

// The pieces; with `drop_axis` (every size 1) each without the axis (unbind)
template <class T>
std::vector<TensorT<T>> pieces(const TensorT<T>& a, std::size_t ax, const std::vector<std::size_t>& sizes,
                               bool drop_axis = false) {
    std::vector<TensorT<T>> out;
    out.reserve(sizes.size());
    pieces_into(a, ax, sizes.data(), sizes.size(), out, drop_axis);
    return out;
}

// Sizes of `size` covering `extent`, the last one shorter.
std::vector<std::size_t> even_sizes(std::size_t extent, std::size_t size) {
    std::vector<std::size_t> sizes;
    for (std::size_t start = 0; start < extent; start += size) sizes.push_back(std::min(size, extent - start));
    return sizes;
}

// out[o, i, r] = x[o, n - 1 - i, r] for the axis whose extent is n, with `outer` and `inner`
// the products of the extents before and after it.
template <class T>
void flip_axis(const Array<T>& x, Array<T>& out, std::size_t ax) {
    const Shape& s = x.shape();
    std::size_t outer = 1, inner = 1, n = s[ax];
    for (std::size_t d = 0; d < ax; ++d) outer *= s[d];
    for (std::size_t d = ax + 1; d < s.size(); ++d) inner *= s[d];
    const T* src = x.data();
    T* dst = out.data();
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t i = 0; i < n; ++i)
            std::copy_n(src + (o * n + n - 1 - i) * inner, inner, dst + (o * n + i) * inner);
}
}  // namespace

template <class T>
TensorT<T> transpose(const TensorT<T>& a, std::ptrdiff_t axis0, std::ptrdiff_t axis1) {
    check_usable("transpose", a, 0);
    std::size_t i = normalize_axis("transpose", axis0, a.dim()), j = normalize_axis("transpose", axis1, a.dim());
    if (i == j) return a;
    std::vector<std::size_t> perm(a.dim());
    for (std::size_t d = 0; d < a.dim(); ++d) perm[d] = d == i ? j : d == j ? i : d;
    return permute(a, perm);
}

template <class T>
TensorT<T> expand(const TensorT<T>& a, const ShapeArg& request) {
    check_usable("expand", a, 0);
    const auto& sizes = request.sizes();
    const Shape& from = a.shape();
    auto asked = [&] { return fmt::format("[{}]", fmt::join(sizes, ",")); };
    if (sizes.size() < from.size())
        throw ShapeError(fmt::format("expand: {} has {} dimensions, more than the {} sizes {}", to_string(from),
                                     from.size(), sizes.size(), asked()));
    std::size_t lead = sizes.size() - from.size();
    Shape shape(sizes.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] == -1 && i < lead)
            throw ShapeError(
                fmt::format("expand: {} to {}: a new leading axis ({}) cannot be -1", to_string(from), asked(), i));
        if (sizes[i] < -1)
            throw ShapeError(
                fmt::format("expand: {} to {}: size {} of axis {} is negative", to_string(from), asked(), sizes[i], i));
        shape[i] = sizes[i] == -1 ? from[i - lead] : static_cast<std::size_t>(sizes[i]);
        if (i >= lead && from[i - lead] != 1 && from[i - lead] != shape[i])
            throw ShapeError(fmt::format("expand: {} to {}: axis {} of extent {} is not 1 and cannot become {}",
                                         to_string(from), asked(), i - lead, from[i - lead], shape[i]));
    }
    check_not_empty("expand", shape);
    return shape == from ? a : broadcast_to(a, shape);
}

template <class T>
TensorT<T> squeeze(const TensorT<T>& a) {
    check_usable("squeeze", a, 0);
    Shape shape;
    for (std::size_t e : a.shape())
        if (e != 1) shape.push_back(e);
    return shape.size() == a.dim() ? a : reshape(a, shape);
}

template <class T>
TensorT<T> squeeze(const TensorT<T>& a, const Axes& axes) {
    check_usable("squeeze", a, 0);
    if (axes.empty()) return squeeze(a);
    std::vector<std::size_t> drop = normalize_axes("squeeze", axes, a.dim());
    Shape shape;
    for (std::size_t d = 0; d < a.dim(); ++d)
        if (a.shape()[d] != 1 || std::find(drop.begin(), drop.end(), d) == drop.end()) shape.push_back(a.shape()[d]);
    return shape.size() == a.dim() ? a : reshape(a, shape);
}

template <class T>
TensorT<T> unsqueeze(const TensorT<T>& a, std::ptrdiff_t axis) {
    check_usable("unsqueeze", a, 0);
    std::size_t ax = normalize_axis("unsqueeze", axis, a.dim() + 1);
    Shape shape;
    for (std::size_t d = 0; d <= a.dim(); ++d) shape.push_back(d == ax ? 1 : a.shape()[d < ax ? d : d - 1]);
    return reshape(a, shape);
}

template <class T>
TensorT<T> flatten(const TensorT<T>& a, std::ptrdiff_t start_axis, std::ptrdiff_t end_axis) {
    check_usable("flatten", a, 0);
    if (a.dim() == 0) return reshape(a, {1});  // torch.flatten of a scalar is a 1-element vector
    std::size_t first = normalize_axis("flatten", start_axis, a.dim());
    std::size_t last = normalize_axis("flatten", end_axis, a.dim());
    if (first > last)
        throw ValueError(fmt::format("flatten: start axis {} comes after end axis {} for shape {}", start_axis,
                                     end_axis, to_string(a.shape())));
    Shape shape;
    for (std::size_t d = 0; d < a.dim(); ++d) {
        if (d <= first || d > last)
            shape.push_back(a.shape()[d]);
        else
            shape.back() *= a.shape()[d];
    }
    return reshape(a, shape);
}

template <class T>
TensorT<T> unflatten(const TensorT<T>& a, std::ptrdiff_t axis, const ShapeArg& sizes) {
    check_usable("unflatten", a, 0);
    std::size_t ax = normalize_axis("unflatten", axis, a.dim());
    if (sizes.sizes().empty())
        throw ShapeError(fmt::format("unflatten: no sizes to split axis {} of {} into", ax, to_string(a.shape())));
    Shape split = resolve_sizes("unflatten", sizes, {a.shape()[ax]});
    Shape shape;
    for (std::size_t d = 0; d < a.dim(); ++d) {
        if (d == ax)
            shape.insert(shape.end(), split.begin(), split.end());
        else
            shape.push_back(a.shape()[d]);
    }
    return reshape(a, shape);
}

template <class T>
TensorT<T> repeat(const TensorT<T>& a, const std::vector<std::size_t>& repeats) {
    check_usable("repeat", a, 0);
    if (repeats.size() < a.dim())
        throw ShapeError(fmt::format("repeat: {} repeats for a tensor of shape {}; at least one per dimension",
                                     repeats.size(), to_string(a.shape())));
    // [.., e, ..] viewed as [.., 1, e, ..], broadcast to [.., r, e, ..], joined to [.., r e, ..]
    std::size_t lead = repeats.size() - a.dim();
    Shape spread, tiled, result;
    for (std::size_t i = 0; i < repeats.size(); ++i) {
        std::size_t e = i < lead ? 1 : a.shape()[i - lead];
        spread.insert(spread.end(), {1, e});
        tiled.insert(tiled.end(), {repeats[i], e});
        result.push_back(repeats[i] * e);
    }
    check_not_empty("repeat", tiled);
    return reshape(broadcast_to(reshape(a, spread), tiled), result);
}

template <class T>
TensorT<T> flip(const TensorT<T>& a, const Axes& axes) {
    check_usable("flip", a, 0);
    if (axes.empty()) throw ValueError(fmt::format("flip: no axes to flip for shape {}", to_string(a.shape())));
    std::vector<std::size_t> along = normalize_axes("flip", axes, a.dim());
    return make_op<T>(
        "flip", {a},
        [along](const TensorList<T>& in) {
            Array<T> out = in[0].value();
            Array<T> other = Array<T>::from_shape(out.shape());
            for (std::size_t ax : along) {
                flip_axis(out, other, ax);
                std::swap(out, other);
            }
            return out;
        },
        [axes](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {flip(g, axes)};
        });
}

template <class T>
TensorT<T> roll(const TensorT<T>& a, const std::vector<std::ptrdiff_t>& shifts, const Axes& axes) {
    check_usable("roll", a, 0);
    if (axes.empty()) {
        if (shifts.size() != 1)
            throw ValueError(
                fmt::format("roll: without axes one shift is needed (the flattened tensor's), got {}", shifts.size()));
        return a.dim() == 1 ? roll(a, shifts, {0}) : reshape(roll(reshape(a, {a.size()}), shifts, {0}), a.shape());
    }
    if (shifts.size() != axes.size())
        throw ValueError(
            fmt::format("roll: {} shifts for {} axes; one per axis is needed", shifts.size(), axes.size()));
    TensorT<T> out = a;
    for (std::size_t i = 0; i < axes.size(); ++i) {
        std::size_t ax = normalize_axis("roll", axes[i], a.dim());
        std::ptrdiff_t n = signed_extent(a.shape(), ax);
        if (n == 0) continue;
        std::ptrdiff_t s = ((shifts[i] % n) + n) % n;  // out[j] = a[j - s]: the last s elements come first
        if (s == 0) continue;
        auto axis = static_cast<std::ptrdiff_t>(ax);
        out = concat<T>({slice(out, axis, n - s, n), slice(out, axis, 0, n - s)}, axis);
    }
    return out;
}

template <class T>
TensorT<T> narrow(const TensorT<T>& a, std::ptrdiff_t axis, std::ptrdiff_t start, std::size_t length) {
    check_usable("narrow", a, 0);
    std::size_t ax = normalize_axis("narrow", axis, a.dim());
    std::ptrdiff_t n = signed_extent(a.shape(), ax);
    std::ptrdiff_t first = start < 0 ? start + n : start;
    if (first < 0 || first > n || length > static_cast<std::size_t>(n - first))
        throw ValueError(fmt::format("narrow: {} elements from {} along axis {} of shape {} run past its extent {}",
                                     length, start, ax, to_string(a.shape()), n));
    if (length == 0)
        throw ValueError(
            fmt::format("narrow: length 0 along axis {} of shape {} selects no elements", ax, to_string(a.shape())));
    return length == a.shape()[ax] ? a : slice(a, axis, first, first + static_cast<std::ptrdiff_t>(length));
}

template <class T>
TensorT<T> select(const TensorT<T>& a, std::ptrdiff_t axis, std::ptrdiff_t index) {
    check_usable("select", a, 0);
    std::size_t ax = normalize_axis("select", axis, a.dim());
    std::ptrdiff_t n = signed_extent(a.shape(), ax);
    if (index < -n || index >= n)
        throw ValueError(fmt::format("select: index {} is out of range for axis {} of shape {}", index, ax,
                                     to_string(a.shape())));
    return detail::slice_along(a, ax, std::size_t(index < 0 ? index + n : index), 1, 1, true);
}

template <class T>
std::vector<TensorT<T>> split(const TensorT<T>& a, std::size_t size, std::ptrdiff_t axis) {
    check_usable("split", a, 0);
    std::size_t ax = normalize_axis("split", axis, a.dim());
    if (size == 0)
        throw ValueError(fmt::format("split: pieces of size 0 along axis {} of shape {}", ax, to_string(a.shape())));
    return pieces(a, ax, even_sizes(a.shape()[ax], size));
}

template <class T>
std::vector<TensorT<T>> split(const TensorT<T>& a, const std::vector<std::size_t>& sizes, std::ptrdiff_t axis) {
    check_usable("split", a, 0);
    std::size_t ax = normalize_axis("split", axis, a.dim());
    std::size_t total = 0;
    for (std::size_t s : sizes) {
        if (s == 0)
            throw ValueError(fmt::format("split: sizes [{}] along axis {} of shape {}: each must be positive",
                                         fmt::join(sizes, ","), ax, to_string(a.shape())));
        if (__builtin_add_overflow(total, s, &total))
            throw ValueError(fmt::format("split: sizes [{}] add up to more than any axis has", fmt::join(sizes, ",")));
    }
    if (total != a.shape()[ax])
        throw ValueError(fmt::format("split: sizes [{}] add up to {}, but axis {} of shape {} has {} elements",
                                     fmt::join(sizes, ","), total, ax, to_string(a.shape()), a.shape()[ax]));
    return pieces(a, ax, sizes);
}

template <class T>
std::vector<TensorT<T>> chunk(const TensorT<T>& a, std::size_t chunks, std::ptrdiff_t axis) {
    check_usable("chunk", a, 0);
    std::size_t ax = normalize_axis("chunk", axis, a.dim());
    if (chunks == 0) throw ValueError(fmt::format("chunk: 0 chunks of shape {}", to_string(a.shape())));
    std::size_t extent = a.shape()[ax];
    if (extent == 0)
        throw ValueError(fmt::format("chunk: axis {} of shape {} has no elements", ax, to_string(a.shape())));
    return pieces(a, ax, even_sizes(extent, (extent + chunks - 1) / chunks));
}

template <class T>
std::vector<TensorT<T>> unbind(const TensorT<T>& a, std::ptrdiff_t axis) {
    check_usable("unbind", a, 0);
    std::size_t ax = normalize_axis("unbind", axis, a.dim());
    return pieces(a, ax, std::vector<std::size_t>(a.shape()[ax], 1), true);
}

#define XTGRAD_INSTANTIATE(T)                                                                                   \
    template TensorT<T> transpose(const TensorT<T>&, std::ptrdiff_t, std::ptrdiff_t);                           \
    template TensorT<T> expand(const TensorT<T>&, const ShapeArg&);                                             \
    template TensorT<T> squeeze(const TensorT<T>&);                                                             \
    template TensorT<T> squeeze(const TensorT<T>&, const Axes&);                                                \
    template TensorT<T> unsqueeze(const TensorT<T>&, std::ptrdiff_t);                                           \
    template TensorT<T> flatten(const TensorT<T>&, std::ptrdiff_t, std::ptrdiff_t);                             \
    template TensorT<T> unflatten(const TensorT<T>&, std::ptrdiff_t, const ShapeArg&);                          \
    template TensorT<T> repeat(const TensorT<T>&, const std::vector<std::size_t>&);                             \
    template TensorT<T> flip(const TensorT<T>&, const Axes&);                                                   \
    template TensorT<T> roll(const TensorT<T>&, const std::vector<std::ptrdiff_t>&, const Axes&);               \
    template TensorT<T> narrow(const TensorT<T>&, std::ptrdiff_t, std::ptrdiff_t, std::size_t);                 \
    template TensorT<T> select(const TensorT<T>&, std::ptrdiff_t, std::ptrdiff_t);                                  \
    template std::vector<TensorT<T>> split(const TensorT<T>&, std::size_t, std::ptrdiff_t);                     \
    template std::vector<TensorT<T>> split(const TensorT<T>&, const std::vector<std::size_t>&, std::ptrdiff_t); \
    template std::vector<TensorT<T>> chunk(const TensorT<T>&, std::size_t, std::ptrdiff_t);                     \
    template std::vector<TensorT<T>> unbind(const TensorT<T>&, std::ptrdiff_t);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
