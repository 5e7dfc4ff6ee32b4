// A line search satisfying the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5
// and 3.6, with safeguarded cubic interpolation), shared by nonlinear conjugate gradient
// and L-BFGS.
#pragma once

#include <functional>
#include <limits>
#include <utility>

namespace xtgrad::optim {

struct LineSearchOptions {
    double c1 = 1e-4;  ///< sufficient decrease
    double c2 = 0.1;   ///< curvature: |phi'(a)| <= c2 |phi'(0)|
    std::size_t max_evaluations = 25;
    /// When a step is accepted without interpolation, interpolate once more between the last
    /// two points and take the result if it also satisfies the conditions and is lower. On a
    /// quadratic this finds the exact minimiser along the line, which conjugate gradients need
    /// for their n-step termination.
    bool refine = true;
    /// The largest step tried (a bound of L-BFGS-B reached at it). Where the loss still falls
    /// at this step with a slope too steep for the curvature condition, the step is accepted
    /// there, as Moré and Thuente's search does at its stpmax.
    double max_step = std::numeric_limits<double>::infinity();
};

struct LineSearchResult {
    bool ok = false;
    double alpha = 0;  ///< accepted step
    double value = 0;  ///< phi(alpha)
    double slope = 0;  ///< phi'(alpha)
    std::size_t evaluations = 0;
    /// When no step met both conditions: the lowest point that met the first (sufficient
    /// decrease), if any (alpha 0 when none did). A caller may still take it.
    double best_alpha = 0, best_value = 0, best_slope = 0;
    double initial = 0;  ///< the first trial step
};

/// phi(alpha) returns the objective along the line and its derivative there.
using LineFunction = std::function<std::pair<double, double>(double alpha)>;

/// Searches from alpha = `initial` for a step with
///   phi(a) <= phi(0) + c1 a phi'(0)  and  |phi'(a)| <= c2 |phi'(0)|.
/// Requires phi'(0) < 0. The last call to `phi` is not necessarily at the accepted step.
/// A point whose value ties the lowest so far is accepted when it meets both conditions
/// (on a flat stretch, as at a minimum within rounding, the slope decides).
LineSearchResult strong_wolfe(const LineFunction& phi, double value0, double slope0, double initial,
                              const LineSearchOptions& options = {});

/// The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to [lo, hi]
/// (the midpoint when the cubic has no minimum).
double cubic_minimizer(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi);

}  // namespace xtgrad::optim
