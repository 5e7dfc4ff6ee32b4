// Modules and layers: names, modes, initialisation, gradients through whole models.
#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(named_parameters_follow_registration) {
    std::mt19937_64 rng(1);
    MLP<double> mlp({4, 5, 3}, Activation::tanh, rng);
    std::vector<std::string> names;
    for (auto& [name, p] : mlp.named_parameters()) names.push_back(name);
    BOOST_TEST(names == (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
    BOOST_TEST(mlp.size() == 3u);  // linear, tanh, linear
    BOOST_TEST(mlp.parameters()[0].shape() == Shape({5, 4}));  // [out, in], as PyTorch's
    Linear<double> no_bias({.in = 3, .out = 2, .bias = false}, rng);
    BOOST_TEST(no_bias.parameters().size() == 1u);
}

BOOST_AUTO_TEST_CASE(train_eval_and_zero_grad_reach_children) {
    std::mt19937_64 rng(2);
    MLP<double> mlp({2, 3, 1}, Activation::relu, rng);
    mlp.eval();
    for (auto& [name, child] : mlp.children()) BOOST_TEST(!child->is_training());
    mlp.train();
    BOOST_TEST(mlp.children()[0].second->is_training());
    Tape tape;
    auto x = Tensor::constant(uniform({4, 2}, 3));
    sum(mlp(x)).backward();
    for (auto& p : mlp.parameters()) BOOST_TEST(p.has_grad());
    mlp.zero_grad();
    for (auto& p : mlp.parameters()) BOOST_TEST(!p.has_grad());
}

BOOST_AUTO_TEST_CASE(initialisation_is_seeded_and_scaled) {
    std::mt19937_64 a(7), b(7);
    auto wa = initial_values<double>(Init::xavier_uniform, {200, 100}, 200, 100, a);
    auto wb = initial_values<double>(Init::xavier_uniform, {200, 100}, 200, 100, b);
    BOOST_TEST(wa == wb);
    double bound = std::sqrt(6.0 / 300.0);
    BOOST_TEST(xt::amax(xt::abs(wa))() <= bound);
    BOOST_TEST(xt::amax(xt::abs(wa))() > 0.95 * bound);
    auto he = initial_values<double>(Init::he_normal, {400, 100}, 400, 100, a);
    double var = xt::mean(he * he)();
    BOOST_TEST(std::abs(var - 2.0 / 400.0) < 0.1 * 2.0 / 400.0);
    auto xn = initial_values<double>(Init::xavier_normal, {400, 100}, 400, 100, a);
    BOOST_TEST(std::abs(xt::mean(xn * xn)() - 2.0 / 500.0) < 0.1 * 2.0 / 500.0);
    auto hu = initial_values<double>(Init::he_uniform, {400, 100}, 400, 100, a);
    BOOST_TEST(xt::amax(xt::abs(hu))() <= std::sqrt(6.0 / 400.0));
    BOOST_TEST(xt::amax(xt::abs(initial_values<double>(Init::zeros, {3}, 1, 1, a)))() == 0.0);
}

BOOST_AUTO_TEST_CASE(models_first_and_second_order) {
    std::mt19937_64 rng(3);
    auto x = Tensor::constant(uniform({6, 3}, 4));
    std::vector<std::size_t> labels{0, 1, 2, 1, 0, 2};
    for (auto act : {Activation::tanh, Activation::sigmoid, Activation::softplus, Activation::identity}) {
        MLP<double> mlp({3, 4, 3}, act, rng);
        check_both([&] { return cross_entropy(mlp(x), labels); }, mlp.parameters());
    }
    Sequential<double> seq(
        {std::make_shared<Linear<double>>(LinearOptions{3, 2}, rng), std::make_shared<Tanh<double>>(),
         std::make_shared<Linear<double>>(LinearOptions{2, 1}, rng), std::make_shared<Sigmoid<double>>()});
    Array<double> tv = {1.0, 0.0, 1.0, 1.0, 0.0, 0.0};
    tv.reshape({6, 1});
    auto t = Tensor::constant(tv);
    check_both([&] { return binary_cross_entropy(seq(x), t); }, seq.parameters());
}

BOOST_AUTO_TEST_CASE(layers_run_in_float32) {
    std::mt19937_64 rng(5);
    MLP<float> mlp({3, 8, 2}, Activation::relu, rng);
    Tape tape;
    auto x = Tensor32::constant(Array<float>(xt::cast<float>(uniform({4, 3}, 6))));
    auto loss = cross_entropy(mlp(x), {0, 1, 1, 0});
    loss.backward();
    BOOST_TEST(std::isfinite(loss.item()));
    BOOST_TEST(mlp.parameters()[0].has_grad());
}

BOOST_AUTO_TEST_CASE(layer_errors) {
    std::mt19937_64 rng(1);
    Linear<double> layer({.in = 64, .out = 10}, rng);
    Tape tape;
    expect_error<ShapeError>(
        [&] {
            layer(Tensor::constant(uniform({32, 5}, 1)));
        },
        "Linear(64 -> 10): input of shape [32,5] must end in 64 features");
    expect_error<ValueError>([&] { Linear<double>({.in = 0, .out = 3}, rng); },
                             "Linear: in (0) and out (3) must be positive");
    expect_error<ValueError>([&] { MLP<double>({3}, Activation::tanh, rng); }, "MLP: needs at least two widths");
}

// accuracy with labels that do not fit the scores (issue 10): an error, not a silent miss;
// one column is read as binary logits
BOOST_AUTO_TEST_CASE(accuracy_checks_labels_and_reads_one_column_as_binary_logits) {
    Array<double> logits = Array<double>{2.0, -1.0, 0.5, -3.0};
    logits.reshape({4, 1});
    BOOST_TEST(nn::accuracy(logits, {1, 0, 1, 0}) == 1.0);
    BOOST_TEST(nn::accuracy(logits, {0, 0, 1, 0}) == 0.75);
    expect_error<ValueError>(
        [&] {
            nn::accuracy(logits, {1, 2, 1, 0});
        },
        "accuracy: label 2 of row 1 is out of range for scores of shape [4,1] (one column");
    Array<double> three = {{0.1, 0.7, 0.2}, {0.9, 0.05, 0.05}};
    BOOST_TEST(nn::accuracy(three, {1, 0}) == 1.0);
    expect_error<ValueError>([&] { nn::accuracy(three, {1, 3}); }, "label 3 of row 1 is out of range");
    Array<double> nan = {{std::nan(""), 1.0}};
    expect_error<ValueError>([&] { nn::accuracy(nan, {0}); }, "the score at [0,0] is nan");
}

BOOST_AUTO_TEST_CASE(initial_values_from_a_generator) {
    Generator gen(11);
    auto a = nn::initial_values<double>(nn::Init::he_uniform, {200, 100}, 200, 100, gen);
    const double bound = std::sqrt(6.0 / 200.0);
    BOOST_TEST(xt::amax(xt::abs(a))() <= bound);
    BOOST_TEST(xt::amax(xt::abs(a))() > 0.95 * bound);
    BOOST_TEST(std::abs(xt::mean(a)()) < 0.01 * bound);
    auto n = nn::initial_values<double>(nn::Init::he_normal, {200, 100}, 200, 100, gen);
    BOOST_TEST(std::abs(xt::mean(n * n)() - 2.0 / 200.0) < 0.05 * 2.0 / 200.0);
    Generator again(11);  // the same seed, the same values
    BOOST_TEST((nn::initial_values<double>(nn::Init::he_uniform, {200, 100}, 200, 100, again) == a));
}

BOOST_AUTO_TEST_CASE(layers_initialised_from_a_generator) {
    Generator a(3), b(3);
    Linear<double> la(LinearOptions{.in = 5, .out = 4}, a), lb(LinearOptions{.in = 5, .out = 4}, b);
    BOOST_TEST((la.weight().value() == lb.weight().value()));
    MLP<float> m({4, 8, 3}, Activation::relu, a);
    BOOST_TEST(m.parameters().size() == 4u);
    Conv2d<double> c(Conv2dOptions{.in_channels = 2, .out_channels = 3, .kernel_size = 3}, a);
    BOOST_TEST(xt::amax(xt::abs(c.weight().value()))() <= 1.0 / std::sqrt(18.0));  // PyTorch's default
    Embedding<double> e(10, 4, a);
    BOOST_TEST(std::abs(xt::mean(e.weight().value())()) < 1.0);
    BOOST_TEST(a.offset() > b.offset());  // each layer drew from the generator in turn
}
