// Reductions, and the fused log-sum-exp family (logsumexp, softmax, log_softmax).
#include <cmath>
#include <limits>

#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
// `g` of a reduction's output shape, brought back to the input's shape.
template <class T>
TensorT<T> expand_grad(const TensorT<T>& g, const Shape& keep_shape, const Shape& in_shape) {
    TensorT<T> k = g.shape() == keep_shape ? g : reshape(g, keep_shape);
    return k.shape() == in_shape ? k : broadcast_to(k, in_shape);
}

template <class T>
Array<T> reshaped(Array<T>&& a, const Shape& shape) {
    a.reshape(shape);
    return std::move(a);
}
}  // namespace

template <class T>
TensorT<T> sum(const TensorT<T>& a, const Axes& axes, bool keepdims) {
    check_usable("sum", a, 0);
    auto ax = normalize_axes("sum", axes, a.dim());
    Shape out_shape = reduced_shape(a.shape(), ax, keepdims);
    Shape keep_shape = reduced_shape(a.shape(), ax, true);
    auto out = make_op<T>(
        "sum", {a},
        [ax, out_shape](const TensorList<T>& in) {
            const auto& x = in[0].value();
            if (ax.size() == x.dimension()) {
                Array<T> r = Array<T>::from_shape(out_shape);
                *r.data() = sum_all(x.data(), x.size());
                return r;
            }
            return reshaped<T>(reduce_axes(x, ax, T(0), Plus{}), out_shape);
        },
        [keep_shape](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {expand_grad(g, keep_shape, in[0].shape())};
        });
    if (ax.size() == a.dim() && diagnostic_active()) mark_fusable<T>(out, NodeBase::Fusion::sum_all);
    return out;
}

template <class T>
TensorT<T> sum(const TensorT<T>& a) {
    return sum(a, Axes{}, false);
}

template <class T>
TensorT<T> mean(const TensorT<T>& a, const Axes& axes, bool keepdims) {
    check_usable("mean", a, 0);
    std::size_t count = 1;
    for (auto i : normalize_axes("mean", axes, a.dim())) count *= a.shape()[i];
    return sum(a, axes, keepdims) * (T(1) / T(count));
}

template <class T>
TensorT<T> mean(const TensorT<T>& a) {
    return mean(a, Axes{}, false);
}

namespace {
// max (greater = true) or min over axes; the gradient is shared evenly among the extremes.
template <class T>
TensorT<T> extremum(std::string_view name, const TensorT<T>& a, const Axes& axes, bool keepdims, bool greater) {
    check_usable(name, a, 0);
    auto ax = normalize_axes(name, axes, a.dim());
    Shape out_shape = reduced_shape(a.shape(), ax, keepdims);
    Shape keep_shape = reduced_shape(a.shape(), ax, true);
    return make_op<T>(
        name, {a},
        [ax, out_shape, greater](const TensorList<T>& in) {
            const auto& x = in[0].value();
            constexpr T inf = std::numeric_limits<T>::infinity();
            Array<T> r = greater ? reduce_axes(x, ax, -inf, Max{}) : reduce_axes(x, ax, inf, Min{});
            return reshaped<T>(std::move(r), out_shape);
        },
        [ax, keep_shape](const TensorList<T>& in, const TensorT<T>& out, const TensorT<T>& g) -> TensorList<T> {
            auto share = derived_constant<T>("extremum.share", {in[0], out}, [ax, keep_shape](const TensorList<T>& x) {
                Array<T> ext = x[1].value();
                ext.reshape(keep_shape);
                Array<T> hit = evaluate<T>(xt::cast<T>(xt::equal(x[0].value(), ext)));
                Array<T> count = reduce_axes(hit, ax, T(0), Plus{});
                return evaluate<T>(hit / count);
            });
            return {share * expand_grad(g, keep_shape, in[0].shape())};
        });
}

// x - m, m the maximum of each slice along `axis`: the first step of log-sum-exp, softmax and
// log_softmax. Both of log_softmax's passes work on x - m: (x - m) - log s has no
// cancellation, where x - (m + log s) loses log s to the rounding of m (5,000 float ulp at
// logits of 1e4). NaN, +inf or a slice of only -inf would make the value or the gradient
// NaN: rejected.
template <class T>
Array<T> shifted_by_max(std::string_view name, const Array<T>& x, std::size_t axis, Array<T>* max_out = nullptr) {
    for (std::size_t i = 0; i < x.size(); ++i) {
        T v = x.data()[i];
        if (v != v || v == std::numeric_limits<T>::infinity())
            throw DomainError(fmt::format("{}: input has {} at index {} of shape {}; logits must be finite or -inf",
                                          name, v, index_string(x.shape(), i), to_string(x.shape())));
    }
    Array<T> m = reduce_axis(x, axis, -std::numeric_limits<T>::infinity(), Max{});
    for (std::size_t i = 0; i < m.size(); ++i)
        if (m.data()[i] == -std::numeric_limits<T>::infinity())
            throw DomainError(fmt::format("{}: every entry along axis {} is -inf (slice {} of the reduced shape {})",
                                          name, axis, index_string(m.shape(), i), to_string(m.shape())));
    Array<T> shifted = binary_kernel(x, m, x.shape(), Minus{});
    if (max_out != nullptr) *max_out = std::move(m);
    return shifted;
}

// log sum exp(shifted) along `axis`, kept as size 1 (shifted by the maximum: no overflow).
template <class T>
Array<T> log_sum_exp_of_shifted(const Array<T>& shifted, std::size_t axis) {
    return xt::log(reduce_axis(Array<T>(xt::exp(shifted)), axis, T(0), Plus{}));
}
}  // namespace

template <class T>
TensorT<T> max(const TensorT<T>& a, const Axes& axes, bool keepdims) {
    return extremum("max", a, axes, keepdims, true);
}

template <class T>
TensorT<T> min(const TensorT<T>& a, const Axes& axes, bool keepdims) {
    return extremum("min", a, axes, keepdims, false);
}

template <class T>
TensorT<T> logsumexp(const TensorT<T>& a, std::ptrdiff_t axis, bool keepdims) {
    check_usable("logsumexp", a, 0);
    std::size_t ax = normalize_axis("logsumexp", axis, a.dim());
    Shape out_shape = reduced_shape(a.shape(), {ax}, keepdims);
    Shape keep_shape = reduced_shape(a.shape(), {ax}, true);
    return make_op<T>(
        "logsumexp", {a},
        [ax, out_shape](const TensorList<T>& in) {
            Array<T> m;
            Array<T> shifted = shifted_by_max("logsumexp", in[0].value(), ax, &m);
            return reshaped<T>(evaluate<T>(m + log_sum_exp_of_shifted(shifted, ax)), out_shape);
        },
        // d lse / d a = softmax(a): the op, not exp(a - lse), whose cancellation at large logits
        // (lse rounded to its ulp) made float gradients 1.7 % off at 3e5
        [keep_shape, ax](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            auto gk = g.shape() == keep_shape ? g : reshape(g, keep_shape);
            return {gk * softmax(in[0], static_cast<std::ptrdiff_t>(ax))};
        });
}

template <class T>
TensorT<T> softmax(const TensorT<T>& a, std::ptrdiff_t axis) {
    check_usable("softmax", a, 0);
    std::size_t ax = normalize_axis("softmax", axis, a.dim());
    return make_op<T>(
        "softmax", {a},
        // exp(x - m) / sum exp(x - m) rather than exp(x - lse): no cancellation in x - lse,
        // so the two-class case is exactly the sigmoid 1 / (1 + e^-s) for s >= 0
        [ax](const TensorList<T>& in) {
            const auto& x = in[0].value();
            Array<T> e = xt::exp(shifted_by_max("softmax", x, ax));
            return binary_kernel(e, reduce_axis(e, ax, T(0), Plus{}), x.shape(), Divides{});
        },
        // dp_k/da_i = p_k (delta_ik - p_i)
        [ax](const TensorList<T>&, const TensorT<T>& p, const TensorT<T>& g) -> TensorList<T> {
            auto ia = static_cast<std::ptrdiff_t>(ax);
            return {p * (g - sum(g * p, Axes{ia}, true))};
        });
}

template <class T>
TensorT<T> log_softmax(const TensorT<T>& a, std::ptrdiff_t axis) {
    check_usable("log_softmax", a, 0);
    std::size_t ax = normalize_axis("log_softmax", axis, a.dim());
    return make_op<T>(
        "log_softmax", {a},
        [ax](const TensorList<T>& in) {
            Array<T> shifted = shifted_by_max("log_softmax", in[0].value(), ax);
            return binary_kernel(shifted, log_sum_exp_of_shifted(shifted, ax), shifted.shape(), Minus{});
        },
        // d out_k / d a_i = delta_ik - p_i, with p = exp(out)
        [ax](const TensorList<T>&, const TensorT<T>& out, const TensorT<T>& g) -> TensorList<T> {
            auto ia = static_cast<std::ptrdiff_t>(ax);
            return {g - exp(out) * sum(g, Axes{ia}, true)};
        });
}

#define XTGRAD_INSTANTIATE(T)                                               \
    template TensorT<T> sum(const TensorT<T>&);                             \
    template TensorT<T> sum(const TensorT<T>&, const Axes&, bool);          \
    template TensorT<T> mean(const TensorT<T>&);                            \
    template TensorT<T> mean(const TensorT<T>&, const Axes&, bool);         \
    template TensorT<T> max(const TensorT<T>&, const Axes&, bool);          \
    template TensorT<T> min(const TensorT<T>&, const Axes&, bool);          \
    template TensorT<T> logsumexp(const TensorT<T>&, std::ptrdiff_t, bool); \
    template TensorT<T> softmax(const TensorT<T>&, std::ptrdiff_t);         \
    template TensorT<T> log_softmax(const TensorT<T>&, std::ptrdiff_t);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
