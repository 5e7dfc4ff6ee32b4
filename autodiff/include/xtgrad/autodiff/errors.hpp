// Typed exceptions. Every message names the op and the shapes or values at fault,
// e.g. "matmul: [32,10] x [5,10]: inner dimensions 10 and 5 differ".
#pragma once

#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace xtgrad {

/// Shapes that do not fit together (broadcasting, matmul, reshape, ...).
struct ShapeError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

/// An argument out of range: an axis, an index, a label, a tolerance, an empty tensor.
struct ValueError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

/// An input outside an op's domain, which would otherwise produce NaN
/// (log of a negative number, sqrt of a negative number, 0/0, ...).
struct DomainError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

/// Misuse of tapes: no active tape, a tensor from a released tape, tensors of two tapes mixed.
struct TapeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A derivative that cannot be taken as asked: backward on a non-scalar without a seed,
/// a gradient with respect to a tensor that is not on the path, a bad custom-op rule.
struct GradError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A compiled function's replay differs from a fresh trace of the function (control flow or
/// captured values that depend on the inputs), found by CompileOptions::check.
struct TraceError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A file that cannot be read or written, or whose content is damaged, truncated or of
/// the wrong kind (CSV data, checkpoints).
struct IoError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Memory that cannot be had: a result larger than the machine can hold (an op names itself
/// and its input shapes), or a LAPACK workspace that could not be allocated. PyTorch's "not
/// enough memory: you tried to allocate N bytes". A std::bad_alloc, so that handlers of that
/// still catch it.
struct MemoryError : std::bad_alloc {
    explicit MemoryError(std::string message) : message_(std::move(message)) {}
    const char* what() const noexcept override { return message_.c_str(); }

private:
    std::string message_;
};

}  // namespace xtgrad
