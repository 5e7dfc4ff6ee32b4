// Evidence for the weight decay and the noise level: the closed form of linear-Gaussian
// regression written with differentiable ops, MacKay's fixed point, and the Laplace estimate
// for other models.
#include "xtgrad/optim/evidence.hpp"

#include <cmath>

#include <xtensor/xbuilder.hpp>

#include "log_2pi.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

namespace {

template <class T>
Array<T> identity(std::size_t n) {
    return xt::eye<T>(n);
}

void check_precisions(const char* who, double alpha, double beta) {
    if (!(alpha > 0 && std::isfinite(alpha)) || !(beta > 0 && std::isfinite(beta)))
        throw ValueError(
            fmt::format("{}: alpha and beta must be positive and finite, got {} and {}", who, alpha, beta));
}

bool settled(double before, double after, double tolerance) {
    return std::abs(after - before) <= tolerance * std::abs(before);
}
}  // namespace

template <class T>
BasicTensor<T> linear_gaussian_log_evidence(const BasicTensor<T>& X, const BasicTensor<T>& y,
                                            const BasicTensor<T>& log_alpha, const BasicTensor<T>& log_beta) {
    if (X.dim() != 2 || y.dim() != 1 || y.shape()[0] != X.shape()[0])
        throw ShapeError(fmt::format("linear_gaussian_log_evidence: X [n, p] and y [n] needed, got {} and {}",
                                     to_string(X.shape()), to_string(y.shape())));
    if (log_alpha.size() != 1 || log_beta.size() != 1)
        throw ShapeError("linear_gaussian_log_evidence: log_alpha and log_beta must be single values");
    const std::size_t n = X.shape()[0], p = X.shape()[1];
    auto alpha = exp(reshape(log_alpha, {})), beta = exp(reshape(log_beta, {}));
    auto Xt = transpose(X);
    auto precision = alpha * BasicTensor<T>::constant(identity<T>(p)) + beta * matmul(Xt, X);  // A
    auto factor = cholesky(precision);
    auto mean = beta * cholesky_solve(matmul(Xt, y), factor);  // m
    auto residual = y - matmul(X, mean);
    auto energy = beta * sum(square(residual)) * T(0.5) + alpha * sum(square(mean)) * T(0.5);
    auto log_det = sum(log(diag(factor))) * T(2);
    return reshape(log_alpha, {}) * T(0.5 * double(p)) + reshape(log_beta, {}) * T(0.5 * double(n)) - energy -
           log_det * T(0.5) - T(0.5 * double(n) * kLog2Pi);
}

template <class T>
EvidenceResult reestimate_linear_gaussian(const Array<T>& X, const Array<T>& y, const EvidenceOptions& o) {
    check_precisions("reestimate_linear_gaussian", o.alpha, o.beta);
    NoGrad no_grad;
    auto Xc = BasicTensor<T>::constant(X), yc = BasicTensor<T>::constant(y);
    if (X.dimension() != 2 || y.dimension() != 1 || y.shape()[0] != X.shape()[0])
        throw ShapeError(fmt::format("reestimate_linear_gaussian: X [n, p] and y [n] needed, got {} and {}",
                                     to_string(X.shape()), to_string(y.shape())));
    const std::size_t n = X.shape()[0], p = X.shape()[1];
    Array<T> gram = matmul(transpose(Xc), Xc).value();
    Array<T> xty = matmul(transpose(Xc), yc).value();
    EvidenceResult r{o.alpha, o.beta};
    for (r.iterations = 1; r.iterations <= o.max_iterations; ++r.iterations) {
        Array<T> a = gram * T(r.beta) + identity<T>(p) * T(r.alpha);
        auto factor = cholesky(BasicTensor<T>::constant(a));
        Array<T> m = (cholesky_solve(BasicTensor<T>::constant(xty), factor) * T(r.beta)).value();
        Array<T> cov = cholesky_solve(BasicTensor<T>::constant(identity<T>(p)), factor).value();
        double trace = 0, m2 = 0, sse = 0;
        for (std::size_t i = 0; i < p; ++i) trace += double(cov(i, i));
        for (auto e : m) m2 += double(e) * double(e);
        Array<T> res = y - matmul(Xc, BasicTensor<T>::constant(m)).value();
        for (auto e : res) sse += double(e) * double(e);
        r.gamma = double(p) - r.alpha * trace;
        double alpha = r.gamma / m2;
        double beta = o.fix_beta ? r.beta : (double(n) - r.gamma) / sse;
        check_precisions("reestimate_linear_gaussian", alpha, beta);
        bool done = settled(r.alpha, alpha, o.tolerance) && settled(r.beta, beta, o.tolerance);
        r.alpha = alpha;
        r.beta = beta;
        if (done) {
            r.converged = true;
            break;
        }
    }
    r.iterations = std::min(r.iterations, o.max_iterations);
    r.log_evidence = linear_gaussian_log_evidence(Xc, yc, BasicTensor<T>::scalar(T(std::log(r.alpha))),
                                                  BasicTensor<T>::scalar(T(std::log(r.beta))))
                         .item();
    return r;
}

namespace {
template <class T>
CurvatureModel<T> with_weight_decay(const TensorList<T>& params, const CurvatureModel<T>& data_model, double alpha) {
    CurvatureModel<T> model = data_model;
    model.penalty = [params, alpha] {
        BasicTensor<T> s = sum(square(params[0]));
        for (std::size_t i = 1; i < params.size(); ++i) s = s + sum(square(params[i]));
        return s * T(alpha / 2);
    };
    return model;
}

template <class T>
double squared_norm(const TensorList<T>& params) {
    double s = 0;
    for (auto& t : params)
        for (auto e : t.value()) s += double(e) * double(e);
    return s;
}

// -E_D(w) - alpha/2 |w|^2 + p/2 log alpha - 1/2 log det H from the Laplace approximation of
// the model with its weight decay (loss() = E_D + alpha/2 |w|^2; the 2 pi terms of the prior's
// normaliser and of the Laplace integral cancel).
template <class T>
double weight_decay_log_evidence(const Laplace<T>& laplace, double alpha) {
    return -laplace.loss() + 0.5 * double(laplace.size()) * std::log(alpha) - 0.5 * laplace.log_det_precision();
}
}  // namespace

template <class T>
BasicTensor<T> gaussian_prior(const TensorList<T>& params, double alpha) {
    check_precisions("gaussian_prior", alpha, 1);
    if (params.empty()) throw ValueError("gaussian_prior: no parameters");
    return gaussian_prior(std::vector<PriorGroup<T>>{{"all", params, true}}, {alpha});
}

template <class T>
double laplace_log_evidence(const TensorList<T>& params, const CurvatureModel<T>& data_model, double alpha,
                            Curvature curvature) {
    check_precisions("laplace_log_evidence", alpha, 1);
    if (data_model.penalty)
        throw ValueError("laplace_log_evidence: the data model must have no penalty; alpha/2 |w|^2 is added here");
    return weight_decay_log_evidence(Laplace<T>(params, with_weight_decay(params, data_model, alpha), curvature),
                                     alpha);
}

template <class T>
EvidenceResult reestimate_weight_decay(const TensorList<T>& params, const CurvatureModel<T>& data_model,
                                       const std::function<void(double)>& fit, const EvidenceOptions& o,
                                       Curvature curvature) {
    check_precisions("reestimate_weight_decay", o.alpha, 1);
    if (data_model.penalty)
        throw ValueError("reestimate_weight_decay: the data model must have no penalty; alpha/2 |w|^2 is added here");
    EvidenceResult r{o.alpha, 0};
    for (r.iterations = 1; r.iterations <= o.max_iterations; ++r.iterations) {
        fit(r.alpha);
        Laplace<T> laplace(params, with_weight_decay(params, data_model, r.alpha), curvature);
        Array<T> cov = laplace.covariance();
        double trace = 0;
        for (std::size_t i = 0; i < laplace.size(); ++i) trace += double(cov(i, i));
        r.gamma = double(laplace.size()) - r.alpha * trace;
        r.log_evidence = weight_decay_log_evidence(laplace, r.alpha);
        double alpha = r.gamma / squared_norm(params);
        check_precisions("reestimate_weight_decay", alpha, 1);
        bool done = settled(r.alpha, alpha, o.tolerance);
        r.alpha = alpha;
        if (done) {
            r.converged = true;
            break;
        }
    }
    r.iterations = std::min(r.iterations, o.max_iterations);
    if (r.converged) {  // the evidence at the final alpha, after fitting to it
        fit(r.alpha);
        r.log_evidence = laplace_log_evidence(params, data_model, r.alpha, curvature);
    }
    return r;
}

#define XTGRAD_EVIDENCE(T)                                                                                        \
    template BasicTensor<T> linear_gaussian_log_evidence(const BasicTensor<T>&, const BasicTensor<T>&,            \
                                                         const BasicTensor<T>&, const BasicTensor<T>&);           \
    template EvidenceResult reestimate_linear_gaussian(const Array<T>&, const Array<T>&, const EvidenceOptions&); \
    template double laplace_log_evidence(const TensorList<T>&, const CurvatureModel<T>&, double, Curvature);      \
    template BasicTensor<T> gaussian_prior(const TensorList<T>&, double);                                         \
    template EvidenceResult reestimate_weight_decay(const TensorList<T>&, const CurvatureModel<T>&,               \
                                                    const std::function<void(double)>&, const EvidenceOptions&,   \
                                                    Curvature);
XTGRAD_EVIDENCE(float)
XTGRAD_EVIDENCE(double)

}  // namespace xtgrad::optim
