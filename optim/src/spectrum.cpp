// Curvature diagnostics: Lanczos, Hutchinson and stochastic Lanczos quadrature on the products
// of one recording of the model.
#include "xtgrad/optim/spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "curvature_recording.hpp"
#include "lanczos.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

using detail::CurvatureRecording;
using detail::from_flat;
using detail::to_flat;
using detail::total_size;

namespace {
// H v on flat vectors of doubles.
template <class T>
struct FlatProduct {
    CurvatureRecording<T> recording;
    TensorList<T> params;
    FlatProduct(const TensorList<T>& p, const CurvatureModel<T>& model, Curvature c)
        : recording(model, p, c), params(p) {}
    std::vector<double> operator()(const std::vector<double>& v) {
        std::vector<T> vt(v.begin(), v.end());
        return to_flat(recording.product(from_flat(vt.data(), params)));
    }
};

std::vector<double> rademacher(std::size_t p, std::mt19937_64& rng) {
    std::bernoulli_distribution coin(0.5);
    std::vector<double> z(p);
    for (auto& e : z) e = coin(rng) ? 1.0 : -1.0;
    return z;
}

void check_probes(const char* who, const SpectrumOptions& o) {
    if (o.probes < 2) throw ValueError(fmt::format("{}: needs at least 2 probes, got {}", who, o.probes));
}
}  // namespace

template <class T>
Eigenpairs<T> top_eigenpairs(const TensorList<T>& params, const CurvatureModel<T>& model, std::size_t k,
                             Curvature curvature, const SpectrumOptions& o) {
    const std::size_t p = total_size(params);
    if (k == 0 || k > p)
        throw ValueError(fmt::format("top_eigenpairs: k = {} eigenpairs asked of a curvature of size {}", k, p));
    const std::size_t steps = std::min(p, o.lanczos_steps ? o.lanczos_steps : std::max(3 * k, k + 30));
    if (steps < k)
        throw ValueError(fmt::format("top_eigenpairs: {} Lanczos steps cannot give {} eigenpairs", steps, k));
    FlatProduct<T> product(params, model, curvature);
    std::mt19937_64 rng(o.seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> start(p);
    double norm = 0;
    for (auto& e : start) {
        e = normal(rng);
        norm += e * e;
    }
    for (auto& e : start) e /= std::sqrt(norm);
    detail::Lanczos l = detail::lanczos([&](const std::vector<double>& v) { return product(v); }, start, steps);
    std::vector<double> values, vectors;
    detail::ritz(l, values, vectors);
    const std::size_t m = values.size();
    Eigenpairs<T> r;
    for (std::size_t j = 0; j < std::min(k, m); ++j) {
        const std::size_t col = m - 1 - j;  // ascending: the largest last
        r.values.push_back(values[col]);
        std::vector<T> v(p, T(0));
        for (std::size_t b = 0; b < m; ++b)
            for (std::size_t i = 0; i < p; ++i) v[i] += T(vectors[b * m + col] * l.q[b][i]);
        r.vectors.push_back(from_flat(v.data(), params));
    }
    if (r.values.size() < k)  // the start vector lay in an invariant subspace of fewer dimensions
        throw ValueError(
            fmt::format("top_eigenpairs: Lanczos found an invariant subspace of dimension {} < k = {}; "
                        "try another seed",
                        m, k));
    return r;
}

template <class T>
Estimate curvature_trace(const TensorList<T>& params, const CurvatureModel<T>& model, Curvature curvature,
                         const SpectrumOptions& o) {
    check_probes("curvature_trace", o);
    const std::size_t p = total_size(params);
    FlatProduct<T> product(params, model, curvature);
    std::mt19937_64 rng(o.seed);
    std::vector<double> samples;
    for (std::size_t probe = 0; probe < o.probes; ++probe) {
        auto z = rademacher(p, rng);
        auto hz = product(z);
        double s = 0;
        for (std::size_t i = 0; i < p; ++i) s += z[i] * hz[i];
        samples.push_back(s);
    }
    double mean = 0, var = 0;
    for (double s : samples) mean += s / double(samples.size());
    for (double s : samples) var += (s - mean) * (s - mean) / double(samples.size() - 1);
    return {mean, std::sqrt(var / double(samples.size()))};
}

template <class T>
SpectralDensity spectral_density(const TensorList<T>& params, const CurvatureModel<T>& model, Curvature curvature,
                                 const SpectrumOptions& o) {
    check_probes("spectral_density", o);
    const std::size_t p = total_size(params);
    const std::size_t steps = std::min(p, o.lanczos_steps ? o.lanczos_steps : std::size_t(80));
    FlatProduct<T> product(params, model, curvature);
    std::mt19937_64 rng(o.seed);
    SpectralDensity d;
    d.size = p;
    for (std::size_t probe = 0; probe < o.probes; ++probe) {
        auto z = rademacher(p, rng);
        for (auto& e : z) e /= std::sqrt(double(p));
        detail::Lanczos l = detail::lanczos([&](const std::vector<double>& v) { return product(v); }, z, steps);
        std::vector<double> values, vectors;
        detail::ritz(l, values, vectors);
        const std::size_t m = values.size();
        for (std::size_t k = 0; k < m; ++k) {
            d.nodes.push_back(values[k]);
            d.weights.push_back(vectors[k] * vectors[k] / double(o.probes));  // row 0: first components
        }
    }
    return d;
}

std::vector<double> SpectralDensity::smoothed(const std::vector<double>& grid, double sigma) const {
    if (!(sigma > 0)) throw ValueError(fmt::format("SpectralDensity::smoothed: sigma must be positive, got {}", sigma));
    std::vector<double> out(grid.size(), 0.0);
    const double norm = 1 / (sigma * std::sqrt(2 * M_PI));
    for (std::size_t g = 0; g < grid.size(); ++g)
        for (std::size_t k = 0; k < nodes.size(); ++k) {
            const double u = (grid[g] - nodes[k]) / sigma;
            out[g] += weights[k] * norm * std::exp(-0.5 * u * u);
        }
    return out;
}

double SpectralDensity::moment(int j) const {
    double s = 0;
    for (std::size_t k = 0; k < nodes.size(); ++k) s += weights[k] * std::pow(nodes[k], j);
    return s;
}

#define XTGRAD_SPECTRUM(T)                                                                                        \
    template Eigenpairs<T> top_eigenpairs(const TensorList<T>&, const CurvatureModel<T>&, std::size_t, Curvature, \
                                          const SpectrumOptions&);                                                \
    template Estimate curvature_trace(const TensorList<T>&, const CurvatureModel<T>&, Curvature,                  \
                                      const SpectrumOptions&);                                                    \
    template SpectralDensity spectral_density(const TensorList<T>&, const CurvatureModel<T>&, Curvature,          \
                                              const SpectrumOptions&);
XTGRAD_SPECTRUM(float)
XTGRAD_SPECTRUM(double)

}  // namespace xtgrad::optim
