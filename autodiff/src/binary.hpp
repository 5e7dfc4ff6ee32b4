// How a binary elementwise op is recorded: validate, broadcast, run `op` over the
// elements in one pass (binary_kernel), attach the rule and (on a compiled function's
// recording) the same `op` in block form for fused replays.
#pragma once

#include "kernels.hpp"

namespace xtgrad::detail {

template <class T, class Op>
BasicTensor<T> binary(std::string_view name, const BasicTensor<T>& a, const BasicTensor<T>& b, Op op,
                      BackwardFn<T>&& rule) {
    check_usable(name, a, 0);
    check_usable(name, b, 1);
    Shape shape = broadcast_shapes(name, a.shape(), b.shape());
    auto out = make_op<T>(
        name, {a, b},
        [op, shape](const TensorList<T>& in) { return binary_kernel(in[0].value(), in[1].value(), shape, op); },
        std::move(rule));
    if (diagnostic_active()) mark_fusable<T>(out, NodeBase::Fusion::elementwise, binary_block<T>(op));
    return out;
}

/// A mask (ones and zeros) from a binary test, recorded like any binary op with a rule that
/// passes nothing back: comparisons, and the decisions rules make from values (a compiled
/// function recomputes them at every replay instead of freezing them).
template <class T, class Test>
BasicTensor<T> binary_flags(std::string_view name, const BasicTensor<T>& a, const BasicTensor<T>& b, Test test) {
    return binary<T>(
        name, a, b, [test](T x, T y) { return test(x, y) ? T(1) : T(0); },
        [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(2); });
}

}  // namespace xtgrad::detail
