// Compiled training equals eager training bit for bit on models whose forward makes decisions
// from values or changes state: a CNN with BatchNorm2d, ReLU, MaxPool2d and Dropout trained
// with Adam (loss per epoch, parameters, running statistics, then evaluation mode), an LSTM and
// a causal-attention block written from ops (masks through comparisons and where). Before masks,
// draws, buffers and guards were recorded, the CNN trained through CompiledLoss to another
// model with no error (92 % against 98 % on the full digits).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

namespace {

template <class T>
bool same_bits(const Array<T>& a, const Array<T>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

std::shared_ptr<nn::Sequential<float>> cnn(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto net = std::make_shared<nn::Sequential<float>>();
    net->push_back(std::make_shared<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = 1, .out_channels = 6, .kernel_size = 3, .padding = 1}, rng));
    net->push_back(std::make_shared<nn::BatchNorm<float>>(6, 4));
    net->push_back(std::make_shared<nn::ReLU<float>>());
    net->push_back(std::make_shared<nn::MaxPool2d<float>>(nn::Pool2dOptions{.kernel_size = 2}));  // 6 x 4 x 4
    net->push_back(std::make_shared<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = 6, .out_channels = 8, .kernel_size = 3, .padding = 1}, rng));
    net->push_back(std::make_shared<nn::Dropout<float>>(0.25, seed + 1));
    net->push_back(std::make_shared<nn::Flatten<float>>());
    net->push_back(std::make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 128, .out = 10}, rng));
    return net;
}

struct Digits {
    Array<float> images, targets;  // [n, 1, 8, 8], one-hot [n, 10]
};

Digits digits(std::size_t n) {
    auto all = nn::load_csv(std::string(XTGRAD_DATA_DIR) + "/digits.csv.gz");
    Digits d;
    d.images = Array<float>::from_shape({n, 1, 8, 8});
    for (std::size_t i = 0; i < n * 64; ++i) d.images.data()[i] = float(all.features.data()[i] / 16.0);
    auto labels = nn::to_labels(all.target);
    labels.resize(n);
    d.targets = xt::cast<float>(nn::one_hot(labels, 10));
    return d;
}

Array<float> rows(const Array<float>& a, const std::vector<std::size_t>& idx) {
    Shape s = a.shape();
    const std::size_t row = a.size() / s[0];
    s[0] = idx.size();
    Array<float> out = Array<float>::from_shape(s);
    for (std::size_t i = 0; i < idx.size(); ++i)
        std::copy(a.data() + idx[i] * row, a.data() + (idx[i] + 1) * row, out.data() + i * row);
    return out;
}

struct Run {
    std::vector<double> epoch_loss;
    nn::NamedTensors<float> parameters, buffers;
    Array<float> eval_output;
    std::size_t traces = 0;
};

Run train(bool compiled, std::size_t epochs) {
    auto data = digits(192);
    auto model = cnn(5);
    optim::Adam<float> adam(model->parameters(), {.lr = 1e-2});
    CompiledLoss<float> loss(model->parameters(), [&](const TensorList<float>& in) {
        return nn::cross_entropy((*model)(in[0]), in[1]);
    });
    Run run;
    for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
        model->train();
        double total = 0;
        for (const auto& batch : nn::batches(192, 64, true, 100 + epoch)) {
            std::vector<Array<float>> b{rows(data.images, batch), rows(data.targets, batch)};
            if (compiled) {
                total += loss(b);
            } else {
                Tape tape;
                adam.zero_grad();
                auto l = nn::cross_entropy((*model)(Tensor32::constant(b[0])), Tensor32::constant(b[1]));
                l.backward();
                total += double(l.item());
            }
            adam.step();
        }
        run.epoch_loss.push_back(total);
    }
    // evaluation mode: the running statistics, no dropout
    model->eval();
    auto forward = compile<float>([&](const TensorList<float>& in) { return (*model)(in[0]); });
    Array<float> x = rows(data.images, {0, 1, 2, 3, 4, 5, 6, 7});
    if (compiled) {
        run.eval_output = forward({x});
    } else {
        NoGrad no_grad;
        run.eval_output = (*model)(Tensor32::constant(x)).value();
    }
    run.parameters = model->named_parameters();
    run.buffers = model->named_buffers();
    run.traces = loss.traces();
    return run;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_cnn_with_batchnorm_maxpool_and_dropout_trains_compiled_as_eager_bit_for_bit) {
    const std::size_t epochs = 20;
    Run eager = train(false, epochs), compiled = train(true, epochs);
    BOOST_TEST(compiled.traces == 1u);  // one recording, replayed at every step
    for (std::size_t e = 0; e < epochs; ++e) BOOST_TEST(compiled.epoch_loss[e] == eager.epoch_loss[e], "epoch " << e);
    BOOST_TEST(eager.epoch_loss.back() < 0.5 * eager.epoch_loss.front());  // it learned
    for (std::size_t i = 0; i < eager.parameters.size(); ++i)
        BOOST_TEST(same_bits(compiled.parameters[i].second.value(), eager.parameters[i].second.value()),
                   eager.parameters[i].first);
    BOOST_TEST(eager.buffers.size() == 2u);
    for (std::size_t i = 0; i < eager.buffers.size(); ++i)
        BOOST_TEST(same_bits(compiled.buffers[i].second.value(), eager.buffers[i].second.value()),
                   eager.buffers[i].first);
    BOOST_TEST(same_bits(compiled.eval_output, eager.eval_output));
}

BOOST_AUTO_TEST_CASE(switching_to_eval_selects_another_recording_and_back) {
    // Dropout alone: in training a fresh mask per call, in evaluation the identity
    nn::Dropout<double> drop(0.5, 3);
    auto f = compile<double>([&](const TensorList<double>& in) { return sum(drop(in[0])); });
    Array<double> ones = xt::ones<double>({16});
    double first = f({ones})(), second = f({ones})();
    BOOST_TEST(first != second);  // a new mask: the generator moved on
    drop.generator().set_offset(0);
    nn::Dropout<double> eager_drop(0.5, 3);
    {
        NoGrad no_grad;
        BOOST_TEST(sum(eager_drop(Tensor::constant(ones))).item() == f({ones})());  // the first mask again
    }
    drop.eval();
    BOOST_TEST(f({ones})() == 16.0);  // no units dropped
    BOOST_TEST(f.traces() == 2u);
    drop.train();
    BOOST_TEST(f({ones})() != 16.0);
    BOOST_TEST(f.traces() == 2u);  // the training recording again
}

BOOST_AUTO_TEST_CASE(batchnorm_running_statistics_move_on_every_replay) {
    nn::BatchNorm<double> bn(3, 2);
    nn::BatchNorm<double> eager_bn(3, 2);
    auto f = compile<double>([&](const TensorList<double>& in) { return sum(bn(in[0])); });
    for (int step = 0; step < 50; ++step) {
        Array<double> x = uniform({8, 3}, 50 + std::uint64_t(step)) + 5.0;
        f({x});
        Tape tape;
        eager_bn(Tensor::constant(x));
    }
    BOOST_TEST(same_bits(bn.running_mean().value(), eager_bn.running_mean().value()));
    BOOST_TEST(same_bits(bn.running_var().value(), eager_bn.running_var().value()));
    BOOST_TEST(std::abs(bn.running_mean().value()(0) - 5.0) < 0.5);
}

namespace {
// An LSTM over a [T, B, D] sequence, from ops: gates i, f, g, o from one product each step.
Tensor lstm_loss(const TensorList<double>& in) {
    const Tensor &x = in[0], &wx = in[1], &wh = in[2], &b = in[3];
    const std::size_t steps = x.shape()[0], batch = x.shape()[1], d = x.shape()[2], h4 = wx.shape()[1];
    const auto hidden = std::ptrdiff_t(h4 / 4);
    Tensor h = Tensor::constant(xt::zeros<double>({batch, h4 / 4})), c = h;
    Tensor total;
    for (std::size_t t = 0; t < steps; ++t) {
        auto xt_ = reshape(slice(x, 0, std::ptrdiff_t(t), std::ptrdiff_t(t + 1)), {batch, d});
        auto gates = matmul(xt_, wx) + matmul(h, wh) + b;
        auto i = sigmoid(slice(gates, 1, 0, hidden)), f = sigmoid(slice(gates, 1, hidden, 2 * hidden));
        auto g = tanh(slice(gates, 1, 2 * hidden, 3 * hidden)), o = sigmoid(slice(gates, 1, 3 * hidden, 4 * hidden));
        c = f * c + i * g;
        h = o * tanh(c);
        auto step = sum(square(h));
        total = total.defined() ? total + step : step;
    }
    return total;
}

// One head of causal self-attention over [T, D] with a key-padding mask given as data (1 where
// a key is padding): future and padded keys are masked through where, the mask recomputed at
// every replay from the input.
Tensor attention_loss(const TensorList<double>& in) {
    const Tensor &x = in[0], &wq = in[1], &wk = in[2], &wv = in[3], &padding = in[4];
    const std::size_t steps = x.shape()[0];
    auto q = matmul(x, wq), k = matmul(x, wk), v = matmul(x, wv);
    auto scores = matmul(q, transpose(k)) * (1.0 / std::sqrt(double(wq.shape()[1])));
    auto future = Tensor::constant(xt::ones<double>({steps, steps})) - tril(Tensor::constant(xt::ones<double>({steps, steps})));
    Mask allowed = (future < 0.5) && (reshape(padding, {1, steps}) < 0.5);
    auto weights = softmax(where(allowed, scores, -1e9), 1);
    return sum(square(matmul(weights, v)));
}

void check_replays(const std::function<Tensor(const TensorList<double>&)>& f,
                   const std::function<std::vector<Array<double>>(std::uint64_t)>& inputs, const char* name) {
    auto c = compile<double>(f, {.check = true});
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        auto at = inputs(seed);
        Tape tape;
        TensorList<double> p;
        for (auto& a : at) p.push_back(Tensor::parameter(a));
        auto out = f(p);
        auto g = grad(out, p, false, true);
        auto [cv, cg] = c.value_and_grad(at);
        BOOST_TEST(cv == out.item(), name << " seed " << seed);
        for (std::size_t i = 0; i < g.size(); ++i) BOOST_TEST(same_bits(cg[i], g[i].value()), name << " gradient " << i);
        std::vector<Array<double>> v;
        for (auto& a : at) v.push_back(uniform(a.shape(), seed + 77));
        TensorList<double> vs;
        for (auto& a : v) vs.push_back(Tensor::constant(a));
        auto hv = hvp([&] { return f(p); }, p, vs);
        auto chv = c.hvp(at, v);
        for (std::size_t i = 0; i < hv.size(); ++i) BOOST_TEST(same_bits(chv[i], hv[i].value()), name << " hvp " << i);
    }
    BOOST_TEST(c.traces() == 2u, name);
}
}  // namespace

BOOST_AUTO_TEST_CASE(an_lstm_from_ops_replays_as_eager) {
    check_replays(lstm_loss,
                  [](std::uint64_t s) {
                      return std::vector<Array<double>>{uniform({5, 3, 4}, s), 0.5 * uniform({4, 8}, s + 10),
                                                        0.5 * uniform({2, 8}, s + 20), uniform({8}, s + 30)};
                  },
                  "lstm");
}

BOOST_AUTO_TEST_CASE(causal_attention_with_a_padding_mask_replays_as_eager) {
    check_replays(attention_loss,
                  [](std::uint64_t s) {
                      Array<double> padding = xt::zeros<double>({6});
                      for (std::size_t k = 6 - s; k < 6; ++k) padding(k) = 1.0;  // the last s keys
                      return std::vector<Array<double>>{uniform({6, 4}, s), uniform({4, 3}, s + 10),
                                                        uniform({4, 3}, s + 20), uniform({4, 3}, s + 30), padding};
                  },
                  "attention");
}

BOOST_AUTO_TEST_CASE(embedding_indices_and_slogdet_signs_are_replayed) {
    std::mt19937_64 rng(1);
    nn::Embedding<double> emb(5, 3, rng);
    auto f = compile<double>([&](const TensorList<double>& in) { return sum(square(emb(in[0]))); });
    f({Array<double>{0.0, 1.0}});
    Array<double> w = emb.weight().value();
    BOOST_TEST(f({Array<double>{4.0, 4.0}})() == 2 * (w(4, 0) * w(4, 0) + w(4, 1) * w(4, 1) + w(4, 2) * w(4, 2)));
    expect_error<ValueError>([&] { f({Array<double>{1e6, 0.0}}); }, "index_select: index 1000000 at [0]");
    auto s = compile<double>([](const TensorList<double>& in) { return slogdet(in[0]).sign * 1.0; });
    BOOST_TEST(s({Array<double>{{2.0, 0.0}, {0.0, 3.0}}})() == 1.0);
    BOOST_TEST(s({Array<double>{{-2.0, 0.0}, {0.0, 3.0}}})() == -1.0);
}

BOOST_AUTO_TEST_CASE(a_captured_parameter_that_changed_shape_is_traced_anew) {
    auto w = Tensor::parameter(Array<double>{1.0, 2.0});
    auto f = compile<double>([&](const TensorList<double>& in) { return sum(w * in[0]); });
    BOOST_TEST(f({Array<double>{1.0}})() == 3.0);
    w.mutable_value() = Array<double>{1.0, 2.0, 3.0, 4.0};
    BOOST_TEST(f({Array<double>{1.0}})() == 10.0);
    BOOST_TEST(f.traces() == 2u);
}

namespace {
// A layer that scales by its input's largest value read on the host: refused at trace time
// unless frozen on purpose, and then caught by the check mode, which names the layer.
struct HostScale : nn::Layer<double> {
    bool frozen = false;
    Tensor forward(const Tensor& x) override {
        double top = 0;
        if (frozen) {
            FrozenReads on_purpose;
            top = xt::amax(x.value())();
        } else {
            top = xt::amax(x.value())();
        }
        return x * top;
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(trace_errors_and_the_check_mode_name_the_layer) {
    std::mt19937_64 rng(2);
    nn::Sequential<double> model;
    model.push_back(std::make_shared<nn::Linear<double>>(nn::LinearOptions{.in = 3, .out = 2}, rng));
    auto scale = std::make_shared<HostScale>();
    model.push_back(scale);
    auto f = compile<double>([&](const TensorList<double>& in) { return sum(model(in[0])); }, {.check = true});
    expect_error<TraceError>([&] { f({uniform({4, 3}, 1)}); }, "computed by op 'matmul' in 0 (Linear)");
    scale->frozen = true;
    f({uniform({4, 3}, 1)});
    expect_error<TraceError>([&] { f({uniform({4, 3}, 2)}); }, "('mul' in 1 (HostScale)) is the first to differ");
}

BOOST_AUTO_TEST_CASE(a_buffer_of_ones_is_not_taken_for_a_constant_of_ones) {
    // The plan removes products by constants of ones; a buffer holds ones at the trace only.
    struct Scaled : nn::Layer<double> {
        Tensor scale = this->register_buffer("scale", xt::ones<double>({3}));
        Tensor forward(const Tensor& x) override { return x * scale; }
    } m;
    auto f = compile<double>([&](const TensorList<double>& in) { return sum(m(in[0])); });
    Array<double> x{1.0, 2.0, 3.0};
    BOOST_TEST(f({x})() == 6.0);
    m.scale.assign(Tensor::constant(Array<double>{2.0, 2.0, 2.0}));
    BOOST_TEST(f({x})() == 12.0);
}

// Issue 25: the compiled natural-gradient step on a max-pooling CNN blamed "a new batch" (the
// window maxima were frozen in its trace). Now they are an op: compiled and eager steps agree.
BOOST_AUTO_TEST_CASE(a_compiled_natural_gradient_step_on_a_max_pooling_cnn_follows_the_eager_one) {
    auto data = digits(64);
    Array<double> x = xt::cast<double>(data.images), t = xt::cast<double>(data.targets);
    struct Net {
        std::shared_ptr<nn::Sequential<double>> net = std::make_shared<nn::Sequential<double>>();
        explicit Net(std::uint64_t seed) {
            std::mt19937_64 rng(seed);
            net->push_back(std::make_shared<nn::Conv2d<double>>(
                nn::Conv2dOptions{.in_channels = 1, .out_channels = 4, .kernel_size = 3, .padding = 1}, rng));
            net->push_back(std::make_shared<nn::ReLU<double>>());
            net->push_back(std::make_shared<nn::MaxPool2d<double>>(nn::Pool2dOptions{.kernel_size = 2}));
            net->push_back(std::make_shared<nn::Flatten<double>>());
            net->push_back(std::make_shared<nn::Linear<double>>(nn::LinearOptions{.in = 64, .out = 10}, rng));
        }
    };
    Net eager(5), compiled(5);
    auto model = [&](Net& n) {
        auto images = Tensor::constant(x), targets = Tensor::constant(t);
        return optim::CurvatureModel<double>{[n, images] { return (*n.net)(images); },
                                             [targets](const Tensor& z) { return nn::cross_entropy(z, targets); }};
    };
    optim::NaturalGradientOptions o{.cg_iterations = 1};
    optim::NaturalGradient<double> a(eager.net->parameters(), model(eager), o);
    o.compile = true;
    optim::NaturalGradient<double> b(compiled.net->parameters(), model(compiled), o);
    for (int step = 0; step < 4; ++step) {
        a.step();
        BOOST_CHECK_NO_THROW(b.step());
        const auto &ra = a.last_report(), &rb = b.last_report();
        BOOST_TEST(rb.accepted == ra.accepted);
        BOOST_TEST(std::abs(rb.loss_after - ra.loss_after) <= 1e-10 * std::abs(ra.loss_after),
                   "step " << step << ": " << rb.loss_after << " vs " << ra.loss_after);
    }
    BOOST_TEST(a.last_report().loss_after < a.last_report().loss_before);
}
