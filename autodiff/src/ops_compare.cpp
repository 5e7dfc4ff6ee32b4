// Comparisons, the logic of masks, and where's op (select). A mask is a tensor of ones and
// zeros made by an op whose rule passes nothing back, so that it is recorded wherever its
// operands are and a compiled function recomputes it at every replay.
#include "binary.hpp"
#include "xtgrad/autodiff/compare.hpp"

namespace xtgrad {

using namespace detail;

namespace {
template <class T, class Test>
BasicMask<T> flags(std::string_view name, const BasicTensor<T>& a, const BasicTensor<T>& b, Test test) {
    return BasicMask<T>(binary_flags<T>(name, a, b, test));
}
}  // namespace

template <class T>
BasicMask<T>::BasicMask(const Array<bool>& values) {
    Array<T> f = Array<T>::from_shape(values.shape());
    for (std::size_t i = 0; i < values.size(); ++i) f.data()[i] = values.data()[i] ? T(1) : T(0);
    flags_ = BasicTensor<T>::constant(std::move(f));
}

template <class T>
const Array<bool>& BasicMask<T>::array() const {
    if (!flags_.defined()) throw ValueError("Mask: the mask is undefined");
    const Array<T>& f = flags_.value();  // (the trace's read check)
    if (!bools_ || bools_->shape() != f.shape()) bools_.emplace(Array<bool>::from_shape(f.shape()));
    for (std::size_t i = 0; i < f.size(); ++i) bools_->data()[i] = f.data()[i] != T(0);
    return *bools_;
}

template <class T>
BasicMask<T> lt(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return flags<T>("less", a, b, [](T x, T y) { return x < y; });
}
template <class T>
BasicMask<T> le(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return flags<T>("less_equal", a, b, [](T x, T y) { return x <= y; });
}
template <class T>
BasicMask<T> gt(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return flags<T>("greater", a, b, [](T x, T y) { return x > y; });
}
template <class T>
BasicMask<T> ge(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return flags<T>("greater_equal", a, b, [](T x, T y) { return x >= y; });
}
template <class T>
BasicMask<T> eq(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return flags<T>("equal", a, b, [](T x, T y) { return x == y; });
}
template <class T>
BasicMask<T> ne(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return flags<T>("not_equal", a, b, [](T x, T y) { return x != y; });
}

template <class T>
BasicMask<T> operator&&(const BasicMask<T>& a, const BasicMask<T>& b) {
    return flags<T>("logical_and", a.tensor(), b.tensor(), [](T x, T y) { return x != T(0) && y != T(0); });
}

template <class T>
BasicMask<T> operator||(const BasicMask<T>& a, const BasicMask<T>& b) {
    return flags<T>("logical_or", a.tensor(), b.tensor(), [](T x, T y) { return x != T(0) || y != T(0); });
}

template <class T>
BasicMask<T> operator!(const BasicMask<T>& a) {
    return flags<T>("logical_not", a.tensor(), BasicTensor<T>::scalar(0), [](T x, T) { return x == T(0); });
}

template <class T>
BasicTensor<T> detail::select(const BasicTensor<T>& flags, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    check_usable("where", flags, 0);
    check_usable("where", a, 1);
    check_usable("where", b, 2);
    Shape shape = broadcast_shapes("where", flags.shape(), broadcast_shapes("where", a.shape(), b.shape()));
    auto out = make_op<T>(
        "where", {flags, a, b},
        [shape](const TensorList<T>& in) {
            // An operand that is neither full-size nor one value is broadcast first. (xt::where on
            // a bool mask picked wrong elements with xsimd's SSE2 kernels, a build without
            // -march=native: tests/autodiff/test_ops_elementwise.cpp, maximum_minimum_where.)
            Array<T> out = Array<T>::from_shape(shape);
            const std::size_t n = out.size();
            Array<T> storage[3];
            const T* p[3];
            std::size_t stride[3];
            for (std::size_t k = 0; k < 3; ++k) {
                const Array<T>& v = in[k].value();
                if (v.size() != n && v.size() != 1) {
                    storage[k] = xt::broadcast(v, shape);
                    p[k] = storage[k].data();
                } else {
                    p[k] = v.data();
                }
                stride[k] = v.size() == 1 ? 0 : 1;  // one value is read for every element
            }
            T* o = out.data();
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) o[i] = p[0][i * stride[0]] != T(0) ? p[1][i * stride[1]] : p[2][i * stride[2]];
            return out;
        },
        [](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            auto zero = BasicTensor<T>::scalar(0);
            return {BasicTensor<T>(), wants(in, 1) ? sum_to(select(in[0], g, zero), in[1].shape()) : BasicTensor<T>(),
                    wants(in, 2) ? sum_to(select(in[0], zero, g), in[2].shape()) : BasicTensor<T>()};
        });
    if (diagnostic_active())
        mark_fusable<T>(out, NodeBase::Fusion::elementwise,
                        [](const T* const* in, const std::size_t* s, T* o, std::size_t n) {
                            for (std::size_t i = 0; i < n; ++i)
                                o[i] = in[0][i * s[0]] != T(0) ? in[1][i * s[1]] : in[2][i * s[2]];
                        });
    return out;
}

template <class T>
BasicTensor<T> where(const Array<bool>& mask, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return select(BasicMask<T>(mask).tensor(), a, b);
}

template class BasicMask<float>;
template class BasicMask<double>;
#define XTGRAD_INSTANTIATE(T)                                                                        \
    template BasicMask<T> lt(const BasicTensor<T>&, const BasicTensor<T>&);                          \
    template BasicMask<T> le(const BasicTensor<T>&, const BasicTensor<T>&);                          \
    template BasicMask<T> gt(const BasicTensor<T>&, const BasicTensor<T>&);                          \
    template BasicMask<T> ge(const BasicTensor<T>&, const BasicTensor<T>&);                          \
    template BasicMask<T> eq(const BasicTensor<T>&, const BasicTensor<T>&);                          \
    template BasicMask<T> ne(const BasicTensor<T>&, const BasicTensor<T>&);                          \
    template BasicMask<T> operator&&(const BasicMask<T>&, const BasicMask<T>&);                      \
    template BasicMask<T> operator||(const BasicMask<T>&, const BasicMask<T>&);                      \
    template BasicMask<T> operator!(const BasicMask<T>&);                                            \
    template BasicTensor<T> detail::select(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> where(const Array<bool>&, const BasicTensor<T>&, const BasicTensor<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad
