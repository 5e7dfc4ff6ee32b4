// SGD with momentum, Nesterov, dampening and weight decay.
#include "xtgrad/optim/sgd.hpp"

#include <xtensor/xnoalias.hpp>

#include "optimizer_state.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

void SGDOptions::validate() const {
    if (!(lr >= 0)) throw ValueError(fmt::format("SGD: learning rate must be >= 0, got {}", lr));
    if (!(momentum >= 0)) throw ValueError(fmt::format("SGD: momentum must be >= 0, got {}", momentum));
    if (!(dampening >= 0 && dampening <= 1))
        throw ValueError(fmt::format("SGD: dampening must be in [0, 1], got {}", dampening));
    if (!(weight_decay >= 0)) throw ValueError(fmt::format("SGD: weight_decay must be >= 0, got {}", weight_decay));
    if (nesterov && (momentum <= 0 || dampening != 0))
        throw ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0");
}

template <class T>
void SGD<T>::step() {
    momentum_.resize(detail::check_gradients_finite("SGD.step", *this));
    std::size_t i = 0;
    Array<T> owned;  // the update, where it is not the gradient as backward left it
    for (auto& group : this->groups()) {
        const SGDOptions& o = group.options;
        for (auto& p : group.params) {
            // A parameter without a gradient (none reached it since zero_grad) is left as it is,
            // its momentum too, as PyTorch's optimizers skip a grad of None.
            if (!p.has_grad()) {
                ++i;
                continue;
            }
            Array<T>& value = BasicTensor<T>(p).mutable_value();
            // The gradient is read in place (plain SGD copies nothing)
            const Array<T>* g = &p.grad();
            if (o.weight_decay != 0) {
                xt::noalias(owned) = *g + T(o.weight_decay) * value;
                g = &owned;
            }
            if (o.momentum != 0) {
                if (!momentum_[i])
                    momentum_[i] = *g;
                else
                    xt::noalias(*momentum_[i]) = T(o.momentum) * *momentum_[i] + T(1 - o.dampening) * *g;
                const Array<T>& buf = *momentum_[i];
                if (o.nesterov) {
                    xt::noalias(owned) = *g + T(o.momentum) * buf;
                    g = &owned;
                } else {
                    g = &buf;
                }
            }
            value -= T(o.lr) * *g;
            ++i;
        }
    }
}

template <class T>
nn::NamedArrays<T> SGD<T>::state() const {
    nn::NamedArrays<T> out;
    auto names = this->parameter_names();
    for (std::size_t i = 0; i < momentum_.size(); ++i)
        if (momentum_[i]) out.emplace_back(names[i] + ".momentum_buffer", *momentum_[i]);
    return out;
}

template <class T>
void SGD<T>::load_state(const nn::NamedArrays<T>& state) {
    auto params = this->parameters();
    auto names = this->parameter_names();
    detail::StateReader<T> reader("SGD.load_state", state);
    std::vector<std::optional<Array<T>>> loaded(params.size());
    for (std::size_t i = 0; i < params.size(); ++i)
        loaded[i] = reader.array(names[i] + ".momentum_buffer", params[i].shape());
    reader.finish();
    momentum_ = std::move(loaded);
}

template class SGD<float>;
template class SGD<double>;

}  // namespace xtgrad::optim
