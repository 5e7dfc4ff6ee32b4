// Threads used by xtgrad's BLAS calls (xtgrad's own kernels run on the calling thread).
#pragma once

namespace xtgrad {

/// Sets the number of threads BLAS may use for matrix products (>= 1).
void set_num_threads(int n);
/// The number of threads BLAS may use.
int num_threads();

}  // namespace xtgrad
