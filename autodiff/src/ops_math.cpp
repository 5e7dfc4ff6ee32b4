// Unary elementwise math. Each rule is written with the differentiable ops, using the
// op's own output where that is cheaper (exp, expm1, sqrt) and still exact.
#include "unary.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

template <class T>
TensorT<T> exp(const TensorT<T>& a) {
    return unary<T>(
        "exp", a, [](const auto& x) { return xt::exp(x); },
        scaled_by<T>([](const TensorT<T>&, const TensorT<T>& out) { return out; }));
}

template <class T>
TensorT<T> log(const TensorT<T>& a) {
    auto out = unary<T>(
        "log", a, [](const auto& x) { return xt::log(x); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return T(1) / x; }));
    check_domain("log", unchecked_value(a), unchecked_value(out), "inputs >= 0");
    return out;
}

template <class T>
TensorT<T> log1p(const TensorT<T>& a) {
    auto out = unary<T>(
        "log1p", a, [](const auto& x) { return xt::log1p(x); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return T(1) / (x + T(1)); }));
    check_domain("log1p", unchecked_value(a), unchecked_value(out), "inputs >= -1");
    return out;
}

template <class T>
TensorT<T> expm1(const TensorT<T>& a) {
    return unary<T>(
        "expm1", a, [](const auto& x) { return xt::expm1(x); },
        scaled_by<T>([](const TensorT<T>&, const TensorT<T>& out) { return out + T(1); }));
}

template <class T>
TensorT<T> sqrt(const TensorT<T>& a) {
    auto out = unary<T>(
        "sqrt", a, [](const auto& x) { return xt::sqrt(x); },
        scaled_by<T>([](const TensorT<T>&, const TensorT<T>& out) { return T(0.5) / out; }));
    check_domain("sqrt", unchecked_value(a), unchecked_value(out), "inputs >= 0");
    return out;
}

template <class T>
TensorT<T> abs(const TensorT<T>& a) {
    // sign(a) is piecewise constant: a constant factor, so second derivatives are 0 as they should be.
    return unary<T>(
        "abs", a, [](const auto& x) { return xt::abs(x); }, scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) {
            return derived_constant<T>("abs.sign", {x}, [](const TensorList<T>& in) {
                return evaluate<T>(xt::sign(in[0].value()));
            });
        }));
}

template <class T>
TensorT<T> square(const TensorT<T>& a) {
    return unary<T>(
        "square", a, [](const auto& x) { return x * x; },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return x * T(2); }));
}

template <class T>
TensorT<T> sin(const TensorT<T>& a) {
    return unary<T>(
        "sin", a, [](const auto& x) { return xt::sin(x); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return cos(x); }));
}

template <class T>
TensorT<T> cos(const TensorT<T>& a) {
    return unary<T>(
        "cos", a, [](const auto& x) { return xt::cos(x); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return neg(sin(x)); }));
}

template <class T>
TensorT<T> erf(const TensorT<T>& a) {
    return unary<T>(
        // std::erf element by element: xsimd's vectorised erf is 10 ulp off near 0.5
        "erf", a,
        [](const Array<T>& x) {
            Array<T> out = Array<T>::from_shape(x.shape());
            std::transform(x.begin(), x.end(), out.begin(), [](T v) { return std::erf(v); });
            return out;
        },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) {
            return exp(neg(square(x))) * T(1.1283791670955126);  // 2 / sqrt(pi)
        }));
}

template <class T>
TensorT<T> atan(const TensorT<T>& a) {
    return unary<T>(
        "atan", a, [](const auto& x) { return xt::atan(x); },
        scaled_by<T>([](const TensorT<T>& x, const TensorT<T>&) { return T(1) / (square(x) + T(1)); }));
}

template <class T>
TensorT<T> tan(const TensorT<T>& a) {
    return unary<T>(
        "tan", a, [](const auto& x) { return xt::tan(x); },
        scaled_by<T>([](const TensorT<T>&, const TensorT<T>& out) { return square(out) + T(1); }));
}

#define XTGRAD_INSTANTIATE(T)                      \
    template TensorT<T> exp(const TensorT<T>&);    \
    template TensorT<T> log(const TensorT<T>&);    \
    template TensorT<T> log1p(const TensorT<T>&);  \
    template TensorT<T> expm1(const TensorT<T>&);  \
    template TensorT<T> sqrt(const TensorT<T>&);   \
    template TensorT<T> abs(const TensorT<T>&);    \
    template TensorT<T> square(const TensorT<T>&); \
    template TensorT<T> sin(const TensorT<T>&);    \
    template TensorT<T> cos(const TensorT<T>&);    \
    template TensorT<T> erf(const TensorT<T>&);    \
    template TensorT<T> atan(const TensorT<T>&);   \
    template TensorT<T> tan(const TensorT<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
