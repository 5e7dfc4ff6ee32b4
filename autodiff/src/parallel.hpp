// xtgrad's own parallel loops (a replay's fused groups, replay_plan.cpp): a few parts of one
// loop run at once, the calling thread taking part 0 and workers the others.
//
// The workers are started on first use and kept for the life of the process, so that a
// steady-state loop makes no allocation and pays only a wake-up (a condition variable: no
// thread spins, which on 2 cores would take the core BLAS's threads need). One loop runs at
// a time; a loop started while another runs (from another thread) runs its parts itself, in
// order, so callers never wait for each other and never deadlock.
#pragma once

#include <cstddef>

namespace xtgrad::detail {

/// Runs body(context, part) for every part in [0, parts) and returns when all have finished.
/// Parts must not depend on one another's order. An exception thrown by a part is rethrown
/// here, after every part has finished.
void run_parts(std::size_t parts, void (*body)(void* context, std::size_t part), void* context);

}  // namespace xtgrad::detail
