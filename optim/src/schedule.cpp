// Learning-rate schedules and gradient clipping.
#include "xtgrad/optim/schedule.hpp"

#include <cmath>
#include <numbers>

#include "vector.hpp"

namespace xtgrad::optim {

double step_decay(double base_lr, std::size_t step, std::size_t step_size, double gamma) {
    if (step_size == 0) throw ValueError("step_decay: step_size must be positive");
    return base_lr * std::pow(gamma, double(step / step_size));
}

double exponential_decay(double base_lr, std::size_t step, double gamma) {
    return base_lr * std::pow(gamma, double(step));
}

double cosine_annealing(double base_lr, std::size_t step, std::size_t total_steps, double min_lr) {
    if (total_steps == 0) throw ValueError("cosine_annealing: total_steps must be positive");
    if (step >= total_steps) return min_lr;
    return min_lr + (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * double(step) / double(total_steps))) / 2;
}

double linear_warmup(double lr, std::size_t step, std::size_t warmup_steps) {
    if (step >= warmup_steps) return lr;
    return lr * double(step + 1) / double(warmup_steps);
}

template <class T>
double clip_grad_norm(const TensorList<T>& params, double max_norm) {
    if (!(max_norm > 0)) throw ValueError(fmt::format("clip_grad_norm: max_norm must be > 0, got {}", max_norm));
    double total = 0;
    for (auto& p : params)
        if (p.has_grad())
            for (auto g : p.grad()) total += double(g) * double(g);
    total = std::sqrt(total);
    if (!std::isfinite(total)) throw NonFiniteError("clip_grad_norm: the gradient norm is not finite");
    if (total > max_norm)
        for (auto p : params)
            if (p.has_grad()) p.mutable_grad() *= static_cast<T>(max_norm / total);
    return total;
}

template <class T>
void clip_grad_value(const TensorList<T>& params, double limit) {
    if (!(limit > 0)) throw ValueError(fmt::format("clip_grad_value: limit must be > 0, got {}", limit));
    for (auto p : params)
        if (p.has_grad()) {
            Array<T>& g = p.mutable_grad();
            g = xt::clip(g, static_cast<T>(-limit), static_cast<T>(limit));
        }
}

template double clip_grad_norm(const TensorList<float>&, double);
template double clip_grad_norm(const TensorList<double>&, double);
template void clip_grad_value(const TensorList<float>&, double);
template void clip_grad_value(const TensorList<double>&, double);

}  // namespace xtgrad::optim
