// The Laplace approximation: at a mode w* of a negative log posterior E(w) (a model's loss +
// penalty), the posterior is approximated by N(w*, H^-1), H the Hessian of E at w* (exact,
// from the engine's second derivatives) or the Gauss-Newton matrix. It also approximates the
// evidence, log p(D) ~ -E(w*) + p/2 log(2 pi) - 1/2 log det H, where E must include every
// normalising constant of the likelihood and the prior (MacKay 1992; Bishop 2006, 4.4).
//
// Laplace forms H (p curvature-vector products) for models small enough to hold a p x p
// matrix; MatrixFreeLaplace uses products only: log det H by stochastic Lanczos quadrature,
// variances by conjugate gradients.
#pragma once

#include <cstdint>
#include <memory>

#include "xtgrad/optim/curvature.hpp"

namespace xtgrad::optim {

/// An estimate and its standard error.
struct Estimate {
    double value = 0;
    double standard_error = 0;
};

template <class T>
class Laplace {
public:
    /// Forms H at the current values of `params` from p products and factors it (Cholesky).
    /// DomainError if H is not positive definite there (not a strict minimum).
    Laplace(const TensorList<T>& params, const CurvatureModel<T>& model, Curvature curvature = Curvature::hessian);

    std::size_t size() const { return size_; }
    /// E at the parameters: loss(outputs()) + penalty(), as the model computes it.
    double loss() const { return loss_; }
    /// H, [p, p], parameters flattened in order, each row-major.
    const Array<T>& precision() const { return precision_; }
    /// H^-1, the posterior covariance.
    Array<T> covariance() const;
    double log_det_precision() const { return log_det_; }
    /// v^T H^-1 v: the variance of a linearised prediction whose gradient is v.
    double variance_along(const ParamVector<T>& v) const;
    /// -E(w*) + p/2 log(2 pi) - 1/2 log det H, with E(w*) = `negative_log_joint` (by default
    /// loss(), for a model whose loss and penalty carry their normalising constants: a Gaussian
    /// prior as `gaussian_prior` (evidence.hpp), not `l2_penalty`, which has none).
    double log_evidence(double negative_log_joint) const;
    double log_evidence() const { return log_evidence(loss_); }

private:
    std::size_t size_ = 0;
    double loss_ = 0, log_det_ = 0;
    Array<T> precision_, factor_;  // H and its lower Cholesky factor
    std::vector<Shape> shapes_;
};

struct MatrixFreeLaplaceOptions {
    std::size_t probes = 32;            ///< Rademacher probe vectors for log det H
    std::size_t lanczos_steps = 40;     ///< per probe (capped at p); with full reorthogonalisation
    std::uint64_t seed = 0;             ///< of the probes
    double cg_rtol = 1e-10;             ///< variance_along: |H x - v| <= cg_rtol |v|
    std::size_t cg_max_iterations = 0;  ///< 0: 2 p
};

template <class T>
class MatrixFreeLaplace {
public:
    /// Records the model once at the current parameters; every quantity below costs products
    /// H v only (two reverse sweeps each).
    MatrixFreeLaplace(const TensorList<T>& params, const CurvatureModel<T>& model,
                      Curvature curvature = Curvature::hessian, MatrixFreeLaplaceOptions options = {});
    ~MatrixFreeLaplace();
    MatrixFreeLaplace(const MatrixFreeLaplace&) = delete;
    MatrixFreeLaplace& operator=(const MatrixFreeLaplace&) = delete;

    std::size_t size() const { return size_; }
    double loss() const;
    /// log det H by stochastic Lanczos quadrature (Ubaru, Chen and Saad 2017): the mean over
    /// probes z of |z|^2 e1^T log(T_z) e1, T_z the Lanczos tridiagonal matrix of z. The standard
    /// error is that of the probe mean; the quadrature error of each probe falls exponentially
    /// with the steps (below the standard error once steps exceed a few sqrt(cond H)).
    /// DomainError if H shows a non-positive eigenvalue.
    Estimate log_det_precision() const;
    /// v^T H^-1 v by conjugate gradients (to the options' tolerance; ValueError if CG fails).
    double variance_along(const ParamVector<T>& v) const;
    Estimate log_evidence(double negative_log_joint) const;
    Estimate log_evidence() const { return log_evidence(loss()); }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::size_t size_ = 0;
    MatrixFreeLaplaceOptions options_;
};

extern template class Laplace<float>;
extern template class Laplace<double>;
extern template class MatrixFreeLaplace<float>;
extern template class MatrixFreeLaplace<double>;

}  // namespace xtgrad::optim
