// Stop reasons in words, and the tests every iterative optimizer applies.
#include "xtgrad/optim/stopping.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::optim {

bool is_converged(StopReason r) noexcept {
    return r == StopReason::gradient_small || r == StopReason::loss_change_small || r == StopReason::rounding_floor;
}

std::string_view stop_reason_name(StopReason r) noexcept {
    switch (r) {
        case StopReason::running:
            return "running";
        case StopReason::gradient_small:
            return "gradient_small";
        case StopReason::loss_change_small:
            return "loss_change_small";
        case StopReason::rounding_floor:
            return "rounding_floor";
        case StopReason::line_search_failed:
            return "line_search_failed";
        case StopReason::iteration_limit:
            return "iteration_limit";
        case StopReason::evaluation_limit:
            return "evaluation_limit";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& os, StopReason r) {
    return os << stop_reason_name(r);
}

void StopCriteria::validate(std::string_view who) const {
    if (!(tolerance_grad >= 0))
        throw ValueError(fmt::format("{}: tolerance_grad must be >= 0, got {}", who, tolerance_grad));
    if (!(tolerance_change >= 0))
        throw ValueError(fmt::format("{}: tolerance_change must be >= 0, got {}", who, tolerance_change));
}

std::string StoppingState::message() const {
    if (!stopped()) return "running";
    return fmt::format("{}: {}", converged() ? "converged" : "stopped", detail_);
}

void StoppingState::stop(StopReason reason, std::string detail) {
    status_ = reason;
    detail_ = std::move(detail);
}

bool StoppingState::budget_spent(const StopCriteria& c) {
    if (iterations_ >= c.max_iterations)
        stop(StopReason::iteration_limit, fmt::format("{} iterations = max_iterations", iterations_));
    else if (evaluations_ >= c.max_evaluations)
        stop(StopReason::evaluation_limit,
             fmt::format("{} loss evaluations >= max_evaluations {}", evaluations_, c.max_evaluations));
    return stopped();
}

bool StoppingState::gradient_small(const StopCriteria& c, double max_abs_grad, std::string_view what) {
    if (max_abs_grad <= c.tolerance_grad)
        stop(StopReason::gradient_small,
             fmt::format("{} {:.3g} <= tolerance_grad {:.3g}", what, max_abs_grad, c.tolerance_grad));
    return stopped();
}

bool StoppingState::change_small(const StopCriteria& c, double f_old, double f_new) {
    // 0 is off: a step that leaves the loss exactly where it was (the rounding floor's
    // business, or a gradient-norm acceptance near the minimum) must not stop a run whose
    // user asked for the gradient test alone
    double scale = std::max({std::abs(f_old), std::abs(f_new), 1.0});
    if (c.tolerance_change > 0 && std::abs(f_old - f_new) <= c.tolerance_change * scale)
        stop(StopReason::loss_change_small,
             fmt::format("loss changed from {:.17g} to {:.17g}, relative change {:.3g} <= tolerance_change {:.3g}",
                         f_old, f_new, std::abs(f_old - f_new) / scale, c.tolerance_change));
    return stopped();
}

OptimizeResult StoppingState::result(double loss) const {
    return {status_, converged(), message(), loss, iterations_, evaluations_};
}

bool below_rounding(double predicted_decrease, double f0, double epsilon) noexcept {
    return predicted_decrease <= 1000 * epsilon * std::max(std::abs(f0), 1e-300);
}

}  // namespace xtgrad::optim
