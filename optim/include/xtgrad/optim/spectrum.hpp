// Curvature diagnostics of a model at its current parameters (PyHessian, Yao et al. 2020): the
// largest eigenvalues of the Hessian or Gauss-Newton matrix by Lanczos, its trace by
// Hutchinson's estimator, and its spectral density by stochastic Lanczos quadrature (Ubaru,
// Chen and Saad 2017). Each costs curvature-vector products only (two reverse sweeps each),
// from one recording of the model.
#pragma once

#include <cstdint>
#include <vector>

#include "xtgrad/optim/laplace.hpp"

namespace xtgrad::optim {

struct SpectrumOptions {
    /// Lanczos steps (each one curvature-vector product); 0: min(p, max(3k, k + 30)) for the
    /// top eigenvalues, min(p, 80) for the density. With p steps the eigenvalues are exact up to
    /// rounding (full reorthogonalisation).
    std::size_t lanczos_steps = 0;
    std::size_t probes = 16;  ///< Rademacher vectors (trace and density)
    std::uint64_t seed = 0;   ///< of the start vector and the probes
};

/// The k largest eigenvalues (descending) and their unit eigenvectors, one array per parameter.
template <class T>
struct Eigenpairs {
    std::vector<double> values;
    std::vector<ParamVector<T>> vectors;
};

/// Top-k eigenpairs of the curvature (Curvature::hessian: of loss + penalty; fisher: the
/// Gauss-Newton matrix) by Lanczos with full reorthogonalisation from a random start. ValueError
/// if k is 0 or more than the number of parameters.
template <class T>
Eigenpairs<T> top_eigenpairs(const TensorList<T>& params, const CurvatureModel<T>& model, std::size_t k,
                             Curvature curvature = Curvature::hessian, const SpectrumOptions& options = {});

/// tr(H) by Hutchinson: the mean of z^T H z over Rademacher probes z, with its standard error.
template <class T>
Estimate curvature_trace(const TensorList<T>& params, const CurvatureModel<T>& model,
                         Curvature curvature = Curvature::hessian, const SpectrumOptions& options = {});

/// The spectral density of H by stochastic Lanczos quadrature: for each probe, the Ritz values
/// of its Lanczos matrix (nodes) with the squared first components of their vectors (weights,
/// summing to 1 per probe); averaged over probes, sum_k weight_k f(node_k) estimates
/// tr(f(H)) / p, exactly in expectation for polynomials f of degree below twice the steps.
struct SpectralDensity {
    std::vector<double> nodes, weights;  ///< every probe's, weights divided by the number of probes
    std::size_t size = 0;                ///< p, the dimension of H
    /// The density smoothed by Gaussians of width `sigma` on `grid` (integrates to 1 over a wide grid).
    std::vector<double> smoothed(const std::vector<double>& grid, double sigma) const;
    /// The estimate of tr(H^j) / p: sum_k weight_k node_k^j.
    double moment(int j) const;
};
template <class T>
SpectralDensity spectral_density(const TensorList<T>& params, const CurvatureModel<T>& model,
                                 Curvature curvature = Curvature::hessian, const SpectrumOptions& options = {});

}  // namespace xtgrad::optim
