// Tensors, the tape they are recorded on, and the switches that control recording.
//
// A tensor is a cheap handle (one shared pointer) to a value and, when it requires a
// gradient, to its place on a tape. The tape records one node per op in execution
// order; backward is a single reverse sweep over that list. A tape is an RAII scope:
// constructing one makes it the thread's active tape, destroying it releases every
// node in one step and restores the previously active tape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad {

namespace detail {
template <class T>
struct Var;
struct TapeState;
struct Access;
}  // namespace detail

/// A differentiable tensor of float (`Tensor32`) or double (`Tensor`) values.
///
/// Leaves are made with `parameter` (gradient wanted) or `constant` (no gradient).
/// Every op on tensors that require a gradient is recorded on the active `Tape`.
/// Tensors of different dtypes never mix: `Tensor + Tensor32` does not compile.
template <class T>
class BasicTensor {
public:
    using value_type = T;

    /// An undefined tensor (`defined()` is false); every op on it throws.
    BasicTensor() = default;

    /// A leaf whose gradient is wanted: `backward()` accumulates into `grad()`.
    static BasicTensor parameter(Array<T> value);
    /// A leaf that needs no gradient (data, labels, fixed coefficients).
    static BasicTensor constant(Array<T> value);
    /// A constant that is module state (BatchNorm's running statistics): as `constant`, except
    /// that a compiled function's trace records it as a leaf, so that every replay reads its
    /// current value (a plain constant is a constant of the recording).
    static BasicTensor buffer(Array<T> value);
    /// A 0-dimensional constant.
    static BasicTensor scalar(T value);
    /// Leaves from values in row-major order and a shape, in one call: from a std::vector or
    /// any contiguous buffer (`std::span(pointer, count)`), or a braced list:
    /// `Tensor::parameter({1, 2, 3, 4, 5, 6}, {2, 3})`. The values are copied; their count
    /// must be the shape's number of elements (ShapeError otherwise).
    static BasicTensor parameter(std::span<const T> values, const Shape& shape);
    static BasicTensor parameter(std::initializer_list<T> values, const Shape& shape);
    static BasicTensor constant(std::span<const T> values, const Shape& shape);
    static BasicTensor constant(std::initializer_list<T> values, const Shape& shape);

    bool defined() const noexcept { return static_cast<bool>(var_); }
    /// Whether both are handles to one tensor (PyTorch's Tensor.is_same).
    bool is_same(const BasicTensor& other) const noexcept { return var_ == other.var_; }
    bool requires_grad() const;
    /// True for tensors made by `parameter`/`constant`, false for op results.
    bool is_leaf() const;

    /// The value. Remains readable after the tape that recorded the tensor is released.
    const Array<T>& value() const;
    const Shape& shape() const;
    std::size_t size() const;
    std::size_t dim() const;
    /// The single value of a tensor with one element.
    T item() const;

    /// Whether `backward()` has written a gradient into this leaf.
    bool has_grad() const;
    /// The accumulated gradient of a leaf (throws if there is none yet).
    const Array<T>& grad() const;
    /// Mutable access to the accumulated gradient (gradient clipping); throws if there is none.
    Array<T>& mutable_grad();
    /// Forgets the accumulated gradient of a leaf.
    void zero_grad();
    /// Replaces the gradient of a parameter (PyTorch's `p.grad = g`: what a data-parallel
    /// all-reduce writes back); the shape must be the parameter's.
    void set_grad(Array<T> gradient);

    /// Reverse sweep from this scalar, accumulating into the leaves' `grad()`. As in PyTorch,
    /// the graph swept is freed afterwards unless `retain_graph`: its memory returns at once,
    /// a second backward through it is a TapeError, and once every graph on the tape has
    /// been freed the tape releases itself (a training loop stays in flat memory even with one
    /// Tape outside the loop and no release()).
    void backward(bool retain_graph = false) const;
    /// Reverse sweep seeded with `seed` (same shape as this tensor).
    void backward(const BasicTensor& seed, bool retain_graph = false) const;

    /// A constant with the same value: the result is cut from the tape.
    BasicTensor detach() const;

    /// Overwrites the value of a parameter (what optimizers do); the shape must stay.
    /// Throws for op results, whose value is fixed by the tape.
    void set_value(Array<T> value);
    /// Mutable access to a parameter's value for in-place updates; same rules as `set_value`.
    Array<T>& mutable_value();
    /// Writes the value of `value` into this leaf, without a gradient (PyTorch's
    /// `with torch.no_grad(): t.copy_(value)`); the shapes must agree. Inside a compiled
    /// function's trace it is a recorded node with an effect: every replay writes again, as an
    /// eager call would (how BatchNorm's running statistics move in compiled training).
    void assign(const BasicTensor& value);

private:
    friend struct detail::Access;
    explicit BasicTensor(std::shared_ptr<detail::Var<T>> var) : var_(std::move(var)) {}
    std::shared_ptr<detail::Var<T>> var_;
};

using Tensor = BasicTensor<double>;
using Tensor32 = BasicTensor<float>;

extern template class BasicTensor<float>;
extern template class BasicTensor<double>;

/// Prints the values as numpy does (summarised with "..." beyond 1000 elements, three at each
/// edge) followed by the shape, the dtype and whether a gradient is wanted:
/// `tensor([[1, 2], [3, 4]], shape=[2,2], dtype=float64, requires_grad=true)`.
template <class T>
std::ostream& operator<<(std::ostream& os, const BasicTensor<T>& t);
extern template std::ostream& operator<<(std::ostream&, const BasicTensor<float>&);
extern template std::ostream& operator<<(std::ostream&, const BasicTensor<double>&);

/// The recording of a computation. Constructing a tape makes it the active tape of the
/// calling thread until it is destroyed; tapes nest (the innermost is active). A tape
/// belongs to the thread that made it. Not copyable, not movable.
class Tape {
public:
    Tape();
    ~Tape();
    Tape(const Tape&) = delete;
    Tape& operator=(const Tape&) = delete;

    /// Frees every node in one step. The tape stays active and empty; tensors recorded
    /// before keep their values, but using them in an op or a derivative throws `TapeError`.
    void release();
    /// Number of nodes recorded since construction or the last `release()`.
    std::size_t size() const;
    /// Bytes of node storage the tape holds (kept across `release()` for reuse).
    std::size_t arena_bytes() const;
    /// In diagnostic mode each node also keeps its forward function, so that
    /// `gradcheck` can check every node's local derivative and name the faulty one.
    void set_diagnostic(bool on);

private:
    friend struct detail::Access;
    std::unique_ptr<detail::TapeState> state_;
};

/// While alive, ops record nothing and return constants (like `torch::NoGradGuard`).
class NoGrad {
public:
    NoGrad();
    ~NoGrad();
    NoGrad(const NoGrad&) = delete;
    NoGrad& operator=(const NoGrad&) = delete;

private:
    bool previous_;
};

/// Whether ops currently record (false inside a `NoGrad` scope).
bool grad_enabled() noexcept;

/// While alive, every op checks what it computes (like `torch::autograd::detect_anomaly`):
/// a forward value with a NaN that its inputs did not have throws DomainError naming the op
/// and the index; a gradient with a NaN returned by an op's backward rule throws GradError
/// naming the op. Costs one pass over every result; meant for debugging.
class DetectAnomaly {
public:
    DetectAnomaly();
    ~DetectAnomaly();
    DetectAnomaly(const DetectAnomaly&) = delete;
    DetectAnomaly& operator=(const DetectAnomaly&) = delete;

private:
    bool previous_;
};

/// Whether anomaly detection is on for this thread.
bool anomaly_detection_enabled() noexcept;

}  // namespace xtgrad
