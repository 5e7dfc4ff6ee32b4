// L-BFGS: the two-loop recursion over the last curvature pairs; the iteration itself is
// LineSearchMethod's.
#include "xtgrad/optim/lbfgs.hpp"

#include <cmath>

#include "lbfgsb.hpp"
#include "optimizer_state.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

using detail::Vec;

void LBFGSOptions::validate() const {
    if (history_size == 0) throw ValueError("LBFGS: history_size must be positive");
    if (history_size > 100000) throw ValueError(fmt::format("LBFGS: history_size {} is not plausible", history_size));
    stop.validate("LBFGS");
    if (std::isnan(bounds.lower) || std::isnan(bounds.upper) || bounds.lower > bounds.upper ||
        bounds.lower == std::numeric_limits<double>::infinity() || bounds.upper == -std::numeric_limits<double>::infinity())
        throw ValueError(fmt::format("LBFGS: bounds must satisfy lower <= upper with lower < inf and upper > -inf, got "
                                     "[{}, {}]",
                                     bounds.lower, bounds.upper));
    if (!(line_search.c1 > 0 && line_search.c1 < line_search.c2 && line_search.c2 < 1))
        throw ValueError(fmt::format("LBFGS: line search needs 0 < c1 < c2 < 1, got c1 = {}, c2 = {}", line_search.c1,
                                     line_search.c2));
}

namespace {
// The box of every element of every parameter, from the groups' bounds.
template <class T>
detail::Box box_of(const LBFGS<T>& opt) {
    detail::Box box;
    for (const auto& group : opt.groups())
        for (const auto& p : group.params) {
            box.lower.insert(box.lower.end(), p.size(), group.options.bounds.lower);
            box.upper.insert(box.upper.end(), p.size(), group.options.bounds.upper);
        }
    return box;
}

template <class T>
detail::Flat flat(const Vec<T>& v) {
    return detail::to_flat(v);
}

template <class T>
Vec<T> shaped(const detail::Flat& f, const TensorList<T>& params) {
    std::vector<T> values(f.begin(), f.end());
    return detail::from_flat(values.data(), params);
}

template <class T>
std::vector<detail::Flat> flats(const std::vector<Vec<T>>& vs) {
    std::vector<detail::Flat> out;
    for (const auto& v : vs) out.push_back(flat(v));
    return out;
}
}  // namespace

template <class T>
bool LBFGS<T>::bounded() const {
    for (const auto& group : this->groups())
        if (std::isfinite(group.options.bounds.lower) || std::isfinite(group.options.bounds.upper)) return true;
    return false;
}

template <class T>
double LBFGS<T>::stationarity(const ParamVector<T>& g) const {
    if (!bounded()) return detail::max_abs(g);
    return detail::projected_gradient_norm(flat(detail::values_of(this->parameters())), flat(g), box_of(*this));
}

template <class T>
void LBFGS<T>::make_feasible(ParamVector<T>& x) const {
    if (!bounded()) return;
    std::size_t k = 0;
    for (const auto& group : this->groups())
        for (std::size_t i = 0; i < group.params.size(); ++i, ++k)
            for (auto& e : x[k]) e = std::clamp(e, T(group.options.bounds.lower), T(group.options.bounds.upper));
}

template <class T>
void LBFGS<T>::project_parameters() {
    auto params = this->parameters();
    Vec<T> x = detail::values_of(params);
    Vec<T> projected = x;
    make_feasible(projected);
    if (!detail::same_values(x, projected)) detail::assign(params, projected);
}

template <class T>
double LBFGS<T>::step(const Closure& closure) {
    if (bounded()) project_parameters();
    return LineSearchMethod<T, LBFGSOptions>::step(closure);
}

template <class T>
auto LBFGS<T>::steepest(const ParamVector<T>& g, double) -> Direction {
    if (bounded()) {  // steepest descent bent at the bounds, its first trial step scipy's min(1, 1 / |d|)
        auto params = this->parameters();
        const detail::Box box = box_of(*this);
        const detail::Flat x = flat(detail::values_of(params));
        const detail::Flat d = detail::projected_steepest(x, flat(g), box);
        double norm = 0;
        for (double e : d) norm += e * e;
        const double reach = detail::max_feasible_step(x, d, box);
        return {shaped<T>(d, params), std::min({1.0, 1.0 / std::sqrt(norm), reach}), true, reach};
    }
    double sum_abs = 0;
    for (auto& v : g)
        for (auto x : v) sum_abs += std::abs(double(x));
    return {detail::scaled(-1.0, g), std::min(1.0, 1.0 / sum_abs), true};
}

template <class T>
auto LBFGS<T>::direction(const ParamVector<T>& g, double f) -> Direction {
    if (s_.empty()) return steepest(g, f);
    if (bounded()) {
        auto params = this->parameters();
        const detail::Box box = box_of(*this);
        const detail::Flat x = flat(detail::values_of(params));
        const detail::Flat d = detail::lbfgsb_direction(x, flat(g), box, flats(s_), flats(y_));
        if (d.empty()) {  // the model gave no descent direction: start the memory afresh
            forget();
            return steepest(g, f);
        }
        return {shaped<T>(d, params), 1.0, false, std::max(1.0, detail::max_feasible_step(x, d, box))};
    }
    // two-loop recursion: d = -H g, with H_0 = (s^T y / y^T y) I from the newest pair
    Vec<T> q = g;
    std::vector<double> a(s_.size()), rho(s_.size());
    for (std::size_t i = s_.size(); i-- > 0;) {
        rho[i] = 1.0 / detail::dot(y_[i], s_[i]);
        a[i] = rho[i] * detail::dot(s_[i], q);
        detail::axpy(-a[i], y_[i], q);
    }
    q = detail::scaled(detail::dot(s_.back(), y_.back()) / detail::dot(y_.back(), y_.back()), q);
    for (std::size_t i = 0; i < s_.size(); ++i) {
        double b = rho[i] * detail::dot(y_[i], q);
        detail::axpy(a[i] - b, s_[i], q);
    }
    Direction dir{detail::scaled(-1.0, q), 1.0, false};
    if (!(detail::dot(g, dir.d) < 0)) return steepest(g, f);
    return dir;
}

template <class T>
void LBFGS<T>::record(const ParamVector<T>& x0, double, const ParamVector<T>& g0, const ParamVector<T>& x1,
                      const ParamVector<T>& g1, const ParamVector<T>&, bool) {
    Vec<T> s = x1, y = g1;
    detail::axpy(-1.0, x0, s);
    detail::axpy(-1.0, g0, y);
    if (!(detail::dot(s, y) > 1e-10 * detail::norm(s) * detail::norm(y))) return;  // keep H positive definite
    s_.push_back(std::move(s));
    y_.push_back(std::move(y));
    if (s_.size() > this->groups().front().options.history_size) {
        s_.erase(s_.begin());
        y_.erase(y_.begin());
    }
}

template <class T>
void LBFGS<T>::forget() {
    s_.clear();
    y_.clear();
}

template <class T>
nn::NamedArrays<T> LBFGS<T>::state() const {
    nn::NamedArrays<T> out;
    auto names = this->parameter_names();
    for (std::size_t k = 0; k < s_.size(); ++k)
        for (std::size_t i = 0; i < names.size(); ++i) {
            out.emplace_back(fmt::format("{}.s{}", names[i], k), s_[k][i]);
            out.emplace_back(fmt::format("{}.y{}", names[i], k), y_[k][i]);
        }
    out.emplace_back("lbfgs.iterations", detail::scalar_array<T>(double(this->iterations_)));
    out.emplace_back("lbfgs.history", detail::scalar_array<T>(double(s_.size())));
    return out;
}

template <class T>
void LBFGS<T>::load_state(const nn::NamedArrays<T>& state) {
    const char* who = "LBFGS.load_state";
    auto params = this->parameters();
    auto names = this->parameter_names();
    detail::StateReader<T> reader(who, state);
    std::size_t limit = this->groups().front().options.history_size;
    std::size_t history = reader.count("lbfgs.history", 0, double(limit));
    std::size_t iterations = reader.count("lbfgs.iterations", 0);
    std::vector<Vec<T>> s, y;
    for (std::size_t k = 0; k < history; ++k) {
        s.push_back(reader.per_parameter(names, params, fmt::format(".s{}", k)));
        y.push_back(reader.per_parameter(names, params, fmt::format(".y{}", k)));
        if (s.back().empty() || y.back().empty())
            throw ValueError(fmt::format("{}: 'lbfgs.history' says {} pairs, pair {} is missing", who, history, k));
    }
    reader.finish();
    this->restart();
    s_ = std::move(s);
    y_ = std::move(y);
    this->iterations_ = iterations;
}

template class LBFGS<float>;
template class LBFGS<double>;

}  // namespace xtgrad::optim
