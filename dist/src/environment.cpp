// MPI_Init and MPI_Finalize as a scope, and the rule that a failing rank takes the job down
// with it (MPI_Abort) instead of leaving the others blocked in a collective.
#include "xtgrad/dist/environment.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <fmt/format.h>

#include "comm_handle.hpp"
#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::dist {

namespace {

bool mpi_running() {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

[[noreturn]] void on_terminate() {
    std::string what = "std::terminate was called";
    if (auto error = std::current_exception()) {
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            what = fmt::format("uncaught exception: {}", e.what());
        } catch (...) {
            what = "uncaught exception of a type not derived from std::exception";
        }
    }
    Environment::abort(what);
}

}  // namespace

Environment::Environment(int& argc, char**& argv, const EnvironmentOptions& options)
    : uncaught_at_start_(std::uncaught_exceptions()) {
    if (!(options.timeout.count() >= 0))
        throw ValueError(fmt::format("dist::Environment: the collective timeout must be >= 0 seconds, got {}",
                                     options.timeout.count()));
    detail::set_collective_timeout(options.timeout);
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        int rc = MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS)
            throw CommunicationError(fmt::format("dist::Environment: MPI_Init_thread failed ({})", rc));
        owns_mpi_ = true;
    }
    std::set_terminate(on_terminate);
}

Environment::~Environment() {
    if (std::uncaught_exceptions() > uncaught_at_start_)
        abort("an exception is unwinding through dist::Environment; the other ranks cannot go on without this one");
    if (owns_mpi_ && mpi_running()) {
        int rank = 0, size = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        detail::Watch watch("MPI_Finalize", rank, size);  // it waits for every other process
        MPI_Finalize();
    }
}

Communicator Environment::world() const {
    auto handle = std::make_shared<detail::CommHandle>();
    int rc;
    {
        int rank = 0, size = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        detail::Watch watch("MPI_Comm_dup", rank, size);  // collective: every process must call world()
        rc = MPI_Comm_dup(MPI_COMM_WORLD, &handle->comm);
    }
    if (rc != MPI_SUCCESS)
        throw CommunicationError(fmt::format("dist::Environment::world: MPI_Comm_dup failed ({})", rc));
    // Errors come back as codes, which CommHandle::check turns into exceptions.
    MPI_Comm_set_errhandler(handle->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(handle->comm, &handle->rank);
    MPI_Comm_size(handle->comm, &handle->size);
    return Communicator(std::move(handle));
}

void Environment::abort(const std::string& message, int code) {
    if (!mpi_running()) {
        std::fprintf(stderr, "xtgrad::dist: %s\n", message.c_str());
        std::fflush(stderr);
        std::_Exit(code);
    }
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::fprintf(stderr, "xtgrad::dist: rank %d of %d failed: %s; aborting every process of the job\n", rank, size,
                 message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it did
}

int run(int& argc, char**& argv, const std::function<int(Communicator& world)>& body,
        const EnvironmentOptions& options) {
    Environment environment(argc, argv, options);
    Communicator world = environment.world();
    try {
        return body(world);
    } catch (const std::exception& e) {
        Environment::abort(e.what());
    } catch (...) {
        Environment::abort("an exception of a type not derived from std::exception");
    }
}

}  // namespace xtgrad::dist
