// Stochastic gradient descent with momentum, Nesterov momentum, dampening and coupled
// weight decay, with PyTorch's update equations:
//   g <- grad + weight_decay p
//   b <- momentum b + (1 - dampening) g        (b <- g at the first step)
//   g <- g + momentum b  (Nesterov)  or  g <- b
//   p <- p - lr g
#pragma once

#include <optional>

#include "xtgrad/optim/grouped.hpp"

namespace xtgrad::optim {

struct SGDOptions {
    double lr = 0.01;
    double momentum = 0;
    double dampening = 0;
    double weight_decay = 0;
    bool nesterov = false;
    void validate() const;  ///< ValueError for negative values or Nesterov without momentum / with dampening
};

template <class T>
class SGD : public GroupedOptimizer<T, SGDOptions> {
public:
    using GroupedOptimizer<T, SGDOptions>::GroupedOptimizer;
    using Optimizer<T>::step;
    void step() override;
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

private:
    std::vector<std::optional<Array<T>>> momentum_;  // one per parameter, made at its first step
};

extern template class SGD<float>;
extern template class SGD<double>;

}  // namespace xtgrad::optim
