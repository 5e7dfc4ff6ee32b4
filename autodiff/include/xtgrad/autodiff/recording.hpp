// A recording: ops traced once on a tape of its own, then replayed in place at new values of
// its inputs (CppAD's ADFun, recorded once and evaluated at new points). compile() is built on
// it; so is optim's compiled curvature, which replays a Gauss-Newton product many times at one
// point. The replay is planned once (docs/design.md, "Compiled functions"): chains of
// elementwise ops are fused into blocked passes, intermediates are released after their last
// reader, and a steady-state replay makes no heap allocation.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xtgrad/autodiff/custom_op.hpp"  // TensorList
#include "xtgrad/autodiff/tensor.hpp"

namespace xtgrad {

/// What a replay was planned into (for tests, benchmarks and the curious).
struct RecordingStats {
    std::size_t nodes = 0;        ///< op nodes replayed
    std::size_t steps = 0;        ///< nodes evaluated alone plus fused groups
    std::size_t groups = 0;       ///< fused groups of elementwise nodes
    std::size_t fused_nodes = 0;  ///< nodes evaluated inside a group
    std::size_t scratch_bytes = 0;
};

template <class T>
class Recording {
public:
    /// The traced function: it receives the inputs and the vectors as parameters of the
    /// recording's tape and returns the outputs to keep (undefined ones are not allowed).
    using Body = std::function<TensorList<T>(const TensorList<T>& inputs, const TensorList<T>& vectors)>;

    /// Traces `body` at `inputs` and `vectors`. The vectors are inputs too, set apart so that
    /// replay_vectors() can recompute only what depends on them (a curvature product applied to
    /// many vectors at one point, as jax.linearize separates the linearisation from its use).
    /// Parameters the body captures are leaves read at their current values on every replay.
    Recording(Body body, const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& vectors = {});
    ~Recording();
    Recording(Recording&&) noexcept;
    Recording& operator=(Recording&&) noexcept;

    /// Sets input i (or vector i) for the next replay; ShapeError if the shape is not the traced one.
    void set_input(std::size_t i, const Array<T>& value);
    void set_vector(std::size_t i, const Array<T>& value);
    /// Recomputes every output from the current inputs, vectors and captured parameters.
    void replay();
    /// Recomputes every output at `inputs` (one per traced input, of its shape). An input read
    /// by fused groups alone is read where it is, without a copy; the recorded inputs keep the
    /// values set_input gave them.
    void replay(const std::vector<Array<T>>& inputs);
    /// Recomputes only what depends on the vectors; the rest keeps the values of the last
    /// replay() (or of the trace). Call replay() first whenever an input or a captured
    /// parameter changed.
    void replay_vectors();
    /// Recomputes what does not depend on the vectors (a new point: the loss and gradient of a
    /// curvature recording), leaving the rest for replay_vectors().
    void replay_except_vectors();

    std::size_t outputs() const;
    /// Output i after the last replay (or the trace); valid until the next replay.
    const Array<T>& output(std::size_t i) const;
    /// Output i into `into`: an output every replay recomputes is swapped with `into` (no copy;
    /// the next replay writes into `into`'s old storage when it has the shape), others are copied.
    void take_output(std::size_t i, Array<T>& into);
    RecordingStats stats() const;
    /// Whether the last replay wrote a NaN into an output (found as outputs are written).
    bool produced_nan() const;
    /// Whether every parameter the body captured still has the shape it was traced at. A
    /// replay after one changed (`mutable_value()` given another shape) is a TraceError: the
    /// plan was made for the old shapes; compile() traces again instead.
    bool captured_unchanged() const;
    /// Whether every flag the trace depended on (trace_guard) has its traced value now.
    bool guards_hold() const;
    /// For CompileOptions::check: evaluates every node of this recording and of `fresh` (the
    /// same function traced afresh at this recording's current inputs) one by one, in recording
    /// order, and describes the first that differs: its index, its op and the scope it was
    /// recorded in (NamedScope: the module). Empty when none differs. The replay plan is not
    /// used; this recording's intermediate values are left as the nodes computed them.
    std::string first_difference(Recording& fresh);
    /// Moves every generator the recording draws from (random.hpp) back by what one evaluation
    /// draws: to where the last replay (or the trace) started, so that another evaluation of
    /// the same function draws the same numbers (what CompileOptions::check needs).
    void rewind_generators();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// For the bodies of recordings: d out / d wrt (contracted with `seed`, ones when empty),
/// recorded (create_graph) so that a replay recomputes it; constant zeros where `out` does not
/// depend on `wrt`.
template <class T>
TensorList<T> recorded_grad(const BasicTensor<T>& out, const TensorList<T>& wrt, const TensorList<T>& seed = {});
/// sum_i sum(a_i * v_i) over the a_i that depend on something; undefined when none does.
template <class T>
BasicTensor<T> recorded_inner(const TensorList<T>& a, const TensorList<T>& v);

extern template class Recording<float>;
extern template class Recording<double>;

}  // namespace xtgrad
