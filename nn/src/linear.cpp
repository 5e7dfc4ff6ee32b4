// Linear layers and MLPs.
#include "xtgrad/nn/linear.hpp"

#include "xtgrad/nn/capture.hpp"

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

namespace xtgrad::nn {

template <class T>
template <class Source>
void Linear<T>::initialise(Source& source) {
    const auto& o = options_;
    if (o.in == 0 || o.out == 0)
        throw ValueError(fmt::format("Linear: in ({}) and out ({}) must be positive", o.in, o.out));
    // drawn in [in, out] order and stored transposed: a seeded model starts from the function it
    // started from before the layout became PyTorch's [out, in]
    Array<T> w = initial_values<T>(o.weight_init, {o.in, o.out}, o.in, o.out, source);
    weight_ = this->register_parameter("weight", Array<T>(xt::transpose(w)));
    if (!o.bias) return;
    Array<T> b = Array<T>(xt::zeros<T>({o.out}));
    if (o.weight_init == Init::pytorch_default)  // PyTorch's reset_parameters: U(+-1/sqrt(fan_in))
        b = initial_values<T>(Init::pytorch_default, {o.out}, o.in, 1, source);
    bias_ = this->register_parameter("bias", std::move(b));
}

template <class T>
Linear<T>::Linear(std::size_t in, std::size_t out, bool bias) : Linear(LinearOptions{in, out, bias}) {}

template <class T>
Linear<T>::Linear(const LinearOptions& options) : options_(options) {
    initialise(default_generator());
}

template <class T>
Linear<T>::Linear(const LinearOptions& options, std::mt19937_64& rng) : options_(options) {
    initialise(rng);
}

template <class T>
Linear<T>::Linear(const LinearOptions& options, Generator& gen) : options_(options) {
    initialise(gen);
}

template <class T>
BasicTensor<T> Linear<T>::forward(const BasicTensor<T>& input) {
    if (!input.defined() || input.dim() == 0 || input.shape().back() != options_.in)
        throw ShapeError(fmt::format("Linear({} -> {}): input of shape {} must end in {} features", options_.in,
                                     options_.out, input.defined() ? to_string(input.shape()) : "undefined",
                                     options_.in));
    auto output = functional::linear(input, weight_, bias_);
    if (auto* capture = LayerCapture<T>::active()) {
        const std::size_t rows = input.size() / options_.in;
        Array<T> inputs = input.value();
        inputs.reshape({rows, options_.in});
        capture->record({"Linear", weight_, bias_, std::move(inputs), output, {}, {}});
    }
    return output;
}

template <class T>
MLP<T>::MLP(const std::vector<std::size_t>& widths, Activation activation, std::mt19937_64& rng) {
    build(widths, activation, rng);
}

template <class T>
MLP<T>::MLP(const std::vector<std::size_t>& widths, Activation activation, Generator& gen) {
    build(widths, activation, gen);
}

template <class T>
template <class Source>
void MLP<T>::build(const std::vector<std::size_t>& widths, Activation activation, Source& source) {
    if (widths.size() < 2)
        throw ValueError(fmt::format("MLP: needs at least two widths (input and output), got {}", widths.size()));
    Init init = activation == Activation::relu ? Init::he_uniform : Init::xavier_uniform;
    for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
        this->push_back(std::make_shared<Linear<T>>(LinearOptions{widths[i], widths[i + 1], true, init}, source));
        if (i + 2 < widths.size() && activation != Activation::identity)
            this->push_back(std::make_shared<ActivationLayer<T>>(activation));
    }
}

template class Linear<float>;
template class Linear<double>;
template class MLP<float>;
template class MLP<double>;

}  // namespace xtgrad::nn
