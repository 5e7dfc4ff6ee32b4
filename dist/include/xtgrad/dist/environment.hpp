// MPI's lifetime as a scope: one Environment per process, created first in main.
//
//   int main(int argc, char** argv) {
//       xtgrad::dist::Environment env(argc, argv);   // under mpirun, or alone as one process
//       auto world = env.world();
//       ...
//   }
//
// A rank that fails must not leave the others waiting in a collective for ever. An exception
// that escapes main (or an Environment destroyed while one unwinds) prints the message with
// the rank and aborts every process of the job (MPI_Abort), so `mpirun` ends within seconds
// with the error instead of hanging. Catching an exception on one rank and returning
// normally would make MPI_Finalize wait for the others: let it escape, or use run().
//
// Nor may a rank that stalls, leaves early, or calls another collective than the others
// leave them waiting for ever: every blocking call is watched, and one that waits longer than
// the collective timeout (EnvironmentOptions::timeout, 5 minutes by default) prints which
// collective it waits in and since when, then aborts the job. torch.distributed's default is
// 30 minutes; a job on one machine knows sooner.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "xtgrad/dist/communicator.hpp"

namespace xtgrad::dist {

struct EnvironmentOptions {
    /// How long one collective (or MPI_Finalize) may wait for the other processes before the
    /// job is aborted with a message naming it; zero: wait for ever (MPI's own behaviour).
    std::chrono::duration<double> timeout = std::chrono::minutes(5);
};

class Environment {
public:
    /// Initialises MPI (with thread support for the calling thread only), unless the
    /// program already did, and sets the collective timeout (ValueError if negative or NaN).
    Environment(int& argc, char**& argv, const EnvironmentOptions& options = {});
    /// Finalises MPI if this Environment initialised it; aborts the job instead while an
    /// exception unwinds.
    ~Environment();
    Environment(const Environment&) = delete;
    Environment& operator=(const Environment&) = delete;

    /// All processes of the job, on a communicator of xtgrad's own (a duplicate of
    /// MPI_COMM_WORLD, so a library's messages never meet the program's).
    Communicator world() const;
    /// Prints `message` with this process's rank on stderr and ends every process of the job.
    [[noreturn]] static void abort(const std::string& message, int code = 1);

private:
    bool owns_mpi_ = false;
    int uncaught_at_start_ = 0;
};

/// Runs body(world) in an Environment and returns its exit code; an exception escaping body
/// on any rank is reported with that rank and aborts the job (exit code 1, never a hang).
int run(int& argc, char**& argv, const std::function<int(Communicator& world)>& body,
        const EnvironmentOptions& options = {});

}  // namespace xtgrad::dist
