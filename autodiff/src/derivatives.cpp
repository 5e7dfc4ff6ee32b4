// grad, and the functional derivatives built on it.
#include "xtgrad/autodiff/derivatives.hpp"

#include "kernels.hpp"

namespace xtgrad {

using namespace detail;

template <class T>
TensorList<T> grad(const TensorList<T>& outputs, const std::type_identity_t<TensorList<T>>& inputs,
                   const std::type_identity_t<TensorList<T>>& grad_outputs, bool create_graph, bool allow_unused) {
    if (outputs.empty()) throw ValueError("grad: no outputs given");
    if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
        throw ValueError(fmt::format("grad: {} grad_outputs for {} outputs", grad_outputs.size(), outputs.size()));
    TapeState* tape = nullptr;
    TensorList<T> seeds;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const auto& out = outputs[i];
        check_usable("grad", out, i);
        auto& v = Access::var(out);
        if (!v.requires_grad || v.leaf)
            throw GradError(fmt::format("grad: output {} (shape {}) {}", i, to_string(out.shape()),
                                        v.leaf ? "is a leaf, not the result of an op"
                                               : "does not require a gradient (no parameter leads to it, or it "
                                                 "was computed under NoGrad)"));
        if (tape != nullptr && v.tape != tape) throw TapeError("grad: outputs were recorded on different tapes");
        tape = v.tape;
        if (grad_outputs.empty()) {
            if (out.size() != 1)
                throw GradError(fmt::format("grad: output {} has shape {}; non-scalar outputs need grad_outputs", i,
                                            to_string(out.shape())));
            seeds.push_back(BasicTensor<T>::constant(xt::ones<T>(out.shape())));
        } else {
            check_usable("grad (grad_outputs)", grad_outputs[i], i);
            if (grad_outputs[i].shape() != out.shape())
                throw ShapeError(fmt::format("grad: grad_outputs[{}] has shape {} for output of shape {}", i,
                                             to_string(grad_outputs[i].shape()), to_string(out.shape())));
            seeds.push_back(grad_outputs[i]);
        }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        check_usable("grad (inputs)", inputs[i], i);
        if (!inputs[i].requires_grad())
            throw GradError(
                fmt::format("grad: input {} (shape {}) does not require a gradient (make it with "
                            "Tensor::parameter)",
                            i, to_string(inputs[i].shape())));
    }
    sweep<T>(*tape, outputs, seeds, create_graph, &inputs);
    TensorList<T> result;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto* node = node_of(*tape, inputs[i]);
        if (node != nullptr && node->adjoint.defined()) {
            result.push_back(node->adjoint);
        } else if (allow_unused) {
            result.push_back(zeros_like(inputs[i]));
        } else {
            clear_adjoints(*tape);
            throw GradError(
                fmt::format("grad: input {} (shape {}) is not on the path from the outputs "
                            "(pass allow_unused = true to get zeros)",
                            i, to_string(inputs[i].shape())));
        }
    }
    clear_adjoints(*tape);
    return result;
}

namespace detail {

namespace {
template <class T>
BasicTensor<T> call(const Closure<T>& f, const char* who) {
    BasicTensor<T> out = f();
    if (!out.defined()) throw ValueError(fmt::format("{}: the function returned an undefined tensor", who));
    return out;
}

template <class T>
void check_pairs(const char* who, const TensorList<T>& inputs, const TensorList<T>& v) {
    if (v.size() != inputs.size())
        throw ValueError(fmt::format("{}: {} vectors for {} inputs", who, v.size(), inputs.size()));
    for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i].shape() != inputs[i].shape())
            throw ShapeError(fmt::format("{}: vector {} has shape {} for input of shape {}", who, i,
                                         to_string(v[i].shape()), to_string(inputs[i].shape())));
}

template <class T>
TensorList<T> detached(const TensorList<T>& ts) {
    TensorList<T> out;
    for (auto& t : ts) out.push_back(t.detach());
    return out;
}

// <a, b> summed over a list of equally shaped pairs.
template <class T>
BasicTensor<T> inner(const TensorList<T>& a, const TensorList<T>& b) {
    BasicTensor<T> s;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto term = sum(a[i] * b[i]);
        s = s.defined() ? s + term : term;
    }
    return s;
}

// The output does not depend on the inputs at all: every derivative is zero.
template <class T>
bool independent(const BasicTensor<T>& out) {
    return !out.requires_grad();
}
}  // namespace

template <class T>
VjpResult<T> vjp(const Closure<T>& f, const TensorList<T>& inputs, const BasicTensor<T>& v) {
    Tape tape;
    auto out = call(f, "vjp");
    if (v.shape() != out.shape())
        throw ShapeError(
            fmt::format("vjp: v has shape {} for output of shape {}", to_string(v.shape()), to_string(out.shape())));
    TensorList<T> g;
    if (independent(out)) {
        for (auto& in : inputs) g.push_back(zeros_like(in));
    } else {
        g = grad<T>(TensorList<T>{out}, inputs, {v.detach()}, false, true);
    }
    return {out.detach(), detached(g)};
}

template <class T>
JvpResult<T> jvp(const Closure<T>& f, const TensorList<T>& inputs, const TensorList<T>& tangents) {
    check_pairs("jvp", inputs, tangents);
    Tape tape;
    auto out = call(f, "jvp");
    if (independent(out)) return {out.detach(), zeros_like(out)};
    // u -> J^T u is linear in u; its gradient w.r.t. u contracted with the tangents is J t.
    auto u = BasicTensor<T>::parameter(xt::zeros<T>(out.shape()));
    auto jt_u = grad<T>(TensorList<T>{out}, inputs, {u}, true, true);
    auto s = inner(jt_u, tangents);
    if (!s.requires_grad()) return {out.detach(), zeros_like(out)};  // no input is on the path
    auto jv = grad<T>(TensorList<T>{s}, {u}, {}, false, true);
    return {out.detach(), jv[0].detach()};
}

template <class T>
TensorList<T> hvp(const Closure<T>& f, const TensorList<T>& inputs, const TensorList<T>& v) {
    check_pairs("hvp", inputs, v);
    Tape tape;
    auto out = call(f, "hvp");
    if (out.size() != 1)
        throw ShapeError(
            fmt::format("hvp: the function must return a single value, got shape {}", to_string(out.shape())));
    TensorList<T> zeros;
    for (auto& in : inputs) zeros.push_back(zeros_like(in));
    if (independent(out)) return zeros;
    auto g = grad<T>(TensorList<T>{out}, inputs, {}, true, true);
    auto s = inner(g, v);
    if (!s.requires_grad()) return zeros;  // the gradient is constant: f is linear
    return detached(grad<T>(TensorList<T>{s}, inputs, {}, false, true));
}

template <class T>
std::vector<Array<T>> jacobian(const Closure<T>& f, const TensorList<T>& inputs) {
    Tape tape;
    auto out = call(f, "jacobian");
    std::vector<Array<T>> jac;
    for (auto& in : inputs) jac.push_back(xt::zeros<T>({out.size(), in.size()}));
    if (independent(out)) return jac;
    for (std::size_t k = 0; k < out.size(); ++k) {
        Array<T> e = xt::zeros<T>(out.shape());
        e.data()[k] = T(1);
        auto g = grad<T>(TensorList<T>{out}, inputs, {BasicTensor<T>::constant(std::move(e))}, false, true);
        for (std::size_t i = 0; i < inputs.size(); ++i)
            std::copy(g[i].value().begin(), g[i].value().end(), jac[i].data() + k * inputs[i].size());
    }
    return jac;
}

// One recording of f and of its gradient (with its graph); then row k of H is one reverse sweep
// of the gradient's k-th element, seeded with a unit vector: nothing is recorded per row (before,
// each row called hvp, which recorded f and its gradient again).
template <class T>
Array<T> hessian(const Closure<T>& f, const TensorList<T>& inputs) {
    std::size_t n = 0;
    for (auto& in : inputs) n += in.size();
    Array<T> h = xt::zeros<T>({n, n});
    Tape tape;
    auto out = call(f, "hessian");
    if (out.size() != 1)
        throw ShapeError(
            fmt::format("hessian: the function must return a single value, got shape {}", to_string(out.shape())));
    if (independent(out)) return h;
    auto g = grad<T>(TensorList<T>{out}, inputs, {}, true, true);
    std::size_t row = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        // a gradient that needs none is constant in the inputs: its rows of H are zero; a leaf
        // cannot seed a sweep (grad refuses it), so it is differentiated through an op
        const bool constant = !g[i].requires_grad();
        const BasicTensor<T> gi = constant || !g[i].is_leaf() ? g[i] : g[i] * T(1);
        for (std::size_t e = 0; e < inputs[i].size(); ++e, ++row) {
            if (constant) continue;
            Array<T> unit = xt::zeros<T>(gi.shape());
            unit.data()[e] = T(1);
            auto hv = grad<T>(TensorList<T>{gi}, inputs, {BasicTensor<T>::constant(std::move(unit))}, false, true);
            std::size_t col = 0;
            for (auto& part : hv)
                for (T x : part.value()) h(row, col++) = x;
        }
    }
    return h;
}

}  // namespace detail

#define XTGRAD_INSTANTIATE(T)                                                                          \
    template TensorList<T> grad(const TensorList<T>&, const std::type_identity_t<TensorList<T>>&,      \
                                const std::type_identity_t<TensorList<T>>&, bool, bool);               \
    template VjpResult<T> detail::vjp(const Closure<T>&, const TensorList<T>&, const BasicTensor<T>&); \
    template JvpResult<T> detail::jvp(const Closure<T>&, const TensorList<T>&, const TensorList<T>&);  \
    template TensorList<T> detail::hvp(const Closure<T>&, const TensorList<T>&, const TensorList<T>&); \
    template std::vector<Array<T>> detail::jacobian(const Closure<T>&, const TensorList<T>&);          \
    template Array<T> detail::hessian(const Closure<T>&, const TensorList<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
