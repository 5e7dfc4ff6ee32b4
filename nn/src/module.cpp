// Module bookkeeping, Sequential, activation layers.
#include "xtgrad/nn/module.hpp"

#include "xtgrad/nn/functional.hpp"

#include <cstdlib>
#include <cxxabi.h>
#include <typeinfo>

#include <fmt/format.h>

namespace xtgrad::nn {

template <class T>
NamedTensors<T> Module<T>::named_parameters() const {
    NamedTensors<T> out = params_;
    for (auto& [name, child] : children_)
        for (auto& [sub, p] : child->named_parameters()) out.emplace_back(name + "." + sub, p);
    return out;
}

template <class T>
NamedTensors<T> Module<T>::named_buffers() const {
    NamedTensors<T> out = buffers_;
    for (auto& [name, child] : children_)
        for (auto& [sub, b] : child->named_buffers()) out.emplace_back(name + "." + sub, b);
    return out;
}

template <class T>
TensorList<T> Module<T>::parameters() const {
    TensorList<T> out;
    for (auto& [name, p] : named_parameters()) out.push_back(p);
    return out;
}

template <class T>
void Module<T>::zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
}

template <class T>
void Module<T>::train(bool on) {
    training_ = on;
    for (auto& [name, child] : children_) child->train(on);
}

template <class T>
BasicTensor<T> Module<T>::register_parameter(std::string name, Array<T> value) {
    for (auto& [existing, p] : params_)
        if (existing == name) throw ValueError(fmt::format("register_parameter: '{}' is already registered", name));
    auto p = BasicTensor<T>::parameter(std::move(value));
    params_.emplace_back(std::move(name), p);
    return p;
}

template <class T>
BasicTensor<T> Module<T>::register_buffer(std::string name, Array<T> value) {
    for (auto& [existing, p] : params_)
        if (existing == name) throw ValueError(fmt::format("register_buffer: '{}' is already a parameter", name));
    for (auto& [existing, b] : buffers_)
        if (existing == name) throw ValueError(fmt::format("register_buffer: '{}' is already registered", name));
    auto b = BasicTensor<T>::buffer(std::move(value));  // read at its current value by every replay
    buffers_.emplace_back(std::move(name), b);
    return b;
}

template <class T>
void Module<T>::add_child(std::string name, std::shared_ptr<Module> child) {
    if (!child) throw ValueError(fmt::format("register_module: child '{}' is null", name));
    for (auto& [existing, c] : children_)
        if (existing == name) throw ValueError(fmt::format("register_module: '{}' is already registered", name));
    child->train(training_);
    child->name_ = name;
    children_.emplace_back(std::move(name), std::move(child));
}

template <class T>
std::string Module<T>::type_name() const {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> full(abi::__cxa_demangle(typeid(*this).name(), nullptr, nullptr, &status),
                                                std::free);
    std::string name = status == 0 && full ? full.get() : typeid(*this).name();
    // the dtype goes; a number of spatial axes stays as PyTorch's suffix (Conv<double, 2ul>: Conv2d)
    if (auto angle = name.find('<'); angle != std::string::npos) {
        auto comma = name.find(", ", angle);
        char axes = comma != std::string::npos && comma + 2 < name.size() ? name[comma + 2] : '\0';
        name.resize(angle);
        if (axes >= '1' && axes <= '3') name += std::string(1, axes) + "d";
    }
    if (auto colon = name.rfind("::"); colon != std::string::npos) name = name.substr(colon + 2);
    return name;
}

template <class T>
Sequential<T>::Sequential(std::vector<std::shared_ptr<Layer<T>>> layers) {
    for (auto& layer : layers) push_back(std::move(layer));
}

template <class T>
void Sequential<T>::push_back(std::shared_ptr<Layer<T>> layer) {
    this->register_module(std::to_string(this->children().size()), layer);
    layers_.push_back(std::move(layer));
}

template <class T>
BasicTensor<T> Sequential<T>::forward(const BasicTensor<T>& input) {
    BasicTensor<T> x = input;
    for (auto& layer : layers_) x = (*layer)(x);
    return x;
}

template <class T>
BasicTensor<T> activate(Activation kind, const BasicTensor<T>& x) {
    switch (kind) {
        case Activation::identity:
            return x;
        case Activation::tanh:
            return tanh(x);
        case Activation::sigmoid:
            return sigmoid(x);
        case Activation::relu:
            return relu(x);
        case Activation::softplus:
            return softplus(x);
        case Activation::gelu:
            return functional::gelu(x);
    }
    throw ValueError("activate: unknown activation");
}

template <class T>
BasicTensor<T> ActivationLayer<T>::forward(const BasicTensor<T>& input) {
    return activate(kind_, input);
}

template class Module<float>;
template class Module<double>;
template class Layer<float>;
template class Layer<double>;
template class Sequential<float>;
template class Sequential<double>;
template class ActivationLayer<float>;
template class ActivationLayer<double>;
template BasicTensor<float> activate(Activation, const BasicTensor<float>&);
template BasicTensor<double> activate(Activation, const BasicTensor<double>&);

}  // namespace xtgrad::nn
