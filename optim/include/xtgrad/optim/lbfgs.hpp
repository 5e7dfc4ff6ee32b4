// Limited-memory BFGS: one iteration per step(closure), the last `history_size` curvature
// pairs, a strong-Wolfe line search, and the stop criteria of StopCriteria.
#pragma once

#include "xtgrad/optim/line_search_method.hpp"

namespace xtgrad::optim {

struct LBFGSOptions {
    std::size_t history_size = 10;
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
    const char* method_name() const override { return "LBFGS"; }

private:
    std::vector<ParamVector<T>> s_, y_;  // curvature pairs, oldest first
};

extern template class LBFGS<float>;
extern template class LBFGS<double>;

}  // namespace xtgrad::optim
