// Binary elementwise ops with numpy broadcasting. Each rule sums its gradients back to
// the input's shape with sum_to, so broadcasting needs no special case anywhere else.
#include <cmath>

#include "binary.hpp"
#include "unary.hpp"

namespace xtgrad {

using namespace detail;

template <class T>
BasicTensor<T> add(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary<T>(
        "add", a, b, [](T x, T y) { return x + y; },
        [](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? sum_to(g, in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(g, in[1].shape()) : BasicTensor<T>()};
        });
}

template <class T>
BasicTensor<T> sub(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary<T>(
        "sub", a, b, [](T x, T y) { return x - y; },
        [](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? sum_to(g, in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(neg(g), in[1].shape()) : BasicTensor<T>()};
        });
}

template <class T>
BasicTensor<T> mul(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary<T>(
        "mul", a, b, [](T x, T y) { return x * y; },
        [](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? sum_to(g * in[1], in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(g * in[0], in[1].shape()) : BasicTensor<T>()};
        });
}

template <class T>
BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    auto out = binary<T>(
        "div", a, b, [](T x, T y) { return x / y; },
        // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
        [](const TensorList<T>& in, const BasicTensor<T>& out, const BasicTensor<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? sum_to(g / in[1], in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(neg(g * out / in[1]), in[1].shape()) : BasicTensor<T>()};
        });
    const T* o = out.value().data();
    for (std::size_t i = 0; i < out.size(); ++i)
        if (o[i] != o[i]) {
            Array<T> num = xt::broadcast(a.value(), out.shape()), den = xt::broadcast(b.value(), out.shape());
            if (num.data()[i] == num.data()[i] && den.data()[i] == den.data()[i])
                throw DomainError(fmt::format("div: {} / {} at index {} of shape {} is undefined", num.data()[i],
                                              den.data()[i], index_string(out.shape(), i), to_string(out.shape())));
        }
    return out;
}

template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    auto out = binary<T>(
        "pow", a, b, [](T x, T y) { return std::pow(x, y); },
        // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a, taken as 0 at a = 0 (its limit for b > 0)
        [](const TensorList<T>& in, const BasicTensor<T>& out, const BasicTensor<T>& g) -> TensorList<T> {
            BasicTensor<T> ga, gb;
            if (wants(in, 0)) ga = sum_to(g * in[1] * pow(in[0], in[1] - T(1)), in[0].shape());
            if (wants(in, 1)) {
                const Array<T>& base = in[0].value();
                for (std::size_t i = 0; i < base.size(); ++i)
                    if (base.data()[i] < 0)
                        throw DomainError(
                            fmt::format("pow: the gradient w.r.t. the exponent needs a base >= 0; "
                                        "base has {} at index {} of shape {}",
                                        base.data()[i], index_string(base.shape(), i), to_string(base.shape())));
                Array<bool> positive = base > T(0);
                auto safe_base = xtgrad::where(positive, in[0], BasicTensor<T>::scalar(1));
                gb =
                    sum_to(xtgrad::where(positive, g * out * log(safe_base), BasicTensor<T>::scalar(0)), in[1].shape());
            }
            return {ga, gb};
        });
    const T* o = out.value().data();
    for (std::size_t i = 0; i < out.size(); ++i)
        if (o[i] != o[i]) {
            Array<T> base = xt::broadcast(a.value(), out.shape()), ex = xt::broadcast(b.value(), out.shape());
            if (base.data()[i] == base.data()[i] && ex.data()[i] == ex.data()[i])
                throw DomainError(
                    fmt::format("pow: {} ^ {} at index {} of shape {} is undefined (negative base, "
                                "non-integer exponent)",
                                base.data()[i], ex.data()[i], index_string(out.shape(), i), to_string(out.shape())));
        }
    return out;
}

template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, Scalar<T> exponent) {
    return pow(a, BasicTensor<T>::scalar(exponent));
}

namespace {
// Share of the gradient that goes to `a` in maximum(a, b): 1 where a wins, 1/2 at ties.
template <class T>
BasicTensor<T> winner_share(const BasicTensor<T>& a, const BasicTensor<T>& b, bool a_wins_when_greater) {
    return derived_constant<T>("maximum.share", {a, b}, [a_wins_when_greater](const TensorList<T>& in) {
        const auto& x = in[0].value();
        const auto& y = in[1].value();
        return a_wins_when_greater ? evaluate<T>(xt::where(x > y, T(1), xt::where(xt::equal(x, y), T(0.5), T(0))))
                                   : evaluate<T>(xt::where(x < y, T(1), xt::where(xt::equal(x, y), T(0.5), T(0))));
    });
}

template <class T>
BackwardFn<T> extremum_rule(bool greater) {
    return [greater](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
        auto w = winner_share(in[0], in[1], greater);
        return {wants(in, 0) ? sum_to(g * w, in[0].shape()) : BasicTensor<T>(),
                wants(in, 1) ? sum_to(g * (T(1) - w), in[1].shape()) : BasicTensor<T>()};
    };
}
}  // namespace

template <class T>
BasicTensor<T> maximum(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary<T>(
        "maximum", a, b, [](T x, T y) { return x > y ? x : y; }, extremum_rule<T>(true));
}

template <class T>
BasicTensor<T> minimum(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary<T>(
        "minimum", a, b, [](T x, T y) { return x < y ? x : y; }, extremum_rule<T>(false));
}

template <class T>
BasicTensor<T> where(const Array<bool>& mask, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    check_usable("where", a, 0);
    check_usable("where", b, 1);
    Shape shape = broadcast_shapes("where", mask.shape(), broadcast_shapes("where", a.shape(), b.shape()));
    Array<bool> m = xt::broadcast(mask, shape);
    return make_op<T>(
        "where", {a, b},
        [m](const TensorList<T>& in) {
            // An operand that is neither full-size nor a scalar is broadcast first. (xt::where on
            // a bool mask picked wrong elements with xsimd's SSE2 kernels, a build without
            // -march=native: tests/autodiff/test_ops_elementwise.cpp, maximum_minimum_where.)
            std::size_t n = m.size();
            auto full = [&](const Array<T>& v, Array<T>& storage) -> const Array<T>& {
                if (v.size() == n || v.size() == 1) return v;
                storage = xt::broadcast(v, m.shape());
                return storage;
            };
            Array<T> xb, yb;
            const Array<T>& x = full(in[0].value(), xb);
            const Array<T>& y = full(in[1].value(), yb);
            Array<T> out = Array<T>::from_shape(m.shape());
            const bool* c = m.data();
            std::size_t sx = x.size() == n, sy = y.size() == n;  // stride 1, or 0 for a scalar
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) out.data()[i] = c[i] ? x.data()[i * sx] : y.data()[i * sy];
            return out;
        },
        [m](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            auto zero = BasicTensor<T>::scalar(0);
            return {wants(in, 0) ? sum_to(xtgrad::where(m, g, zero), in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(xtgrad::where(m, zero, g), in[1].shape()) : BasicTensor<T>()};
        });
}

template <class T>
BasicTensor<T> logaddexp(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary<T>(
        "logaddexp", a, b,
        [](T x, T y) {
            if (x == y) return x + T(0.6931471805599453);  // also the same infinity twice: no inf - inf
            T m = x > y ? x : y;
            return m + std::log1p(std::exp(-std::abs(x - y)));  // NaN stays NaN
        },
        // d/da = e^a / (e^a + e^b) = sigmoid(a - b). Where a and b are the same infinity, a - b
        // is NaN: both operands are replaced by 0 there (through `where`, so no gradient leaks
        // into the replaced branch) and the share is 1/2.
        [](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            Shape shape = g.shape();
            Array<T> same_inf =
                binary_kernel(in[0].value(), in[1].value(), shape, [](T x, T y) { return T(x == y && std::isinf(x)); });
            BasicTensor<T> d;
            if (xt::any(same_inf > T(0))) {
                Array<bool> mask = same_inf > T(0);
                auto zero = BasicTensor<T>::scalar(0);
                d = xtgrad::where(mask, zero, in[0]) - xtgrad::where(mask, zero, in[1]);
            } else {
                d = in[0] - in[1];
            }
            return {wants(in, 0) ? sum_to(g * sigmoid(d), in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(g * sigmoid(neg(d)), in[1].shape()) : BasicTensor<T>()};
        });
}

template <class T>
BasicTensor<T> neg(const BasicTensor<T>& a) {
    return unary<T>(
        "neg", a, [](const auto& x) { return -x; },
        [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> { return {neg(g)}; });
}

#define XTGRAD_INSTANTIATE(T)                                                                        \
    template BasicTensor<T> add(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> sub(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> mul(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> div(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> pow(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> pow(const BasicTensor<T>&, Scalar<T>);                                   \
    template BasicTensor<T> maximum(const BasicTensor<T>&, const BasicTensor<T>&);                   \
    template BasicTensor<T> minimum(const BasicTensor<T>&, const BasicTensor<T>&);                   \
    template BasicTensor<T> where(const Array<bool>&, const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> logaddexp(const BasicTensor<T>&, const BasicTensor<T>&);                 \
    template BasicTensor<T> neg(const BasicTensor<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad
