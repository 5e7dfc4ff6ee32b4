// A recording is a diagnostic tape (every node keeps its forward function and, for
// elementwise ops, its block form) plus the plan its replays follow (replay_plan.hpp).
#include "xtgrad/autodiff/recording.hpp"

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>

#include "generator.hpp"
#include "kernels.hpp"  // index_string
#include "replay_plan.hpp"
#include "xtgrad/autodiff/derivatives.hpp"
#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad {

using detail::Access;

template <class T>
struct Recording<T>::Impl {
    std::unique_ptr<detail::TapeState> tape;  // first: alive for every tensor below
    TensorList<T> inputs, vectors, outputs;
    std::unique_ptr<detail::ReplayPlan<T>> plan;
    std::vector<char> swappable;  // per output: recomputed by every replay, and listed once
    std::vector<std::pair<BasicTensor<T>, Shape>> captured;  // leaves other than inputs and vectors
    std::vector<std::pair<std::shared_ptr<detail::GeneratorState>, std::uint64_t>> draws;  // words per evaluation

    void check_captured() const {
        for (auto& [t, shape] : captured)
            if (Access::var(t).value.shape() != shape)
                throw TraceError(fmt::format(
                    "Recording: a parameter the function captures has shape {} now, {} when it was traced; "
                    "the recording was planned for the old shape (compile traces again)",
                    to_string(Access::var(t).value.shape()), to_string(shape)));
    }

    static void set(const char* what, TensorList<T>& leaves, std::size_t i, const Array<T>& value) {
        if (i >= leaves.size())
            throw ValueError(fmt::format("Recording: {} {} of {}", what, i, leaves.size()));
        Array<T>& leaf = Access::var(leaves[i]).value;
        if (value.shape() != leaf.shape())
            throw ShapeError(fmt::format("Recording: {} {} has shape {}, traced at {}", what, i,
                                         to_string(value.shape()), to_string(leaf.shape())));
        std::copy(value.data(), value.data() + value.size(), leaf.data());  // in place: no allocation
    }
};

template <class T>
Recording<T>::Recording(Body body, const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& vectors)
    : impl_(std::make_unique<Impl>()) {
    if (!body) throw ValueError("Recording: the function is empty");
    auto& p = *impl_;
    p.tape = std::make_unique<detail::TapeState>();
    p.tape->diagnostic = true;
    {
        detail::ActivateTape active(p.tape.get());
        detail::GradMode on(true);
        struct Tracing {  // host reads of traced values are refused while the body runs
            detail::TapeState& tape;
            explicit Tracing(detail::TapeState& t) : tape(t) { tape.tracing = true; }
            ~Tracing() { tape.tracing = false; }
        } tracing(*p.tape);
        // parameters, not constants: an op on constants alone is not recorded (its result is a
        // constant), so what is computed from an input would be frozen at the trace
        for (auto& x : inputs) p.inputs.push_back(BasicTensor<T>::parameter(x));
        for (auto& x : vectors) p.vectors.push_back(BasicTensor<T>::parameter(x));
        for (auto& x : p.inputs) detail::register_leaf(*p.tape, x);
        for (auto& x : p.vectors) detail::register_leaf(*p.tape, x);
        p.outputs = body(p.inputs, p.vectors);
    }
    for (std::size_t i = 0; i < p.outputs.size(); ++i) {
        const auto& out = p.outputs[i];
        if (!out.defined()) throw ValueError(fmt::format("Recording: output {} is an undefined tensor", i));
        if (out.requires_grad() && !out.is_leaf() && Access::var(out).tape != p.tape.get())
            throw TapeError("compile: the function recorded its ops on a Tape of its own; a compiled function "
                            "must record on the tape compile provides (do not create a Tape inside it)");
    }
    for (auto* node : p.tape->nodes) {
        if (node->generator) {
            auto it = std::find_if(p.draws.begin(), p.draws.end(), [&](auto& d) { return d.first == node->generator; });
            if (it == p.draws.end()) p.draws.emplace_back(node->generator, node->draw_words);
            else it->second += node->draw_words;
        }
        if (!node->leaf) continue;
        const auto& leaf = static_cast<detail::Node<T>*>(node)->output;
        bool mine = false;
        for (auto* list : {&p.inputs, &p.vectors})
            for (auto& x : *list) mine = mine || Access::id(x) == Access::id(leaf);
        if (!mine) p.captured.emplace_back(leaf, leaf.shape());
    }
    p.plan = std::make_unique<detail::ReplayPlan<T>>(*p.tape, p.outputs, p.vectors);
    for (std::size_t i = 0; i < p.outputs.size(); ++i) {
        const auto& out = p.outputs[i];
        bool once = true;
        for (std::size_t j = 0; j < p.outputs.size(); ++j)
            once = once && (j == i || Access::id(p.outputs[j]) != Access::id(out));
        p.swappable.push_back(out.requires_grad() && !out.is_leaf() && once);
    }
}

template <class T>
Recording<T>::~Recording() = default;
template <class T>
Recording<T>::Recording(Recording&&) noexcept = default;
template <class T>
Recording<T>& Recording<T>::operator=(Recording&&) noexcept = default;

template <class T>
void Recording<T>::set_input(std::size_t i, const Array<T>& value) {
    Impl::set("input", impl_->inputs, i, value);
}

template <class T>
void Recording<T>::set_vector(std::size_t i, const Array<T>& value) {
    Impl::set("vector", impl_->vectors, i, value);
}

template <class T>
void Recording<T>::replay() {
    impl_->check_captured();
    detail::ActivateTape active(impl_->tape.get());
    impl_->plan->run(detail::ReplayPlan<T>::Part::all);
}

template <class T>
void Recording<T>::replay(const std::vector<Array<T>>& inputs) {
    auto& p = *impl_;
    if (inputs.size() != p.inputs.size())
        throw ValueError(fmt::format("Recording: {} inputs for {} traced", inputs.size(), p.inputs.size()));
    struct Unbind {
        detail::ReplayPlan<T>& plan;
        ~Unbind() { plan.unbind(); }
    } unbind{*p.plan};
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const Array<T>* leaf = &Access::var(p.inputs[i]).value;
        if (inputs[i].shape() == leaf->shape() && p.plan->bindable(leaf))
            p.plan->bind(leaf, &inputs[i]);
        else
            set_input(i, inputs[i]);
    }
    replay();
}

template <class T>
void Recording<T>::take_output(std::size_t i, Array<T>& into) {
    const Array<T>& out = output(i);  // (checks i)
    if (impl_->swappable[i])
        std::swap(Access::var(impl_->outputs[i]).value, into);
    else if (into.shape() == out.shape())
        std::copy(out.data(), out.data() + out.size(), into.data());
    else
        into = out;
}

template <class T>
void Recording<T>::replay_vectors() {
    impl_->check_captured();
    detail::ActivateTape active(impl_->tape.get());
    impl_->plan->run(detail::ReplayPlan<T>::Part::vectors);
}

template <class T>
void Recording<T>::replay_except_vectors() {
    impl_->check_captured();
    detail::ActivateTape active(impl_->tape.get());
    impl_->plan->run(detail::ReplayPlan<T>::Part::rest);
}

template <class T>
std::size_t Recording<T>::outputs() const {
    return impl_->outputs.size();
}

template <class T>
const Array<T>& Recording<T>::output(std::size_t i) const {
    if (i >= impl_->outputs.size())
        throw ValueError(fmt::format("Recording: output {} of {}", i, impl_->outputs.size()));
    return Access::var(impl_->outputs[i]).value;
}

template <class T>
bool Recording<T>::produced_nan() const {
    return impl_->plan->produced_nan();
}

template <class T>
void Recording<T>::rewind_generators() {
    for (auto& [state, words] : impl_->draws) {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->offset -= words;
    }
}

template <class T>
bool Recording<T>::guards_hold() const {
    for (auto& [flag, value] : impl_->tape->guards)
        if (*flag != value) return false;
    return true;
}

template <class T>
bool Recording<T>::captured_unchanged() const {
    for (auto& [t, shape] : impl_->captured)
        if (Access::var(t).value.shape() != shape) return false;
    return true;
}

template <class T>
std::string Recording<T>::first_difference(Recording& fresh) {
    auto& a = *impl_->tape;
    auto& b = *fresh.impl_->tape;
    for (auto* r : {this, &fresh}) {  // each from the same position of its generators
        r->rewind_generators();
        detail::ActivateTape active(r->impl_->tape.get());
        for (auto* node : r->impl_->tape->nodes) node->replay();
    }
    auto where = [](const detail::Node<T>* n) {
        return n->scope.empty() ? std::string() : fmt::format(" in {}", n->scope);
    };
    const std::size_t count = std::min(a.nodes.size(), b.nodes.size());
    for (std::size_t i = 0; i < count; ++i) {
        const auto* x = static_cast<const detail::Node<T>*>(a.nodes[i]);
        const auto* y = static_cast<const detail::Node<T>*>(b.nodes[i]);
        if (x->leaf != y->leaf || x->name != y->name)
            return fmt::format("the function took another path: node {} is '{}'{} in the recording, '{}'{} in a "
                               "fresh trace",
                               i, x->name, where(x), y->name, where(y));
        const Array<T>& u = Access::var(x->output).value;
        const Array<T>& v = Access::var(y->output).value;
        if (u.shape() != v.shape())
            return fmt::format("node {} ('{}'{}) has shape {} in the replay, {} in a fresh trace", i, x->name,
                               where(x), to_string(u.shape()), to_string(v.shape()));
        for (std::size_t k = 0; k < u.size(); ++k) {
            T r = u.data()[k], e = v.data()[k];
            if (r == e || (r != r && e != e)) continue;
            return fmt::format("node {} ('{}'{}) is the first to differ, at {} ({} replayed, {} traced afresh)", i,
                               x->name, where(x), detail::index_string(u.shape(), k), r, e);
        }
    }
    if (a.nodes.size() != b.nodes.size())
        return fmt::format("the function took another path: {} nodes in the recording, {} in a fresh trace",
                           a.nodes.size(), b.nodes.size());
    return {};
}

template <class T>
RecordingStats Recording<T>::stats() const {
    const auto& s = impl_->plan->stats();
    return {s.nodes, s.steps, s.groups, s.fused_nodes, s.scratch_bytes};
}

template <class T>
TensorList<T> recorded_grad(const BasicTensor<T>& out, const TensorList<T>& wrt, const TensorList<T>& seed) {
    if (out.defined() && out.requires_grad() && !out.is_leaf()) return grad<T>(TensorList<T>{out}, wrt, seed, true, true);
    TensorList<T> zeros;
    for (auto& x : wrt) zeros.push_back(BasicTensor<T>::constant(Array<T>(xt::zeros<T>(x.shape()))));
    return zeros;
}

template <class T>
BasicTensor<T> recorded_inner(const TensorList<T>& a, const TensorList<T>& v) {
    BasicTensor<T> s;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!a[i].requires_grad()) continue;
        auto term = sum(a[i] * v[i]);
        s = s.defined() ? s + term : term;
    }
    return s;
}

template class Recording<float>;
template class Recording<double>;
#define XTGRAD_INSTANTIATE(T)                                                                                      \
    template TensorList<T> recorded_grad(const BasicTensor<T>&, const TensorList<T>&, const TensorList<T>&); \
    template BasicTensor<T> recorded_inner(const TensorList<T>&, const TensorList<T>&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad
