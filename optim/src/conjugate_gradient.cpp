// Nonlinear conjugate gradient and L-BFGS, one iteration per step(closure).
#include "xtgrad/optim/conjugate_gradient.hpp"

#include <algorithm>

#include "search_along.hpp"

namespace xtgrad::optim {

using detail::Vec;

void ConjugateGradientOptions::validate() const {
    if (!(tolerance_grad >= 0))
        throw ValueError(fmt::format("ConjugateGradient: tolerance_grad must be >= 0, got {}", tolerance_grad));
    if (!(line_search.c1 > 0 && line_search.c1 < line_search.c2 && line_search.c2 < 1))
        throw ValueError(fmt::format("ConjugateGradient: line search needs 0 < c1 < c2 < 1, got c1 = {}, c2 = {}",
                                     line_search.c1, line_search.c2));
}

void LBFGSOptions::validate() const {
    if (history_size == 0) throw ValueError("LBFGS: history_size must be positive");
    if (!(tolerance_grad >= 0))
        throw ValueError(fmt::format("LBFGS: tolerance_grad must be >= 0, got {}", tolerance_grad));
    if (!(line_search.c1 > 0 && line_search.c1 < line_search.c2 && line_search.c2 < 1))
        throw ValueError(fmt::format("LBFGS: line search needs 0 < c1 < c2 < 1, got c1 = {}, c2 = {}", line_search.c1,
                                     line_search.c2));
}

namespace {
template <class T>
double max_abs(const Vec<T>& v) {
    double m = 0;
    for (auto& a : v)
        for (auto x : a) m = std::max(m, std::abs(double(x)));
    return m;
}

template <class T>
Vec<T> negated(const Vec<T>& v) {
    return detail::scaled(-1.0, v);
}

template <class T>
std::size_t total_size(const TensorList<T>& params) {
    std::size_t n = 0;
    for (auto& p : params) n += p.size();
    return n;
}

template <class T>
Array<T> scalar_array(double v) {
    Array<T> a = Array<T>::from_shape({});
    a() = static_cast<T>(v);
    return a;
}
}  // namespace

// ---- nonlinear conjugate gradient ----

template <class T>
void ConjugateGradient<T>::step() {
    throw ValueError("ConjugateGradient: step() needs the loss along the line; call step(closure)");
}

template <class T>
double ConjugateGradient<T>::step(const Closure& closure) {
    const auto& o = this->groups().front().options;
    auto params = this->parameters();
    detail::Snapshot<T> snapshot(params);
    double f0 = closure();
    ++evaluations_;
    detail::check_finite_loss("ConjugateGradient.step", f0);
    Vec<T> g = detail::grads_of(params);
    detail::check_finite("ConjugateGradient.step", "gradient", g, this->parameter_names());
    if (max_abs(g) <= o.tolerance_grad) {
        converged_ = true;
        snapshot.keep();
        return f0;
    }
    converged_ = false;
    std::size_t restart_every = o.restart_every ? o.restart_every : total_size(params);
    bool restart = grad_prev_.empty() || since_restart_ >= restart_every;
    Vec<T> d = negated(g);
    if (!restart) {
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
        if (std::isfinite(beta)) detail::axpy(beta, dir_prev_, d);
        if (!std::isfinite(beta) || detail::dot(g, d) >= 0) {  // not a descent direction: restart
            d = negated(g);
            restart = true;
        }
    }
    Vec<T> x0 = snapshot.saved();
    auto search = [&](const Vec<T>& dir, double slope) {
        // first step as scipy: min(1, 1.01 * 2 (f0 - f_prev) / slope), with f_prev = f0 + |g|/2 at the start
        double previous = iterations_ == 0 ? f0 + detail::norm(g) / 2 : value_prev_;
        double initial = std::min(1.0, 1.01 * 2 * (f0 - previous) / slope);
        if (!(initial > 0)) initial = 1.0;
        return detail::search_along(closure, params, x0, dir, f0, slope, initial, o.line_search, evaluations_);
    };
    LineSearchResult r = search(d, detail::dot(g, d));
    if (!r.ok && !restart) {
        d = negated(g);
        restart = true;
        r = search(d, detail::dot(g, d));
    }
    if (!r.ok)
        throw LineSearchError(
            fmt::format("ConjugateGradient.step: no step along the steepest-descent direction "
                        "satisfies the strong Wolfe conditions after {} evaluations (loss {}, "
                        "largest gradient component {}); the parameters were restored",
                        r.evaluations, f0, max_abs(g)));
    snapshot.keep();
    grad_prev_ = std::move(g);
    dir_prev_ = std::move(d);
    value_prev_ = f0;
    since_restart_ = restart ? 1 : since_restart_ + 1;
    ++iterations_;
    return f0;
}

template <class T>
nn::NamedArrays<T> ConjugateGradient<T>::state() const {
    nn::NamedArrays<T> out;
    if (grad_prev_.empty()) return out;
    auto names = this->parameter_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
        out.emplace_back(names[i] + ".grad_prev", grad_prev_[i]);
        out.emplace_back(names[i] + ".dir_prev", dir_prev_[i]);
    }
    out.emplace_back("cg.value_prev", scalar_array<T>(value_prev_));
    out.emplace_back("cg.iterations", scalar_array<T>(double(iterations_)));
    out.emplace_back("cg.since_restart", scalar_array<T>(double(since_restart_)));
    return out;
}

template <class T>
void ConjugateGradient<T>::load_state(const nn::NamedArrays<T>& state) {
    auto params = this->parameters();
    auto names = this->parameter_names();
    Vec<T> g(params.size()), d(params.size());
    double value = 0, iterations = 0, since = 0;
    std::size_t found = 0;
    for (auto& [key, a] : state) {
        bool known = true;
        if (key == "cg.value_prev")
            value = double(a());
        else if (key == "cg.iterations")
            iterations = double(a());
        else if (key == "cg.since_restart")
            since = double(a());
        else {
            known = false;
            for (std::size_t i = 0; i < names.size() && !known; ++i)
                for (auto [suffix, target] : {std::pair{".grad_prev", &g}, std::pair{".dir_prev", &d}})
                    if (key == names[i] + suffix) {
                        if (a.shape() != params[i].shape())
                            throw ShapeError(
                                fmt::format("ConjugateGradient.load_state: '{}' has shape {}, the "
                                            "parameter {}",
                                            key, to_string(a.shape()), to_string(params[i].shape())));
                        (*target)[i] = a;
                        known = true;
                        ++found;
                    }
        }
        if (!known) throw ValueError(fmt::format("ConjugateGradient.load_state: unexpected entry '{}'", key));
    }
    if (found != 0 && found != 2 * params.size())
        throw ValueError("ConjugateGradient.load_state: directions and gradients are incomplete");
    grad_prev_ = found ? std::move(g) : Vec<T>();
    dir_prev_ = found ? std::move(d) : Vec<T>();
    value_prev_ = value;
    iterations_ = static_cast<std::size_t>(iterations);
    since_restart_ = static_cast<std::size_t>(since);
}

// ---- L-BFGS ----

template <class T>
void LBFGS<T>::step() {
    throw ValueError("LBFGS: step() needs the loss along the line; call step(closure)");
}

template <class T>
double LBFGS<T>::step(const Closure& closure) {
    const auto& o = this->groups().front().options;
    auto params = this->parameters();
    detail::Snapshot<T> snapshot(params);
    double f0 = closure();
    detail::check_finite_loss("LBFGS.step", f0);
    Vec<T> g = detail::grads_of(params);
    detail::check_finite("LBFGS.step", "gradient", g, this->parameter_names());
    if (max_abs(g) <= o.tolerance_grad) {
        converged_ = true;
        snapshot.keep();
        return f0;
    }
    converged_ = false;
    Vec<T> x0 = snapshot.saved();
    if (!x_prev_.empty()) {
        Vec<T> s = x0, y = g;
        detail::axpy(-1.0, x_prev_, s);
        detail::axpy(-1.0, grad_prev_, y);
        if (detail::dot(s, y) > 1e-10 * detail::norm(s) * detail::norm(y)) {  // keep curvature positive
            s_.push_back(std::move(s));
            y_.push_back(std::move(y));
            if (s_.size() > o.history_size) {
                s_.erase(s_.begin());
                y_.erase(y_.begin());
            }
        }
    }
    // two-loop recursion: d = -H g
    Vec<T> q = g;
    std::vector<double> a(s_.size()), rho(s_.size());
    for (std::size_t i = s_.size(); i-- > 0;) {
        rho[i] = 1.0 / detail::dot(y_[i], s_[i]);
        a[i] = rho[i] * detail::dot(s_[i], q);
        detail::axpy(-a[i], y_[i], q);
    }
    if (!s_.empty()) q = detail::scaled(detail::dot(s_.back(), y_.back()) / detail::dot(y_.back(), y_.back()), q);
    for (std::size_t i = 0; i < s_.size(); ++i) {
        double b = rho[i] * detail::dot(y_[i], q);
        detail::axpy(a[i] - b, s_[i], q);
    }
    Vec<T> d = negated(q);
    bool steepest = s_.empty();
    if (detail::dot(g, d) >= 0) {
        d = negated(g);
        steepest = true;
    }
    std::size_t evaluations = 0;
    auto search = [&](const Vec<T>& dir) {
        double sum_abs = 0;
        for (auto& v : g)
            for (auto x : v) sum_abs += std::abs(double(x));
        double initial = steepest ? std::min(1.0, 1.0 / sum_abs) : 1.0;
        return detail::search_along(closure, params, x0, dir, f0, detail::dot(g, dir), initial, o.line_search,
                                    evaluations);
    };
    LineSearchResult r = search(d);
    if (!r.ok && !steepest) {
        s_.clear();
        y_.clear();
        d = negated(g);
        steepest = true;
        r = search(d);
    }
    if (!r.ok)
        throw LineSearchError(
            fmt::format("LBFGS.step: no step satisfies the strong Wolfe conditions after {} "
                        "evaluations (loss {}); the parameters were restored",
                        r.evaluations, f0));
    snapshot.keep();
    x_prev_ = std::move(x0);
    grad_prev_ = std::move(g);
    ++iterations_;
    return f0;
}

template <class T>
nn::NamedArrays<T> LBFGS<T>::state() const {
    nn::NamedArrays<T> out;
    auto names = this->parameter_names();
    for (std::size_t i = 0; i < names.size() && !x_prev_.empty(); ++i) {
        out.emplace_back(names[i] + ".x_prev", x_prev_[i]);
        out.emplace_back(names[i] + ".grad_prev", grad_prev_[i]);
        for (std::size_t k = 0; k < s_.size(); ++k) {
            out.emplace_back(fmt::format("{}.s{}", names[i], k), s_[k][i]);
            out.emplace_back(fmt::format("{}.y{}", names[i], k), y_[k][i]);
        }
    }
    out.emplace_back("lbfgs.iterations", scalar_array<T>(double(iterations_)));
    out.emplace_back("lbfgs.history", scalar_array<T>(double(s_.size())));
    return out;
}

template <class T>
void LBFGS<T>::load_state(const nn::NamedArrays<T>& state) {
    auto params = this->parameters();
    auto names = this->parameter_names();
    std::size_t history = 0, iterations = 0;
    for (auto& [key, a] : state) {
        if (key == "lbfgs.history") history = static_cast<std::size_t>(a());
        if (key == "lbfgs.iterations") iterations = static_cast<std::size_t>(a());
    }
    Vec<T> x(params.size()), g(params.size());
    std::vector<Vec<T>> s(history, Vec<T>(params.size())), y(history, Vec<T>(params.size()));
    std::size_t filled = 0;
    for (auto& [key, a] : state) {
        if (key == "lbfgs.history" || key == "lbfgs.iterations") continue;
        bool known = false;
        for (std::size_t i = 0; i < names.size() && !known; ++i) {
            if (key.rfind(names[i] + ".", 0) != 0) continue;
            std::string field = key.substr(names[i].size() + 1);
            Array<T>* target = nullptr;
            if (field == "x_prev")
                target = &x[i];
            else if (field == "grad_prev")
                target = &g[i];
            else if (field.size() > 1 && (field[0] == 's' || field[0] == 'y')) {
                std::size_t k = std::stoul(field.substr(1));
                if (k < history) target = field[0] == 's' ? &s[k][i] : &y[k][i];
            }
            if (target == nullptr) continue;
            if (a.shape() != params[i].shape())
                throw ShapeError(fmt::format("LBFGS.load_state: '{}' has shape {}, the parameter {}", key,
                                             to_string(a.shape()), to_string(params[i].shape())));
            *target = a;
            known = true;
            ++filled;
        }
        if (!known) throw ValueError(fmt::format("LBFGS.load_state: unexpected entry '{}'", key));
    }
    if (filled != 0 && filled != params.size() * (2 + 2 * history))
        throw ValueError("LBFGS.load_state: the history is incomplete");
    x_prev_ = filled ? std::move(x) : Vec<T>();
    grad_prev_ = filled ? std::move(g) : Vec<T>();
    s_ = std::move(s);
    y_ = std::move(y);
    iterations_ = iterations;
}

template class ConjugateGradient<float>;
template class ConjugateGradient<double>;
template class LBFGS<float>;
template class LBFGS<double>;

}  // namespace xtgrad::optim
