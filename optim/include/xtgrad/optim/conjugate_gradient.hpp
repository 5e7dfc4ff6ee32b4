// Nonlinear conjugate gradient for full-batch problems: one iteration per step(closure),
// with Fletcher-Reeves, Polak-Ribiere (PR+), Hestenes-Stiefel or Dai-Yuan directions,
// restarts, and a strong-Wolfe line search that restores the parameters when it fails.
#pragma once

#include "xtgrad/optim/grouped.hpp"
#include "xtgrad/optim/line_search.hpp"

namespace xtgrad::optim {

enum class ConjugateGradientFormula { fletcher_reeves, polak_ribiere_plus, hestenes_stiefel, dai_yuan };

struct ConjugateGradientOptions {
    ConjugateGradientFormula formula = ConjugateGradientFormula::polak_ribiere_plus;
    /// Restart with steepest descent every this many iterations (0: the number of parameters).
    std::size_t restart_every = 0;
    /// No step is taken once the largest gradient component is at most this.
    double tolerance_grad = 1e-12;
    LineSearchOptions line_search{};
    void validate() const;
};

template <class T>
class ConjugateGradient : public GroupedOptimizer<T, ConjugateGradientOptions> {
public:
    using GroupedOptimizer<T, ConjugateGradientOptions>::GroupedOptimizer;
    /// Conjugate gradients need the loss along the line: use step(closure).
    void step() override;
    /// One iteration; returns the loss at its start. Throws LineSearchError (parameters
    /// restored) when even a steepest-descent line search fails.
    double step(const Closure& closure) override;
    bool converged() const { return converged_; }
    std::size_t iterations() const { return iterations_; }
    std::size_t evaluations() const { return evaluations_; }
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

private:
    std::vector<Array<T>> grad_prev_, dir_prev_;
    double value_prev_ = 0;
    std::size_t iterations_ = 0, evaluations_ = 0, since_restart_ = 0;
    bool converged_ = false;
};

/// Limited-memory BFGS (history `history_size`) with the strong-Wolfe line search; one
/// iteration per step(closure).
struct LBFGSOptions {
    std::size_t history_size = 10;
    double tolerance_grad = 1e-12;
    LineSearchOptions line_search{.c1 = 1e-4, .c2 = 0.9, .max_evaluations = 25, .refine = false};
    void validate() const;
};

template <class T>
class LBFGS : public GroupedOptimizer<T, LBFGSOptions> {
public:
    using GroupedOptimizer<T, LBFGSOptions>::GroupedOptimizer;
    void step() override;
    double step(const Closure& closure) override;
    bool converged() const { return converged_; }
    std::size_t iterations() const { return iterations_; }
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

private:
    std::vector<std::vector<Array<T>>> s_, y_;  // history, oldest first
    std::vector<Array<T>> grad_prev_, x_prev_;
    std::size_t iterations_ = 0;
    bool converged_ = false;
};

extern template class ConjugateGradient<float>;
extern template class ConjugateGradient<double>;
extern template class LBFGS<float>;
extern template class LBFGS<double>;

}  // namespace xtgrad::optim
