// Adam, AMSGrad and AdamW.
#include "xtgrad/optim/adam.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

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
    moments_.resize(detail::check_gradients_finite("Adam.step", *this));
    std::size_t i = 0;
    for (auto& group : this->groups()) {
        const AdamOptions& o = group.options;
        for (auto& p : group.params) {
            Moments& s = moments_[i++];
            // A parameter without a gradient (none reached it since zero_grad) is left as it is,
            // its moments and step count too, as PyTorch's optimizers skip a grad of None.
            if (!p.has_grad()) continue;
            Array<T>& value = BasicTensor<T>(p).mutable_value();
            if (s.step == 0) {
                s.exp_avg = xt::zeros<T>(value.shape());
                s.exp_avg_sq = xt::zeros<T>(value.shape());
            }
            if (o.amsgrad && !s.has_max) {  // (also when AMSGrad is turned on after some steps)
                s.max_exp_avg_sq = xt::zeros<T>(value.shape());
                s.has_max = true;
            }
            // the loop below trusts these shapes: a parameter reshaped after a step is refused
            if (s.exp_avg.shape() != value.shape() || p.grad().shape() != value.shape())
                throw ShapeError(
                    fmt::format("Adam.step: parameter '{}' has shape {}, its gradient {} and its "
                                "moments {} (its shape changed after a step?)",
                                this->parameter_names()[i - 1], to_string(value.shape()), to_string(p.grad().shape()),
                                to_string(s.exp_avg.shape())));
            ++s.step;
            // One pass over each parameter, its gradient read in place. As xtensor expressions
            // the update took four passes and three temporaries.
            const T* g = p.grad().data();
            T* v = value.data();
            T* m = s.exp_avg.data();
            T* sq = s.exp_avg_sq.data();
            const T b1 = T(o.beta1), c1 = T(1 - o.beta1), b2 = T(o.beta2), c2 = T(1 - o.beta2);
            const T coupled = o.decoupled_weight_decay ? T(0) : T(o.weight_decay);
            const T shrink = o.decoupled_weight_decay ? T(1 - o.lr * o.weight_decay) : T(1);
            const T step_size = T(o.lr / (1 - std::pow(o.beta1, double(s.step))));
            const T bias2 = T(1 - std::pow(o.beta2, double(s.step))), eps = T(o.eps);
            const std::size_t n = value.size();
            // (a branch inside the loop would keep it from being vectorised)
            auto update = [&](auto amsgrad, T* top) {
#pragma omp simd
                for (std::size_t k = 0; k < n; ++k) {
                    const T grad = g[k] + coupled * v[k];
                    m[k] = b1 * m[k] + c1 * grad;
                    sq[k] = b2 * sq[k] + c2 * grad * grad;
                    T second = sq[k];
                    if constexpr (decltype(amsgrad)::value) second = top[k] = std::max(top[k], second);
                    v[k] = shrink * v[k] - step_size * m[k] / (std::sqrt(second / bias2) + eps);
                }
            };
            if (o.amsgrad)
                update(std::true_type{}, s.max_exp_avg_sq.data());
            else
                update(std::false_type{}, nullptr);
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
