// Strong Wolfe line search with safeguarded cubic interpolation.
#include "xtgrad/optim/line_search.hpp"

#include <algorithm>
#include <cmath>

namespace xtgrad::optim {

double cubic_minimizer(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi) {
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    double d2_square = d1 * d1 - g1 * g2;
    if (d2_square >= 0 && std::isfinite(d2_square)) {
        double d2 = std::sqrt(d2_square);
        double x = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                            : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        if (std::isfinite(x)) return std::clamp(x, lo, hi);
    }
    return (lo + hi) / 2;
}

namespace {
struct Point {
    double a, f, g;
};
}  // namespace

LineSearchResult strong_wolfe(const LineFunction& phi, double f0, double g0, double initial,
                              const LineSearchOptions& o) {
    LineSearchResult r;
    r.initial = initial;
    r.best_value = f0;
    auto armijo = [&](const Point& p) { return p.f <= f0 + o.c1 * p.a * g0; };
    auto eval = [&](double a) {
        auto [f, g] = phi(a);
        ++r.evaluations;
        Point p{a, f, g};
        if (std::isfinite(f) && armijo(p) && f < r.best_value) {
            r.best_alpha = a;
            r.best_value = f;
            r.best_slope = g;
        }
        return p;
    };
    auto curvature = [&](const Point& p) { return std::abs(p.g) <= -o.c2 * g0; };
    auto accept = [&](const Point& p) {
        r.ok = true;
        r.alpha = p.a;
        r.value = p.f;
        r.slope = p.g;
        return r;
    };
    // Algorithm 3.6: shrink [lo, hi] (lo satisfies Armijo, lowest so far) by interpolation.
    auto zoom = [&](Point lo, Point hi) {
        while (r.evaluations < o.max_evaluations) {
            double left = std::min(lo.a, hi.a), right = std::max(lo.a, hi.a), width = right - left;
            if (width <= 1e-14 * std::max(1.0, right)) break;
            double a = cubic_minimizer(lo.a, lo.f, lo.g, hi.a, hi.f, hi.g, left + 0.1 * width, right - 0.1 * width);
            Point p = eval(a);
            // A tie with lo is not worse: with a slope small enough it is the line minimum.
            bool tie_accepted = p.f == lo.f && armijo(p) && curvature(p);
            if (!armijo(p) || (p.f >= lo.f && !tie_accepted)) {
                hi = p;
            } else {
                if (curvature(p)) return accept(p);
                if (p.g * (hi.a - lo.a) >= 0) hi = lo;
                lo = p;
            }
        }
        return r;
    };
    Point prev{0, f0, g0};
    double a = std::min(initial, o.max_step);
    for (std::size_t i = 0; r.evaluations < o.max_evaluations; ++i) {
        Point p = eval(a);
        bool not_lower = i > 0 && (p.f > prev.f || (p.f == prev.f && !curvature(p)));
        if (!std::isfinite(p.f) || !armijo(p) || not_lower) return zoom(prev, p);
        if (curvature(p)) {
            if (o.refine && r.evaluations < o.max_evaluations) {
                double lo = std::min(prev.a, p.a), hi = std::min(std::max(prev.a, p.a) * 2, o.max_step);
                double ac = cubic_minimizer(prev.a, prev.f, prev.g, p.a, p.f, p.g, lo, hi);
                if (std::abs(ac - p.a) > 1e-9 * p.a) {
                    Point q = eval(ac);
                    if (armijo(q) && curvature(q) && q.f <= p.f) return accept(q);
                }
            }
            return accept(p);
        }
        if (p.g >= 0) return zoom(p, prev);
        if (p.a >= o.max_step) return accept(p);  // still falling at the largest step allowed
        // extrapolate: the cubic's minimiser, at least doubling and at most ten times the step
        double next = std::min(cubic_minimizer(prev.a, prev.f, prev.g, p.a, p.f, p.g, 2 * p.a, 10 * p.a), o.max_step);
        prev = p;
        a = next;
    }
    return r;
}

}  // namespace xtgrad::optim
