// Nonlinear conjugate gradient for full-batch problems: one iteration per step(closure),
// with Fletcher-Reeves, Polak-Ribiere (PR+), Hestenes-Stiefel or Dai-Yuan directions,
// restarts, a strong-Wolfe line search, and the stop criteria of StopCriteria.
#pragma once

#include <optional>

#include "xtgrad/optim/line_search_method.hpp"

namespace xtgrad::optim {

enum class ConjugateGradientFormula { fletcher_reeves, polak_ribiere_plus, hestenes_stiefel, dai_yuan };

struct ConjugateGradientOptions {
    ConjugateGradientFormula formula = ConjugateGradientFormula::polak_ribiere_plus;
    /// Restart with steepest descent every this many iterations (0: the number of parameters).
    std::size_t restart_every = 0;
    StopCriteria stop{};
    /// scipy's choice for CG (c2 = 0.4). With `refine` and a small c2 the line searches are
    /// exact on a quadratic, where CG then ends in n iterations; that costs about one more
    /// evaluation per iteration elsewhere.
    LineSearchOptions line_search{.c1 = 1e-4, .c2 = 0.4, .max_evaluations = 25, .refine = false};
    void validate() const;
};

template <class T>
class ConjugateGradient : public LineSearchMethod<T, ConjugateGradientOptions> {
public:
    using LineSearchMethod<T, ConjugateGradientOptions>::LineSearchMethod;
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

protected:
    using Direction = typename LineSearchMethod<T, ConjugateGradientOptions>::Direction;
    Direction direction(const ParamVector<T>& g, double f) override;
    Direction steepest(const ParamVector<T>& g, double f) override;
    void record(const ParamVector<T>& x0, double f0, const ParamVector<T>& g0, const ParamVector<T>& x1,
                const ParamVector<T>& g1, const ParamVector<T>& d, bool wolfe) override;
    void forget() override;
    const char* method_name() const override { return "ConjugateGradient"; }

private:
    ParamVector<T> grad_prev_, dir_prev_;
    std::optional<double> value_prev_;  // the loss where the last iteration started
    std::size_t since_restart_ = 0;
    bool restarted_ = true;  // the last direction was steepest descent
};

extern template class ConjugateGradient<float>;
extern template class ConjugateGradient<double>;

}  // namespace xtgrad::optim
