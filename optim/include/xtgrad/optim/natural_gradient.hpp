// The natural-gradient step (Amari 1998), matrix-free: solve (F + lambda I) d = g by linear
// conjugate gradients, where F v is the Fisher information times v, computed exactly as the
// generalised Gauss-Newton product J^T H_L J v plus the penalty's Hessian (curvature.hpp); or,
// as in Hessian-free optimisation (Martens 2010), with the exact Hessian. The damping lambda
// is adapted by the Levenberg-Marquardt rule, the step length found by backtracking, and a
// rejected step leaves the parameters as they were. It stops as the line-search methods do
// (StopCriteria), with a status instead of an exception when the minimum is reached.
#pragma once

#include <memory>

#include "xtgrad/optim/curvature.hpp"
#include "xtgrad/optim/grouped.hpp"
#include "xtgrad/optim/stopping.hpp"

namespace xtgrad::optim {

namespace detail {
template <class T>
class CompiledCurvature;
}

struct NaturalGradientOptions {
    double lr = 1.0;            ///< scale of the step before backtracking
    double damping = 1e-3;      ///< initial lambda
    bool adapt_damping = true;  ///< Levenberg-Marquardt: lambda *= 3/2 when rho < 1/4, *= 2/3 when rho > 3/4
    double min_damping = 1e-10;
    double max_damping = 1e10;
    std::size_t cg_iterations = 20;
    double cg_rtol = 1e-8;
    /// CG starts from this multiple of the previous step's solution instead of zero (Martens
    /// 2010 uses 0.95): successive Gauss-Newton systems are close, and a warm start carries
    /// the progress of earlier iterations along low-curvature directions. In [0, 1].
    double cg_warm_start = 0;
    Curvature curvature = Curvature::fisher;
    std::size_t max_backtracks = 20;  ///< halvings of the step before it is rejected
    /// Record the model, its gradient and the curvature product once and replay them at every
    /// step (autodiff's Recording: fused, no re-recording); each CG iteration then replays
    /// only what depends on its vector. The model's functions are traced once, so they must
    /// read the same data at every step (full-batch training): each step checks its replayed
    /// loss against one eager evaluation and throws TraceError when they differ.
    bool compile = false;
    StopCriteria stop{};
    void validate() const;
};

struct NaturalGradientReport {
    double loss_before = 0, loss_after = 0;
    double predicted_change = 0;  ///< of the quadratic model, for the accepted step
    double rho = 0;               ///< actual / predicted change
    double damping = 0;           ///< lambda used for this step
    double step_scale = 0;        ///< the accepted fraction of the CG solution (0: rejected)
    LinearCGResult cg;
    bool accepted = false;
};

template <class T>
class NaturalGradient : public GroupedOptimizer<T, NaturalGradientOptions>, public StoppingState {
public:
    NaturalGradient(const TensorList<T>& params, CurvatureModel<T> model, const NaturalGradientOptions& options = {});
    NaturalGradient(const nn::NamedTensors<T>& params, CurvatureModel<T> model,
                    const NaturalGradientOptions& options = {});
    /// One natural-gradient (or Newton-CG) step computed from the model (last_report() says
    /// what happened). Once stopped() it does nothing while the parameters stay where it
    /// stopped. Throws for real faults only (a non-finite loss or gradient at the start, a
    /// model that throws), with the parameters as they were.
    void step() override;
    /// The closure is evaluated first (and its loss returned), then step().
    using Optimizer<T>::step;
    /// Steps until a stop criterion holds (StopCriteria's limits bound it).
    OptimizeResult minimize();
    /// Forgets the stop and the counters (the damping stays).
    void restart();
    const NaturalGradientReport& last_report() const { return report_; }
    double damping() const { return damping_; }
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

private:
    CurvatureModel<T> model_;
    std::shared_ptr<detail::CompiledCurvature<T>> compiled_;  // with options.compile, made at the first step
    double damping_;
    NaturalGradientReport report_;
    ParamVector<T> stopped_at_;         // the parameters when it stopped
    ParamVector<T> previous_solution_;  // CG's last solution, for cg_warm_start
};

extern template class NaturalGradient<float>;
extern template class NaturalGradient<double>;

}  // namespace xtgrad::optim
