// The collective timeout: a thread that watches this process's blocking MPI calls and ends
// the job when one waits longer than the timeout (torch.distributed's and NCCL's watchdog).
// A rank that stalls, leaves early, or calls another collective than the others would
// otherwise leave them blocked for ever; MPI itself never gives up.
#pragma once

#include <chrono>

namespace xtgrad::dist::detail {

/// The timeout of every blocking call from now on; zero or negative: none (the default is
/// Environment's, 300 s).
void set_collective_timeout(std::chrono::duration<double> timeout);

/// Marks this process as waiting in `collective` (rank `rank` of `size`) for its lifetime.
/// Nested watches keep the outermost. When the wait passes the timeout, the watchdog prints
/// which collective waited and since when, and aborts the job (MPI_Abort).
class Watch {
public:
    Watch(const char* collective, int rank, int size);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

private:
    bool outermost_ = false;
};

}  // namespace xtgrad::dist::detail
