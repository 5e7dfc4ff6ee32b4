// Full-batch methods on data sharded over processes: the loss, the gradient and every
// curvature-vector product are sums over the shards, so nonlinear CG, L-BFGS and the
// natural-gradient / Newton-CG step (Hessian-free optimisation, Martens 2010) take on every
// process the steps one process would take on all the data.
//
//   auto [first, last] = nn::shard_range(rows, world.rank(), world.size());   // this rank's rows
//   optim::CurvatureModel<double> model{.outputs = ..., .loss = ... /* sum over my rows / rows */,
//                                       .penalty = ..., .shards = dist::shard_sum<double>(world)};
//   optim::NaturalGradient<double> ng(params, model);
#pragma once

#include <functional>

#include "xtgrad/dist/communicator.hpp"
#include "xtgrad/optim/curvature.hpp"

namespace xtgrad::dist {

/// The sums over processes that optim::CurvatureModel::shards asks for, as all-reduces.
template <class T>
optim::ShardSum<T> shard_sum(Communicator comm);

/// A closure for the line-search methods (ConjugateGradient, LBFGS) and step(closure):
/// `local` computes this process's share of the data term (zero_grad, record, backward) and
/// returns it; the result sums loss and gradients over the processes, then adds `penalty`
/// (parameter-only terms such as l2_penalty, counted once; empty: none) and its gradient.
/// Every process must call it the same number of times, as the optimizers do.
template <class T>
optim::Closure sharded_closure(Communicator comm, TensorList<T> parameters, optim::Closure local,
                               std::function<BasicTensor<T>()> penalty = {});

}  // namespace xtgrad::dist
