// Lanczos with full reorthogonalisation, and Jacobi's method for its tridiagonal matrix.
#include "lanczos.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace xtgrad::optim::detail {

Lanczos lanczos(const std::function<std::vector<double>(const std::vector<double>&)>& apply,
                const std::vector<double>& start, std::size_t steps) {
    const std::size_t p = start.size();
    Lanczos l;
    l.q.push_back(start);
    for (std::size_t j = 0; j < steps; ++j) {
        std::vector<double> w = apply(l.q[j]);
        double a = 0;
        for (std::size_t i = 0; i < p; ++i) a += w[i] * l.q[j][i];
        l.alpha.push_back(a);
        for (int pass = 0; pass < 2; ++pass)  // twice is enough (Kahan)
            for (const auto& qk : l.q) {
                double c = 0;
                for (std::size_t i = 0; i < p; ++i) c += w[i] * qk[i];
                for (std::size_t i = 0; i < p; ++i) w[i] -= c * qk[i];
            }
        double b = 0;
        for (double e : w) b += e * e;
        b = std::sqrt(b);
        if (j + 1 == steps || b <= 1e-12 * std::abs(a)) break;  // done, or an invariant subspace
        l.beta.push_back(b);
        for (auto& e : w) e /= b;
        l.q.push_back(std::move(w));
    }
    l.q.resize(l.alpha.size());
    return l;
}

void symmetric_eigen(std::vector<double> a, std::size_t n, std::vector<double>& values, std::vector<double>& vectors) {
    std::vector<double> v(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) v[i * n + i] = 1;
    double total = 0;
    for (double e : a) total += e * e;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = i + 1; j < n; ++j) off += a[i * n + j] * a[i * n + j];
        if (off <= 1e-32 * total) break;  // off-diagonal mass at rounding level
        for (std::size_t p = 0; p < n; ++p)
            for (std::size_t q = p + 1; q < n; ++q) {
                double apq = a[p * n + q];
                if (std::abs(apq) < 1e-300) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
                double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (std::size_t k = 0; k < n; ++k) {  // A <- J^T A J
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (std::size_t k = 0; k < n; ++k) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (std::size_t k = 0; k < n; ++k) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return a[x * n + x] < a[y * n + y]; });
    values.resize(n);
    vectors.assign(n * n, 0.0);
    for (std::size_t k = 0; k < n; ++k) {
        values[k] = a[order[k] * n + order[k]];
        for (std::size_t i = 0; i < n; ++i) vectors[i * n + k] = v[i * n + order[k]];
    }
}

void ritz(const Lanczos& l, std::vector<double>& values, std::vector<double>& vectors) {
    const std::size_t m = l.alpha.size();
    std::vector<double> tri(m * m, 0.0);
    for (std::size_t k = 0; k < m; ++k) {
        tri[k * m + k] = l.alpha[k];
        if (k + 1 < m) tri[k * m + k + 1] = tri[(k + 1) * m + k] = l.beta[k];
    }
    symmetric_eigen(tri, m, values, vectors);
}

}  // namespace xtgrad::optim::detail
