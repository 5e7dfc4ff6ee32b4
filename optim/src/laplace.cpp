// The Laplace approximation, with the Hessian formed (Laplace) or only applied
// (MatrixFreeLaplace). Both start from one recording of the model (CurvatureRecording).
#include "xtgrad/optim/laplace.hpp"

#include <cmath>
#include <random>

#include <xtensor/xbuilder.hpp>

#include "curvature_recording.hpp"
#include "lanczos.hpp"
#include "log_2pi.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

using detail::CurvatureRecording;
using detail::from_flat;
using detail::to_flat;
using detail::total_size;
using detail::Vec;

namespace {

template <class T>
void check_direction(const char* who, const Vec<T>& v, const std::vector<Shape>& shapes) {
    bool ok = v.size() == shapes.size();
    for (std::size_t i = 0; ok && i < v.size(); ++i) ok = v[i].shape() == shapes[i];
    if (!ok) throw ShapeError(fmt::format("{}: the direction must have one array per parameter, of its shape", who));
}

}  // namespace

// ---- Laplace: H formed ------------------------------------------------------------------

template <class T>
Laplace<T>::Laplace(const TensorList<T>& params, const CurvatureModel<T>& model, Curvature curvature) {
    size_ = total_size(params);
    for (auto& t : params) shapes_.push_back(t.shape());
    CurvatureRecording<T> recording(model, params, curvature);
    loss_ = recording.loss();
    precision_ = recording.matrix();
    NoGrad no_grad;
    try {
        factor_ = cholesky(BasicTensor<T>::constant(precision_)).value();
    } catch (const DomainError& e) {
        throw DomainError(
            fmt::format("Laplace: the {} of the loss ({} x {}) is not positive definite at these "
                        "parameters, so they are not a strict minimum ({})",
                        curvature == Curvature::hessian ? "Hessian" : "Gauss-Newton matrix", size_, size_, e.what()));
    }
    log_det_ = 0;
    for (std::size_t i = 0; i < size_; ++i) log_det_ += 2 * std::log(double(factor_(i, i)));
}

template <class T>
Array<T> Laplace<T>::covariance() const {
    NoGrad no_grad;
    Array<T> eye = xt::eye<T>(size_);
    return cholesky_solve(BasicTensor<T>::constant(std::move(eye)), BasicTensor<T>::constant(factor_)).value();
}

template <class T>
double Laplace<T>::variance_along(const ParamVector<T>& v) const {
    check_direction("Laplace::variance_along", v, shapes_);
    std::vector<double> flat = to_flat(v);
    Array<T> rhs = Array<T>::from_shape({size_});
    for (std::size_t i = 0; i < size_; ++i) rhs(i) = T(flat[i]);
    NoGrad no_grad;
    auto z = triangular_solve(BasicTensor<T>::constant(factor_), BasicTensor<T>::constant(rhs), false).value();
    double s = 0;
    for (auto e : z) s += double(e) * double(e);
    return s;
}

template <class T>
double Laplace<T>::log_evidence(double negative_log_joint) const {
    return -negative_log_joint + 0.5 * double(size_) * kLog2Pi - 0.5 * log_det_;
}

// ---- MatrixFreeLaplace: products only --------------------------------------------------

template <class T>
struct MatrixFreeLaplace<T>::Impl {
    TensorList<T> params;
    std::vector<Shape> shapes;
    mutable CurvatureRecording<T> recording;
    Impl(const TensorList<T>& p, const CurvatureModel<T>& model, Curvature c) : params(p), recording(model, p, c) {
        for (auto& t : p) shapes.push_back(t.shape());
    }
    std::vector<double> apply(const std::vector<double>& x) const {
        std::vector<T> xt(x.begin(), x.end());
        return to_flat(recording.product(from_flat(xt.data(), params)));
    }
};

template <class T>
MatrixFreeLaplace<T>::MatrixFreeLaplace(const TensorList<T>& params, const CurvatureModel<T>& model,
                                        Curvature curvature, MatrixFreeLaplaceOptions options)
    : impl_(std::make_unique<Impl>(params, model, curvature)), size_(total_size(params)), options_(options) {
    if (options_.probes < 2 || options_.lanczos_steps < 1)
        throw ValueError(fmt::format("MatrixFreeLaplace: needs at least 2 probes and 1 Lanczos step, got {} and {}",
                                     options_.probes, options_.lanczos_steps));
}

template <class T>
MatrixFreeLaplace<T>::~MatrixFreeLaplace() = default;

template <class T>
double MatrixFreeLaplace<T>::loss() const {
    return impl_->recording.loss();
}

template <class T>
Estimate MatrixFreeLaplace<T>::log_det_precision() const {
    const std::size_t p = size_, steps = std::min(options_.lanczos_steps, p);
    std::mt19937_64 rng(options_.seed);
    std::bernoulli_distribution coin(0.5);
    std::vector<double> samples;
    for (std::size_t probe = 0; probe < options_.probes; ++probe) {
        std::vector<double> z(p);
        for (auto& e : z) e = coin(rng) ? 1.0 : -1.0;
        double znorm2 = double(p);
        std::vector<double> start(p);
        for (std::size_t i = 0; i < p; ++i) start[i] = z[i] / std::sqrt(znorm2);
        detail::Lanczos l =
            detail::lanczos([this](const std::vector<double>& v) { return impl_->apply(v); }, start, steps);
        std::vector<double> theta, vectors;
        detail::ritz(l, theta, vectors);
        const std::size_t m = theta.size();
        std::vector<double> tau(m);
        for (std::size_t k = 0; k < m; ++k) tau[k] = vectors[k];  // first components: row 0
        double quad = 0;
        for (std::size_t k = 0; k < m; ++k) {
            if (!(theta[k] > 0))
                throw DomainError(
                    fmt::format("MatrixFreeLaplace: the curvature has a non-positive eigenvalue "
                                "(Ritz value {}): the parameters are not a strict minimum",
                                theta[k]));
            quad += tau[k] * tau[k] * std::log(theta[k]);
        }
        samples.push_back(znorm2 * quad);
    }
    double mean = 0, var = 0;
    for (double s : samples) mean += s / double(samples.size());
    for (double s : samples) var += (s - mean) * (s - mean) / double(samples.size() - 1);
    return {mean, std::sqrt(var / double(samples.size()))};
}

template <class T>
double MatrixFreeLaplace<T>::variance_along(const ParamVector<T>& v) const {
    check_direction("MatrixFreeLaplace::variance_along", v, impl_->shapes);
    ParamVector<T> x;
    LinearCGOptions<T> cg{.max_iterations = options_.cg_max_iterations ? options_.cg_max_iterations : 2 * size_,
                          .rtol = options_.cg_rtol};
    auto product = [this](const ParamVector<T>& u) { return impl_->recording.product(u); };
    auto result = linear_cg<T>(product, v, x, cg);
    if (!result.converged || result.negative_curvature)
        throw ValueError(
            fmt::format("MatrixFreeLaplace::variance_along: conjugate gradients {} after {} iterations "
                        "(relative residual {:.3g})",
                        result.negative_curvature ? "met negative curvature" : "did not converge", result.iterations,
                        result.relative_residual));
    return detail::dot(v, x);
}

template <class T>
Estimate MatrixFreeLaplace<T>::log_evidence(double negative_log_joint) const {
    Estimate ld = log_det_precision();
    return {-negative_log_joint + 0.5 * double(size_) * kLog2Pi - 0.5 * ld.value, 0.5 * ld.standard_error};
}

template class Laplace<float>;
template class Laplace<double>;
template class MatrixFreeLaplace<float>;
template class MatrixFreeLaplace<double>;

}  // namespace xtgrad::optim
