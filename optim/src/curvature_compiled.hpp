// The curvature products of a natural-gradient or Newton-CG step, compiled: the model, its
// loss, its gradient and the curvature-vector product are recorded once (Recording, from
// autodiff) and replayed at each step's parameters; within a step, each product replays only
// what depends on the vector (the forward pass and the gradient are not recomputed). The
// model's functions are traced once: they must read the parameters and data that stay the
// same from step to step (full-batch training). evaluate() checks that on every step, against
// one eager evaluation of the loss.
#pragma once

#include "vector.hpp"
#include "xtgrad/autodiff/recording.hpp"
#include "xtgrad/optim/curvature.hpp"

namespace xtgrad::optim::detail {

template <class T>
class CompiledCurvature {
public:
    CompiledCurvature(const CurvatureModel<T>& model, const TensorList<T>& params, Curvature kind);
    Curvature kind() const { return kind_; }
    /// Replays the recording at the parameters' current values: loss() and gradient().
    /// TraceError when the replayed loss is not the eagerly evaluated one (the model reads
    /// something that changed since the trace).
    void evaluate();
    double loss() const { return loss_; }
    const Vec<T>& gradient() const { return gradient_; }
    /// The product at the parameters of the last evaluate(), as CurvatureRecording::product.
    Vec<T> product(const Vec<T>& v);
    /// The loss at the parameters' current values (a replay of the loss alone).
    double loss_at();

private:
    CurvatureModel<T> model_;
    TensorList<T> params_;
    Curvature kind_;
    bool has_penalty_ = false;
    // outputs: data loss, penalty, data gradient (per parameter), penalty gradient (per
    // parameter, with a penalty), data product (per parameter), penalty product (likewise)
    Recording<T> products_;
    Recording<T> value_;  // outputs: data loss, penalty
    double loss_ = 0;
    Vec<T> gradient_;
};

extern template class CompiledCurvature<float>;
extern template class CompiledCurvature<double>;

}  // namespace xtgrad::optim::detail
