// Gauss-Newton and Hessian products from one recording of the model.
#include "curvature_recording.hpp"

#include <random>

#include <xtensor/xmath.hpp>

namespace xtgrad::optim::detail {

namespace {

// sum_i <a_i, v_i> with v constant; undefined when no a_i depends on anything.
template <class T>
BasicTensor<T> inner(const TensorList<T>& a, const Vec<T>& v) {
    BasicTensor<T> s;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!a[i].requires_grad()) continue;
        auto term = sum(a[i] * BasicTensor<T>::constant(v[i]));
        s = s.defined() ? s + term : term;
    }
    return s;
}

// d <a, v> / d inputs, as arrays (zeros where <a, v> does not depend on an input): one reverse
// sweep seeded with v. Seeding, rather than recording <a, v> and differentiating that, adds no
// node to the recording's tape: a tape that grew by a few nodes a product made each sweep
// longer, and thousands of products (a spectral density's probes) quadratic in their number.
template <class T>
Vec<T> grad_of_inner(const TensorList<T>& a, const Vec<T>& v, const TensorList<T>& inputs) {
    TensorList<T> outputs, seeds;
    bool leaf = false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!a[i].requires_grad()) continue;
        leaf = leaf || a[i].is_leaf();
        outputs.push_back(a[i]);
        seeds.push_back(BasicTensor<T>::constant(v[i]));
    }
    Vec<T> out;
    if (outputs.empty()) {
        for (auto& x : inputs) out.push_back(Array<T>(xt::zeros<T>(x.shape())));
        return out;
    }
    // a leaf cannot seed a sweep (it is an input, not a result): through an op instead
    auto grads = leaf ? grad<T>(TensorList<T>{inner(a, v)}, inputs, {}, false, true)
                      : grad<T>(outputs, inputs, seeds, false, true);
    for (auto& g : grads) out.push_back(g.value());
    return out;
}

template <class T>
double dot(const Array<T>& a, const Array<T>& b) {
    double s = 0;
    for (std::size_t k = 0; k < a.size(); ++k) s += double(a.data()[k]) * double(b.data()[k]);
    return s;
}

}  // namespace

template <class T>
CurvatureRecording<T>::CurvatureRecording(const CurvatureModel<T>& model, const TensorList<T>& params, Curvature kind,
                                          bool products, const std::function<TensorList<T>()>& also)
    : params_(params), kind_(kind), shards_(model.shards) {
    if (!model.outputs || !model.loss) throw ValueError("CurvatureModel: outputs and loss are both needed");
    if (also && kind != Curvature::fisher)
        throw std::logic_error("CurvatureRecording: also-gradients come from the fisher recording's seeded sweep");
    // The data term and the penalty are recorded apart: with sharded data only the first is
    // summed over the processes.
    BasicTensor<T> penalty = model.penalty ? model.penalty() : BasicTensor<T>();
    double penalty_value = penalty.defined() ? double(penalty.item()) : 0.0;
    if (penalty.defined() && penalty.requires_grad())
        penalty_grad_ = grad<T>(TensorList<T>{penalty}, params, {}, true, true);
    double data_value = 0;
    if (kind == Curvature::hessian) {
        auto loss = model.loss(model.outputs());
        data_value = double(loss.item());
        if (loss.requires_grad()) {
            grad_ = grad<T>(TensorList<T>{loss}, params, {}, true, true);
            gradient_ = values_of(grad_);
        } else {
            gradient_ = zeros_like(values_of(params));
        }
    } else {
        z_ = model.outputs();
        if (!z_.defined() || !z_.requires_grad())
            throw GradError("CurvatureModel: the outputs do not depend on the parameters");
        // The Gauss-Newton product sees the loss only through the outputs: a loss that also
        // reads the parameters would have that part of its curvature dropped without a word.
        if (model.loss(BasicTensor<T>::constant(z_.value())).requires_grad())
            throw ValueError(
                "CurvatureModel: loss(z) depends on the parameters directly, not only through the outputs z; "
                "its curvature in them would be missed. Put parameter-only terms (l2_penalty) in "
                "CurvatureModel::penalty");
        z0_ = BasicTensor<T>::parameter(z_.value());
        auto loss_z = model.loss(z0_);
        data_value = double(loss_z.item());
        dl_dz_ = grad<T>(TensorList<T>{loss_z}, {z0_}, {}, true, true)[0];
        // one sweep from z seeded with dL/dz: the parameters' gradient, and the also-tensors'
        TensorList<T> wrt = params;
        const TensorList<T> extra = also ? also() : TensorList<T>();
        wrt.insert(wrt.end(), extra.begin(), extra.end());
        Vec<T> swept =
            values_of(grad<T>(TensorList<T>{z_}, wrt, {BasicTensor<T>::constant(dl_dz_.value())}, false, true));
        also_gradient_.assign(std::make_move_iterator(swept.begin() + std::ptrdiff_t(params.size())),
                              std::make_move_iterator(swept.end()));
        swept.resize(params.size());
        gradient_ = std::move(swept);
        if (products) {
            w_ = BasicTensor<T>::parameter(xt::zeros<T>(z_.shape()));
            jt_w_ = grad<T>(TensorList<T>{z_}, params, {w_}, true, true);
        }
        choose_output_hessian();
    }
    if (shards_.active()) {
        data_value = shards_.scalar(data_value);
        shards_.arrays(gradient_);
    }
    loss_ = data_value + penalty_value;
    if (!penalty_grad_.empty()) axpy(1.0, values_of(penalty_grad_), gradient_);
}

template <class T>
Vec<T> CurvatureRecording<T>::output_product(const Array<T>& u) {
    if (!dl_dz_.requires_grad()) return {Array<T>(xt::zeros<T>(u.shape()))};  // L linear in z
    return grad_of_inner<T>(TensorList<T>{dl_dz_}, Vec<T>{u}, {z0_});
}

template <class T>
Array<T> CurvatureRecording<T>::closed_form(OutputHessian kind, const Array<T>& u) const {
    const Array<T>& p = probabilities_;
    switch (kind) {
        case OutputHessian::softmax: {  // per row (the last axis): p * u - p (p . u)
            Array<T> out = Array<T>::from_shape(u.shape());
            std::size_t width = u.shape().back(), rows = width ? u.size() / width : 0;
            const T *pp = p.data(), *up = u.data();
            T* o = out.data();
            for (std::size_t r = 0; r < rows; ++r, pp += width, up += width, o += width) {
                T pu = 0;
                for (std::size_t c = 0; c < width; ++c) pu += pp[c] * up[c];
                for (std::size_t c = 0; c < width; ++c) o[c] = pp[c] * (up[c] - pu);
            }
            return out;
        }
        case OutputHessian::sigmoid:
            return Array<T>(p * (T(1) - p) * u);
        case OutputHessian::identity:
        case OutputHessian::generic:
            return u;
    }
    return u;
}

// A closed form whose product equals the generic one on a random vector equals it as a
// matrix (with probability one: the difference would have to vanish on that vector), so one
// probe per recording decides; the scale absorbs the reduction (mean or sum) and any weight.
template <class T>
void CurvatureRecording<T>::choose_output_hessian() {
    std::mt19937_64 rng(0x5eed);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    Array<T> u = Array<T>::from_shape(z_.shape());
    for (auto& x : u) x = static_cast<T>(uniform(rng));
    Array<T> hu = output_product(u)[0];
    double hu_norm = std::sqrt(dot(hu, hu));
    const double tolerance = 10 * std::sqrt(double(std::numeric_limits<T>::epsilon()));
    if (hu_norm == 0) {
        output_kind_ = OutputHessian::identity;
        output_scale_ = 0;
        return;
    }
    NoGrad no_grad;
    auto z = BasicTensor<T>::constant(z_.value());
    for (OutputHessian kind : {OutputHessian::softmax, OutputHessian::sigmoid, OutputHessian::identity}) {
        if (kind == OutputHessian::softmax) {
            if (z_.shape().empty()) continue;
            probabilities_ = softmax(z, -1).value();
        } else if (kind == OutputHessian::sigmoid) {
            probabilities_ = sigmoid(z).value();
        }
        Array<T> a = closed_form(kind, u);
        double aa = dot(a, a);
        if (aa == 0) continue;
        double scale = dot(hu, a) / aa;
        Array<T> residual = hu - static_cast<T>(scale) * a;
        // equal to a relative tolerance, or within the generic product's own rounding (where
        // the rows saturate, p -> one-hot, H_L u is that rounding and no tolerance relative to
        // it can hold: in float32 the softmax form was refused there)
        const double rounding = 64 * double(std::numeric_limits<T>::epsilon()) * std::abs(scale) * std::sqrt(dot(u, u));
        if (std::sqrt(dot(residual, residual)) <= std::max(tolerance * hu_norm, rounding)) {
            output_kind_ = kind;
            output_scale_ = scale;
            return;
        }
    }
    output_kind_ = OutputHessian::generic;
}

template <class T>
Vec<T> CurvatureRecording<T>::output_vjp(const Array<T>& c, const TensorList<T>& wrt) const {
    return values_of(grad<T>(TensorList<T>{z_}, wrt, {BasicTensor<T>::constant(c)}, false, true));
}

template <class T>
Vec<T> CurvatureRecording<T>::product(const Vec<T>& v) {
    if (kind_ == Curvature::fisher && !w_.defined())
        throw std::logic_error("CurvatureRecording::product: recorded without products");
    Vec<T> out;
    if (kind_ == Curvature::hessian) {
        out = grad_.empty() ? zeros_like(values_of(params_)) : grad_of_inner(grad_, v, params_);
    } else {
        Array<T> jv = grad_of_inner<T>(jt_w_, v, {w_})[0];  // J v: jt_w is linear in w
        Array<T> hjv = output_kind_ == OutputHessian::generic
                           ? output_product(jv)[0]
                           : Array<T>(static_cast<T>(output_scale_) * closed_form(output_kind_, jv));
        out = values_of(grad<T>(TensorList<T>{z_}, params_, {BasicTensor<T>::constant(hjv)}, false, true));
    }
    if (shards_.active()) shards_.arrays(out);
    if (!penalty_grad_.empty()) axpy(1.0, grad_of_inner(penalty_grad_, v, params_), out);
    return out;
}

template <class T>
Array<T> CurvatureRecording<T>::matrix() {
    const std::size_t p = total_size(params_);
    Array<T> m = Array<T>::from_shape({p, p});
    std::vector<T> unit(p, T(0));
    for (std::size_t j = 0; j < p; ++j) {
        unit[j] = T(1);
        auto column = to_flat(product(from_flat(unit.data(), params_)));
        unit[j] = T(0);
        for (std::size_t i = 0; i < p; ++i) m(i, j) = T(column[i]);
    }
    for (std::size_t i = 0; i < p; ++i)
        for (std::size_t j = 0; j < i; ++j) m(i, j) = m(j, i) = (m(i, j) + m(j, i)) / 2;
    return m;
}

template class CurvatureRecording<float>;
template class CurvatureRecording<double>;

}  // namespace xtgrad::optim::detail

namespace xtgrad::optim {

namespace {
template <class T>
void check_vector(const char* who, const TensorList<T>& params, const ParamVector<T>& v) {
    if (v.size() != params.size())
        throw ShapeError(fmt::format("{}: {} vectors for {} parameters", who, v.size(), params.size()));
    for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i].shape() != params[i].shape())
            throw ShapeError(fmt::format("{}: vector {} has shape {}, the parameter {}", who, i,
                                         to_string(v[i].shape()), to_string(params[i].shape())));
}
}  // namespace

template <class T>
ParamVector<T> gauss_newton_vector_product(const CurvatureModel<T>& model, const TensorList<T>& params,
                                           const ParamVector<T>& v) {
    check_vector("gauss_newton_vector_product", params, v);
    detail::CurvatureRecording<T> recording(model, params, Curvature::fisher);
    return recording.product(v);
}

template <class T>
ParamVector<T> hessian_vector_product(const CurvatureModel<T>& model, const TensorList<T>& params,
                                      const ParamVector<T>& v) {
    check_vector("hessian_vector_product", params, v);
    detail::CurvatureRecording<T> recording(model, params, Curvature::hessian);
    return recording.product(v);
}

#define XTGRAD_INSTANTIATE(T)                                                                           \
    template ParamVector<T> gauss_newton_vector_product(const CurvatureModel<T>&, const TensorList<T>&, \
                                                        const ParamVector<T>&);                         \
    template ParamVector<T> hessian_vector_product(const CurvatureModel<T>&, const TensorList<T>&,      \
                                                   const ParamVector<T>&);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad::optim
