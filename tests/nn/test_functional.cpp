// The functional forms against direct computations of PyTorch's definitions (pooling with
// padding, dilation, ceil_mode and count_include_pad; conv1d; linear in [out, in]; the
// normalisations), to second order; layers equal their functional forms; options that cannot
// be silently wrong; PyTorch's initialisation; modules with other signatures.
#include <cmath>
#include <filesystem>
#include <limits>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;
namespace F = xtgrad::nn::functional;

namespace {
// PyTorch's pooling of one [H, W] image, written from its definition: window (oy, ox) starts at
// (oy s - p) and reads k positions d apart; positions outside the image are -inf for max and 0
// for average, whose divisor is the window clipped at the padding's end (count_include_pad)
// or the positions inside the image.
struct Reference {
    std::array<std::size_t, 2> k, s, p, d;
    bool ceil_mode, count_include_pad;
    std::size_t out(std::size_t axis, std::size_t in) const {
        std::size_t room = in + 2 * p[axis] - d[axis] * (k[axis] - 1) - 1;
        std::size_t o = (ceil_mode ? (room + s[axis] - 1) / s[axis] : room / s[axis]) + 1;
        if (ceil_mode && (o - 1) * s[axis] >= in + p[axis]) --o;
        return o;
    }
    Array<double> pool(const Array<double>& img, bool max) const {
        const long h = long(img.shape()[0]), w = long(img.shape()[1]);
        std::size_t oh = out(0, std::size_t(h)), ow = out(1, std::size_t(w));
        Array<double> r = Array<double>::from_shape({oh, ow});
        for (std::size_t oy = 0; oy < oh; ++oy)
            for (std::size_t ox = 0; ox < ow; ++ox) {
                long y0 = long(oy * s[0]) - long(p[0]), x0 = long(ox * s[1]) - long(p[1]);
                double best = -std::numeric_limits<double>::infinity(), total = 0;
                long inside = 0;
                for (std::size_t ky = 0; ky < k[0]; ++ky)
                    for (std::size_t kx = 0; kx < k[1]; ++kx) {
                        long y = y0 + long(ky * d[0]), x = x0 + long(kx * d[1]);
                        if (y < 0 || x < 0 || y >= h || x >= w) continue;
                        best = std::max(best, img(std::size_t(y), std::size_t(x)));
                        total += img(std::size_t(y), std::size_t(x));
                        ++inside;
                    }
                long ch = std::min(y0 + long(k[0]), h + long(p[0])) - y0;
                long cw = std::min(x0 + long(k[1]), w + long(p[1])) - x0;
                r(oy, ox) = max ? best : total / double(count_include_pad ? ch * cw : inside);
            }
        return r;
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(pooling_with_padding_dilation_and_ceil_mode_is_pytorchs_definition) {
    Tape tape;
    auto img = param({2, 3, 9, 8}, 1);  // no ties
    int cases = 0;
    for (std::array<std::size_t, 2> k : {std::array<std::size_t, 2>{2, 2}, {3, 2}, {3, 3}, {1, 4}})
        for (std::array<std::size_t, 2> s : {std::array<std::size_t, 2>{1, 1}, {2, 2}, {2, 3}})
            for (std::size_t pad : {0, 1})
                for (std::size_t dil : {1, 2})
                    for (bool ceil_mode : {false, true})
                        for (bool include : {true, false}) {
                            std::array<std::size_t, 2> p{std::min(pad, k[0] / 2), std::min(pad, k[1] / 2)};
                            Reference ref{k, s, p, {dil, dil}, ceil_mode, include};
                            F::Pool2dOptions o{.kernel_size = k,
                                               .stride = s,
                                               .padding = p,
                                               .dilation = dil,
                                               .ceil_mode = ceil_mode,
                                               .count_include_pad = include};
                            BOOST_TEST_CONTEXT("kernel " << k[0] << "x" << k[1] << " stride " << s[0] << "," << s[1]
                                                         << " padding " << p[0] << "," << p[1] << " dilation " << dil
                                                         << " ceil " << ceil_mode << " include " << include) {
                                auto mx = F::max_pool2d(img, o).value();
                                BOOST_TEST(mx.shape()[2] == ref.out(0, 9));
                                BOOST_TEST(mx.shape()[3] == ref.out(1, 8));
                                for (std::size_t n = 0; n < 2; ++n)
                                    for (std::size_t c = 0; c < 3; ++c) {
                                        Array<double> one = xt::view(img.value(), n, c);
                                        BOOST_TEST((Array<double>(xt::view(mx, n, c)) == ref.pool(one, true)));
                                        if (dil == 1) {
                                            auto av = F::avg_pool2d(img, o).value();
                                            BOOST_TEST(
                                                xt::allclose(xt::view(av, n, c), ref.pool(one, false), 1e-14, 1e-15));
                                        }
                                    }
                                ++cases;
                            }
                        }
    BOOST_TEST(cases == 192);
    // to second order, through the padding and a partial last window
    auto small = param({1, 2, 5, 6}, 2);
    F::Pool2dOptions o{.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false};
    check_both([&] { return sin(F::max_pool2d(small, o)); }, {small});
    check_both([&] { return sin(F::avg_pool2d(small, o)); }, {small});
    check_both([&] { return sin(F::max_pool2d(small, {.kernel_size = 2, .dilation = 2})); }, {small});
    // 1-D pooling is 2-D pooling over a height of 1
    auto seq = param({2, 3, 11}, 3);
    F::Pool1dOptions o1{.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true};
    auto as_2d = F::max_pool2d(unsqueeze(seq, 2),
                               {.kernel_size = {1, 3}, .stride = {1, 2}, .padding = {0, 1}, .ceil_mode = true});
    BOOST_TEST((F::max_pool1d(seq, o1).value() == squeeze(as_2d, 2).value()));
    BOOST_TEST(F::avg_pool1d(seq, o1).shape() == Shape({2, 3, 6}));
    check_both([&] { return sin(F::avg_pool1d(seq, o1)); }, {seq});
    expect_error<ValueError>([&] { F::avg_pool2d(small, {.kernel_size = 2, .dilation = 2}); },
                             "avg_pool2d: dilation is not supported");
    expect_error<ShapeError>([&] { F::max_pool2d(small, {.kernel_size = 7}); },
                             "max_pool2d: a window of 7 positions (kernel 7, dilation 1) does not fit an extent of 5");
    expect_error<ShapeError>([&] { F::max_pool1d(small, o1); }, "max_pool1d: expects sequences [N, C, L]");
}

BOOST_AUTO_TEST_CASE(max_pooling_padding_never_wins_a_window_of_negative_values) {
    Tape tape;
    Array<double> values = -1.0 - xt::arange<double>(16.0);
    values.reshape({1, 1, 4, 4});
    auto negative = Tensor::constant(values);
    auto out = F::max_pool2d(negative, {.kernel_size = 2, .stride = 1, .padding = 1}).value();
    BOOST_TEST(xt::amax(out)() == -1.0);  // zeros would have won every border window
    BOOST_TEST(out(0, 0, 0, 0) == -1.0);
}

BOOST_AUTO_TEST_CASE(linear_is_x_times_w_transposed_in_pytorchs_layout) {
    Tape tape;
    auto x = param({4, 3}, 4), w = param({5, 3}, 5), b = param({5}, 6);
    auto y = F::linear(x, w, b).value();
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t o = 0; o < 5; ++o) {
            double want = b.value()(o);
            for (std::size_t k = 0; k < 3; ++k) want += x.value()(i, k) * w.value()(o, k);
            BOOST_TEST(y(i, o) == want, boost::test_tools::tolerance(1e-14));
        }
    check_both([&] { return sin(F::linear(x, w, b)); }, {x, w, b});
    auto batch = param({2, 4, 3}, 7);
    check_both([&] { return sin(matmul_nt(batch, w)); }, {batch, w});
    // the bias added by BLAS to rows that start as it (linear's product): first and second order,
    // a batch of matrices too, and equal to the product plus the bias
    check_both([&] { return sin(matmul_nt(batch, w, b)); }, {batch, w, b});
    BOOST_TEST(xt::allclose(matmul_nt(batch, w, b).value(), (matmul_nt(batch, w) + b).value(), 1e-15, 1e-15));
    expect_error<ShapeError>([&] { matmul_nt(x, w, param({4}, 9)); },
                             "matmul_nt: [4,3] x [5,3]^T + c: c has shape [4], expected [5]");
    Linear<double> layer(3, 5);
    BOOST_TEST(layer.weight().shape() == Shape({5, 3}));
    BOOST_TEST((layer(x).value() == F::linear(x, layer.weight(), layer.bias()).value()));
    expect_error<ShapeError>(
        [&] {
            F::linear(x, param({3, 5}, 8));
        },
        "linear: input of shape [4,3] for a weight [out, in] = [3,5] (expected [..., 5])");
}

BOOST_AUTO_TEST_CASE(conv1d_is_the_direct_sum_and_conv2d_layers_equal_their_functional_form) {
    Tape tape;
    auto x = param({2, 4, 9}, 9), w = param({6, 2, 3}, 10), b = param({6}, 11);
    F::Conv1dFuncOptions o{.stride = 2, .padding = 1, .dilation = 2, .groups = 2};
    auto y = F::conv1d(x, w, b, o).value();
    BOOST_TEST(y.shape() == Shape({2, 6, 4}));  // (9 + 2 - 2 * 2 - 1) / 2 + 1
    double worst = 0;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t oc = 0; oc < 6; ++oc)
            for (std::size_t t = 0; t < 4; ++t) {
                double want = b.value()(oc);
                std::size_t group = oc / 3;
                for (std::size_t ic = 0; ic < 2; ++ic)
                    for (std::size_t k = 0; k < 3; ++k) {
                        long at = long(t * 2 + k * 2) - 1;
                        if (at >= 0 && at < 9)
                            want += x.value()(n, group * 2 + ic, std::size_t(at)) * w.value()(oc, ic, k);
                    }
                worst = std::max(worst, std::abs(want - y(n, oc, t)));
            }
    BOOST_TEST(worst < 1e-13);
    check_both([&] { return sin(F::conv1d(x, w, b, o)); }, {x, w, b});
    Conv1d<double> layer(
        {.in_channels = 4, .out_channels = 6, .kernel_size = 3, .stride = 2, .padding = 1, .dilation = 2, .groups = 2});
    BOOST_TEST(layer.weight().shape() == Shape({6, 2, 3}));
    BOOST_TEST((layer(x).value() == F::conv1d(x, layer.weight(), layer.bias(), o).value()));
    BOOST_TEST(layer.type_name() == "Conv1d");
    Conv2d<double> conv2(2, 3, 3);
    BOOST_TEST(conv2.type_name() == "Conv2d");
    auto img = param({1, 2, 5, 5}, 12);
    BOOST_TEST((conv2(img).value() == F::conv2d(img, conv2.weight(), conv2.bias()).value()));
}

template <class Options>
concept made_without_kernel_size = requires {
    Options{.in_channels = 1, .out_channels = 1};
};
template <class Options>
concept made_with_kernel_size = requires {
    Options{.in_channels = 1, .out_channels = 1, .kernel_size = 3};
};

BOOST_AUTO_TEST_CASE(a_size_given_once_is_every_axis_and_bad_sizes_are_refused_where_the_layer_is_made) {
    Tape tape;
    // the case: .padding = 1 meant {1, 0} and gave [2, 8, 8, 6] silently
    Conv2d<double> conv({.in_channels = 3, .out_channels = 8, .kernel_size = 3, .padding = 1});
    BOOST_TEST(conv(param({2, 3, 8, 8}, 13)).shape() == Shape({2, 8, 8, 8}));
    BOOST_TEST((ExpandingArray<2>(1) == ExpandingArray<2>(1, 1)));
    BOOST_TEST(ExpandingArray<2>(std::array<int, 2>{3, 5})[1] == 5);
    // leaving out kernel_size does not compile (no default); a list of the wrong length neither
    static_assert(!made_without_kernel_size<Conv2dOptions>);
    static_assert(made_with_kernel_size<Conv2dOptions>);
    static_assert(!std::is_constructible_v<ExpandingArray<2>, int, int, int>);
    static_assert(std::is_constructible_v<ExpandingArray<2>, int, long>);
    expect_error<ValueError>([&] { Conv2d<double>({.in_channels = 1, .out_channels = 2, .kernel_size = 0}); },
                             "Conv2d: kernel_size (0, 0) must be at least 1");
    expect_error<ValueError>(
        [&] {
            Conv2d<double>({.in_channels = 1, .out_channels = 2, .kernel_size = 3, .stride = {1, 0}});
        },
        "Conv2d: stride (1, 0) must be at least 1");
    expect_error<ValueError>(
        [&] { Conv1d<double>({.in_channels = 1, .out_channels = 2, .kernel_size = 3, .padding = -1}); },
        "Conv1d: padding (-1) must be at least 0");
    expect_error<ValueError>([&] { Conv2d<double>(0, 2, 3); }, "Conv2d: channels 0 -> 2 must be positive");
    expect_error<ValueError>([&] { MaxPool1d<double>(0); }, "MaxPool1d: kernel_size (0) must be at least 1");
    expect_error<ValueError>([&] { AvgPool2d<double>({.kernel_size = 2, .dilation = 2}); },
                             "AvgPool2d: dilation is not supported");
    MaxPool2d<double> pool(2);
    BOOST_TEST(pool(param({1, 1, 4, 6}, 14)).shape() == Shape({1, 1, 2, 3}));  // stride = kernel_size
}

BOOST_AUTO_TEST_CASE(normalisations_are_their_definitions_and_the_layers_their_functional_forms) {
    Tape tape;
    auto x = param({4, 6, 3}, 15);
    // group_norm: 2 groups of 3 channels, each over its channels and positions (biased variance)
    auto w = param({6}, 16), b = param({6}, 17);
    auto y = F::group_norm(x, 2, w, b, 1e-5).value();
    double worst = 0;
    for (std::size_t n = 0; n < 4; ++n)
        for (std::size_t g = 0; g < 2; ++g) {
            auto block = xt::view(x.value(), n, xt::range(3 * g, 3 * g + 3), xt::all());
            double m = xt::mean(block)(), v = xt::mean(xt::square(block - m))();
            for (std::size_t c = 3 * g; c < 3 * g + 3; ++c)
                for (std::size_t t = 0; t < 3; ++t)
                    worst = std::max(worst, std::abs((x.value()(n, c, t) - m) / std::sqrt(v + 1e-5) * w.value()(c) +
                                                     b.value()(c) - y(n, c, t)));
        }
    BOOST_TEST(worst < 1e-13);
    check_both([&] { return sin(F::group_norm(x, 3, w, b)); }, {x, w, b});
    GroupNorm<double> gn(2, 6);
    BOOST_TEST(gn.weight().shape() == Shape({6}));
    BOOST_TEST((gn(x).value() == F::group_norm(x, 2, gn.weight(), gn.bias()).value()));
    expect_error<ValueError>([&] { GroupNorm<double>(4, 6); }, "GroupNorm: 6 channels cannot be split into 4 groups");

    // batch_norm: the layer is the functional form with its buffers, in both modes
    BatchNorm<double> bn(6, 3);
    auto rm = Tensor::constant(Array<double>(xt::zeros<double>({6}))),
         rv = Tensor::constant(Array<double>(xt::ones<double>({6})));
    auto by = F::batch_norm(x, rm, rv, {.weight = bn.weight(), .bias = bn.bias(), .training = true});
    BOOST_TEST((bn(x).value() == by.value()));
    BOOST_TEST((bn.running_mean().value() == rm.value()));  // the functional form moved its statistics too
    BOOST_TEST((bn.running_var().value() == rv.value()));
    bn.eval();
    BOOST_TEST((bn(x).value() == F::batch_norm(x, rm, rv, {.weight = bn.weight(), .bias = bn.bias()}).value()));
    check_both([&] { return sin(F::batch_norm(x, Tensor(), Tensor(), {.weight = w, .bias = b, .training = true})); },
               {x, w, b});
    expect_error<ValueError>([&] { F::batch_norm(x, Tensor(), Tensor()); },
                             "batch_norm: evaluation (training = false) needs running_mean and running_var");

    LayerNorm<double> ln(Shape{3});
    BOOST_TEST(ln.weight().shape() == Shape({3}));
    BOOST_TEST((ln(x).value() == F::layer_norm(x, {3}, ln.weight(), ln.bias()).value()));
}

BOOST_AUTO_TEST_CASE(embedding_and_one_hot) {
    Tape tape;
    auto table = param({5, 3}, 18);
    auto rows = F::embedding(IndexArray{4, 0, 4}, table).value();
    BOOST_TEST(rows.shape() == Shape({3, 3}));
    BOOST_TEST(rows(0, 2) == table.value()(4, 2));
    Generator gen(1);
    Embedding<double> e(5, 3, gen);
    BOOST_TEST((e(IndexArray{1, 2}).value() == F::embedding(IndexArray{1, 2}, e.weight()).value()));
    expect_error<ValueError>([&] { F::embedding(IndexArray{5}, table); },
                             "embedding: index 5 at position 0 is out of range for 5 rows");
    auto h = F::one_hot(IndexArray{2, 0}, 3).value();
    BOOST_TEST((h == Array<double>{{0, 0, 1}, {1, 0, 0}}));
    expect_error<ValueError>([&] { F::one_hot(IndexArray{3}, 3); }, "one_hot");
}

BOOST_AUTO_TEST_CASE(initialisation_is_pytorchs_by_default_and_by_name) {
    Generator gen(7);
    // Linear(in, out): weight and bias U(-1/sqrt(in), 1/sqrt(in)), kaiming_uniform with a = sqrt(5)
    Linear<double> layer({.in = 400, .out = 300}, gen);
    double bound = 1.0 / std::sqrt(400.0);
    auto wv = layer.weight().value();
    BOOST_TEST(xt::amax(xt::abs(wv))() <= bound);
    BOOST_TEST(xt::amax(xt::abs(wv))() > 0.99 * bound);
    BOOST_TEST(std::abs(xt::variance(wv)() / (bound * bound / 3.0) - 1.0) < 0.02);  // U(-a, a): a^2 / 3
    BOOST_TEST(xt::amax(xt::abs(layer.bias().value()))() <= bound);
    BOOST_TEST(xt::amax(xt::abs(layer.bias().value()))() > 0.9 * bound);
    BOOST_TEST(init::calculate_gain("leaky_relu", std::sqrt(5.0)) == std::sqrt(2.0 / 6.0),
               boost::test_tools::tolerance(1e-15));
    BOOST_TEST(init::calculate_gain("tanh") == 5.0 / 3.0);
    expect_error<ValueError>([] { init::calculate_gain("swish"); }, "calculate_gain: unknown nonlinearity 'swish'");
    auto conv_w = Tensor::parameter(Array<double>(xt::zeros<double>({64, 16, 3, 3})));
    BOOST_TEST((init::fans(conv_w.shape()) == std::pair<std::size_t, std::size_t>{144, 576}));
    init::kaiming_normal_(conv_w, 0.0, init::FanMode::fan_in, "relu", gen);
    BOOST_TEST(std::abs(std::sqrt(xt::variance(conv_w.value())()) / std::sqrt(2.0 / 144.0) - 1.0) < 0.03);
    init::xavier_uniform_(conv_w, 1.0, gen);
    BOOST_TEST(xt::amax(xt::abs(conv_w.value()))() <= std::sqrt(6.0 / (144.0 + 576.0)));
    init::constant_(conv_w, 0.5);
    BOOST_TEST(xt::amin(conv_w.value())() == 0.5);
    auto v = Tensor::parameter(Array<double>{1.0, 2.0});
    expect_error<ValueError>([&] { init::kaiming_uniform_(v); }, "init: fans of a tensor of shape [2]");
}

namespace {
// A module whose forward takes two tensors and returns two (a VAE's encoder head) and one that
// takes a mask (attention): registered, named, saved, switched to eval and compiled like any.
struct Encoder : Module<double> {
    std::shared_ptr<Linear<double>> mean_head, log_var_head;
    explicit Encoder(Generator& gen)
        : mean_head(std::make_shared<Linear<double>>(LinearOptions{4, 2}, gen)),
          log_var_head(std::make_shared<Linear<double>>(LinearOptions{4, 2}, gen)) {
        register_module("mean", mean_head);
        register_module("log_var", log_var_head);
    }
    std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& noise) {
        auto m = (*mean_head)(x), lv = (*log_var_head)(x);
        return {m + exp(lv * 0.5) * noise, lv};
    }
    auto operator()(const Tensor& x, const Tensor& noise) {
        return scoped([&] { return forward(x, noise); });
    }
};
struct MaskedMean : Module<double> {
    Tensor forward(const Tensor& x, const Mask& keep) { return sum(where(keep, x, 0.0)) / sum(where(keep, 1.0, 0.0)); }
};
struct Model : Module<double> {
    std::shared_ptr<Encoder> encoder;
    std::shared_ptr<MaskedMean> pool = std::make_shared<MaskedMean>();
    explicit Model(Generator& gen) : encoder(std::make_shared<Encoder>(gen)) {
        register_module("encoder", encoder);
        register_module("pool", pool);
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(modules_with_several_inputs_and_outputs_are_modules) {
    Generator gen(3);
    Model model(gen);
    std::vector<std::string> names;
    for (auto& [name, p] : model.named_parameters()) names.push_back(name);
    BOOST_TEST(names == (std::vector<std::string>{"encoder.mean.weight", "encoder.mean.bias", "encoder.log_var.weight",
                                                  "encoder.log_var.bias"}));
    model.eval();
    BOOST_TEST(!model.encoder->mean_head->is_training());
    Array<double> x = uniform({3, 4}, 19), noise = uniform({3, 2}, 20);
    auto loss_of = [&](const Tensor& xs, const Tensor& ns) {
        auto [z, log_var] = (*model.encoder)(xs, ns);
        return model.pool->forward(square(z), z > 0.0) + sum(log_var);
    };
    Tape tape;
    double eager = loss_of(Tensor::constant(x), Tensor::constant(noise)).item();
    auto compiled = compile<double>([&](const TensorList<double>& in) { return loss_of(in[0], in[1]); });
    BOOST_TEST(compiled({x, noise})(0) == eager);
    BOOST_TEST(compiled({x, noise})(0) == eager);  // a replay
    // saved and loaded as any module
    const auto file = std::filesystem::temp_directory_path() / "xtgrad_any_signature.npz";
    save_parameters(model, file.string());
    Generator other(4);
    Model copy(other);
    load_parameters(copy, file.string());
    std::filesystem::remove(file);
    BOOST_TEST((copy.encoder->mean_head->weight().value() == model.encoder->mean_head->weight().value()));
    BOOST_TEST(model.encoder->type_name() == "Encoder");
}

BOOST_AUTO_TEST_CASE(pytorch_shaped_constructors_and_loader_samples) {
    Tape tape;
    // Conv2d(in, out, kernel, stride, padding): PyTorch's positional order, the same layer as the options
    Conv2d<double> positional(2, 4, 3, 2, 1);
    BOOST_TEST((positional.options().stride == ExpandingArray<2>(2)));
    BOOST_TEST((positional.options().padding == ExpandingArray<2>(1)));
    BOOST_TEST(positional(param({1, 2, 7, 7}, 40)).shape() == Shape({1, 4, 4, 4}));
    Conv2d<double> geometry(2, 4, 3, {.stride = 2, .padding = 1});
    BOOST_TEST((geometry.options().stride == positional.options().stride));
    // BatchNorm1d takes [N, C] and [N, C, L]; BatchNorm2d images
    BatchNorm1d<double> bn1(3);
    BOOST_TEST(bn1(param({4, 3}, 41)).shape() == Shape({4, 3}));
    BOOST_TEST(bn1(param({4, 3, 5}, 42)).shape() == Shape({4, 3, 5}));
    expect_error<ShapeError>([&] { bn1(param({4, 3, 2, 2}, 43)); }, "expects 2 or 3 dimensions [N, 3, ...]");
    BatchNorm2d<double> bn2(3);
    expect_error<ShapeError>([&] { bn2(param({4, 3}, 44)); }, "expects 4 dimensions");
    // Sequential(layers...) and register_module's returned child
    Sequential<double> seq(std::make_shared<Linear<double>>(3, 2), std::make_shared<Tanh<double>>());
    BOOST_TEST(seq.size() == 2u);
    BOOST_TEST(seq.named_parameters()[0].first == "0.weight");
    // a loader's rows as samples of a shape; the table's rows selected by range
    Table table{Array<double>(xt::arange<double>(24.0).reshape({3, 8})), Array<double>{0.0, 1.0, 0.0}};
    DataLoader<double> loader(row_range(table, 1, 3), {.batch_size = 2, .shuffle = false, .sample_shape = {2, 2, 2}});
    auto batch = *loader.begin();
    BOOST_TEST(batch.x.shape() == Shape({2, 2, 2, 2}));
    BOOST_TEST(batch.x.value()(0, 0, 0, 0) == 8.0);  // row 1 of the table
    expect_error<ShapeError>([&] { DataLoader<double>(table, {.sample_shape = {3, 3}}); },
                             "DataLoader: sample_shape [3,3] (9 elements) for rows of 8 features");
    expect_error<ValueError>([&] { row_range(table, 2, 4); }, "row_range: rows [2, 4) of a table of 3 rows");
}
