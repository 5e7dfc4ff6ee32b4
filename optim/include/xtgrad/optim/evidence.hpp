// The evidence (type-II maximum likelihood) chooses the weight decay and the noise level from
// the training data alone (MacKay 1992, "Bayesian interpolation"; Bishop 2006, 3.5 and 4.4).
//
// For linear-Gaussian regression the log marginal likelihood is closed-form and differentiable
// in log alpha and log beta; for other models (logistic regression, small MLPs) it is the
// Laplace estimate at the MAP point. MacKay's fixed point re-estimates alpha (and beta) with
// the effective number of parameters gamma = sum_i h_i / (h_i + alpha) = p - alpha tr(H^-1),
// h_i the eigenvalues of the data term's Hessian.
#pragma once

#include <functional>

#include "xtgrad/optim/laplace.hpp"

namespace xtgrad::optim {

/// Bayesian linear regression y = X w + e, e ~ N(0, I / beta), prior w ~ N(0, I / alpha):
///   log p(y | alpha, beta) = p/2 log alpha + n/2 log beta - E(m) - 1/2 log det A - n/2 log 2 pi,
/// A = alpha I + beta X^T X (the posterior precision), m = beta A^-1 X^T y (the posterior
/// mean), E(m) = beta/2 |y - X m|^2 + alpha/2 |m|^2 (Bishop 2006, eq. 3.86). Differentiable
/// (to second order) in the scalar tensors log_alpha and log_beta, and in X and y.
template <class T>
BasicTensor<T> linear_gaussian_log_evidence(const BasicTensor<T>& X, const BasicTensor<T>& y,
                                            const BasicTensor<T>& log_alpha, const BasicTensor<T>& log_beta);

struct EvidenceOptions {
    double alpha = 1;       ///< starting prior precision (weight decay, lambda = alpha / beta)
    double beta = 1;        ///< starting noise precision (1 / sigma^2); regression only
    bool fix_beta = false;  ///< keep beta (a known noise level)
    std::size_t max_iterations = 500;
    double tolerance = 1e-10;  ///< stop when alpha and beta change by less than this, relatively
};

struct EvidenceResult {
    double alpha = 0, beta = 0;  ///< the re-estimated precisions (beta = 0 for classification)
    double gamma = 0;            ///< effective number of parameters at the end
    double log_evidence = 0;     ///< at (alpha, beta)
    std::size_t iterations = 0;
    bool converged = false;
};

/// MacKay's fixed point for linear-Gaussian regression: gamma = p - alpha tr(A^-1),
/// alpha <- gamma / |m|^2, beta <- (n - gamma) / |y - X m|^2, until both change by less than
/// the tolerance. Its fixed points are the stationary points of the closed-form evidence.
template <class T>
EvidenceResult reestimate_linear_gaussian(const Array<T>& X, const Array<T>& y, const EvidenceOptions& options = {});

/// The negative log density of the prior N(0, I / alpha) over every element of `params`, its
/// normalising constant included: alpha/2 |w|^2 - p/2 log(alpha / (2 pi)). As a model's penalty
/// it makes Laplace::log_evidence() the log evidence with every constant, the value
/// laplace_log_evidence returns (tested equal); an l2_penalty there leaves the constant out
/// (p/2 log(2 pi / alpha): 28.5 nats for 31 parameters at alpha = 1). Differentiable in params.
template <class T>
BasicTensor<T> gaussian_prior(const TensorList<T>& params, double alpha);

/// The Laplace estimate of log p(D | alpha) for a model trained by MAP with the penalty
/// alpha/2 |w|^2 on every parameter, its data term `data_model` (loss(outputs()), no penalty) a
/// negative log-likelihood with its normalising constant: at the current (MAP) parameters,
///   -E_D(w) - alpha/2 |w|^2 + p/2 log alpha - 1/2 log det(H_D + alpha I).
template <class T>
double laplace_log_evidence(const TensorList<T>& params, const CurvatureModel<T>& data_model, double alpha,
                            Curvature curvature = Curvature::hessian);

/// MacKay's re-estimation of alpha for such a model: repeat { fit(alpha) moves the parameters to
/// the MAP point for alpha; gamma = p - alpha tr((H_D + alpha I)^-1); alpha <- gamma / |w|^2 }.
/// The update neglects how H_D changes with alpha, so for a non-Gaussian likelihood it lands
/// near, not on, the maximiser of the Laplace evidence (in the tests' logistic regression, 11 %
/// off in alpha and 0.007 nats below the maximum: the evidence is flat there).
template <class T>
EvidenceResult reestimate_weight_decay(const TensorList<T>& params, const CurvatureModel<T>& data_model,
                                       const std::function<void(double alpha)>& fit,
                                       const EvidenceOptions& options = {}, Curvature curvature = Curvature::hessian);

}  // namespace xtgrad::optim
