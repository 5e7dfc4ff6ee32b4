// The tape: recording nodes, the reverse sweep, releasing in one step.
#include "tape.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad::detail {

namespace {
thread_local std::vector<TapeState*> tape_stack;  // live tapes of this thread, innermost last
thread_local bool grad_mode = true;
thread_local bool anomaly_mode = false;
thread_local const std::string* backward_of = nullptr;  // the node whose rule is running, for messages

// First NaN in `a`, or npos.
template <class T>
std::size_t first_nan(const Array<T>& a) {
    const T* p = a.data();
    for (std::size_t i = 0, n = a.size(); i < n; ++i)
        if (p[i] != p[i]) return i;
    return std::size_t(-1);
}
std::atomic<std::uint64_t> epoch_counter{0};

// Every live tape and the thread that made it. Consulted only to word an error (a tensor of
// another thread's tape), so ops pay nothing for it.
std::mutex registry_mutex;
std::unordered_map<const TapeState*, std::thread::id>& live_tapes() {
    static std::unordered_map<const TapeState*, std::thread::id> tapes;
    return tapes;
}

bool owned_by_another_thread(const TapeState* tape) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = live_tapes().find(tape);
    return it != live_tapes().end() && it->second != std::this_thread::get_id();
}
}  // namespace

// ---- arena ----------------------------------------------------------------------------

void* Arena::allocate(std::size_t bytes, std::size_t align) {
    for (;;) {
        if (chunk_ < chunks_.size()) {
            std::size_t start = (offset_ + align - 1) / align * align;
            if (start + bytes <= kChunk) {
                offset_ = start + bytes;
                return chunks_[chunk_].get() + start;
            }
            ++chunk_;
            offset_ = 0;
            continue;
        }
        if (bytes > kChunk) throw std::bad_alloc();
        chunks_.push_back(std::make_unique<std::byte[]>(kChunk));
        offset_ = 0;
    }
}

void Arena::reset() noexcept {
    chunk_ = 0;
    offset_ = 0;
}

// ---- tape state -------------------------------------------------------------------------

void TapeState::renew_epoch() noexcept {
    epoch = ++epoch_counter;
}

void TapeState::release() noexcept {
    // Nodes hold handles to later nodes' outputs only through inputs of even later
    // nodes, so destroying in reverse order frees every value exactly once.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) (*it)->~NodeBase();
    nodes.clear();
    leaf_nodes.clear();
    arena.reset();
    live_ops = 0;
    renew_epoch();
}

bool diagnostic_active() noexcept {
    return !tape_stack.empty() && tape_stack.back()->diagnostic;
}

bool tracing_active() noexcept {
    return !tape_stack.empty() && tape_stack.back()->tracing;
}

TapeState* active_tape() noexcept {
    return tape_stack.empty() ? nullptr : tape_stack.back();
}

bool is_live(const TapeState* tape) noexcept {
    return std::find(tape_stack.begin(), tape_stack.end(), tape) != tape_stack.end();
}

ActivateTape::ActivateTape(TapeState* tape) {
    tape_stack.push_back(tape);
}
ActivateTape::~ActivateTape() {
    tape_stack.pop_back();
}

GradMode::GradMode(bool enabled) : previous_(grad_mode) {
    grad_mode = enabled;
}
GradMode::~GradMode() {
    grad_mode = previous_;
}

// ---- nodes --------------------------------------------------------------------------------

template <class T>
std::optional<std::size_t> node_index(TapeState& tape, const BasicTensor<T>& t) {
    auto& v = Access::var(t);
    if (!v.requires_grad && !v.buffer) return std::nullopt;
    if (v.tape == &tape && v.epoch == tape.epoch) return v.node;
    if (!v.leaf) return std::nullopt;
    auto it = tape.leaf_nodes.find(Access::id(t));
    if (it == tape.leaf_nodes.end()) return std::nullopt;
    return it->second;
}

template <class T>
Node<T>* node_of(TapeState& tape, const BasicTensor<T>& t) {
    auto i = node_index(tape, t);
    return i ? static_cast<Node<T>*>(tape.nodes[*i]) : nullptr;
}

template <class T>
void check_usable(std::string_view op, const BasicTensor<T>& t, std::size_t index) {
    if (!t.defined()) throw ValueError(fmt::format("{}: input {} is an undefined tensor", op, index));
    auto& v = Access::var(t);
    if (v.leaf || !v.requires_grad) return;
    if (v.graph_freed)
        throw TapeError(
            fmt::format("{}: input {} (shape {}) was computed by a graph that backward() has already "
                        "freed; call backward(true) (retain_graph) to keep a graph for another sweep",
                        op, index, to_string(v.value.shape())));
    // Liveness first: a destroyed tape's state must not be read.
    if (!is_live(v.tape) && owned_by_another_thread(v.tape))
        throw TapeError(
            fmt::format("{}: input {} (shape {}) was recorded on a tape of another thread; a tape and "
                        "the tensors recorded on it belong to the thread that made it",
                        op, index, to_string(v.value.shape())));
    if (!is_live(v.tape) || v.tape->epoch != v.epoch)
        throw TapeError(fmt::format("{}: input {} (shape {}) was recorded on a tape that has since been released", op,
                                    index, to_string(v.value.shape())));
}

namespace {
template <class T>
Node<T>* push_node(TapeState& tape) {
    void* mem = tape.arena.allocate(sizeof(Node<T>), alignof(Node<T>));
    auto* node = new (mem) Node<T>();
    tape.nodes.push_back(node);
    return node;
}

// The node of a leaf on `tape`, made on first use.
template <class T>
Node<T>* leaf_node(TapeState& tape, const BasicTensor<T>& t) {
    if (auto* n = node_of(tape, t)) return n;
    auto& v = Access::var(t);
    auto* node = push_node<T>(tape);
    node->leaf = true;
    node->name = "leaf";
    node->output = t;
    v.tape = &tape;
    v.epoch = tape.epoch;
    v.node = static_cast<std::uint32_t>(tape.nodes.size() - 1);
    tape.leaf_nodes[Access::id(t)] = v.node;
    return node;
}
}  // namespace

template <class T>
void register_leaf(TapeState& tape, const BasicTensor<T>& t) {
    leaf_node(tape, t);
}

template <class T>
BasicTensor<T> record(std::string_view name, TensorList<T>&& inputs, Array<T>&& value, BackwardFn<T>&& rule,
                      ForwardFn<T>&& forward) {
    check_not_empty(name, value.shape());  // every op, built-in or custom: no tensor is empty
    if (anomaly_mode) {
        std::size_t bad = first_nan(value);
        bool inputs_clean = true;
        for (auto& in : inputs) inputs_clean = inputs_clean && first_nan(Access::var(in).value) == std::size_t(-1);
        if (bad != std::size_t(-1) && inputs_clean) {
            std::string shapes;
            for (auto& in : inputs) shapes += (shapes.empty() ? "" : " ") + to_string(in.shape());
            throw DomainError(
                fmt::format("{} (anomaly detection): produced nan at flat index {} of its result of "
                            "shape {} from inputs {} without nan{}",
                            name, bad, to_string(value.shape()), shapes,
                            backward_of ? fmt::format(", in the backward rule of '{}'", *backward_of) : std::string()));
        }
    }
    bool needs_grad = false;
    const bool tracing = tracing_active();
    for (auto& in : inputs) {
        auto& v = Access::var(in);
        needs_grad = needs_grad || v.requires_grad || (tracing && v.buffer);  // a trace reads buffers live
    }
    // A source (a draw) in a trace is recorded, or a replay would repeat the traced value.
    if (inputs.empty() && tracing) needs_grad = true;
    if (!grad_mode && needs_grad) {
        // Under NoGrad the result is a constant, except in a trace: there a constant computed
        // from traced values would be frozen, so the op is recorded with a rule that passes
        // nothing back (the result is still cut from the gradient, as NoGrad means).
        needs_grad = tracing_active();
        if (needs_grad) {
            const std::size_t n = inputs.size();
            rule = [n](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(n); };
        }
    }
    auto var = new_var<T>(std::move(value));
    var->leaf = false;
    if (!needs_grad) return Access::make(std::move(var));

    TapeState* tape = active_tape();
    if (tape == nullptr)
        throw TapeError(
            fmt::format("{}: an input requires a gradient but no Tape is active "
                        "(create an xtgrad::Tape, or compute inside NoGrad)",
                        name));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto& in = Access::var(inputs[i]);
        if (!in.requires_grad && !(tracing && in.buffer)) continue;
        if (in.leaf) {
            leaf_node(*tape, inputs[i]);
        } else if (in.tape != tape) {
            throw TapeError(fmt::format("{}: input {} (shape {}) was recorded on another tape than the active one",
                                        name, i, to_string(in.value.shape())));
        }
    }
    var->requires_grad = true;
    var->tape = tape;
    var->epoch = tape->epoch;
    BasicTensor<T> out = Access::make(std::move(var));
    auto* node = push_node<T>(*tape);
    node->name = name;
    node->inputs = std::move(inputs);
    node->output = out;
    node->rule = std::move(rule);
    if (tape->diagnostic) {
        node->forward = std::move(forward);
        node->scope = current_scope();
    }
    Access::var(out).node = static_cast<std::uint32_t>(tape->nodes.size() - 1);
    ++tape->live_ops;
    return out;
}

// Adds a gradient to an adjoint. A first-order sweep (neither differentiable, nothing traced)
// adds in place when no other handle shares the adjoint: `add` would allocate a new array and
// read both, once for every extra use of a tensor (an LSTM's recurrent weights, used at every
// step). The sum is the same, element for element; a shared adjoint (a rule that passed its
// own on, a tensor a user holds) is never written.
namespace {
template <class T>
void accumulate(BasicTensor<T>& adjoint, const BasicTensor<T>& grad) {
    if (!adjoint.defined()) {
        adjoint = grad;
        return;
    }
    const auto& g = Access::var(grad);
    auto& a = Access::var(adjoint);
    if (a.requires_grad || g.requires_grad || anomaly_mode || Access::use_count(adjoint) != 1) {
        adjoint = add(adjoint, grad);
        return;
    }
    T* out = a.value.data();
    const T* in = g.value.data();
    const std::size_t n = a.value.size();
    for (std::size_t k = 0; k < n; ++k) out[k] += in[k];
}

// Adds `g` (a slice's adjoint, the axis kept or dropped) into `into` (its input's) at
// input[first::step] along `axis`.
template <class T>
void add_into_slice(const Array<T>& g, Array<T>& into, std::size_t axis, std::size_t first, std::size_t step) {
    std::size_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= into.shape()[d];
    for (std::size_t d = axis + 1; d < into.dimension(); ++d) inner *= into.shape()[d];
    const std::size_t count = g.size() / (outer * inner), extent = into.shape()[axis];
    const T* from = g.data();
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t r = 0; r < count; ++r, from += inner) {
            T* to = into.data() + (o * extent + first + r * step) * inner;
            for (std::size_t k = 0; k < inner; ++k) to[k] += from[k];
        }
}

// A slice's first-order gradient added where it belongs in its input's adjoint, when that is
// defined and no other handle shares it (as accumulate); false to take the rule's way.
template <class T>
bool slice_into_adjoint(TapeState& tape, const Node<T>& node) {
    if (anomaly_mode || Access::var(node.adjoint).requires_grad) return false;
    auto* target = node_of(tape, node.inputs[0]);
    if (target == nullptr || !target->adjoint.defined()) return false;
    auto& into = Access::var(target->adjoint);
    if (into.requires_grad || Access::use_count(target->adjoint) != 1) return false;
    add_into_slice(Access::var(node.adjoint).value, into.value, node.slice_of->axis, node.slice_of->first,
                   node.slice_of->step);
    return true;
}
}  // namespace

template <class T>
void Node<T>::propagate(TapeState& tape) {
    if (!adjoint.defined() || !rule) return;
    if (slice_of && slice_into_adjoint(tape, *this)) return;
    struct InBackward {  // names this node in anomaly reports from the ops its rule runs
        const std::string* previous = backward_of;
        explicit InBackward(const std::string* name) { backward_of = name; }
        ~InBackward() { backward_of = previous; }
    } in_backward(&name);
    TensorList<T> grads = rule(inputs, output, adjoint);
    if (grads.size() != inputs.size())
        throw GradError(
            fmt::format("{}: backward rule returned {} gradients for {} inputs", name, grads.size(), inputs.size()));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!grads[i].defined()) continue;
        auto* target = node_of(tape, inputs[i]);
        if (target == nullptr) continue;  // input needs no gradient
        if (grads[i].shape() != inputs[i].shape())
            throw GradError(fmt::format("{}: backward rule returned a gradient of shape {} for input {} of shape {}",
                                        name, to_string(grads[i].shape()), i, to_string(inputs[i].shape())));
        if (anomaly_mode && first_nan(Access::var(grads[i]).value) != std::size_t(-1) &&
            first_nan(Access::var(adjoint).value) == std::size_t(-1))
            throw GradError(
                fmt::format("{} (anomaly detection): backward rule produced nan in the gradient for input "
                            "{} (shape {}) at flat index {}",
                            name, i, to_string(inputs[i].shape()), first_nan(Access::var(grads[i]).value)));
        accumulate(target->adjoint, grads[i]);
    }
}

void out_of_memory(std::string_view op, const std::vector<Shape>& input_shapes, const MemoryError& e) {
    std::string what = e.what();
    if (what.rfind(std::string(op) + ":", 0) == 0) throw e;  // named already (an op inside an op)
    std::string shapes;
    for (const auto& s : input_shapes) shapes += (shapes.empty() ? "" : ", ") + to_string(s);
    throw MemoryError(fmt::format("{}: inputs of shape {}: {}", op, shapes.empty() ? "(none)" : shapes, what));
}

template <class T>
void Node<T>::replay() {
    if (leaf) return;
    if (!forward)
        throw TapeError(fmt::format("replay: op '{}' was recorded without its forward function (not on a "
                                    "diagnostic tape, or its graph was freed)",
                                    name));
    try {
        EvaluatingForward evaluating;
        Access::var(output).value = forward(inputs);
    } catch (const MemoryError& e) {
        out_of_memory(name, shapes_of(inputs), e);
    }
}

template <class T>
void Node<T>::deposit_leaf_grad() {
    if (!leaf || !adjoint.defined()) return;
    auto& v = Access::var(output);
    if (v.grad) {
        *v.grad += Access::var(adjoint).value;
    } else if (Access::use_count(adjoint) == 1) {
        v.grad = std::move(Access::var(adjoint).value);  // a temporary of the sweep: take its storage
    } else {
        v.grad = Access::var(adjoint).value;
    }
}

template <class T>
void Node<T>::free_graph() noexcept {
    if (leaf || freed) return;
    Access::var(output).graph_freed = true;
    rule = BackwardFn<T>();
    forward = ForwardFn<T>();
    block = BlockFn<T>();
    inputs.clear();
    inputs.shrink_to_fit();
    freed = true;
}

template <class T>
bool Node<T>::feeds_needed(TapeState& tape) const {
    for (auto& in : inputs)
        if (auto* n = node_of(tape, in); n != nullptr && n->needed) return true;
    return false;
}

template <class T>
void sweep(TapeState& tape, const TensorList<T>& roots, const TensorList<T>& seeds, bool create_graph,
           const TensorList<T>* targets) {
    ActivateTape activate(&tape);
    GradMode mode(create_graph);
    // A sweep an error stops (a rule's, anomaly detection's, memory) leaves no adjoint behind:
    // the next sweep on this tape would propagate them again into its own gradients.
    struct ClearOnError {
        TapeState& tape;
        int uncaught = std::uncaught_exceptions();
        ~ClearOnError() {
            if (std::uncaught_exceptions() > uncaught) clear_adjoints(tape);
        }
    } clear_on_error{tape};
    std::size_t top = 0;
    for (std::size_t i = 0; i < roots.size(); ++i) {
        auto* node = node_of(tape, roots[i]);
        node->adjoint = node->adjoint.defined() ? add(node->adjoint, seeds[i]) : seeds[i];
        top = std::max<std::size_t>(top, Access::var(roots[i]).node + 1);
    }
    if (targets == nullptr) {
        for (std::size_t i = top; i-- > 0;) tape.nodes[i]->propagate(tape);
        return;
    }
    // Recording order is topological, so one forward scan finds every node with a path to a
    // target; nodes before the first target cannot have one.
    for (std::size_t i = 0; i < top; ++i) tape.nodes[i]->needed = tape.nodes[i]->feeds = false;
    std::size_t first = top;
    for (auto& t : *targets)
        if (auto i = node_index(tape, t); i && *i < top) {
            tape.nodes[*i]->needed = true;
            first = std::min(first, *i);
        }
    for (std::size_t i = first; i < top; ++i) {
        NodeBase* n = tape.nodes[i];
        n->feeds = !n->leaf && n->feeds_needed(tape);
        n->needed = n->needed || n->feeds;
    }
    struct Pruning {
        TapeState& tape;
        explicit Pruning(TapeState& t) : tape(t) { tape.pruning = true; }
        ~Pruning() { tape.pruning = false; }
    } pruning(tape);
    for (std::size_t i = top; i-- > first;)
        if (tape.nodes[i]->feeds) tape.nodes[i]->propagate(tape);
}

void clear_adjoints(TapeState& tape) noexcept {
    for (auto* n : tape.nodes) n->clear_adjoint();
}

#define XTGRAD_INSTANTIATE(T)                                                                                       \
    template struct Node<T>;                                                                                        \
    template Node<T>* node_of(TapeState&, const BasicTensor<T>&);                                                   \
    template std::optional<std::size_t> node_index(TapeState&, const BasicTensor<T>&);                              \
    template void check_usable(std::string_view, const BasicTensor<T>&, std::size_t);                               \
    template BasicTensor<T> record(std::string_view, TensorList<T>&&, Array<T>&&, BackwardFn<T>&&, ForwardFn<T>&&); \
    template void sweep(TapeState&, const TensorList<T>&, const TensorList<T>&, bool, const TensorList<T>*); \
    template void register_leaf(TapeState&, const BasicTensor<T>&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad::detail

namespace xtgrad {

Tape::Tape() : state_(std::make_unique<detail::TapeState>()) {
    state_->renew_epoch();
    detail::tape_stack.push_back(state_.get());
    std::lock_guard<std::mutex> lock(detail::registry_mutex);
    detail::live_tapes()[state_.get()] = std::this_thread::get_id();
}

Tape::~Tape() {
    auto& stack = detail::tape_stack;
    auto it = std::find(stack.begin(), stack.end(), state_.get());
    if (it == stack.end()) {
        // Destroyed on another thread than its own: its thread's stack still points at it, and
        // its nodes may be in use there. A destructor cannot throw; say what happened and stop
        // rather than corrupt memory (as std::thread's destructor does with a joinable thread).
        std::fputs(
            "xtgrad: a Tape was destroyed on another thread than the one that made it; a tape and the "
            "tensors recorded on it belong to the thread that made it\n",
            stderr);
        std::abort();
    }
    {
        std::lock_guard<std::mutex> lock(detail::registry_mutex);
        detail::live_tapes().erase(state_.get());
    }
    state_->release();
    stack.erase(it);
}

void Tape::release() {
    state_->release();
}
std::size_t Tape::size() const {
    return state_->nodes.size();
}
std::size_t Tape::arena_bytes() const {
    return state_->arena.capacity();
}
void Tape::set_diagnostic(bool on) {
    state_->diagnostic = on;
}

NoGrad::NoGrad() : previous_(detail::grad_mode) {
    detail::grad_mode = false;
}
NoGrad::~NoGrad() {
    detail::grad_mode = previous_;
}
bool grad_enabled() noexcept {
    return detail::grad_mode;
}

DetectAnomaly::DetectAnomaly() : previous_(detail::anomaly_mode) {
    detail::anomaly_mode = true;
}
DetectAnomaly::~DetectAnomaly() {
    detail::anomaly_mode = previous_;
}
bool anomaly_detection_enabled() noexcept {
    return detail::anomaly_mode;
}

template <class T>
BasicTensor<T> custom_op(std::string_view name, TensorList<T> inputs, std::type_identity_t<ForwardFn<T>> forward,
                         std::type_identity_t<BackwardFn<T>> backward) {
    if (!forward || !backward) throw ValueError(fmt::format("custom_op {}: forward and backward must be set", name));
    for (std::size_t i = 0; i < inputs.size(); ++i) detail::check_usable(name, inputs[i], i);
    return detail::make_op<T>(name, std::move(inputs), std::move(forward), std::move(backward));
}
template Tensor custom_op(std::string_view, TensorList<double>, std::type_identity_t<ForwardFn<double>>,
                          std::type_identity_t<BackwardFn<double>>);
template Tensor32 custom_op(std::string_view, TensorList<float>, std::type_identity_t<ForwardFn<float>>,
                            std::type_identity_t<BackwardFn<float>>);

}  // namespace xtgrad
