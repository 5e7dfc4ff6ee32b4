// The evidence's exact maximum over one prior precision per group of parameters: its total
// derivative in log alpha (the MAP's movement by implicit differentiation, carried through the
// data term's third derivative), a quasi-Newton method on it, and Newton's method for the MAP.
#include <cmath>
#include <limits>

#include "curvature_recording.hpp"
#include "log_2pi.hpp"
#include "vector.hpp"
#include "xtgrad/optim/evidence.hpp"

namespace xtgrad::optim {

using detail::CurvatureRecording;
using detail::from_flat;
using detail::to_flat;
using detail::total_size;
using detail::Vec;

namespace {

template <class T>
void check_groups(const char* who, const std::vector<PriorGroup<T>>& groups, const std::vector<double>& alphas) {
    if (groups.empty()) throw ValueError(fmt::format("{}: no prior groups", who));
    if (alphas.size() != groups.size())
        throw ValueError(fmt::format("{}: {} precisions for {} prior groups (one per group, 0 for an unpenalised one)",
                                     who, alphas.size(), groups.size()));
    for (std::size_t g = 0; g < groups.size(); ++g) {
        const auto& group = groups[g];
        if (group.params.empty())
            throw ValueError(fmt::format("{}: prior group '{}' has no parameters", who, group.name));
        if (group.penalised && !(alphas[g] > 0 && std::isfinite(alphas[g])))
            throw ValueError(fmt::format("{}: the precision of prior group '{}' must be positive and finite, got {}",
                                         who, group.name, alphas[g]));
        if (!group.penalised && alphas[g] != 0)
            throw ValueError(
                fmt::format("{}: prior group '{}' is unpenalised (a flat prior), so its precision must be "
                            "0, got {}",
                            who, group.name, alphas[g]));
    }
}

template <class T>
TensorList<T> all_params(const std::vector<PriorGroup<T>>& groups) {
    TensorList<T> params;
    for (const auto& g : groups) params.insert(params.end(), g.params.begin(), g.params.end());
    return params;
}

template <class T>
CurvatureModel<T> with_priors(const std::vector<PriorGroup<T>>& groups, const CurvatureModel<T>& data_model,
                              const std::vector<double>& alphas) {
    CurvatureModel<T> model = data_model;
    model.penalty = [groups, alphas] { return gaussian_prior(groups, alphas); };
    return model;
}

template <class T>
void check_data_model(const char* who, const CurvatureModel<T>& data_model) {
    if (data_model.penalty)
        throw ValueError(
            fmt::format("{}: the data model must have no penalty; the groups' priors are added here", who));
    if (data_model.shards.active())
        throw ValueError(fmt::format("{}: data sharded over processes are not supported here", who));
}

// H (the exact Hessian of data term + prior, [p, p]) and the gradient, from one recording.
template <class T>
struct Curvatures {
    double loss = 0;
    std::vector<double> gradient;
    Array<T> hessian;
};

template <class T>
Curvatures<T> record(const TensorList<T>& params, const CurvatureModel<T>& model, bool with_hessian) {
    CurvatureRecording<T> recording(model, params, Curvature::hessian);
    Curvatures<T> c{recording.loss(), to_flat(recording.gradient()), {}};
    if (with_hessian) c.hessian = recording.matrix();
    return c;
}

// t = grad_w tr(C H_D(w)) for a fixed symmetric positive definite C = M M^T: the sum over M's
// columns m of grad_w (m^T H_D(w) m), each a Hessian-vector product recorded and then
// differentiated once more (third derivatives, exact). Columns go in chunks, a tape each, so
// that the recorded graph stays a few products large.
template <class T>
BasicTensor<T> inner(const TensorList<T>& a, const Vec<T>& c) {  // sum_i <a_i, c_i>
    BasicTensor<T> s;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto term = sum(a[i] * BasicTensor<T>::constant(c[i]));
        s = s.defined() ? s + term : term;
    }
    return s;
}

// For the Gauss-Newton matrix G = J^T H_L J the quadratic form is m^T G m = (J m)^T H_L (J m):
// J m by the double-vjp trick (the derivative of <J^T u, m> in a seed u, recorded), H_L (J m) as
// the derivative of <dL/dz, J m> in z (J m does not depend on z itself), both functions of w.
template <class T>
std::vector<double> trace_gradient(const TensorList<T>& params, const CurvatureModel<T>& data_model, const Array<T>& m,
                                   Curvature curvature) {
    const std::size_t p = m.shape()[0], chunk = 8;
    std::vector<double> t(p, 0.0);
    for (std::size_t start = 0; start < p; start += chunk) {
        Tape tape;
        auto z = data_model.outputs();
        auto data = data_model.loss(z);
        TensorList<T> g;
        BasicTensor<T> seed, dl_dz;
        if (curvature == Curvature::hessian) {
            g = grad(data, params, true, true);
        } else {
            seed = BasicTensor<T>::parameter(Array<T>(xt::zeros<T>(z.shape())));
            g = grad(sum(z * seed), params, true, true);  // J^T u, linear in u
            dl_dz = grad(data, {z}, true, true)[0];
        }
        BasicTensor<T> q;
        for (std::size_t k = start; k < std::min(p, start + chunk); ++k) {
            std::vector<T> column(p);
            for (std::size_t i = 0; i < p; ++i) column[i] = m(i, k);
            Vec<T> c = from_flat(column.data(), params);
            BasicTensor<T> gc = inner(g, c);
            if (!gc.requires_grad()) continue;  // a data term linear in w: no curvature
            BasicTensor<T> qk;
            if (curvature == Curvature::hessian) {
                qk = inner(grad(gc, params, true, true), c);  // m^T H_D m
            } else {
                auto jm = grad(gc, {seed}, true, true)[0];             // J m
                auto hjm = grad(sum(dl_dz * jm), {z}, true, true)[0];  // H_L J m
                qk = sum(jm * hjm);
            }
            q = q.defined() ? q + qk : qk;
        }
        if (!q.defined() || !q.requires_grad()) continue;  // the curvature does not depend on w
        auto dq = grad(q, params, false, true);
        std::vector<double> flat = to_flat(detail::values_of(dq));
        for (std::size_t i = 0; i < p; ++i) t[i] += flat[i];
    }
    return t;
}
}  // namespace

template <class T>
BasicTensor<T> gaussian_prior(const std::vector<PriorGroup<T>>& groups, const std::vector<double>& alphas) {
    check_groups("gaussian_prior", groups, alphas);
    BasicTensor<T> total;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        if (!groups[g].penalised) continue;
        BasicTensor<T> s;
        std::size_t p = 0;
        for (const auto& t : groups[g].params) {
            s = s.defined() ? s + sum(square(t)) : sum(square(t));
            p += t.size();
        }
        auto term = s * T(alphas[g] / 2) + T(0.5 * double(p) * (kLog2Pi - std::log(alphas[g])));
        total = total.defined() ? total + term : term;
    }
    if (!total.defined()) return BasicTensor<T>::scalar(T(0));  // every group flat
    return total;
}

namespace {
// The evidence, the effective parameters and the gradient in log alpha; without `movement`, the
// gradient leaves out the MAP's movement (MacKay's approximation) and costs no third derivative.
// The movement dw*/d log alpha_g = -H^-1 alpha_g w*_g is by the exact Hessian H of data term +
// prior even when log det uses the Gauss-Newton matrix.
template <class T>
EvidenceGradient evidence_terms(const std::vector<PriorGroup<T>>& groups, const CurvatureModel<T>& data_model,
                                const std::vector<double>& alphas, bool movement, Curvature curvature) {
    const TensorList<T> params = all_params(groups);
    Laplace<T> laplace(params, with_priors(groups, data_model, alphas), curvature);
    const Array<T> cov = laplace.covariance();
    const std::size_t p = laplace.size();
    std::vector<double> z(p, 0.0);  // (exact Hessian)^-1 t
    if (movement) {
        Array<T> m;
        {
            NoGrad no_grad;
            m = cholesky(BasicTensor<T>::constant(cov)).value();  // H^-1 = M M^T
        }
        std::vector<double> t = trace_gradient(params, data_model, m, curvature);
        // the MAP moves by the loss's exact Hessian (implicit differentiation of its gradient),
        // whichever curvature the Laplace step uses for log det
        const Array<T> moved =
            curvature == Curvature::hessian
                ? cov
                : Laplace<T>(params, with_priors(groups, data_model, alphas), Curvature::hessian).covariance();
        for (std::size_t i = 0; i < p; ++i)
            for (std::size_t j = 0; j < p; ++j) z[i] += double(moved(i, j)) * t[j];
    }
    std::vector<double> w;
    for (const auto& param : params) w.insert(w.end(), param.value().begin(), param.value().end());

    EvidenceGradient r;
    r.log_evidence = laplace.log_evidence();
    std::size_t offset = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        const std::size_t size = total_size(groups[g].params);
        double w2 = 0, trace = 0, moved = 0;
        for (std::size_t i = offset; i < offset + size; ++i) {
            w2 += w[i] * w[i];
            trace += double(cov(i, i));
            moved += z[i] * w[i];
        }
        const double a = alphas[g];
        const bool on = groups[g].penalised;
        r.gammas.push_back(on ? double(size) - a * trace : double(size));
        r.d_log_alpha.push_back(on ? 0.5 * double(size) - 0.5 * a * (w2 + trace - moved) : 0.0);
        offset += size;
    }
    return r;
}

// MacKay's fixed point alpha_g <- gamma_g / |w_g|^2 from `alphas`, fitting at each; the exact
// gradient at the end.
template <class T>
EvidenceMaximum mackay_fixed_point(const std::vector<PriorGroup<T>>& groups, const CurvatureModel<T>& data_model,
                                   std::vector<double> alphas,
                                   const std::function<void(const std::vector<double>&)>& fit,
                                   const EvidenceMaximumOptions& o) {
    EvidenceMaximum r;
    for (r.iterations = 0; r.iterations < o.max_iterations; ++r.iterations) {
        fit(alphas);
        ++r.fits;
        EvidenceGradient e = evidence_terms(groups, data_model, alphas, false, o.curvature);
        bool settled = true;
        for (std::size_t g = 0; g < groups.size(); ++g) {
            if (!groups[g].penalised) continue;
            double w2 = 0;
            for (const auto& t : groups[g].params)
                for (auto v : t.value()) w2 += double(v) * double(v);
            const double next = e.gammas[g] / w2;
            if (!(next > 0 && std::isfinite(next)))
                throw DomainError(
                    fmt::format("maximize_evidence (MacKay): the update of group '{}' gives alpha = {} "
                                "(gamma {}, |w|^2 {})",
                                groups[g].name, next, e.gammas[g], w2));
            settled = settled && std::abs(next - alphas[g]) <= o.tolerance_mackay * alphas[g];
            alphas[g] = next;
        }
        if (settled) {
            r.converged = true;
            r.message = "MacKay's fixed point: the precisions changed by less than tolerance_mackay";
            break;
        }
    }
    if (!r.converged) r.message = "max_iterations reached";
    fit(alphas);
    ++r.fits;
    EvidenceGradient e = evidence_terms(groups, data_model, alphas, true, o.curvature);
    r.alphas = alphas;
    r.gammas = e.gammas;
    r.gradient = e.d_log_alpha;
    r.log_evidence = e.log_evidence;
    return r;
}
}  // namespace

template <class T>
EvidenceGradient laplace_evidence_gradient(const std::vector<PriorGroup<T>>& groups,
                                           const CurvatureModel<T>& data_model, const std::vector<double>& alphas,
                                           Curvature curvature) {
    check_groups("laplace_evidence_gradient", groups, alphas);
    check_data_model("laplace_evidence_gradient", data_model);
    return evidence_terms(groups, data_model, alphas, true, curvature);
}

template <class T>
std::size_t fit_map_newton(const std::vector<PriorGroup<T>>& groups, const CurvatureModel<T>& data_model,
                           const std::vector<double>& alphas, double newton_decrement) {
    check_groups("fit_map_newton", groups, alphas);
    check_data_model("fit_map_newton", data_model);
    const TensorList<T> params = all_params(groups);
    const CurvatureModel<T> model = with_priors(groups, data_model, alphas);
    Curvatures<T> here = record(params, model, true);
    const std::size_t p = here.gradient.size();
    for (std::size_t step = 0; step < 100; ++step) {
        std::vector<T> direction(p);
        {
            NoGrad no_grad;
            Array<T> g = Array<T>::from_shape({p});
            for (std::size_t i = 0; i < p; ++i) g(i) = T(-here.gradient[i]);
            Array<T> d;
            try {
                d = cholesky_solve(BasicTensor<T>::constant(g), cholesky(BasicTensor<T>::constant(here.hessian)))
                        .value();
            } catch (const DomainError& e) {
                throw DomainError(
                    fmt::format("fit_map_newton: the Hessian of the loss is not positive definite at "
                                "step {} (the loss is not convex there: pass a fit of your own); {}",
                                step, e.what()));
            }
            std::copy(d.begin(), d.end(), direction.begin());
        }
        double decrement = 0;  // g^T H^-1 g
        for (std::size_t i = 0; i < p; ++i) decrement -= here.gradient[i] * double(direction[i]);
        if (decrement <= newton_decrement) return step;
        detail::Snapshot<T> start(params);
        double gnorm = 0;
        for (double e : here.gradient) gnorm += e * e;
        bool accepted = false;
        for (double t = 1; t > 1e-10 && !accepted; t /= 2) {
            Vec<T> trial = start.saved();
            Vec<T> d = from_flat(direction.data(), params);
            detail::axpy(t, d, trial);
            detail::assign(params, trial);
            Curvatures<T> there = record(params, model, false);
            double gnorm_there = 0;
            for (double e : there.gradient) gnorm_there += e * e;
            // Armijo; or, once the change is within the loss's rounding, a smaller gradient
            const double rounding = 8 * std::numeric_limits<T>::epsilon() * (1 + std::abs(here.loss));
            accepted = there.loss <= here.loss - 1e-4 * t * decrement ||
                       (std::abs(there.loss - here.loss) <= rounding && gnorm_there < gnorm);
        }
        if (!accepted) return step;  // at the rounding floor: the parameters as they were
        start.keep();
        here = record(params, model, true);
    }
    return 100;
}

template <class T>
EvidenceMaximum maximize_evidence(const std::vector<PriorGroup<T>>& groups, const CurvatureModel<T>& data_model,
                                  const std::function<void(const std::vector<double>&)>& fit,
                                  const EvidenceMaximumOptions& o) {
    const std::size_t k = groups.size();
    std::vector<double> alphas(k, 0.0);
    for (std::size_t g = 0; g < k; ++g)
        if (groups[g].penalised) alphas[g] = o.alpha;
    check_groups("maximize_evidence", groups, alphas);
    check_data_model("maximize_evidence", data_model);
    if (!(o.tolerance_grad > 0))
        throw ValueError(fmt::format("maximize_evidence: tolerance_grad must be positive, got {}", o.tolerance_grad));
    const std::function<void(const std::vector<double>&)> fit_at =
        fit ? fit : [&](const std::vector<double>& a) { fit_map_newton(groups, data_model, a, o.newton_decrement); };
    if (o.method == EvidenceMethod::mackay) return mackay_fixed_point(groups, data_model, alphas, fit_at, o);
    EvidenceMaximum r;
    auto evaluate = [&](const std::vector<double>& a) {
        fit_at(a);
        ++r.fits;
        return evidence_terms(groups, data_model, a, true, o.curvature);
    };
    // the free coordinates: log alpha of the penalised groups
    std::vector<std::size_t> free;
    for (std::size_t g = 0; g < k; ++g)
        if (groups[g].penalised) free.push_back(g);
    const std::size_t n = free.size();
    auto largest = [&](const EvidenceGradient& e) {
        double m = 0;
        for (std::size_t i : free) m = std::max(m, std::abs(e.d_log_alpha[i]));
        return m;
    };
    EvidenceGradient here = evaluate(alphas);
    // B approximates the inverse of -d2L/dlog alpha^2 (BFGS), started at MacKay's scale: near the
    // maximum the curvature of L in log alpha_g is about gamma_g / 2.
    std::vector<double> b(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) b[i * n + i] = 2 / std::max(here.gammas[free[i]], 0.5);
    for (r.iterations = 0; r.iterations < o.max_iterations; ++r.iterations) {
        if (n == 0 || largest(here) <= o.tolerance_grad) {
            r.converged = true;
            r.message = n == 0 ? "no penalised group" : "the gradient in log alpha is below tolerance_grad";
            break;
        }
        std::vector<double> step(n, 0.0);  // B grad L: an ascent direction
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) step[i] += b[i * n + j] * here.d_log_alpha[free[j]];
        double longest = 0;
        for (double s : step) longest = std::max(longest, std::abs(s));
        double scale = longest > 2 ? 2 / longest : 1;  // at most a factor e^2 in any alpha per step
        double slope = 0;
        for (std::size_t i = 0; i < n; ++i) slope += step[i] * here.d_log_alpha[free[i]];
        EvidenceGradient there;
        std::vector<double> trial = alphas;
        bool accepted = false;
        for (int halving = 0; halving < 30 && !accepted; ++halving, scale /= 2) {
            for (std::size_t i = 0; i < n; ++i) trial[free[i]] = alphas[free[i]] * std::exp(scale * step[i]);
            there = evaluate(trial);
            const double rounding = 1e-12 * (1 + std::abs(here.log_evidence));
            accepted = there.log_evidence >= here.log_evidence + 1e-4 * scale * slope ||
                       (std::abs(there.log_evidence - here.log_evidence) <= rounding && largest(there) < largest(here));
        }
        if (!accepted) {
            evaluate(alphas);  // back to the MAP of the best alphas
            r.message = "no step increased the evidence (its gradient is at the level of the fit's accuracy)";
            break;
        }
        // BFGS on -L: s = the step in log alpha, y = the change of -grad L
        std::vector<double> s(n), y(n);
        for (std::size_t i = 0; i < n; ++i) {
            s[i] = std::log(trial[free[i]] / alphas[free[i]]);
            y[i] = here.d_log_alpha[free[i]] - there.d_log_alpha[free[i]];
        }
        double sy = 0;
        for (std::size_t i = 0; i < n; ++i) sy += s[i] * y[i];
        if (sy > 1e-12) {  // B <- (I - rho s y^T) B (I - rho y s^T) + rho s s^T
            const double rho = 1 / sy;
            std::vector<double> by(n, 0.0);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j) by[i] += b[i * n + j] * y[j];
            double yby = 0;
            for (std::size_t i = 0; i < n; ++i) yby += y[i] * by[i];
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j)
                    b[i * n + j] += -rho * (by[i] * s[j] + s[i] * by[j]) + (rho * rho * yby + rho) * s[i] * s[j];
        }
        alphas = trial;
        here = there;
    }
    if (!r.converged && r.message.empty()) r.message = "max_iterations reached";
    r.alphas = alphas;
    r.gammas = here.gammas;
    r.gradient = here.d_log_alpha;
    r.log_evidence = here.log_evidence;
    return r;
}

#define XTGRAD_EVIDENCE_MAXIMUM(T)                                                                                   \
    template BasicTensor<T> gaussian_prior(const std::vector<PriorGroup<T>>&, const std::vector<double>&);           \
    template EvidenceGradient laplace_evidence_gradient(const std::vector<PriorGroup<T>>&, const CurvatureModel<T>&, \
                                                        const std::vector<double>&, Curvature);                      \
    template std::size_t fit_map_newton(const std::vector<PriorGroup<T>>&, const CurvatureModel<T>&,                 \
                                        const std::vector<double>&, double);                                         \
    template EvidenceMaximum maximize_evidence(const std::vector<PriorGroup<T>>&, const CurvatureModel<T>&,          \
                                               const std::function<void(const std::vector<double>&)>&,               \
                                               const EvidenceMaximumOptions&);
XTGRAD_EVIDENCE_MAXIMUM(float)
XTGRAD_EVIDENCE_MAXIMUM(double)

}  // namespace xtgrad::optim
