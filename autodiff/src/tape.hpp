// Internals of the tape: what a tensor handle points to, what a node holds, and the
// one function every op (built-in or custom) records itself through.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "xtgrad/autodiff/custom_op.hpp"
#include "xtgrad/autodiff/errors.hpp"
#include "xtgrad/autodiff/trace.hpp"

namespace xtgrad::detail {

struct GeneratorState;

/// What a tensor handle points to.
template <class T>
struct Var {
    explicit Var(Array<T>&& v) : value(std::move(v)) {}
    Array<T> value;
    bool requires_grad = false;
    bool leaf = true;
    // Module state (BasicTensor::buffer): a constant that a trace records as a leaf, so that
    // replays read its current value instead of freezing the traced one.
    bool buffer = false;
    // Where this tensor has its node: the node that computed it (op results) or its
    // registration on the tape that last used it (leaves). Valid while `epoch` matches.
    TapeState* tape = nullptr;
    std::uint64_t epoch = 0;
    std::uint32_t node = 0;
    // backward() freed the graph that computed this tensor (retain_graph = false): using it
    // in an op or sweeping through it again is an error that says so.
    bool graph_freed = false;
    // Gradient accumulated by backward() (leaves only). Optional: a default Array holds one
    // element, and allocating it for every op result showed up in the per-op overhead.
    std::optional<Array<T>> grad;
};

struct Access {
    template <class T>
    static Var<T>& var(const BasicTensor<T>& t) {
        return *t.var_;
    }
    template <class T>
    static const void* id(const BasicTensor<T>& t) {
        return t.var_.get();
    }
    template <class T>
    static BasicTensor<T> make(std::shared_ptr<Var<T>> v) {
        return BasicTensor<T>(std::move(v));
    }
    static TapeState& state(Tape& tape) { return *tape.state_; }
    template <class T>
    static long use_count(const BasicTensor<T>& t) {
        return t.var_.use_count();
    }
};

/// A bump allocator for nodes: one allocation per 64 KiB of nodes, reused after release.
class Arena {
public:
    void* allocate(std::size_t bytes, std::size_t align);
    void reset() noexcept;
    std::size_t capacity() const noexcept { return chunks_.size() * kChunk; }

private:
    static constexpr std::size_t kChunk = 64 * 1024;
    std::vector<std::unique_ptr<std::byte[]>> chunks_;
    std::size_t chunk_ = 0;
    std::size_t offset_ = 0;
};

struct NodeBase {
    virtual ~NodeBase() = default;
    /// Pushes this node's adjoint to its inputs' adjoints.
    virtual void propagate(TapeState& tape) = 0;
    virtual void clear_adjoint() noexcept = 0;
    /// Adds a leaf node's adjoint into its tensor's grad().
    virtual void deposit_leaf_grad() = 0;
    virtual const std::type_info& dtype() const noexcept = 0;
    /// Whether one of this node's inputs has `needed` set (a pruned sweep's forward scan).
    virtual bool feeds_needed(TapeState& tape) const = 0;
    /// After a backward sweep through it (retain_graph = false): drops the rule and the
    /// inputs it held (their memory goes back at once) and marks the output as freed.
    virtual void free_graph() noexcept = 0;
    /// Whether the adjoint is set (the sweep reached this node).
    virtual bool reached() const noexcept = 0;
    /// Recomputes this op's output from its inputs' current values (compile.hpp's replay);
    /// nothing for a leaf. TapeError when the forward function was not kept.
    virtual void replay() = 0;
    /// How a compiled replay may evaluate this node (replay_plan.cpp): elementwise nodes are
    /// fused into one blocked pass with their neighbours, a sum over every element can end such
    /// a pass. Set on diagnostic tapes only, beside the forward function.
    enum class Fusion : std::uint8_t { none, elementwise, sum_all };
    Fusion fusion = Fusion::none;
    // Set on traces: the node has an effect besides its value (a draw advances its generator, an
    // assignment writes a buffer), so a replay runs it even when no output depends on it.
    bool effect = false;
    std::shared_ptr<GeneratorState> generator;  // a draw's, so that a check can rewind it
    std::uint64_t draw_words = 0;               // and how far each evaluation advances it
    bool freed = false;
    bool leaf = false;
    // Set by a pruned sweep (grad with explicit inputs): `needed` when a path leads from this
    // node to one of the inputs asked for, `feeds` when one of its inputs is needed.
    bool needed = false;
    bool feeds = false;
};

struct TapeState {
    std::uint64_t epoch = 0;
    std::vector<NodeBase*> nodes;
    std::unordered_map<const void*, std::uint32_t> leaf_nodes;  // leaf var -> its node
    Arena arena;
    bool diagnostic = false;
    // A compiled function's trace (Recording) is running on this tape: host reads of the values
    // it records are refused (check_read), and ops under NoGrad are still recorded.
    bool tracing = false;
    std::vector<std::pair<const bool*, bool>> guards;  // trace_guard's flags and their traced values
    bool pruning = false;      // a pruned sweep is running: rules skip inputs that are not needed
    std::size_t live_ops = 0;  // op nodes not freed by backward(): at 0 the tape releases itself

    // A new epoch of its own: a leaf registered on an earlier tape that had this address must not
    // look registered here (a recording's tape, freed, and the next one allocated in its place).
    TapeState() noexcept { renew_epoch(); }
    ~TapeState() { release(); }
    void release() noexcept;
    void renew_epoch() noexcept;
};

/// The innermost live tape of this thread, or nullptr.
TapeState* active_tape() noexcept;
/// Whether `tape` is one of this thread's live tapes.
bool is_live(const TapeState* tape) noexcept;
/// Makes `tape` the active tape for the lifetime of this object.
class ActivateTape {
public:
    explicit ActivateTape(TapeState* tape);
    ~ActivateTape();
    ActivateTape(const ActivateTape&) = delete;
    ActivateTape& operator=(const ActivateTape&) = delete;
};
/// Sets grad mode for the lifetime of this object.
class GradMode {
public:
    explicit GradMode(bool enabled);
    ~GradMode();
    GradMode(const GradMode&) = delete;
    GradMode& operator=(const GradMode&) = delete;

private:
    bool previous_;
};

/// An elementwise op over a block of n elements: out[i] = f(in_0[i * stride_0], in_1[i *
/// stride_1], ...), each stride 0 (the operand is one value) or 1. Built from the op's own
/// definition (binary.hpp, unary.hpp), so a fused replay computes what the op computes.
template <class T>
using BlockFn = std::function<void(const T* const* in, const std::size_t* stride, T* out, std::size_t n)>;

template <class T>
struct Node final : NodeBase {
    std::string name;
    std::string scope;       // the NamedScope it was recorded in (diagnostic tapes only)
    TensorList<T> inputs;
    BasicTensor<T> output;
    BackwardFn<T> rule;      // empty for leaves
    ForwardFn<T> forward;    // kept in diagnostic mode only
    BlockFn<T> block;        // diagnostic mode, elementwise ops only
    BasicTensor<T> adjoint;  // d(root)/d(output), set during a sweep
    // Set by slice(): the output is input[first::step] along `axis`. The rule places the
    // adjoint into zeros of the input's shape; a first-order sweep adds it into the input's
    // adjoint where it came from instead (propagate), so that n slices of one tensor (unbind,
    // chunk) cost their own sizes, not n times the tensor's.
    struct SliceOf {
        std::size_t axis, first, step;
    };
    std::optional<SliceOf> slice_of;

    void propagate(TapeState& tape) override;
    void clear_adjoint() noexcept override { adjoint = BasicTensor<T>(); }
    void deposit_leaf_grad() override;
    const std::type_info& dtype() const noexcept override { return typeid(T); }
    bool feeds_needed(TapeState& tape) const override;
    void free_graph() noexcept override;
    bool reached() const noexcept override { return adjoint.defined(); }
    void replay() override;
};

/// The node of `t` on `tape`, or nullptr when `t` has none there.
template <class T>
Node<T>* node_of(TapeState& tape, const BasicTensor<T>& t);
/// Its index in `tape.nodes`.
template <class T>
std::optional<std::size_t> node_index(TapeState& tape, const BasicTensor<T>& t);

/// Gives leaf `t` its node on `tape` now (a recording's inputs: so that reading one while tracing
/// is caught before any op uses it).
template <class T>
void register_leaf(TapeState& tape, const BasicTensor<T>& t);

/// ValueError for tensors with no elements (xtgrad does not support empty tensors); ShapeError
/// for a shape whose elements number more than any array can hold (their product overflows).
void check_not_empty(std::string_view op, const Shape& shape);

/// Throws TapeError when `t` was recorded on a tape that is released or not live.
template <class T>
void check_usable(std::string_view op, const BasicTensor<T>& t, std::size_t index);

/// Records `value` as the result of op `name`. When no input needs a gradient (or grad
/// mode is off) the result is a constant and nothing is recorded. `forward` is kept only
/// on diagnostic tapes (for gradcheck's per-node report).
template <class T>
BasicTensor<T> record(std::string_view name, TensorList<T>&& inputs, Array<T>&& value, BackwardFn<T>&& rule,
                      ForwardFn<T>&& forward);

/// Whether the active tape keeps forward functions (diagnostic mode).
bool diagnostic_active() noexcept;
/// Whether the active tape is a compiled function's trace.
bool tracing_active() noexcept;

/// While alive, the thread runs an op's forward function: reads of its inputs' values are
/// part of the op, which a replay calls again, so the trace's read check lets them through.
class EvaluatingForward {
public:
    EvaluatingForward() noexcept;
    ~EvaluatingForward();
    EvaluatingForward(const EvaluatingForward&) = delete;
    EvaluatingForward& operator=(const EvaluatingForward&) = delete;
};

/// TraceError when host code reads (`what`: value, item, ...) the value of a tensor the active
/// trace records, outside an op's forward function and outside FrozenReads.
template <class T>
void check_read(const char* what, const Var<T>& v);

/// Rethrows an op's MemoryError with the op's name and its inputs' shapes in front.
[[noreturn]] void out_of_memory(std::string_view op, const std::vector<Shape>& input_shapes, const MemoryError& e);
template <class T>
std::vector<Shape> shapes_of(const TensorList<T>& inputs) {
    std::vector<Shape> out;
    for (const auto& t : inputs) out.push_back(t.defined() ? t.shape() : Shape{});
    return out;
}

/// `record(name, inputs, forward(inputs), ...)`: how every op is defined. The inputs
/// must have been checked with check_usable. `forward` is wrapped in a std::function only
/// on a diagnostic tape, so the hot path pays for no type erasure.
template <class T, class F>
BasicTensor<T> make_op(std::string_view name, TensorList<T>&& inputs, F&& forward, BackwardFn<T>&& backward) {
    Array<T> value;
    try {
        EvaluatingForward evaluating;
        value = forward(inputs);
    } catch (const MemoryError& e) {
        out_of_memory(name, shapes_of(inputs), e);
    }
    ForwardFn<T> kept;
    if (diagnostic_active()) kept = std::forward<F>(forward);
    return record(name, std::move(inputs), std::move(value), std::move(backward), std::move(kept));
}

/// Makes the storage of a tensor handle (pooled, like tensor values).
template <class T>
std::shared_ptr<Var<T>> new_var(Array<T>&& value) {
    return std::allocate_shared<Var<T>>(storage::PoolAllocator<Var<T>>(), std::move(value));
}

/// Reverse sweep over `tape` seeded at `roots`. Leaves the adjoints in place for the
/// caller to read; call `clear_adjoints` afterwards (an error clears them). With `targets`
/// (grad's inputs), only the nodes on a path to one of them are swept and rules compute only
/// the gradients that lead there (PyTorch prunes its graph the same way): the rest of the
/// tape is skipped.
template <class T>
void sweep(TapeState& tape, const TensorList<T>& roots, const TensorList<T>& seeds, bool create_graph,
           const TensorList<T>* targets = nullptr);
void clear_adjoints(TapeState& tape) noexcept;

}  // namespace xtgrad::detail
