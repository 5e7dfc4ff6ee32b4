// The MPI communicator behind a dist::Communicator, and the checks every collective shares.
#pragma once

#include <mpi.h>

#include <string>

#include "watchdog.hpp"

namespace xtgrad::dist::detail {

struct CommHandle {
    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0;
    int size = 1;
    ~CommHandle();
    /// Throws CommunicationError naming `collective` and this rank when rc is not MPI_SUCCESS.
    void check(int rc, const char* collective) const;
    /// Makes the blocking MPI call `mpi()` under the collective timeout's watch, then checks it.
    template <class F>
    void call(const char* collective, F mpi) const {
        int rc;
        {
            Watch watch(collective, rank, size);
            rc = mpi();
        }
        check(rc, collective);
    }
    /// "<collective> on rank r of n": how every message of this communicator begins.
    std::string where(const char* collective) const;
};

}  // namespace xtgrad::dist::detail
