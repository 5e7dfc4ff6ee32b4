// Running sums. The gradient of a running sum is the running sum of the gradient taken from
// the other end, so one op with a direction flag is its own rule (and differentiating it
// again flips the flag back).
#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
template <class T>
TensorT<T> running_sum(const TensorT<T>& a, std::size_t axis, bool from_end) {
    return make_op<T>(
        from_end ? "cumsum_backward" : "cumsum", {a},
        [axis, from_end](const TensorList<T>& in) {
            const Array<T>& x = in[0].value();
            std::size_t outer = 1, inner = 1, extent = x.shape()[axis];
            for (std::size_t d = 0; d < axis; ++d) outer *= x.shape()[d];
            for (std::size_t d = axis + 1; d < x.dimension(); ++d) inner *= x.shape()[d];
            Array<T> out = Array<T>::from_shape(x.shape());
            for (std::size_t o = 0; o < outer; ++o) {
                const T* src = x.data() + o * extent * inner;
                T* dst = out.data() + o * extent * inner;
                for (std::size_t step = 0; step < extent; ++step) {
                    std::size_t r = from_end ? extent - 1 - step : step;
                    const T* row = src + r * inner;
                    T* acc = dst + r * inner;
                    if (step == 0) {
                        std::copy(row, row + inner, acc);
                    } else {
                        const T* prev = from_end ? acc + inner : acc - inner;
#pragma omp simd
                        for (std::size_t i = 0; i < inner; ++i) acc[i] = prev[i] + row[i];
                    }
                }
            }
            return out;
        },
        [axis, from_end](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {running_sum(g, axis, !from_end)};
        });
}
}  // namespace

template <class T>
TensorT<T> cumsum(const TensorT<T>& a, std::ptrdiff_t axis) {
    check_usable("cumsum", a, 0);
    if (a.dim() == 0) throw ShapeError("cumsum: needs at least one dimension, got a scalar (shape [])");
    return running_sum(a, normalize_axis("cumsum", axis, a.dim()), false);
}

#define XTGRAD_INSTANTIATE(T) template TensorT<T> cumsum(const TensorT<T>&, std::ptrdiff_t);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
