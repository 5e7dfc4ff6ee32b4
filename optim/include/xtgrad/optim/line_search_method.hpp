// What nonlinear conjugate gradient and L-BFGS share: one iteration per step(closure) made
// of a search direction (the method's own) and a strong-Wolfe line search along it, the
// loss and gradient carried from one iteration to the next (the closure is not called again
// where the line search already evaluated it), and the stop criteria of StopCriteria.
#pragma once

#include <limits>

#include "xtgrad/optim/grouped.hpp"
#include "xtgrad/optim/line_search.hpp"
#include "xtgrad/optim/linear_cg.hpp"
#include "xtgrad/optim/stopping.hpp"

namespace xtgrad::optim {

/// `Options` has `stop` (StopCriteria) and `line_search` (LineSearchOptions) members.
template <class T, class Options>
class LineSearchMethod : public GroupedOptimizer<T, Options>, public StoppingState {
public:
    using GroupedOptimizer<T, Options>::GroupedOptimizer;
    /// Line-search methods need the loss along the line: use step(closure).
    void step() override;
    /// One iteration; returns the loss where it started. Once stopped() it returns that loss
    /// without calling the closure and leaves the parameters as they are. Throws only for
    /// real faults: the closure throws, or the loss or gradient where the step starts is not
    /// finite (NonFiniteError); the parameters are then as before the step.
    double step(const Closure& closure) override;
    /// Iterates until a stop criterion holds (StopCriteria's limits bound it).
    OptimizeResult minimize(const Closure& closure);
    /// Forgets the history, the stop and the carried loss: the next step starts afresh
    /// (after the data behind the closure changed, say).
    void restart();

protected:
    struct Direction {
        ParamVector<T> d;
        double initial = 1;     ///< first trial step of the line search
        bool steepest = false;  ///< d = -g: no other direction to fall back on
        /// The largest step the line search may take (a bound is reached there).
        double max_step = std::numeric_limits<double>::infinity();
    };
    /// The measure of stationarity the gradient test reads: the largest gradient component,
    /// or (with bounds) the largest component of the projected gradient.
    virtual double stationarity(const ParamVector<T>& g) const;
    virtual const char* stationarity_name() const { return "largest gradient component"; }
    /// Puts a point the line search tries back inside the feasible set (rounding of x + a d at
    /// a bound); nothing without bounds.
    virtual void make_feasible(ParamVector<T>&) const {}
    /// The method's search direction at the current point (loss f, gradient g).
    virtual Direction direction(const ParamVector<T>& g, double f) = 0;
    /// Steepest descent, for a start, a restart, or when `direction` failed.
    virtual Direction steepest(const ParamVector<T>& g, double f) = 0;
    /// An iteration went from (x0, f0, g0) along d to (x1, g1); `wolfe` is false when the
    /// line search took the lowest point found without meeting the curvature condition.
    virtual void record(const ParamVector<T>& x0, double f0, const ParamVector<T>& g0, const ParamVector<T>& x1,
                        const ParamVector<T>& g1, const ParamVector<T>& d, bool wolfe) = 0;
    /// Drops the history (directions, curvature pairs).
    virtual void forget() = 0;
    virtual const char* method_name() const = 0;

private:
    ParamVector<T> x_, g_;  // where the last iteration ended, and the gradient there
    double f_ = 0;
    bool have_point_ = false;
};

}  // namespace xtgrad::optim
