// One iteration of a line-search method: the current point (carried over or evaluated),
// the stop tests, the method's direction, the line search, and how a failed search ends.
#include "xtgrad/optim/line_search_method.hpp"

#include <algorithm>
#include <limits>

#include "search_along.hpp"
#include "xtgrad/optim/conjugate_gradient.hpp"
#include "xtgrad/optim/lbfgs.hpp"

namespace xtgrad::optim {

using detail::Vec;

namespace {

template <class T>
void set_grads(const TensorList<T>& params, const Vec<T>& g) {
    for (std::size_t i = 0; i < params.size(); ++i) {
        BasicTensor<T> p = params[i];
        if (p.has_grad()) p.mutable_grad() = g[i];
    }
}
}  // namespace

template <class T, class Options>
double LineSearchMethod<T, Options>::stationarity(const ParamVector<T>& g) const {
    return detail::max_abs(g);
}

template <class T, class Options>
void LineSearchMethod<T, Options>::step() {
    throw ValueError(fmt::format("{}: step() needs the loss along the line; call step(closure)", method_name()));
}

template <class T, class Options>
double LineSearchMethod<T, Options>::step(const Closure& closure) {
    const Options& o = this->groups().front().options;
    const char* who = method_name();
    auto params = this->parameters();
    detail::Snapshot<T> snapshot(params);
    // The current point: carried over from the last line search unless the parameters were
    // changed since (by the user, or by loading a checkpoint).
    if (!have_point_ || !detail::same_values(snapshot.saved(), x_)) {
        double f = closure();
        ++evaluations_;
        detail::check_finite_loss(who, f);
        Vec<T> g = detail::grads_of(params);
        detail::check_finite(who, "gradient", g, this->parameter_names());
        x_ = snapshot.saved();
        g_ = std::move(g);
        f_ = f;
        have_point_ = true;
        if (stopped() && status() != StopReason::iteration_limit && status() != StopReason::evaluation_limit)
            resume();  // a new point: the old verdict was about another one
    }
    const double f0 = f_;
    if (stopped() || this->gradient_small(o.stop, stationarity(g_), stationarity_name()) ||
        this->budget_spent(o.stop)) {
        snapshot.keep();
        return f0;
    }

    Direction dir = direction(g_, f0);
    Vec<T> g1;
    auto search = [&](const Direction& d) {
        LineSearchOptions ls = o.line_search;
        ls.max_step = std::min(ls.max_step, d.max_step);
        return detail::search_along<T>(closure, params, x_, d.d, f0, detail::dot(g_, d.d), d.initial, ls, evaluations_,
                                    g1, [this](Vec<T>& x) { make_feasible(x); });
    };
    double slope0 = detail::dot(g_, dir.d);
    LineSearchResult r = search(dir);
    if (!r.ok && r.best_alpha == 0 && !dir.steepest) {  // no decrease along it: try steepest descent
        forget();
        dir = steepest(g_, f0);
        slope0 = detail::dot(g_, dir.d);
        r = search(dir);
    }
    if (!r.ok && r.best_alpha == 0) {  // no decrease at all: the snapshot puts the parameters back
        set_grads(params, g_);
        double predicted = -slope0 * r.initial;
        if (below_rounding(predicted, f0, std::numeric_limits<T>::epsilon()))
            stop(StopReason::rounding_floor,
                 fmt::format("no decrease of the loss {:.17g} is representable: the line search's first step "
                             "predicts {:.3g}, below its rounding",
                             f0, predicted));
        else
            stop(StopReason::line_search_failed,
                 fmt::format("no decrease found in {} evaluations along a descent direction, although the first "
                             "step predicts {:.3g} from the loss {:.17g}: is the gradient the loss's? The "
                             "parameters were left as they were",
                             r.evaluations, predicted, f0));
        return f0;
    }
    snapshot.keep();
    double f1 = r.ok ? r.value : r.best_value;
    Vec<T> x1 = detail::values_of(params);
    record(x_, f0, g_, x1, g1, dir.d, r.ok);
    x_ = std::move(x1);
    g_ = std::move(g1);
    f_ = f1;
    ++iterations_;
    if (!this->gradient_small(o.stop, stationarity(g_), stationarity_name())) this->change_small(o.stop, f0, f1);
    return f0;
}

template <class T, class Options>
OptimizeResult LineSearchMethod<T, Options>::minimize(const Closure& closure) {
    double f = 0;
    do f = step(closure);
    while (!stopped());
    return this->result(have_point_ ? f_ : f);
}

template <class T, class Options>
void LineSearchMethod<T, Options>::restart() {
    forget();
    have_point_ = false;
    iterations_ = evaluations_ = 0;
    resume();
}

template class LineSearchMethod<float, ConjugateGradientOptions>;
template class LineSearchMethod<double, ConjugateGradientOptions>;
template class LineSearchMethod<float, LBFGSOptions>;
template class LineSearchMethod<double, LBFGSOptions>;

}  // namespace xtgrad::optim
