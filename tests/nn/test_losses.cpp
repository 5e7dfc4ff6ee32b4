// Losses: first and second order, known values, closed-form gradients, stability, errors.
#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;

namespace {
const std::vector<std::size_t> kLabels{2, 0, 1, 1, 3};

Tensor probabilities(const Shape& shape, std::uint64_t seed) {
    return Tensor::parameter(uniform(shape, seed, 0.1, 0.9, false));
}

Tensor soft_targets(std::uint64_t seed) {  // rows of a [5, 4] distribution
    NoGrad no_grad;
    return Tensor::constant(softmax(Tensor::constant(uniform({5, 4}, seed)), 1).value());
}
}  // namespace

BOOST_AUTO_TEST_CASE(regression_losses_first_and_second_order) {
    auto z = param({5, 3}, 1);
    auto t = Tensor::constant(uniform({5, 3}, 2));
    for (auto r : {Reduction::sum, Reduction::mean, Reduction::none}) {
        check_both([&] { return sum_squared_error(z, t, r); }, {z});
        check_both([&] { return mean_squared_error(z, t, r); }, {z});
        check_both([&] { return gaussian_nll(z, t, 0.7, r); }, {z});
    }
}

BOOST_AUTO_TEST_CASE(sse_and_gaussian_nll_values) {
    Tape tape;
    auto z = Tensor::parameter(Array<double>{1.0, 2.0});
    auto t = Tensor::constant(Array<double>{0.0, 4.0});
    BOOST_TEST(sum_squared_error(z, t).item() == 2.5);
    BOOST_TEST(mean_squared_error(z, t).item() == 2.5);
    // the gradient of the Gaussian NLL is the SSE gradient over sigma^2: same minimiser for every sigma
    auto g_sse = grad(sum_squared_error(z, t), {z})[0].value();
    for (double sigma : {0.1, 1.0, 10.0}) {
        auto g = grad(gaussian_nll(z, t, sigma, Reduction::sum), {z})[0].value();
        BOOST_TEST(xt::allclose(g, g_sse / (sigma * sigma), 1e-14, 1e-14));
    }
    double expected = 0.5 * 1.0 + std::log(2.0) + 0.5 * std::log(2 * M_PI);
    auto nll = gaussian_nll(Tensor::constant(Array<double>{1.0}), Tensor::constant(Array<double>{3.0}), 2.0);
    BOOST_TEST(std::abs(nll.item() - expected) < 1e-15);
}

BOOST_AUTO_TEST_CASE(binary_cross_entropy_on_probabilities) {
    auto p = probabilities({6}, 3);
    auto t = Tensor::constant(Array<double>{1, 0, 1, 0, 1, 1});
    check_both([&] { return binary_cross_entropy(p, t); }, {p});
    Tape tape;
    // p = t = 0 or 1: 0 log 0 = 0, no NaN in value or gradient
    auto edge = Tensor::parameter(Array<double>{0.0, 1.0, 0.5});
    auto te = Tensor::constant(Array<double>{0.0, 1.0, 1.0});
    auto loss = binary_cross_entropy(edge, te, Reduction::sum);
    BOOST_TEST(std::abs(loss.item() - std::log(2.0)) < 1e-15);
    loss.backward();
    for (double g : edge.grad()) BOOST_TEST(std::isfinite(g));
}

BOOST_AUTO_TEST_CASE(bce_with_logits_is_stable_and_its_gradient_is_sigmoid_minus_t) {
    auto s = param({6}, 4, 0.2, 3.0);
    auto t = Tensor::constant(Array<double>{1, 0, 1, 0, 1, 1});
    check_both([&] { return binary_cross_entropy_with_logits(s, t); }, {s});
    check_both([&] { return binary_cross_entropy_with_logits(s, t, Reduction::sum, 3.0); }, {s});
    auto tp = param({6}, 5, 0.1, 0.9, false);  // soft, differentiable targets
    check_both([&] { return binary_cross_entropy_with_logits(s, tp, Reduction::sum, 2.0); }, {s, tp});

    Tape tape;
    auto zero = Tensor::parameter(Array<double>{0.0});
    BOOST_TEST(std::abs(binary_cross_entropy_with_logits(zero, Tensor::constant(Array<double>{1.0})).item() -
                        std::log(2.0)) < 1e-15);
    auto g = grad(binary_cross_entropy_with_logits(s, t, Reduction::sum), {s})[0].value();
    Array<double> expected = sigmoid(s).value() - t.value();
    BOOST_TEST(g == expected);  // exactly, not approximately
    auto big = Tensor::parameter(Array<double>{1000.0, -1000.0, 1000.0, -1000.0});
    auto tb = Tensor::constant(Array<double>{1.0, 0.0, 0.0, 1.0});
    auto l = binary_cross_entropy_with_logits(big, tb, Reduction::none);
    BOOST_TEST(l.value()(0) == 0.0);
    BOOST_TEST(l.value()(1) == 0.0);
    BOOST_TEST(l.value()(2) == 1000.0);
    BOOST_TEST(l.value()(3) == 1000.0);
    auto gb = grad(sum(l), {big})[0].value();
    BOOST_TEST(gb == (Array<double>{0.0, 0.0, 1.0, -1.0}));
}

BOOST_AUTO_TEST_CASE(cross_entropy_with_labels) {
    auto z = param({5, 4}, 6);
    check_both([&] { return cross_entropy(z, kLabels); }, {z});
    check_both([&] { return cross_entropy(z, kLabels, {.reduction = Reduction::sum, .label_smoothing = 0.1}); }, {z});
    check_both([&] { return cross_entropy(z, kLabels, {.class_weights = {1.0, 2.0, 0.5, 3.0}}); }, {z});
    check_both([&] { return nll_loss(log_softmax(z, 1), kLabels); }, {z});
}

BOOST_AUTO_TEST_CASE(cross_entropy_known_values_and_gradient) {
    Tape tape;
    auto uniform_logits = Tensor::parameter(Array<double>(xt::zeros<double>({3, 10})));
    BOOST_TEST(std::abs(cross_entropy(uniform_logits, {0, 4, 9}).item() - std::log(10.0)) < 1e-15);
    auto z = param({5, 4}, 7);
    auto g = grad(cross_entropy(z, kLabels, {.reduction = Reduction::sum}), {z})[0].value();
    // p - onehot, to rounding (softmax computes p as e / sum e, the rule as exp(log p): an ulp apart)
    Array<double> expected = softmax(z, 1).value() - one_hot(kLabels, 4);
    BOOST_TEST(xt::amax(xt::abs(g - expected))() <= 4 * std::numeric_limits<double>::epsilon());
    // mean with class weights divides by the weights of the targets (PyTorch's convention)
    std::vector<double> w{1.0, 2.0, 0.5, 3.0};
    auto per_row = cross_entropy(z, kLabels, {.reduction = Reduction::none}).value();
    double num = 0, den = 0;
    for (std::size_t n = 0; n < 5; ++n) {
        num += w[kLabels[n]] * per_row(n);
        den += w[kLabels[n]];
    }
    BOOST_TEST(std::abs(cross_entropy(z, kLabels, {.class_weights = w}).item() - num / den) < 1e-14);
    // extreme logits stay finite
    auto big = Tensor::parameter(Array<double>{{1000.0, 0.0, -1000.0}, {-1000.0, 1000.0, 0.0}});
    auto loss = cross_entropy(big, {2, 0});
    BOOST_TEST(std::abs(loss.item() - 2000.0) < 1e-9);
    auto g_big = grad(loss, {big});  // named: a range-for over grad(...)[0].value() would dangle
    for (double v : g_big[0].value()) BOOST_TEST(std::isfinite(v));
}

BOOST_AUTO_TEST_CASE(cross_entropy_with_probability_targets_is_kl_plus_entropy) {
    auto z = param({5, 4}, 8);
    auto t = soft_targets(9);
    check_both([&] { return cross_entropy(z, t); }, {z});
    Tape tape;
    auto q = softmax(z, 1);
    double ce = cross_entropy(z, t, Reduction::sum).item();
    double kl = kl_divergence(t, q).item();
    double h = entropy(t).item();
    BOOST_TEST(std::abs(ce - (kl + h)) < 1e-12);
}

namespace {
// A loss under Reduction::none, sum and mean: none has `shape`, sum adds it up, mean divides
// the sum by `count` (elements for elementwise losses, rows for the row-wise ones).
void check_reductions(const std::string& name, const std::function<Tensor(Reduction)>& loss, const Shape& shape,
                      double count) {
    Tape tape;
    auto none = loss(Reduction::none);
    BOOST_TEST(none.shape() == shape, name << ": none has shape " << to_string(none.shape()));
    double total = loss(Reduction::sum).item(), mean = loss(Reduction::mean).item();
    BOOST_TEST(std::abs(sum(none).item() - total) <= 1e-13 * (1 + std::abs(total)), name << ": sum");
    BOOST_TEST(std::abs(mean - total / count) <= 1e-13 * (1 + std::abs(mean)), name << ": mean " << mean);
}
}  // namespace

BOOST_AUTO_TEST_CASE(every_loss_under_every_reduction) {
    auto z = param({5, 3}, 30), t = param({5, 3}, 31);
    auto p = probabilities({5, 3}, 32), bits = probabilities({5, 3}, 33);
    auto logits = param({5, 4}, 34);
    auto q = Tensor::constant(softmax(Tensor::constant(uniform({5, 4}, 35)), 1).value());
    auto targets = soft_targets(36);
    check_reductions("sum_squared_error", [&](Reduction r) { return sum_squared_error(z, t, r); }, {5, 3}, 15);
    check_reductions("mean_squared_error", [&](Reduction r) { return mean_squared_error(z, t, r); }, {5, 3}, 15);
    check_reductions("gaussian_nll", [&](Reduction r) { return gaussian_nll(z, t, 0.7, r); }, {5, 3}, 15);
    check_reductions("binary_cross_entropy", [&](Reduction r) { return binary_cross_entropy(p, bits, r); }, {5, 3}, 15);
    check_reductions("binary_cross_entropy_with_logits",
                     [&](Reduction r) { return binary_cross_entropy_with_logits(z, bits, r, 2.0); }, {5, 3}, 15);
    check_reductions("cross_entropy (labels)",
                     [&](Reduction r) { return cross_entropy(logits, kLabels, {.reduction = r}); }, {5}, 5);
    check_reductions("cross_entropy (probabilities)", [&](Reduction r) { return cross_entropy(logits, targets, r); },
                     {5}, 5);
    check_reductions("nll_loss", [&](Reduction r) { return nll_loss(log_softmax(logits, 1), kLabels, r); }, {5}, 5);
    check_reductions("kl_divergence", [&](Reduction r) { return kl_divergence(targets, q, r); }, {5}, 5);
    check_reductions("entropy", [&](Reduction r) { return entropy(targets, r); }, {5}, 5);
    // label smoothing e is cross entropy against (1 - e) onehot + e / C (PyTorch's definition)
    for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean}) {
        Tape tape;
        const double e = 0.2;
        Array<double> smoothed = xt::ones<double>({5, 4}) * (e / 4);
        for (std::size_t n = 0; n < 5; ++n) smoothed(n, kLabels[n]) += 1 - e;
        auto by_probs = cross_entropy(logits, Tensor::constant(smoothed), r);
        auto by_labels = cross_entropy(logits, kLabels, {.reduction = r, .label_smoothing = e});
        BOOST_TEST(xt::amax(xt::abs(by_probs.value() - by_labels.value()))() < 1e-14, "reduction " << int(r));
    }
    // probability targets that are one-hot rows are the labels, under every reduction
    Array<double> onehot = xt::zeros<double>({5, 4});
    for (std::size_t n = 0; n < 5; ++n) onehot(n, kLabels[n]) = 1.0;
    for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean}) {
        Tape tape;
        auto by_probs = cross_entropy(logits, Tensor::constant(onehot), r);
        auto by_labels = cross_entropy(logits, kLabels, {.reduction = r});
        BOOST_TEST(xt::amax(xt::abs(by_probs.value() - by_labels.value()))() < 1e-15, "reduction " << int(r));
        auto g1 = grad(sum(by_probs), {logits})[0].value(), g2 = grad(sum(by_labels), {logits})[0].value();
        BOOST_TEST(xt::amax(xt::abs(g1 - g2))() < 1e-15, "reduction " << int(r));
    }
}

BOOST_AUTO_TEST_CASE(kl_and_entropy) {
    auto p = probabilities({3, 4}, 10);
    auto q = probabilities({3, 4}, 11);
    check_both([&] { return kl_divergence(p, q); }, {p, q});
    check_both([&] { return entropy(p); }, {p});
    Tape tape;
    auto same = soft_targets(12);
    BOOST_TEST(std::abs(kl_divergence(same, same).item()) < 1e-15);
    auto uniform4 = Tensor::constant(Array<double>(xt::ones<double>({1, 4}) * 0.25));
    BOOST_TEST(std::abs(entropy(uniform4).item() - std::log(4.0)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(l2_penalty_over_weights) {
    std::mt19937_64 rng(1);
    MLP<double> mlp({3, 4, 2}, Activation::tanh, rng);
    Tape tape;
    double expected = 0;
    for (auto& [name, p] : mlp.named_parameters())
        if (name.find("weight") != std::string::npos) expected += xt::sum(p.value() * p.value())();
    BOOST_TEST(std::abs(l2_penalty(mlp, 0.3).item() - 0.15 * expected) < 1e-14);
    auto params = mlp.parameters();
    check_both([&] { return l2_penalty(mlp, 0.3, false); }, params);
    auto g = grad(l2_penalty(mlp, 0.3), params, false, true);
    BOOST_TEST(xt::allclose(g[0].value(), 0.3 * params[0].value()));  // "0.weight": lambda w
    BOOST_TEST(xt::amax(xt::abs(g[1].value()))() == 0.0);             // "0.bias": excluded
}

BOOST_AUTO_TEST_CASE(loss_errors) {
    Tape tape;
    auto z = param({5, 4}, 13);
    expect_error<ValueError>(
        [&] {
            cross_entropy(z, {0, 1, 9, 2, 3});
        },
        "cross_entropy: label 9 at row 2 is out of range for 4 classes");
    expect_error<ShapeError>([&] { cross_entropy(z, {0, 1}); }, "cross_entropy: 2 labels for 5 rows (shape [5,4])");
    expect_error<ShapeError>(
        [&] {
            mean_squared_error(z, param({5, 1}, 1));
        },
        "mean_squared_error: prediction of shape [5,4] and target of shape [5,1] differ");
    auto with_nan = Tensor::constant(Array<double>{1.0, std::nan("")});
    expect_error<DomainError>([&] { sum_squared_error(with_nan, with_nan); },
                              "sum_squared_error: the prediction of shape [2] has nan at flat index 1");
    auto p = Tensor::parameter(Array<double>{0.5, 1.5});
    auto t = Tensor::constant(Array<double>{1.0, 0.0});
    expect_error<DomainError>([&] { binary_cross_entropy(p, t); },
                              "binary_cross_entropy: probability 1.5 at flat index 1 of shape [2] is outside [0, 1]");
    expect_error<ValueError>([&] { gaussian_nll(t, t, 0.0); }, "gaussian_nll: sigma must be positive");
    expect_error<ValueError>([&] { cross_entropy(z, kLabels, {.label_smoothing = 1.0}); }, "label_smoothing");
    expect_error<ShapeError>([&] { cross_entropy(z, kLabels, {.class_weights = {1.0}}); },
                             "cross_entropy: 1 class weights for 4 classes");
}

BOOST_AUTO_TEST_CASE(labels_as_integer_arrays) {
    Tape tape;
    auto z = Tensor::parameter(xtgrad::testing::uniform({4, 3}, 91));
    std::vector<std::size_t> as_vector = {2, 0, 1, 2};
    Array<std::int64_t> as_array = {2, 0, 1, 2};
    std::vector<int> as_ints = {2, 0, 1, 2};
    double expected = nn::cross_entropy(z, as_vector).item();
    BOOST_TEST(nn::cross_entropy(z, as_array).item() == expected);
    BOOST_TEST(nn::cross_entropy(z, as_ints).item() == expected);
    BOOST_TEST(nn::nll_loss(log_softmax(z, 1), as_array).item() == expected);
    BOOST_TEST(nn::accuracy(z.value(), as_array) == nn::accuracy(z.value(), as_vector));
    xtgrad::testing::expect_error<ValueError>(
        [&] {
            nn::cross_entropy(z, {2, 0, -1, 2});
        },
        "cross_entropy: label -1 at row 2 is out of range for 3 classes");
    // a "negative" size_t label (issue 25: the message named neither the op nor the row): the
    // conversion to IndexArray names the position and the likely cause
    std::vector<std::size_t> wrapped = {2, 0, std::size_t(-1), 2};
    xtgrad::testing::expect_error<ValueError>(
        [&] { nn::cross_entropy(z, wrapped); },
        "value 18446744073709551615 at flat position 2 does not fit a signed 64-bit index (a negative number");
    Array<std::int64_t> two_d = {{2, 0}, {1, 2}};
    xtgrad::testing::expect_error<ShapeError>([&] { nn::cross_entropy(z, two_d); },
                                              "cross_entropy: labels must be one-dimensional, got shape [2,2]");
}

BOOST_AUTO_TEST_CASE(probability_targets_are_checked_eagerly_and_in_every_replay) {
    Tape tape;
    auto z = Tensor::parameter({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {2, 3});
    auto ok = Tensor::constant({0.2, 0.3, 0.5, 0.0, 1.0, 0.0}, {2, 3});
    BOOST_TEST(std::isfinite(cross_entropy(z, ok).item()));
    expect_error<DomainError>([&] { cross_entropy(z, Tensor::constant({0.2, 0.3, 0.6, 0.0, 1.0, 0.0}, {2, 3})); },
                              "cross_entropy: target row 0 sums to 1.1");
    expect_error<DomainError>([&] { cross_entropy(z, Tensor::constant({1.5, -0.5, 0.0, 0.0, 1.0, 0.0}, {2, 3})); },
                              "target probability -0.5 at [0, 1] is negative");
    // a compiled loss checks the targets of every call, not only those of its trace
    CompiledLoss<double> loss({z}, [&](const TensorList<double>& in) { return cross_entropy(z, in[0]); });
    loss({ok.value()});
    expect_error<DomainError>([&] { loss({Array<double>{{0.5, 0.5, 0.5}, {0.0, 1.0, 0.0}}}); }, "sums to 1.5");
}
