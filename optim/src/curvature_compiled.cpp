// Curvature products replayed from one recording (curvature_compiled.hpp). The ops are those
// of CurvatureRecording's products, recorded with create_graph so that a replay recomputes
// them; values the eager recording takes outside the tape (the detached outputs z0, the
// probabilities of the closed forms) are computed with stop_gradient here, so they follow
// the parameters.
#include "curvature_compiled.hpp"

#include <cmath>
#include <limits>

#include <xtensor/xbuilder.hpp>

#include "curvature_recording.hpp"

namespace xtgrad::optim::detail {

namespace {

template <class T>
std::vector<Array<T>> zeros_of(const TensorList<T>& params) {
    std::vector<Array<T>> out;
    for (auto& p : params) out.push_back(Array<T>(xt::zeros<T>(p.shape())));
    return out;
}

template <class T>
void append(TensorList<T>& out, const TensorList<T>& more) {
    out.insert(out.end(), more.begin(), more.end());
}

// H_L u in closed form, with ops (CurvatureRecording::closed_form on arrays).
template <class T>
BasicTensor<T> output_hessian_times(OutputHessian kind, double scale, const BasicTensor<T>& z,
                                    const BasicTensor<T>& u) {
    switch (kind) {
        case OutputHessian::softmax: {
            auto p = softmax(stop_gradient(z), -1);
            return p * (u - sum(p * u, {-1}, true)) * T(scale);
        }
        case OutputHessian::sigmoid: {
            auto p = sigmoid(stop_gradient(z));
            return p * (T(1) - p) * u * T(scale);
        }
        case OutputHessian::identity:
        case OutputHessian::generic: break;
    }
    return u * T(scale);
}

// The products recording's body: see the outputs listed in curvature_compiled.hpp.
template <class T>
TensorList<T> record_products(const CurvatureModel<T>& model, const TensorList<T>& params, Curvature kind,
                              OutputHessian output, double scale, const TensorList<T>& v) {
    BasicTensor<T> penalty = model.penalty ? model.penalty() : BasicTensor<T>();
    TensorList<T> out;
    if (kind == Curvature::hessian) {
        auto loss = model.loss(model.outputs());
        auto g = recorded_grad(loss, params);
        out = {loss, penalty.defined() ? penalty : BasicTensor<T>::scalar(0)};
        append(out, g);
        TensorList<T> pg = penalty.defined() ? recorded_grad(penalty, params) : TensorList<T>{};
        append(out, pg);
        append(out, recorded_grad(recorded_inner(g, v), params));
        if (penalty.defined()) append(out, recorded_grad(recorded_inner(pg, v), params));
        return out;
    }
    auto z = model.outputs();
    if (!z.defined() || !z.requires_grad()) throw GradError("CurvatureModel: the outputs do not depend on the parameters");
    auto loss = model.loss(z);
    out = {loss, penalty.defined() ? penalty : BasicTensor<T>::scalar(0)};
    append(out, recorded_grad(loss, params));
    TensorList<T> pg = penalty.defined() ? recorded_grad(penalty, params) : TensorList<T>{};
    append(out, pg);
    // J v as the derivative of J^T w in w (linear in w: w's value does not matter)
    auto w = BasicTensor<T>::parameter(Array<T>(xt::zeros<T>(z.shape())));
    auto jv = recorded_grad(recorded_inner(recorded_grad(z, params, {w}), v), {w})[0];
    BasicTensor<T> hjv;
    if (output == OutputHessian::generic) {  // d <dL/dz, u> / dz with u held fixed
        auto dl_dz = recorded_grad(loss, {z})[0];
        hjv = recorded_grad(sum(dl_dz * stop_gradient(jv)), {z})[0];
    } else {
        hjv = output_hessian_times(output, scale, z, jv);
    }
    append(out, recorded_grad(z, params, {hjv}));
    if (penalty.defined()) append(out, recorded_grad(recorded_inner(pg, v), params));
    return out;
}

template <class T>
Recording<T> products_recording(const CurvatureModel<T>& model, const TensorList<T>& params, Curvature kind) {
    if (!model.outputs || !model.loss) throw ValueError("CurvatureModel: outputs and loss are both needed");
    OutputHessian output = OutputHessian::generic;
    double scale = 0;
    if (kind == Curvature::fisher) {  // the closed form of H_L, chosen by the eager recording's probe
        CurvatureRecording<T> probe(model, params, kind);
        output = probe.output_hessian();
        scale = probe.output_scale();
    }
    return Recording<T>(
        [&](const TensorList<T>&, const TensorList<T>& v) {
            return record_products(model, params, kind, output, scale, v);
        },
        {}, zeros_of(params));
}

template <class T>
Recording<T> value_recording(const CurvatureModel<T>& model) {
    return Recording<T>(
        [&](const TensorList<T>&, const TensorList<T>&) {
            TensorList<T> out{model.loss(model.outputs())};
            out.push_back(model.penalty ? model.penalty() : BasicTensor<T>::scalar(0));
            return out;
        },
        {});
}

template <class T>
double scalar_of(const Array<T>& a) {
    return static_cast<double>(a.data()[0]);
}

}  // namespace

template <class T>
CompiledCurvature<T>::CompiledCurvature(const CurvatureModel<T>& model, const TensorList<T>& params, Curvature kind)
    : model_(model),
      params_(params),
      kind_(kind),
      has_penalty_(bool(model.penalty)),
      products_(products_recording(model, params, kind)),
      value_(value_recording(model)) {}

template <class T>
void CompiledCurvature<T>::evaluate() {
    products_.replay_except_vectors();  // the products follow in product()
    const std::size_t n = params_.size();
    double data = scalar_of(products_.output(0));
    double eager;
    {
        NoGrad no_grad;
        eager = static_cast<double>(model_.loss(model_.outputs()).item());
    }
    const double tolerance = std::sqrt(double(std::numeric_limits<T>::epsilon()));
    if (!(std::abs(data - eager) <= tolerance * std::max(1.0, std::abs(eager))) && !(std::isnan(data) && std::isnan(eager)))
        throw TraceError(fmt::format(
            "NaturalGradient (compile): the replayed loss {:.17g} is not the model's loss {:.17g} at these "
            "parameters: the model reads something besides the parameters that changed since it was traced "
            "(a new batch, or a tensor the model captured by value and then replaced); a compiled step needs "
            "the same data at every step (or compile = false)",
            data, eager));
    if (model_.shards.active()) data = model_.shards.scalar(data);
    loss_ = data + scalar_of(products_.output(1));
    gradient_.resize(n);
    for (std::size_t i = 0; i < n; ++i) gradient_[i] = products_.output(2 + i);
    if (model_.shards.active()) model_.shards.arrays(gradient_);
    if (has_penalty_)
        for (std::size_t i = 0; i < n; ++i) gradient_[i] += products_.output(2 + n + i);
}

template <class T>
Vec<T> CompiledCurvature<T>::product(const Vec<T>& v) {
    const std::size_t n = params_.size();
    for (std::size_t i = 0; i < n; ++i) products_.set_vector(i, v[i]);
    products_.replay_vectors();
    const std::size_t first = has_penalty_ ? 2 + 2 * n : 2 + n;
    Vec<T> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = products_.output(first + i);
    if (model_.shards.active()) model_.shards.arrays(out);
    if (has_penalty_)
        for (std::size_t i = 0; i < n; ++i) out[i] += products_.output(first + n + i);
    return out;
}

template <class T>
double CompiledCurvature<T>::loss_at() {
    value_.replay();
    double data = scalar_of(value_.output(0));
    if (model_.shards.active()) data = model_.shards.scalar(data);
    return data + scalar_of(value_.output(1));
}

template class CompiledCurvature<float>;
template class CompiledCurvature<double>;

}  // namespace xtgrad::optim::detail
