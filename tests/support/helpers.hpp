// Shared by the tests: seeded inputs, first- and second-order checks, error assertions.
#pragma once

#include <functional>
#include <random>
#include <string>

#include <boost/test/unit_test.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include "xtgrad/autodiff.hpp"

namespace xtgrad::testing {

/// Uniform values in [lo, hi], sign flipped at random when `both_signs`: keeps points off
/// kinks (|x| >= lo) while covering both branches.
template <class T = double>
Array<T> uniform(const Shape& shape, std::uint64_t seed, double lo = 0.5, double hi = 1.5, bool both_signs = true) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    std::bernoulli_distribution coin(0.5);
    Array<T> a = Array<T>::from_shape(shape);
    for (auto& x : a) x = static_cast<T>((both_signs && coin(rng) ? -1 : 1) * u(rng));
    return a;
}

template <class T = double>
BasicTensor<T> param(const Shape& shape, std::uint64_t seed, double lo = 0.5, double hi = 1.5, bool both_signs = true) {
    return BasicTensor<T>::parameter(uniform<T>(shape, seed, lo, hi, both_signs));
}

/// Checks f to first and second order against finite differences.
inline void check_both(const std::function<Tensor()>& f, const TensorList<double>& inputs,
                       const CheckOptions& options = {}) {
    auto first = gradcheck(f, inputs, options);
    BOOST_TEST(first.ok, first.message());
    auto second = hvpcheck(f, inputs, options);
    BOOST_TEST(second.ok, second.message());
}

/// Asserts that `fn` throws E and that the message contains `needle`.
template <class E, class F>
void expect_error(F&& fn, const std::string& needle) {
    try {
        fn();
        BOOST_ERROR("expected an exception containing: " + needle);
    } catch (const E& e) {
        BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos,
                   "message '" << e.what() << "' does not contain '" << needle << "'");
    }
}

}  // namespace xtgrad::testing
