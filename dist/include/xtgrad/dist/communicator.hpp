// Processes and their collectives over MPI: the transport Horovod and most HPC training use.
// Every collective is typed on xtgrad arrays, checks that all processes pass the same shape
// before any data moves, and turns an MPI failure into a CommunicationError naming the
// collective and the rank. MPI itself stays inside the library: this header does not
// include <mpi.h>.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad::dist {

/// A collective that failed or was called inconsistently (shapes that differ across ranks,
/// a root that does not exist, an MPI error); the message names the collective and the rank.
struct CommunicationError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class ReduceOp { sum, mean, max, min };

namespace detail {
struct CommHandle;
}

/// A group of processes (MPI_COMM_WORLD's duplicate from Environment::world()). Cheap to
/// copy: copies share the handle. Every process of the group must call each collective in
/// the same order; the reductions give every process the same bits (MPI's ring and
/// recursive-doubling algorithms combine each element in one place and send it on).
class Communicator {
public:
    int rank() const;
    int size() const;
    void barrier() const;

    /// Sends `root`'s array to every process; receivers take root's shape.
    template <class T>
    void broadcast(Array<T>& values, int root = 0) const;
    /// Combines the arrays of all processes elementwise, in place; every process gets the result.
    template <class T>
    void all_reduce(Array<T>& values, ReduceOp op = ReduceOp::sum) const;
    /// The arrays of all processes stacked along a new first axis: [size(), ...shape].
    template <class T>
    Array<T> all_gather(const Array<T>& values) const;
    /// A number combined over all processes (losses, counts, metrics).
    double all_reduce(double value, ReduceOp op = ReduceOp::sum) const;

    /// all_reduce on raw memory without the shape check: the caller vouches that every
    /// process passes the same length (DataParallel's gradient buckets, checked once).
    template <class T>
    void all_reduce_unchecked(std::span<T> values, ReduceOp op, const char* collective) const;

    /// Throws CommunicationError, on every process, unless all pass the same value; `what`
    /// names the collective and `description` says what the value stands for.
    void check_same(std::uint64_t value, const char* what, const std::string& description) const;

private:
    friend class Environment;
    explicit Communicator(std::shared_ptr<detail::CommHandle> handle) : handle_(std::move(handle)) {}
    std::shared_ptr<detail::CommHandle> handle_;
};

extern template void Communicator::broadcast(Array<float>&, int) const;
extern template void Communicator::broadcast(Array<double>&, int) const;
extern template void Communicator::all_reduce(Array<float>&, ReduceOp) const;
extern template void Communicator::all_reduce(Array<double>&, ReduceOp) const;
extern template Array<float> Communicator::all_gather(const Array<float>&) const;
extern template Array<double> Communicator::all_gather(const Array<double>&) const;
extern template void Communicator::all_reduce_unchecked(std::span<float>, ReduceOp, const char*) const;
extern template void Communicator::all_reduce_unchecked(std::span<double>, ReduceOp, const char*) const;

}  // namespace xtgrad::dist
