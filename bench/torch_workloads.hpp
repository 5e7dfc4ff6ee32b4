// The libtorch side of the benchmarks, behind plain C++ signatures so that only one
// translation unit includes <torch/torch.h> (15 s to compile).
#pragma once

#include <functional>

namespace torch_side {

bool available();
void set_threads(int n);
/// Chain of `ops` scalar ops (mul, add, sin, repeated), forward + backward: seconds per chain.
double op_chain(int ops, int reps);
/// One SGD step (forward, backward, update) of MLP 64-128-10, tanh, cross entropy: seconds.
double mlp_step(bool f32, int batch, int reps);
/// Gradient and Hessian-vector product (double backward) of that MLP in float64: seconds each.
void mlp_hvp(int batch, int reps, double& grad_seconds, double& hvp_seconds);
/// sum(sigmoid(x) * x) forward + backward on n float64 values: seconds.
double sigmoid_sum(long n, int reps);

/// One SGD step of MLP 784-256-256-10, ReLU, cross entropy, float32: seconds.
double mlp784_step(int batch, int reps);

/// One Adam step (forward, backward, update) of MLP 784-256-256-10, ReLU, float32: seconds.
double adam784_step(int batch, int reps);
/// Gradient plus `iterations` conjugate-gradient iterations on damped Hessian-vector
/// products (double backward, + damping v) of MLP 64-128-10, tanh, cross entropy, float64: seconds.
double newton_cg_step(int batch, int iterations, double damping, int reps);

/// One Adam step of the digits CNN (Conv2d 1-16 and 16-32, 3 x 3, padding 1, ReLU, 2 x 2 max
/// pooling, Linear 128-10) on [batch, 1, 8, 8] float32 images: seconds.
double cnn_adam_step(int batch, int reps);

/// A model, its data and its optimizer, set up once; each call of the function is one Adam step
/// (forward, backward, update). Returned rather than timed here, so that the benchmark can take
/// its steps in turn with xtgrad's (bench::interleaved_medians).
/// torch::nn::LSTM(32, 128, 2 layers, batch_first) with a linear layer on the last output, mean
/// squared error, on [32, 50, 32] float32 sequences.
std::function<void()> lstm_adam_stepper();
/// torch::nn::TransformerEncoderLayer(d_model 128, 4 heads, feed-forward 512, dropout 0) on
/// [64, 32, 128], mean of squares of the output, float32.
std::function<void()> encoder_adam_stepper();

/// Forward and backward seconds (medians of `reps`) of one linear-algebra op in float64 at size
/// n, as bench_linalg.cpp's rows: "solve", "inverse", "logdet" or "cholesky_solve".
void linalg(const char* op, int n, int reps, double& forward_seconds, double& backward_seconds);

}  // namespace torch_side
