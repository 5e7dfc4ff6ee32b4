// How a unary elementwise op is recorded: validate, evaluate `forward(value)`, attach the rule,
// and (on a compiled function's recording) the same `forward` in block form for fused replays.
#pragma once

#include <array>

#include <xtensor/xadapt.hpp>

#include "kernels.hpp"

namespace xtgrad::detail {

/// `forward`, an xtensor expression of its argument, over a block of n contiguous elements.
/// Blocks start at multiples of the SIMD width (replay_plan.cpp), so xtensor vectorises the
/// same elements as it does over the whole array and computes the same tail one by one: the
/// bits equal eager evaluation's. A block shorter than one SIMD batch is all tail; it is
/// evaluated element by element directly, without building adaptors (a chain of scalar ops).
template <class T, class F>
BlockFn<T> unary_block(F forward) {
    return [forward](const T* const* in, const std::size_t*, T* out, std::size_t n) {
        const T* x = in[0];
        if (n < xsimd::batch<T>::size) {
            for (std::size_t i = 0; i < n; ++i) out[i] = forward(xt::xscalar<const T&>(x[i]))();
            return;
        }
        const std::array<std::size_t, 1> shape{n};
        auto src = xt::adapt(x, n, xt::no_ownership(), shape);
        auto dst = xt::adapt(out, n, xt::no_ownership(), shape);
        xt::noalias(dst) = forward(src);
    };
}

template <class T, class F>
BasicTensor<T> unary(std::string_view name, const BasicTensor<T>& a, F forward, BackwardFn<T>&& rule) {
    check_usable(name, a, 0);
    auto out = make_op<T>(
        name, {a}, [forward](const TensorList<T>& in) { return evaluate<T>(forward(in[0].value())); }, std::move(rule));
    if (diagnostic_active()) mark_fusable<T>(out, NodeBase::Fusion::elementwise, unary_block<T>(forward));
    return out;
}

/// A rule `g * factor(inputs, output)`: the shape of most unary derivatives.
template <class T, class F>
BackwardFn<T> scaled_by(F factor) {
    return [factor](const TensorList<T>& in, const BasicTensor<T>& out, const BasicTensor<T>& g) -> TensorList<T> {
        return {g * factor(in[0], out)};
    };
}

}  // namespace xtgrad::detail
