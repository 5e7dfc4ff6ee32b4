// Random draws: the generator is Philox4x32-10 (checked against the published known-answer
// vector), a draw depends only on seed and position, the distributions have their moments,
// dropout scales what it keeps and passes its gradient through its mask, bad arguments are
// errors, and a compiled function draws afresh on each replay what eager calls would draw.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(philox_known_answer) {
    // Random123's kat_vectors: philox4x32_10, counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c
    // 9b00dbd8. Word 0 of seed 0 is (e169c58d << 32) | 6627e8d5, word 1 (9b00dbd8 << 32) |
    // bc57ac4c; rand<double> keeps the top 53 bits of a word.
    Generator gen(0);
    Array<double> u = rand<double>({2}, gen).value();
    BOOST_TEST(u(0) == double(0xe169c58d6627e8d5ull >> 11) * 0x1.0p-53);
    BOOST_TEST(u(1) == double(0x9b00dbd8bc57ac4cull >> 11) * 0x1.0p-53);
    BOOST_TEST(gen.offset() == 2u);
}

BOOST_AUTO_TEST_CASE(a_draw_depends_on_seed_and_position_only) {
    Generator a(5), b(5);
    Array<double> first = rand<double>({3, 5}, a).value();
    BOOST_TEST((rand<double>({3, 5}, b).value() == first));
    Array<double> second = rand<double>({7}, a).value();
    BOOST_TEST(a.offset() == 16u + 8u);  // 15 words rounded up to 16, then 7 to 8
    b.set_offset(16);
    BOOST_TEST((rand<double>({7}, b).value() == second));
    b.manual_seed(5);
    BOOST_TEST((rand<double>({3, 5}, b).value() == first));
    Generator other(6);
    BOOST_TEST(!(rand<double>({3, 5}, other).value() == first));
}

BOOST_AUTO_TEST_CASE(distributions_have_their_moments) {
    Generator gen(1);
    const std::size_t n = 200000;
    Array<double> u = rand<double>({n}, gen).value();
    BOOST_TEST(xt::amin(u)() >= 0.0);
    BOOST_TEST(xt::amax(u)() < 1.0);
    BOOST_TEST(std::abs(xt::mean(u)() - 0.5) < 0.005);            // s.e. 0.00065
    BOOST_TEST(std::abs(xt::variance(u)() - 1.0 / 12) < 0.002);
    Array<float> z = randn<float>({n}, gen).value();
    BOOST_TEST(std::abs(double(xt::mean(z)())) < 0.01);           // s.e. 0.0022
    BOOST_TEST(std::abs(double(xt::variance(z)()) - 1.0) < 0.02);
    Array<double> k = randint<double>(-3, 4, {n}, gen).value();
    BOOST_TEST(xt::amin(k)() == -3.0);
    BOOST_TEST(xt::amax(k)() == 3.0);
    BOOST_TEST((xt::floor(k) == k));
    Mask b = bernoulli(Tensor::constant(Array<double>(xt::ones<double>({n}) * 0.3)), gen);
    BOOST_TEST(std::abs(xt::mean(b.tensor().value())() - 0.3) < 0.005);
}

BOOST_AUTO_TEST_CASE(dropout_scales_what_it_keeps_and_its_gradient_goes_through_the_mask) {
    Generator gen(2);
    Tape tape;
    auto x = Tensor::parameter(Array<double>(xt::ones<double>({1000})));
    auto y = dropout(x, 0.25, true, gen);
    const Array<double>& v = y.value();
    std::size_t kept = 0;
    for (double e : v) {
        BOOST_TEST((e == 0.0 || std::abs(e - 1 / 0.75) < 1e-15));
        kept += e != 0.0;
    }
    BOOST_TEST(std::abs(double(kept) / 1000 - 0.75) < 0.05);
    sum(y * 2.0).backward();
    BOOST_TEST((x.grad() == v * 2.0));
    BOOST_TEST(dropout(x, 0.25, false, gen).value()(0) == 1.0);  // evaluation: the identity
    check_both([&] { return sum(square(dropout(x, 0.5, true, gen) * 0.0 + x)); }, {x});
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_errors) {
    Generator gen(3);
    expect_error<ValueError>([&] { randint<double>(2, 2, {3}, gen); }, "randint: low 2 must be below high 2");
    expect_error<ValueError>([&] { randint<float>(0, 1 << 25, {3}, gen); }, "not exactly representable");
    expect_error<ValueError>([&] { bernoulli(Tensor::constant(Array<double>{0.5, 1.5}), gen); },
                             "bernoulli: probability 1.5 at [1]");
    Tape tape;
    auto x = Tensor::parameter(Array<double>{1.0});
    expect_error<ValueError>([&] { dropout(x, 1.0, true, gen); }, "dropout: p must be in [0, 1), got 1");
    expect_error<ValueError>([&] { rand<double>({0, 3}, gen); }, "rand");
}

BOOST_AUTO_TEST_CASE(a_compiled_function_draws_afresh_what_eager_calls_draw) {
    Generator gen(4), eager_gen(4);
    auto f = compile<double>([&](const TensorList<double>& in) {
        return sum(dropout(in[0], 0.5, true, gen) * randn<double>({6}, gen));
    });
    Array<double> x{1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
    for (int call = 0; call < 5; ++call) {
        auto [value, g] = f.value_and_grad({x});
        Tape tape;
        auto p = Tensor::parameter(x);
        auto out = sum(dropout(p, 0.5, true, eager_gen) * randn<double>({6}, eager_gen));
        auto eg = grad(out, {p});
        BOOST_TEST(value == out.item(), "call " << call);
        BOOST_TEST((g[0] == eg[0].value()), "call " << call);
        BOOST_TEST(gen.offset() == eager_gen.offset());
    }
    BOOST_TEST(f.traces() == 1u);
    // the check mode's fresh trace draws what the replay drew, and leaves the generator there
    auto checked = compile<double>([&](const TensorList<double>& in) { return sum(in[0] * rand<double>({6}, gen)); },
                                   {.check = true});
    checked({x});
    std::uint64_t before = gen.offset();
    checked({x});
    BOOST_TEST(gen.offset() == before + 6u);
    // a draw nothing reads still moves the generator, as eagerly
    auto unused = compile<double>([&](const TensorList<double>& in) {
        (void)rand<double>({10}, gen);
        return sum(in[0]);
    });
    unused({x});
    before = gen.offset();
    unused({x});
    BOOST_TEST(gen.offset() == before + 10u);
}
