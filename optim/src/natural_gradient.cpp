// Curvature-vector products (Gauss-Newton/Fisher and Hessian) and the natural-gradient step.
#include "xtgrad/optim/natural_gradient.hpp"

#include <limits>

#include "vector.hpp"

namespace xtgrad::optim {

using detail::Vec;

void NaturalGradientOptions::validate() const {
    if (!(lr > 0)) throw ValueError(fmt::format("NaturalGradient: lr must be > 0, got {}", lr));
    if (!(damping >= 0)) throw ValueError(fmt::format("NaturalGradient: damping must be >= 0, got {}", damping));
    if (!(min_damping >= 0 && min_damping <= max_damping))
        throw ValueError(fmt::format("NaturalGradient: need 0 <= min_damping <= max_damping, got {} and {}",
                                     min_damping, max_damping));
    if (cg_iterations == 0) throw ValueError("NaturalGradient: cg_iterations must be positive");
}

namespace {

template <class T>
TensorList<T> as_constants(const Vec<T>& v) {
    TensorList<T> out;
    for (auto& a : v) out.push_back(BasicTensor<T>::constant(a));
    return out;
}

template <class T>
Vec<T> as_arrays(const TensorList<T>& ts) {
    Vec<T> out;
    for (auto& t : ts) out.push_back(t.value());
    return out;
}

// sum_i <a_i, v_i> with v constant; undefined when no a_i depends on anything.
template <class T>
BasicTensor<T> inner(const TensorList<T>& a, const Vec<T>& v) {
    BasicTensor<T> s;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto term = sum(a[i] * BasicTensor<T>::constant(v[i]));
        s = s.defined() ? s + term : term;
    }
    return s;
}

// J^T H_L J v for one parameter point: the outputs and J^T w are recorded once, then each
// product costs two reverse sweeps and a Hessian-vector product of L in output space.
template <class T>
class GaussNewtonProduct {
public:
    GaussNewtonProduct(const CurvatureModel<T>& model, const TensorList<T>& params) : model_(model), params_(params) {
        if (!model.outputs || !model.loss) throw ValueError("gauss_newton_vector_product: the model is incomplete");
        z_ = model.outputs();
        if (!z_.defined() || !z_.requires_grad())
            throw GradError("gauss_newton_vector_product: the outputs do not depend on the parameters");
        w_ = BasicTensor<T>::parameter(xt::zeros<T>(z_.shape()));
        jt_w_ = grad<T>(TensorList<T>{z_}, params, {w_}, true, true);
    }

    Vec<T> operator()(const Vec<T>& v) {
        auto s = inner(jt_w_, v);
        if (!s.requires_grad()) return detail::zeros_like(v);
        auto jv = grad<T>(TensorList<T>{s}, {w_}, {}, false, true)[0];  // J v
        auto z0 = BasicTensor<T>::parameter(z_.value());
        auto hjv = hvp([&] { return model_.loss(z0); }, {z0}, {jv})[0];             // H_L J v
        return as_arrays(grad<T>(TensorList<T>{z_}, params_, {hjv}, false, true));  // J^T H_L J v
    }

private:
    Tape tape_;  // first member: alive for all the others
    const CurvatureModel<T>& model_;
    TensorList<T> params_;
    BasicTensor<T> z_, w_;
    TensorList<T> jt_w_;
};

// H v of the full loss, by differentiating the recorded gradient once per product.
template <class T>
class HessianProduct {
public:
    HessianProduct(const CurvatureModel<T>& model, const TensorList<T>& params) : params_(params) {
        loss_ = model.loss(model.outputs());
        grad_ = grad<T>(TensorList<T>{loss_}, params, {}, true, true);
    }
    Vec<T> operator()(const Vec<T>& v) {
        auto s = inner(grad_, v);
        if (!s.requires_grad()) return detail::zeros_like(v);
        return as_arrays(grad<T>(TensorList<T>{s}, params_, {}, false, true));
    }

private:
    Tape tape_;
    TensorList<T> params_;
    BasicTensor<T> loss_;
    TensorList<T> grad_;
};

template <class T>
double loss_at(const CurvatureModel<T>& model) {
    NoGrad no_grad;
    return static_cast<double>(model.loss(model.outputs()).item());
}

}  // namespace

template <class T>
ParamVector<T> gauss_newton_vector_product(const CurvatureModel<T>& model, const TensorList<T>& params,
                                           const ParamVector<T>& v) {
    if (v.size() != params.size())
        throw ShapeError(
            fmt::format("gauss_newton_vector_product: {} vectors for {} parameters", v.size(), params.size()));
    for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i].shape() != params[i].shape())
            throw ShapeError(fmt::format("gauss_newton_vector_product: vector {} has shape {}, the parameter {}", i,
                                         to_string(v[i].shape()), to_string(params[i].shape())));
    GaussNewtonProduct<T> product(model, params);
    return product(v);
}

template <class T>
NaturalGradient<T>::NaturalGradient(const TensorList<T>& params, CurvatureModel<T> model,
                                    const NaturalGradientOptions& options)
    : GroupedOptimizer<T, NaturalGradientOptions>(params, options),
      model_(std::move(model)),
      damping_(options.damping) {}

template <class T>
NaturalGradient<T>::NaturalGradient(const nn::NamedTensors<T>& params, CurvatureModel<T> model,
                                    const NaturalGradientOptions& options)
    : GroupedOptimizer<T, NaturalGradientOptions>(params, options),
      model_(std::move(model)),
      damping_(options.damping) {}

template <class T>
void NaturalGradient<T>::step() {
    const auto& o = this->groups().front().options;
    auto params = this->parameters();
    auto names = this->parameter_names();
    if (!model_.outputs || !model_.loss) throw ValueError("NaturalGradient: the curvature model is incomplete");
    report_ = {};
    report_.damping = damping_;
    detail::Snapshot<T> snapshot(params);
    double f0;
    Vec<T> g;
    {
        Tape tape;
        auto loss = model_.loss(model_.outputs());
        f0 = static_cast<double>(loss.item());
        detail::check_finite_loss("NaturalGradient.step", f0);
        g = loss.requires_grad() ? as_arrays(grad<T>(TensorList<T>{loss}, params, {}, false, true))
                                 : detail::zeros_like(detail::values_of(params));
    }
    detail::check_finite("NaturalGradient.step", "gradient", g, names);
    report_.loss_before = report_.loss_after = f0;

    std::function<Vec<T>(const Vec<T>&)> curvature;
    std::unique_ptr<GaussNewtonProduct<T>> gn;
    std::unique_ptr<HessianProduct<T>> hessian;
    if (o.curvature == Curvature::fisher) {
        gn = std::make_unique<GaussNewtonProduct<T>>(model_, params);
        curvature = [&](const Vec<T>& v) { return (*gn)(v); };
    } else {
        hessian = std::make_unique<HessianProduct<T>>(model_, params);
        curvature = [&](const Vec<T>& v) { return (*hessian)(v); };
    }
    LinearOperator<T> damped = [&](const ParamVector<T>& v) {
        Vec<T> bv = curvature(v);
        detail::axpy(damping_, v, bv);
        return bv;
    };
    Vec<T> d;
    report_.cg = linear_cg<T>(damped, g, d, {.max_iterations = o.cg_iterations, .rtol = o.cg_rtol});
    if (detail::norm(d) == 0) d = g;  // negative curvature at once: fall back to the gradient
    Vec<T> delta = detail::scaled(-o.lr, d);
    double slope = detail::dot(g, delta);  // g^T delta < 0 for a descent direction
    double curv = detail::dot(delta, curvature(delta));
    const Vec<T>& x0 = snapshot.saved();
    double scale = 1.0, f_new = f0;
    bool accepted = false;
    if (slope < 0) {
        for (std::size_t k = 0; k <= o.max_backtracks; ++k, scale /= 2) {
            Vec<T> x = x0;
            detail::axpy(scale, delta, x);
            detail::assign(params, x);
            f_new = loss_at(model_);
            if (std::isfinite(f_new) && f_new <= f0 + 1e-4 * scale * slope) {
                accepted = true;
                break;
            }
        }
    }
    double rho = -std::numeric_limits<double>::infinity();
    if (accepted) {
        report_.predicted_change = scale * slope + 0.5 * scale * scale * curv;
        rho = report_.predicted_change < 0 ? (f_new - f0) / report_.predicted_change : 0.0;
        report_.loss_after = f_new;
        report_.step_scale = scale;
        snapshot.keep();
    }  // else the snapshot restores the parameters
    report_.accepted = accepted;
    report_.rho = rho;
    if (o.adapt_damping) {
        if (rho < 0.25)
            damping_ *= 1.5;
        else if (rho > 0.75)
            damping_ *= 2.0 / 3.0;
        damping_ = std::clamp(damping_, o.min_damping, o.max_damping);
    }
}

template <class T>
nn::NamedArrays<T> NaturalGradient<T>::state() const {
    Array<T> d = Array<T>::from_shape({});
    d() = static_cast<T>(damping_);
    return {{"natural_gradient.damping", d}};
}

template <class T>
void NaturalGradient<T>::load_state(const nn::NamedArrays<T>& state) {
    double damping = damping_;
    for (auto& [key, a] : state) {
        if (key != "natural_gradient.damping" || a.size() != 1)
            throw ValueError(fmt::format("NaturalGradient.load_state: unexpected entry '{}'", key));
        damping = double(a());
    }
    damping_ = damping;
}

template ParamVector<float> gauss_newton_vector_product(const CurvatureModel<float>&, const TensorList<float>&,
                                                        const ParamVector<float>&);
template ParamVector<double> gauss_newton_vector_product(const CurvatureModel<double>&, const TensorList<double>&,
                                                         const ParamVector<double>&);
template class NaturalGradient<float>;
template class NaturalGradient<double>;

}  // namespace xtgrad::optim
