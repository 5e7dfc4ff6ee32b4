// Nonlinear conjugate gradient: the direction formulas and restarts; the iteration itself is
// LineSearchMethod's.
#include "xtgrad/optim/conjugate_gradient.hpp"

#include <algorithm>

#include "optimizer_state.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

using detail::Vec;

void ConjugateGradientOptions::validate() const {
    stop.validate("ConjugateGradient");
    if (!(line_search.c1 > 0 && line_search.c1 < line_search.c2 && line_search.c2 < 1))
        throw ValueError(fmt::format("ConjugateGradient: line search needs 0 < c1 < c2 < 1, got c1 = {}, c2 = {}",
                                     line_search.c1, line_search.c2));
}

namespace {
// The first trial step as scipy's: min(1, 1.01 * 2 (f - f_prev) / slope), with
// f_prev = f + |g| / 2 before the first iteration.
template <class T>
double first_step(const Vec<T>& g, const Vec<T>& d, double f, std::optional<double> f_prev) {
    double previous = f_prev ? *f_prev : f + detail::norm(g) / 2;
    double a = std::min(1.0, 1.01 * 2 * (f - previous) / detail::dot(g, d));
    return a > 0 ? a : 1.0;
}
}  // namespace

template <class T>
auto ConjugateGradient<T>::steepest(const ParamVector<T>& g, double f) -> Direction {
    Direction dir{detail::scaled(-1.0, g), 1.0, true};
    dir.initial = first_step(g, dir.d, f, value_prev_);
    restarted_ = true;
    return dir;
}

template <class T>
auto ConjugateGradient<T>::direction(const ParamVector<T>& g, double f) -> Direction {
    const auto& o = this->groups().front().options;
    std::size_t n = 0;
    for (auto& p : this->parameters()) n += p.size();
    std::size_t restart_every = o.restart_every ? o.restart_every : n;
    if (grad_prev_.empty() || since_restart_ >= restart_every) return steepest(g, f);
    double gg_prev = detail::dot(grad_prev_, grad_prev_);
    Vec<T> y = g;
    detail::axpy(-1.0, grad_prev_, y);
    double beta = 0;
    switch (o.formula) {
        case ConjugateGradientFormula::fletcher_reeves:
            beta = detail::dot(g, g) / gg_prev;
            break;
        case ConjugateGradientFormula::polak_ribiere_plus:
            beta = std::max(0.0, detail::dot(g, y) / gg_prev);
            break;
        case ConjugateGradientFormula::hestenes_stiefel:
            beta = detail::dot(g, y) / detail::dot(dir_prev_, y);
            break;
        case ConjugateGradientFormula::dai_yuan:
            beta = detail::dot(g, g) / detail::dot(dir_prev_, y);
            break;
    }
    Direction dir = steepest(g, f);
    if (!std::isfinite(beta)) return dir;
    detail::axpy(beta, dir_prev_, dir.d);
    if (detail::dot(g, dir.d) >= 0) return steepest(g, f);  // not a descent direction: restart
    dir.steepest = false;
    dir.initial = first_step(g, dir.d, f, value_prev_);
    restarted_ = false;
    return dir;
}

template <class T>
void ConjugateGradient<T>::record(const ParamVector<T>&, double f0, const ParamVector<T>& g0, const ParamVector<T>&,
                                  const ParamVector<T>&, const ParamVector<T>& d, bool wolfe) {
    value_prev_ = f0;
    if (!wolfe) {  // conjugacy needs the curvature condition: start again from steepest descent
        grad_prev_.clear();
        dir_prev_.clear();
        return;
    }
    grad_prev_ = g0;
    dir_prev_ = d;
    since_restart_ = restarted_ ? 1 : since_restart_ + 1;
}

template <class T>
void ConjugateGradient<T>::forget() {
    grad_prev_.clear();
    dir_prev_.clear();
    since_restart_ = 0;
}

template <class T>
nn::NamedArrays<T> ConjugateGradient<T>::state() const {
    nn::NamedArrays<T> out;
    auto names = this->parameter_names();
    for (std::size_t i = 0; i < names.size() && !grad_prev_.empty(); ++i) {
        out.emplace_back(names[i] + ".grad_prev", grad_prev_[i]);
        out.emplace_back(names[i] + ".dir_prev", dir_prev_[i]);
    }
    if (value_prev_) out.emplace_back("cg.value_prev", detail::scalar_array<T>(*value_prev_));
    out.emplace_back("cg.iterations", detail::scalar_array<T>(double(this->iterations_)));
    out.emplace_back("cg.since_restart", detail::scalar_array<T>(double(since_restart_)));
    return out;
}

template <class T>
void ConjugateGradient<T>::load_state(const nn::NamedArrays<T>& state) {
    const char* who = "ConjugateGradient.load_state";
    auto params = this->parameters();
    auto names = this->parameter_names();
    detail::StateReader<T> reader(who, state);
    std::size_t iterations = reader.count("cg.iterations", 0);
    std::size_t since = reader.count("cg.since_restart", 0);
    auto value = reader.optional_scalar("cg.value_prev");
    Vec<T> g = reader.per_parameter(names, params, ".grad_prev");
    Vec<T> d = reader.per_parameter(names, params, ".dir_prev");
    reader.finish();
    if (g.empty() != d.empty()) throw ValueError(fmt::format("{}: directions and gradients are incomplete", who));
    this->restart();
    grad_prev_ = std::move(g);
    dir_prev_ = std::move(d);
    value_prev_ = value;
    this->iterations_ = iterations;
    since_restart_ = grad_prev_.empty() ? 0 : since;
}

template class ConjugateGradient<float>;
template class ConjugateGradient<double>;

}  // namespace xtgrad::optim
