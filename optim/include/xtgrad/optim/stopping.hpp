// Why an iterative optimizer stopped, as a value (scipy's OptimizeResult.status/message,
// PyTorch's tolerance_grad/tolerance_change): reaching a minimum, or the rounding floor
// around it, ends a run normally; exceptions are kept for real faults (a closure that
// throws, a non-finite loss or gradient where the step starts).
#pragma once

#include <cstddef>
#include <iosfwd>
#include <limits>
#include <string>
#include <string_view>

namespace xtgrad::optim {

enum class StopReason {
    running,             ///< not stopped: the next step() iterates
    gradient_small,      ///< the largest gradient component is at most tolerance_grad
    loss_change_small,   ///< |f_k - f_k+1| <= tolerance_change * max(|f_k|, |f_k+1|, 1)
    rounding_floor,      ///< no decrease is representable: the predicted one is below the loss's rounding
    line_search_failed,  ///< no step found along a descent direction although a decrease was predicted
                         ///< well above rounding: the gradient may not be the loss's (parameters unchanged)
    iteration_limit,     ///< max_iterations iterations done
    evaluation_limit,    ///< max_evaluations loss evaluations done
};

/// gradient_small, loss_change_small and rounding_floor: the run reached a minimum.
bool is_converged(StopReason reason) noexcept;
/// "gradient_small", ... (for logs and tables).
std::string_view stop_reason_name(StopReason reason) noexcept;
std::ostream& operator<<(std::ostream& os, StopReason reason);

/// When an iterative method stops. Tolerances of 0 switch a test off; the limits count from
/// construction (or restart()) and are checked before each iteration, so the last line
/// search may take the evaluation count past max_evaluations.
struct StopCriteria {
    double tolerance_grad = 1e-7;    ///< on the largest |gradient component| (PyTorch's default)
    double tolerance_change = 1e-9;  ///< relative change of the loss over one iteration
    /// Finite by default, so that a method that can make no progress still ends (scipy's
    /// L-BFGS-B stops at 15000): minimize() returns with iteration_limit at the latest.
    std::size_t max_iterations = 10000;
    std::size_t max_evaluations = std::numeric_limits<std::size_t>::max();
    void validate(std::string_view who) const;
};

/// What minimize() returns: scipy's OptimizeResult, less the arrays (they are the parameters).
struct OptimizeResult {
    StopReason status = StopReason::running;
    bool converged = false;
    std::string message;
    double loss = 0;  ///< at the final parameters
    std::size_t iterations = 0, evaluations = 0;
};

/// The stopping state every iterative optimizer shares: why it stopped, in words too, and
/// how much it has done.
class StoppingState {
public:
    StopReason status() const noexcept { return status_; }
    bool stopped() const noexcept { return status_ != StopReason::running; }
    bool converged() const noexcept { return is_converged(status_); }
    /// "converged: largest gradient component 3.1e-08 <= tolerance_grad 1e-07", or "running".
    std::string message() const;
    std::size_t iterations() const noexcept { return iterations_; }
    /// Loss evaluations (closure calls, or forward passes of the model).
    std::size_t evaluations() const noexcept { return evaluations_; }

protected:
    void stop(StopReason reason, std::string detail);
    void resume() noexcept { status_ = StopReason::running; }
    /// Stops with iteration_limit or evaluation_limit when a budget is spent; returns stopped().
    bool budget_spent(const StopCriteria& criteria);
    /// Stops with gradient_small when max_abs_grad <= tolerance_grad; returns stopped(). `what`
    /// names the measure in the message (L-BFGS-B's is the projected gradient).
    bool gradient_small(const StopCriteria& criteria, double max_abs_grad,
                        std::string_view what = "largest gradient component");
    /// Stops with loss_change_small for a small relative change from f_old to f_new.
    bool change_small(const StopCriteria& criteria, double f_old, double f_new);
    OptimizeResult result(double loss) const;

    std::size_t iterations_ = 0, evaluations_ = 0;

private:
    StopReason status_ = StopReason::running;
    std::string detail_;
};

/// True when a predicted decrease of the loss from f0 is too small to show in the precision
/// `epsilon` of the parameters' dtype: at most 1000 epsilon |f0|. A loss that sums n terms
/// carries a rounding error of about sqrt(n) epsilon |f0|, so a decrease below this bound
/// cannot be told from noise.
bool below_rounding(double predicted_decrease, double f0, double epsilon) noexcept;

}  // namespace xtgrad::optim
