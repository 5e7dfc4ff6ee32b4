// Threads used by xtgrad's BLAS calls and by the fused groups of compiled replays (recording.hpp);
// eager evaluation's own kernels run on the calling thread.
#pragma once

namespace xtgrad {

/// Sets the number of threads BLAS may use for matrix products, and a replay's fused
/// elementwise groups (>= 1). The default is BLAS's (OPENBLAS_NUM_THREADS, else every core).
/// A replay's results do not depend on it, bit for bit.
void set_num_threads(int n);
/// The number of threads BLAS and replays may use.
int num_threads();

}  // namespace xtgrad
