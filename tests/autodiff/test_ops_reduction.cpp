// Reductions and the log-sum-exp family: first and second order, closed forms, stability.
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

namespace {
double max_abs(const Array<double>& a) {
    return xt::amax(xt::abs(a))();
}
}  // namespace

// At a tie the gradient of max and min is shared evenly among the extremes (torch.amax/amin),
// so that it sums to the output's gradient; on a distinct extreme it all goes there.
BOOST_AUTO_TEST_CASE(max_and_min_share_the_gradient_evenly_among_ties) {
    Tape tape;
    // rows: a tie of two, a tie of three (the whole row), a single extreme; column 0 holds the
    // minima (one tie of two in the column)
    auto a = Tensor::parameter(Array<double>{{1.0, 5.0, 5.0}, {2.0, 2.0, 2.0}, {1.0, 4.0, 3.0}});
    const Array<double> max_rows{{0, 0.5, 0.5}, {1.0 / 3, 1.0 / 3, 1.0 / 3}, {0, 1, 0}};
    const Array<double> min_rows{{1, 0, 0}, {1.0 / 3, 1.0 / 3, 1.0 / 3}, {1, 0, 0}};
    for (bool keep : {false, true}) {
        BOOST_TEST(max_abs(grad(sum(max(a, {1}, keep)), {a})[0].value() - max_rows) < 1e-16);
        BOOST_TEST(max_abs(grad(sum(min(a, {-1}, keep)), {a})[0].value() - min_rows) < 1e-16);
    }
    // the weights of each row's output reach only that row's ties
    auto weighted = grad(sum(max(a, {1}) * Tensor::constant(Array<double>{10.0, 20.0, 30.0})), {a})[0].value();
    BOOST_TEST(max_abs(weighted - Array<double>{{0, 5, 5}, {20.0 / 3, 20.0 / 3, 20.0 / 3}, {0, 30, 0}}) < 1e-14);
    // over columns: column 0's minimum 1 is tied between rows 0 and 2
    BOOST_TEST(max_abs(grad(sum(min(a, {0})), {a})[0].value() -
                       Array<double>{{0.5, 0, 0}, {0, 1, 1}, {0.5, 0, 0}}) < 1e-16);
    // over every axis (no axes given): the maximum 5 twice, the minimum 1 twice
    BOOST_TEST(max_abs(grad(max(a, Axes{}), {a})[0].value() - Array<double>{{0, 0.5, 0.5}, {0, 0, 0}, {0, 0, 0}}) < 1e-16);
    BOOST_TEST(max_abs(grad(min(a, Axes{}), {a})[0].value() - Array<double>{{0.5, 0, 0}, {0, 0, 0}, {0.5, 0, 0}}) < 1e-16);
    // over two axes of a [2, 2, 2]: four equal values
    auto b = Tensor::parameter(Array<double>{{{7.0, 7.0}, {7.0, 7.0}}, {{1.0, 2.0}, {3.0, 3.0}}});
    BOOST_TEST(max_abs(grad(sum(max(b, {1, 2})), {b})[0].value() -
                       Array<double>{{{0.25, 0.25}, {0.25, 0.25}}, {{0, 0}, {0.5, 0.5}}}) < 1e-16);
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

BOOST_AUTO_TEST_CASE(prod_over_axes_to_second_order) {
    for (const Axes& axes : {Axes{}, Axes{0}, Axes{1}, Axes{-1, 0}, Axes{2}}) {
        Tape tape;
        auto a = param({3, 5, 2}, 40);
        check_both([&] { return prod(a, axes); }, {a});
        check_both([&] { return sin(prod(a, axes, true)); }, {a});
    }
}

BOOST_AUTO_TEST_CASE(prod_gradient_is_exact_with_zeros) {
    Tape tape;
    auto a = Tensor::parameter({2.0, 0.0, 3.0, 4.0, 0.5}, {5});
    auto p = prod(a);
    BOOST_TEST(p.item() == 0.0);
    auto g = grad(p, {a}, true)[0];
    // d/da_i = product of the others: only the zero's neighbours' product survives
    BOOST_TEST(g.value()(1) == 2.0 * 3.0 * 4.0 * 0.5);
    BOOST_TEST(g.value()(0) == 0.0);
    // and the second derivative d2/da_1 da_0 = 3 * 4 * 0.5
    auto h = grad(sum(slice(g, 0, 1, 2)), {a});
    BOOST_TEST(h[0].value()(0) == 3.0 * 4.0 * 0.5);
    BOOST_TEST(h[0].value()(1) == 0.0);
    check_both([&] { return prod(a); }, {a});
}

BOOST_AUTO_TEST_CASE(var_std_with_correction) {
    for (double correction : {0.0, 1.0}) {
        for (const Axes& axes : {Axes{}, Axes{0}, Axes{1, 2}}) {
            Tape tape;
            auto a = param({3, 4, 2}, 41);
            check_both([&] { return var(a, axes, correction); }, {a});
            check_both([&] { return xtgrad::std(a, axes, correction, true); }, {a});
        }
    }
    Tape tape;
    auto x = Tensor::constant({1.0, 2.0, 3.0, 4.0}, {4});
    BOOST_TEST(std::abs(var(x).item() - 5.0 / 3.0) < 1e-15);
    BOOST_TEST(var(x, {}, 0).item() == 1.25);
    BOOST_TEST(std::abs(xtgrad::std(x).item() - std::sqrt(5.0 / 3.0)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(std_and_norm_have_zero_gradient_where_the_spread_is_zero) {
    Tape tape;
    auto a = Tensor::parameter({1.0, 1.0, 1.0, 2.0, 3.0, 4.0}, {2, 3});
    auto s = xtgrad::std(a, {1});
    BOOST_TEST(s.value()(0) == 0.0);
    sum(s).backward();
    for (double g : a.grad()) BOOST_TEST(std::isfinite(g));
    BOOST_TEST(a.grad()(0, 0) == 0.0);
    auto z = Tensor::parameter(Array<double>(xt::zeros<double>({3})));
    for (double ord : {1.0, 2.0, 3.0, std::numeric_limits<double>::infinity()}) {
        z.zero_grad();
        auto n = norm(z, ord);
        BOOST_TEST(n.item() == 0.0);
        n.backward();
        for (double g : z.grad()) BOOST_TEST(g == 0.0);
    }
}

BOOST_AUTO_TEST_CASE(norms_to_second_order) {
    const double inf = std::numeric_limits<double>::infinity();
    for (double ord : {1.0, 2.0, 3.0, 1.5, inf}) {
        BOOST_TEST_CONTEXT("ord " << ord) {
            Tape tape;
            auto a = param({3, 4}, 42);
            check_both([&] { return norm(a, ord); }, {a});
            check_both([&] { return norm(a, ord, {1}); }, {a});
            check_both([&] { return norm(a, ord, {0}, true); }, {a});
        }
    }
    Tape tape;
    auto v = Tensor::constant({3.0, -4.0}, {2});
    BOOST_TEST(norm(v).item() == 5.0);
    BOOST_TEST(norm(v, 1).item() == 7.0);
    BOOST_TEST(norm(v, inf).item() == 4.0);
}

BOOST_AUTO_TEST_CASE(cumsum_along_each_axis) {
    for (std::ptrdiff_t axis : {0, 1, -1}) {
        Tape tape;
        auto a = param({3, 4}, 43);
        check_both([&] { return cumsum(a, axis); }, {a});
        check_both([&] { return square(cumsum(a, axis)); }, {a});
    }
    Tape tape;
    auto x = Tensor::constant({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    auto c = cumsum(x, 1).value();
    BOOST_TEST(c(0, 2) == 6.0);
    BOOST_TEST(c(1, 1) == 9.0);
    BOOST_TEST(cumsum(x, 0).value()(1, 2) == 9.0);
}

BOOST_AUTO_TEST_CASE(statistics_reject_bad_arguments) {
    Tape tape;
    auto a = param({1, 3}, 44);
    expect_error<ValueError>([&] { var(a, {0}); }, "var: 1 elements");
    expect_error<ValueError>([&] { norm(a, 0.5); }, "norm: ord must be >= 1");
    expect_error<ValueError>([&] { prod(a, {2}); }, "prod");
    expect_error<ShapeError>([&] { cumsum(Tensor::scalar(1.0), 0); }, "cumsum");
}

namespace {
// |got - want| in units in the last place of `want` in T (the smallest subnormal's below it).
template <class T>
double ulps(T got, long double want) {
    const T w = static_cast<T>(want);
    const double ulp = std::max(double(std::nextafter(std::abs(w), std::numeric_limits<T>::infinity()) - std::abs(w)),
                                double(std::numeric_limits<T>::denorm_min()));
    return double(std::abs(static_cast<long double>(got) - want)) / ulp;
}

// The probed extremes of issue 25 against long double: log_softmax, softmax, logsumexp and its
// gradient at logits of +-1e4 and +-3e5, sigmoid, softplus and log_sigmoid and their
// gradients at +-1e3.
template <class T>
void check_extremes() {
    using L = long double;
    for (T big : {T(1e4), T(3e5)}) {
        const std::vector<std::vector<T>> rows{{big, big}, {big, big - 1}, {big, -big}, {-big, -big + T(0.5)},
                                               {big, big - T(0.25), big - 3}};
        for (const auto& row : rows) {
            Tape tape;
            Array<T> z = Array<T>::from_shape({row.size()});
            std::copy(row.begin(), row.end(), z.begin());
            auto x = BasicTensor<T>::parameter(z);
            L m = *std::max_element(row.begin(), row.end()), s = 0;
            for (T v : row) s += std::exp(L(v) - m);
            auto lsm = log_softmax(x, 0).value(), sm = softmax(x, 0).value();
            auto lse = logsumexp(x, 0);
            auto g = grad(lse, {x})[0].value();
            for (std::size_t k = 0; k < row.size(); ++k) {
                const L want_log = (L(row[k]) - m) - std::log(s), want_p = std::exp(want_log);
                BOOST_TEST(ulps(lsm(k), want_log) <= 4, "log_softmax at " << row[k] << ": " << lsm(k));
                BOOST_TEST(ulps(sm(k), want_p) <= 4, "softmax at " << row[k] << ": " << sm(k));
                BOOST_TEST(ulps(g(k), want_p) <= 4, "d logsumexp at " << row[k] << ": " << g(k));
            }
            BOOST_TEST(ulps(lse.item(), m + std::log(s)) <= 1);
        }
    }
    for (T v : {T(-1e3), T(-30), T(-1), T(0), T(1), T(30), T(1e3)}) {
        Tape tape;
        auto x = BasicTensor<T>::parameter(Array<T>{v});
        // sigmoid(-v) directly: 1 - sigmoid(v) would cancel in long double too
        const L sig = 1 / (1 + std::exp(-L(v))), sig_neg = 1 / (1 + std::exp(L(v))), soft = std::log1p(std::exp(L(v)));
        auto s = sigmoid(x), sp = softplus(x), ls = log_sigmoid(x);
        BOOST_TEST(ulps(s.item(), sig) <= 4, "sigmoid(" << v << ") = " << s.item());
        BOOST_TEST(ulps(sp.item(), soft) <= 4, "softplus(" << v << ") = " << sp.item());
        BOOST_TEST(ulps(ls.item(), -std::log1p(std::exp(-L(v)))) <= 4, "log_sigmoid(" << v << ") = " << ls.item());
        // s (1 - s) from the output s, as PyTorch's rule: exact to eps absolutely; relatively
        // only where s is not within a few eps of 1 (at 30, 1 - s keeps 3 digits)
        const double ds = double(grad(sum(s), {x})[0].value()(0));
        BOOST_TEST(std::abs(ds - double(sig * sig_neg)) <= 2 * double(std::numeric_limits<T>::epsilon()) * double(sig * sig_neg) + double(std::numeric_limits<T>::epsilon()),
                   "sigmoid' at " << v << ": " << ds);
        BOOST_TEST(ulps(grad(sum(sp), {x})[0].value()(0), sig) <= 4, "softplus' at " << v);
        BOOST_TEST(ulps(grad(sum(ls), {x})[0].value()(0), sig_neg) <= 4, "log_sigmoid' at " << v);
    }
    {  // zero spread: exact zeros, and zero gradients (not NaN)
        Tape tape;
        auto c = BasicTensor<T>::parameter(Array<T>{T(3), T(3), T(3)});
        auto zero = BasicTensor<T>::parameter(Array<T>{T(0), T(0), T(0)});
        BOOST_TEST(var(c).item() == T(0));
        BOOST_TEST(xtgrad::std(c).item() == T(0));
        BOOST_TEST(norm(zero).item() == T(0));
        BOOST_TEST(xt::amax(xt::abs(grad(xtgrad::std(c), {c})[0].value()))() == T(0));
        BOOST_TEST(xt::amax(xt::abs(grad(norm(zero), {zero})[0].value()))() == T(0));
    }
}
}  // namespace

BOOST_AUTO_TEST_CASE(extremes_against_long_double) {
    check_extremes<double>();
    check_extremes<float>();
}
