// Activations. sigmoid, tanh and softplus are fused kernels, stable for any finite input.
#include "binary.hpp"
#include "unary.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
// The rules of sigmoid and tanh as single-pass ops (one read of g and out, one write
// instead of three passes), each with its own rule so that second derivatives work.

// g s (1 - s), with s = sigmoid(a)
template <class T>
TensorT<T> sigmoid_backward(const TensorT<T>& g, const TensorT<T>& s) {
    return binary<T>(
        "sigmoid_backward", g, s, [](T gv, T sv) { return gv * sv * (T(1) - sv); },
        [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& gg) -> TensorList<T> {
            return {wants(in, 0) ? sigmoid_backward(gg, in[1]) : TensorT<T>(),
                    wants(in, 1) ? gg * in[0] * (T(1) - T(2) * in[1]) : TensorT<T>()};
        });
}

// g (1 - t^2), with t = tanh(a)
template <class T>
TensorT<T> tanh_backward(const TensorT<T>& g, const TensorT<T>& t) {
    return binary<T>(
        "tanh_backward", g, t, [](T gv, T tv) { return gv * (T(1) - tv * tv); },
        [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& gg) -> TensorList<T> {
            return {wants(in, 0) ? tanh_backward(gg, in[1]) : TensorT<T>(),
                    wants(in, 1) ? gg * in[0] * in[1] * T(-2) : TensorT<T>()};
        });
}
}  // namespace

template <class T>
TensorT<T> sigmoid(const TensorT<T>& a) {
    return unary<T>(
        "sigmoid", a,
        // 1 / (1 + e^-x) is stable as it stands in IEEE arithmetic: e^-x overflows to inf for
        // x < -709 and the result is 0, never NaN; the relative error stays at rounding level.
        [](const auto& x) { return T(1) / (T(1) + xt::exp(-x)); },
        [](const TensorList<T>&, const TensorT<T>& out, const TensorT<T>& g) -> TensorList<T> {
            return {sigmoid_backward(g, out)};
        });
}

template <class T>
TensorT<T> tanh(const TensorT<T>& a) {
    return unary<T>(
        "tanh", a, [](const auto& x) { return xt::tanh(x); },
        [](const TensorList<T>&, const TensorT<T>& out, const TensorT<T>& g) -> TensorList<T> {
            return {tanh_backward(g, out)};
        });
}

template <class T>
TensorT<T> relu(const TensorT<T>& a) {
    return unary<T>(
        "relu", a, [](const auto& x) { return xt::maximum(x, T(0)); },
        [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            // g times the step function: its own derivative is 0, as it should be
            return {g * derived_elementwise<T>("relu.step", in[0], [](T v) { return v > T(0) ? T(1) : T(0); })};
        });
}

template <class T>
TensorT<T> softplus(const TensorT<T>& a) {
    return unary<T>(
        "softplus", a, [](const auto& x) { return xt::maximum(x, T(0)) + xt::log1p(xt::exp(-xt::abs(x))); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return sigmoid(x); }));
}

template <class T>
TensorT<T> log_sigmoid(const TensorT<T>& a) {
    // min(x, 0) - log(1 + e^-|x|): the exponential never overflows
    return unary<T>(
        "log_sigmoid", a, [](const auto& x) { return xt::minimum(x, T(0)) - xt::log1p(xt::exp(-xt::abs(x))); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return sigmoid(neg(x)); }));
}

template <class T>
TensorT<T> clamp(const TensorT<T>& a, Scalar<T> lo, Scalar<T> hi) {
    if (!(lo <= hi)) throw ValueError(fmt::format("clamp: lower bound {} is not <= upper bound {}", lo, hi));
    return unary<T>(
        "clamp", a, [lo, hi](const auto& x) { return xt::clip(x, lo, hi); },
        [lo, hi](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            auto inside = binary_flags<T>("clamp.inside", in[0], TensorT<T>::scalar(0),
                                          [lo, hi](T x, T) { return x >= lo && x <= hi; });
            return {select(inside, g, TensorT<T>::scalar(0))};
        });
}

#define XTGRAD_INSTANTIATE(T)                           \
    template TensorT<T> sigmoid(const TensorT<T>&);     \
    template TensorT<T> tanh(const TensorT<T>&);        \
    template TensorT<T> relu(const TensorT<T>&);        \
    template TensorT<T> softplus(const TensorT<T>&);    \
    template TensorT<T> log_sigmoid(const TensorT<T>&); \
    template TensorT<T> clamp(const TensorT<T>&, Scalar<T>, Scalar<T>);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
