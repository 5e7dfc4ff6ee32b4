// Binary elementwise ops with numpy broadcasting. Each rule sums its gradients back to
// the input's shape with sum_to, so broadcasting needs no special case anywhere else.
#include <cmath>
#include <optional>

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

namespace {
// The first element where a binary op's result is NaN though neither operand is (a NaN operand
// propagates, as in PyTorch), with its operands. One vectorised pass when there is no NaN; the
// operands broadcast once, only when there is one.
template <class T>
struct Undefined {
    std::size_t index;
    T x, y;
};

template <class T>
std::optional<Undefined<T>> undefined_element(const BasicTensor<T>& out, const BasicTensor<T>& a,
                                              const BasicTensor<T>& b) {
    const T* o = unchecked_value(out).data();
    const std::size_t n = out.size();
    if (!has_nan(o, n)) return std::nullopt;
    const Array<T> x = xt::broadcast(unchecked_value(a), out.shape()),
                   y = xt::broadcast(unchecked_value(b), out.shape());
    for (std::size_t i = 0; i < n; ++i)
        if (o[i] != o[i] && x.data()[i] == x.data()[i] && y.data()[i] == y.data()[i])
            return Undefined<T>{i, x.data()[i], y.data()[i]};
    return std::nullopt;
}
}  // namespace

template <class T>
BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    auto out = binary<T>(
        "div", a, b, [](T x, T y) { return x / y; },
        // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
        [](const TensorList<T>& in, const BasicTensor<T>& out, const BasicTensor<T>& g) -> TensorList<T> {
            return {wants(in, 0) ? sum_to(g / in[1], in[0].shape()) : BasicTensor<T>(),
                    wants(in, 1) ? sum_to(neg(g * out / in[1]), in[1].shape()) : BasicTensor<T>()};
        });
    if (auto u = undefined_element(out, a, b))
        throw DomainError(fmt::format("div: {} / {} at index {} of shape {} is undefined", u->x, u->y,
                                      index_string(out.shape(), u->index), to_string(out.shape())));
    return out;
}

template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    auto out = binary<T>(
        "pow", a, b, [](T x, T y) { return std::pow(x, y); },
        // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a, taken as 0 at a = 0 (its limit for b > 0)
        [](const TensorList<T>& in, const BasicTensor<T>& out, const BasicTensor<T>& g) -> TensorList<T> {
            BasicTensor<T> ga, gb;
            if (wants(in, 0)) {
                // b a^(b-1) is 0 where b = 0 (x^0 is constant; PyTorch's convention), also at a = 0,
                // where the formula is 0 * inf: those elements take a = 1 inside the formula, so
                // that no infinity reaches this gradient or its own gradient
                auto zero_exponent = binary_flags<T>("pow.zero_exponent", in[1], BasicTensor<T>::scalar(0),
                                                     [](T e, T) { return e == T(0); });
                auto base = select(zero_exponent, BasicTensor<T>::scalar(1), in[0]);
                ga = sum_to(select(zero_exponent, BasicTensor<T>::scalar(0), g * in[1] * pow(base, in[1] - T(1))),
                            in[0].shape());
            }
            if (wants(in, 1)) {
                // where the base is positive; a negative base is a DomainError, checked by the
                // mask's own op so that a replay checks it again
                auto positive = derived_constant<T>("pow.positive_base", {in[0]}, [](const TensorList<T>& x) {
                    const Array<T>& base = x[0].value();
                    Array<T> r = Array<T>::from_shape(base.shape());
                    for (std::size_t i = 0; i < base.size(); ++i) {
                        if (base.data()[i] < 0)
                            throw DomainError(fmt::format("pow: the gradient w.r.t. the exponent needs a base >= 0; "
                                                          "base has {} at index {} of shape {}",
                                                          base.data()[i], index_string(base.shape(), i),
                                                          to_string(base.shape())));
                        r.data()[i] = base.data()[i] > 0 ? T(1) : T(0);
                    }
                    return r;
                });
                auto safe_base = select(positive, in[0], BasicTensor<T>::scalar(1));
                gb = sum_to(select(positive, g * out * log(safe_base), BasicTensor<T>::scalar(0)), in[1].shape());
            }
            return {ga, gb};
        });
    if (auto u = undefined_element(out, a, b))
        throw DomainError(
            fmt::format("pow: {} ^ {} at index {} of shape {} is undefined (negative base, "
                        "non-integer exponent)",
                        u->x, u->y, index_string(out.shape(), u->index), to_string(out.shape())));
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
            auto same_infinity = [](T x, T y) { return x == y && std::isinf(x); };
            const Array<T>&x = unchecked_value(in[0]), &y = unchecked_value(in[1]);
            BasicTensor<T> d;
            if (!tracing_active() && !xt::any(binary_kernel(x, y, g.shape(), [&](T a, T b) { return T(same_infinity(a, b)); }))) {
                d = in[0] - in[1];  // (a trace takes the general path: a replay may meet the infinities)
            } else {
                auto mask = binary_flags<T>("logaddexp.same_infinity", in[0], in[1], same_infinity);
                auto zero = BasicTensor<T>::scalar(0);
                d = select(mask, zero, in[0]) - select(mask, zero, in[1]);
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
    template BasicTensor<T> logaddexp(const BasicTensor<T>&, const BasicTensor<T>&);                 \
    template BasicTensor<T> neg(const BasicTensor<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
