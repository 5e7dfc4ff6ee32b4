// Losses: functions of tensors built from autodiff ops (or a custom op with its own
// checked rule), so gradients and Hessian-vector products flow through all of them.
//
// Predictions and targets must have equal shapes (no silent broadcasting); labels must be
// in range; NaN predictions are rejected. Errors name the loss and the shapes or the index.
#pragma once

#include <vector>

#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

enum class Reduction { sum, mean, none };

/// 0.5 * sum((z - t)^2): the sum-squared error (reduction sum by default; mean divides by
/// the number of elements; none keeps the elementwise 0.5 (z - t)^2).
template <class T>
BasicTensor<T> sum_squared_error(const BasicTensor<T>& z, const BasicTensor<T>& t, Reduction r = Reduction::sum);

/// mean((z - t)^2).
template <class T>
BasicTensor<T> mean_squared_error(const BasicTensor<T>& z, const BasicTensor<T>& t, Reduction r = Reduction::mean);

/// Negative log-likelihood of t under N(z, sigma^2): 0.5 ((z - t)/sigma)^2 + log sigma + 0.5 log 2 pi
/// per element. Its minimiser in z does not depend on sigma (sigma > 0 required).
template <class T>
BasicTensor<T> gaussian_nll(const BasicTensor<T>& z, const BasicTensor<T>& t, double sigma,
                            Reduction r = Reduction::mean);

/// -(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1] (DomainError outside), with
/// 0 log 0 = 0 so that p = t = 0 or 1 gives 0 and never NaN.
template <class T>
BasicTensor<T> binary_cross_entropy(const BasicTensor<T>& p, const BasicTensor<T>& t, Reduction r = Reduction::mean);

/// Binary cross entropy from logits s, fused and stable for any finite s:
/// w t softplus(-s) + (1 - t) softplus(s), w the positive-class weight (1 by default).
/// Its gradient is exactly sigmoid(s) - t when w = 1.
template <class T>
BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>& s, const BasicTensor<T>& t,
                                                Reduction r = Reduction::mean, double pos_weight = 1.0);

struct CrossEntropyOptions {
    Reduction reduction = Reduction::mean;
    std::vector<double> class_weights;  ///< empty: all 1; mean divides by the weights of the targets
    double label_smoothing = 0.0;       ///< in [0, 1): targets (1 - e) onehot + e / C
};

/// Multi-class cross entropy from logits [N, C] and integer labels (one per row):
/// -log softmax(z)[n, label_n]. Per row its gradient is exactly softmax(z) - onehot.
template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const IndexArray& labels,
                             const CrossEntropyOptions& options = {});

/// Cross entropy from logits [N, C] against probability targets [N, C] (rows summing to 1):
/// -sum_k t_k log softmax(z)_k per row.
template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const BasicTensor<T>& target_probs,
                             Reduction r = Reduction::mean);

/// Negative log-likelihood of labels under log-probabilities [N, C] (e.g. from log_softmax).
template <class T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, const IndexArray& labels,
                        Reduction r = Reduction::mean);

/// KL(p || q) = sum p log(p / q) along the last axis, for distributions p and q
/// (0 log 0 = 0). Reduction over the remaining rows.
template <class T>
BasicTensor<T> kl_divergence(const BasicTensor<T>& p, const BasicTensor<T>& q, Reduction r = Reduction::sum);

/// H(p) = -sum p log p along the last axis (0 log 0 = 0).
template <class T>
BasicTensor<T> entropy(const BasicTensor<T>& p, Reduction r = Reduction::sum);

/// lambda / 2 * sum of squares of the module's parameters (weights only when
/// `exclude_bias`: parameters whose name ends in "bias" are skipped). Adding it to a loss is
/// coupled weight decay (L2 regularisation).
template <class T>
BasicTensor<T> l2_penalty(const Module<T>& module, double lambda, bool exclude_bias = true);

}  // namespace xtgrad::nn
