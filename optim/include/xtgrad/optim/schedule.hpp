// Learning-rate schedules (pure functions of the step number) and gradient clipping.
#pragma once

#include "xtgrad/optim/grouped.hpp"

namespace xtgrad::optim {

/// base_lr * gamma^floor(step / step_size)
double step_decay(double base_lr, std::size_t step, std::size_t step_size, double gamma);
/// base_lr * gamma^step
double exponential_decay(double base_lr, std::size_t step, double gamma);
/// min_lr + (base_lr - min_lr) (1 + cos(pi step / total_steps)) / 2, then min_lr after total_steps
double cosine_annealing(double base_lr, std::size_t step, std::size_t total_steps, double min_lr = 0);
/// lr * (step + 1) / warmup_steps during the first warmup_steps steps, then lr
double linear_warmup(double lr, std::size_t step, std::size_t warmup_steps);

/// Sets the learning rate of every group.
template <class T, class Options>
void set_learning_rate(GroupedOptimizer<T, Options>& optimizer, double lr) {
    if (!(lr >= 0)) throw ValueError("set_learning_rate: the learning rate must be >= 0");
    for (auto& g : optimizer.groups()) g.options.lr = lr;
}

/// Scales all gradients so that their joint 2-norm is at most max_norm; returns the norm
/// before clipping. Parameters without a gradient are skipped. NonFiniteError for NaN/inf.
template <class T>
double clip_grad_norm(const TensorList<T>& params, double max_norm);
/// Clamps every gradient component to [-limit, limit].
template <class T>
void clip_grad_value(const TensorList<T>& params, double limit);

}  // namespace xtgrad::optim
