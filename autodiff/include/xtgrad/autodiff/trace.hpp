// What code run inside a compiled function's trace (compile.hpp) may ask of the trace.
//
// A trace runs the function once and records its ops; replays recompute those ops at new
// inputs. A value that host code reads while tracing (value(), item(), a mask converted to
// Array<bool>, printing) is a value of that one call: an `if` on it, or a constant made from
// it, would be replayed as it was (jax.jit's ConcretizationTypeError, torch.compile's graph
// break). So such a read is a TraceError naming the op that computed the tensor, unless made
// inside `FrozenReads`, which says the freezing is meant.
#pragma once

#include <string>
#include <string_view>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad {

template <class T>
class BasicTensor;

/// Whether this thread is tracing a compiled function (torch.compiler.is_compiling()).
bool compiling() noexcept;

/// Says that the function being traced depends on `flag` (a module's training mode): a
/// compiled function keeps one recording per value of every such flag and picks the one made
/// with the flags' current values, tracing anew on a miss (torch.compile's guards). The flag
/// must outlive the compiled function. Nothing outside a trace.
void trace_guard(const bool& flag);

/// While alive, reading the value of a traced tensor is allowed: the value read is the one of
/// the trace, and whatever host code makes of it is a constant of the recording.
class FrozenReads {
public:
    FrozenReads();
    ~FrozenReads();
    FrozenReads(const FrozenReads&) = delete;
    FrozenReads& operator=(const FrozenReads&) = delete;
};

/// Names the ops recorded while alive (a module and its layer type, "features.2 (BatchNorm2d)"),
/// for the messages of a trace's errors and of CompileOptions::check. Scopes nest: the names
/// are joined by dots. Costs nothing outside a trace; modules open one in operator().
class NamedScope {
public:
    /// `name`: the part of the path this scope adds; `kind`: what it is (the layer's type),
    /// shown after the path of the innermost scope that has one.
    explicit NamedScope(std::string_view name, std::string_view kind = {});
    ~NamedScope();
    NamedScope(const NamedScope&) = delete;
    NamedScope& operator=(const NamedScope&) = delete;

private:
    bool active_ = false;
};

namespace detail {
/// The value without the trace's check: for the library's own reads that only validate (a
/// domain check whose failure a replay finds again by the NaN it leaves) or that run inside an
/// op's forward function, which a replay calls again.
template <class T>
const Array<T>& unchecked_value(const BasicTensor<T>& t);
/// "features.2 (BatchNorm2d)": the scopes open on this thread, empty when none is.
const std::string& current_scope() noexcept;
}  // namespace detail

}  // namespace xtgrad
