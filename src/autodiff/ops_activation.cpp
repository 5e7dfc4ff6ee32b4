// Activations. sigmoid and softplus are fused kernels, stable for any finite input.
#include "unary.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

template <class T>
TensorT<T> sigmoid(const TensorT<T>& a) {
    return unary<T>(
        "sigmoid", a,
        // 1 / (1 + e^-x) is stable as it stands in IEEE arithmetic: e^-x overflows to inf for
        // x < -709 and the result is 0, never NaN; the relative error stays at rounding level.
        [](const auto& x) { return T(1) / (T(1) + xt::exp(-x)); },
        scaled_by<T>([](const TensorT<T>&, const TensorT<T>& out) { return out * (T(1) - out); }));
}

template <class T>
TensorT<T> relu(const TensorT<T>& a) {
    return unary<T>("relu", a, [](const auto& x) { return xt::maximum(x, T(0)); },
                    [](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
                        // g times the step function, a constant: its own derivative is 0, as it should be
                        auto step = TensorT<T>::constant(evaluate<T>(xt::cast<T>(in[0].value() > T(0))));
                        return {g * step};
                    });
}

template <class T>
TensorT<T> softplus(const TensorT<T>& a) {
    return unary<T>(
        "softplus", a, [](const auto& x) { return xt::maximum(x, T(0)) + xt::log1p(xt::exp(-xt::abs(x))); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return sigmoid(x); }));
}

template <class T>
TensorT<T> clamp(const TensorT<T>& a, Scalar<T> lo, Scalar<T> hi) {
    if (!(lo <= hi)) throw ValueError(fmt::format("clamp: lower bound {} is not <= upper bound {}", lo, hi));
    return unary<T>("clamp", a, [lo, hi](const auto& x) { return xt::clip(x, lo, hi); },
                    [lo, hi](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
                        const auto& x = in[0].value();
                        return {xtgrad::where(Array<bool>(x >= lo && x <= hi), g, TensorT<T>::scalar(0))};
                    });
}

#define XTGRAD_INSTANTIATE(T)                         \
    template TensorT<T> sigmoid(const TensorT<T>&);   \
    template TensorT<T> relu(const TensorT<T>&);      \
    template TensorT<T> softplus(const TensorT<T>&);  \
    template TensorT<T> clamp(const TensorT<T>&, Scalar<T>, Scalar<T>);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad
