// Every elementwise op checked to first and second order in float64, on broadcasting
// shapes and size-1 dimensions, at points kept off kinks and domain edges.
#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

namespace {
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}},       {{2, 3, 4}, {3, 1}},
    {{}, {2, 3}},     {{1}, {5}},    {{2, 1, 3}, {2, 4, 1}},
};

void check_binary(const Binary& op, double lo = 0.5, double hi = 1.5, bool both_signs = true) {
    std::uint64_t seed = 1;
    for (auto& [sa, sb] : kBroadcastPairs) {
        BOOST_TEST_CONTEXT("shapes " << to_string(sa) << " and " << to_string(sb)) {
            Tape tape;
            auto a = param(sa, seed++, lo, hi, both_signs);
            auto b = param(sb, seed++, lo, hi, both_signs);
            check_both([&] { return op(a, b); }, {a, b});
            // through a nonlinearity, so that second-order cross terms are exercised
            check_both([&] { return sin(op(a, b)); }, {a, b});
        }
    }
}

using Unary = std::function<Tensor(const Tensor&)>;
void check_unary(const Unary& op, double lo = 0.3, double hi = 1.5, bool both_signs = true) {
    std::uint64_t seed = 100;
    for (Shape s : {Shape{5}, Shape{2, 3}, Shape{}, Shape{1, 4, 1}}) {
        BOOST_TEST_CONTEXT("shape " << to_string(s)) {
            Tape tape;
            auto a = param(s, seed++, lo, hi, both_signs);
            check_both([&] { return op(a); }, {a});
            check_both([&] { return square(op(a)); }, {a});
        }
    }
}
}  // namespace

BOOST_AUTO_TEST_CASE(add_sub_mul_div) {
    check_binary([](const Tensor& a, const Tensor& b) { return a + b; });
    check_binary([](const Tensor& a, const Tensor& b) { return a - b; });
    check_binary([](const Tensor& a, const Tensor& b) { return a * b; });
    check_binary([](const Tensor& a, const Tensor& b) { return a / b; });
}

BOOST_AUTO_TEST_CASE(pow_tensor_and_scalar_exponent) {
    check_binary([](const Tensor& a, const Tensor& b) { return pow(a, b); }, 0.5, 1.5, false);
    check_unary([](const Tensor& a) { return pow(a, 3.0); });
    check_unary([](const Tensor& a) { return pow(a, 2.5); }, 0.3, 1.5, false);
    check_unary([](const Tensor& a) { return pow(a, -1.5); }, 0.3, 1.5, false);
}

BOOST_AUTO_TEST_CASE(maximum_minimum_where) {
    check_binary([](const Tensor& a, const Tensor& b) { return maximum(a, b); });
    check_binary([](const Tensor& a, const Tensor& b) { return minimum(a, b); });
    check_binary([](const Tensor& a, const Tensor& b) {
        // a checkerboard mask of the broadcast shape
        Shape shape = (a + b).shape();
        Array<bool> mask = Array<bool>::from_shape(shape);
        for (std::size_t i = 0; i < mask.size(); ++i) mask.data()[i] = i % 3 != 1;
        return xtgrad::where(mask, a, b);
    });
}

BOOST_AUTO_TEST_CASE(where_broadcasts_mask_and_operands) {
    Tape tape;
    Array<bool> mask = {true, false, true};  // [3] against [2,3] and [2,1]
    auto a = param({2, 3}, 7);
    auto b = param({2, 1}, 8);
    check_both([&] { return xtgrad::where(mask, a, b); }, {a, b});
    auto w = where(mask, a, b);  // unqualified, non-const arguments: not xt::where (argument-dependent lookup)
    BOOST_TEST(w.value()(1, 1) == b.value()(1, 0));
    BOOST_TEST(w.value()(1, 2) == a.value()(1, 2));
}

BOOST_AUTO_TEST_CASE(exp_log_family) {
    check_unary([](const Tensor& a) { return exp(a); });
    check_unary([](const Tensor& a) { return log(a); }, 0.3, 1.5, false);
    check_unary([](const Tensor& a) { return log1p(a); }, 0.3, 0.9);
    check_unary([](const Tensor& a) { return expm1(a); });
    check_unary([](const Tensor& a) { return sqrt(a); }, 0.3, 1.5, false);
}

BOOST_AUTO_TEST_CASE(abs_square_neg_trig) {
    check_unary([](const Tensor& a) { return abs(a); });
    check_unary([](const Tensor& a) { return square(a); });
    check_unary([](const Tensor& a) { return -a; });
    check_unary([](const Tensor& a) { return sin(a); });
    check_unary([](const Tensor& a) { return cos(a); });
    check_unary([](const Tensor& a) { return tanh(a); });
}

BOOST_AUTO_TEST_CASE(activations) {
    check_unary([](const Tensor& a) { return sigmoid(a); });
    check_unary([](const Tensor& a) { return relu(a); });
    check_unary([](const Tensor& a) { return softplus(a); });
    check_unary([](const Tensor& a) { return clamp(a, -0.9, 1.1); }, 0.3, 1.5);
}

BOOST_AUTO_TEST_CASE(scalar_operators) {
    check_unary([](const Tensor& a) { return 2.0 * a + 1.0; });
    check_unary([](const Tensor& a) { return 1.0 / a - a / 3.0; });
    check_unary([](const Tensor& a) { return 3.0 - a * 0.5; });
}

BOOST_AUTO_TEST_CASE(sigmoid_and_softplus_are_stable_at_extreme_inputs) {
    Tape tape;
    auto s = Tensor::parameter(Array<double>{-1000.0, -40.0, 0.0, 40.0, 1000.0});
    auto z = sigmoid(s);
    BOOST_TEST(z.value()(0) == 0.0);
    BOOST_TEST(z.value()(2) == 0.5);
    BOOST_TEST(z.value()(4) == 1.0);
    auto sp = softplus(s);
    BOOST_TEST(sp.value()(4) == 1000.0);
    BOOST_TEST(sp.value()(0) == 0.0);
    BOOST_TEST(std::abs(sp.value()(2) - std::log(2.0)) < 1e-15);
    sum(z + sp).backward();
    for (double g : s.grad()) BOOST_TEST(std::isfinite(g));
}

BOOST_AUTO_TEST_CASE(relu_gradient_is_zero_at_zero) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{-1.0, 0.0, 2.0});
    sum(relu(x)).backward();
    BOOST_TEST(x.grad()(0) == 0.0);
    BOOST_TEST(x.grad()(1) == 0.0);
    BOOST_TEST(x.grad()(2) == 1.0);
}

BOOST_AUTO_TEST_CASE(maximum_splits_gradient_at_ties) {
    Tape tape;
    auto a = Tensor::parameter(Array<double>{1.0, 2.0});
    auto b = Tensor::parameter(Array<double>{1.0, 0.0});
    sum(maximum(a, b)).backward();
    BOOST_TEST(a.grad()(0) == 0.5);
    BOOST_TEST(b.grad()(0) == 0.5);
    BOOST_TEST(a.grad()(1) == 1.0);
    BOOST_TEST(b.grad()(1) == 0.0);
}

BOOST_AUTO_TEST_CASE(erf_atan_tan_log_sigmoid) {
    check_unary([](const Tensor& a) { return erf(a); });
    check_unary([](const Tensor& a) { return atan(a); });
    check_unary([](const Tensor& a) { return tan(a); }, 0.2, 1.2);
    check_unary([](const Tensor& a) { return log_sigmoid(a); });
}

BOOST_AUTO_TEST_CASE(logaddexp_broadcasts) {
    check_binary([](const Tensor& a, const Tensor& b) { return logaddexp(a, b); });
}

BOOST_AUTO_TEST_CASE(erf_and_log_sigmoid_values) {
    Tape tape;
    auto x = Tensor::constant({-800.0, -1.0, 0.0, 0.5, 800.0}, {5});
    auto e = erf(x).value();
    BOOST_TEST(e(3) == std::erf(0.5));  // the C library's erf, correctly rounded or nearly
    auto ls = log_sigmoid(x).value();
    BOOST_TEST(ls(0) == -800.0);  // stable: no log(0)
    BOOST_TEST(ls(4) == 0.0);
    BOOST_TEST(std::abs(ls(1) - std::log(1.0 / (1.0 + std::exp(1.0)))) < 1e-15);
    auto p = Tensor::parameter({-1000.0, 1000.0}, {2});
    sum(log_sigmoid(p)).backward();
    BOOST_TEST(p.grad()(0) == 1.0);
    BOOST_TEST(p.grad()(1) == 0.0);
}

BOOST_AUTO_TEST_CASE(logaddexp_is_stable_and_defined_at_infinities) {
    Tape tape;
    const double inf = std::numeric_limits<double>::infinity();
    auto a = Tensor::parameter({1000.0, -inf, -inf, 2.0, inf}, {5});
    auto b = Tensor::parameter({1000.0, -inf, 3.0, -1000.0, 1.0}, {5});
    auto out = logaddexp(a, b);
    const auto& v = out.value();
    BOOST_TEST(v(0) == 1000.0 + std::log(2.0));
    BOOST_TEST(v(1) == -inf);
    BOOST_TEST(v(2) == 3.0);
    BOOST_TEST(v(3) == 2.0);
    BOOST_TEST(v(4) == inf);
    sum(out).backward();
    BOOST_TEST(a.grad()(0) == 0.5);
    BOOST_TEST(a.grad()(1) == 0.5);  // the same infinity twice: half each, not NaN
    BOOST_TEST(b.grad()(1) == 0.5);
    BOOST_TEST(a.grad()(2) == 0.0);
    BOOST_TEST(b.grad()(2) == 1.0);
    BOOST_TEST(a.grad()(3) == 1.0);
    for (double g : a.grad()) BOOST_TEST(std::isfinite(g));
}
