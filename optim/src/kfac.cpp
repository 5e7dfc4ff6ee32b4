// K-FAC: factors from a LayerCapture of the model's forward and reverse sweeps of its outputs,
// inverses from the factors' eigendecompositions (see kfac.hpp and docs/design.md).
#include "xtgrad/optim/kfac.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <cblas.h>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include "curvature_recording.hpp"
#include "optimizer_state.hpp"
#include "symmetric_eigen.hpp"
#include "vector.hpp"

namespace xtgrad::optim {

void KFACOptions::validate() const {
    auto fail = [](const char* what, double v) { throw ValueError(fmt::format("KFAC: {}, got {}", what, v)); };
    if (!(lr >= 0)) fail("lr must be >= 0", lr);
    if (!(momentum >= 0 && momentum < 1)) fail("momentum must be in [0, 1)", momentum);
    if (!(weight_decay >= 0)) fail("weight_decay must be >= 0", weight_decay);
    if (!(damping > 0) || !std::isfinite(damping)) fail("damping must be positive and finite", damping);
    if (!(stat_decay >= 0 && stat_decay < 1)) fail("stat_decay must be in [0, 1)", stat_decay);
    if (factor_every == 0) fail("factor_every must be >= 1", 0);
    if (inverse_every == 0) fail("inverse_every must be >= 1", 0);
    if (!(kl_clip >= 0)) fail("kl_clip must be >= 0 (0: off)", kl_clip);
}

namespace detail {

// What a layer's block needs at each step: with factored damping the two damped inverses,
// otherwise the eigenbases and 1 / (lambda_G lambda_A^T + lambda).
template <class T>
struct KFACInverse {
    Array<T> a, g;            // (A + gamma_A I)^-1, (G + gamma_G I)^-1; or E_A, E_G (rows: eigenvectors)
    Array<T> scale;           // [out, in'] without factored damping
    Array<T> from_a, from_g;  // the factors inverted (saved, so that a restored run continues exactly)
    bool ready = false;
};

namespace {

template <class T>
BasicTensor<T> constant(const Array<T>& a) {
    return BasicTensor<T>::constant(a);
}

// x^T y for [rows, n] and [rows, m] (a BLAS product)
template <class T>
Array<T> gram(const Array<T>& x, const Array<T>& y) {
    NoGrad no_grad;
    return matmul(transpose(constant(x)), constant(y)).value();
}

template <class T>
Array<T> product(const Array<T>& x, const Array<T>& y) {
    NoGrad no_grad;
    return matmul(constant(x), constant(y)).value();
}

template <class T>
Array<T> product_t(const Array<T>& x, const Array<T>& y) {  // x y^T
    NoGrad no_grad;
    return matmul(constant(x), transpose(constant(y))).value();
}

template <class T>
Array<T> t_product(const Array<T>& x, const Array<T>& y) {  // x^T y
    return gram(x, y);
}

// E^T diag(1 / (values + shift)) E for eigenvectors as E's rows; eigenvalues below zero are
// rounding (the factors are second moments) and taken as zero
template <class T>
Array<T> damped_inverse(const SymmetricEigen<T>& e, double shift) {
    const std::size_t n = e.values.size();
    Array<T> scaled = e.vectors;
    for (std::size_t i = 0; i < n; ++i) {
        const T d = T(1.0 / (std::max(double(e.values(i)), 0.0) + shift));
        for (std::size_t j = 0; j < n; ++j) scaled(i, j) *= d;
    }
    return t_product(e.vectors, scaled);
}

// The columns of a weight seen as [out, in]: a convolution's [out, C, kh, kw] multiplies
// patches of C kh kw values
template <class T>
std::size_t fan_in(const BasicTensor<T>& weight) {
    return weight.size() / weight.shape()[0];
}

// The outputs of a layer's weight: [out, in], or an embedding's [count, dim]
template <class T>
std::size_t out_features(bool embedding, const BasicTensor<T>& weight) {
    return embedding ? weight.shape()[1] : weight.shape()[0];
}

// The mean eigenvalue of a factor: of a matrix, or of a diagonal kept as a vector
template <class T>
double mean_trace(const Array<T>& m) {
    const std::size_t n = m.shape()[0];
    double t = 0;
    for (std::size_t i = 0; i < n; ++i) t += double(m.dimension() == 1 ? m(i) : m(i, i));
    return n ? t / double(n) : 0.0;
}

// `count` arrays [..., w_j] from `parts` on, side by side: [rows, sum w_j] (a recurrent step's gates)
template <class T>
Array<T> join_columns(const Array<T>* parts, std::size_t count) {
    std::size_t width = 0;
    for (std::size_t j = 0; j < count; ++j) width += parts[j].shape().back();
    const std::size_t rows = parts[0].size() / parts[0].shape().back();
    Array<T> out = Array<T>::from_shape({rows, width});
    std::size_t column = 0;
    for (std::size_t j = 0; j < count; ++j) {
        const Array<T>& p = parts[j];
        const std::size_t w = p.shape().back();
        for (std::size_t r = 0; r < rows; ++r) std::copy_n(p.data() + r * w, w, out.data() + r * width + column);
        column += w;
    }
    return out;
}

void syrk(std::size_t n, std::size_t k, const float* a, float* c, std::size_t ldc) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(n), int(k), 1.0f, a, int(n), 1.0f, c, int(ldc));
}
void syrk(std::size_t n, std::size_t k, const double* a, double* c, std::size_t ldc) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, int(n), int(k), 1.0, a, int(n), 1.0, c, int(ldc));
}

// The sum over `parts` (each [rows, n], row-major) of p^T p, and with `ones` the row and column
// of a 1 appended to every row ([n + 1, n + 1]: the bias's): symmetric rank-k updates (half a
// product's work) on the parts as they are, without a stacked or augmented copy
template <class T>
Array<T> second_moments(const std::vector<const Array<T>*>& parts, std::size_t n, bool ones) {
    const std::size_t side = n + ones;
    Array<T> c = xt::zeros<T>({side, side});
    std::size_t rows = 0;
    for (const Array<T>* p : parts) {
        const std::size_t k = n ? p->size() / n : 0;  // (shapes checked by check_call)
        if (k == 0) continue;
        syrk(n, k, p->data(), c.data(), side);  // the upper triangle
        if (ones)
            for (std::size_t r = 0; r < k; ++r)
                for (std::size_t i = 0; i < n; ++i) c(i, n) += p->data()[r * n + i];
        rows += k;
    }
    if (ones) c(n, n) = T(rows);
    for (std::size_t i = 0; i < side; ++i)
        for (std::size_t j = 0; j < i; ++j) c(i, j) = c(j, i);
    return c;
}

// Every captured call's output tensors, one after another (a recurrent step's gates: its
// parts), and where each call's begin: the tensors whose gradients give G.
template <class T>
std::pair<TensorList<T>, std::vector<std::size_t>> captured_outputs(const std::vector<nn::CapturedLayer<T>>& captured) {
    TensorList<T> outputs;
    std::vector<std::size_t> first;
    for (const auto& call : captured) {
        first.push_back(outputs.size());
        if (call.output_parts.empty())
            outputs.push_back(call.output);
        else
            outputs.insert(outputs.end(), call.output_parts.begin(), call.output_parts.end());
    }
    return {std::move(outputs), std::move(first)};
}

}  // namespace
}  // namespace detail

template <class T>
KFAC<T>::KFAC(const TensorList<T>& params, CurvatureModel<T> model, const KFACOptions& options)
    : params_(params),
      model_(std::move(model)),
      options_(options),
      // a stream per shard (golden-ratio increments spread the seeds; shard 0 keeps the user's)
      rng_(options.seed + 0x9E3779B97F4A7C15ull * (model_.shards.active() ? model_.shards.index : 0)) {
    options_.validate();
    if (!model_.outputs || !model_.loss) throw ValueError("KFAC: the CurvatureModel needs outputs and loss");
    for (std::size_t i = 0; i < params_.size(); ++i) {
        const auto& p = params_[i];
        if (!p.defined() || !p.is_leaf() || !p.requires_grad())
            throw ValueError("KFAC: every parameter must be a leaf made with parameter()");
        for (std::size_t j = 0; j < i; ++j)
            if (&params_[j].value() == &p.value())
                throw ValueError(fmt::format("KFAC: parameter {} is given twice (as {})", i, j));
    }
    names_ = detail::default_names(0, params_.size());
    momentum_.resize(params_.size());
}

template <class T>
KFAC<T>::KFAC(const nn::NamedTensors<T>& params, CurvatureModel<T> model, const KFACOptions& options)
    : KFAC(
          [&] {
              TensorList<T> list;
              for (auto& [name, p] : params) list.push_back(p);
              return list;
          }(),
          std::move(model), options) {
    names_.clear();
    for (auto& [name, p] : params) names_.push_back(name);
}

template <class T>
KFAC<T>::~KFAC() = default;

// Each captured call whose weight is one of the parameters belongs to a layer (made at its
// first appearance); a layer called several times (shared weights) gathers the rows of all.
// A captured call's rows and outputs must fit its weight (a layer of the user's own that
// reports to the capture could get them wrong): checked before anything is gathered
template <class T>
void KFAC<T>::check_call(const nn::CapturedLayer<T>& c, std::size_t w) const {
    const BasicTensor<T>& weight = params_[w];
    const bool embedding = c.type == "Embedding";
    const std::size_t out = detail::out_features(embedding, weight);
    std::size_t width = 0, outputs = 0;
    if (c.output_parts.empty()) {
        if (c.output.defined() && c.output.dim() > 0) width = c.output.shape().back(), outputs = c.output.size();
    } else {
        for (auto& part : c.output_parts) {
            if (!part.defined() || part.dim() == 0) {
                width = 0;
                break;
            }
            width += part.shape().back();
            outputs += part.size();
        }
    }
    std::size_t rows = 0;
    bool rows_fit = false;
    if (embedding) {
        rows = c.indices.size();
        rows_fit =
            std::all_of(c.indices.begin(), c.indices.end(), [&](std::size_t i) { return i < weight.shape()[0]; });
    } else {
        rows_fit = c.inputs.dimension() == 2 && c.inputs.shape()[1] == detail::fan_in(weight);
        rows = rows_fit ? c.inputs.shape()[0] : 0;
    }
    if (!rows_fit || width != out || outputs != rows * out)
        throw ShapeError(fmt::format(
            "KFAC: a {} call of '{}' (weight {}) reported {} and outputs of width {} ({} values): expected {} "
            "rows and outputs of width {}",
            c.type, names_[w], to_string(weight.shape()),
            embedding ? fmt::format("{} indices", c.indices.size()) : "rows " + to_string(c.inputs.shape()), width,
            outputs,
            embedding ? fmt::format("indices below {}", weight.shape()[0])
                      : fmt::format("[n, {}]", detail::fan_in(weight)),
            out));
}

template <class T>
void KFAC<T>::find_layers(const std::vector<nn::CapturedLayer<T>>& captured) {
    auto index_of = [&](const BasicTensor<T>& t) {
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (t.defined() && &params_[i].value() == &t.value()) return i;
        return params_.size();
    };
    for (auto& c : captured) {
        const std::size_t w = index_of(c.weight);
        if (w == params_.size()) continue;
        check_call(c, w);
        const KFACLayer<T>* known = nullptr;
        for (auto& l : layers_)
            if (l.weight == w) known = &l;
        if (known) {
            // a weight looked up as an embedding and also multiplied as a Linear's (tied input
            // and output embeddings) has no Kronecker block of either form
            if (known->embedding != (c.type == "Embedding"))
                throw ValueError(fmt::format(
                    "KFAC: the weight '{}' is used both as an embedding and as a {} weight (tied weights); K-FAC "
                    "has no block for it: leave it out of the optimizer's parameters or untie it",
                    known->name, known->embedding ? c.type : "Linear"));
            continue;
        }
        KFACLayer<T> layer;
        layer.name = names_[w];
        layer.weight = w;
        layer.bias = index_of(c.bias);
        layer.has_bias = layer.bias < params_.size();
        layer.embedding = c.type == "Embedding";
        const std::size_t side = layer.embedding ? params_[w].shape()[0] : detail::fan_in(params_[w]) + layer.has_bias;
        const Shape a_shape = layer.embedding ? Shape{side} : Shape{side, side};
        auto it = pending_.find(w);  // factors from load_state
        if (it != pending_.end() && it->second.a.shape() != a_shape)
            throw ValueError(fmt::format("KFAC: the loaded factor '{}.kfac_a' has shape {}, the layer's A {} ({})",
                                         layer.name, to_string(it->second.a.shape()), to_string(a_shape),
                                         layer.embedding  ? "an embedding's diagonal"
                                         : layer.has_bias ? "its inputs and its bias"
                                                          : "its inputs"));
        layers_.push_back(std::move(layer));
        inverses_.emplace_back();
        if (it != pending_.end()) {
            adopt(layers_.size() - 1, std::move(it->second));
            pending_.erase(it);
        }
    }
}

// One eager recording of the model, with the layers' calls captured
template <class T>
std::pair<std::unique_ptr<detail::CurvatureRecording<T>>, std::vector<nn::CapturedLayer<T>>> KFAC<T>::record(
    bool factors_due) {
    nn::LayerCapture<T> capture;
    // the empirical Fisher's output gradients are the loss's own: from the gradient's sweep
    std::function<TensorList<T>()> layer_outputs;
    if (factors_due && options_.fisher == FisherEstimate::empirical)
        layer_outputs = [&capture] { return detail::captured_outputs(capture.layers()).first; };
    auto rec =
        std::make_unique<detail::CurvatureRecording<T>>(model_, params_, Curvature::fisher, false, layer_outputs);
    return {std::move(rec), capture.layers()};
}

template <class T>
void KFAC<T>::step() {
    const bool factors_due = steps_ % options_.factor_every == 0;
    auto [rec, captured] = record(factors_due);
    detail::check_finite_loss("KFAC.step", rec->loss());
    detail::Vec<T> gradient = rec->gradient();
    detail::check_finite("KFAC.step", "gradient", gradient, names_);
    find_layers(captured);
    if (factors_due) update_factors(*rec, captured);
    move(gradient);
    loss_ = rec->loss();
}

// The gradient from the closure (a CompiledLoss, say); the model recorded eagerly only when
// the factors are due
template <class T>
double KFAC<T>::step(const Closure& closure) {
    double loss;
    {
        detail::Snapshot<T> snapshot(params_);  // the closure must not leave changes behind when it throws
        loss = closure();
        snapshot.keep();
    }
    detail::check_finite_loss("KFAC.step", loss);
    detail::Vec<T> gradient = detail::grads_of(params_);
    detail::check_finite("KFAC.step", "gradient", gradient, names_);
    if (steps_ % options_.factor_every == 0) {
        auto [rec, captured] = record(true);
        find_layers(captured);
        update_factors(*rec, captured);
    }
    move(gradient);
    loss_ = loss;
    return loss;
}

// This step's factors, from the recording's output gradients under the Fisher's targets, and
// the layers' captured inputs, folded into the moving averages
template <class T>
void KFAC<T>::update_factors(detail::CurvatureRecording<T>& rec, const std::vector<nn::CapturedLayer<T>>& captured) {
    const KFACOptions& o = options_;
    if (layers_.empty()) return;
    const auto kind = rec.output_hessian();
    if (kind == detail::OutputHessian::generic)
        throw ValueError(
            "KFAC: the loss's Hessian in the outputs is not that of softmax or sigmoid cross entropy or squared "
            "error (times a constant), so the Fisher's targets cannot be drawn from the model's distribution");
    // the captured calls of each layer, and the output tensors whose gradients G needs: per
    // call, the first of its outputs and their number (a recurrent step's gates: several)
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> calls(layers_.size());
    const auto [outputs, first] = detail::captured_outputs(captured);
    for (std::size_t c = 0; c < captured.size(); ++c)
        for (std::size_t l = 0; l < layers_.size(); ++l)
            if (&captured[c].weight.value() == &params_[layers_[l].weight].value())
                calls[l].emplace_back(first[c], std::max<std::size_t>(captured[c].output_parts.size(), 1));
    // the output-space vectors whose sweeps give G: sum over sweeps of ds^T ds
    const Array<T>& z = rec.outputs().value();
    const double scale = rec.output_scale();
    const std::size_t width = z.dimension() == 0                                               ? 1
                              : (z.dimension() >= 2 || kind == detail::OutputHessian::softmax) ? z.shape().back()
                                                                                               : 1;
    const std::size_t rows = z.size() / std::max<std::size_t>(width, 1);
    const Array<T>& p = rec.probabilities();
    std::vector<Array<T>> seeds;  // empty for the empirical Fisher: its ds came with the gradient
    double g_weight = 1;          // G = g_weight sum ds^T ds
    if (o.fisher == FisherEstimate::empirical) {
        g_weight = scale > 0 ? 1 / scale : 0;
    } else if (o.fisher == FisherEstimate::sampled) {
        Array<T> v = Array<T>::from_shape(z.shape());
        const T root = T(std::sqrt(std::max(scale, 0.0)));
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        std::normal_distribution<double> normal;
        for (std::size_t r = 0; r < rows; ++r) {
            T* vr = v.data() + r * width;
            const T* pr = p.data() + r * width;
            if (kind == detail::OutputHessian::softmax) {  // y ~ Cat(p): v = p - e_y
                double u = uniform(rng_), c = 0;
                std::size_t y = width - 1;
                for (std::size_t k = 0; k < width; ++k)
                    if ((c += double(pr[k])) > u) {
                        y = k;
                        break;
                    }
                for (std::size_t k = 0; k < width; ++k) vr[k] = root * (pr[k] - T(k == y));
            } else if (kind == detail::OutputHessian::sigmoid) {  // y ~ Bernoulli(p): v = p - y
                for (std::size_t k = 0; k < width; ++k) vr[k] = root * (pr[k] - T(uniform(rng_) < double(pr[k])));
            } else {  // squared error: v ~ N(0, scale I)
                for (std::size_t k = 0; k < width; ++k) vr[k] = root * T(normal(rng_));
            }
        }
        seeds.push_back(std::move(v));
    } else {  // exact: H_L = sum_c v_c v_c^T, one sweep per output
        for (std::size_t c = 0; c < width; ++c) {
            Array<T> v = xt::zeros<T>(z.shape());
            for (std::size_t r = 0; r < rows; ++r) {
                T* vr = v.data() + r * width;
                const T* pr = p.data() + r * width;
                if (kind == detail::OutputHessian::softmax) {  // diag(p) - p p^T = sum_c p_c (e_c - p)(e_c - p)^T
                    const T root = T(std::sqrt(std::max(scale * double(pr[c]), 0.0)));
                    for (std::size_t k = 0; k < width; ++k) vr[k] = root * (T(k == c) - pr[k]);
                } else if (kind == detail::OutputHessian::sigmoid) {
                    vr[c] = T(std::sqrt(std::max(scale * double(pr[c] * (T(1) - pr[c])), 0.0)));
                } else {
                    vr[c] = T(std::sqrt(std::max(scale, 0.0)));
                }
            }
            seeds.push_back(std::move(v));
        }
    }
    std::vector<std::optional<Array<T>>> new_g(layers_.size());
    const std::size_t sweeps = o.fisher == FisherEstimate::empirical ? 1 : seeds.size();
    for (std::size_t sweep = 0; sweep < sweeps; ++sweep) {
        detail::Vec<T> swept;
        const detail::Vec<T>& ds = o.fisher == FisherEstimate::empirical
                                       ? rec.also_gradient()
                                       : (swept = rec.output_vjp(seeds[sweep], outputs));
        if (ds.size() != outputs.size())  // the recording's also-tensors are these outputs
            throw std::logic_error("KFAC: the recording gave no output gradients for the captured layers");
        for (std::size_t l = 0; l < layers_.size(); ++l) {
            if (calls[l].empty()) continue;
            const std::size_t out = detail::out_features(layers_[l].embedding, params_[layers_[l].weight]);
            std::vector<Array<T>> joined;  // (a recurrent step's gates side by side)
            joined.reserve(calls[l].size());
            std::vector<const Array<T>*> parts;
            for (auto [first, count] : calls[l]) {
                if (count == 1) {
                    parts.push_back(&ds[first]);
                } else {
                    joined.push_back(detail::join_columns(&ds[first], count));
                    parts.push_back(&joined.back());
                }
            }
            Array<T> gg = detail::second_moments(parts, out, false);
            if (!new_g[l])
                new_g[l] = std::move(gg);
            else
                *new_g[l] += gg;
        }
    }
    // this process's sums a^T a (and its rows) and ds^T ds; with sharded data, summed over
    // the processes, so that the factors are those of all the data
    std::vector<std::size_t> called;
    detail::Vec<T> sums;
    std::vector<double> layer_rows;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
        if (calls[l].empty()) continue;  // not called this time: its factors stay
        const KFACLayer<T>& layer = layers_[l];
        const BasicTensor<T>& weight = params_[layer.weight];
        called.push_back(l);
        if (layer.embedding) {  // one-hot rows: a^T a is diagonal, each row's count
            Array<T> counts = xt::zeros<T>({weight.shape()[0]});
            std::size_t rows = 0;
            for (auto& c : captured)
                if (&c.weight.value() == &weight.value()) {
                    for (std::size_t i : c.indices) counts(i) += T(1);
                    rows += c.indices.size();
                }
            layer_rows.push_back(double(rows));
            sums.push_back(std::move(counts));
        } else {
            const std::size_t in = detail::fan_in(weight);
            std::vector<const Array<T>*> parts;
            std::size_t rows = 0;
            for (auto& c : captured)
                if (&c.weight.value() == &weight.value()) {
                    parts.push_back(&c.inputs);
                    rows += c.inputs.size() / in;
                }
            layer_rows.push_back(double(rows));
            sums.push_back(detail::second_moments(parts, in, layer.has_bias));
        }
        sums.push_back(std::move(*new_g[l]));
    }
    if (model_.shards.active()) {
        model_.shards.arrays(sums);
        for (double& r : layer_rows) r = model_.shards.scalar(r);
    }
    for (std::size_t k = 0; k < called.size(); ++k) {
        KFACLayer<T>& layer = layers_[called[k]];
        Array<T> new_a = std::move(sums[2 * k]);
        new_a /= T(layer_rows[k]);
        Array<T> g_new = std::move(sums[2 * k + 1]);
        g_new *= T(g_weight);
        const T d = T(o.stat_decay);
        if (!layer.has_factors() || d == T(0)) {
            layer.a = std::move(new_a);
            layer.g = std::move(g_new);
        } else {
            layer.a = d * layer.a + (T(1) - d) * new_a;
            layer.g = d * layer.g + (T(1) - d) * g_new;
        }
    }
}

// The step from a gradient: inverses refreshed when due, K-FAC's blocks, KL clipping, weight
// decay and momentum
template <class T>
void KFAC<T>::move(detail::Vec<T> gradient) {
    const KFACOptions& o = options_;
    bool stale = false;
    for (auto& inv : inverses_) stale = stale || !inv.ready;
    if (steps_ % o.inverse_every == 0 || stale) refresh_inverses();

    // the direction: K-FAC's blocks, KL-clipped, then weight decay and momentum
    detail::Vec<T> direction = precondition(gradient);
    if (o.kl_clip > 0 && !layers_.empty()) {
        double vg = 0;
        auto dot = [&](std::size_t i) {
            double s = 0;
            for (std::size_t k = 0; k < gradient[i].size(); ++k)
                s += double(direction[i].data()[k]) * double(gradient[i].data()[k]);
            return s;
        };
        for (auto& l : layers_) vg += dot(l.weight) + (l.has_bias ? dot(l.bias) : 0.0);
        vg *= o.lr * o.lr;
        if (vg > o.kl_clip) {
            const T nu = T(std::sqrt(o.kl_clip / vg));
            for (auto& l : layers_) {
                direction[l.weight] *= nu;
                if (l.has_bias) direction[l.bias] *= nu;
            }
        }
    }
    for (std::size_t i = 0; i < params_.size(); ++i) {
        Array<T>& value = BasicTensor<T>(params_[i]).mutable_value();
        if (o.weight_decay != 0) direction[i] += T(o.weight_decay) * value;
        if (o.momentum != 0) {
            if (!momentum_[i])
                momentum_[i] = direction[i];
            else
                *momentum_[i] = T(o.momentum) * *momentum_[i] + direction[i];
            value -= T(o.lr) * *momentum_[i];
        } else {
            value -= T(o.lr) * direction[i];
        }
    }
    ++steps_;
}

template <class T>
void KFAC<T>::refresh_inverses() {
    for (std::size_t l = 0; l < layers_.size(); ++l)
        if (layers_[l].has_factors()) invert(l, layers_[l].a, layers_[l].g);  // (none yet: not called so far)
}

template <class T>
void KFAC<T>::invert(std::size_t l, const Array<T>& a, const Array<T>& g) {
    const KFACOptions& o = options_;
    detail::KFACInverse<T>& inv = inverses_[l];
    // an embedding's A is kept as its diagonal: its eigenvalues, in the identity's eigenbasis
    const bool diagonal = layers_[l].embedding;
    auto eg = detail::symmetric_eigen("KFAC", g);
    std::optional<detail::SymmetricEigen<T>> ea;
    if (!diagonal) ea = detail::symmetric_eigen("KFAC", a);
    const Array<T>& a_values = diagonal ? a : ea->values;
    auto positive = [](T v) { return std::max(double(v), 0.0); };  // (below zero: rounding of a second moment)
    if (o.factored_damping) {
        // pi balances the damping between the factors by their average eigenvalues
        const double ta = detail::mean_trace(a), tg = detail::mean_trace(g);
        const double pi = ta > 0 && tg > 0 ? std::sqrt(ta / tg) : 1.0;
        const double root = std::sqrt(o.damping);
        if (diagonal) {
            inv.a = Array<T>::from_shape({a.size()});
            for (std::size_t j = 0; j < a.size(); ++j) inv.a(j) = T(1.0 / (positive(a(j)) + pi * root));
        } else {
            inv.a = detail::damped_inverse(*ea, pi * root);
        }
        inv.g = detail::damped_inverse(eg, root / pi);
    } else {
        // 1 / (lambda_G,i lambda_A,j + lambda): [out, in], or an embedding's [count, dim] layout
        const std::size_t na = a_values.size(), ng = eg.values.size();
        inv.scale = diagonal ? Array<T>::from_shape({na, ng}) : Array<T>::from_shape({ng, na});
        for (std::size_t i = 0; i < ng; ++i)
            for (std::size_t j = 0; j < na; ++j)
                (diagonal ? inv.scale(j, i) : inv.scale(i, j)) =
                    T(1.0 / (positive(eg.values(i)) * positive(a_values(j)) + o.damping));
        inv.g = std::move(eg.vectors);
        if (!diagonal) inv.a = std::move(ea->vectors);
    }
    inv.from_a = a;
    inv.from_g = g;
    inv.ready = true;
}

template <class T>
ParamVector<T> KFAC<T>::precondition(const ParamVector<T>& gradient) const {
    if (gradient.size() != params_.size())
        throw ShapeError(
            fmt::format("KFAC.precondition: {} arrays for {} parameters", gradient.size(), params_.size()));
    for (std::size_t i = 0; i < params_.size(); ++i)
        if (gradient[i].shape() != params_[i].shape())
            throw ShapeError(fmt::format("KFAC.precondition: array {} has shape {}, the parameter {}", i,
                                         to_string(gradient[i].shape()), to_string(params_[i].shape())));
    ParamVector<T> out = gradient;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
        const KFACLayer<T>& layer = layers_[l];
        const detail::KFACInverse<T>& inv = inverses_[l];
        if (!inv.ready) continue;
        if (layer.embedding) {  // in the weight's layout [count, dim], A^-1 on the left
            const Array<T>& gw = gradient[layer.weight];
            Array<T> d;
            if (options_.factored_damping) {
                d = detail::product(gw, inv.g);  // (A + g I)^-1 grad (G + g I)^-1, A diagonal
                const std::size_t dim = d.shape()[1];
                for (std::size_t j = 0; j < d.shape()[0]; ++j)
                    for (std::size_t i = 0; i < dim; ++i) d(j, i) *= inv.a(j);
            } else {
                Array<T> v = detail::product_t(gw, inv.g);  // grad E_G^T
                v *= inv.scale;
                d = detail::product(v, inv.g);  // v E_G
            }
            out[layer.weight] = std::move(d);
            continue;
        }
        const std::size_t rows = params_[layer.weight].shape()[0], in = detail::fan_in(params_[layer.weight]);
        Array<T> gw = gradient[layer.weight];  // [out, in] and the bias as a last column
        gw.reshape({rows, in});
        if (layer.has_bias) {
            Array<T> joined = Array<T>::from_shape({rows, in + 1});
            xt::view(joined, xt::all(), xt::range(0, in)) = gw;
            xt::view(joined, xt::all(), in) = gradient[layer.bias];
            gw = std::move(joined);
        }
        Array<T> d;
        if (options_.factored_damping) {
            d = detail::product(detail::product(inv.g, gw), inv.a);  // (G + g I)^-1 grad (A + g I)^-1
        } else {
            Array<T> v = detail::product_t(detail::product(inv.g, gw), inv.a);  // E_G grad E_A^T
            v *= inv.scale;
            d = detail::product(detail::t_product(inv.g, v), inv.a);  // E_G^T v E_A
        }
        if (layer.has_bias) {
            out[layer.weight] = xt::view(d, xt::all(), xt::range(0, in));
            out[layer.bias] = xt::view(d, xt::all(), in);
        } else {
            out[layer.weight] = std::move(d);
        }
        out[layer.weight].reshape(params_[layer.weight].shape());
    }
    return out;
}

template <class T>
nn::NamedArrays<T> KFAC<T>::state() const {
    nn::NamedArrays<T> out;
    out.emplace_back("kfac.steps", detail::scalar_array<T>(double(steps_)));
    for (std::size_t i = 0; i < params_.size(); ++i)
        if (momentum_[i]) out.emplace_back(names_[i] + ".momentum_buffer", *momentum_[i]);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
        if (!layers_[l].has_factors()) continue;
        out.emplace_back(layers_[l].name + ".kfac_a", layers_[l].a);
        out.emplace_back(layers_[l].name + ".kfac_g", layers_[l].g);
        if (inverses_[l].ready) {
            out.emplace_back(layers_[l].name + ".kfac_a_inverted", inverses_[l].from_a);
            out.emplace_back(layers_[l].name + ".kfac_g_inverted", inverses_[l].from_g);
        }
    }
    return out;
}

template <class T>
void KFAC<T>::load_state(const nn::NamedArrays<T>& state) {
    detail::StateReader<T> reader("KFAC.load_state", state);
    const std::size_t steps = reader.count("kfac.steps", 0);
    std::vector<std::optional<Array<T>>> momentum(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i)
        momentum[i] = reader.array(names_[i] + ".momentum_buffer", params_[i].shape());
    // the factors of each weight (a parameter of two or more axes, seen as [out, in]): G of side
    // out, A of side in, or in + 1 with a bias; an embedding's [count, dim]: A its diagonal
    // [count], G [dim, dim]. Whether the layer has a bias, or is an embedding, is known once a
    // step has seen it (then checked exactly); before, the saved A's shape tells.
    std::map<std::size_t, SavedFactors> factors;
    for (std::size_t i = 0; i < params_.size(); ++i) {
        if (params_[i].dim() < 2 || params_[i].size() == 0) continue;
        const std::size_t out = params_[i].shape()[0], in = detail::fan_in(params_[i]);
        const std::string name = names_[i];
        const Array<T>* a = reader.find(name + ".kfac_a");
        const Array<T>* g = reader.find(name + ".kfac_g");
        if (!a && !g) continue;
        if (!a || !g)
            throw ValueError(
                fmt::format("KFAC.load_state: '{}' has one of its factors (kfac_a, kfac_g) but not both", name));
        std::size_t side = a->dimension() == 2 && a->shape()[0] == in + 1 ? in + 1 : in;
        bool embedding = a->dimension() == 1 && params_[i].dim() == 2;
        for (auto& l : layers_)
            if (l.weight == i) side = in + l.has_bias, embedding = l.embedding;
        const Shape a_shape = embedding ? Shape{out} : Shape{side, side};
        const std::size_t g_side = embedding ? in : out;
        SavedFactors f{*reader.array(name + ".kfac_a", a_shape),
                       *reader.array(name + ".kfac_g", Shape{g_side, g_side})};
        auto ia = reader.array(name + ".kfac_a_inverted", a_shape);
        auto ig = reader.array(name + ".kfac_g_inverted", Shape{g_side, g_side});
        if (bool(ia) != bool(ig))
            throw ValueError(fmt::format(
                "KFAC.load_state: '{}' has one of its inverted factors (kfac_a_inverted, kfac_g_inverted) but not both",
                name));
        if (ia) {
            f.inverted_a = std::move(*ia);
            f.inverted_g = std::move(*ig);
        }
        factors[i] = std::move(f);
    }
    reader.finish();
    // (every entry checked: now the state changes)
    steps_ = steps;
    momentum_ = std::move(momentum);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
        inverses_[l] = {};
        auto it = factors.find(layers_[l].weight);
        if (it == factors.end()) {
            layers_[l].a = layers_[l].g = Array<T>();
            continue;
        }
        adopt(l, std::move(it->second));
        factors.erase(it);
    }
    pending_ = std::move(factors);
}

// Factors read by load_state become layer l's; its inverses are those of the factors inverted
// when the state was saved (so the run continues as if never stopped), or made at the next step.
template <class T>
void KFAC<T>::adopt(std::size_t l, SavedFactors f) {
    layers_[l].a = std::move(f.a);
    layers_[l].g = std::move(f.g);
    if (f.inverted_g.dimension() == 2) invert(l, f.inverted_a, f.inverted_g);
}

template class KFAC<float>;
template class KFAC<double>;

}  // namespace xtgrad::optim
