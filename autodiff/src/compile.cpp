// Compiled functions: the function is traced once per kind and input shapes on a tape of the
// program's own, kept in diagnostic mode so that every node holds its forward function; the
// gradient and the Hessian-vector product are traced with it (create_graph), so their ops are
// nodes too. A replay writes the new inputs into the recorded leaves and recomputes every
// node in recording order, which is topological: the forward pass, then the backward one.
// Rules record what they derive from values (relu's step, abs's sign, the share of a tie)
// as nodes (derived_constant), so a replay recomputes those as well.
#include "xtgrad/autodiff/compile.hpp"

#include <cmath>
#include <limits>
#include <mutex>
#include <random>
#include <string>

#include <fmt/format.h>

#include "kernels.hpp"  // index_string
#include "xtgrad/autodiff/check.hpp"
#include "xtgrad/autodiff/derivatives.hpp"
#include "xtgrad/autodiff/ops.hpp"

namespace xtgrad {

using detail::Access;

namespace {

enum class Kind { value, grad, hvp, vjp, jvp };

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::value: return "value";
        case Kind::grad: return "value_and_grad";
        case Kind::hvp: return "hvp";
        case Kind::vjp: return "vjp";
        case Kind::jvp: return "jvp";
    }
    return "?";
}

// What a kind of evaluation returns, recorded on the active tape: [value] for value,
// [value, gradients...] for grad, [H v per input...] for hvp, [value, J^T u per input...] for
// vjp (vectors: u), [value, J t] for jvp (vectors: t per input, then a seed of the output's
// shape: J t is the derivative of <J^T seed, t> in the seed, which is linear in it).
template <class T>
TensorList<T> evaluation(Kind kind, const typename CompiledFunction<T>::Function& f, const TensorList<T>& inputs,
                         TensorList<T>& vectors, const TensorList<T>& wrt) {
    BasicTensor<T> out = f(inputs);
    if (!out.defined()) throw ValueError("compile: the function returned an undefined tensor");
    TensorList<T> r{out};
    switch (kind) {
        case Kind::value: return r;
        case Kind::vjp: {
            if (vectors[0].shape() != out.shape())
                throw ShapeError(fmt::format("compile: vjp with a cotangent of shape {} for an output of shape {}",
                                             to_string(vectors[0].shape()), to_string(out.shape())));
            auto jtu = recorded_grad(out, inputs, {vectors[0]});
            r.insert(r.end(), jtu.begin(), jtu.end());
            return r;
        }
        case Kind::jvp: {
            auto seed = BasicTensor<T>::parameter(Array<T>(xt::zeros<T>(out.shape())));
            vectors.push_back(seed);
            auto jtu = recorded_grad(out, inputs, {seed});
            r.push_back(recorded_grad(recorded_inner(jtu, vectors), {seed}, {})[0]);
            return r;
        }
        case Kind::grad:
        case Kind::hvp: break;
    }
    if (out.size() != 1)
        throw ShapeError(fmt::format("compile: {} needs a function with one element, got shape {}", kind_name(kind),
                                     to_string(out.shape())));
    if (kind == Kind::grad) {  // in the inputs, or in the captured parameters of a CompiledLoss
        auto g = recorded_grad(out, wrt.empty() ? inputs : wrt, {});
        r.insert(r.end(), g.begin(), g.end());
        return r;
    }
    return recorded_grad(recorded_inner(recorded_grad(out, inputs, {}), vectors), inputs, {});
}

template <class T>
std::vector<Array<T>> values_of(const TensorList<T>& tensors) {
    std::vector<Array<T>> out;
    for (auto& t : tensors) out.push_back(Access::var(t).value);
    return out;
}

}  // namespace

template <class T>
struct CompiledFunction<T>::Impl {
    struct Program {
        Kind kind;
        std::vector<Shape> shapes;  // of the inputs: with the kind, the cache key
        Recording<T> recording;
    };
    Function f;
    CompileOptions options;
    TensorList<T> wrt;  // CompiledLoss: the captured parameters its gradient is taken in
    std::vector<Program> cache;
    std::size_t traces = 0;
    // One call at a time: a recording's values and scratch are the call's. Uncontended, a lock
    // costs tens of nanoseconds against replays of microseconds at least (bench_compile).
    std::mutex mutex;

    // The recording of `kind` at these shapes, replayed at `inputs` and `v` (traced on a miss).
    Recording<T>& evaluate(Kind kind, const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& v) {
        if (kind == Kind::hvp || kind == Kind::jvp) {
            if (v.size() != inputs.size())
                throw ShapeError(fmt::format("compile: {} with {} vectors for {} inputs", kind_name(kind), v.size(),
                                             inputs.size()));
            for (std::size_t i = 0; i < v.size(); ++i)
                if (v[i].shape() != inputs[i].shape())
                    throw ShapeError(fmt::format("compile: {} vector {} has shape {}, its input {}", kind_name(kind), i,
                                                 to_string(v[i].shape()), to_string(inputs[i].shape())));
        }
        Program* p = find(kind, inputs);
        if (p != nullptr && !p->recording.captured_unchanged()) {
            // a captured parameter changed shape: the plan is for the old one (jax.jit retraces
            // on a new shape too)
            cache.erase(cache.begin() + (p - cache.data()));
            p = nullptr;
        }
        if (p == nullptr) {
            cache.push_back(Program{kind, shapes_of(inputs), trace(kind, inputs, v)});
            return cache.back().recording;  // the trace computed the outputs
        }
        if (kind == Kind::vjp && v[0].shape() != p->recording.output(0).shape())
            throw ShapeError(fmt::format("compile: vjp with a cotangent of shape {} for an output of shape {}",
                                         to_string(v[0].shape()), to_string(p->recording.output(0).shape())));
        for (std::size_t i = 0; i < v.size(); ++i) p->recording.set_vector(i, v[i]);  // (jvp's seed stays)
        p->recording.replay(inputs);
        if (options.check) {
            try {
                compare(kind, p->recording, inputs, v);
            } catch (const TraceError&) {
                cache.erase(cache.begin() + (p - cache.data()));  // (compare evaluated it node by node)
                throw;
            }
        }
        if (p->recording.produced_nan() && !has_nan(inputs) && !has_nan(v)) {
            // An op may have left its domain (log of a negative number): eager evaluation would
            // have said which. A replay does not run the ops' checks, so trace afresh, as eager
            // evaluation does, to raise that error; a NaN no op objects to stays, as eagerly.
            // (From where the replay's draws began, so that the generators end where they did.)
            p->recording.rewind_generators();
            trace(kind, inputs, v);
            --traces;
        }
        return p->recording;
    }

    static bool has_nan(const std::vector<Array<T>>& arrays) {
        for (auto& a : arrays)
            for (std::size_t k = 0; k < a.size(); ++k)
                if (std::isnan(a.data()[k])) return true;
        return false;
    }

    // A linear search that allocates nothing: a function has few recordings. A recording whose
    // guards (a module's training mode) have other values now is another function.
    Program* find(Kind kind, const std::vector<Array<T>>& inputs) {
        for (auto& p : cache) {
            if (p.kind != kind || p.shapes.size() != inputs.size() || !p.recording.guards_hold()) continue;
            bool same = true;
            for (std::size_t i = 0; i < inputs.size() && same; ++i) same = p.shapes[i] == inputs[i].shape();
            if (same) return &p;
        }
        return nullptr;
    }

    static std::vector<Shape> shapes_of(const std::vector<Array<T>>& arrays) {
        std::vector<Shape> shapes;
        for (auto& a : arrays) shapes.push_back(a.shape());
        return shapes;
    }

    Recording<T> trace(Kind kind, const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& v) {
        Recording<T> r(
            [&](const TensorList<T>& in, const TensorList<T>& vectors) {
                TensorList<T> vs = vectors;  // jvp appends its seed
                return evaluation<T>(kind, f, in, vs, wrt);
            },
            inputs, v);
        ++traces;
        return r;
    }

    // A fresh trace at the same inputs, replayed (so that its sums are accumulated in the same
    // order as the replay's), element by element against the replay. On a difference, both are
    // evaluated node by node to name the first node that differs.
    void compare(Kind kind, Recording<T>& replayed, const std::vector<Array<T>>& inputs,
                 const std::vector<Array<T>>& v) {
        replayed.rewind_generators();  // a fresh trace draws what the replay drew
        Recording<T> fresh = trace(kind, inputs, v);
        --traces;  // a check, not a recording kept
        fresh.rewind_generators();
        fresh.replay();
        for (std::size_t o = 0; o < fresh.outputs(); ++o) {
            const Array<T>& eager = fresh.output(o);
            const Array<T>& replay = replayed.output(o);
            std::string differs;
            if (eager.shape() != replay.shape())
                differs = fmt::format("output {} has shape {}, a fresh trace {}", o, to_string(replay.shape()),
                                      to_string(eager.shape()));
            for (std::size_t k = 0; k < eager.size() && differs.empty(); ++k) {
                T a = replay.data()[k], b = eager.data()[k];
                if (!(a == b || (std::isnan(a) && std::isnan(b))))
                    differs = fmt::format("output {} differs from a fresh trace at {} ({} vs {})", o,
                                          detail::index_string(eager.shape(), k), a, b);
            }
            if (differs.empty()) continue;
            for (std::size_t i = 0; i < inputs.size(); ++i) replayed.set_input(i, inputs[i]);
            for (std::size_t i = 0; i < v.size(); ++i) replayed.set_vector(i, v[i]);
            std::string node = replayed.first_difference(fresh);
            throw TraceError(fmt::format(
                "compile ({}): {}{}{}. The replay followed the path and the constants of the trace; something "
                "in the function decides or computes from values outside xtgrad's ops (host control flow on "
                "a value, a constant made from one, state changed outside the function)",
                kind_name(kind), differs, node.empty() ? "" : "; ", node));
        }
    }
};

template <class T>
CompiledFunction<T>::CompiledFunction(Function f, CompileOptions options) : impl_(std::make_unique<Impl>()) {
    if (!f) throw ValueError("compile: the function is empty");
    impl_->f = std::move(f);
    impl_->options = options;
}
template <class T>
CompiledFunction<T>::~CompiledFunction() = default;
template <class T>
CompiledFunction<T>::CompiledFunction(CompiledFunction&&) noexcept = default;
template <class T>
CompiledFunction<T>& CompiledFunction<T>::operator=(CompiledFunction&&) noexcept = default;

template <class T>
Array<T> CompiledFunction<T>::operator()(const std::vector<Array<T>>& inputs) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->evaluate(Kind::value, inputs, {}).output(0);
}

template <class T>
std::pair<T, std::vector<Array<T>>> CompiledFunction<T>::value_and_grad(const std::vector<Array<T>>& inputs) {
    std::vector<Array<T>> grads;
    T value = value_and_grad(inputs, grads);
    return {value, std::move(grads)};
}

template <class T>
T CompiledFunction<T>::value_and_grad(const std::vector<Array<T>>& inputs, std::vector<Array<T>>& grads) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    Recording<T>& r = impl_->evaluate(Kind::grad, inputs, {});
    grads.resize(r.outputs() - 1);
    for (std::size_t i = 1; i < r.outputs(); ++i) r.take_output(i, grads[i - 1]);
    return r.output(0).data()[0];
}

template <class T>
std::vector<Array<T>> CompiledFunction<T>::hvp(const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& v) {
    std::vector<Array<T>> out;
    hvp(inputs, v, out);
    return out;
}

template <class T>
void CompiledFunction<T>::hvp(const std::vector<Array<T>>& inputs, const std::vector<Array<T>>& v,
                              std::vector<Array<T>>& out) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    Recording<T>& r = impl_->evaluate(Kind::hvp, inputs, v);
    out.resize(r.outputs());
    for (std::size_t i = 0; i < r.outputs(); ++i) r.take_output(i, out[i]);
}

template <class T>
std::pair<Array<T>, std::vector<Array<T>>> CompiledFunction<T>::vjp(const std::vector<Array<T>>& inputs,
                                                                    const Array<T>& cotangent) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    const Recording<T>& r = impl_->evaluate(Kind::vjp, inputs, {cotangent});
    std::vector<Array<T>> grads;
    for (std::size_t i = 1; i < r.outputs(); ++i) grads.push_back(r.output(i));
    return {r.output(0), std::move(grads)};
}

template <class T>
std::pair<Array<T>, Array<T>> CompiledFunction<T>::jvp(const std::vector<Array<T>>& inputs,
                                                       const std::vector<Array<T>>& tangents) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    const Recording<T>& r = impl_->evaluate(Kind::jvp, inputs, tangents);
    return {r.output(0), r.output(1)};
}

template <class T>
RecordingStats CompiledFunction<T>::stats() const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    RecordingStats total;
    for (auto& p : impl_->cache) {
        auto s = p.recording.stats();
        total.nodes += s.nodes, total.steps += s.steps, total.groups += s.groups;
        total.fused_nodes += s.fused_nodes, total.scratch_bytes += s.scratch_bytes;
    }
    return total;
}

template <class T>
std::size_t CompiledFunction<T>::traces() const {
    return impl_->traces;
}

namespace {
// The worst element of one input: analytic against numeric, as gradcheck reports it.
template <class T>
InputCheck worst_of(std::size_t input, const Array<T>& analytic, const Array<double>& numeric, const CheckOptions& o) {
    InputCheck c;
    c.input = input;
    c.shape = analytic.shape();
    double worst = -1;
    for (std::size_t k = 0; k < analytic.size(); ++k) {
        double a = double(analytic.data()[k]), n = numeric.data()[k];
        double excess = std::abs(a - n) / (o.atol + o.rtol * std::abs(n));
        if (std::isnan(excess)) excess = std::numeric_limits<double>::infinity();
        if (excess > worst) {
            worst = excess;
            c.analytic = a, c.numeric = n, c.excess = excess;
            c.worst_index = detail::index_string(analytic.shape(), k);
        }
    }
    c.ok = c.excess <= 1;
    return c;
}

template <class T>
CheckReport report_of(std::vector<InputCheck> inputs) {
    CheckReport r;
    r.inputs = std::move(inputs);
    for (auto& c : r.inputs) r.ok = r.ok && c.ok;
    return r;
}
}  // namespace

template <class T>
CheckReport gradcheck(CompiledFunction<T>& f, const std::vector<Array<T>>& at, const CheckOptions& options) {
    auto analytic = f.value_and_grad(at).second;
    std::vector<InputCheck> checks;
    for (std::size_t i = 0; i < at.size(); ++i) {
        Array<double> numeric = Array<double>::from_shape(at[i].shape());
        for (std::size_t k = 0; k < at[i].size(); ++k) {
            auto x = at;
            x[i].data()[k] = at[i].data()[k] + T(options.eps);
            double up = double(f(x).data()[0]);
            x[i].data()[k] = at[i].data()[k] - T(options.eps);
            double down = double(f(x).data()[0]);
            numeric.data()[k] = (up - down) / (2 * options.eps);
        }
        checks.push_back(worst_of(i, analytic[i], numeric, options));
    }
    return report_of<T>(std::move(checks));
}

template <class T>
CheckReport hvpcheck(CompiledFunction<T>& f, const std::vector<Array<T>>& at, const CheckOptions& options) {
    std::mt19937_64 rng(options.seed);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    std::vector<Array<T>> v;
    for (auto& a : at) {
        Array<T> d = Array<T>::from_shape(a.shape());
        for (auto& e : d) e = T(uniform(rng));
        v.push_back(std::move(d));
    }
    auto analytic = f.hvp(at, v);
    auto shifted = [&](double sign) {
        auto x = at;
        for (std::size_t i = 0; i < x.size(); ++i)
            for (std::size_t k = 0; k < x[i].size(); ++k) x[i].data()[k] += T(sign * options.eps) * v[i].data()[k];
        return f.value_and_grad(x).second;
    };
    auto up = shifted(1), down = shifted(-1);
    std::vector<InputCheck> checks;
    for (std::size_t i = 0; i < at.size(); ++i) {
        Array<double> numeric = Array<double>::from_shape(at[i].shape());
        for (std::size_t k = 0; k < at[i].size(); ++k)
            numeric.data()[k] = (double(up[i].data()[k]) - double(down[i].data()[k])) / (2 * options.eps);
        checks.push_back(worst_of(i, analytic[i], numeric, options));
    }
    return report_of<T>(std::move(checks));
}

template <class T>
CompiledLoss<T>::CompiledLoss(TensorList<T> parameters, Function f, CompileOptions options)
    : function_(std::move(f), options), parameters_(std::move(parameters)) {
    for (std::size_t i = 0; i < parameters_.size(); ++i)
        if (!parameters_[i].defined() || !parameters_[i].is_leaf() || !parameters_[i].requires_grad())
            throw ValueError(fmt::format("compile_loss: parameter {} is not a parameter (a leaf made with parameter())", i));
    if (parameters_.empty()) throw ValueError("compile_loss: no parameters to differentiate in");
    function_.impl_->wrt = parameters_;
}

template <class T>
double CompiledLoss<T>::operator()(const std::vector<Array<T>>& data) {
    std::lock_guard<std::mutex> lock(function_.impl_->mutex);
    Recording<T>& r = function_.impl_->evaluate(Kind::grad, data, {});
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
        auto& grad = Access::var(parameters_[i]).grad;  // replaced without a copy or an allocation
        if (!grad) grad.emplace(Array<T>::from_shape(parameters_[i].shape()));
        r.take_output(i + 1, *grad);
    }
    return double(r.output(0).data()[0]);
}

template class CompiledFunction<float>;
template class CompiledFunction<double>;
template class CompiledLoss<float>;
template class CompiledLoss<double>;
template CheckReport gradcheck(CompiledFunction<float>&, const std::vector<Array<float>>&, const CheckOptions&);
template CheckReport gradcheck(CompiledFunction<double>&, const std::vector<Array<double>>&, const CheckOptions&);
template CheckReport hvpcheck(CompiledFunction<float>&, const std::vector<Array<float>>&, const CheckOptions&);
template CheckReport hvpcheck(CompiledFunction<double>&, const std::vector<Array<double>>&, const CheckOptions&);

}  // namespace xtgrad
