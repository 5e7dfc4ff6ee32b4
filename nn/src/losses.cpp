// Losses. Each validates its arguments, then is a few autodiff ops (BCE from logits is a
// custom op with its own rule); tests/nn/test_losses.cpp checks each to second order.
#include "xtgrad/nn/losses.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include <fmt/format.h>
#include <xtensor/xmath.hpp>

namespace xtgrad::nn {

namespace {

template <class T>
void check_defined(const char* loss, const BasicTensor<T>& t, const char* what) {
    if (!t.defined()) throw ValueError(fmt::format("{}: {} is an undefined tensor", loss, what));
}

template <class T>
void check_no_nan(const char* loss, const BasicTensor<T>& t, const char* what) {
    // a validation: a replay that meets a NaN leaves one in the loss and is evaluated afresh
    const auto& v = detail::unchecked_value(t);
    for (std::size_t i = 0; i < v.size(); ++i)
        if (std::isnan(v.data()[i]))
            throw DomainError(
                fmt::format("{}: {} of shape {} has nan at flat index {}", loss, what, to_string(v.shape()), i));
}

template <class T>
void check_same_shape(const char* loss, const BasicTensor<T>& z, const BasicTensor<T>& t) {
    check_defined(loss, z, "the prediction");
    check_defined(loss, t, "the target");
    if (z.shape() != t.shape())
        throw ShapeError(fmt::format("{}: prediction of shape {} and target of shape {} differ", loss,
                                     to_string(z.shape()), to_string(t.shape())));
    check_no_nan(loss, z, "the prediction");
    check_no_nan(loss, t, "the target");
}

template <class T>
BasicTensor<T> reduce(const BasicTensor<T>& elementwise, Reduction r) {
    switch (r) {
        case Reduction::sum:
            return sum(elementwise);
        case Reduction::mean:
            return mean(elementwise);
        case Reduction::none:
            return elementwise;
    }
    throw ValueError("reduce: unknown reduction");
}

// Sums along the last axis; then the reduction over what remains.
template <class T>
BasicTensor<T> reduce_rows(const BasicTensor<T>& elementwise, Reduction r) {
    auto per_row = sum(elementwise, Axes{-1});
    return r == Reduction::none ? per_row : reduce(per_row, r);
}

// a log b with 0 log b = 0 (a mask of the zeros of a, recorded): no NaN at a = 0, b = 0.
template <class T>
BasicTensor<T> xlogy(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    auto zero = a == T(0);
    auto one = BasicTensor<T>::scalar(1), nil = BasicTensor<T>::scalar(0);
    return xtgrad::where(zero, nil, a * log(xtgrad::where(zero, one, b)));
}

template <class T>
std::vector<std::size_t> checked_labels(const char* loss, const BasicTensor<T>& z, const IndexArray& labels) {
    check_defined(loss, z, "the logits");
    if (z.dim() != 2)
        throw ShapeError(fmt::format("{}: expects [rows, classes], got shape {}", loss, to_string(z.shape())));
    if (labels.size() != z.shape()[0])
        throw ShapeError(fmt::format("{}: {} labels for {} rows (shape {})", loss, labels.size(), z.shape()[0],
                                     to_string(z.shape())));
    auto checked = labels.labels(loss, z.shape()[1]);
    check_no_nan(loss, z, "the logits");
    return checked;
}

}  // namespace

template <class T>
BasicTensor<T> sum_squared_error(const BasicTensor<T>& z, const BasicTensor<T>& t, Reduction r) {
    check_same_shape("sum_squared_error", z, t);
    return reduce(square(z - t) * T(0.5), r);
}

template <class T>
BasicTensor<T> mean_squared_error(const BasicTensor<T>& z, const BasicTensor<T>& t, Reduction r) {
    check_same_shape("mean_squared_error", z, t);
    return reduce(square(z - t), r);
}

template <class T>
BasicTensor<T> gaussian_nll(const BasicTensor<T>& z, const BasicTensor<T>& t, double sigma, Reduction r) {
    check_same_shape("gaussian_nll", z, t);
    if (!(sigma > 0) || !std::isfinite(sigma))
        throw ValueError(fmt::format("gaussian_nll: sigma must be positive and finite, got {}", sigma));
    T constant = T(std::log(sigma) + 0.5 * std::log(2 * std::numbers::pi));
    return reduce(square((z - t) * T(1 / sigma)) * T(0.5) + constant, r);
}

template <class T>
BasicTensor<T> binary_cross_entropy(const BasicTensor<T>& p, const BasicTensor<T>& t, Reduction r) {
    check_same_shape("binary_cross_entropy", p, t);
    const auto& pv = detail::unchecked_value(p);  // (outside [0, 1] a replay meets a NaN: checked afresh)
    for (std::size_t i = 0; i < pv.size(); ++i)
        if (pv.data()[i] < 0 || pv.data()[i] > 1)
            throw DomainError(
                fmt::format("binary_cross_entropy: probability {} at flat index {} of shape {} is "
                            "outside [0, 1] (for logits use binary_cross_entropy_with_logits)",
                            pv.data()[i], i, to_string(pv.shape())));
    return reduce(-(xlogy(t, p) + xlogy(T(1) - t, T(1) - p)), r);
}

template <class T>
BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>& s, const BasicTensor<T>& t, Reduction r,
                                                double pos_weight) {
    check_same_shape("binary_cross_entropy_with_logits", s, t);
    if (!(pos_weight > 0) || !std::isfinite(pos_weight))
        throw ValueError(fmt::format("binary_cross_entropy_with_logits: pos_weight must be positive and finite, got {}",
                                     pos_weight));
    const T w = T(pos_weight);
    // (1 - t) s + (w t + 1 - t) softplus(-s), with softplus(-s) = max(-s, 0) + log1p(exp(-|s|))
    auto loss = custom_op<T>(
        "binary_cross_entropy_with_logits", {s, t},
        [w](const TensorList<T>& in) {
            const auto& sv = in[0].value();
            const auto& tv = in[1].value();
            Array<T> sp = xt::maximum(-sv, T(0)) + xt::log1p(xt::exp(-xt::abs(sv)));
            return Array<T>((T(1) - tv) * sv + (w * tv + T(1) - tv) * sp);
        },
        // d/ds = sigmoid(s) (1 - t + w t) - w t  (exactly sigmoid(s) - t for w = 1)
        // d/dt = (w - 1) softplus(-s) - s
        [w](const TensorList<T>& in, const BasicTensor<T>&, const BasicTensor<T>& g) -> TensorList<T> {
            const auto& sv = in[0];
            const auto& tv = in[1];
            BasicTensor<T> ds, dt;
            if (in[0].requires_grad())
                ds = w == T(1) ? g * (sigmoid(sv) - tv) : g * (sigmoid(sv) * (T(1) - tv + w * tv) - w * tv);
            if (in[1].requires_grad()) dt = g * (softplus(-sv) * (w - T(1)) - sv);
            return {ds, dt};
        });
    return reduce(loss, r);
}

template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const IndexArray& label_array,
                             const CrossEntropyOptions& o) {
    auto labels = checked_labels("cross_entropy", logits, label_array);
    const std::size_t rows = logits.shape()[0], classes = logits.shape()[1];
    if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
        throw ValueError(fmt::format("cross_entropy: label_smoothing must be in [0, 1), got {}", o.label_smoothing));
    if (!o.class_weights.empty() && o.class_weights.size() != classes)
        throw ShapeError(
            fmt::format("cross_entropy: {} class weights for {} classes", o.class_weights.size(), classes));
    for (double cw : o.class_weights)
        if (!(cw >= 0) || !std::isfinite(cw))
            throw ValueError(fmt::format("cross_entropy: class weight {} must be >= 0 and finite", cw));
    auto logp = log_softmax(logits, 1);
    BasicTensor<T> per_row = -pick(logp, labels);
    if (o.label_smoothing > 0) {
        T e = T(o.label_smoothing);
        per_row = per_row * (T(1) - e) - sum(logp, Axes{1}) * (e / T(classes));
    }
    double weight_total = double(rows);
    if (!o.class_weights.empty()) {
        Array<T> w = Array<T>::from_shape({rows});
        weight_total = 0;
        for (std::size_t n = 0; n < rows; ++n) {
            w(n) = T(o.class_weights[labels[n]]);
            weight_total += o.class_weights[labels[n]];
        }
        per_row = per_row * BasicTensor<T>::constant(std::move(w));
    }
    switch (o.reduction) {
        case Reduction::none:
            return per_row;
        case Reduction::sum:
            return sum(per_row);
        case Reduction::mean:
            if (!(weight_total > 0))
                throw ValueError("cross_entropy: the class weights of the targets sum to 0; the mean is undefined");
            return sum(per_row) * T(1 / weight_total);
    }
    throw ValueError("cross_entropy: unknown reduction");
}

template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const BasicTensor<T>& target_probs, Reduction r) {
    check_same_shape("cross_entropy", logits, target_probs);
    if (logits.dim() != 2)
        throw ShapeError(
            fmt::format("cross_entropy: expects [rows, classes], got shape {}", to_string(logits.shape())));
    // The targets pass through a check of their own (an identity with the identity's rule), so
    // that a compiled function checks the targets of every call, not only those of its trace.
    auto checked = custom_op<T>(
        "cross_entropy.check_targets", {target_probs},
        [](const TensorList<T>& in) {
            const Array<T>& t = in[0].value();
            const std::size_t classes = t.shape()[1];
            const double tolerance = 64 * double(std::numeric_limits<T>::epsilon()) * double(classes);
            for (std::size_t row = 0; row < t.shape()[0]; ++row) {
                double total = 0;
                for (std::size_t c = 0; c < classes; ++c) {
                    const T p = t.data()[row * classes + c];
                    if (!(p >= 0))
                        throw DomainError(fmt::format(
                            "cross_entropy: target probability {} at [{}, {}] is negative (targets are "
                            "probabilities: rows of non-negative values summing to 1; class indices go in an "
                            "IndexArray)",
                            p, row, c));
                    total += double(p);
                }
                if (std::abs(total - 1) > tolerance)
                    throw DomainError(fmt::format(
                        "cross_entropy: target row {} sums to {}, not 1 (within {:.2g}); targets are probabilities",
                        row, total, tolerance));
            }
            return Array<T>(t);
        },
        [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>& g) { return TensorList<T>{g}; });
    return reduce_rows(-(checked * log_softmax(logits, 1)), r);
}

template <class T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, const IndexArray& label_array, Reduction r) {
    auto labels = checked_labels("nll_loss", log_probs, label_array);
    return reduce(-pick(log_probs, labels), r);
}

template <class T>
BasicTensor<T> kl_divergence(const BasicTensor<T>& p, const BasicTensor<T>& q, Reduction r) {
    check_same_shape("kl_divergence", p, q);
    for (auto* d : {&p, &q}) {
        const auto& v = detail::unchecked_value(*d);
        for (std::size_t i = 0; i < v.size(); ++i)
            if (v.data()[i] < 0 || v.data()[i] > 1)
                throw DomainError(
                    fmt::format("kl_divergence: probability {} at flat index {} is outside [0, 1]", v.data()[i], i));
    }
    return reduce_rows(xlogy(p, p) - xlogy(p, q), r);
}

template <class T>
BasicTensor<T> entropy(const BasicTensor<T>& p, Reduction r) {
    check_defined("entropy", p, "the distribution");
    check_no_nan("entropy", p, "the distribution");
    return reduce_rows(-xlogy(p, p), r);
}

template <class T>
BasicTensor<T> l2_penalty(const Module<T>& module, double lambda, bool exclude_bias) {
    if (!(lambda >= 0) || !std::isfinite(lambda))
        throw ValueError(fmt::format("l2_penalty: lambda must be >= 0 and finite, got {}", lambda));
    BasicTensor<T> total = BasicTensor<T>::scalar(0);
    for (auto& [name, p] : module.named_parameters()) {
        bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
        if (exclude_bias && is_bias) continue;
        total = total + sum(square(p));
    }
    return total * T(lambda / 2);
}

#define XTGRAD_NN_LOSSES(T)                                                                                           \
    template BasicTensor<T> sum_squared_error(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);               \
    template BasicTensor<T> mean_squared_error(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);              \
    template BasicTensor<T> gaussian_nll(const BasicTensor<T>&, const BasicTensor<T>&, double, Reduction);            \
    template BasicTensor<T> binary_cross_entropy(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);            \
    template BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>&, const BasicTensor<T>&, Reduction, \
                                                             double);                                                 \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, const IndexArray&, const CrossEntropyOptions&);      \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);                   \
    template BasicTensor<T> nll_loss(const BasicTensor<T>&, const IndexArray&, Reduction);                            \
    template BasicTensor<T> kl_divergence(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);                   \
    template BasicTensor<T> entropy(const BasicTensor<T>&, Reduction);                                                \
    template BasicTensor<T> l2_penalty(const Module<T>&, double, bool);
XTGRAD_NN_LOSSES(float)
XTGRAD_NN_LOSSES(double)

}  // namespace xtgrad::nn
