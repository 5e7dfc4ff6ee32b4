// The xtgrad half of the PyTorch round trip (tests/interop/torch_interop.sh): the same CNN as
// torch_interop.py, built with xtgrad's layers; recurrent and attention layers given xtgrad's weights.
//   torch_interop write DIR   saves the model (save_parameters) and an input with its output
//   torch_interop check DIR   loads the model PyTorch saved and compares with PyTorch's output
#include <cstdio>
#include <string>

#include <xtensor/xmath.hpp>

#include "xtgrad/nn.hpp"

using namespace xtgrad;

namespace {
// torch.nn.Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2), Flatten(),
//                     Linear(64, 10), LayerNorm(10)): the children are named 0, 1, ... in both
void build(nn::Sequential<double>& m) {
    m.push_back(std::make_shared<nn::Conv2d<double>>(
        nn::Conv2dOptions{.in_channels = 1, .out_channels = 4, .kernel_size = 3, .padding = 1}));
    m.push_back(std::make_shared<nn::BatchNorm<double>>(4, 4));
    m.push_back(std::make_shared<nn::ReLU<double>>());
    m.push_back(std::make_shared<nn::MaxPool2d<double>>(2));
    m.push_back(std::make_shared<nn::Flatten<double>>());
    m.push_back(std::make_shared<nn::Linear<double>>(64, 10));
    m.push_back(std::make_shared<nn::LayerNorm<double>>(Shape{10}));
}

const Array<double>& entry(const nn::NamedArrays<double>& arrays, const std::string& name) {
    for (auto& [n, a] : arrays)
        if (n == name) return a;
    throw std::runtime_error("no entry " + name);
}
// Biases start at zero in PyTorch's attention; random ones show a misplaced bias.
void randomise_biases(nn::Module<double>& m, Generator& gen) {
    for (auto& [name, p] : m.named_parameters())
        if (name.find("bias") != std::string::npos) {
            Tensor handle = p;
            handle.set_value(randn<double>(p.shape(), gen).value());
        }
}

// torch.nn.MultiheadAttention (packed, then with kdim and vdim) and TransformerEncoderLayer
// (post-norm relu, pre-norm gelu), batch_first, with key padding and attention masks, given
// these weights must give these outputs and weights
void write_attention(const std::string& dir, Generator& gen) {
    Tape tape;
    nn::MultiheadAttention<double> packed({.embed_dim = 6, .num_heads = 3, .batch_first = true}, gen);
    nn::MultiheadAttention<double> separate({.embed_dim = 6, .num_heads = 2, .kdim = 3, .vdim = 4, .batch_first = true},
                                            gen);
    nn::TransformerEncoderLayer<double> post({.d_model = 6, .nhead = 3, .dim_feedforward = 8, .batch_first = true},
                                             gen);
    nn::TransformerEncoderLayer<double> pre({.d_model = 6,
                                             .nhead = 3,
                                             .dim_feedforward = 8,
                                             .activation = nn::Activation::gelu,
                                             .batch_first = true,
                                             .norm_first = true},
                                            gen);
    for (nn::Module<double>* m : std::initializer_list<nn::Module<double>*>{&packed, &separate, &post, &pre}) {
        randomise_biases(*m, gen);
        m->eval();
    }
    auto q = randn<double>({2, 4, 6}, gen), kv = randn<double>({2, 5, 6}, gen), k3 = randn<double>({2, 5, 3}, gen),
         v4 = randn<double>({2, 5, 4}, gen), x = randn<double>({2, 5, 6}, gen);
    Array<bool> pad = {{false, false, false, false, false}, {false, false, false, true, true}};
    Array<bool> band = {{false, false, true, true, true},
                        {false, false, false, true, true},
                        {true, false, false, false, true},
                        {true, true, false, false, false}};  // true: may not attend
    auto a = packed(q, kv, kv, {.key_padding_mask = Mask(pad), .attn_mask = Mask(band)});
    auto b = separate(q, k3, v4, {.key_padding_mask = Mask(pad), .average_attn_weights = false});
    auto post_out = post(x, {.src_key_padding_mask = Mask(pad), .is_causal = true});
    auto pre_out = pre(x, {.src_key_padding_mask = Mask(pad), .is_causal = true});
    nn::save_parameters(packed, dir + "/xtgrad_mha_packed.npz");
    nn::save_parameters(separate, dir + "/xtgrad_mha_separate.npz");
    nn::save_parameters(post, dir + "/xtgrad_encoder_post.npz");
    nn::save_parameters(pre, dir + "/xtgrad_encoder_pre.npz");
    nn::save_npz<double>(dir + "/xtgrad_attention.npz", {{"q", q.value()},
                                                         {"kv", kv.value()},
                                                         {"k3", k3.value()},
                                                         {"v4", v4.value()},
                                                         {"x", x.value()},
                                                         {"pad", Array<double>(xt::cast<double>(pad))},
                                                         {"band", Array<double>(xt::cast<double>(band))},
                                                         {"packed_output", a.output.value()},
                                                         {"packed_weights", a.weights.value()},
                                                         {"separate_output", b.output.value()},
                                                         {"separate_weights", b.weights.value()},
                                                         {"post_output", post_out.value()},
                                                         {"pre_output", pre_out.value()}});
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: torch_interop write|check DIR\n");
        return 2;
    }
    const std::string mode = argv[1], dir = argv[2];
    nn::Sequential<double> m;
    build(m);
    if (mode == "write") {
        Generator gen(11);
        Tape tape;
        m(randn<double>({8, 1, 8, 8}, gen));  // a training step's statistics, so the buffers matter
        m.eval();
        auto x = randn<double>({3, 1, 8, 8}, gen);
        nn::save_parameters(m, dir + "/xtgrad_model.npz");
        nn::save_npz<double>(dir + "/xtgrad_io.npz", {{"input", x.value()}, {"output", m(x).value()}});
        // the recurrent layers: torch.nn.LSTM and GRU(3, 4, num_layers=2, batch_first=True,
        // bidirectional=True) given these weights must give these outputs and states
        nn::RecurrentOptions o{
            .input_size = 3, .hidden_size = 4, .num_layers = 2, .batch_first = true, .bidirectional = true};
        nn::LSTM<double> lstm(o, gen);
        nn::GRU<double> gru(o, gen);
        auto seq = randn<double>({2, 5, 3}, gen);
        auto l = lstm(seq);
        auto g = gru(seq);
        nn::save_parameters(lstm, dir + "/xtgrad_lstm.npz");
        nn::save_parameters(gru, dir + "/xtgrad_gru.npz");
        nn::save_npz<double>(dir + "/xtgrad_sequences.npz", {{"input", seq.value()},
                                                             {"lstm_output", l.output.value()},
                                                             {"lstm_h_n", l.h_n.value()},
                                                             {"lstm_c_n", l.c_n.value()},
                                                             {"gru_output", g.output.value()},
                                                             {"gru_h_n", g.h_n.value()}});
        write_attention(dir, gen);
        std::printf("xtgrad: model and output written to %s\n", dir.c_str());
        return 0;
    }
    nn::load_parameters(m, dir + "/torch_model.npz");
    m.eval();
    auto io = nn::load_npz<double>(dir + "/torch_io.npz");
    Tape tape;
    auto out = m(Tensor::constant(entry(io, "input"))).value();
    double err = xt::amax(xt::abs(out - entry(io, "output")))();
    std::printf("PyTorch's checkpoint in xtgrad: largest difference from PyTorch's output %.3g\n", err);
    return err < 1e-12 ? 0 : 1;
}
