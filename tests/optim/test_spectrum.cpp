// Curvature diagnostics against the full eigendecomposition of small models' Hessians and
// Gauss-Newton matrices: top eigenvalues and vectors by Lanczos, the trace by Hutchinson, the
// spectral density's moments by stochastic Lanczos quadrature.
#include <algorithm>
#include <cmath>
#include <random>

#include "curvature_recording.hpp"  // white-box: optim/src
#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;
using optim::Curvature;

namespace {
// A 3-5-2 tanh network with softmax cross entropy on 40 points: 32 parameters, an indefinite
// Hessian at its random initialisation (negative eigenvalues as well as positive ones).
struct Net {
    std::mt19937_64 rng{4};
    nn::MLP<double> mlp{{3, 5, 2}, nn::Activation::tanh, rng};
    Tensor x;
    std::vector<std::size_t> labels;
    optim::CurvatureModel<double> model;
    Net() {
        std::normal_distribution<double> normal(0.0, 1.0);
        Array<double> xs = Array<double>::from_shape({40, 3});
        for (auto& e : xs) e = normal(rng);
        for (std::size_t i = 0; i < 40; ++i) labels.push_back(xs(i, 0) * xs(i, 1) > 0 ? 1 : 0);
        x = Tensor::constant(xs);
        model = {[this] { return mlp(x); }, [this](const Tensor& z) { return nn::cross_entropy(z, labels); },
                 [this] { return nn::l2_penalty(mlp, 1e-3, false); }};
    }
    TensorList<double> params() { return mlp.parameters(); }
    // the exact matrix, column by column from the same products
    Array<double> matrix(Curvature c) {
        auto p = params();
        std::size_t n = 0;
        for (auto& t : p) n += t.size();
        Array<double> h = Array<double>::from_shape({n, n});
        for (std::size_t j = 0; j < n; ++j) {
            optim::ParamVector<double> e;
            std::size_t offset = 0;
            for (auto& t : p) {
                Array<double> a = xt::zeros<double>(t.shape());
                if (j >= offset && j < offset + t.size()) a.data()[j - offset] = 1;
                offset += t.size();
                e.push_back(a);
            }
            auto col = c == Curvature::hessian ? optim::hessian_vector_product(model, p, e)
                                               : optim::gauss_newton_vector_product(model, p, e);
            std::size_t i = 0;
            for (auto& a : col)
                for (auto v : a) h(i++, j) = v;
        }
        return 0.5 * (h + xt::transpose(h));
    }
};

// Eigenvalues of a symmetric matrix, ascending, by Jacobi rotations on the full matrix.
std::vector<double> eigenvalues(Array<double> a) {
    const std::size_t n = a.shape()[0];
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = i + 1; j < n; ++j) off += a(i, j) * a(i, j);
        if (off < 1e-30) break;
        for (std::size_t p = 0; p < n; ++p)
            for (std::size_t q = p + 1; q < n; ++q) {
                if (std::abs(a(p, q)) < 1e-300) continue;
                double theta = (a(q, q) - a(p, p)) / (2 * a(p, q));
                double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
                double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (std::size_t k = 0; k < n; ++k) {
                    double akp = a(k, p), akq = a(k, q);
                    a(k, p) = c * akp - s * akq;
                    a(k, q) = s * akp + c * akq;
                }
                for (std::size_t k = 0; k < n; ++k) {
                    double apk = a(p, k), aqk = a(q, k);
                    a(p, k) = c * apk - s * aqk;
                    a(q, k) = s * apk + c * aqk;
                }
            }
    }
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = a(i, i);
    std::sort(v.begin(), v.end());
    return v;
}
}  // namespace

BOOST_AUTO_TEST_CASE(top_eigenpairs_equal_the_full_decomposition) {
    for (Curvature c : {Curvature::hessian, Curvature::fisher}) {
        Net net;
        auto params = net.params();
        Array<double> h = net.matrix(c);
        auto exact = eigenvalues(h);
        auto r = optim::top_eigenpairs(params, net.model, 3, c, {.lanczos_steps = 32});
        for (std::size_t j = 0; j < 3; ++j) {
            double want = exact[exact.size() - 1 - j];
            BOOST_TEST(std::abs(r.values[j] - want) < 1e-8 * std::abs(exact.back()),
                       "eigenvalue " << j << ": " << r.values[j] << " vs " << want);
            // H v = lambda v for the returned vector, which has unit norm
            std::vector<double> v;
            for (auto& a : r.vectors[j]) v.insert(v.end(), a.begin(), a.end());
            double norm = 0, residual = 0;
            for (double e : v) norm += e * e;
            for (std::size_t i = 0; i < v.size(); ++i) {
                double hv = 0;
                for (std::size_t k = 0; k < v.size(); ++k) hv += h(i, k) * v[k];
                residual = std::max(residual, std::abs(hv - r.values[j] * v[i]));
            }
            BOOST_TEST(std::abs(norm - 1) < 1e-10);
            BOOST_TEST(residual < 1e-7 * std::abs(exact.back()));
        }
        if (c == Curvature::hessian) BOOST_TEST(exact.front() < 0.0);    // the case has negative curvature too
        if (c == Curvature::fisher) BOOST_TEST(exact.front() > -1e-12);  // Gauss-Newton: semi-definite
        // fewer steps than parameters: the largest eigenvalue (well separated) still converges
        auto few = optim::top_eigenpairs(params, net.model, 1, c, {.lanczos_steps = 20});
        BOOST_TEST(std::abs(few.values[0] - exact.back()) < 1e-6 * std::abs(exact.back()));
    }
}

BOOST_AUTO_TEST_CASE(hutchinson_trace_and_density_moments_within_their_standard_errors) {
    Net net;
    auto params = net.params();
    Array<double> h = net.matrix(Curvature::hessian);
    const double p = double(h.shape()[0]);
    double trace = 0;
    for (std::size_t i = 0; i < h.shape()[0]; ++i) trace += h(i, i);
    auto t = optim::curvature_trace(params, net.model, Curvature::hessian, {.probes = 200});
    BOOST_TEST(t.standard_error > 0.0);
    BOOST_TEST(std::abs(t.value - trace) < 3 * t.standard_error,
               t.value << " +- " << t.standard_error << " vs " << trace);
    // the density's moments estimate tr(H^j) / p; with as many steps as parameters each probe's
    // quadrature is z^T H^j z / |z|^2 exactly, so the error is the probes': for Rademacher z,
    // Var(z^T A z) = 2 sum_{i != k} A_ik^2
    auto d = optim::spectral_density(params, net.model, Curvature::hessian, {.lanczos_steps = 32, .probes = 200});
    const std::size_t n = h.shape()[0];
    Array<double> h2 = xt::zeros<double>({n, n});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k)
            for (std::size_t j = 0; j < n; ++j) h2(i, k) += h(i, j) * h(j, k);
    auto standard_error = [&](const Array<double>& a) {
        double off = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t k = 0; k < n; ++k)
                if (i != k) off += a(i, k) * a(i, k);
        return std::sqrt(2 * off / 200.0) / p;
    };
    double trace2 = 0;
    for (std::size_t i = 0; i < n; ++i) trace2 += h2(i, i);
    BOOST_TEST(std::abs(d.moment(0) - 1.0) < 1e-12);  // the weights of each probe sum to 1
    // the same probes as the trace's (same seed): the first moment is its estimate over p
    BOOST_TEST(std::abs(d.moment(1) - t.value / p) < 1e-10 * std::abs(trace / p));
    BOOST_TEST(std::abs(d.moment(1) - trace / p) < 4 * standard_error(h));
    BOOST_TEST(std::abs(d.moment(2) - trace2 / p) < 4 * standard_error(h2), d.moment(2) << " vs " << trace2 / p);
    // the smoothed density integrates to 1 on a grid covering the spectrum
    auto exact = eigenvalues(h);
    std::vector<double> grid;
    const double lo = exact.front() - 1, hi = exact.back() + 1, step = (hi - lo) / 2000;
    for (double g = lo; g <= hi; g += step) grid.push_back(g);
    auto density = d.smoothed(grid, 0.05);
    double mass = 0;
    for (double v : density) mass += v * step;
    BOOST_TEST(std::abs(mass - 1) < 1e-3);
}

// A spectral density takes probes x steps products (thousands) on one recording, and each
// product is a reverse sweep over the recording's tape: a product that left nodes behind made
// the next sweep longer, the whole quadratic in the number of products (200 probes of 32 steps
// on this 32-parameter net took 41 s).
BOOST_AUTO_TEST_CASE(products_leave_the_recording_as_long_as_it_was) {
    Net net;
    auto params = net.params();
    // a loss without a closed-form output Hessian takes the generic path (a sweep of dL/dz)
    auto quartic = net.model;
    quartic.loss = [](const Tensor& z) { return sum(pow(z, 4.0)); };
    for (auto* model : {&net.model, &quartic})
        for (Curvature c : {Curvature::hessian, Curvature::fisher}) {
            optim::detail::CurvatureRecording<double> recording(*model, params, c);
            optim::ParamVector<double> v;
            for (auto& t : params) v.push_back(Array<double>(xt::ones<double>(t.shape())));
            auto first = recording.product(v);
            const std::size_t nodes = recording.tape_nodes();
            for (int k = 0; k < 5; ++k) recording.product(v);
            BOOST_TEST(recording.tape_nodes() == nodes);
            auto again = recording.product(v);  // and the products stay what they were
            for (std::size_t i = 0; i < v.size(); ++i) BOOST_TEST(xt::allclose(again[i], first[i], 0.0, 0.0));
        }
}

BOOST_AUTO_TEST_CASE(misuse_is_a_clear_error) {
    Net net;
    expect_error<ValueError>([&] { optim::top_eigenpairs(net.params(), net.model, 0); },
                             "top_eigenpairs: k = 0 eigenpairs asked of a curvature of size 32");
    expect_error<ValueError>([&] { optim::top_eigenpairs(net.params(), net.model, 33); }, "k = 33");
    expect_error<ValueError>(
        [&] { optim::curvature_trace(net.params(), net.model, Curvature::hessian, {.probes = 1}); },
        "curvature_trace: needs at least 2 probes");
    expect_error<ValueError>([&] { optim::SpectralDensity{}.smoothed({0.0}, 0.0); }, "sigma must be positive");
}
