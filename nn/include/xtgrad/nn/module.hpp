// Modules: objects that own named parameters and child modules and map a tensor to a
// tensor with autodiff ops (so gradients and Hessian-vector products flow through them).
#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xtgrad/autodiff.hpp"

namespace xtgrad::nn {

template <class T>
using NamedTensors = std::vector<std::pair<std::string, BasicTensor<T>>>;

/// Base of every model and layer (PyTorch's nn.Module): named parameters, buffers and child
/// modules, training mode. Its forward is the derived class's own, of any signature (several
/// inputs, masks, index arrays; several outputs). Parameters are named "weight", "bias", ...; a
/// child's parameters appear as "<child name>.<name>" (PyTorch's convention), depth first in
/// registration order. Modules are not copyable: parameters are handles, and a copy would
/// silently share them.
template <class T>
class Module {
public:
    Module() = default;
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    /// f() (a call of this module's forward, whatever its signature) with the module's name on
    /// the ops it records in a compiled function's trace ("features.2 (BatchNorm)", NamedScope),
    /// for the trace's error messages: `auto operator()(const Tensor& x, const Tensor& mask) {
    /// return scoped([&] { return forward(x, mask); }); }`.
    template <class F>
    decltype(auto) scoped(F&& f) {
        if (!compiling()) return std::forward<F>(f)();
        NamedScope scope(name_, type_name());
        return std::forward<F>(f)();
    }
    /// The layer's type without namespace and dtype ("BatchNorm", "Linear").
    std::string type_name() const;

    /// All parameters of this module and its children, with their qualified names.
    NamedTensors<T> named_parameters() const;
    /// State that is not trained but saved with the parameters (BatchNorm's running
    /// statistics): constants, named and qualified like parameters.
    NamedTensors<T> named_buffers() const;
    TensorList<T> parameters() const;
    /// Forgets the accumulated gradient of every parameter.
    void zero_grad();
    /// Training or evaluation mode, for this module and its children.
    void train(bool on = true);
    void eval() { train(false); }
    /// Training mode; in a compiled function's trace, also a guard (trace_guard): a compiled
    /// function traces anew, or picks its other recording, when the mode changed.
    bool is_training() const {
        trace_guard(training_);
        return training_;
    }
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

protected:
    /// Adds a parameter with an initial value; returns its handle.
    BasicTensor<T> register_parameter(std::string name, Array<T> value);
    /// Adds a buffer (a constant leaf whose value the module updates); returns its handle.
    BasicTensor<T> register_buffer(std::string name, Array<T> value);
    /// Adds a child module under `name`; returns it (libtorch's register_module), so that a
    /// member can be made and registered in one line:
    /// `std::shared_ptr<nn::Linear<float>> head = register_module("head", std::make_shared<...>(16, 1));`.
    template <class M>
    std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> child) {
        add_child(std::move(name), child);
        return child;
    }

private:
    void add_child(std::string name, std::shared_ptr<Module> child);
    std::string name_;  // as its parent registered it (empty for the root)
    NamedTensors<T> params_, buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    bool training_ = true;
};

/// A module whose forward maps one tensor to one tensor: every built-in layer, and what
/// Sequential chains. A model of another signature derives from Module directly.
template <class T>
class Layer : public Module<T> {
public:
    virtual BasicTensor<T> forward(const BasicTensor<T>& input) = 0;
    /// forward(input), named after the module in a compiled function's trace (scoped).
    BasicTensor<T> operator()(const BasicTensor<T>& input) {
        return this->scoped([&] { return forward(input); });
    }
};

/// Layers applied in order; they are named "0", "1", ...
template <class T>
class Sequential : public Layer<T> {
public:
    Sequential() = default;
    explicit Sequential(std::vector<std::shared_ptr<Layer<T>>> layers);
    Sequential(std::initializer_list<std::shared_ptr<Layer<T>>> layers)
        : Sequential(std::vector<std::shared_ptr<Layer<T>>>(layers)) {}
    /// Sequential(make_shared<Linear<T>>(4, 8), make_shared<Tanh<T>>(), ...), as torch.nn.Sequential.
    template <class... L>
    requires(sizeof...(L) > 0 && (std::derived_from<L, Layer<T>> && ...)) explicit Sequential(std::shared_ptr<L>... layers)
        : Sequential(std::vector<std::shared_ptr<Layer<T>>>{std::move(layers)...}) {}
    void push_back(std::shared_ptr<Layer<T>> layer);
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    std::size_t size() const { return layers_.size(); }

private:
    std::vector<std::shared_ptr<Layer<T>>> layers_;
};

/// Elementwise activations as modules.
/// gelu is x Phi(x) with Phi the standard normal's distribution function (functional::gelu).
enum class Activation { identity, tanh, sigmoid, relu, softplus, gelu };

template <class T>
class ActivationLayer : public Layer<T> {
public:
    explicit ActivationLayer(Activation kind) : kind_(kind) {}
    BasicTensor<T> forward(const BasicTensor<T>& input) override;
    Activation kind() const { return kind_; }

private:
    Activation kind_;
};

template <class T>
struct Tanh : ActivationLayer<T> {
    Tanh() : ActivationLayer<T>(Activation::tanh) {}
};
template <class T>
struct Sigmoid : ActivationLayer<T> {
    Sigmoid() : ActivationLayer<T>(Activation::sigmoid) {}
};
template <class T>
struct ReLU : ActivationLayer<T> {
    ReLU() : ActivationLayer<T>(Activation::relu) {}
};
template <class T>
struct Softplus : ActivationLayer<T> {
    Softplus() : ActivationLayer<T>(Activation::softplus) {}
};
template <class T>
struct GELU : ActivationLayer<T> {
    GELU() : ActivationLayer<T>(Activation::gelu) {}
};
template <class T>
struct Identity : ActivationLayer<T> {
    Identity() : ActivationLayer<T>(Activation::identity) {}
};

/// Applies an activation to a tensor (what ActivationLayer does).
template <class T>
BasicTensor<T> activate(Activation kind, const BasicTensor<T>& x);

extern template class Module<float>;
extern template class Module<double>;
extern template class Layer<float>;
extern template class Layer<double>;
extern template class Sequential<float>;
extern template class Sequential<double>;
extern template class ActivationLayer<float>;
extern template class ActivationLayer<double>;

}  // namespace xtgrad::nn
