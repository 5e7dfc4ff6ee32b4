// L-BFGS-B's search direction (Byrd, Lu, Nocedal and Zhu 1995), on flat vectors of doubles:
// the generalised Cauchy point along the projected steepest-descent path of the compact
// limited-memory model B = theta I - W M W^T, then the model's minimiser over the variables
// left free there (the direct primal method of section 5.1), kept inside the box.
#pragma once

#include <vector>

namespace xtgrad::optim::detail {

using Flat = std::vector<double>;

/// The box [lower, upper] of each variable (either end may be infinite).
struct Box {
    Flat lower, upper;
    bool active() const;  ///< some bound is finite
};

/// x projected onto the box, in place.
void project(Flat& x, const Box& box);
/// The largest |P(x - g) - x|_i: the projected gradient's infinity norm, L-BFGS-B's stationarity.
double projected_gradient_norm(const Flat& x, const Flat& g, const Box& box);
/// P(x - g) - x: steepest descent bent at the bounds.
Flat projected_steepest(const Flat& x, const Flat& g, const Box& box);
/// The largest a with x + a d inside the box (infinite when no bound lies ahead).
double max_feasible_step(const Flat& x, const Flat& d, const Box& box);

/// The generalised Cauchy point: the first local minimiser of the model along the projected
/// steepest-descent path P(x - t g). Empty when the projected gradient is zero or the pairs are
/// degenerate. (lbfgsb_direction starts from it; a test checks it against the dense model.)
Flat cauchy_point(const Flat& x, const Flat& g, const Box& box, const std::vector<Flat>& s,
                  const std::vector<Flat>& y);

/// d = xbar - x, xbar the subspace minimiser from the generalised Cauchy point, for the model
/// built from the curvature pairs (s, y), oldest first (theta = y^T y / s^T y of the newest).
/// Empty pairs: B = I. Returns an empty vector when the model gives no descent direction.
Flat lbfgsb_direction(const Flat& x, const Flat& g, const Box& box, const std::vector<Flat>& s,
                      const std::vector<Flat>& y);

}  // namespace xtgrad::optim::detail
