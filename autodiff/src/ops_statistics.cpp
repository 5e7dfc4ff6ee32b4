// Reductions built from other differentiable ops: prod, var, std, norm. Being compositions,
// their first and second derivatives follow from the rules of the ops they use; the only
// care needed is at points where a formula would divide by zero.
#include <cmath>
#include <limits>
#include <numeric>

#include "binary.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
std::size_t count_over(const Shape& shape, const std::vector<std::size_t>& axes) {
    std::size_t n = 1;
    for (auto i : axes) n *= shape[i];
    return n;
}

// v^(1/p) (v >= 0 everywhere) with gradient 0 where v == 0: the root's derivative is infinite
// there, and 0 is the subgradient a norm or a spread of zero should have. The zero entries
// go through `where`, so no infinity reaches the gradient of the others.
template <class T>
TensorT<T> root_zero_safe(const TensorT<T>& v, double p) {
    auto root = [p](const TensorT<T>& x) { return p == 2 ? sqrt(x) : pow(x, T(1.0 / p)); };
    const Array<T>& x = unchecked_value(v);
    if (!tracing_active() && std::all_of(x.begin(), x.end(), [](T e) { return e > T(0); })) return root(v);
    // (a trace takes this path whatever the values: a replay may meet a zero)
    auto positive = binary_flags<T>("root.positive", v, TensorT<T>::scalar(0), [](T e, T) { return e > T(0); });
    auto safe = select(positive, v, TensorT<T>::scalar(1));
    return select(positive, root(safe), TensorT<T>::scalar(0));
}
}  // namespace

template <class T>
TensorT<T> prod(const TensorT<T>& a, const Axes& axes, bool keepdims) {
    check_usable("prod", a, 0);
    auto ax = normalize_axes("prod", axes, a.dim());
    Shape out_shape = reduced_shape(a.shape(), ax, keepdims);
    // Move the reduced axes last and flatten to [M, N]; then multiply neighbours pairwise
    // until one column is left. Every step is a slice and a mul, so the gradient of an element
    // is the product of all the others, exactly, zeros included.
    std::vector<std::size_t> perm;
    for (std::size_t d = 0; d < a.dim(); ++d)
        if (std::find(ax.begin(), ax.end(), d) == ax.end()) perm.push_back(d);
    perm.insert(perm.end(), ax.begin(), ax.end());
    std::size_t n = count_over(a.shape(), ax), m = a.size() / n;
    TensorT<T> x = a;
    if (!std::is_sorted(perm.begin(), perm.end())) x = permute(x, perm);
    x = reshape(x, {m, n});
    while (n > 1) {
        if (n % 2 == 1) {
            x = concat<T>({x, TensorT<T>::constant(Array<T>(xt::ones<T>({m, std::size_t(1)})))}, 1);
            ++n;
        }
        auto pn = static_cast<std::ptrdiff_t>(n);
        x = slice(x, 1, 0, pn, 2) * slice(x, 1, 1, pn, 2);
        n /= 2;
    }
    return reshape(x, out_shape);
}

template <class T>
TensorT<T> var(const TensorT<T>& a, const Axes& axes, double correction, bool keepdims) {
    check_usable("var", a, 0);
    auto ax = normalize_axes("var", axes, a.dim());
    std::size_t n = count_over(a.shape(), ax);
    if (!(static_cast<double>(n) - correction > 0))
        throw ValueError(
            fmt::format("var: {} elements over the reduced axes of shape {} with correction {} leave no "
                        "degrees of freedom (N - correction must be > 0)",
                        n, to_string(a.shape()), correction));
    auto centred = a - mean(a, axes, true);
    return sum(square(centred), axes, keepdims) * T(1.0 / (static_cast<double>(n) - correction));
}

template <class T>
TensorT<T> stddev(const TensorT<T>& a, const Axes& axes, double correction, bool keepdims) {
    return root_zero_safe(var(a, axes, correction, keepdims), 2);
}

template <class T>
TensorT<T> norm(const TensorT<T>& a, double ord, const Axes& axes, bool keepdims) {
    check_usable("norm", a, 0);
    if (!(ord >= 1)) throw ValueError(fmt::format("norm: ord must be >= 1 (1, 2, infinity or another p), got {}", ord));
    if (ord == 1) return sum(abs(a), axes, keepdims);
    if (std::isinf(ord)) {
        normalize_axes("norm", axes, a.dim());  // validates before max sees them
        return a.dim() == 0 ? abs(a) : max(abs(a), axes, keepdims);
    }
    if (ord == 2) return root_zero_safe(sum(square(a), axes, keepdims), 2);
    return root_zero_safe(sum(pow(abs(a), T(ord)), axes, keepdims), ord);
}

#define XTGRAD_INSTANTIATE(T)                                              \
    template TensorT<T> prod(const TensorT<T>&, const Axes&, bool);        \
    template TensorT<T> var(const TensorT<T>&, const Axes&, double, bool); \
    template TensorT<T> stddev(const TensorT<T>&, const Axes&, double, bool); \
    template TensorT<T> norm(const TensorT<T>&, double, const Axes&, bool);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
