// How a unary elementwise op is recorded: validate, evaluate `forward(value)`, attach the rule.
#pragma once

#include "kernels.hpp"

namespace xtgrad::detail {

template <class T, class F>
BasicTensor<T> unary(std::string_view name, const BasicTensor<T>& a, F forward, BackwardFn<T>&& rule) {
    check_usable(name, a, 0);
    return make_op<T>(
        name, {a}, [forward](const TensorList<T>& in) { return evaluate<T>(forward(in[0].value())); }, std::move(rule));
}

/// A rule `g * factor(inputs, output)`: the shape of most unary derivatives.
template <class T, class F>
BackwardFn<T> scaled_by(F factor) {
    return [factor](const TensorList<T>& in, const BasicTensor<T>& out, const BasicTensor<T>& g) -> TensorList<T> {
        return {g * factor(in[0], out)};
    };
}

}  // namespace xtgrad::detail
