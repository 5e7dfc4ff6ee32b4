// Limited-memory BFGS: one iteration per step(closure), the last `history_size` curvature
// pairs, a strong-Wolfe line search, and the stop criteria of StopCriteria. With bounds on a
// parameter group it is L-BFGS-B (Byrd, Lu, Nocedal and Zhu 1995; scipy's method='L-BFGS-B'):
// the generalised Cauchy point and subspace minimisation keep every iterate in the box, and
// the gradient test reads the projected gradient.
#pragma once

#include <limits>

#include "xtgrad/optim/line_search_method.hpp"

namespace xtgrad::optim {

/// lower <= x <= upper for every element of a group's parameters; either may be infinite.
/// (Parameters with other bounds go in another group, as PyTorch's per-group options.)
struct Bounds {
    double lower = -std::numeric_limits<double>::infinity();
    double upper = std::numeric_limits<double>::infinity();
};

struct LBFGSOptions {
    std::size_t history_size = 10;
    /// Box constraints (L-BFGS-B) on this group's parameters; none by default. A starting
    /// point outside the box is projected into it at the first step (scipy does the same).
    /// tolerance_grad then bounds the largest component of the projected gradient
    /// P(x - g) - x, scipy's pgtol.
    Bounds bounds{};
    StopCriteria stop{};
    LineSearchOptions line_search{.c1 = 1e-4, .c2 = 0.9, .max_evaluations = 25, .refine = false};
    void validate() const;
};

template <class T>
class LBFGS : public LineSearchMethod<T, LBFGSOptions> {
public:
    using LineSearchMethod<T, LBFGSOptions>::LineSearchMethod;
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

protected:
    using Direction = typename LineSearchMethod<T, LBFGSOptions>::Direction;
    Direction direction(const ParamVector<T>& g, double f) override;
    Direction steepest(const ParamVector<T>& g, double f) override;
    void record(const ParamVector<T>& x0, double f0, const ParamVector<T>& g0, const ParamVector<T>& x1,
                const ParamVector<T>& g1, const ParamVector<T>& d, bool wolfe) override;
    void forget() override;
    const char* method_name() const override { return bounded() ? "LBFGS (L-BFGS-B)" : "LBFGS"; }
    double stationarity(const ParamVector<T>& g) const override;
    const char* stationarity_name() const override {
        return bounded() ? "largest projected gradient component" : "largest gradient component";
    }
    void make_feasible(ParamVector<T>& x) const override;

public:
    /// Moves the parameters into their groups' boxes (nearest point); step() does it first.
    void project_parameters();
    using LineSearchMethod<T, LBFGSOptions>::step;
    double step(const Closure& closure) override;

private:
    bool bounded() const;
    std::vector<ParamVector<T>> s_, y_;  // curvature pairs, oldest first
};

extern template class LBFGS<float>;
extern template class LBFGS<double>;

}  // namespace xtgrad::optim
