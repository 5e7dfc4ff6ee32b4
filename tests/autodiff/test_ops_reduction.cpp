// Reductions and the log-sum-exp family: first and second order, closed forms, stability.
#define BOOST_TEST_MODULE ops_reduction
#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(sum_and_mean_over_axes) {
    Tape tape;
    auto a = param({2, 3, 4}, 1);
    for (bool keep : {false, true}) {
        for (Axes axes : {Axes{}, Axes{0}, Axes{1}, Axes{-1}, Axes{0, 2}, Axes{1, 2}}) {
            BOOST_TEST_CONTEXT("axes size " << axes.size() << " keepdims " << keep) {
                check_both([&] { return square(sum(a, axes, keep)); }, {a});
                check_both([&] { return square(mean(a, axes, keep)); }, {a});
            }
        }
    }
    check_both([&] { return sum(a) * sum(a); }, {a});
    BOOST_TEST(sum(a, {0, 2}, true).shape() == Shape({1, 3, 1}));
    BOOST_TEST(sum(a, {0, 2}).shape() == Shape({3}));
    BOOST_TEST(std::abs(mean(a).item() - xt::mean(a.value())()) < 1e-14);
}

BOOST_AUTO_TEST_CASE(max_and_min_over_axes) {
    Tape tape;
    auto a = Tensor::parameter(Array<double>(xt::reshape_view(xt::arange<double>(24.0) * 0.37, {2, 3, 4})));
    a.set_value(Array<double>(xt::sin(a.value()) * 3.0));  // distinct values, no ties
    for (Axes axes : {Axes{0}, Axes{1}, Axes{-1}, Axes{0, 2}}) {
        check_both([&] { return square(max(a, axes)); }, {a});
        check_both([&] { return square(min(a, axes, true)); }, {a});
    }
}

BOOST_AUTO_TEST_CASE(logsumexp_softmax_log_softmax) {
    Tape tape;
    for (Shape s : {Shape{3, 4}, Shape{2, 3, 4}, Shape{5}}) {
        auto a = param(s, 3, 0.1, 2.0);
        for (std::ptrdiff_t axis : {std::ptrdiff_t(0), std::ptrdiff_t(-1)}) {
            BOOST_TEST_CONTEXT("shape " << to_string(s) << " axis " << axis) {
                check_both([&] { return logsumexp(a, axis); }, {a});
                check_both([&] { return logsumexp(a, axis, true); }, {a});
                check_both([&] { return softmax(a, axis); }, {a});
                check_both([&] { return log_softmax(a, axis); }, {a});
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(log_softmax_gradient_is_delta_minus_p) {
    Tape tape;
    auto z = param({5}, 9, 0.1, 3.0);
    auto jac = jacobian([&] { return log_softmax(z, 0); }, {z})[0];
    Array<double> p = softmax(z, 0).value();
    for (std::size_t k = 0; k < 5; ++k)
        for (std::size_t i = 0; i < 5; ++i) BOOST_TEST(std::abs(jac(k, i) - ((i == k ? 1.0 : 0.0) - p(i))) < 1e-14);
}

BOOST_AUTO_TEST_CASE(stable_for_extreme_logits_and_minus_infinity) {
    Tape tape;
    const double inf = std::numeric_limits<double>::infinity();
    auto z = Tensor::parameter(Array<double>{{1000.0, 0.0, -1000.0}, {-inf, 2.0, 1.0}});
    auto ls = log_softmax(z, 1);
    BOOST_TEST(ls.value()(0, 0) == 0.0);
    BOOST_TEST(ls.value()(0, 1) == -1000.0);
    BOOST_TEST(ls.value()(0, 2) == -2000.0);
    BOOST_TEST(ls.value()(1, 0) == -inf);
    auto p = softmax(z, 1);
    BOOST_TEST(p.value()(0, 0) == 1.0);
    BOOST_TEST(p.value()(1, 0) == 0.0);
    BOOST_TEST(std::abs(logsumexp(z, 1).value()(0) - 1000.0) < 1e-12);
    // a loss that picks finite entries: finite value and gradient everywhere
    auto loss = -sum(pick(ls, {0, 1})) + sum(pick(p, {2, 2})) + sum(logsumexp(z, 1));
    loss.backward();
    for (double g : z.grad()) BOOST_TEST(std::isfinite(g));
    auto h = hvp(
        [&] {
            return -sum(pick(log_softmax(z, 1), {0, 1}));
        },
        {z}, {Tensor::constant(Array<double>{{1.0, 1.0, 1.0}, {0.0, 1.0, -1.0}})});
    for (double v : h[0].value()) BOOST_TEST(std::isfinite(v));
}
