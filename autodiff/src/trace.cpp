// What a compiled function's trace asks of the thread (trace.hpp): which scopes are open, whether
// an op's forward function is running, whether host reads of traced values are refused, and
// which flags the trace depends on.
#include <fmt/format.h>

#include "tape.hpp"

namespace xtgrad::detail {

namespace {
thread_local int forward_depth = 0;   // EvaluatingForward scopes open
thread_local int frozen_reads = 0;    // FrozenReads scopes open
thread_local std::string scope_path;  // NamedScope: "features.2 (BatchNorm2d)"
thread_local std::vector<std::pair<std::string, std::string>> scope_stack;  // name, kind

// The names joined by dots, then the innermost kind: "features.2 (BatchNorm2d)".
void rebuild_scope_path() {
    scope_path.clear();
    std::string kind;
    for (auto& [name, k] : scope_stack) {
        if (!name.empty()) scope_path += (scope_path.empty() ? "" : ".") + name;
        if (!k.empty()) kind = k;
    }
    if (!kind.empty()) scope_path += (scope_path.empty() ? "(" : " (") + kind + ")";
}
}  // namespace

EvaluatingForward::EvaluatingForward() noexcept {
    ++forward_depth;
}
EvaluatingForward::~EvaluatingForward() {
    --forward_depth;
}

template <class T>
void check_read(const char* what, const Var<T>& v) {
    if (forward_depth > 0 || frozen_reads > 0) return;
    TapeState* tape = active_tape();
    if (tape == nullptr || !tape->tracing || !v.requires_grad || v.tape != tape || v.epoch != tape->epoch) return;
    const auto* node = static_cast<const Node<T>*>(tape->nodes[v.node]);
    std::string origin = node->leaf ? std::string("an input of the compiled function or a parameter it captures")
                                    : fmt::format("op '{}'", node->name);
    if (!node->scope.empty()) origin += fmt::format(" in {}", node->scope);
    throw TraceError(fmt::format(
        "{}: read the value of a tensor of shape {} computed by {} while compile traces the function; a "
        "recording replays ops, not host code, so a decision or a constant made from this value would be "
        "replayed as it is now. Keep the computation in ops (comparisons, where, clamp, maximum, ...), pass "
        "data that changes as an input, or read inside FrozenReads to freeze the value on purpose",
        what, to_string(v.value.shape()), origin));
}

#define XTGRAD_INSTANTIATE(T) template void check_read(const char*, const Var<T>&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad::detail

namespace xtgrad {

bool compiling() noexcept {
    return detail::tracing_active();
}

void trace_guard(const bool& flag) {
    if (!detail::tracing_active()) return;
    auto& guards = detail::active_tape()->guards;
    for (auto& [f, value] : guards)
        if (f == &flag) return;
    guards.emplace_back(&flag, flag);
}

FrozenReads::FrozenReads() {
    ++detail::frozen_reads;
}
FrozenReads::~FrozenReads() {
    --detail::frozen_reads;
}

NamedScope::NamedScope(std::string_view name, std::string_view kind) {
    if (!detail::tracing_active()) return;  // only traces keep scopes
    active_ = true;
    detail::scope_stack.emplace_back(std::string(name), std::string(kind));
    detail::rebuild_scope_path();
}

NamedScope::~NamedScope() {
    if (!active_) return;
    detail::scope_stack.pop_back();
    detail::rebuild_scope_path();
}

const std::string& detail::current_scope() noexcept {
    return detail::scope_path;
}

}  // namespace xtgrad
