// The natural-gradient / Newton-CG step: one recording of the model gives the loss, the
// gradient and the curvature products; linear CG solves the damped system; backtracking and
// the Levenberg-Marquardt rule decide the step and the next damping.
#include "xtgrad/optim/natural_gradient.hpp"

#include <algorithm>
#include <limits>
#include <optional>

#include "curvature_compiled.hpp"
#include "curvature_recording.hpp"
#include "optimizer_state.hpp"

namespace xtgrad::optim {

using detail::Vec;

void NaturalGradientOptions::validate() const {
    if (!(lr > 0)) throw ValueError(fmt::format("NaturalGradient: lr must be > 0, got {}", lr));
    if (!(damping >= 0)) throw ValueError(fmt::format("NaturalGradient: damping must be >= 0, got {}", damping));
    if (!(min_damping >= 0 && min_damping <= max_damping))
        throw ValueError(fmt::format("NaturalGradient: need 0 <= min_damping <= max_damping, got {} and {}",
                                     min_damping, max_damping));
    if (cg_iterations == 0) throw ValueError("NaturalGradient: cg_iterations must be positive");
    if (!(cg_warm_start >= 0 && cg_warm_start <= 1))
        throw ValueError(fmt::format("NaturalGradient: cg_warm_start must be in [0, 1], got {}", cg_warm_start));
    stop.validate("NaturalGradient");
}

namespace {
template <class T>
double loss_at(const CurvatureModel<T>& model) {
    NoGrad no_grad;
    double f = static_cast<double>(model.loss(model.outputs()).item());
    if (model.shards.active()) f = model.shards.scalar(f);
    if (model.penalty) f += static_cast<double>(model.penalty().item());
    return f;
}

}  // namespace

template <class T>
NaturalGradient<T>::NaturalGradient(const TensorList<T>& params, CurvatureModel<T> model,
                                    const NaturalGradientOptions& options)
    : GroupedOptimizer<T, NaturalGradientOptions>(params, options),
      model_(std::move(model)),
      damping_(options.damping) {}

template <class T>
NaturalGradient<T>::NaturalGradient(const nn::NamedTensors<T>& params, CurvatureModel<T> model,
                                    const NaturalGradientOptions& options)
    : GroupedOptimizer<T, NaturalGradientOptions>(params, options),
      model_(std::move(model)),
      damping_(options.damping) {}

template <class T>
void NaturalGradient<T>::step() {
    const auto& o = this->groups().front().options;
    auto params = this->parameters();
    auto names = this->parameter_names();
    detail::Snapshot<T> snapshot(params);
    if (stopped()) {
        if (detail::same_values(snapshot.saved(), stopped_at_)) return;
        if (status() != StopReason::iteration_limit && status() != StopReason::evaluation_limit) resume();
    }
    report_ = {};
    report_.damping = damping_;
    // the curvature source: a fresh recording, or the compiled one replayed at these parameters
    std::optional<detail::CurvatureRecording<T>> recording;
    if (o.compile) {
        if (!compiled_ || compiled_->kind() != o.curvature)
            compiled_ = std::make_shared<detail::CompiledCurvature<T>>(model_, params, o.curvature);
        compiled_->evaluate();
    } else {
        recording.emplace(model_, params, o.curvature);
    }
    auto product = [&](const Vec<T>& v) { return recording ? recording->product(v) : compiled_->product(v); };
    ++evaluations_;
    const double f0 = recording ? recording->loss() : compiled_->loss();
    detail::check_finite_loss("NaturalGradient.step", f0);
    const Vec<T>& g = recording ? recording->gradient() : compiled_->gradient();
    detail::check_finite("NaturalGradient.step", "gradient", g, names);
    report_.loss_before = report_.loss_after = f0;
    if (this->gradient_small(o.stop, detail::max_abs(g)) || this->budget_spent(o.stop)) {
        stopped_at_ = snapshot.saved();
        snapshot.keep();
        return;
    }

    LinearOperator<T> damped = [&](const ParamVector<T>& v) {
        Vec<T> bv = product(v);
        detail::axpy(damping_, v, bv);
        return bv;
    };
    Vec<T> d;
    const bool warm = o.cg_warm_start > 0 && previous_solution_.size() == g.size();
    if (warm) d = detail::scaled(o.cg_warm_start, previous_solution_);
    report_.cg = linear_cg<T>(damped, g, d, {.max_iterations = o.cg_iterations, .rtol = o.cg_rtol});
    // CG truncated after a warm start need not return a descent direction (from zero it does,
    // the system being positive definite): then it starts again from zero
    if (warm && detail::dot(g, d) <= 0) {
        d.clear();
        report_.cg = linear_cg<T>(damped, g, d, {.max_iterations = o.cg_iterations, .rtol = o.cg_rtol});
    }
    if (o.cg_warm_start > 0) previous_solution_ = d;
    if (detail::norm(d) == 0) d = g;  // negative curvature at once: fall back to the gradient
    Vec<T> delta = detail::scaled(-o.lr, d);
    double slope = detail::dot(g, delta);  // g^T delta < 0 for a descent direction
    double curv = detail::dot(delta, product(delta));
    const Vec<T>& x0 = snapshot.saved();
    double scale = 1.0, f_new = f0;
    bool accepted = false, by_gradient = false;
    const double g0 = detail::norm(g);
    if (slope < 0) {
        for (std::size_t k = 0; k <= o.max_backtracks; ++k, scale /= 2) {
            Vec<T> x = x0;
            detail::axpy(scale, delta, x);
            detail::assign(params, x);
            f_new = recording ? loss_at(model_) : compiled_->loss_at();
            ++evaluations_;
            // Once the step's whole predicted decrease and its actual change are both within the
            // loss's rounding, the loss cannot judge it (backtracking on its noise took 1/8 steps,
            // and a "decrease" by noise took steps that grew the gradient): the gradient does. A
            // step that leaves the loss equal to rounding is taken when it reduces |g|.
            const double eps = std::numeric_limits<T>::epsilon();
            const bool loss_blind = std::isfinite(f_new) && below_rounding(-scale * slope, f0, eps) &&
                                    below_rounding(std::abs(f_new - f0), f0, eps);
            if (loss_blind) {
                // (the gradient only: no curvature products from this recording)
                detail::CurvatureRecording<T> there(model_, params, o.curvature, /*products=*/false);
                ++evaluations_;
                if (detail::norm(there.gradient()) < g0) {
                    accepted = by_gradient = true;
                    break;
                }
                continue;
            }
            // a strict decrease: where 1e-4 scale slope is below the loss's rounding, the Armijo
            // test alone accepts a step that changes nothing (and then reports convergence)
            if (std::isfinite(f_new) && f_new < f0 && f_new <= f0 + 1e-4 * scale * slope) {
                accepted = true;
                break;
            }
        }
    }
    ++iterations_;
    double rho = -std::numeric_limits<double>::infinity();
    if (accepted) {
        report_.predicted_change = scale * slope + 0.5 * scale * scale * curv;
        rho = report_.predicted_change < 0 ? (f_new - f0) / report_.predicted_change : 0.0;
        if (by_gradient) rho = 0.5;  // the loss's change is rounding: no evidence to move the damping
        report_.loss_after = f_new;
        report_.step_scale = scale;
        snapshot.keep();
        this->change_small(o.stop, f0, f_new);
    } else {  // the snapshot restores the parameters
        if (slope < 0 && below_rounding(-slope, f0, std::numeric_limits<T>::epsilon()))
            stop(StopReason::rounding_floor,
                 fmt::format("no decrease of the loss {:.17g} is representable: the full step predicts {:.3g}, "
                             "below its rounding",
                             f0, -slope));
        else if (!o.adapt_damping || damping_ >= o.max_damping)
            // the next step would be this one again: say so instead of repeating it forever
            stop(StopReason::line_search_failed,
                 fmt::format("no step along the natural-gradient direction decreased the loss {:.17g} in {} "
                             "halvings, and the damping {} cannot grow ({}); the gradient or the curvature "
                             "may not be the loss's (a rule with a wrong sign?); parameters unchanged",
                             f0, o.max_backtracks + 1, damping_,
                             o.adapt_damping ? "it is max_damping" : "adapt_damping is off"));
    }
    report_.accepted = accepted;
    report_.rho = rho;
    if (o.adapt_damping) {
        if (rho < 0.25)
            damping_ *= 1.5;
        else if (rho > 0.75)
            damping_ *= 2.0 / 3.0;
        damping_ = std::clamp(damping_, o.min_damping, o.max_damping);
    }
    if (stopped()) stopped_at_ = accepted ? detail::values_of(params) : Vec<T>(x0);
}

template <class T>
OptimizeResult NaturalGradient<T>::minimize() {
    do step();
    while (!stopped());
    return this->result(report_.loss_after);
}

template <class T>
void NaturalGradient<T>::restart() {
    resume();
    iterations_ = evaluations_ = 0;
    stopped_at_.clear();
    previous_solution_.clear();
}

template <class T>
nn::NamedArrays<T> NaturalGradient<T>::state() const {
    return {{"natural_gradient.damping", detail::scalar_array<T>(damping_)},
            {"natural_gradient.iterations", detail::scalar_array<T>(double(iterations_))}};
}

template <class T>
void NaturalGradient<T>::load_state(const nn::NamedArrays<T>& state) {
    detail::StateReader<T> reader("NaturalGradient.load_state", state);
    double damping = reader.optional_scalar("natural_gradient.damping").value_or(damping_);
    if (damping < 0)
        throw ValueError(
            fmt::format("NaturalGradient.load_state: 'natural_gradient.damping' is {}, must be >= 0", damping));
    std::size_t iterations = reader.count("natural_gradient.iterations", 0);
    reader.finish();
    restart();
    damping_ = damping;
    iterations_ = iterations;
}

template class NaturalGradient<float>;
template class NaturalGradient<double>;

}  // namespace xtgrad::optim
