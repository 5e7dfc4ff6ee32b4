// L-BFGS-B's direction: the generalised Cauchy point (algorithm CP of Byrd, Lu, Nocedal and
// Zhu 1995) and subspace minimisation (their direct primal method), on the compact form
// B = theta I - W M W^T with W = [Y, theta S] and M = [[-D, L^T], [L, theta S^T S]]^-1 (D the
// diagonal of S^T Y, L its strictly lower triangle). Everything is O(n m + m^3) per step.
#include "lbfgsb.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace xtgrad::optim::detail {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

double dot(const Flat& a, const Flat& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// A small dense square matrix, row-major.
struct Small {
    std::size_t n = 0;
    Flat a;
    explicit Small(std::size_t n) : n(n), a(n * n, 0.0) {}
    double& operator()(std::size_t i, std::size_t j) { return a[i * n + j]; }
    double operator()(std::size_t i, std::size_t j) const { return a[i * n + j]; }
    Flat times(const Flat& v) const {
        Flat r(n, 0.0);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) r[i] += a[i * n + j] * v[j];
        return r;
    }
};

// A^-1 B's columns by Gauss-Jordan elimination with partial pivoting (2m x 2m: m <= a few
// dozen); false when A is singular to working precision.
bool invert(Small a, Small& inverse) {
    const std::size_t n = a.n;
    inverse = Small(n);
    for (std::size_t i = 0; i < n; ++i) inverse(i, i) = 1;
    double scale = 0;
    for (double e : a.a) scale = std::max(scale, std::abs(e));
    for (std::size_t col = 0; col < n; ++col) {
        std::size_t pivot = col;
        for (std::size_t r = col + 1; r < n; ++r)
            if (std::abs(a(r, col)) > std::abs(a(pivot, col))) pivot = r;
        if (!(std::abs(a(pivot, col)) > 1e-14 * scale)) return false;
        for (std::size_t j = 0; j < n; ++j) {
            std::swap(a(col, j), a(pivot, j));
            std::swap(inverse(col, j), inverse(pivot, j));
        }
        const double p = a(col, col);
        for (std::size_t j = 0; j < n; ++j) {
            a(col, j) /= p;
            inverse(col, j) /= p;
        }
        for (std::size_t r = 0; r < n; ++r) {
            if (r == col || a(r, col) == 0) continue;
            const double f = a(r, col);
            for (std::size_t j = 0; j < n; ++j) {
                a(r, j) -= f * a(col, j);
                inverse(r, j) -= f * inverse(col, j);
            }
        }
    }
    return true;
}
}  // namespace

bool Box::active() const {
    for (std::size_t i = 0; i < lower.size(); ++i)
        if (std::isfinite(lower[i]) || std::isfinite(upper[i])) return true;
    return false;
}

void project(Flat& x, const Box& box) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::clamp(x[i], box.lower[i], box.upper[i]);
}

double projected_gradient_norm(const Flat& x, const Flat& g, const Box& box) {
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
        worst = std::max(worst, std::abs(std::clamp(x[i] - g[i], box.lower[i], box.upper[i]) - x[i]));
    return worst;
}

Flat projected_steepest(const Flat& x, const Flat& g, const Box& box) {
    Flat d(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) d[i] = std::clamp(x[i] - g[i], box.lower[i], box.upper[i]) - x[i];
    return d;
}

double max_feasible_step(const Flat& x, const Flat& d, const Box& box) {
    double a = kInf;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (d[i] > 0 && std::isfinite(box.upper[i])) a = std::min(a, (box.upper[i] - x[i]) / d[i]);
        if (d[i] < 0 && std::isfinite(box.lower[i])) a = std::min(a, (box.lower[i] - x[i]) / d[i]);
    }
    return std::max(a, 0.0);
}

namespace {
// The compact model's pieces: theta, M and W's rows (W = [Y, theta S], n x 2m).
struct Compact {
    std::size_t m = 0, k = 0;
    double theta = 1;
    Small mmat{0};
    const std::vector<Flat>* s = nullptr;
    const std::vector<Flat>* y = nullptr;
    double w(std::size_t i, std::size_t j) const { return j < m ? (*y)[j][i] : theta * (*s)[j - m][i]; }
    Flat w_row(std::size_t i) const {
        Flat r(k);
        for (std::size_t j = 0; j < k; ++j) r[j] = w(i, j);
        return r;
    }
};

// false when M's inverse is singular (the pairs are degenerate)
bool compact_model(const std::vector<Flat>& s, const std::vector<Flat>& y, Compact& c) {
    c.m = s.size();
    c.k = 2 * c.m;
    c.s = &s;
    c.y = &y;
    c.theta = c.m ? dot(y.back(), y.back()) / dot(s.back(), y.back()) : 1.0;
    c.mmat = Small(c.k);
    if (!c.m) return true;
    const std::size_t m = c.m;
    Small mi(c.k);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < m; ++j) {
            const double sy = dot(s[i], y[j]);
            if (i == j) mi(i, i) = -sy;
            if (i > j) {  // L_ij = s_i^T y_j below the diagonal; L^T above
                mi(m + i, j) = sy;
                mi(j, m + i) = sy;
            }
            mi(m + i, m + j) = c.theta * dot(s[i], s[j]);
        }
    return invert(mi, c.mmat);
}

// The generalised Cauchy point xc: the first local minimiser of the model along x - t g bent at
// each bound it meets; also c = W^T (xc - x), which the subspace step needs. Empty when the
// projected gradient is zero.
struct CauchyPoint {
    Flat xc, c;
};

CauchyPoint generalized_cauchy_point(const Flat& x, const Flat& g, const Box& box, const Compact& model) {
    const std::size_t n = x.size(), k = model.k;
    const double theta = model.theta;
    const Small& mmat = model.mmat;
    Flat t(n, kInf), d(n, 0.0), xc = x;
    for (std::size_t i = 0; i < n; ++i) {
        if (g[i] < 0 && std::isfinite(box.upper[i])) t[i] = (x[i] - box.upper[i]) / g[i];
        if (g[i] > 0 && std::isfinite(box.lower[i])) t[i] = (x[i] - box.lower[i]) / g[i];
        if (t[i] > 0) d[i] = -g[i];
    }
    Flat p(k, 0.0), c(k, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        if (d[i] != 0)
            for (std::size_t j = 0; j < k; ++j) p[j] += model.w(i, j) * d[i];
    double f1 = -dot(d, d);  // g^T d
    double f2 = -theta * f1 - dot(p, mmat.times(p));
    const double f2_start = f2;
    if (f1 >= 0) return {};  // the projected gradient is zero
    double dt_min = -f1 / f2, t_old = 0;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < n; ++i)
        if (t[i] > 0 && std::isfinite(t[i])) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t[a] < t[b]; });
    std::size_t next = 0;
    for (; next < order.size(); ++next) {
        const std::size_t b = order[next];
        const double dt = t[b] - t_old;
        if (dt_min < dt) break;
        xc[b] = d[b] > 0 ? box.upper[b] : box.lower[b];
        const double zb = xc[b] - x[b], gb = g[b];
        for (std::size_t j = 0; j < k; ++j) c[j] += dt * p[j];
        const Flat wb = model.w_row(b), mc = mmat.times(c), mp = mmat.times(p), mw = mmat.times(wb);
        f1 += dt * f2 + gb * gb + theta * gb * zb - gb * dot(wb, mc);
        f2 += -theta * gb * gb - 2 * gb * dot(wb, mp) - gb * gb * dot(wb, mw);
        f2 = std::max(f2, std::numeric_limits<double>::epsilon() * f2_start);
        for (std::size_t j = 0; j < k; ++j) p[j] += gb * wb[j];
        d[b] = 0;
        dt_min = -f1 / f2;
        t_old = t[b];
    }
    dt_min = std::max(dt_min, 0.0);
    t_old += dt_min;
    for (std::size_t i = 0; i < n; ++i)
        if (d[i] != 0) xc[i] = std::clamp(x[i] + t_old * d[i], box.lower[i], box.upper[i]);
    for (std::size_t j = 0; j < k; ++j) c[j] += dt_min * p[j];
    return {xc, c};
}
}  // namespace

Flat cauchy_point(const Flat& x, const Flat& g, const Box& box, const std::vector<Flat>& s,
                  const std::vector<Flat>& y) {
    Compact model;
    if (!compact_model(s, y, model)) return {};
    return generalized_cauchy_point(x, g, box, model).xc;
}

Flat lbfgsb_direction(const Flat& x, const Flat& g, const Box& box, const std::vector<Flat>& s,
                      const std::vector<Flat>& y) {
    const std::size_t n = x.size();
    Compact model;
    if (!compact_model(s, y, model)) return {};
    const std::size_t m = model.m, k = model.k;
    const double theta = model.theta;
    const Small& mmat = model.mmat;
    auto w = [&](std::size_t i, std::size_t j) { return model.w(i, j); };
    auto w_row = [&](std::size_t i) { return model.w_row(i); };
    auto [xc, c] = generalized_cauchy_point(x, g, box, model);
    if (xc.empty()) return {};

    // ---- subspace minimisation over the variables free at the Cauchy point ----------------
    std::vector<std::size_t> free;
    for (std::size_t i = 0; i < n; ++i)
        if (xc[i] > box.lower[i] && xc[i] < box.upper[i]) free.push_back(i);
    Flat xbar = xc;
    if (!free.empty()) {
        const Flat mc = mmat.times(c);
        Flat r(free.size());  // Z^T (g + theta (xc - x) - W M c)
        for (std::size_t f = 0; f < free.size(); ++f) {
            const std::size_t i = free[f];
            r[f] = g[i] + theta * (xc[i] - x[i]);
            for (std::size_t j = 0; j < k; ++j) r[f] -= w(i, j) * mc[j];
        }
        Flat du(free.size());
        for (std::size_t f = 0; f < free.size(); ++f) du[f] = -r[f] / theta;
        if (m) {
            // du = -(1/theta) r - (1/theta^2) W_F (I - (1/theta) M W_F^T W_F)^-1 M W_F^T r
            Flat wtr(k, 0.0);
            Small wtw(k);
            for (std::size_t f = 0; f < free.size(); ++f) {
                const Flat wi = w_row(free[f]);
                for (std::size_t a = 0; a < k; ++a) {
                    wtr[a] += wi[a] * r[f];
                    for (std::size_t b = 0; b < k; ++b) wtw(a, b) += wi[a] * wi[b];
                }
            }
            Small nmat(k);
            for (std::size_t a = 0; a < k; ++a)
                for (std::size_t b = 0; b < k; ++b) {
                    double mw = 0;
                    for (std::size_t e = 0; e < k; ++e) mw += mmat(a, e) * wtw(e, b);
                    nmat(a, b) = (a == b ? 1.0 : 0.0) - mw / theta;
                }
            Small ninv(k);
            if (!invert(nmat, ninv)) return {};
            const Flat v = ninv.times(mmat.times(wtr));
            for (std::size_t f = 0; f < free.size(); ++f) {
                const Flat wi = w_row(free[f]);
                du[f] -= dot(wi, v) / (theta * theta);
            }
        }
        // back along du to the box (the paper's choice), at most the full step
        double alpha = 1;
        for (std::size_t f = 0; f < free.size(); ++f) {
            const std::size_t i = free[f];
            if (du[f] > 0 && std::isfinite(box.upper[i])) alpha = std::min(alpha, (box.upper[i] - xc[i]) / du[f]);
            if (du[f] < 0 && std::isfinite(box.lower[i])) alpha = std::min(alpha, (box.lower[i] - xc[i]) / du[f]);
        }
        for (std::size_t f = 0; f < free.size(); ++f)
            xbar[free[f]] = std::clamp(xc[free[f]] + alpha * du[f], box.lower[free[f]], box.upper[free[f]]);
    }
    Flat dir(n);
    for (std::size_t i = 0; i < n; ++i) dir[i] = xbar[i] - x[i];
    if (!(dot(g, dir) < 0)) return {};
    return dir;
}

}  // namespace xtgrad::optim::detail
