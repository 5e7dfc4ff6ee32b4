// The derivative API: backward, grad, vjp, jvp, hvp, jacobian, hessian, custom ops,
// the checker's reports, closed forms, and float32 against float64.
#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

namespace {
// A small two-layer model used by several tests.
template <class T>
BasicTensor<T> mlp_loss(const BasicTensor<T>& x, const BasicTensor<T>& W1, const BasicTensor<T>& b1,
                        const BasicTensor<T>& W2, const std::vector<std::size_t>& labels) {
    auto h = tanh(matmul(x, W1) + b1);
    return -mean(pick(log_softmax(matmul(h, W2), 1), labels));
}
}  // namespace

BOOST_AUTO_TEST_CASE(backward_accumulates_into_leaves) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{1.0, 2.0, 3.0});
    auto y = sum(x * x);
    y.backward(/*retain_graph=*/true);
    BOOST_TEST(x.grad() == (Array<double>{2.0, 4.0, 6.0}));
    y.backward();  // the graph was kept: a second sweep accumulates, then frees it
    BOOST_TEST(x.grad() == (Array<double>{4.0, 8.0, 12.0}));
    // a third sweep through the freed graph is an error, not a silent doubling
    expect_error<TapeError>([&] { y.backward(); },
                            "backward: input 0 (shape []) was computed by a graph that "
                            "backward() has already freed");
    BOOST_TEST(x.grad() == (Array<double>{4.0, 8.0, 12.0}));
    x.zero_grad();
    BOOST_TEST(!x.has_grad());
    auto z = x * 2.0;
    z.backward(Tensor::constant(Array<double>{1.0, 0.0, -1.0}));
    BOOST_TEST(x.grad() == (Array<double>{2.0, 0.0, -2.0}));
}

// A first-order sweep adds a tensor's gradients in place when no other handle holds its
// adjoint. add's rule passes its adjoint on to both inputs, so here `a` and `b` first share
// one; b's second gradient (from t) must not land in a's.
BOOST_AUTO_TEST_CASE(a_shared_gradient_is_never_accumulated_into) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{1.0, 2.0});
    auto a = x * 3.0, b = x * 5.0;
    auto t = b * 7.0;  // recorded before s: swept after it
    auto s = a + b;
    auto loss = sum(t) + sum(s);
    auto g = grad(loss, {x, a, b});
    BOOST_TEST(g[0].value() == (Array<double>{43.0, 43.0}));  // 5 * 7 + 3 + 5
    BOOST_TEST(g[1].value() == (Array<double>{1.0, 1.0}));
    BOOST_TEST(g[2].value() == (Array<double>{8.0, 8.0}));
    // the seed a user passes is theirs: a sweep that adds to the root's adjoint leaves it alone
    auto y = x * 2.0;
    auto z = y + y;
    Tensor seed = Tensor::constant(Array<double>{1.0, -1.0});
    auto gy = grad(TensorList<double>{z}, {y}, {seed});
    BOOST_TEST(gy[0].value() == (Array<double>{2.0, -2.0}));
    BOOST_TEST(seed.value() == (Array<double>{1.0, -1.0}));
    // and the same sums differentiable once more (create_graph): nothing written in place
    auto a2 = x * 3.0;
    auto h = grad(sum(a2 * a2) + sum(a2 * x), {x}, /*create_graph=*/true);
    auto hh = grad(sum(h[0]), {x});
    BOOST_TEST(hh[0].value() == (Array<double>{24.0, 24.0}));  // d/dx of 18x + 6x = 24
}

// A first-order sweep adds a slice's gradient into its input's where it came from (no zeros of
// the input's size); the rule's way (zeros, then a sum), taken when differentiable, agrees.
BOOST_AUTO_TEST_CASE(slices_add_their_gradients_where_they_came_from) {
    Generator gen(3);
    Tape tape;
    auto x = Tensor::parameter(randn<double>({6, 5, 4}, gen).value());
    auto w = randn<double>({5, 4}, gen).value();
    auto loss_of = [&] {
        auto y = x * 2.0;
        auto q = x * 5.0;
        auto t = sum(slice(y, 1, 0, 5, 2) * 3.0) + sum(select(y, 0, -1) * Tensor::constant(w));
        for (auto& piece : unbind(y, 0)) t = t + sum(piece * piece);  // halved, then split
        for (auto& piece : chunk(y, 2, 2)) t = t + sum(exp(piece));
        return t + sum(y + q);  // y's adjoint from add is shared with q's when the slices reach it
    };
    auto first = grad(loss_of(), {x})[0].value();
    auto twice = grad(loss_of(), {x}, /*create_graph=*/true)[0].value();
    BOOST_TEST(xt::allclose(first, twice, 0.0, 0.0));
    // and by hand: 2 (3 [even columns] + w [last row] + 2 y + exp(y)) + 2 + 5
    Array<double> y = 2.0 * x.value();
    Array<double> expected = 2.0 * (2.0 * y + xt::exp(y)) + 7.0;
    for (std::size_t i = 0; i < 6; ++i)
        for (std::size_t j = 0; j < 5; ++j)
            for (std::size_t k = 0; k < 4; ++k)
                expected(i, j, k) += 2.0 * ((j % 2 == 0 ? 3.0 : 0.0) + (i == 5 ? w(j, k) : 0.0));
    BOOST_TEST(xt::allclose(first, expected, 1e-12, 1e-12));
}

BOOST_AUTO_TEST_CASE(grad_functional_and_intermediates) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{0.5, -1.0});
    auto h = sin(x);
    auto y = sum(h * h);
    auto g = grad(y, {x, h});
    Array<double> expected_x = 2.0 * xt::sin(x.value()) * xt::cos(x.value());
    BOOST_TEST(xt::allclose(g[0].value(), expected_x));
    BOOST_TEST(xt::allclose(g[1].value(), 2.0 * h.value()));
    BOOST_TEST(!x.has_grad());  // grad() does not touch leaf gradients
}

BOOST_AUTO_TEST_CASE(create_graph_gives_exact_second_derivatives) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{0.7});
    auto y = sum(pow(x, 4.0));
    auto g = grad(y, {x}, true);           // 4 x^3
    auto gg = grad(sum(g[0]), {x}, true);  // 12 x^2
    auto ggg = grad(sum(gg[0]), {x});      // 24 x
    BOOST_TEST(std::abs(g[0].item() - 4 * std::pow(0.7, 3)) < 1e-15);
    BOOST_TEST(std::abs(gg[0].item() - 12 * 0.49) < 1e-14);
    BOOST_TEST(std::abs(ggg[0].item() - 24 * 0.7) < 1e-13);
}

BOOST_AUTO_TEST_CASE(vjp_jvp_jacobian_agree) {
    auto x = param({3}, 1);
    auto W = param({3, 2}, 2);
    auto f = [&] { return tanh(matmul(x, W)); };
    auto J = jacobian(f, {x, W});
    BOOST_TEST(J[0].shape() == Shape({2, 3}));
    BOOST_TEST(J[1].shape() == Shape({2, 6}));
    auto v = Tensor::constant(Array<double>{0.3, -0.8});
    auto r = vjp(f, {x, W}, v);
    Array<double> vJ = xt::sum(J[0] * xt::reshape_view(v.value(), {2, 1}), {0});
    BOOST_TEST(xt::allclose(r.vjp[0].value(), vJ, 1e-12, 1e-14));
    auto t = Tensor::constant(Array<double>{0.1, 0.2, -0.4});
    auto tw = Tensor::constant(uniform({3, 2}, 3));
    auto j = jvp(f, {x, W}, {t, tw});
    Array<double> tw_flat = tw.value();
    tw_flat.reshape({6});
    for (std::size_t k = 0; k < 2; ++k) {
        double expected = 0;
        for (std::size_t i = 0; i < 3; ++i) expected += J[0](k, i) * t.value()(i);
        for (std::size_t i = 0; i < 6; ++i) expected += J[1](k, i) * tw_flat(i);
        BOOST_TEST(std::abs(j.jvp.value()(k) - expected) < 1e-13);
    }
    BOOST_TEST(xt::allclose(j.output.value(), r.output.value()));
}

BOOST_AUTO_TEST_CASE(hvp_matches_dense_hessian) {
    auto x = param({4}, 4);
    auto f = [&] { return sum(exp(x) * sin(x)) + square(sum(x * x)); };
    Array<double> H = hessian(f, {x});
    auto v = Tensor::constant(uniform({4}, 5));
    auto hv = hvp(f, {x}, {v});
    Array<double> expected = xt::sum(H * xt::reshape_view(v.value(), {1, 4}), {1});
    BOOST_TEST(xt::allclose(hv[0].value(), expected, 1e-12, 1e-13));
    BOOST_TEST(xt::allclose(H, xt::transpose(H), 1e-12, 1e-13));
}

// hessian() records f once and sweeps its gradient once a row: with several inputs, a gradient
// constant in all of them (zero rows), cross terms, and a function that is not a single value
BOOST_AUTO_TEST_CASE(hessian_of_several_inputs_by_hand) {
    auto a = param({2}, 7), x = param({3}, 8);
    Array<double> c = {0.5, -2.0};
    auto f = [&] { return sum(Tensor::constant(c) * a) + sum(a) * sum(x * x) + sum(x * x * x); };
    Array<double> H = hessian(f, {a, x});
    BOOST_TEST_REQUIRE(H.shape() == (Shape{5, 5}));
    const auto& xv = x.value();
    const double sa = a.value()(0) + a.value()(1);
    Array<double> want = xt::zeros<double>({5, 5});
    for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t k = 0; k < 3; ++k) want(i, 2 + k) = want(2 + k, i) = 2 * xv(k);  // d2/da dx
    for (std::size_t k = 0; k < 3; ++k) want(2 + k, 2 + k) = 2 * sa + 6 * xv(k);
    BOOST_TEST(xt::allclose(H, want, 1e-13, 1e-13), "largest difference " << xt::amax(xt::abs(H - want))());
    // a gradient constant in every input: its rows are zero, not an error
    Array<double> Hc = hessian([&] { return sum(Tensor::constant(c) * a) + sum(x * x * x); }, {a, x});
    BOOST_TEST(xt::allclose(xt::view(Hc, xt::range(0, 2), xt::all()), xt::zeros<double>({2, 5}), 0.0, 0.0));
    expect_error<ShapeError>([&] { hessian([&] { return x * x; }, {x}); },
                             "hessian: the function must return a single value, got shape [3]");
}

BOOST_AUTO_TEST_CASE(mlp_first_and_second_order) {
    auto x = Tensor::constant(uniform({6, 4}, 6));
    auto W1 = param({4, 5}, 7);
    auto b1 = param({5}, 8);
    auto W2 = param({5, 3}, 9);
    std::vector<std::size_t> labels{0, 2, 1, 1, 0, 2};
    check_both([&] { return mlp_loss(x, W1, b1, W2, labels); }, {W1, b1, W2});
}

BOOST_AUTO_TEST_CASE(float32_agrees_with_float64) {
    auto x64 = uniform({6, 4}, 6);
    std::vector<std::size_t> labels{0, 2, 1, 1, 0, 2};
    std::vector<Array<double>> inits{uniform({4, 5}, 7), uniform({5}, 8), uniform({5, 3}, 9)};
    Tape tape;
    TensorList<double> p64;
    TensorList<float> p32;
    for (auto& a : inits) {
        p64.push_back(Tensor::parameter(a));
        p32.push_back(Tensor32::parameter(Array<float>(xt::cast<float>(a))));
    }
    auto l64 = mlp_loss(Tensor::constant(x64), p64[0], p64[1], p64[2], labels);
    auto l32 = mlp_loss(Tensor32::constant(Array<float>(xt::cast<float>(x64))), p32[0], p32[1], p32[2], labels);
    BOOST_TEST(std::abs(l64.item() - double(l32.item())) < 1e-5 * std::abs(l64.item()));
    auto g64 = grad(l64, p64);
    auto g32 = grad(l32, p32);
    for (std::size_t i = 0; i < 3; ++i) {
        Array<double> g = xt::cast<double>(g32[i].value());
        BOOST_TEST(xt::allclose(g, g64[i].value(), 1e-4, 1e-6));
    }
}

BOOST_AUTO_TEST_CASE(sigmoid_cross_entropy_gradient_is_z_minus_t) {
    Tape tape;
    auto s = Tensor::parameter(uniform({8}, 10, 0.1, 4.0));
    auto t = Tensor::constant(Array<double>{1, 0, 1, 1, 0, 0, 1, 0});
    auto z = sigmoid(s);
    auto E = -sum(t * log(z) + (1.0 - t) * log(1.0 - z));
    E.backward();
    Array<double> expected = z.value() - t.value();
    BOOST_TEST(xt::amax(xt::abs(s.grad() - expected))() < 1e-12);
}

BOOST_AUTO_TEST_CASE(no_grad_and_detach) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{1.0, 2.0});
    {
        NoGrad no_grad;
        auto y = x * 3.0;
        BOOST_TEST(!y.requires_grad());
        BOOST_TEST(tape.size() == 0u);
    }
    auto d = (x * 3.0).detach();
    BOOST_TEST(!d.requires_grad());
    auto y = sum(x * d);  // d acts as a constant
    y.backward();
    BOOST_TEST(x.grad() == (Array<double>{3.0, 6.0}));
}

// ---- custom ops and the checker's report ----

namespace {
// x^3 with a correct or a deliberately wrong rule.
Tensor cube(const Tensor& x, bool correct) {
    return custom_op<double>(
        correct ? "cube" : "bad_cube", {x},
        [](const TensorList<double>& in) { return Array<double>(xt::pow(in[0].value(), 3)); },
        [correct](const TensorList<double>& in, const Tensor&, const Tensor& g) -> TensorList<double> {
            return {g * (correct ? 3.0 : 2.0) * square(in[0])};
        });
}
}  // namespace

BOOST_AUTO_TEST_CASE(custom_op_is_checked_like_a_builtin) {
    auto x = param({3}, 11);
    auto W = param({3, 3}, 12);
    check_both([&] { return sum(tanh(matmul(W, cube(x, true)))); }, {x, W});
}

BOOST_AUTO_TEST_CASE(gradcheck_names_the_faulty_op) {
    auto x = param({3}, 11);
    auto W = param({3, 3}, 12);
    auto f = [&] { return sum(tanh(matmul(W, cube(x, false)))); };
    auto report = gradcheck(f, {x, W});
    BOOST_TEST(!report.ok);
    BOOST_TEST(!report.inputs[0].ok);
    BOOST_TEST(report.inputs[1].ok);  // W's gradient does not pass through the bad rule
    BOOST_TEST_REQUIRE(report.faulty_nodes.size() == 1u);
    BOOST_TEST(report.faulty_nodes[0].op == "bad_cube");
    BOOST_TEST(report.faulty_nodes[0].input_shapes[0] == Shape({3}));
    BOOST_TEST(report.message().find("faulty op 'bad_cube'") != std::string::npos);
    BOOST_TEST(report.message().find("input 0 (shape [3])") != std::string::npos);
    auto second = hvpcheck(f, {x, W});
    BOOST_TEST(!second.ok);
    BOOST_TEST_REQUIRE(!second.faulty_nodes.empty());
    BOOST_TEST(second.faulty_nodes[0].op == "bad_cube");
}

BOOST_AUTO_TEST_CASE(gradcheck_leaves_parameters_unchanged) {
    auto x = param({3}, 13);
    Array<double> before = x.value();
    gradcheck([&] { return sum(exp(x)); }, {x});
    hvpcheck([&] { return sum(exp(x)); }, {x});
    BOOST_TEST(x.value() == before);
}
