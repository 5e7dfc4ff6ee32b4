// Convolution, pooling, flatten, dropout, layer norm and embedding: values against direct
// computations, first and second derivatives against finite differences on small shapes.
#include <filesystem>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(conv2d_matches_a_direct_convolution) {
    std::mt19937_64 rng(1);
    nn::Conv2d<double> conv({.in_channels = 4,
                             .out_channels = 6,
                             .kernel_size = {3, 2},
                             .stride = {2, 1},
                             .padding = {1, 0},
                             .dilation = {1, 2},
                             .groups = 2},
                            rng);
    Tape tape;
    auto bias = conv.bias();
    bias.set_value(uniform({6}, 2));
    auto x = param({2, 4, 7, 6}, 3);
    auto y = conv(x);
    BOOST_TEST(y.shape() == (Shape{2, 6, 4, 4}));  // (7 + 2 - 2 - 1) / 2 + 1, (6 - 2 - 1) / 1 + 1
    const auto& w = conv.weight().value();
    double worst = 0;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t o = 0; o < 6; ++o)
            for (std::size_t oy = 0; oy < 4; ++oy)
                for (std::size_t ox = 0; ox < 4; ++ox) {
                    double s = bias.value()(o);
                    std::size_t g = o / 3;
                    for (std::size_t c = 0; c < 2; ++c)
                        for (std::size_t ky = 0; ky < 3; ++ky)
                            for (std::size_t kx = 0; kx < 2; ++kx) {
                                long yy = long(oy * 2 + ky) - 1, xx = long(ox + kx * 2);
                                if (yy < 0 || yy >= 7 || xx >= 6) continue;
                                s += x.value()(n, g * 2 + c, yy, xx) * w(o, c, ky, kx);
                            }
                    worst = std::max(worst, std::abs(s - y.value()(n, o, oy, ox)));
                }
    BOOST_TEST(worst < 1e-13);
}

BOOST_AUTO_TEST_CASE(conv_pool_flatten_to_second_order) {
    std::mt19937_64 rng(4);
    nn::Conv2d<double> conv({.in_channels = 2, .out_channels = 3, .kernel_size = 2, .padding = 1}, rng);
    nn::MaxPool2d<double> max_pool({.kernel_size = 2});
    nn::AvgPool2d<double> avg_pool({.kernel_size = 3, .stride = {1, 2}, .padding = 1});
    nn::Flatten<double> flatten;
    Tape tape;
    auto x = param({2, 2, 5, 4}, 5);
    auto params = conv.parameters();
    params.push_back(x);
    check_both([&] { return sum(square(flatten(conv(x)))); }, params);
    check_both([&] { return sin(max_pool(conv(x))); }, params);
    check_both([&] { return square(avg_pool(x)); }, {x});
    auto pooled =
        max_pool(Tensor::constant({1.0, 5.0, 2.0, 0.0, -1.0, 3.0, 4.0, -2.0, 0.5, 0.5, 0.25, 9.0, 7.0, 6.0, 8.0, 1.0},
                                  {1, 1, 4, 4}))
            .value();
    BOOST_TEST(pooled(0, 0, 0, 0) == 5.0);
    BOOST_TEST(pooled(0, 0, 0, 1) == 4.0);
    BOOST_TEST(pooled(0, 0, 1, 1) == 9.0);
    {  // ties send the gradient to the first maximum (PyTorch); a NaN is its window's maximum
        auto img = Tensor::parameter({2.0, 2.0, 0.0, 1.0, 2.0, 2.0, 1.0, std::nan(""), 3.0, 1.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0},
                                     {1, 1, 4, 4});
        auto out = max_pool(img);
        sum(out * Tensor::constant({10.0, 20.0, 30.0, 40.0}, {1, 1, 2, 2})).backward();
        BOOST_TEST(std::isnan(out.value()(0, 0, 0, 1)));
        BOOST_TEST((img.grad() == Array<double>({{{{10, 0, 0, 0}, {0, 0, 0, 20}, {30, 0, 40, 0}, {0, 0, 0, 0}}}})));
    }
    {  // kernel 3, stride 2 on 7 x 6: against the windows' maxima taken directly
        nn::MaxPool2d<double> pool3({.kernel_size = 3, .stride = 2});
        auto img = param({2, 3, 7, 6}, 12);
        auto out = pool3(img).value();
        BOOST_TEST(out.shape() == (Shape{2, 3, 3, 2}));
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t oy = 0; oy < 3; ++oy)
                    for (std::size_t ox = 0; ox < 2; ++ox) {
                        double m = -1e300;
                        for (std::size_t ky = 0; ky < 3; ++ky)
                            for (std::size_t kx = 0; kx < 3; ++kx)
                                m = std::max(m, img.value()(n, c, 2 * oy + ky, 2 * ox + kx));
                        BOOST_TEST(out(n, c, oy, ox) == m);
                    }
        check_both([&] { return sin(pool3(img)); }, {img});
    }
    BOOST_TEST(flatten(x).shape() == (Shape{2, 40}));
    expect_error<ShapeError>(
        [&] {
            conv(param({2, 3, 5, 4}, 6));
        },
        "Conv2d: expects images [N, 2, H, W], got shape [2,3,5,4]");
    expect_error<ValueError>([&] { nn::MaxPool2d<double>({.kernel_size = 2, .padding = 2}); },
                             "MaxPool2d: padding 2 is more than half the kernel 2");
    expect_error<ValueError>([&] { nn::MaxPool2d<double>({.kernel_size = 0}); },
                             "MaxPool2d: kernel_size (0, 0) must be at least 1");
    expect_error<ValueError>(
        [&] { nn::Conv2d<double>({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .groups = 2}, rng); },
        "Conv2d: channels 3 -> 4 must be positive and divisible by groups 2");
}

namespace {
// Window (oy, ox) of a pooling layer over pixels (y, x) of channel (n, c), taken directly:
// rows move by stride[0] and span kernel[0], columns by stride[1] and kernel[1]; padding
// counts as zeros (AvgPool2d's mean includes them, as PyTorch's count_include_pad).
struct Window {
    const Array<double>& img;
    std::array<std::size_t, 2> kernel, stride, padding;
    template <class F>
    void each(std::size_t n, std::size_t c, std::size_t oy, std::size_t ox, F f) const {
        for (std::size_t ky = 0; ky < kernel[0]; ++ky)
            for (std::size_t kx = 0; kx < kernel[1]; ++kx) {
                long y = long(oy * stride[0] + ky) - long(padding[0]), x = long(ox * stride[1] + kx) - long(padding[1]);
                bool inside = y >= 0 && x >= 0 && y < long(img.shape()[2]) && x < long(img.shape()[3]);
                f(inside ? img(n, c, std::size_t(y), std::size_t(x)) : 0.0, y, x);
            }
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(pooling_over_non_square_windows_and_strides_is_the_direct_computation) {
    Tape tape;
    auto img = param({2, 3, 9, 8}, 21);  // no ties: each window has one maximum
    struct Case {
        std::array<std::size_t, 2> kernel, stride, padding;
        Shape out;
    };
    for (const Case& k : {Case{{2, 3}, {1, 2}, {0, 0}, {2, 3, 8, 3}}, Case{{3, 2}, {2, 1}, {0, 0}, {2, 3, 4, 7}},
                          Case{{1, 4}, {3, 2}, {0, 0}, {2, 3, 3, 3}}, Case{{4, 1}, {1, 3}, {0, 0}, {2, 3, 6, 3}}}) {
        nn::MaxPool2d<double> pool({.kernel_size = k.kernel, .stride = k.stride});
        auto out = pool(img);
        BOOST_TEST(out.shape() == k.out);
        // each output's gradient lands on its window's maximum: weights 1, 2, 3, ... tell them apart
        Array<double> weights = xt::arange<double>(1.0, double(out.size()) + 1.0);
        weights.reshape(out.shape());
        auto g = grad(sum(out * Tensor::constant(weights)), {img})[0].value();
        Array<double> expected_grad = xt::zeros<double>(img.shape());
        Window w{img.value(), k.kernel, k.stride, k.padding};
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t oy = 0; oy < k.out[2]; ++oy)
                    for (std::size_t ox = 0; ox < k.out[3]; ++ox) {
                        double m = -1e300;
                        long my = 0, mx = 0;
                        w.each(n, c, oy, ox, [&](double v, long y, long x) {
                            if (v > m) m = v, my = y, mx = x;
                        });
                        BOOST_TEST(out.value()(n, c, oy, ox) == m);
                        expected_grad(n, c, std::size_t(my), std::size_t(mx)) += weights(n, c, oy, ox);
                    }
        BOOST_TEST((g == expected_grad));
    }
    for (const Case& k : {Case{{2, 3}, {1, 2}, {1, 0}, {2, 3, 10, 3}}, Case{{3, 2}, {2, 3}, {1, 1}, {2, 3, 5, 3}}}) {
        nn::AvgPool2d<double> pool({.kernel_size = k.kernel, .stride = k.stride, .padding = k.padding});
        auto out = pool(img).value();
        BOOST_TEST(out.shape() == k.out);
        Window w{img.value(), k.kernel, k.stride, k.padding};
        double worst = 0;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t oy = 0; oy < k.out[2]; ++oy)
                    for (std::size_t ox = 0; ox < k.out[3]; ++ox) {
                        double s = 0;
                        w.each(n, c, oy, ox, [&](double v, long, long) { s += v; });
                        worst = std::max(worst, std::abs(s / double(k.kernel[0] * k.kernel[1]) - out(n, c, oy, ox)));
                    }
        BOOST_TEST(worst < 1e-15);
    }
}

// Geometry a careless or hostile caller passes: padding near 2^31 (it spun), "negative"
// sizes converted to size_t (they wrapped to all-zero outputs), and padding whose patches no
// machine holds (an untyped std::bad_alloc, or with an overcommitting kernel a process
// filling memory until killed): typed errors naming the op, before anything is allocated.
BOOST_AUTO_TEST_CASE(padding_that_wraps_or_cannot_fit_is_refused_before_allocating) {
    std::mt19937_64 rng(1);
    Tape tape;
    auto x = param({1, 1, 8, 8}, 40);
    auto conv = [&](std::size_t pad) {
        return nn::Conv2d<double>({.in_channels = 1, .out_channels = 1, .kernel_size = 3, .padding = {pad, pad}}, rng)(x);
    };
    auto avg = [&](std::size_t pad) { return nn::AvgPool2d<double>({.kernel_size = 3, .padding = {pad, pad}})(x); };
    for (std::size_t pad : {(std::size_t(1) << 31) - 3, (std::size_t(1) << 30) - 3, std::size_t(100000)}) {
        BOOST_TEST_CONTEXT("padding " << pad) {
            expect_error<MemoryError>([&] { conv(pad); }, "unfold2d");
            expect_error<ValueError>([&] { avg(pad); }, "AvgPool2d: padding " + std::to_string(pad) +
                                                            " is more than half the kernel 3");
            expect_error<MemoryError>([&] { unfold2d(x, {.kernel = {3, 3}, .padding = {pad, pad}}); }, "unfold2d");
        }
    }
    // "negative" sizes are refused where the layer is made, naming it and the value as given
    for (std::size_t pad : {std::size_t(-1), std::size_t(1) << 63}) {
        BOOST_TEST_CONTEXT("padding " << pad) {
            expect_error<ValueError>([&] { conv(pad); }, "Conv2d: padding (-");
            expect_error<ValueError>([&] { avg(pad); }, "AvgPool2d: padding (-");
        }
    }
    expect_error<ValueError>([&] { conv(std::size_t(-1)); }, "Conv2d: padding (-1, -1) must be at least 0");
    expect_error<ValueError>([&] { conv(std::size_t(1) << 31); }, "unfold2d: padding [2147483648");
    expect_error<ValueError>(
        [&] { unfold2d(x, {.kernel = {3, 3}, .stride = {std::size_t(-2), 1}}); }, "unfold2d: stride [");
    // a large padding that fits is computed: all zeros around the image
    auto wide = unfold2d(x, {.kernel = {1, 1}, .padding = {100, 0}});
    BOOST_TEST(wide.shape() == (Shape{1, 208 * 8, 1}));
    BOOST_TEST(std::abs(xt::sum(wide.value())() - xt::sum(x.value())()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(dropout_train_and_eval) {
    nn::Dropout<double> dropout(0.25, 7);
    Tape tape;
    auto x = Tensor::constant(Array<double>(xt::ones<double>({200, 50})));
    auto y = dropout(x).value();
    std::size_t zeros = 0;
    for (double e : y) {
        BOOST_TEST((e == 0.0 || std::abs(e - 1 / 0.75) < 1e-15));
        zeros += e == 0.0;
    }
    double fraction = double(zeros) / double(y.size());
    BOOST_TEST(std::abs(fraction - 0.25) < 0.02);  // 10000 draws: s.d. 0.004
    nn::Dropout<double> again(0.25, 7);
    BOOST_TEST(again(x).value() == y);  // seeded: reproducible
    dropout.eval();
    BOOST_TEST(dropout(x).value() == x.value());
    expect_error<ValueError>([] { nn::Dropout<double>(1.0); }, "Dropout: p must be in [0, 1)");
}

BOOST_AUTO_TEST_CASE(layer_norm_normalises_and_is_exact_to_second_order) {
    nn::LayerNorm<double> norm({3, 4});
    Tape tape;
    auto x = param({2, 3, 4}, 8);
    auto y = norm(x).value();
    for (std::size_t n = 0; n < 2; ++n) {
        double m = 0, v = 0;
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 4; ++j) m += y(n, i, j) / 12;
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 4; ++j) v += (y(n, i, j) - m) * (y(n, i, j) - m) / 12;
        BOOST_TEST(std::abs(m) < 1e-14);
        BOOST_TEST(std::abs(v - 1) < 1e-4);  // eps = 1e-5 in the denominator
    }
    {  // eps inside the square root, with the biased variance (PyTorch's), visible at eps = 0.25
        nn::LayerNorm<double> wide({3, 4}, 0.25);
        auto z = wide(x).value();
        double worst = 0;
        for (std::size_t n = 0; n < 2; ++n) {
            double m = 0, v = 0;
            for (std::size_t k = 0; k < 12; ++k) m += x.value().data()[n * 12 + k] / 12;
            for (std::size_t k = 0; k < 12; ++k) v += std::pow(x.value().data()[n * 12 + k] - m, 2) / 12;
            for (std::size_t k = 0; k < 12; ++k)
                worst = std::max(worst, std::abs((x.value().data()[n * 12 + k] - m) / std::sqrt(v + 0.25) -
                                                 z.data()[n * 12 + k]));
        }
        BOOST_TEST(worst < 1e-14);
    }
    auto params = norm.parameters();
    for (auto& p : params) p.set_value(uniform(p.shape(), 9));
    params.push_back(x);
    check_both([&] { return norm(x); }, params);
    expect_error<ShapeError>(
        [&] {
            norm(param({2, 4, 3}, 10));
        },
        "LayerNorm([3,4]): input of shape [2,4,3] must end in [3,4]");
}

BOOST_AUTO_TEST_CASE(embedding_looks_up_rows) {
    std::mt19937_64 rng(11);
    nn::Embedding<double> embedding(5, 3, rng);
    Tape tape;
    Array<std::int64_t> idx = {{4, 0}, {4, 2}};
    auto y = embedding.forward(IndexArray(idx));
    BOOST_TEST(y.shape() == (Shape{2, 2, 3}));
    BOOST_TEST(y.value()(1, 1, 2) == embedding.weight().value()(2, 2));
    sum(y).backward();
    BOOST_TEST(embedding.weight().grad()(4, 0) == 2.0);  // used twice
    BOOST_TEST(embedding.weight().grad()(1, 0) == 0.0);
    check_both([&] { return square(embedding(Tensor::constant({1.0, 3.0, 3.0}, {3}))); }, embedding.parameters());
    expect_error<ValueError>([&] { embedding(Tensor::constant({1.5}, {1})); }, "not a whole number");
    // issue 25: infinities and 1e30 became INT64_MIN in a cast; now each is refused first
    for (double v : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 1e30, -1e30,
                     std::nan("")})
        expect_error<ValueError>([&] { embedding(Tensor::constant({0.0, v}, {2})); }, "at [1] of the indices");
    expect_error<ValueError>([&] { embedding.forward(IndexArray{5}); }, "index 5 at position 0 is out of range");
}

BOOST_AUTO_TEST_CASE(batch_norm_train_eval_running_statistics_and_checkpoints) {
    nn::BatchNorm<double> bn(3, 4, 1e-5, 0.1);
    Tape tape;
    auto x = param({4, 3, 2, 2}, 12);
    auto y = bn(x).value();
    // each channel of the output has mean 0 and (biased) variance 1 up to eps
    for (std::size_t c = 0; c < 3; ++c) {
        double m = 0, v = 0, bm = 0, bv = 0;
        for (std::size_t n = 0; n < 4; ++n)
            for (std::size_t i = 0; i < 4; ++i) {
                m += y(n, c, i / 2, i % 2) / 16;
                bm += x.value()(n, c, i / 2, i % 2) / 16;
            }
        for (std::size_t n = 0; n < 4; ++n)
            for (std::size_t i = 0; i < 4; ++i) {
                v += (y(n, c, i / 2, i % 2) - m) * (y(n, c, i / 2, i % 2) - m) / 16;
                bv += (x.value()(n, c, i / 2, i % 2) - bm) * (x.value()(n, c, i / 2, i % 2) - bm) / 15;
            }
        BOOST_TEST(std::abs(m) < 1e-14);
        BOOST_TEST(std::abs(v - 1) < 1e-4);
        BOOST_TEST(std::abs(bn.running_mean().value()(c) - 0.1 * bm) < 1e-15);
        BOOST_TEST(std::abs(bn.running_var().value()(c) - (0.9 + 0.1 * bv)) < 1e-15);  // unbiased
    }
    auto params = bn.parameters();
    for (auto& p : params) p.set_value(uniform(p.shape(), 13));
    params.push_back(x);
    check_both([&] { return sin(bn(x)); }, params);  // through the batch statistics
    bn.eval();
    Array<double> before = bn.running_mean().value();
    auto e = bn(x).value();
    BOOST_TEST(bn.running_mean().value() == before);  // evaluation leaves the statistics alone
    double expected =
        (x.value()(1, 2, 0, 1) - before(2)) / std::sqrt(bn.running_var().value()(2) + 1e-5) * params[0].value()(2) +
        params[1].value()(2);
    BOOST_TEST(std::abs(e(1, 2, 0, 1) - expected) < 1e-14);
    check_both([&] { return square(bn(x)); }, params);
    // the running statistics travel with the parameters
    auto path = (std::filesystem::temp_directory_path() / "xtgrad_batchnorm.npz").string();
    nn::save_parameters(bn, path);
    nn::BatchNorm<double> restored(3, 4);
    nn::load_parameters(restored, path);
    std::filesystem::remove(path);
    BOOST_TEST(restored.running_var().value() == bn.running_var().value());
    BOOST_TEST(bn.named_buffers().size() == 2u);
    expect_error<ShapeError>(
        [&] {
            bn(param({4, 2, 2, 2}, 14));
        },
        "BatchNorm(3 channels): expects 4 dimensions [N, 3, ...]");
    nn::BatchNorm<double> one_d(3, 2);
    expect_error<ValueError>([&] { one_d(param({1, 3}, 15)); }, "more than one value per channel");
}
