// xtgrad's own parallel loops (a replay's fused groups, replay_plan.cpp): the parts of a loop
// are taken in order by the calling thread and by workers as they wake.
//
// The workers are started on first use and kept for the life of the process, so that a
// steady-state loop makes no allocation. They sleep on a condition variable between loops (no
// thread spins, which on 2 cores would take the core BLAS's threads need), and waking one
// takes tens of microseconds on a VM: so the caller never waits for a worker to wake. It
// takes parts itself from the start, and a part no worker has taken by then it runs too; it
// waits only for parts a worker is running. A small loop thus costs one notification more
// than a serial one, and a large one is shared between the threads. One loop runs at a time; a
// loop started while another runs (from another thread) runs its parts itself, in order, so
// callers never wait for each other and never deadlock.
#pragma once

#include <cstddef>

namespace xtgrad::detail {

/// Runs body(context, part, thread) for every part in [0, parts), on the calling thread
/// (thread 0) and up to threads - 1 workers (threads 1, 2, ...), and returns when all have
/// finished. Parts must not depend on one another's order; `thread` tells which thread's
/// scratch a part may use (no two parts run at once on the same one). An exception thrown by
/// a part is rethrown here, after every part taken has finished.
void run_parts(std::size_t parts, std::size_t threads,
               void (*body)(void* context, std::size_t part, std::size_t thread), void* context);

}  // namespace xtgrad::detail
