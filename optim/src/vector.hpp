// Parameters seen as one vector: the arithmetic every optimizer needs, on lists of arrays.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <xtensor/xmath.hpp>

#include "xtgrad/optim/optimizer.hpp"

namespace xtgrad::optim::detail {

template <class T>
using Vec = std::vector<Array<T>>;

template <class T>
Vec<T> values_of(const TensorList<T>& params) {
    Vec<T> v;
    for (auto& p : params) v.push_back(p.value());
    return v;
}

/// The gradients of the parameters (zeros for a parameter without one).
template <class T>
Vec<T> grads_of(const TensorList<T>& params) {
    Vec<T> v;
    for (auto& p : params) v.push_back(p.has_grad() ? p.grad() : Array<T>(xt::zeros<T>(p.shape())));
    return v;
}

template <class T>
void assign(const TensorList<T>& params, const Vec<T>& values) {
    for (std::size_t i = 0; i < params.size(); ++i) {
        BasicTensor<T> p = params[i];
        p.mutable_value() = values[i];
    }
}

template <class T>
double dot(const Vec<T>& a, const Vec<T>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const T* x = a[i].data();
        const T* y = b[i].data();
        for (std::size_t k = 0; k < a[i].size(); ++k) s += double(x[k]) * double(y[k]);
    }
    return s;
}

template <class T>
double norm(const Vec<T>& a) {
    return std::sqrt(dot(a, a));
}

/// The largest |component| (the gradient test of every stop criterion).
template <class T>
double max_abs(const Vec<T>& v) {
    double m = 0;
    for (auto& a : v)
        for (auto x : a) m = std::max(m, std::abs(double(x)));
    return m;
}

/// Whether two parameter vectors are equal element for element (a carried point still valid?).
template <class T>
bool same_values(const Vec<T>& a, const Vec<T>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].shape() != b[i].shape() || !std::equal(a[i].begin(), a[i].end(), b[i].begin())) return false;
    return true;
}

/// y += alpha x
template <class T>
void axpy(double alpha, const Vec<T>& x, Vec<T>& y) {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] += static_cast<T>(alpha) * x[i];
}

template <class T>
Vec<T> scaled(double alpha, const Vec<T>& x) {
    Vec<T> out;
    for (auto& a : x) out.push_back(Array<T>(static_cast<T>(alpha) * a));
    return out;
}

template <class T>
Vec<T> zeros_like(const Vec<T>& x) {
    Vec<T> out;
    for (auto& a : x) out.push_back(Array<T>(xt::zeros<T>(a.shape())));
    return out;
}

/// Whether every element is finite: a vectorised scan (|x| <= max is false for infinities
/// and NaN; an integer reduction vectorises where an early exit does not).
template <class T>
bool all_finite(const Array<T>& a) {
    const T* data = a.data();
    const std::size_t n = a.size();
    unsigned bad = 0;
#pragma omp simd reduction(| : bad)
    for (std::size_t k = 0; k < n; ++k) bad |= unsigned(!(std::abs(data[k]) <= std::numeric_limits<T>::max()));
    return bad == 0;
}

/// NonFiniteError naming `who`, parameter `i` and the first element of `a` that is not finite
/// (called once all_finite(a) has said there is one).
template <class T>
[[noreturn]] void throw_non_finite(const char* who, const char* what, const Array<T>& a, std::size_t i,
                                   const std::vector<std::string>& names) {
    const T* data = a.data();
    std::size_t k = 0;
    while (k + 1 < a.size() && std::isfinite(data[k])) ++k;
    throw NonFiniteError(fmt::format("{}: {} of parameter '{}' (shape {}) is {} at flat index {}; the parameters "
                                     "were not changed",
                                     who, what, i < names.size() ? names[i] : std::to_string(i), to_string(a.shape()),
                                     data[k], k));
}

/// A per-parameter optimizer's check before its step moves anything: NonFiniteError (as above)
/// for the first gradient that is not finite, the names asked for only then. Parameters
/// without a gradient pass. Returns the number of parameters.
template <class Optimizer>
std::size_t check_gradients_finite(const char* who, const Optimizer& optimizer) {
    std::size_t count = 0;
    for (auto& group : optimizer.groups())
        for (auto& p : group.params) {
            if (p.has_grad() && !all_finite(p.grad()))
                throw_non_finite(who, "gradient", p.grad(), count, optimizer.parameter_names());
            ++count;
        }
    return count;
}

/// NonFiniteError naming `who`, the parameter and the first bad element.
template <class T>
void check_finite(const char* who, const char* what, const Vec<T>& v, const std::vector<std::string>& names) {
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!all_finite(v[i])) throw_non_finite(who, what, v[i], i, names);
}

inline void check_finite_loss(const char* who, double loss) {
    if (!std::isfinite(loss))
        throw NonFiniteError(fmt::format("{}: the loss is {}; the parameters were not changed", who, loss));
}

/// Default names "0", "1", ... for parameters given without names.
inline std::vector<std::string> default_names(std::size_t offset, std::size_t n) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < n; ++i) names.push_back(std::to_string(offset + i));
    return names;
}

/// The number of elements of all the parameters together.
template <class T>
std::size_t total_size(const TensorList<T>& params) {
    std::size_t p = 0;
    for (auto& t : params) p += t.size();
    return p;
}

/// A flat vector of total_size(params) entries as one array per parameter, and back.
template <class T>
Vec<T> from_flat(const T* flat, const TensorList<T>& params) {
    Vec<T> v;
    for (auto& t : params) {
        Array<T> a = Array<T>::from_shape(t.shape());
        std::copy(flat, flat + a.size(), a.data());
        flat += a.size();
        v.push_back(std::move(a));
    }
    return v;
}

template <class T>
std::vector<double> to_flat(const Vec<T>& v) {
    std::vector<double> flat;
    for (auto& a : v) flat.insert(flat.end(), a.begin(), a.end());
    return flat;
}

/// Restores the parameters' values on scope exit unless `keep()` was called.
template <class T>
class Snapshot {
public:
    explicit Snapshot(const TensorList<T>& params) : params_(params), saved_(values_of(params)) {}
    ~Snapshot() {
        if (!kept_) assign(params_, saved_);
    }
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    void keep() { kept_ = true; }
    const Vec<T>& saved() const { return saved_; }

private:
    TensorList<T> params_;
    Vec<T> saved_;
    bool kept_ = false;
};

}  // namespace xtgrad::optim::detail
