// The optimizer base: parameter groups with their own options, zero_grad, step, step with a
// closure that re-evaluates the loss, per-parameter state that can be saved and restored, and
// detection of non-finite losses and gradients before they reach the weights.
#pragma once

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "xtgrad/nn/checkpoint.hpp"
#include "xtgrad/nn/module.hpp"

namespace xtgrad::optim {

/// A NaN or infinite loss or gradient met during a step; the parameters were not changed.
struct NonFiniteError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Computes the loss at the current parameters, leaves its gradient in each parameter's
/// grad() (zero_grad, record on a tape, backward), and returns the loss.
using Closure = std::function<double()>;

/// Parameters that share options. `names` label them in error messages and saved state.
template <class T, class Options>
struct ParamGroup {
    TensorList<T> params;
    Options options;
    std::vector<std::string> names;
};

/// Common interface of every optimizer over tensors of T.
template <class T>
class Optimizer {
public:
    virtual ~Optimizer() = default;
    /// One update from the gradients already in the parameters' grad().
    virtual void step() = 0;
    /// Evaluates `closure` (as often as the method needs), updates, and returns the loss at
    /// the start of the step. If the closure throws, the parameters are as before the step.
    virtual double step(const Closure& closure);
    /// Forgets every parameter's gradient.
    void zero_grad();
    /// All parameters, in group order.
    virtual TensorList<T> parameters() const = 0;
    /// Per-parameter state (momentum buffers, moments, histories, step counters) as named arrays.
    virtual nn::NamedArrays<T> state() const = 0;
    /// Restores what state() returned; names and shapes must match (else throws, unchanged).
    virtual void load_state(const nn::NamedArrays<T>& state) = 0;
};

/// Saves a module's parameters and an optimizer's state in one .npz archive, atomically
/// ("param/<name>" and "optim/<name>" entries).
template <class T>
void save_checkpoint(const nn::Module<T>& module, const Optimizer<T>& optimizer, const std::string& path);
/// Loads both; on any mismatch nothing is changed.
template <class T>
void load_checkpoint(nn::Module<T>& module, Optimizer<T>& optimizer, const std::string& path);

}  // namespace xtgrad::optim
