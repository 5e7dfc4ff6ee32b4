// A fragment of the engine's own op definitions: the body of a unary op, written with the
// private helpers of autodiff/src/unary.hpp as the files in autodiff/src are.
#include "unary.hpp"
using namespace xtgrad;
using namespace xtgrad::detail;
template <class T>
using TensorT = BasicTensor<T>;
template <class T>
TensorT<T> op(const TensorT<T>& a) {
    return
    // @snippet
}
template TensorT<double> op(const TensorT<double>&);
