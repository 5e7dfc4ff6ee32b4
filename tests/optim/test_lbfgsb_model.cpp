// L-BFGS-B's model, white-box: the generalised Cauchy point and the subspace step checked
// against the dense BFGS matrix built by the textbook recursion. Through the public optimizer a
// wrong Cauchy point hardly shows (the subspace step and the line search repair it, at the
// cost of iterations on problems no test can list), so the pieces are tested here directly.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <random>

#include "lbfgsb.hpp"

using namespace xtgrad::optim::detail;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
using Dense = std::vector<Flat>;  // rows

Flat times(const Dense& a, const Flat& v) {
    Flat r(v.size(), 0.0);
    for (std::size_t i = 0; i < v.size(); ++i)
        for (std::size_t j = 0; j < v.size(); ++j) r[i] += a[i][j] * v[j];
    return r;
}
double dot(const Flat& a, const Flat& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// B from theta I by the BFGS update B - B s s^T B / s^T B s + y y^T / y^T s, oldest pair first
Dense bfgs_matrix(const std::vector<Flat>& s, const std::vector<Flat>& y, std::size_t n) {
    const double theta = s.empty() ? 1.0 : dot(y.back(), y.back()) / dot(s.back(), y.back());
    Dense b(n, Flat(n, 0.0));
    for (std::size_t i = 0; i < n; ++i) b[i][i] = theta;
    for (std::size_t p = 0; p < s.size(); ++p) {
        const Flat bs = times(b, s[p]);
        const double sbs = dot(s[p], bs), ys = dot(y[p], s[p]);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) b[i][j] += -bs[i] * bs[j] / sbs + y[p][i] * y[p][j] / ys;
    }
    return b;
}

// The first local minimiser of q(z) = g^T z + 1/2 z^T B z along z(t) = P(x - t g) - x, walked
// segment by segment between the breakpoints (where a coordinate reaches its bound).
Flat dense_cauchy_point(const Flat& x, const Flat& g, const Box& box, const Dense& b) {
    const std::size_t n = x.size();
    Flat reach(n, kInf);  // when each coordinate meets its bound
    for (std::size_t i = 0; i < n; ++i) {
        if (g[i] < 0) reach[i] = (x[i] - box.upper[i]) / g[i];
        if (g[i] > 0) reach[i] = (x[i] - box.lower[i]) / g[i];
    }
    Flat breaks{0.0};
    for (double t : reach)
        if (t > 0 && std::isfinite(t)) breaks.push_back(t);
    std::sort(breaks.begin(), breaks.end());
    breaks.push_back(kInf);
    auto at = [&](double t) {
        Flat p(n);
        for (std::size_t i = 0; i < n; ++i) p[i] = std::clamp(x[i] - t * g[i], box.lower[i], box.upper[i]);
        return p;
    };
    for (std::size_t j = 0; j + 1 < breaks.size(); ++j) {
        const double t0 = breaks[j], t1 = breaks[j + 1];
        if (t1 == t0) continue;
        Flat z = at(t0), d(n, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            z[i] -= x[i];
            if (reach[i] > t0) d[i] = -g[i];  // (by time, not by position: x - t g rounds)
        }
        const Flat bz = times(b, z);
        Flat slope(n);
        for (std::size_t i = 0; i < n; ++i) slope[i] = g[i] + bz[i];
        const double f1 = dot(slope, d), f2 = dot(d, times(b, d));
        if (f1 >= 0) return at(t0);
        if (-f1 / f2 < t1 - t0) return at(t0 - f1 / f2);
    }
    return {};  // unbounded below: B is positive definite here, so not reached
}

struct Case {
    Flat x, g;
    Box box;
    std::vector<Flat> s, y;
};

// n variables in a box around x (some bounds infinite, some tight), m curvature pairs with
// y = A s for a random positive-definite A (so s^T y > 0)
Case random_case(std::mt19937& rng, std::size_t n, std::size_t m) {
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    Case c;
    c.x.resize(n);
    c.g.resize(n);
    c.box.lower.resize(n);
    c.box.upper.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        c.x[i] = normal(rng);
        c.g[i] = normal(rng);
        c.box.lower[i] = uniform(rng) < 0.2 ? -kInf : c.x[i] - 2 * uniform(rng);
        c.box.upper[i] = uniform(rng) < 0.2 ? kInf : c.x[i] + 2 * uniform(rng);
    }
    c.box.lower[0] = c.x[0];  // one variable on its bound, the gradient pushing it out
    c.g[0] = std::abs(c.g[0]);
    Dense a(n, Flat(n, 0.0)), r(n, Flat(n));
    for (auto& row : r)
        for (double& e : row) e = normal(rng);
    for (std::size_t i = 0; i < n; ++i) {
        a[i][i] = 0.5;
        for (std::size_t j = 0; j < n; ++j)
            for (std::size_t k = 0; k < n; ++k) a[i][j] += r[k][i] * r[k][j] / double(n);
    }
    for (std::size_t p = 0; p < m; ++p) {
        Flat s(n);
        for (double& e : s) e = normal(rng);
        c.y.push_back(times(a, s));
        c.s.push_back(s);
    }
    return c;
}

double max_difference(const Flat& a, const Flat& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    return worst;
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_cauchy_point_is_the_first_minimiser_of_the_dense_model) {
    std::mt19937 rng(7);
    std::size_t passed_breakpoints = 0;
    for (std::size_t m : {0u, 1u, 3u, 5u})
        for (int trial = 0; trial < 25; ++trial) {
            const Case c = random_case(rng, 12, m);
            const Dense b = bfgs_matrix(c.s, c.y, 12);
            const Flat expected = dense_cauchy_point(c.x, c.g, c.box, b), got = cauchy_point(c.x, c.g, c.box, c.s, c.y);
            BOOST_REQUIRE(got.size() == expected.size());
            BOOST_TEST(max_difference(got, expected) < 1e-10,
                       "m " << m << ", trial " << trial << ": " << max_difference(got, expected));
            for (std::size_t i = 0; i < 12; ++i)
                passed_breakpoints += (i > 0 && (got[i] == c.box.lower[i] || got[i] == c.box.upper[i]));
        }
    BOOST_TEST(passed_breakpoints > 100u);  // the cases bend the path often, not only at the start
}

BOOST_AUTO_TEST_CASE(the_subspace_step_minimises_the_model_over_the_free_variables) {
    // where the step is not cut back by the box, the model's gradient g + B (xbar - x) vanishes
    // on every variable strictly inside its bounds
    std::mt19937 rng(11);
    std::size_t checked = 0;
    for (std::size_t m : {0u, 2u, 5u})
        for (int trial = 0; trial < 25; ++trial) {
            Case c = random_case(rng, 10, m);
            for (std::size_t i = 0; i < 10; ++i) {  // a wide box: cut-backs are rare
                c.box.lower[i] = std::min(c.box.lower[i], c.x[i] - 50.0);
                c.box.upper[i] = std::max(c.box.upper[i], c.x[i] + 50.0);
            }
            c.box.lower[0] = c.x[0];
            const Flat d = lbfgsb_direction(c.x, c.g, c.box, c.s, c.y);
            BOOST_REQUIRE(!d.empty());
            BOOST_TEST(dot(c.g, d) < 0);
            const Flat bd = times(bfgs_matrix(c.s, c.y, 10), d);
            bool inside = true;
            for (std::size_t i = 0; i < 10; ++i)
                inside = inside && c.x[i] + d[i] >= c.box.lower[i] && c.x[i] + d[i] <= c.box.upper[i];
            BOOST_TEST(inside);
            double worst = 0;
            for (std::size_t i = 0; i < 10; ++i)
                if (c.x[i] + d[i] > c.box.lower[i] && c.x[i] + d[i] < c.box.upper[i])
                    worst = std::max(worst, std::abs(c.g[i] + bd[i]));
            BOOST_TEST(worst < 1e-9, "m " << m << ", trial " << trial);
            ++checked;
        }
    BOOST_TEST(checked == 75u);
}
