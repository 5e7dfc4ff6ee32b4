// RNN, LSTM and GRU against plain loops written from PyTorch's equations, to second order
// through time; PyTorch's parameter names, shapes and gate orders; cells; compiled replays.
#include <cmath>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;

namespace {
double sigm(double v) {
    return 1.0 / (1.0 + std::exp(-v));
}

const Array<double>& param_of(const Module<double>& m, const std::string& name) {
    for (auto& [n, p] : m.named_parameters())
        if (n == name) return p.value();
    throw std::runtime_error("no parameter " + name);
}

// One layer, one direction, from PyTorch's equations: x [T, B, in] read in `order`; returns the
// hidden states [T, B, H] (each at its time step) and the last h and c.
struct Reference {
    Array<double> out, h, c;
};
Reference reference(RecurrentKind kind, const Array<double>& x, const Array<double>& w_ih, const Array<double>& w_hh,
                    const Array<double>& b_ih, const Array<double>& b_hh, bool reverse) {
    const std::size_t steps = x.shape()[0], batch = x.shape()[1], in = x.shape()[2], hidden = w_hh.shape()[1];
    const std::size_t g = w_ih.shape()[0];
    Reference r{xt::zeros<double>({steps, batch, hidden}), xt::zeros<double>({batch, hidden}),
                xt::zeros<double>({batch, hidden})};
    for (std::size_t i = 0; i < steps; ++i) {
        std::size_t t = reverse ? steps - 1 - i : i;
        Array<double> xp = xt::zeros<double>({batch, g}), hp = xt::zeros<double>({batch, g});
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t k = 0; k < g; ++k) {
                xp(b, k) = b_ih(k);
                hp(b, k) = b_hh(k);
                for (std::size_t j = 0; j < in; ++j) xp(b, k) += x(t, b, j) * w_ih(k, j);
                for (std::size_t j = 0; j < hidden; ++j) hp(b, k) += r.h(b, j) * w_hh(k, j);
            }
        Array<double> h = r.h;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t j = 0; j < hidden; ++j) {
                auto gate = [&](std::size_t q) { return xp(b, q * hidden + j) + hp(b, q * hidden + j); };
                if (kind == RecurrentKind::rnn_tanh) {
                    h(b, j) = std::tanh(gate(0));
                } else if (kind == RecurrentKind::lstm) {  // i, f, g, o
                    r.c(b, j) = sigm(gate(1)) * r.c(b, j) + sigm(gate(0)) * std::tanh(gate(2));
                    h(b, j) = sigm(gate(3)) * std::tanh(r.c(b, j));
                } else {  // r, z, n
                    double rr = sigm(gate(0)), z = sigm(gate(1));
                    double n = std::tanh(xp(b, 2 * hidden + j) + rr * hp(b, 2 * hidden + j));
                    h(b, j) = (1 - z) * n + z * r.h(b, j);
                }
            }
        r.h = h;
        xt::view(r.out, t) = h;
    }
    return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(each_kind_is_pytorchs_equations_in_both_directions_and_over_layers) {
    for (RecurrentKind kind : {RecurrentKind::rnn_tanh, RecurrentKind::lstm, RecurrentKind::gru}) {
        BOOST_TEST_CONTEXT("kind " << int(kind)) {
            Generator gen(1);
            Recurrent<double> layer(kind, {.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true},
                                    gen);
            Tape tape;
            Array<double> x = uniform({5, 2, 3}, 2);
            auto out = layer(Tensor::constant(x));
            BOOST_TEST(out.output.shape() == Shape({5, 2, 8}));
            BOOST_TEST(out.h_n.shape() == Shape({4, 2, 4}));
            BOOST_TEST(out.c_n.defined() == (kind == RecurrentKind::lstm));
            // layer 0 forward and reverse from x, layer 1 from their concatenation
            Array<double> input = x;
            for (std::size_t l = 0; l < 2; ++l) {
                std::vector<Reference> refs;
                for (std::size_t d = 0; d < 2; ++d) {
                    std::string s = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
                    refs.push_back(reference(kind, input, param_of(layer, "weight_ih" + s),
                                             param_of(layer, "weight_hh" + s), param_of(layer, "bias_ih" + s),
                                             param_of(layer, "bias_hh" + s), d == 1));
                    BOOST_TEST(xt::allclose(xt::view(out.h_n.value(), 2 * l + d), refs.back().h, 1e-13, 1e-14));
                    if (kind == RecurrentKind::lstm)
                        BOOST_TEST(xt::allclose(xt::view(out.c_n.value(), 2 * l + d), refs.back().c, 1e-13, 1e-14));
                }
                input = xt::concatenate(xt::xtuple(refs[0].out, refs[1].out), 2);
            }
            BOOST_TEST(xt::allclose(out.output.value(), input, 1e-13, 1e-14));
        }
    }
}

BOOST_AUTO_TEST_CASE(parameters_are_named_shaped_and_initialised_as_pytorchs) {
    Generator gen(3);
    LSTM<double> lstm({.input_size = 3, .hidden_size = 5, .num_layers = 2, .bidirectional = true}, gen);
    std::vector<std::string> names;
    for (auto& [name, p] : lstm.named_parameters()) names.push_back(name);
    BOOST_TEST(names == (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                  "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                                                  "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1",
                                                  "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse",
                                                  "bias_ih_l1_reverse", "bias_hh_l1_reverse"}));
    BOOST_TEST(param_of(lstm, "weight_ih_l0").shape() == Shape({20, 3}));
    BOOST_TEST(param_of(lstm, "weight_ih_l1").shape() == Shape({20, 10}));  // both directions of layer 0
    BOOST_TEST(param_of(lstm, "weight_hh_l1_reverse").shape() == Shape({20, 5}));
    for (auto& p : lstm.parameters()) BOOST_TEST(xt::amax(xt::abs(p.value()))() <= 1.0 / std::sqrt(5.0));
    GRU<double> gru(3, 5);
    BOOST_TEST(param_of(gru, "weight_hh_l0").shape() == Shape({15, 5}));
    RNN<double> rnn({.input_size = 3, .hidden_size = 5, .bias = false});
    BOOST_TEST(rnn.parameters().size() == 2u);
}

BOOST_AUTO_TEST_CASE(gradients_through_time_to_second_order) {
    for (RecurrentKind kind :
         {RecurrentKind::rnn_tanh, RecurrentKind::rnn_relu, RecurrentKind::lstm, RecurrentKind::gru}) {
        BOOST_TEST_CONTEXT("kind " << int(kind)) {
            Generator gen(4);
            Recurrent<double> layer(
                kind, {.input_size = 2, .hidden_size = 2, .batch_first = true, .bidirectional = true}, gen);
            Tape tape;
            auto x = param({2, 3, 2}, 5);
            auto h0 = param({2, 2, 2}, 6);
            auto c0 = param({2, 2, 2}, 7);
            auto inputs = layer.parameters();
            inputs.push_back(x);
            inputs.push_back(h0);
            if (kind == RecurrentKind::lstm) inputs.push_back(c0);
            check_both(
                [&] {
                    auto out = layer(x, h0, kind == RecurrentKind::lstm ? c0 : Tensor());
                    return sum(sin(out.output)) + sum(square(out.h_n));
                },
                inputs);
        }
    }
}

BOOST_AUTO_TEST_CASE(batch_first_initial_states_cells_and_compiled_replays) {
    Generator gen(8);
    LSTM<double> seq_first({.input_size = 3, .hidden_size = 4}, gen);
    Generator same(8);
    LSTM<double> batch_first({.input_size = 3, .hidden_size = 4, .batch_first = true}, same);
    Tape tape;
    Array<double> x = uniform({5, 2, 3}, 9);
    auto a = seq_first(Tensor::constant(x));
    auto b = batch_first(transpose(Tensor::constant(x), 0, 1));
    BOOST_TEST((transpose(b.output, 0, 1).value() == a.output.value()));
    // two calls carrying the state equal one call over the whole sequence
    auto first = seq_first(narrow(Tensor::constant(x), 0, 0, 2));
    auto second = seq_first(narrow(Tensor::constant(x), 0, 2, 3), first.h_n, first.c_n);
    BOOST_TEST(xt::allclose(second.h_n.value(), a.h_n.value(), 1e-15, 1e-15));
    // a cell with the layer's weights is one step
    Generator g2(10);
    LSTMCell<double> cell(3, 4, true, g2);
    for (auto& [name, p] : cell.named_parameters()) {
        Tensor copy = p;
        copy.set_value(param_of(seq_first, name + "_l0"));
    }
    auto [h1, c1] = cell(Tensor::constant(Array<double>(xt::view(x, 0))));
    BOOST_TEST(xt::allclose(h1.value(), xt::view(a.output.value(), 0), 1e-15, 1e-15));
    auto [h2, c2] = cell(Tensor::constant(Array<double>(xt::view(x, 1))), h1, c1);
    BOOST_TEST(xt::allclose(h2.value(), xt::view(a.output.value(), 1), 1e-15, 1e-15));
    // compiled: replays equal eager evaluation, bit for bit
    GRU<double> gru({.input_size = 3, .hidden_size = 4, .num_layers = 2}, gen);
    auto loss = [&](const Tensor& in) { return sum(square(gru(in).output)); };
    auto compiled = compile<double>([&](const TensorList<double>& in) { return loss(in[0]); });
    for (std::uint64_t seed : {11, 12}) {
        Array<double> xs = uniform({4, 2, 3}, seed);
        BOOST_TEST(compiled({xs})(0) == loss(Tensor::constant(xs)).item());
    }
    BOOST_TEST(compiled.traces() == 1u);
}

BOOST_AUTO_TEST_CASE(dropout_between_layers_is_a_dropout_of_the_first_layers_output) {
    Generator gen(20);
    LSTM<double> two({.input_size = 3, .hidden_size = 4, .num_layers = 2, .dropout = 0.5}, gen);
    // the same network layer by layer, its weights copied
    LSTM<double> first(3, 4), second(4, 4);
    for (auto [layer, suffix] : {std::pair{&first, "_l0"}, std::pair{&second, "_l1"}})
        for (auto& [name, p] : layer->named_parameters()) {
            Tensor copy = p;
            copy.set_value(param_of(two, name.substr(0, name.size() - 3) + suffix));
        }
    Tape tape;
    auto x = Tensor::constant(uniform({5, 2, 3}, 21));
    gen.set_offset(1000);  // the layer's generator is a handle to this one
    auto trained = two(x).output;
    gen.set_offset(1000);
    auto expected = second(dropout(first(x).output, 0.5, true, gen)).output;
    BOOST_TEST(xt::allclose(trained.value(), expected.value(), 1e-15, 1e-15));
    BOOST_TEST(!xt::allclose(trained.value(), second(first(x).output).output.value(), 1e-6, 1e-6));
    two.eval();  // no dropout in evaluation
    BOOST_TEST(xt::allclose(two(x).output.value(), second(first(x).output).output.value(), 1e-15, 1e-15));
}

BOOST_AUTO_TEST_CASE(errors_name_the_layer) {
    Generator gen(13);
    GRU<double> gru(3, 4);
    Tape tape;
    expect_error<ShapeError>([&] { gru(param({5, 2, 4}, 1)); }, "GRU: expects [T, B, 3] sequences, got shape [5,2,4]");
    expect_error<ValueError>(
        [&] {
            gru(param({5, 2, 3}, 1), Tensor(), param({1, 2, 4}, 2));
        },
        "GRU: a cell state c0 is for LSTM only");
    expect_error<ShapeError>(
        [&] {
            gru(param({5, 2, 3}, 1), param({2, 2, 4}, 2));
        },
        "GRU: h0 of shape [2,2,4] (expected [1,2,4])");
    expect_error<ValueError>([&] { LSTM<double>({.input_size = 3, .hidden_size = 0}); },
                             "LSTM: input_size 3, hidden_size 0 and num_layers 1 must be positive");
    expect_error<ValueError>([&] { LSTM<double>({.input_size = 3, .hidden_size = 2, .dropout = 1.0}); },
                             "LSTM: dropout must be in [0, 1)");
}
