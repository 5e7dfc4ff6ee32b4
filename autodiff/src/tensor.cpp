// Tensor handles: leaves, value access, backward() into leaf gradients.
#include <limits>

#include <fmt/format.h>

#include "tape.hpp"
#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad {

using detail::Access;
using detail::Var;

namespace {
template <class T>
const Var<T>& checked(const char* what, const BasicTensor<T>& t) {
    if (!t.defined()) throw ValueError(fmt::format("{}: the tensor is undefined", what));
    return Access::var(t);
}

template <class T>
BasicTensor<T> make_leaf(Array<T>&& value, bool requires_grad) {
    detail::check_not_empty(requires_grad ? "parameter" : "constant", value.shape());
    auto var = detail::new_var<T>(std::move(value));
    var->requires_grad = requires_grad;
    var->leaf = true;
    return Access::make(std::move(var));
}
}  // namespace

template <class T>
BasicTensor<T> BasicTensor<T>::parameter(Array<T> value) {
    return make_leaf(std::move(value), true);
}

template <class T>
BasicTensor<T> BasicTensor<T>::constant(Array<T> value) {
    return make_leaf(std::move(value), false);
}

template <class T>
BasicTensor<T> BasicTensor<T>::buffer(Array<T> value) {
    auto t = make_leaf(std::move(value), false);
    Access::var(t).buffer = true;
    return t;
}

namespace {
template <class T>
Array<T> from_values(const char* what, std::span<const T> values, const Shape& shape) {
    std::size_t n = 1;
    for (auto e : shape) {
        if (e != 0 && n > std::numeric_limits<std::size_t>::max() / e)
            throw ShapeError(
                fmt::format("{}: shape {} has more elements than memory can hold", what, to_string(shape)));
        n *= e;
    }
    if (values.size() != n)
        throw ShapeError(
            fmt::format("{}: {} values given for shape {} ({} elements)", what, values.size(), to_string(shape), n));
    detail::check_not_empty(what, shape);
    Array<T> a = Array<T>::from_shape(shape);
    std::copy(values.begin(), values.end(), a.data());
    return a;
}
}  // namespace

template <class T>
BasicTensor<T> BasicTensor<T>::parameter(std::span<const T> values, const Shape& shape) {
    return make_leaf(from_values("parameter", values, shape), true);
}

template <class T>
BasicTensor<T> BasicTensor<T>::parameter(std::initializer_list<T> values, const Shape& shape) {
    return parameter(std::span<const T>(values.begin(), values.size()), shape);
}

template <class T>
BasicTensor<T> BasicTensor<T>::constant(std::span<const T> values, const Shape& shape) {
    return make_leaf(from_values("constant", values, shape), false);
}

template <class T>
BasicTensor<T> BasicTensor<T>::constant(std::initializer_list<T> values, const Shape& shape) {
    return constant(std::span<const T>(values.begin(), values.size()), shape);
}

template <class T>
BasicTensor<T> BasicTensor<T>::scalar(T value) {
    Array<T> a = Array<T>::from_shape({});
    a() = value;
    return make_leaf(std::move(a), false);
}

template <class T>
bool BasicTensor<T>::requires_grad() const {
    return checked("requires_grad", *this).requires_grad;
}
template <class T>
bool BasicTensor<T>::is_leaf() const {
    return checked("is_leaf", *this).leaf;
}
template <class T>
const Array<T>& BasicTensor<T>::value() const {
    const auto& v = checked("value", *this);
    detail::check_read("value", v);
    return v.value;
}

template <class T>
const Array<T>& detail::unchecked_value(const BasicTensor<T>& t) {
    return checked("value", t).value;
}
template <class T>
const Shape& BasicTensor<T>::shape() const {
    return checked("shape", *this).value.shape();
}
template <class T>
std::size_t BasicTensor<T>::size() const {
    return checked("size", *this).value.size();
}
template <class T>
std::size_t BasicTensor<T>::dim() const {
    return checked("dim", *this).value.dimension();
}
template <class T>
T BasicTensor<T>::item() const {
    const auto& var = checked("item", *this);
    detail::check_read("item", var);
    auto& v = var.value;
    if (v.size() != 1)
        throw ValueError(
            fmt::format("item: tensor of shape {} has {} elements, not 1", to_string(v.shape()), v.size()));
    return *v.data();
}

template <class T>
bool BasicTensor<T>::has_grad() const {
    return checked("has_grad", *this).grad.has_value();
}
template <class T>
const Array<T>& BasicTensor<T>::grad() const {
    auto& v = checked("grad", *this);
    if (!v.grad) {
        if (!v.leaf)
            throw GradError(
                fmt::format("grad: tensor of shape {} is an op result; gradients are accumulated only "
                            "into leaves (use xtgrad::grad() for intermediate tensors)",
                            to_string(v.value.shape())));
        throw GradError(fmt::format("grad: leaf of shape {} has no gradient yet ({})", to_string(v.value.shape()),
                                    v.requires_grad ? "call backward() first, or it was not on the path"
                                                    : "it is a constant; make it with parameter()"));
    }
    return *v.grad;
}
template <class T>
Array<T>& BasicTensor<T>::mutable_grad() {
    grad();  // throws with the reason when there is no gradient
    return *Access::var(*this).grad;
}

template <class T>
void BasicTensor<T>::set_grad(Array<T> gradient) {
    checked("set_grad", *this);
    auto& v = Access::var(*this);
    if (!v.leaf || !v.requires_grad)
        throw GradError(fmt::format("set_grad: tensor of shape {} is {}; only parameters have gradients",
                                    to_string(v.value.shape()), v.leaf ? "a constant" : "an op result"));
    if (gradient.shape() != v.value.shape())
        throw ShapeError(fmt::format("set_grad: gradient of shape {} for a parameter of shape {}",
                                     to_string(gradient.shape()), to_string(v.value.shape())));
    v.grad = std::move(gradient);
}

template <class T>
void BasicTensor<T>::zero_grad() {
    checked("zero_grad", *this);
    auto& v = Access::var(*this);
    v.grad.reset();
}

template <class T>
void BasicTensor<T>::backward(bool retain_graph) const {
    auto& v = checked("backward", *this);
    if (v.value.size() != 1)
        throw GradError(
            fmt::format("backward: output has shape {}; only a tensor with one element can be its own "
                        "seed, pass a seed of shape {}",
                        to_string(v.value.shape()), to_string(v.value.shape())));
    Array<T> one = Array<T>::from_shape(v.value.shape());
    one.fill(T(1));
    backward(constant(std::move(one)), retain_graph);
}

template <class T>
void BasicTensor<T>::backward(const BasicTensor& seed, bool retain_graph) const {
    auto& v = checked("backward", *this);
    auto& s = checked("backward (seed)", seed);
    if (s.value.shape() != v.value.shape())
        throw ShapeError(fmt::format("backward: seed of shape {} for output of shape {}", to_string(s.value.shape()),
                                     to_string(v.value.shape())));
    if (!v.requires_grad)
        throw GradError(
            fmt::format("backward: output of shape {} does not require a gradient "
                        "(no parameter() leads to it, or it was computed under NoGrad)",
                        to_string(v.value.shape())));
    auto& mv = Access::var(*this);
    if (mv.leaf) {  // d(self)/d(self) = seed; nothing to sweep
        if (mv.grad)
            *mv.grad += s.value;
        else
            mv.grad = s.value;
        return;
    }
    detail::check_usable("backward", *this, 0);
    detail::TapeState& tape = *v.tape;
    detail::sweep<T>(tape, {*this}, {seed.detach()}, false);
    for (auto* n : tape.nodes) n->deposit_leaf_grad();
    if (!retain_graph) {  // as PyTorch: the swept graph is freed, a second sweep is an error
        for (auto* n : tape.nodes)
            if (!n->leaf && !n->freed && n->reached()) {
                n->free_graph();
                --tape.live_ops;
            }
    }
    detail::clear_adjoints(tape);
    // a loop that records, sweeps and never releases (one Tape outside the loop, as PyTorch
    // code is written) stays in flat memory: once every graph is freed the tape is empty
    if (!retain_graph && tape.live_ops == 0) tape.release();
}

template <class T>
BasicTensor<T> BasicTensor<T>::detach() const {
    // In a trace, a copy would freeze the value: the recording keeps the op instead, cut from
    // the gradient as a copy would be.
    if (detail::tracing_active() && checked("detach", *this).requires_grad) return stop_gradient(*this);
    return make_leaf(Array<T>(checked("detach", *this).value), false);
}

template <class T>
void BasicTensor<T>::set_value(Array<T> value) {
    Array<T>& current = mutable_value();
    if (value.shape() != current.shape())
        throw ShapeError(fmt::format("set_value: new value of shape {} for a parameter of shape {}",
                                     to_string(value.shape()), to_string(current.shape())));
    current = std::move(value);
}

template <class T>
Array<T>& BasicTensor<T>::mutable_value() {
    checked("set_value", *this);
    auto& v = Access::var(*this);
    if (!v.leaf)
        throw ValueError(fmt::format("set_value: tensor of shape {} is an op result; only leaves can be changed",
                                     to_string(v.value.shape())));
    return v.value;
}

template <class T>
void BasicTensor<T>::assign(const BasicTensor& value) {
    auto& target = Access::var(*this);
    checked("assign", *this);
    checked("assign", value);
    if (!target.leaf)
        throw ValueError(fmt::format("assign: the target of shape {} is an op result; only leaves can be changed",
                                     to_string(target.value.shape())));
    if (value.shape() != target.value.shape())
        throw ShapeError(fmt::format("assign: a value of shape {} for a tensor of shape {}", to_string(value.shape()),
                                     to_string(target.value.shape())));
    const auto& source = Access::var(value);
    if (detail::tracing_active() && (source.requires_grad || source.buffer)) {
        std::shared_ptr<Var<T>> written = var_;  // kept alive by the recording
        auto out = detail::make_op<T>(
            "assign", {value},
            [written](const TensorList<T>& in) {
                const Array<T>& v = in[0].value();
                std::copy(v.data(), v.data() + v.size(), written->value.data());
                return Array<T>(v);
            },
            [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(1); });
        detail::node_of(*detail::active_tape(), out)->effect = true;  // replayed though nothing reads it
        return;
    }
    std::copy(source.value.data(), source.value.data() + source.value.size(), target.value.data());
}

template class BasicTensor<float>;
template class BasicTensor<double>;
template const Array<float>& detail::unchecked_value(const BasicTensor<float>&);
template const Array<double>& detail::unchecked_value(const BasicTensor<double>&);

}  // namespace xtgrad
