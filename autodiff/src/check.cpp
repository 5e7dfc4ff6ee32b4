// gradcheck and hvpcheck: central differences against the engine, and on failure a
// node-by-node check of each op's local rule to name the faulty one.
#include "xtgrad/autodiff/check.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "kernels.hpp"

namespace xtgrad {

std::string CheckReport::message() const {
    if (ok) return "derivatives agree with finite differences";
    std::string s = "derivatives disagree with finite differences:";
    for (auto& in : inputs)
        if (!in.ok)
            s += fmt::format("\n  input {} (shape {}): worst at {}: analytic {:.10g}, numeric {:.10g}", in.input,
                             to_string(in.shape), in.worst_index, in.analytic, in.numeric);
    for (auto& n : faulty_nodes) {
        std::vector<std::string> shapes;
        for (auto& sh : n.input_shapes) shapes.push_back(to_string(sh));
        s += fmt::format(
            "\n  faulty op '{}' (tape node {}, inputs {}): input {} worst at {}: analytic {:.10g}, "
            "numeric {:.10g}",
            n.op, n.position, fmt::join(shapes, " "), n.worst.input, n.worst.worst_index, n.worst.analytic,
            n.worst.numeric);
    }
    if (faulty_nodes.empty() && !inputs.empty())
        s += "\n  every op's local rule passed its own check: look at kinks (relu, abs, max) near the point, or eps";
    return s;
}

namespace detail {

namespace {

template <class T>
Array<T> random_array(const Shape& shape, std::mt19937_64& rng) {
    std::normal_distribution<double> normal(0.0, 1.0);
    Array<T> a = Array<T>::from_shape(shape);
    for (auto& x : a) x = static_cast<T>(normal(rng));
    return a;
}

// f contracted to a scalar with fixed random weights (drawn once, from the seed).
template <class T>
Closure<T> scalarized(const Closure<T>& f, std::uint64_t seed) {
    auto weights = std::make_shared<Array<T>>();
    return [f, seed, weights]() {
        BasicTensor<T> out = f();
        if (!out.defined()) throw ValueError("gradcheck: the function returned an undefined tensor");
        if (out.size() == 1) return out.dim() == 0 ? out : reshape(out, {});
        if (weights->shape() != out.shape()) {
            std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
            *weights = random_array<T>(out.shape(), rng);
        }
        return sum(out * BasicTensor<T>::constant(*weights));
    };
}

template <class T>
void check_inputs(const char* who, const TensorList<T>& inputs) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i].defined() || !inputs[i].is_leaf() || !inputs[i].requires_grad())
            throw ValueError(fmt::format("{}: input {} must be a parameter (a leaf that requires a gradient)", who, i));
    }
}

void compare(InputCheck& rep, const Shape& shape, std::size_t flat, double analytic, double numeric,
             const CheckOptions& o) {
    double excess = std::abs(analytic - numeric) / (o.atol + o.rtol * std::abs(numeric));
    if (std::isnan(excess)) excess = std::numeric_limits<double>::infinity();
    if (excess >= rep.excess) {
        rep.excess = excess;
        rep.worst_index = index_string(shape, flat);
        rep.analytic = analytic;
        rep.numeric = numeric;
    }
    rep.ok = rep.ok && excess <= 1.0;
}

// Restores a parameter's value however the evaluation ends.
template <class T>
struct RestoreValue {
    BasicTensor<T> param;
    Array<T> saved;
    explicit RestoreValue(BasicTensor<T> p) : param(std::move(p)), saved(param.value()) {}
    RestoreValue(RestoreValue&& other) noexcept : param(std::move(other.param)), saved(std::move(other.saved)) {}
    RestoreValue(const RestoreValue&) = delete;
    RestoreValue& operator=(const RestoreValue&) = delete;
    RestoreValue& operator=(RestoreValue&&) = delete;
    ~RestoreValue() {
        if (param.defined()) param.mutable_value() = std::move(saved);
    }
};

template <class T>
double eval_scalar(const Closure<T>& s) {
    NoGrad no_grad;
    return static_cast<double>(s().item());
}

template <class T>
TensorList<T> gradient(const Closure<T>& s, const TensorList<T>& inputs) {
    Tape tape;
    auto out = s();
    TensorList<T> g;
    if (!out.requires_grad()) {
        for (auto& in : inputs) g.push_back(zeros_like(in));
        return g;
    }
    for (auto& t : grad<T>(TensorList<T>{out}, inputs, {}, false, true)) g.push_back(t.detach());
    return g;
}

template <class T>
CheckReport first_order(const Closure<T>& s, const TensorList<T>& inputs, const CheckOptions& o) {
    CheckReport report;
    TensorList<T> g = gradient(s, inputs);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        InputCheck rep;
        rep.input = i;
        rep.shape = inputs[i].shape();
        BasicTensor<T> p = inputs[i];
        RestoreValue<T> restore(p);
        Array<T>& x = p.mutable_value();
        for (std::size_t e = 0; e < x.size(); ++e) {
            T orig = restore.saved.data()[e];
            x.data()[e] = static_cast<T>(orig + o.eps);
            double fp = eval_scalar(s);
            x.data()[e] = static_cast<T>(orig - o.eps);
            double fm = eval_scalar(s);
            x.data()[e] = orig;
            compare(rep, rep.shape, e, g[i].value().data()[e], (fp - fm) / (2 * o.eps), o);
        }
        report.ok = report.ok && rep.ok;
        report.inputs.push_back(std::move(rep));
    }
    return report;
}

template <class T>
CheckReport second_order(const Closure<T>& s, const TensorList<T>& inputs, const CheckOptions& o) {
    std::mt19937_64 rng(o.seed);
    TensorList<T> v;
    for (auto& in : inputs) v.push_back(BasicTensor<T>::constant(random_array<T>(in.shape(), rng)));
    TensorList<T> hv = hvp<T>(s, inputs, v);
    // Central differences of the gradient along v, moving all inputs together.
    std::vector<RestoreValue<T>> restore;
    restore.reserve(inputs.size());
    for (auto& in : inputs) restore.emplace_back(in);
    auto shift = [&](double h) {
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            BasicTensor<T> p = inputs[i];
            p.mutable_value() = evaluate<T>(restore[i].saved + static_cast<T>(h) * v[i].value());
        }
    };
    shift(o.eps);
    TensorList<T> gp = gradient(s, inputs);
    shift(-o.eps);
    TensorList<T> gm = gradient(s, inputs);
    shift(0);
    CheckReport report;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        InputCheck rep;
        rep.input = i;
        rep.shape = inputs[i].shape();
        for (std::size_t e = 0; e < inputs[i].size(); ++e) {
            double numeric = (double(gp[i].value().data()[e]) - double(gm[i].value().data()[e])) / (2 * o.eps);
            compare(rep, rep.shape, e, hv[i].value().data()[e], numeric, o);
        }
        report.ok = report.ok && rep.ok;
        report.inputs.push_back(std::move(rep));
    }
    return report;
}

// Re-records f on a diagnostic tape and checks every node's rule on its own: the node is
// replayed as a custom op (same forward, same rule) on copies of its input values.
template <class T>
std::vector<NodeCheck> diagnose(const Closure<T>& s, const CheckOptions& o, bool second) {
    Tape tape;
    tape.set_diagnostic(true);
    s();
    TapeState& state = Access::state(tape);
    std::vector<NodeCheck> faulty;
    std::mt19937_64 rng(o.seed + 1);
    for (std::size_t pos = 0; pos < state.nodes.size(); ++pos) {
        NodeBase* base = state.nodes[pos];
        if (base->leaf || base->dtype() != typeid(T)) continue;
        auto* node = static_cast<Node<T>*>(base);
        if (!node->forward || !node->rule) continue;
        TensorList<T> xs, params;
        std::vector<std::size_t> param_index;
        for (std::size_t j = 0; j < node->inputs.size(); ++j) {
            const auto& in = node->inputs[j];
            if (in.requires_grad()) {
                xs.push_back(BasicTensor<T>::parameter(in.value()));
                params.push_back(xs.back());
                param_index.push_back(j);
            } else {
                xs.push_back(BasicTensor<T>::constant(in.value()));
            }
        }
        auto u = BasicTensor<T>::constant(random_array<T>(node->output.shape(), rng));
        Closure<T> local = [xs, u, node]() { return sum(custom_op<T>(node->name, xs, node->forward, node->rule) * u); };
        // A wrong first derivative also makes Hessian-vector products wrong, while its own
        // second-order check can pass (both sides use the same wrong rule): check both.
        CheckReport r = first_order(local, params, o);
        if (r.ok && second) r = second_order(local, params, o);
        if (r.ok) continue;
        NodeCheck nc;
        nc.position = pos;
        nc.op = node->name;
        for (auto& in : node->inputs) nc.input_shapes.push_back(in.shape());
        for (auto& in : r.inputs)
            if (!in.ok && in.excess >= nc.worst.excess) {
                nc.worst = in;
                nc.worst.input = param_index[in.input];
            }
        faulty.push_back(std::move(nc));
    }
    return faulty;
}

}  // namespace

template <class T>
CheckReport gradcheck(const Closure<T>& f, const TensorList<T>& inputs, const CheckOptions& options) {
    check_inputs("gradcheck", inputs);
    auto s = scalarized(f, options.seed);
    CheckReport report = first_order(s, inputs, options);
    if (!report.ok) report.faulty_nodes = diagnose(s, options, false);
    return report;
}

template <class T>
CheckReport hvpcheck(const Closure<T>& f, const TensorList<T>& inputs, const CheckOptions& options) {
    check_inputs("hvpcheck", inputs);
    auto s = scalarized(f, options.seed);
    CheckReport report = second_order(s, inputs, options);
    if (!report.ok) report.faulty_nodes = diagnose(s, options, true);
    return report;
}

#define XTGRAD_INSTANTIATE(T)                                                                     \
    template CheckReport gradcheck(const Closure<T>&, const TensorList<T>&, const CheckOptions&); \
    template CheckReport hvpcheck(const Closure<T>&, const TensorList<T>&, const CheckOptions&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace detail
}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
