// Adam, AMSGrad and AdamW.
#include "xtgrad/optim/adam.hpp"

#include <cmath>

#include "optimizer_state.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

void AdamOptions::validate() const {
    if (!(lr >= 0)) throw ValueError(fmt::format("Adam: learning rate must be >= 0, got {}", lr));
    if (!(beta1 >= 0 && beta1 < 1)) throw ValueError(fmt::format("Adam: beta1 must be in [0, 1), got {}", beta1));
    if (!(beta2 >= 0 && beta2 < 1)) throw ValueError(fmt::format("Adam: beta2 must be in [0, 1), got {}", beta2));
    if (!(eps >= 0)) throw ValueError(fmt::format("Adam: eps must be >= 0, got {}", eps));
    if (!(weight_decay >= 0)) throw ValueError(fmt::format("Adam: weight_decay must be >= 0, got {}", weight_decay));
}

template <class T>
void Adam<T>::step() {
    auto params = this->parameters();
    auto grads = detail::grads_of(params);
    detail::check_finite("Adam.step", "gradient", grads, this->parameter_names());
    moments_.resize(params.size());
    std::size_t i = 0;
    for (auto& group : this->groups()) {
        const AdamOptions& o = group.options;
        for (auto& p : group.params) {
            Moments& s = moments_[i];
            Array<T>& g = grads[i];
            Array<T>& value = BasicTensor<T>(p).mutable_value();
            if (s.step == 0) {
                s.exp_avg = xt::zeros<T>(value.shape());
                s.exp_avg_sq = xt::zeros<T>(value.shape());
                if (o.amsgrad) {
                    s.max_exp_avg_sq = xt::zeros<T>(value.shape());
                    s.has_max = true;
                }
            }
            ++s.step;
            if (o.weight_decay != 0) {
                if (o.decoupled_weight_decay)
                    value *= T(1 - o.lr * o.weight_decay);
                else
                    g += T(o.weight_decay) * value;
            }
            s.exp_avg = T(o.beta1) * s.exp_avg + T(1 - o.beta1) * g;
            s.exp_avg_sq = T(o.beta2) * s.exp_avg_sq + T(1 - o.beta2) * g * g;
            double bias1 = 1 - std::pow(o.beta1, double(s.step));
            double bias2 = 1 - std::pow(o.beta2, double(s.step));
            const Array<T>* second = &s.exp_avg_sq;
            if (o.amsgrad) {
                s.max_exp_avg_sq = xt::maximum(s.max_exp_avg_sq, s.exp_avg_sq);
                second = &s.max_exp_avg_sq;
            }
            value -= T(o.lr / bias1) * s.exp_avg / (xt::sqrt(*second / T(bias2)) + T(o.eps));
            ++i;
        }
    }
}

template <class T>
nn::NamedArrays<T> Adam<T>::state() const {
    nn::NamedArrays<T> out;
    auto names = this->parameter_names();
    for (std::size_t i = 0; i < moments_.size(); ++i) {
        const Moments& s = moments_[i];
        if (s.step == 0) continue;
        Array<T> step = Array<T>::from_shape({});
        step() = T(s.step);
        out.emplace_back(names[i] + ".step", step);
        out.emplace_back(names[i] + ".exp_avg", s.exp_avg);
        out.emplace_back(names[i] + ".exp_avg_sq", s.exp_avg_sq);
        if (s.has_max) out.emplace_back(names[i] + ".max_exp_avg_sq", s.max_exp_avg_sq);
    }
    return out;
}

template <class T>
void Adam<T>::load_state(const nn::NamedArrays<T>& state) {
    const char* who = "Adam.load_state";
    auto params = this->parameters();
    auto names = this->parameter_names();
    detail::StateReader<T> reader(who, state);
    std::vector<Moments> loaded(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& shape = params[i].shape();
        std::size_t step = reader.count(names[i] + ".step", 0);
        auto m = reader.array(names[i] + ".exp_avg", shape);
        auto v = reader.array(names[i] + ".exp_avg_sq", shape, true);
        auto v_max = reader.array(names[i] + ".max_exp_avg_sq", shape, true);
        if (step == 0 && !m && !v && !v_max) continue;  // not stepped yet
        if (step == 0 || !m || !v)
            throw ValueError(
                fmt::format("{}: the state of parameter '{}' is incomplete (a step count from 1 and "
                            "exp_avg and exp_avg_sq go together)",
                            who, names[i]));
        loaded[i] = {step, std::move(*m), std::move(*v), v_max ? std::move(*v_max) : Array<T>(), v_max.has_value()};
    }
    reader.finish();
    moments_ = std::move(loaded);
}

template class Adam<float>;
template class Adam<double>;

}  // namespace xtgrad::optim
