// Curvature-vector products of a model's loss, exact and matrix-free: the generalised
// Gauss-Newton product J^T H_L J v (the Fisher information for softmax or sigmoid cross
// entropy and the Gaussian likelihood), and the Hessian-vector product, each with the exact
// curvature of parameter-only terms (weight decay) added.
#pragma once

#include <functional>

#include "xtgrad/optim/linear_cg.hpp"
#include "xtgrad/optim/optimizer.hpp"

namespace xtgrad::optim {

/// Which curvature: the Gauss-Newton matrix (the Fisher information for the usual
/// likelihoods; positive semi-definite) or the exact Hessian (Newton-CG).
enum class Curvature { fisher, hessian };

/// Sums, over the processes that each hold a shard of the data, the data term's share each
/// computed: in place for arrays, returned for a number. Every process must get the same
/// result. dist::shard_sum fills it with MPI all-reduces; optim itself never communicates.
template <class T>
struct ShardSum {
    std::function<void(std::vector<Array<T>>& values)> arrays;
    std::function<double(double value)> scalar;
    /// This process's position among the shards (its rank): what it draws at random (K-FAC's
    /// sampled targets) is drawn from its own stream, not the same stream as every other's.
    std::size_t index = 0;
    /// Whether the data are sharded (both functions set).
    bool active() const { return arrays && scalar; }
};

/// The model as curvature products see it: the loss is loss(outputs()) + penalty().
template <class T>
struct CurvatureModel {
    /// The outputs z(params), recorded on the active tape when called (e.g. the logits).
    std::function<BasicTensor<T>()> outputs;
    /// The loss as a function of the outputs alone, L(z). It may not read the parameters
    /// directly: its curvature in them would be missed, so the step refuses it (ValueError).
    std::function<BasicTensor<T>(const BasicTensor<T>& outputs)> loss;
    /// Terms of the parameters alone, such as l2_penalty (empty: none). Their exact Hessian is
    /// added to the Gauss-Newton product: for lambda/2 |w|^2 that is lambda v.
    std::function<BasicTensor<T>()> penalty;
    /// Data sharded over processes (Hessian-free training as in Martens 2010): loss(outputs())
    /// is then this process's share of the data term, and the loss, the gradient and every
    /// curvature product are its sum over the shards plus the penalty's part, counted once.
    /// Empty: this process holds all the data.
    ShardSum<T> shards;
};

/// J^T H_L J v + H_penalty v, with J = dz/dparams and H_L = d^2 L / dz^2: exact, from
/// reverse sweeps (no finite differences). H_L is applied in closed form when L is softmax
/// cross entropy (diag(p) - p p^T per row), sigmoid cross entropy (p (1 - p)) or squared error
/// (a multiple of I), under any reduction; the closed form is chosen by comparing it with
/// the generic output-space product on a random vector, once per recording, so another loss
/// (class weights, say) falls back to the generic product. A form is accepted when it agrees
/// to a relative tolerance or within the generic product's own rounding (where every row
/// saturates, p one-hot, H_L is that rounding), so the closed form is never further from the
/// generic product than the latter's rounding error.
template <class T>
ParamVector<T> gauss_newton_vector_product(const CurvatureModel<T>& model, const TensorList<T>& params,
                                           const ParamVector<T>& v);

/// H v of the whole loss, loss(outputs()) + penalty().
template <class T>
ParamVector<T> hessian_vector_product(const CurvatureModel<T>& model, const TensorList<T>& params,
                                      const ParamVector<T>& v);

}  // namespace xtgrad::optim
