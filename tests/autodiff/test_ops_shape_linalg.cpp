// Shape ops and matrix products: first and second order, and their values.
#define BOOST_TEST_MODULE ops_shape_linalg
#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(reshape_broadcast_sum_to) {
    Tape tape;
    auto a = param({2, 3}, 1);
    check_both([&] { return sin(reshape(a, {3, 2})); }, {a});
    check_both([&] { return sin(reshape(a, {6})); }, {a});
    auto c = param({3, 1}, 2);
    check_both([&] { return sin(broadcast_to(c, {2, 3, 4})); }, {c});
    auto d = param({2, 3, 4}, 3);
    check_both([&] { return sin(sum_to(d, {3, 1})); }, {d});
    check_both([&] { return sin(sum_to(d, {1, 4})); }, {d});
    BOOST_TEST(sum_to(d, {3, 1}).shape() == Shape({3, 1}));
}

BOOST_AUTO_TEST_CASE(transpose_permute) {
    Tape tape;
    auto a = param({2, 3, 4}, 4);
    check_both([&] { return sin(permute(a, {2, 0, 1})); }, {a});
    check_both([&] { return sin(transpose(a)); }, {a});
    auto p = permute(a, {2, 0, 1});
    BOOST_TEST(p.shape() == Shape({4, 2, 3}));
    BOOST_TEST(p.value()(3, 1, 2) == a.value()(1, 2, 3));
}

BOOST_AUTO_TEST_CASE(slice_concat_stack) {
    Tape tape;
    auto a = param({4, 5}, 5);
    check_both([&] { return sin(slice(a, 1, 1, 4)); }, {a});
    check_both([&] { return sin(slice(a, 0, -3, 4, 2)); }, {a});
    auto s = slice(a, 1, 0, 5, 2);
    BOOST_TEST(s.shape() == Shape({4, 3}));
    BOOST_TEST(s.value()(2, 2) == a.value()(2, 4));
    auto b = param({4, 2}, 6);
    check_both([&] { return sin(concat<double>({a, b, a}, 1)); }, {a, b});
    auto c = param({4, 5}, 7);
    check_both([&] { return sin(stack<double>({a, c}, 1)); }, {a, c});
    BOOST_TEST(stack<double>({a, c}, 0).shape() == Shape({2, 4, 5}));
    BOOST_TEST(stack<double>({a, c}, -1).value()(3, 4, 1) == c.value()(3, 4));
}

BOOST_AUTO_TEST_CASE(pick_one_index_per_row) {
    Tape tape;
    auto a = param({4, 3}, 8);
    std::vector<std::size_t> labels{2, 0, 1, 2};
    check_both([&] { return sin(pick(a, labels)); }, {a});
    auto p = pick(a, labels);
    for (std::size_t n = 0; n < 4; ++n) BOOST_TEST(p.value()(n) == a.value()(n, labels[n]));
}

BOOST_AUTO_TEST_CASE(matmul_all_cases) {
    Tape tape;
    auto check = [&](Shape sa, Shape sb, Shape expected) {
        BOOST_TEST_CONTEXT(to_string(sa) << " x " << to_string(sb)) {
            auto a = param(sa, 11);
            auto b = param(sb, 12);
            BOOST_TEST(matmul(a, b).shape() == expected);
            check_both([&] { return sin(matmul(a, b)); }, {a, b});
        }
    };
    check({3, 4}, {4, 2}, {3, 2});
    check({4}, {4, 2}, {2});
    check({3, 4}, {4}, {3});
    check({4}, {4}, {});
    check({2, 3, 4}, {2, 4, 5}, {2, 3, 5});
    check({2, 3, 4}, {4, 5}, {2, 3, 5});
    check({3, 4}, {2, 4, 5}, {2, 3, 5});
    // values against a plain loop
    auto a = param({3, 4}, 13);
    auto b = param({4, 2}, 14);
    auto c = matmul(a, b);
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 2; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < 4; ++k) s += a.value()(i, k) * b.value()(k, j);
            BOOST_TEST(std::abs(c.value()(i, j) - s) < 1e-14);
        }
}

BOOST_AUTO_TEST_CASE(dot_outer) {
    Tape tape;
    auto a = param({4}, 15);
    auto b = param({4}, 16);
    auto c = param({3}, 17);
    check_both([&] { return sin(dot(a, b)); }, {a, b});
    check_both([&] { return sin(outer(a, c)); }, {a, c});
    BOOST_TEST(outer(a, c).value()(2, 1) == a.value()(2) * c.value()(1));
}

BOOST_AUTO_TEST_CASE(hessian_of_quadratic_form_is_a_plus_a_transpose) {
    Tape tape;
    auto A = Tensor::constant(uniform({4, 4}, 20));
    auto x = param({4}, 21);
    Array<double> H = hessian([&] { return dot(x, matmul(A, x)); }, {x});
    Array<double> expected = A.value() + xt::transpose(A.value());
    BOOST_TEST(xt::amax(xt::abs(H - expected))() < 1e-13);
}
