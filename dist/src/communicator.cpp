// Typed collectives on xtgrad arrays over MPI. Each checked collective first agrees, by one
// small all-gather, that every process passes the same dtype, shape and arguments: a mismatch
// becomes the same CommunicationError on every rank instead of truncated messages or a hang.
#include "xtgrad/dist/communicator.hpp"

#include <algorithm>
#include <climits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comm_handle.hpp"
#include "fingerprint.hpp"

namespace xtgrad::dist {

namespace detail {

CommHandle::~CommHandle() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
}

std::string CommHandle::where(const char* collective) const {
    return fmt::format("dist::{} on rank {} of {}", collective, rank, size);
}

void CommHandle::check(int rc, const char* collective) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw CommunicationError(fmt::format("{}: MPI error: {}", where(collective), std::string(text, std::size_t(length))));
}

}  // namespace detail

namespace {

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
    return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
    return MPI_DOUBLE;
}

MPI_Op mpi_op(ReduceOp op) {
    switch (op) {
        case ReduceOp::max: return MPI_MAX;
        case ReduceOp::min: return MPI_MIN;
        case ReduceOp::sum:
        case ReduceOp::mean: return MPI_SUM;
    }
    return MPI_SUM;
}

const char* op_name(ReduceOp op) {
    switch (op) {
        case ReduceOp::sum: return "sum";
        case ReduceOp::mean: return "mean";
        case ReduceOp::max: return "max";
        case ReduceOp::min: return "min";
    }
    return "?";
}

std::uint64_t fingerprint(std::initializer_list<std::uint64_t> words, const Shape& shape = {}) {
    detail::Fingerprint f;
    for (auto w : words) f.word(w);
    return f.shape(shape).value();
}

// MPI counts are int: large arrays move in pieces.
constexpr std::size_t max_count = std::size_t(INT_MAX) / 2;

}  // namespace

int Communicator::rank() const {
    return handle_->rank;
}
int Communicator::size() const {
    return handle_->size;
}

void Communicator::barrier() const {
    handle_->call("barrier", [&] { return MPI_Barrier(handle_->comm); });
}

void Communicator::check_same(std::uint64_t value, const char* what, const std::string& description) const {
    const auto& h = *handle_;
    std::vector<std::uint64_t> all(std::size_t(h.size));
    h.call(what, [&] { return MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, h.comm); });
    if (std::all_of(all.begin(), all.end(), [&](std::uint64_t v) { return v == all.front(); })) return;
    std::vector<int> differ;
    for (std::size_t r = 0; r < all.size(); ++r)
        if (all[r] != all.front()) differ.push_back(int(r));
    throw CommunicationError(fmt::format("{}: the processes disagree on {}: ranks {} differ from rank 0",
                                         h.where(what), description, fmt::join(differ, ", ")));
}

namespace {
// Every rank's dtype and shape, for the message of a collective called with different ones.
std::string layouts_of_all(const detail::CommHandle& h, std::size_t dtype_bytes, const Shape& shape, const char* what) {
    constexpr std::size_t slots = 10;  // the dtype's bytes, the rank count and up to eight extents
    std::vector<std::uint64_t> mine(slots, 0), all(slots * std::size_t(h.size));
    mine[0] = dtype_bytes;
    mine[1] = shape.size();
    for (std::size_t i = 0; i < std::min<std::size_t>(shape.size(), slots - 2); ++i) mine[i + 2] = shape[i];
    h.call(what, [&] {
        return MPI_Allgather(mine.data(), int(slots), MPI_UINT64_T, all.data(), int(slots), MPI_UINT64_T, h.comm);
    });
    std::vector<std::string> parts;
    for (int r = 0; r < h.size; ++r) {
        const std::uint64_t* s = all.data() + std::size_t(r) * slots;
        std::vector<std::uint64_t> extents(s + 2, s + 2 + std::min<std::uint64_t>(s[1], slots - 2));
        parts.push_back(fmt::format("rank {} {} [{}{}]", r, s[0] == 4 ? "float32" : "float64", fmt::join(extents, ","),
                                    s[1] > slots - 2 ? ",..." : ""));
    }
    return fmt::format("{}", fmt::join(parts, ", "));
}

// Agrees on dtype, shape and arguments before data moves, in one small all-gather; only when
// they differ do further gathers find which, so that every rank throws the same error.
template <class T>
void agree(const Communicator& c, const detail::CommHandle& h, const char* what, const Shape& shape,
           std::initializer_list<std::uint64_t> arguments) {
    const std::uint64_t layout = fingerprint({sizeof(T)}, shape), given = fingerprint(arguments);
    try {
        c.check_same(fingerprint({layout, given}), what, "the shapes, dtypes or arguments");
        return;
    } catch (const CommunicationError&) {  // every rank is here
    }
    try {
        c.check_same(layout, what, "the shapes or dtypes");
    } catch (const CommunicationError&) {
        throw CommunicationError(fmt::format("{}: the processes pass different shapes or dtypes: {}", h.where(what),
                                             layouts_of_all(h, sizeof(T), shape, what)));
    }
    c.check_same(given, what, "the arguments (root, operation)");
}
}  // namespace

template <class T>
void Communicator::broadcast(Array<T>& values, int root) const {
    const auto& h = *handle_;
    if (root < 0 || root >= h.size)
        throw CommunicationError(fmt::format("{}: root {} is not a rank", h.where("broadcast"), root));
    check_same(fingerprint({sizeof(T), std::uint64_t(root)}), "broadcast", "the dtype or the root");
    std::uint64_t rank_count = values.dimension();
    h.call("broadcast", [&] { return MPI_Bcast(&rank_count, 1, MPI_UINT64_T, root, h.comm); });
    std::vector<std::uint64_t> extents(values.shape().begin(), values.shape().end());
    extents.resize(rank_count);
    h.call("broadcast", [&] { return MPI_Bcast(extents.data(), int(rank_count), MPI_UINT64_T, root, h.comm); });
    if (h.rank != root) {
        Shape shape(extents.begin(), extents.end());
        if (values.shape() != shape) values = Array<T>::from_shape(shape);
    }
    for (std::size_t start = 0; start < values.size(); start += max_count)
        h.call("broadcast", [&] {
            return MPI_Bcast(values.data() + start, int(std::min(max_count, values.size() - start)), mpi_type<T>(),
                             root, h.comm);
        });
}

template <class T>
void Communicator::all_reduce_unchecked(std::span<T> values, ReduceOp op, const char* collective) const {
    const auto& h = *handle_;
    for (std::size_t start = 0; start < values.size(); start += max_count)
        h.call(collective, [&] {
            return MPI_Allreduce(MPI_IN_PLACE, values.data() + start, int(std::min(max_count, values.size() - start)),
                                 mpi_type<T>(), mpi_op(op), h.comm);
        });
    if (op == ReduceOp::mean)
        for (auto& v : values) v /= static_cast<T>(h.size);
}

template <class T>
void Communicator::all_reduce(Array<T>& values, ReduceOp op) const {
    agree<T>(*this, *handle_, "all_reduce", values.shape(), {std::uint64_t(op)});
    all_reduce_unchecked(std::span<T>(values.data(), values.size()), op, "all_reduce");
}

double Communicator::all_reduce(double value, ReduceOp op) const {
    const auto& h = *handle_;
    check_same(std::uint64_t(op), "all_reduce", fmt::format("the operation (this rank: {})", op_name(op)));
    h.call("all_reduce", [&] { return MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, mpi_op(op), h.comm); });
    return op == ReduceOp::mean ? value / h.size : value;
}

template <class T>
Array<T> Communicator::all_gather(const Array<T>& values) const {
    const auto& h = *handle_;
    agree<T>(*this, h, "all_gather", values.shape(), {});
    if (values.size() > max_count)
        throw CommunicationError(fmt::format("{}: {} elements per rank exceed what one MPI message carries ({})",
                                             h.where("all_gather"), values.size(), max_count));
    Shape shape{std::size_t(h.size)};
    shape.insert(shape.end(), values.shape().begin(), values.shape().end());
    Array<T> out = Array<T>::from_shape(shape);
    h.call("all_gather", [&] {
        return MPI_Allgather(values.data(), int(values.size()), mpi_type<T>(), out.data(), int(values.size()),
                             mpi_type<T>(), h.comm);
    });
    return out;
}

template void Communicator::broadcast(Array<float>&, int) const;
template void Communicator::broadcast(Array<double>&, int) const;
template void Communicator::all_reduce(Array<float>&, ReduceOp) const;
template void Communicator::all_reduce(Array<double>&, ReduceOp) const;
template Array<float> Communicator::all_gather(const Array<float>&) const;
template Array<double> Communicator::all_gather(const Array<double>&) const;
template void Communicator::all_reduce_unchecked(std::span<float>, ReduceOp, const char*) const;
template void Communicator::all_reduce_unchecked(std::span<double>, ReduceOp, const char*) const;

}  // namespace xtgrad::dist
