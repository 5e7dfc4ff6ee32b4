// Comparisons: masks of the broadcast shape, computed with the broadcasting kernel.
#include "kernels.hpp"
#include "xtgrad/autodiff/compare.hpp"

namespace xtgrad {

using namespace detail;

template <class T>
Array<bool> compare(const BasicTensor<T>& a, const BasicTensor<T>& b, Comparison op) {
    check_usable("compare", a, 0);
    check_usable("compare", b, 1);
    Shape shape = broadcast_shapes("compare", a.shape(), b.shape());
    auto flags = [&](auto test) {
        return binary_kernel(a.value(), b.value(), shape, [test](T x, T y) { return T(test(x, y) ? 1 : 0); });
    };
    Array<T> r;
    switch (op) {
        case Comparison::less:
            r = flags([](T x, T y) { return x < y; });
            break;
        case Comparison::less_equal:
            r = flags([](T x, T y) { return x <= y; });
            break;
        case Comparison::greater:
            r = flags([](T x, T y) { return x > y; });
            break;
        case Comparison::greater_equal:
            r = flags([](T x, T y) { return x >= y; });
            break;
        case Comparison::equal:
            r = flags([](T x, T y) { return x == y; });
            break;
        case Comparison::not_equal:
            r = flags([](T x, T y) { return x != y; });
            break;
    }
    Array<bool> mask = Array<bool>::from_shape(shape);
    for (std::size_t i = 0; i < r.size(); ++i) mask.data()[i] = r.data()[i] != T(0);
    return mask;
}

template Array<bool> compare(const BasicTensor<float>&, const BasicTensor<float>&, Comparison);
template Array<bool> compare(const BasicTensor<double>&, const BasicTensor<double>&, Comparison);

}  // namespace xtgrad
