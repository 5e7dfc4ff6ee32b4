// Planning and running a recording's replay (replay_plan.hpp says what and why).
#include "replay_plan.hpp"

#include <algorithm>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <unordered_map>

#include "kernels.hpp"
#include "parallel.hpp"
#include "xtgrad/autodiff/threads.hpp"

namespace xtgrad::detail {

namespace {
// Elements per block: 8 KiB of each value (measured best of 2-16 KiB on sum(sigmoid(x) * x)). A multiple of every SIMD width, so that blocks
// start where eager evaluation's vector loops do (unary_block).
template <class T>
constexpr std::size_t kBlock = 8192 / sizeof(T);

template <class T>
Var<T>& var_of(NodeBase* node) {
    return Access::var(static_cast<Node<T>*>(node)->output);
}

template <class T>
void ensure_storage(Array<T>& value, const Shape& shape) {
    if (value.shape() != shape) value = Array<T>::from_shape(shape);
}

// A member larger than this (bytes) is written to memory with streaming stores: it would not
// stay in cache, and ordinary stores first read every line they write.
constexpr std::size_t kStreamBytes = std::size_t(4) << 20;

// Copies a block to memory without reading the destination's lines first (non-temporal
// stores; dst is 32-byte aligned, as every block is). Plain copy without AVX.
template <class T>
void stream_copy(const T* src, T* dst, std::size_t n) {
    std::size_t i = 0;
#if defined(__AVX__)
    if constexpr (std::is_same_v<T, double>)
        for (; i + 4 <= n; i += 4) _mm256_stream_pd(dst + i, _mm256_load_pd(src + i));
    else
        for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_load_ps(src + i));
#endif
    for (; i < n; ++i) dst[i] = src[i];
}

// A group is split into parts of at least 4 blocks (32 KiB of each member), at most 64, taken
// in turn by the threads as they come (parallel.hpp), so that a worker that wakes late still
// takes a share; a group of fewer than 4 parts runs on the calling thread alone. Measured on
// sum(sigmoid(x) * x), 2 threads against 1: 8 blocks 0.82x (waking the worker costs more than
// it saves), 16 blocks 1.06-1.09x, 32 1.3-1.4x, 64 1.55x, 1024 1.96x.
constexpr std::size_t kMinBlocksPerPart = 4;
constexpr std::size_t kMinPartsToShare = 4;
constexpr std::size_t kMaxParts = 64;

// Releases a value's storage to the pool (a one-element array: xarray has no empty state).
template <class T>
void release(Array<T>& value) {
    if (value.size() > 1) value = Array<T>();
}
}  // namespace

// x * 1 is x, bit for bit: a product with a constant of ones (a gradient's seed, met by the
// first rule of every backward pass) is taken out of the recording, its readers reading x.
// (XLA's algebraic simplifier does the same and more; this is the case recordings are full of.)
template <class T>
void simplify(TapeState& tape) {
    std::unordered_map<const void*, BasicTensor<T>> same_as;  // a product's var -> its other factor
    auto all_ones = [](const BasicTensor<T>& t) {
        const Array<T>& v = Access::var(t).value;
        return std::all_of(v.data(), v.data() + v.size(), [](T e) { return e == T(1); });
    };
    for (NodeBase* base : tape.nodes) {
        if (base->leaf) continue;
        auto* node = static_cast<Node<T>*>(base);
        for (auto& in : node->inputs)  // read through earlier products by one
            for (auto it = same_as.find(Access::id(in)); it != same_as.end(); it = same_as.find(Access::id(in)))
                in = it->second;
        if (node->name != "mul" || node->inputs.size() != 2) continue;
        for (std::size_t k = 0; k < 2; ++k) {
            const auto &one = node->inputs[k], &other = node->inputs[1 - k];
            // (a buffer is read live by every replay: ones now need not be ones then)
            if (!one.requires_grad() && !Access::var(one).buffer && other.shape() == node->output.shape() &&
                all_ones(one)) {
                same_as.emplace(Access::id(node->output), other);
                break;
            }
        }
    }
}

template <class T>
ReplayPlan<T>::ReplayPlan(TapeState& tape, const TensorList<T>& outputs, const TensorList<T>& vectors) {
    const std::size_t count = tape.nodes.size();
    simplify<T>(tape);  // (an output that is such a product keeps its node: it is still written)
    // Each node's inputs as node indices (constants have none), and what it feeds.
    std::vector<std::vector<std::size_t>> inputs(count), consumers(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (tape.nodes[i]->leaf) continue;
        for (auto& in : static_cast<Node<T>*>(tape.nodes[i])->inputs)
            if (auto k = node_index(tape, in)) {
                inputs[i].push_back(*k);
                consumers[*k].push_back(i);
            }
    }
    std::vector<char> is_output(count, 0), live(count, 0), varying(count, 0);
    for (auto& out : outputs)
        if (auto k = node_index(tape, out)) is_output[*k] = live[*k] = 1;
    for (std::size_t i = 0; i < count; ++i)  // a node with an effect (a draw, an assignment) always runs
        if (tape.nodes[i]->effect) live[i] = 1;
    for (std::size_t i = count; i-- > 0;)  // live: some output depends on it
        for (std::size_t c : consumers[i]) live[i] = live[i] || live[c];
    for (auto& v : vectors)
        if (auto k = node_index(tape, v)) varying[*k] = 1;
    for (std::size_t i = 0; i < count; ++i)
        for (std::size_t k : inputs[i]) varying[i] = varying[i] || varying[k];

    // Steps, in recording order, growing one group at a time.
    block_ = kBlock<T>;
    std::vector<std::size_t> step_of(count, std::size_t(-1));
    std::unordered_map<std::size_t, std::size_t> member_of;  // node -> member index, current group
    std::vector<std::size_t> group;                          // node indices of the current group
    std::size_t group_n = 0, slots = 0, operand_positions = 0, partials_size = 0;
    bool group_varying = false;
    auto node_size = [&](std::size_t i) { return var_of<T>(tape.nodes[i]).value.size(); };
    auto elementwise = [&](std::size_t i) {  // (expand's odometer holds 16 axes)
        return tape.nodes[i]->fusion == NodeBase::Fusion::elementwise && var_of<T>(tape.nodes[i]).value.dimension() <= 16;
    };

    auto flush = [&] {
        if (group.empty()) return;
        Step step;
        step.group = true;
        step.varying = group_varying;
        step.n = group_n;
        step.first_member = members_.size();
        step.members = group.size();
        // Which members must reach memory, and when each scratch block is free again.
        std::vector<std::size_t> last_use(group.size(), 0);
        for (std::size_t m = 0; m < group.size(); ++m)
            for (std::size_t k : inputs[group[m]])
                if (auto it = member_of.find(k); it != member_of.end()) last_use[it->second] = m;
        std::vector<std::size_t> free_slots;
        std::size_t used = 0;
        for (std::size_t m = 0; m < group.size(); ++m) {
            const std::size_t i = group[m];
            auto* node = static_cast<Node<T>*>(tape.nodes[i]);
            Member member;
            member.node = node;
            member.shape = node->output.shape();
            member.sum = node->fusion == NodeBase::Fusion::sum_all;
            if (member.sum) member.sum_index = step.sums++;
            member.output = is_output[i];
            member.materialize = member.sum || is_output[i] ||
                                 std::any_of(consumers[i].begin(), consumers[i].end(),
                                             [&](std::size_t c) { return live[c] && !member_of.count(c); });
            member.first_operand = operands_.size();
            member.operands = node->inputs.size();
            operand_positions = std::max(operand_positions, member.operands);
            for (auto& in : node->inputs) {
                Operand op;
                auto k = node_index(tape, in);
                if (auto it = k ? member_of.find(*k) : member_of.end(); it != member_of.end()) {
                    op.kind = Operand::member;  // resolved to scratch below when it stays in the group
                    op.index = step.first_member + it->second;
                } else {
                    op.value = &Access::var(in).value;
                    const std::size_t size = op.value->size();
                    const T* data = op.value->data();
                    if (!k && size > 1 && std::all_of(data, data + size, [&](T e) { return e == data[0]; })) {
                        op.kind = Operand::scalar;  // a constant of one value (a gradient's seed of ones)
                    } else if (size == group_n) {
                        op.kind = Operand::contiguous;
                    } else if (size == 1) {
                        op.kind = Operand::scalar;
                    } else {
                        op.kind = Operand::broadcast;
                        const Shape& out = node->output.shape();
                        const Shape& s = op.value->shape();
                        op.strides.assign(out.size(), 0);
                        for (std::size_t d = out.size(), stride = 1; d-- > 0;) {
                            std::size_t e = d + s.size() >= out.size() ? s[d + s.size() - out.size()] : 1;
                            op.strides[d] = e == 1 ? 0 : stride;
                            stride *= e;
                        }
                    }
                }
                operands_.push_back(std::move(op));
            }
            member.stream = member.materialize && !member.sum && group_n * sizeof(T) >= kStreamBytes;
            if ((!member.materialize && !member.sum) || member.stream) {
                if (free_slots.empty()) free_slots.push_back(used++);
                member.slot = free_slots.back();
                free_slots.pop_back();
                if (!member.stream) release(var_of<T>(node).value);  // it lives in scratch only
            }
            // a member read for the last time here frees its block (after this one took its own),
            // once: x * x reads x twice
            for (std::size_t a = 0; a < inputs[i].size(); ++a) {
                const std::size_t k = inputs[i][a];
                if (std::find(inputs[i].begin(), inputs[i].begin() + a, k) != inputs[i].begin() + a) continue;
                if (auto it = member_of.find(k); it != member_of.end() && last_use[it->second] == m) {
                    const Member& done = members_[step.first_member + it->second];
                    if ((!done.materialize && !done.sum) || done.stream) free_slots.push_back(done.slot);
                }
            }
            members_.push_back(member);
            step_of[i] = steps_.size();
        }
        for (std::size_t o = members_[step.first_member].first_operand; o < operands_.size(); ++o)
            if (operands_[o].kind == Operand::member &&
                (!members_[operands_[o].index].materialize || members_[operands_[o].index].stream)) {
                operands_[o].kind = Operand::scratch;
                operands_[o].index = members_[operands_[o].index].slot;
            }
        slots = std::max(slots, used);
        partials_size = std::max(partials_size, step.sums * ((group_n + block_ - 1) / block_));
        stats_.groups += 1;
        stats_.fused_nodes += group.size();
        steps_.push_back(std::move(step));
        group.clear();
        member_of.clear();
    };

    for (std::size_t i = 0; i < count; ++i) {
        NodeBase* node = tape.nodes[i];
        if (node->leaf || !live[i]) continue;
        ++stats_.nodes;
        const auto fusion = node->fusion;
        bool joins = false, depends = false;
        for (std::size_t k : inputs[i]) depends = depends || member_of.count(k);
        if (!group.empty() && bool(varying[i]) == group_varying) {
            bool reads_sum = false;
            for (std::size_t k : inputs[i])
                if (auto it = member_of.find(k); it != member_of.end())
                    reads_sum = reads_sum || tape.nodes[group[it->second]]->fusion == NodeBase::Fusion::sum_all;
            if (elementwise(i)) joins = node_size(i) == group_n && !reads_sum;
            if (fusion == NodeBase::Fusion::sum_all) joins = depends && !reads_sum;  // of a member: ends nothing yet
        }
        if (joins) {
            member_of[i] = group.size();
            group.push_back(i);
            continue;
        }
        if (depends || node->effect) flush();  // it needs the group's values; an effect keeps its place
        if (elementwise(i)) {
            flush();  // (a group it does not depend on, of another size: it is complete)
            group_n = node_size(i);
            group_varying = varying[i];
            member_of[i] = 0;
            group.push_back(i);
            continue;
        }
        // evaluated on its own, before the group being built (it does not depend on it)
        Step step;
        step.node = node;
        step.output = is_output[i];
        step.varying = varying[i];
        step_of[i] = steps_.size();
        steps_.push_back(std::move(step));
    }
    flush();

    // Release each intermediate after its last reader. A value computed by a full replay and
    // read by a vectors-only one is kept.
    for (std::size_t i = 0; i < count; ++i) {
        if (step_of[i] == std::size_t(-1) || is_output[i]) continue;
        Array<T>& value = var_of<T>(tape.nodes[i]).value;
        std::size_t last = step_of[i];
        bool keep = false;
        for (std::size_t c : consumers[i]) {
            if (!live[c]) continue;
            last = std::max(last, step_of[c]);
            keep = keep || (varying[c] && !varying[i]);
        }
        // (a group member read only inside its group lives in scratch: nothing to release)
        if (!keep && last != step_of[i]) steps_[last].release.push_back(&value);
    }

    // which leaves are read only by groups (bind() can redirect those reads)
    for (std::size_t i = 0; i < count; ++i) {
        NodeBase* node = tape.nodes[i];
        if (!node->leaf) continue;
        const Array<T>* value = &var_of<T>(node).value;
        std::vector<std::size_t> readers;
        for (std::size_t o = 0; o < operands_.size(); ++o)
            if (operands_[o].value == value) readers.push_back(o);
        leaf_operands_.emplace_back(value, std::move(readers));
        bool direct = is_output[i] != 0;
        for (std::size_t c : consumers[i]) direct = direct || (live[c] && !steps_[step_of[c]].group);
        if (direct) read_directly_.push_back(value);
    }

    region_ = (slots + operand_positions) * block_;
    scratch_ = Array<T>::from_shape({std::max<std::size_t>(1, region_)});
    broadcast_ = slots;
    partials_.assign(partials_size, T(0));
    part_nan_.assign(1, 0);
    stats_.steps = steps_.size();
    stats_.scratch_bytes = scratch_.size() * sizeof(T);
}

template <class T>
void ReplayPlan<T>::run(Part part) {
    nan_ = false;
    for (const Step& step : steps_) {
        if ((part == Part::vectors && !step.varying) || (part == Part::rest && step.varying)) continue;
        if (step.group) {
            run_group(step);
        } else {
            step.node->replay();
            if (step.output) nan_ = nan_ || has_nan(var_of<T>(step.node).value.data(), var_of<T>(step.node).value.size());
        }
        for (Array<T>* value : step.release) release(*value);
    }
}

// Lays out `len` elements of a broadcast operand, from flat output position `start`: the
// output's multi-index is advanced as an odometer, a run along the last axis at a time.
template <class T>
void ReplayPlan<T>::expand(const Operand& op, const Shape& out_shape, std::size_t start, std::size_t len,
                           T* dst) const {
    const std::size_t nd = out_shape.size();
    std::size_t index[16];
    for (std::size_t d = nd, rest = start; d-- > 0;) {
        index[d] = rest % out_shape[d];
        rest /= out_shape[d];
    }
    const T* src = op.value->data();
    const std::size_t inner = out_shape[nd - 1], inner_stride = op.strides[nd - 1];
    while (len > 0) {
        std::size_t offset = 0;
        for (std::size_t d = 0; d + 1 < nd; ++d) offset += index[d] * op.strides[d];
        const std::size_t run = std::min(len, inner - index[nd - 1]);
        const T* from = src + offset + index[nd - 1] * inner_stride;
        if (inner_stride)
            std::copy(from, from + run, dst);
        else
            std::fill(dst, dst + run, *from);
        dst += run;
        len -= run;
        index[nd - 1] = 0;
        for (std::size_t d = nd - 1; d-- > 0;) {
            if (++index[d] < out_shape[d]) break;
            index[d] = 0;
        }
    }
}

template <class T>
void ReplayPlan<T>::run_group(const Step& step) {
    const Member* members = members_.data() + step.first_member;
    for (std::size_t m = 0; m < step.members; ++m)
        if (members[m].materialize) {
            auto& out = Access::var(members[m].node->output);
            ensure_storage(out.value, members[m].shape);
        }
    const std::size_t blocks = (step.n + block_ - 1) / block_;
    const std::size_t parts = std::clamp<std::size_t>(blocks / kMinBlocksPerPart, 1, kMaxParts);
    const std::size_t threads =
        parts < kMinPartsToShare ? 1 : std::min<std::size_t>(std::max(1, xtgrad::num_threads()), parts);
    if (threads * region_ > scratch_.size()) {  // more threads than before: once, not per replay
        scratch_ = Array<T>::from_shape({threads * region_});
        stats_.scratch_bytes = scratch_.size() * sizeof(T);
    }
    if (part_nan_.size() < parts) part_nan_.resize(parts);
    std::fill(part_nan_.begin(), part_nan_.begin() + parts, 0);
    struct Loop {
        ReplayPlan* plan;
        const Step* step;
        std::size_t parts, blocks;
    } loop{this, &step, parts, blocks};
    run_parts(
        parts, threads,
        [](void* context, std::size_t part, std::size_t thread) {
            const Loop& l = *static_cast<const Loop*>(context);
            l.plan->run_blocks(*l.step, part, thread, part * l.blocks / l.parts, (part + 1) * l.blocks / l.parts);
        },
        &loop);
    for (std::size_t p = 0; p < parts; ++p) nan_ = nan_ || part_nan_[p];
    for (std::size_t m = 0; m < step.members; ++m)
        if (members[m].sum) {
            T s = T(0);  // block by block, in order: as one thread would have added them
            for (std::size_t b = 0; b < blocks; ++b) s += partials_[b * step.sums + members[m].sum_index];
            Access::var(members[m].node->output).value.data()[0] = s;
            nan_ = nan_ || (members[m].output && s != s);
        }
}

template <class T>
void ReplayPlan<T>::run_blocks(const Step& step, std::size_t part, std::size_t thread, std::size_t first,
                                std::size_t last) {
    const Member* members = members_.data() + step.first_member;
    const T* in[kMaxOperands];
    std::size_t stride[kMaxOperands];
    bool nan = false;
    for (std::size_t b = first; b < last; ++b) {
        const std::size_t start = b * block_, len = std::min(block_, step.n - start);
        for (std::size_t m = 0; m < step.members; ++m) {
            const Member& member = members[m];
            const Operand* ops = operands_.data() + member.first_operand;
            for (std::size_t k = 0; k < member.operands; ++k) {
                const Operand& op = ops[k];
                stride[k] = 1;
                switch (op.kind) {
                    case Operand::scratch: in[k] = slot(thread, op.index); break;
                    case Operand::member:
                        in[k] = Access::var(members_[op.index].node->output).value.data() + start;
                        break;
                    case Operand::contiguous: in[k] = op.value->data() + start; break;
                    case Operand::scalar:
                        in[k] = op.value->data();
                        stride[k] = 0;
                        break;
                    case Operand::broadcast: {
                        T* dst = slot(thread, broadcast_ + k);
                        expand(op, member.shape, start, len, dst);
                        in[k] = dst;
                        break;
                    }
                }
            }
            if (member.sum) {
                partials_[b * step.sums + member.sum_index] = sum_all(in[0], len);
                continue;
            }
            const bool direct = member.materialize && !member.stream;
            T* out = direct ? Access::var(member.node->output).value.data() + start : slot(thread, member.slot);
            member.node->block(in, stride, out, len);
            if (member.output) nan = nan || has_nan(out, len);  // while the block is in cache
            if (member.stream) stream_copy(out, Access::var(member.node->output).value.data() + start, len);
        }
    }
#if defined(__AVX__)
    _mm_sfence();  // this thread's streaming stores are visible before anything reads them
#endif
    part_nan_[part] = nan;
}

template <class T>
bool ReplayPlan<T>::bindable(const Array<T>* leaf) const {
    return std::find(read_directly_.begin(), read_directly_.end(), leaf) == read_directly_.end() &&
           std::any_of(leaf_operands_.begin(), leaf_operands_.end(), [&](auto& l) { return l.first == leaf; });
}

template <class T>
void ReplayPlan<T>::bind(const Array<T>* leaf, const Array<T>* source) {
    for (auto& [value, readers] : leaf_operands_)
        if (value == leaf)
            for (std::size_t o : readers) operands_[o].value = source;
    bound_ = true;
}

template <class T>
void ReplayPlan<T>::unbind() noexcept {
    if (!bound_) return;
    for (auto& [value, readers] : leaf_operands_)
        for (std::size_t o : readers) operands_[o].value = value;
    bound_ = false;
}

template class ReplayPlan<float>;
template class ReplayPlan<double>;

}  // namespace xtgrad::detail
