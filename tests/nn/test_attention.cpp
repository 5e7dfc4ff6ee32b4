// Scaled dot-product attention, MultiheadAttention and TransformerEncoderLayer against loops
// written from PyTorch's equations (every mask convention, packed and separate projections,
// layouts), to second order; PyTorch's names and shapes; compiled replays; errors.
#include <cmath>
#include <functional>
#include <limits>

#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;

namespace {
const Array<double>& param_of(const Module<double>& m, const std::string& name) {
    for (auto& [n, p] : m.named_parameters())
        if (n == name) return p.value();
    throw std::runtime_error("no parameter " + name);
}

// PyTorch's multi-head attention written as loops over batch-major [B, n, features] arrays:
// projections, per-head scores with `bias(b, h, i, j)` added and `blocked(b, h, i, j)` left
// out, softmax (a row with nothing left: zeros), the weighted values, out_proj. Returns the
// output [B, L, E] and the weights [B, H, L, S].
struct Reference {
    Array<double> out, weights;
};
using Pattern = std::function<bool(std::size_t, std::size_t, std::size_t, std::size_t)>;
using Bias = std::function<double(std::size_t, std::size_t, std::size_t, std::size_t)>;
Array<double> project(const Array<double>& x, const Array<double>& w, const Array<double>& b) {
    const std::size_t B = x.shape()[0], n = x.shape()[1], in = x.shape()[2], out = w.shape()[0];
    Array<double> y = xt::zeros<double>({B, n, out});
    for (std::size_t i = 0; i < B; ++i)
        for (std::size_t t = 0; t < n; ++t)
            for (std::size_t o = 0; o < out; ++o) {
                y(i, t, o) = b.size() ? b(o) : 0.0;
                for (std::size_t j = 0; j < in; ++j) y(i, t, o) += x(i, t, j) * w(o, j);
            }
    return y;
}
Reference reference(const Array<double>& query, const Array<double>& key, const Array<double>& value,
                    const std::vector<Array<double>>& w, const std::vector<Array<double>>& b, const Array<double>& wo,
                    const Array<double>& bo, std::size_t H, const Pattern& blocked, const Bias& bias) {
    auto q = project(query, w[0], b[0]), k = project(key, w[1], b[1]), v = project(value, w[2], b[2]);
    const std::size_t B = q.shape()[0], L = q.shape()[1], S = k.shape()[1], E = q.shape()[2], d = E / H;
    Array<double> merged = xt::zeros<double>({B, L, E}), weights = xt::zeros<double>({B, H, L, S});
    for (std::size_t bb = 0; bb < B; ++bb)
        for (std::size_t h = 0; h < H; ++h)
            for (std::size_t i = 0; i < L; ++i) {
                std::vector<double> s(S, -std::numeric_limits<double>::infinity());
                double top = -std::numeric_limits<double>::infinity(), total = 0;
                for (std::size_t j = 0; j < S; ++j) {
                    if (blocked(bb, h, i, j)) continue;
                    double dot = 0;
                    for (std::size_t e = 0; e < d; ++e) dot += q(bb, i, h * d + e) * k(bb, j, h * d + e);
                    s[j] = dot / std::sqrt(double(d)) + bias(bb, h, i, j);
                    top = std::max(top, s[j]);
                }
                if (top == -std::numeric_limits<double>::infinity()) continue;  // nothing to attend to
                for (std::size_t j = 0; j < S; ++j) total += std::exp(s[j] - top);
                for (std::size_t j = 0; j < S; ++j) {
                    weights(bb, h, i, j) = std::exp(s[j] - top) / total;
                    for (std::size_t e = 0; e < d; ++e)
                        merged(bb, i, h * d + e) += weights(bb, h, i, j) * v(bb, j, h * d + e);
                }
            }
    return {project(merged, wo, bo), weights};
}
const Pattern nothing = [](std::size_t, std::size_t, std::size_t, std::size_t) { return false; };
const Bias zero = [](std::size_t, std::size_t, std::size_t, std::size_t) { return 0.0; };

Array<double> seq_first(const Array<double>& a) {
    return xt::transpose(a, {1, 0, 2});
}
std::vector<Array<double>> packed(const Array<double>& a) {
    const std::size_t E = a.shape()[0] / 3;
    std::vector<Array<double>> parts;
    for (std::size_t p = 0; p < 3; ++p)
        parts.push_back(a.dimension() == 1 ? Array<double>(xt::view(a, xt::range(p * E, (p + 1) * E)))
                                           : Array<double>(xt::view(a, xt::range(p * E, (p + 1) * E), xt::all())));
    return parts;
}
std::vector<Array<double>> in_projections(const MultiheadAttention<double>& m, bool separate) {
    if (!separate) return packed(param_of(m, "in_proj_weight"));
    return {param_of(m, "q_proj_weight"), param_of(m, "k_proj_weight"), param_of(m, "v_proj_weight")};
}
Reference reference_of(const MultiheadAttention<double>& m, const Array<double>& q, const Array<double>& k,
                       const Array<double>& v, bool separate, const Pattern& blocked, const Bias& bias) {
    return reference(q, k, v, in_projections(m, separate), packed(param_of(m, "in_proj_bias")),
                     param_of(m, "out_proj.weight"), param_of(m, "out_proj.bias"), m.options().num_heads, blocked,
                     bias);
}
// Biases start at zero (PyTorch's); give them values so that a misplaced bias shows.
void perturb_biases(Module<double>& m, std::uint64_t seed) {
    for (auto& [name, p] : m.named_parameters())
        if (name.find("bias") != std::string::npos) {
            Tensor handle = p;
            handle.set_value(uniform(p.shape(), seed++, 0.1, 0.5));
        }
}
Array<double> column(double a, double b) {
    return Array<double>(xt::xtensor<double, 2>{{a}, {b}});
}
bool close(const Array<double>& a, const Array<double>& b, double tol = 1e-13) {
    return a.shape() == b.shape() && xt::allclose(a, b, tol, tol);
}
}  // namespace

BOOST_AUTO_TEST_CASE(multihead_attention_is_pytorchs_equations_with_every_mask) {
    const std::size_t B = 2, L = 4, S = 5, E = 6, H = 3;
    Generator gen(1);
    MultiheadAttention<double> packed_mha({.embed_dim = E, .num_heads = H}, gen);
    MultiheadAttention<double> separate({.embed_dim = E, .num_heads = H, .kdim = 3, .vdim = 2}, gen);
    perturb_biases(packed_mha, 2);
    perturb_biases(separate, 3);
    Array<double> x = uniform({B, L, E}, 4), key = uniform({B, S, E}, 5), value = uniform({B, S, E}, 6);
    Array<double> key3 = uniform({B, S, 3}, 7), value2 = uniform({B, S, 2}, 8);
    Tape tape;
    auto t = [](const Array<double>& a) { return Tensor::constant(seq_first(a)); };
    // self-attention (one packed product), then cross-attention (the packed weight split)
    auto self = packed_mha(t(x), t(x), t(x), {.average_attn_weights = false});
    auto r = reference_of(packed_mha, x, x, x, false, nothing, zero);
    BOOST_TEST(close(self.output.value(), seq_first(r.out)));
    BOOST_TEST(close(self.weights.value(), r.weights));
    auto cross = packed_mha(t(x), t(key), t(value));
    r = reference_of(packed_mha, x, key, value, false, nothing, zero);
    BOOST_TEST(close(cross.output.value(), seq_first(r.out)));
    BOOST_TEST(close(cross.weights.value(), xt::mean(r.weights, {1})));
    auto other = separate(t(x), t(key3), t(value2));
    BOOST_TEST(
        close(other.output.value(), seq_first(reference_of(separate, x, key3, value2, true, nothing, zero).out)));

    // key padding: batch 0 has 5 keys, batch 1 has 3
    Array<bool> pad = {{false, false, false, false, false}, {false, false, false, true, true}};
    auto padded = [&](std::size_t b, std::size_t, std::size_t, std::size_t j) { return pad(b, j); };
    auto masked = packed_mha(t(x), t(key), t(value), {.key_padding_mask = Mask(pad), .average_attn_weights = false});
    r = reference_of(packed_mha, x, key, value, false, padded, zero);
    BOOST_TEST(close(masked.output.value(), seq_first(r.out)));
    BOOST_TEST(close(masked.weights.value(), r.weights));
    // causal with padding; a boolean [L, S] mask (true: may not attend); [B H, L, S] float bias
    auto causal = packed_mha(t(x), t(key), t(value), {.key_padding_mask = Mask(pad), .is_causal = true});
    r = reference_of(
        packed_mha, x, key, value, false,
        [&](std::size_t b, std::size_t, std::size_t i, std::size_t j) { return pad(b, j) || j > i; }, zero);
    BOOST_TEST(close(causal.output.value(), seq_first(r.out)));
    Array<bool> band = xt::abs(xt::arange<int>(int(L)).reshape({L, 1}) - xt::arange<int>(int(S))) > 1;
    auto banded = packed_mha(t(x), t(key), t(value), {.attn_mask = Mask(band)});
    r = reference_of(
        packed_mha, x, key, value, false,
        [&](std::size_t, std::size_t, std::size_t i, std::size_t j) { return band(i, j); }, zero);
    BOOST_TEST(close(banded.output.value(), seq_first(r.out)));
    Array<double> bias = uniform({B * H, L, S}, 9);
    bias(4, 1, 2) = -std::numeric_limits<double>::infinity();
    auto biased = packed_mha(t(x), t(key), t(value), {.attn_mask = Tensor::constant(bias)});
    r = reference_of(
        packed_mha, x, key, value, false,
        [&](std::size_t b, std::size_t h, std::size_t i, std::size_t j) { return std::isinf(bias(b * H + h, i, j)); },
        [&](std::size_t b, std::size_t h, std::size_t i, std::size_t j) { return bias(b * H + h, i, j); });
    BOOST_TEST(close(biased.output.value(), seq_first(r.out)));
}

BOOST_AUTO_TEST_CASE(layouts_batch_first_and_unbatched_agree) {
    Generator gen(10), same(10);
    MultiheadAttention<double> a({.embed_dim = 4, .num_heads = 2}, gen);
    MultiheadAttention<double> b({.embed_dim = 4, .num_heads = 2, .batch_first = true}, same);
    Tape tape;
    Array<double> x = uniform({3, 2, 4}, 11);
    auto seq = a(Tensor::constant(x), Tensor::constant(x), Tensor::constant(x));
    auto bat = b(Tensor::constant(seq_first(x)), Tensor::constant(seq_first(x)), Tensor::constant(seq_first(x)));
    BOOST_TEST(close(seq_first(bat.output.value()), seq.output.value(), 1e-15));
    Array<double> one = xt::view(x, xt::all(), 1, xt::all());
    auto unbatched = a(Tensor::constant(one), Tensor::constant(one), Tensor::constant(one));
    BOOST_TEST(unbatched.output.shape() == Shape({3, 4}));
    BOOST_TEST(unbatched.weights.shape() == Shape({3, 3}));
    BOOST_TEST(close(unbatched.output.value(), xt::view(seq.output.value(), xt::all(), 1, xt::all()), 1e-15));
}

BOOST_AUTO_TEST_CASE(a_query_with_no_key_gets_zeros_not_nan) {
    Generator gen(12);
    MultiheadAttention<double> mha({.embed_dim = 4, .num_heads = 2}, gen);
    Tape tape;
    auto x = param({3, 1, 4}, 13);
    Array<bool> none = {{true, true, true}, {false, true, true}, {false, false, true}};  // row 0: nothing
    auto out = mha(x, x, x, {.attn_mask = Mask(none)});
    BOOST_TEST(xt::all(xt::equal(xt::view(out.weights.value(), 0, 0, xt::all()), 0.0)));
    BOOST_TEST(xt::all(xt::isfinite(out.output.value())));
    sum(square(out.output)).backward();
    for (auto& p : mha.parameters()) BOOST_TEST(xt::all(xt::isfinite(p.grad())));
    BOOST_TEST(xt::all(xt::isfinite(x.grad())));
    // the same from a float mask of -inf
    Array<double> minus_inf = xt::where(none, -std::numeric_limits<double>::infinity(), 0.0);
    auto same = mha(x, x, x, {.attn_mask = Tensor::constant(minus_inf)});
    BOOST_TEST(close(same.output.value(), out.output.value(), 1e-15));
}

BOOST_AUTO_TEST_CASE(scaled_dot_product_attention_is_torchs_function) {
    Tape tape;
    auto q = param({2, 1, 3, 4}, 14), k = param({2, 5, 4}, 15), v = param({5, 2}, 16);
    // boolean mask: true where a query MAY attend (torch.nn.functional's convention)
    Array<bool> allowed = {
        {true, false, true, true, false}, {true, true, true, true, true}, {false, false, false, false, true}};
    auto out = functional::scaled_dot_product_attention(q, k, v, Mask(allowed), {.need_weights = true});
    BOOST_TEST(out.output.shape() == Shape({2, 2, 3, 2}));
    auto scores = matmul(q, transpose(k, -2, -1)) / 2.0;
    auto expected = softmax(where(Mask(allowed), scores, -std::numeric_limits<double>::infinity()), -1);
    BOOST_TEST(close(out.weights.value(), expected.value(), 1e-15));
    BOOST_TEST(close(out.output.value(), matmul(expected, v).value(), 1e-15));
    auto scaled = functional::scaled_dot_product_attention(q, k, v, {}, {.is_causal = true, .scale = 0.3});
    auto causal = softmax(where(Mask(Array<bool>(xt::triu(xt::ones<bool>({3, 5}), 1))),
                                -std::numeric_limits<double>::infinity(), matmul(q, transpose(k, -2, -1)) * 0.3),
                          -1);
    BOOST_TEST(close(scaled.output.value(), matmul(causal, v).value(), 1e-15));
}

BOOST_AUTO_TEST_CASE(gradients_and_hessian_vector_products_with_masks) {
    for (std::size_t L : {1, 3}) {
        BOOST_TEST_CONTEXT("length " << L) {
            Generator gen(17);
            MultiheadAttention<double> mha({.embed_dim = 4, .num_heads = 2, .batch_first = true}, gen);
            perturb_biases(mha, 18);
            Tape tape;
            auto x = param({2, L, 4}, 19), memory = param({2, 3, 4}, 20);
            Array<bool> pad = {{false, false, true}, {false, false, false}};
            auto inputs = mha.parameters();
            inputs.push_back(x);
            inputs.push_back(memory);
            check_both(
                [&] {
                    auto self = mha(x, x, x, {.is_causal = true});
                    auto cross = mha(x, memory, memory, {.key_padding_mask = Mask(pad)});
                    return sum(sin(self.output)) + sum(square(cross.output)) + sum(cross.weights * cross.weights);
                },
                inputs);
        }
    }
    Tape tape;
    auto q = param({2, 3, 2}, 21), k = param({4, 2}, 22), v = param({2, 4, 3}, 23), bias = param({3, 4}, 24);
    check_both(
        [&] { return sum(sin(functional::scaled_dot_product_attention(q, k, v, bias, {.is_causal = true}).output)); },
        {q, k, v, bias});
}

BOOST_AUTO_TEST_CASE(encoder_layer_is_its_blocks_post_and_pre_norm) {
    for (bool norm_first : {false, true})
        for (Activation act : {Activation::relu, Activation::gelu}) {
            BOOST_TEST_CONTEXT("norm_first " << norm_first << " activation " << int(act)) {
                Generator gen(25);
                TransformerEncoderLayer<double> layer({.d_model = 4,
                                                       .nhead = 2,
                                                       .dim_feedforward = 6,
                                                       .activation = act,
                                                       .batch_first = true,
                                                       .norm_first = norm_first},
                                                      gen);
                perturb_biases(layer, 26);
                layer.eval();
                Tape tape;
                auto x = param({2, 3, 4}, 27);
                Array<bool> pad = {{false, false, true}, {false, false, false}};
                TransformerEncoderArgs<double> args{.src_key_padding_mask = Mask(pad), .is_causal = true};
                // the blocks, from the layer's own parameters through the functional forms
                MultiheadAttention<double>& attn = layer.self_attn();
                auto p = [&](const char* name) { return Tensor::constant(param_of(layer, name)); };
                auto norm = [&](const Tensor& v, const char* which) {
                    std::string n = which;
                    return functional::layer_norm(v, {4}, p((n + ".weight").c_str()), p((n + ".bias").c_str()));
                };
                auto sa = [&](const Tensor& v) {
                    return attn(v, v, v, {.key_padding_mask = Mask(pad), .is_causal = true, .need_weights = false})
                        .output;
                };
                auto ff = [&](const Tensor& v) {
                    auto hidden = functional::linear(v, p("linear1.weight"), p("linear1.bias"));
                    return functional::linear(act == Activation::relu ? relu(hidden) : functional::gelu(hidden),
                                              p("linear2.weight"), p("linear2.bias"));
                };
                Tensor expected;
                if (norm_first) {
                    auto h = x + sa(norm(x, "norm1"));
                    expected = h + ff(norm(h, "norm2"));
                } else {
                    auto h = norm(x + sa(x), "norm1");
                    expected = norm(h + ff(h), "norm2");
                }
                BOOST_TEST(close(layer(x, args).value(), expected.value(), 1e-14));
                auto inputs = layer.parameters();
                inputs.push_back(x);
                check_both([&] { return sum(sin(layer(x, args))); }, inputs);
            }
        }
}

BOOST_AUTO_TEST_CASE(gelu_is_x_times_the_normal_cdf) {
    Tape tape;
    auto x = Tensor::parameter({-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0}, {7});
    auto y = functional::gelu(x);
    for (std::size_t i = 0; i < 7; ++i) {
        double v = x.value()(i);
        BOOST_TEST(y.value()(i) == 0.5 * v * std::erfc(-v / std::sqrt(2.0)), boost::test_tools::tolerance(1e-14));
    }
    auto small = param({5}, 28);
    check_both([&] { return sum(functional::gelu(small)) + sum(functional::gelu(small, true)); }, {small});
    BOOST_TEST(std::abs(functional::gelu(small, true).value()(0) - functional::gelu(small).value()(0)) < 1e-3);
}

BOOST_AUTO_TEST_CASE(parameters_are_named_and_shaped_as_pytorchs) {
    Generator gen(29);
    MultiheadAttention<double> mha({.embed_dim = 8, .num_heads = 2}, gen);
    std::vector<std::string> names;
    for (auto& [name, p] : mha.named_parameters()) names.push_back(name);
    BOOST_TEST(names ==
               (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
    BOOST_TEST(param_of(mha, "in_proj_weight").shape() == Shape({24, 8}));
    BOOST_TEST(xt::amax(xt::abs(param_of(mha, "in_proj_weight")))() <= std::sqrt(6.0 / 32));  // Xavier
    BOOST_TEST(xt::all(xt::equal(param_of(mha, "in_proj_bias"), 0.0)));
    BOOST_TEST(xt::all(xt::equal(param_of(mha, "out_proj.bias"), 0.0)));
    MultiheadAttention<double> separate({.embed_dim = 8, .num_heads = 2, .bias = false, .kdim = 3, .vdim = 5}, gen);
    names.clear();
    for (auto& [name, p] : separate.named_parameters()) names.push_back(name);
    BOOST_TEST(names ==
               (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}));
    BOOST_TEST(param_of(separate, "k_proj_weight").shape() == Shape({8, 3}));
    TransformerEncoderLayer<double> layer({.d_model = 8, .nhead = 2, .dim_feedforward = 16}, gen);
    names.clear();
    for (auto& [name, p] : layer.named_parameters()) names.push_back(name);
    BOOST_TEST(names == (std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                                  "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                                  "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                                                  "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}));
}

BOOST_AUTO_TEST_CASE(compiled_replays_equal_eager_with_masks_and_dropout) {
    Generator gen(30), draws(31);
    TransformerEncoderLayer<double> layer(
        {.d_model = 4, .nhead = 2, .dim_feedforward = 8, .dropout = 0.25, .batch_first = true}, gen);
    layer.eval();
    // the padding mask is an input of the compiled function: each replay reads it
    auto loss = [&](const Tensor& x, const Tensor& lengths) {
        auto positions = Tensor::constant(Array<double>(xt::arange<double>(3.0)));
        Mask pad = positions >= lengths;  // [B, 1] against [3]
        return sum(square(layer(x, {.src_key_padding_mask = pad})));
    };
    auto compiled = compile<double>([&](const TensorList<double>& in) { return loss(in[0], in[1]); });
    for (std::uint64_t seed : {32, 33}) {
        Array<double> xs = uniform({2, 3, 4}, seed), lengths = column(double(seed - 30), 3.0);
        Tape tape;
        BOOST_TEST(compiled({xs, lengths})(0) == loss(Tensor::constant(xs), Tensor::constant(lengths)).item());
    }
    BOOST_TEST(compiled.traces() == 1u);
    // in training, dropout draws anew at every replay, as an eager call does
    layer.train();
    Array<double> xs = uniform({2, 3, 4}, 34), lengths = column(2.0, 3.0);
    Tape tape;
    gen.set_offset(0);
    double first = compiled({xs, lengths})(0);
    double second = compiled({xs, lengths})(0);
    gen.set_offset(0);
    BOOST_TEST(first == loss(Tensor::constant(xs), Tensor::constant(lengths)).item());
    BOOST_TEST(second == loss(Tensor::constant(xs), Tensor::constant(lengths)).item());
    BOOST_TEST(first != second);
}

BOOST_AUTO_TEST_CASE(errors_name_the_layer_and_the_shapes) {
    expect_error<ValueError>([] { MultiheadAttention<double>(6, 4); },
                             "MultiheadAttention: embed_dim 6 must be a positive multiple of num_heads 4");
    expect_error<ValueError>([] { MultiheadAttention<double>({.embed_dim = 4, .num_heads = 2, .dropout = -0.1}); },
                             "MultiheadAttention: dropout must be in [0, 1), got -0.1");
    MultiheadAttention<double> mha(4, 2);
    Tape tape;
    auto x = param({3, 2, 4}, 35);
    expect_error<ShapeError>(
        [&] {
            mha(x, x, param({3, 2, 5}, 36));
        },
        "MultiheadAttention: expects query [L, B, 4], key [S, B, 4], value [S, B, 4]");
    expect_error<ShapeError>([&] { mha(x, param({3, 1, 4}, 36), param({3, 1, 4}, 37)); }, "got [3,2,4], [3,1,4]");
    expect_error<ShapeError>(
        [&] {
            mha(x, x, x, {.key_padding_mask = Mask(Array<bool>(xt::zeros<bool>({3, 2})))});
        },
        "MultiheadAttention: key_padding_mask of shape [3,2] (expected [2,3])");
    expect_error<ShapeError>(
        [&] {
            mha(x, x, x, {.attn_mask = Mask(Array<bool>(xt::zeros<bool>({3, 4})))});
        },
        "MultiheadAttention: attn_mask of shape [3,4] (expected [3, 3] or [4, 3, 3])");
    expect_error<ShapeError>(
        [&] {
            functional::scaled_dot_product_attention(param({3, 4}, 1), param({5, 4}, 2), param({5, 2}, 3),
                                                     Mask(Array<bool>(xt::ones<bool>({2, 3, 5}))));
        },
        "scaled_dot_product_attention: the mask of shape [2,3,5] does not broadcast to the scores [3,5]");
    expect_error<ShapeError>(
        [&] {
            functional::scaled_dot_product_attention(param({3, 4}, 1), param({5, 3}, 2), param({5, 2}, 3));
        },
        "scaled_dot_product_attention: expects q [..., L, E], k [..., S, E], v [..., S, Ev]; got [3,4], [5,3], [5,2]");
    TransformerEncoderLayer<double> layer(4, 2);
    expect_error<ShapeError>(
        [&] {
            layer(param({3, 2, 5}, 38));
        },
        "TransformerEncoderLayer: expects src [L, B, 4] (or unbatched [L, 4]), got [3,2,5]");
    GRUCell<double> cell(2, 3);
    expect_error<ValueError>(
        [&] {
            cell(param({1, 2}, 39), param({1, 3}, 40), param({1, 3}, 41));
        },
        "GRUCell: a cell state c is for LSTMCell only");
}
