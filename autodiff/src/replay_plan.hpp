// How a recording (a diagnostic tape, recording.hpp) is replayed: planned once, after the
// trace, into steps.
//
// - Fusion. Consecutive elementwise nodes of the same size (unary and binary ops, with
//   scalars and broadcast operands, reshape, broadcast_to, relu's step) form a group,
//   evaluated block by block: each node's block function (BlockFn, built from the op's own
//   definition) runs over a block of a few KiB before the next node reads it, so only the
//   values needed outside the group reach memory; a sum of every element of a member ends
//   the group as a reduction, accumulated block by block. A node that does not depend on
//   the group being built is evaluated before it, so one group can span the forward and the
//   backward pass.
// - Memory. Group members needed outside their group are written in place into storage
//   kept from one replay to the next; others live only in the group's block scratch. Every
//   other intermediate is released right after its last reader (liveness from the trace),
//   so its storage goes back to the value pool (memory.cpp) for the next node of its size:
//   a steady-state replay makes no heap allocation, and holds no more than eager evaluation.
//   Nodes no output depends on are not planned at all.
// - Threads. A group of many blocks is split into parts, runs of consecutive blocks, taken by
//   as many threads as set_num_threads allows (parallel.hpp), each with its own scratch. A
//   reduction keeps one partial sum per block and adds them in block order afterwards, so the
//   result is the same, bit for bit, whatever the number of threads and whoever ran a part.
// - Partial replay. A node is `varying` when it depends on the recording's vectors (hvp's
//   v): run(Part::vectors) recomputes only those, reusing the rest from the last run (the
//   split jax.linearize makes between a linearisation and its application).
#pragma once

#include <cstdint>
#include <vector>

#include "tape.hpp"

namespace xtgrad::detail {

struct ReplayStats {
    std::size_t nodes = 0;        ///< op nodes replayed (dead ones excluded)
    std::size_t steps = 0;        ///< single nodes plus fused groups
    std::size_t groups = 0;       ///< fused groups
    std::size_t fused_nodes = 0;  ///< nodes evaluated inside a group
    std::size_t scratch_bytes = 0;
};

template <class T>
class ReplayPlan {
public:
    /// Plans `tape` (recorded in diagnostic mode) so that `outputs` are recomputed by run();
    /// `vectors` are the leaves run(true) treats as the only ones that changed.
    ReplayPlan(TapeState& tape, const TensorList<T>& outputs, const TensorList<T>& vectors);
    /// What run() recomputes: everything, the nodes that depend on the vectors (the others keep
    /// their values of the last run), or the nodes that do not.
    enum class Part { all, vectors, rest };
    /// Recomputes `part` of the outputs from the leaves' current values.
    void run(Part part);
    const ReplayStats& stats() const { return stats_; }
    /// Whether the last run() wrote a NaN into an output (checked as it is written).
    bool produced_nan() const { return nan_; }
    /// Whether only fused groups read `leaf` (a leaf's value): bind() can then point them to
    /// another array of its shape, so that a replay reads the caller's array without a copy.
    bool bindable(const Array<T>* leaf) const;
    void bind(const Array<T>* leaf, const Array<T>* source);
    /// Points every bound operand back to its leaf.
    void unbind() noexcept;

private:
    struct Operand {
        enum Kind : std::uint8_t { scratch, member, contiguous, scalar, broadcast } kind;
        std::size_t index = 0;             // scratch: slot; member: member index
        const Array<T>* value = nullptr;   // external operands: read at run time (storage may move)
        std::vector<std::size_t> strides;  // broadcast: the operand's stride per output axis (0: broadcast)
    };
    struct Member {
        Node<T>* node = nullptr;
        Shape shape;               // of its output (a released value has lost it)
        bool sum = false;          // a sum of every element of its operand
        bool materialize = false;  // written to the node's value (read outside the group)
        bool output = false;       // an output of the recording: checked for NaN
        bool stream = false;       // materialized from its scratch block by streaming stores
        std::size_t sum_index = 0; // a sum: its place among its group's sums
        std::size_t slot = 0;      // otherwise: its block of scratch
        std::size_t first_operand = 0, operands = 0;
    };
    struct Step {
        bool group = false;
        bool varying = false;
        NodeBase* node = nullptr;       // a single node
        bool output = false;            // a single node whose value is an output
        std::size_t n = 0;              // group: elements of every member
        std::size_t sums = 0;           // group: members that are sums
        std::size_t first_member = 0, members = 0;
        std::vector<Array<T>*> release;  // values whose last reader this step is
    };

    void run_group(const Step& step);
    /// Evaluates blocks [first, last) of a group (part `part`) with the scratch of `thread`.
    void run_blocks(const Step& step, std::size_t part, std::size_t thread, std::size_t first, std::size_t last);
    void expand(const Operand& op, const Shape& out_shape, std::size_t start, std::size_t len, T* dst) const;
    T* slot(std::size_t thread, std::size_t s) { return scratch_.data() + thread * region_ + s * block_; }
    static constexpr std::size_t kMaxOperands = 4;

    std::vector<Step> steps_;
    std::vector<Member> members_;
    std::vector<Operand> operands_;
    Array<T> scratch_;            // per thread: slots, then one block per operand position for
                                  // broadcasts (pool storage: 64-byte aligned, as every block must be)
    std::size_t block_ = 0;       // elements per block
    std::size_t region_ = 0;      // elements of scratch per thread
    std::size_t broadcast_ = 0;   // first broadcast block
    std::vector<T> partials_;     // a group's sums of each block: [block * step.sums + sum_index]
    std::vector<char> part_nan_;  // whether a part wrote a NaN into an output
    // the group operands reading each leaf, and the leaves something else reads
    std::vector<std::pair<const Array<T>*, std::vector<std::size_t>>> leaf_operands_;
    std::vector<const Array<T>*> read_directly_;
    bool bound_ = false;
    bool nan_ = false;
    ReplayStats stats_;
};

extern template class ReplayPlan<float>;
extern template class ReplayPlan<double>;

}  // namespace xtgrad::detail
