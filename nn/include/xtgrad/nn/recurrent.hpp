// Recurrent layers as PyTorch's torch.nn.RNN, LSTM and GRU: the same parameter names, shapes,
// gate orders (LSTM i, f, g, o; GRU r, z, n), initialisation U(-1/sqrt(H), 1/sqrt(H)),
// layouts ([T, B, features], or [B, T, features] with batch_first) and outputs, so a PyTorch
// state_dict loads and gives the same outputs. Each step is a few ops, so gradients and
// Hessian-vector products flow through time (backpropagation through time, to second order).
// The input's projections for all time steps of a layer are one matrix product (as cuDNN's and
// PyTorch's), leaving the recurrent product per step.
#pragma once

#include <optional>

#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

enum class RecurrentKind { rnn_tanh, rnn_relu, lstm, gru };

struct RecurrentOptions {
    std::size_t input_size = 0;   ///< > 0
    std::size_t hidden_size = 0;  ///< > 0
    std::size_t num_layers = 1;   ///< > 0
    bool bias = true;
    bool batch_first = false;  ///< [B, T, features] instead of [T, B, features], as PyTorch's
    double dropout = 0;        ///< on each layer's output but the last's, in training, in [0, 1)
    bool bidirectional = false;
};

/// The outputs of RNN, LSTM and GRU: `output` [T, B, D H] (D = 2 when bidirectional; [B, T, D H]
/// with batch_first), the last hidden state of each layer and direction `h_n` [L D, B, H],
/// and for LSTM the last cell state `c_n` [L D, B, H] (undefined otherwise).
template <class T>
struct RecurrentOutput {
    BasicTensor<T> output, h_n, c_n;
};

/// The common implementation of RNN, LSTM and GRU, one of `kind`. Parameters per layer k and
/// direction: weight_ih_l{k}[_reverse] [G H, in], weight_hh_l{k} [G H, H], bias_ih_l{k} [G H],
/// bias_hh_l{k} [G H], with G = 1 (RNN), 4 (LSTM), 3 (GRU).
template <class T>
class Recurrent : public Module<T> {
public:
    Recurrent(RecurrentKind kind, const RecurrentOptions& options, Generator& gen = default_generator());
    /// `h0` (and for LSTM `c0`): initial states [L D, B, H]; undefined: zeros.
    RecurrentOutput<T> forward(const BasicTensor<T>& input, const BasicTensor<T>& h0 = {},
                               const BasicTensor<T>& c0 = {});
    RecurrentOutput<T> operator()(const BasicTensor<T>& input, const BasicTensor<T>& h0 = {},
                                  const BasicTensor<T>& c0 = {}) {
        return this->scoped([&] { return forward(input, h0, c0); });
    }
    const RecurrentOptions& options() const { return options_; }
    /// Draws the masks of `dropout`: a handle to the generator the layer was made with (by
    /// default the process's, as PyTorch's draws from its global generator).
    Generator& generator() { return dropout_gen_; }

private:
    struct Weights {
        BasicTensor<T> w_ih, w_hh, b_ih, b_hh;
    };
    const char* name() const;
    RecurrentKind kind_;
    RecurrentOptions options_;
    std::vector<Weights> weights_;  // layer-major, then direction
    Generator dropout_gen_;
};

template <class T>
struct RNN : Recurrent<T> {
    /// `relu`: PyTorch's nonlinearity='relu' (tanh otherwise).
    explicit RNN(const RecurrentOptions& options, bool relu = false, Generator& gen = default_generator())
        : Recurrent<T>(relu ? RecurrentKind::rnn_relu : RecurrentKind::rnn_tanh, options, gen) {}
    RNN(std::size_t input_size, std::size_t hidden_size)
        : RNN(RecurrentOptions{.input_size = input_size, .hidden_size = hidden_size}) {}
};
template <class T>
struct LSTM : Recurrent<T> {
    explicit LSTM(const RecurrentOptions& options, Generator& gen = default_generator())
        : Recurrent<T>(RecurrentKind::lstm, options, gen) {}
    LSTM(std::size_t input_size, std::size_t hidden_size)
        : LSTM(RecurrentOptions{.input_size = input_size, .hidden_size = hidden_size}) {}
};
template <class T>
struct GRU : Recurrent<T> {
    explicit GRU(const RecurrentOptions& options, Generator& gen = default_generator())
        : Recurrent<T>(RecurrentKind::gru, options, gen) {}
    GRU(std::size_t input_size, std::size_t hidden_size)
        : GRU(RecurrentOptions{.input_size = input_size, .hidden_size = hidden_size}) {}
};

/// One step of each kind on x [B, in] and h [B, H], with weights laid out as above: the
/// functional forms of the cells. Biases may be undefined.
namespace functional {
template <class T>
BasicTensor<T> rnn_cell(const BasicTensor<T>& x, const BasicTensor<T>& h, const BasicTensor<T>& w_ih,
                        const BasicTensor<T>& w_hh, const BasicTensor<T>& b_ih, const BasicTensor<T>& b_hh,
                        bool relu = false);
/// {h', c'}: gates i, f, g, o; c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c').
template <class T>
std::pair<BasicTensor<T>, BasicTensor<T>> lstm_cell(const BasicTensor<T>& x, const BasicTensor<T>& h,
                                                    const BasicTensor<T>& c, const BasicTensor<T>& w_ih,
                                                    const BasicTensor<T>& w_hh, const BasicTensor<T>& b_ih,
                                                    const BasicTensor<T>& b_hh);
/// r, z, n: n = tanh(x W_in + b_in + r (h W_hn + b_hn)), h' = (1 - z) n + z h.
template <class T>
BasicTensor<T> gru_cell(const BasicTensor<T>& x, const BasicTensor<T>& h, const BasicTensor<T>& w_ih,
                        const BasicTensor<T>& w_hh, const BasicTensor<T>& b_ih, const BasicTensor<T>& b_hh);
}  // namespace functional

/// One step as a module (torch.nn.RNNCell, LSTMCell, GRUCell), for loops written by hand:
/// parameters weight_ih [G H, in], weight_hh [G H, H], bias_ih, bias_hh [G H]. `forward(x, h,
/// c)` returns {h', c'} (c' undefined but for LSTM); undefined h or c start at zeros.
template <class T>
class Cell : public Module<T> {
public:
    Cell(RecurrentKind kind, std::size_t input_size, std::size_t hidden_size, bool bias = true,
         Generator& gen = default_generator());
    std::pair<BasicTensor<T>, BasicTensor<T>> forward(const BasicTensor<T>& x, const BasicTensor<T>& h = {},
                                                      const BasicTensor<T>& c = {});
    std::pair<BasicTensor<T>, BasicTensor<T>> operator()(const BasicTensor<T>& x, const BasicTensor<T>& h = {},
                                                         const BasicTensor<T>& c = {}) {
        return this->scoped([&] { return forward(x, h, c); });
    }

private:
    RecurrentKind kind_;
    std::size_t input_size_, hidden_size_;
    BasicTensor<T> w_ih_, w_hh_, b_ih_, b_hh_;
};
template <class T>
struct LSTMCell : Cell<T> {
    LSTMCell(std::size_t input_size, std::size_t hidden_size, bool bias = true, Generator& gen = default_generator())
        : Cell<T>(RecurrentKind::lstm, input_size, hidden_size, bias, gen) {}
};
template <class T>
struct GRUCell : Cell<T> {
    GRUCell(std::size_t input_size, std::size_t hidden_size, bool bias = true, Generator& gen = default_generator())
        : Cell<T>(RecurrentKind::gru, input_size, hidden_size, bias, gen) {}
};
template <class T>
struct RNNCell : Cell<T> {
    RNNCell(std::size_t input_size, std::size_t hidden_size, bool bias = true, Generator& gen = default_generator())
        : Cell<T>(RecurrentKind::rnn_tanh, input_size, hidden_size, bias, gen) {}
};

extern template class Cell<float>;
extern template class Cell<double>;
extern template class Recurrent<float>;
extern template class Recurrent<double>;

}  // namespace xtgrad::nn
