// Adam (Kingma & Ba 2015) with the AMSGrad option (Reddi et al. 2018), and AdamW
// (Loshchilov & Hutter 2019), with PyTorch's update equations. At step t:
//   Adam:  g <- grad + weight_decay p          AdamW: p <- p (1 - lr weight_decay), g <- grad
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,   (AMSGrad: vmax <- max(vmax, v), use vmax)
//   p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once

#include "xtgrad/optim/grouped.hpp"

namespace xtgrad::optim {

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0;
    bool amsgrad = false;
    bool decoupled_weight_decay = false;  ///< true: AdamW
    void validate() const;                ///< ValueError: lr < 0, beta outside [0, 1), eps < 0, weight_decay < 0
};

template <class T>
class Adam : public GroupedOptimizer<T, AdamOptions> {
public:
    using GroupedOptimizer<T, AdamOptions>::GroupedOptimizer;
    using Optimizer<T>::step;
    void step() override;
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

private:
    struct Moments {
        std::size_t step = 0;
        Array<T> exp_avg, exp_avg_sq, max_exp_avg_sq;
        bool has_max = false;  // AMSGrad's running maximum is in use
    };
    std::vector<Moments> moments_;  // one per parameter
};

/// AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch).
template <class T>
class AdamW : public Adam<T> {
public:
    static AdamOptions defaults() {
        AdamOptions o;
        o.weight_decay = 0.01;
        o.decoupled_weight_decay = true;
        return o;
    }
    AdamW(const TensorList<T>& params, AdamOptions options = defaults()) : Adam<T>(params, with_decoupling(options)) {}
    AdamW(const nn::NamedTensors<T>& params, AdamOptions options = defaults())
        : Adam<T>(params, with_decoupling(options)) {}

private:
    static AdamOptions with_decoupling(AdamOptions o) {
        o.decoupled_weight_decay = true;
        return o;
    }
};

extern template class Adam<float>;
extern template class Adam<double>;

}  // namespace xtgrad::optim
