// RNN, LSTM and GRU: each step a few ops on the hidden state, the input's projections for all
// steps of a layer one product per gate (linear over [T, B, in]), the recurrent weights split
// by gate. Under a LayerCapture (K-FAC) each product with a weight is reported: the input's
// projection once a call (its rows every step's), the recurrent weight once a step (its rows
// the previous hidden state); the outputs are the gates' products side by side.
#include "xtgrad/nn/recurrent.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xtgrad/nn/capture.hpp"
#include "xtgrad/nn/functional.hpp"

namespace xtgrad::nn {

namespace {
std::size_t gates(RecurrentKind kind) {
    return kind == RecurrentKind::lstm ? 4 : kind == RecurrentKind::gru ? 3 : 1;
}

const char* kind_name(RecurrentKind kind) {
    switch (kind) {
        case RecurrentKind::lstm:
            return "LSTM";
        case RecurrentKind::gru:
            return "GRU";
        default:
            return "RNN";
    }
}

// To an active capture: `weight` [out, in] multiplied the rows of `input` [..., in] into
// `output` (or into `parts`, side by side)
template <class T>
void report(RecurrentKind kind, const BasicTensor<T>& weight, const BasicTensor<T>& bias, const BasicTensor<T>& input,
            const BasicTensor<T>& output, const std::vector<BasicTensor<T>>& parts = {}) {
    auto* capture = LayerCapture<T>::active();
    if (!capture) return;  // (the common case: nothing copied)
    const std::size_t in = weight.shape()[1];
    Array<T> rows = input.value();
    rows.reshape({rows.size() / in, in});
    capture->record({kind_name(kind), weight, bias, std::move(rows), output, parts, {}});
}

// A weight [G H, in] split by gate into G of [H, in] (and its bias), once per call, so that
// no product is sliced by gate afterwards: in a differentiable sweep or a compiled trace a
// slice's gradient is the whole product's size (before first-order sweeps added slices'
// gradients in place, the recurrent weight's [B, G H] product sliced each step was a third of
// an LSTM's time; the input's [T, B, G H] projection sliced once a call, another sixth).
template <class T>
struct GateWeights {
    std::vector<BasicTensor<T>> w, b;
    BasicTensor<T> weight, bias;  // whole, as the parameters (for a capture)
};
template <class T>
GateWeights<T> by_gate(RecurrentKind kind, const BasicTensor<T>& weight, const BasicTensor<T>& bias) {
    const std::size_t g = gates(kind);
    GateWeights<T> w{chunk(weight, std::int64_t(g), 0), std::vector<BasicTensor<T>>(g), weight, bias};
    if (bias.defined()) w.b = chunk(bias, std::int64_t(g), 0);
    return w;
}

// x [..., in] times each gate's rows, x W_k^T + b_k [..., H], reported as the weight's product
template <class T>
std::vector<BasicTensor<T>> products(RecurrentKind kind, const BasicTensor<T>& x, const GateWeights<T>& w) {
    std::vector<BasicTensor<T>> p(w.w.size());
    for (std::size_t k = 0; k < p.size(); ++k) p[k] = functional::linear(x, w.w[k], w.b[k]);
    report(kind, w.weight, w.bias, x, {}, p);
    return p;
}

// One step from the input's projections per gate xp[k] = x W_ih,k^T + b_ih,k [B, H]: {h', c'}.
template <class T>
std::pair<BasicTensor<T>, BasicTensor<T>> step(RecurrentKind kind, const std::vector<BasicTensor<T>>& xp,
                                               const BasicTensor<T>& h, const BasicTensor<T>& c,
                                               const GateWeights<T>& w) {
    const std::vector<BasicTensor<T>> hp = products(kind, h, w);  // [B, H] each
    switch (kind) {
        case RecurrentKind::rnn_tanh:
            return {tanh(xp[0] + hp[0]), {}};
        case RecurrentKind::rnn_relu:
            return {relu(xp[0] + hp[0]), {}};
        case RecurrentKind::lstm: {  // i, f, g, o
            auto c_next = sigmoid(xp[1] + hp[1]) * c + sigmoid(xp[0] + hp[0]) * tanh(xp[2] + hp[2]);
            return {sigmoid(xp[3] + hp[3]) * tanh(c_next), c_next};
        }
        case RecurrentKind::gru: {  // r, z, n
            auto r = sigmoid(xp[0] + hp[0]), z = sigmoid(xp[1] + hp[1]);
            auto n = tanh(xp[2] + r * hp[2]);
            return {(T(1) - z) * n + z * h, {}};
        }
    }
    throw ValueError("recurrent step: unknown kind");
}

// One step of a cell from x [B, in]: the input's projection split by gate.
template <class T>
std::pair<BasicTensor<T>, BasicTensor<T>> cell_step(RecurrentKind kind, const BasicTensor<T>& x,
                                                    const BasicTensor<T>& h, const BasicTensor<T>& c,
                                                    const BasicTensor<T>& w_ih, const BasicTensor<T>& w_hh,
                                                    const BasicTensor<T>& b_ih, const BasicTensor<T>& b_hh) {
    return step(kind, products(kind, x, by_gate(kind, w_ih, b_ih)), h, c, by_gate(kind, w_hh, b_hh));
}

template <class T>
BasicTensor<T> zeros(std::size_t batch, std::size_t hidden) {
    Array<T> z = Array<T>::from_shape({batch, hidden});
    z.fill(T(0));
    return BasicTensor<T>::constant(std::move(z));
}

// U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as PyTorch's reset_parameters
template <class T>
Array<T> drawn(const Shape& shape, std::size_t hidden, Generator& gen) {
    double k = 1.0 / std::sqrt(double(hidden));
    return Array<T>((T(2) * rand<T>(shape, gen).value() - T(1)) * T(k));
}

template <class T>
void check_state(const char* layer, const char* what, const BasicTensor<T>& s, const Shape& expected) {
    if (s.defined() && s.shape() != expected)
        throw ShapeError(
            fmt::format("{}: {} of shape {} (expected {})", layer, what, to_string(s.shape()), to_string(expected)));
}
}  // namespace

template <class T>
Recurrent<T>::Recurrent(RecurrentKind kind, const RecurrentOptions& o, Generator& gen)
    : kind_(kind), options_(o), dropout_gen_(gen) {
    if (o.input_size == 0 || o.hidden_size == 0 || o.num_layers == 0)
        throw ValueError(fmt::format("{}: input_size {}, hidden_size {} and num_layers {} must be positive", name(),
                                     o.input_size, o.hidden_size, o.num_layers));
    if (!(o.dropout >= 0 && o.dropout < 1))
        throw ValueError(fmt::format("{}: dropout must be in [0, 1), got {}", name(), o.dropout));
    const std::size_t g = gates(kind) * o.hidden_size, directions = o.bidirectional ? 2 : 1;
    for (std::size_t layer = 0; layer < o.num_layers; ++layer)
        for (std::size_t d = 0; d < directions; ++d) {
            std::size_t in = layer == 0 ? o.input_size : o.hidden_size * directions;
            std::string suffix = fmt::format("_l{}{}", layer, d == 1 ? "_reverse" : "");
            Weights w;
            w.w_ih = this->register_parameter("weight_ih" + suffix, drawn<T>({g, in}, o.hidden_size, gen));
            w.w_hh = this->register_parameter("weight_hh" + suffix, drawn<T>({g, o.hidden_size}, o.hidden_size, gen));
            if (o.bias) {
                w.b_ih = this->register_parameter("bias_ih" + suffix, drawn<T>({g}, o.hidden_size, gen));
                w.b_hh = this->register_parameter("bias_hh" + suffix, drawn<T>({g}, o.hidden_size, gen));
            }
            weights_.push_back(std::move(w));
        }
}

template <class T>
const char* Recurrent<T>::name() const {
    return kind_name(kind_);
}

template <class T>
RecurrentOutput<T> Recurrent<T>::forward(const BasicTensor<T>& input, const BasicTensor<T>& h0,
                                         const BasicTensor<T>& c0) {
    const auto& o = options_;
    if (!input.defined() || input.dim() != 3 || input.shape()[2] != o.input_size)
        throw ShapeError(fmt::format("{}: expects [{}, {}] sequences, got shape {}", name(),
                                     o.batch_first ? "B, T" : "T, B", o.input_size,
                                     input.defined() ? to_string(input.shape()) : "undefined"));
    auto x = o.batch_first ? transpose(input, 0, 1) : input;  // [T, B, in]
    const std::size_t steps = x.shape()[0], batch = x.shape()[1], hidden = o.hidden_size;
    const std::size_t directions = o.bidirectional ? 2 : 1;
    const Shape state_shape{o.num_layers * directions, batch, hidden};
    check_state(name(), "h0", h0, state_shape);
    check_state(name(), "c0", c0, state_shape);
    if (c0.defined() && kind_ != RecurrentKind::lstm)
        throw ValueError(fmt::format("{}: a cell state c0 is for LSTM only", name()));
    auto initial = [&](const BasicTensor<T>& s, std::size_t index) {
        return s.defined() ? squeeze(narrow(s, 0, std::ptrdiff_t(index), 1), 0) : zeros<T>(batch, hidden);
    };
    std::vector<BasicTensor<T>> h_n, c_n;
    BasicTensor<T> layer_input = x;
    for (std::size_t layer = 0; layer < o.num_layers; ++layer) {
        std::vector<BasicTensor<T>> outputs;
        for (std::size_t d = 0; d < directions; ++d) {
            const std::size_t index = layer * directions + d;
            const Weights& w = weights_[index];
            // the input's projections for all steps: one product [T, B, H] per gate, split by step
            std::vector<std::vector<BasicTensor<T>>> xp_by_gate;
            for (auto& gate : products(kind_, layer_input, by_gate(kind_, w.w_ih, w.b_ih)))
                xp_by_gate.push_back(unbind(gate, 0));
            const GateWeights<T> w_gates = by_gate(kind_, w.w_hh, w.b_hh);
            std::vector<BasicTensor<T>> xp(xp_by_gate.size());
            BasicTensor<T> h = initial(h0, index),
                           c = kind_ == RecurrentKind::lstm ? initial(c0, index) : BasicTensor<T>();
            std::vector<BasicTensor<T>> hs(steps);
            for (std::size_t i = 0; i < steps; ++i) {
                std::size_t t = d == 0 ? i : steps - 1 - i;
                for (std::size_t k = 0; k < xp.size(); ++k) xp[k] = xp_by_gate[k][t];
                std::tie(h, c) = step(kind_, xp, h, c, w_gates);
                hs[t] = h;
            }
            outputs.push_back(stack(hs, 0));  // [T, B, H]
            h_n.push_back(h);
            if (kind_ == RecurrentKind::lstm) c_n.push_back(c);
        }
        layer_input = directions == 2 ? concat(outputs, 2) : outputs[0];
        if (o.dropout > 0 && layer + 1 < o.num_layers && this->is_training())
            layer_input = dropout(layer_input, o.dropout, true, dropout_gen_);
    }
    RecurrentOutput<T> out;
    out.output = o.batch_first ? transpose(layer_input, 0, 1) : layer_input;
    out.h_n = stack(h_n, 0);
    if (kind_ == RecurrentKind::lstm) out.c_n = stack(c_n, 0);
    return out;
}

template <class T>
Cell<T>::Cell(RecurrentKind kind, std::size_t input_size, std::size_t hidden_size, bool bias, Generator& gen)
    : kind_(kind), input_size_(input_size), hidden_size_(hidden_size) {
    if (input_size == 0 || hidden_size == 0)
        throw ValueError(fmt::format("{}Cell: input_size {} and hidden_size {} must be positive", kind_name(kind),
                                     input_size, hidden_size));
    const std::size_t g = gates(kind) * hidden_size;
    w_ih_ = this->register_parameter("weight_ih", drawn<T>({g, input_size}, hidden_size, gen));
    w_hh_ = this->register_parameter("weight_hh", drawn<T>({g, hidden_size}, hidden_size, gen));
    if (bias) {
        b_ih_ = this->register_parameter("bias_ih", drawn<T>({g}, hidden_size, gen));
        b_hh_ = this->register_parameter("bias_hh", drawn<T>({g}, hidden_size, gen));
    }
}

template <class T>
std::pair<BasicTensor<T>, BasicTensor<T>> Cell<T>::forward(const BasicTensor<T>& x, const BasicTensor<T>& h,
                                                           const BasicTensor<T>& c) {
    const std::string layer = fmt::format("{}Cell", kind_name(kind_));
    if (!x.defined() || x.dim() != 2 || x.shape()[1] != input_size_)
        throw ShapeError(fmt::format("{}: expects inputs [B, {}], got shape {}", layer, input_size_,
                                     x.defined() ? to_string(x.shape()) : "undefined"));
    const Shape state{x.shape()[0], hidden_size_};
    check_state(layer.c_str(), "h", h, state);
    check_state(layer.c_str(), "c", c, state);
    if (c.defined() && kind_ != RecurrentKind::lstm)
        throw ValueError(fmt::format("{}: a cell state c is for LSTMCell only", layer));
    auto h_ = h.defined() ? h : zeros<T>(state[0], state[1]);
    auto c_ = kind_ == RecurrentKind::lstm ? (c.defined() ? c : zeros<T>(state[0], state[1])) : BasicTensor<T>();
    return cell_step(kind_, x, h_, c_, w_ih_, w_hh_, b_ih_, b_hh_);
}

namespace functional {
template <class T>
BasicTensor<T> rnn_cell(const BasicTensor<T>& x, const BasicTensor<T>& h, const BasicTensor<T>& w_ih,
                        const BasicTensor<T>& w_hh, const BasicTensor<T>& b_ih, const BasicTensor<T>& b_hh, bool relu) {
    return cell_step(relu ? RecurrentKind::rnn_relu : RecurrentKind::rnn_tanh, x, h, {}, w_ih, w_hh, b_ih, b_hh).first;
}
template <class T>
std::pair<BasicTensor<T>, BasicTensor<T>> lstm_cell(const BasicTensor<T>& x, const BasicTensor<T>& h,
                                                    const BasicTensor<T>& c, const BasicTensor<T>& w_ih,
                                                    const BasicTensor<T>& w_hh, const BasicTensor<T>& b_ih,
                                                    const BasicTensor<T>& b_hh) {
    return cell_step(RecurrentKind::lstm, x, h, c, w_ih, w_hh, b_ih, b_hh);
}
template <class T>
BasicTensor<T> gru_cell(const BasicTensor<T>& x, const BasicTensor<T>& h, const BasicTensor<T>& w_ih,
                        const BasicTensor<T>& w_hh, const BasicTensor<T>& b_ih, const BasicTensor<T>& b_hh) {
    return cell_step(RecurrentKind::gru, x, h, {}, w_ih, w_hh, b_ih, b_hh).first;
}

#define XTGRAD_INSTANTIATE(T)                                                                                    \
    template BasicTensor<T> rnn_cell(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,        \
                                     const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&, bool); \
    template std::pair<BasicTensor<T>, BasicTensor<T>> lstm_cell(                                                \
        const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,              \
        const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&);                                    \
    template BasicTensor<T> gru_cell(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,        \
                                     const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE
}  // namespace functional

template class Recurrent<float>;
template class Recurrent<double>;
template class Cell<float>;
template class Cell<double>;

}  // namespace xtgrad::nn
