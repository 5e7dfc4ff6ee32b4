// Scaled dot-product and multi-head attention from matmul, softmax and where: heads are a batch
// axis ([B, H, L, E / H]), so the products are batched matmuls and the masks broadcast.
#include "xtgrad/nn/attention.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>

#include "xtgrad/nn/init.hpp"
#include "shape_text.hpp"

namespace xtgrad::nn {

namespace {

using xtgrad::nn::text::shape_of;

// A mask or bias must broadcast to the scores' shape without enlarging it (a larger one
// would silently broadcast the output).
void check_mask_shape(const char* op, const char* what, const Shape& mask, const Shape& scores) {
    bool fits = mask.size() <= scores.size();
    for (std::size_t i = 0; fits && i < mask.size(); ++i) {
        std::size_t m = mask[mask.size() - 1 - i], s = scores[scores.size() - 1 - i];
        fits = m == s || m == 1;
    }
    if (!fits)
        throw ShapeError(fmt::format("{}: {} of shape {} does not broadcast to the scores {}", op, what,
                                     to_string(mask), to_string(scores)));
}

template <class T>
BasicMask<T> either(const std::optional<BasicMask<T>>& a, const BasicMask<T>& b) {
    return a ? (*a || b) : b;
}

// The common core: `blocked` is true where a query may not attend, `bias` is added to the
// scores. Blocked scores become the lowest finite number rather than -inf, so that a row
// with no key left is uniform instead of NaN, and is then zeroed.
template <class T>
AttentionOutput<T> attend(const char* op, const BasicTensor<T>& q, const BasicTensor<T>& k, const BasicTensor<T>& v,
                          std::optional<BasicMask<T>> blocked, const BasicTensor<T>& bias, bool causal, T scale,
                          double dropout_p, bool need_weights, Generator& gen) {
    const std::size_t L = q.shape()[q.dim() - 2], S = k.shape()[k.dim() - 2];
    auto scores = matmul(q * scale, transpose(k, -2, -1));  // [..., L, S]
    bool any_row_may_be_empty = blocked.has_value();
    if (blocked) check_mask_shape(op, "the mask", blocked->shape(), scores.shape());
    if (bias.defined()) {
        check_mask_shape(op, "the float mask", bias.shape(), scores.shape());
        scores = scores + bias;
        blocked = either(blocked, scores == -std::numeric_limits<T>::infinity());
        any_row_may_be_empty = true;
    }
    if (causal) blocked = either(blocked, BasicMask<T>(Array<bool>(xt::triu(xt::ones<bool>({L, S}), 1))));
    BasicTensor<T> weights;
    if (!blocked) {
        weights = softmax(scores, -1);
    } else {
        weights = softmax(where(*blocked, std::numeric_limits<T>::lowest(), scores), -1);
        if (any_row_may_be_empty) weights = weights * (T(1) - min(blocked->tensor(), -1, true));
    }
    if (dropout_p > 0) weights = dropout(weights, dropout_p, true, gen);
    AttentionOutput<T> out{matmul(weights, v), {}};
    if (need_weights) out.weights = weights;
    return out;
}

void check_dropout(const char* op, double p) {
    if (!(p >= 0 && p < 1)) throw ValueError(fmt::format("{}: dropout must be in [0, 1), got {}", op, p));
}

}  // namespace

namespace functional {
template <class T>
AttentionOutput<T> scaled_dot_product_attention(const BasicTensor<T>& q, const BasicTensor<T>& k,
                                                const BasicTensor<T>& v,
                                                const std::type_identity_t<AttentionMask<T>>& attn_mask,
                                                const ScaledDotProductOptions& options, Generator& gen) {
    const char* op = "scaled_dot_product_attention";
    if (!q.defined() || !k.defined() || !v.defined() || q.dim() < 2 || k.dim() < 2 || v.dim() < 2 ||
        q.shape().back() != k.shape().back() || k.shape()[k.dim() - 2] != v.shape()[v.dim() - 2])
        throw ShapeError(fmt::format("{}: expects q [..., L, E], k [..., S, E], v [..., S, Ev]; got {}, {}, {}", op,
                                     shape_of(q), shape_of(k), shape_of(v)));
    check_dropout(op, options.dropout_p);
    if (options.scale && !(std::isfinite(*options.scale) && *options.scale > 0))
        throw ValueError(fmt::format("{}: scale must be positive and finite, got {}", op, *options.scale));
    const T scale = T(options.scale ? *options.scale : 1.0 / std::sqrt(double(q.shape().back())));
    std::optional<BasicMask<T>> blocked;
    BasicTensor<T> bias;
    if (const auto* m = std::get_if<BasicMask<T>>(&attn_mask)) blocked = !*m;  // true: may attend
    if (const auto* b = std::get_if<BasicTensor<T>>(&attn_mask)) bias = *b;
    return attend(op, q, k, v, blocked, bias, options.is_causal, scale, options.dropout_p, options.need_weights, gen);
}
}  // namespace functional

template <class T>
MultiheadAttention<T>::MultiheadAttention(const MultiheadAttentionOptions& options, Generator& gen)
    : options_(options), gen_(gen) {
    auto& o = options_;
    if (o.embed_dim == 0 || o.num_heads == 0 || o.embed_dim % o.num_heads != 0)
        throw ValueError(fmt::format("MultiheadAttention: embed_dim {} must be a positive multiple of num_heads {}",
                                     o.embed_dim, o.num_heads));
    check_dropout("MultiheadAttention", o.dropout);
    if (o.kdim == 0) o.kdim = o.embed_dim;
    if (o.vdim == 0) o.vdim = o.embed_dim;
    const std::size_t E = o.embed_dim;
    auto xavier = [&](const char* name, const Shape& shape) {
        auto w = this->register_parameter(name, Array<T>::from_shape(shape));
        return init::xavier_uniform_(w, 1.0, gen);
    };
    // PyTorch makes out_proj (drawing its weight) before the projections
    out_proj_ = this->register_module(
        "out_proj", std::make_shared<Linear<T>>(LinearOptions{.in = E, .out = E, .bias = o.bias}, gen));
    if (o.kdim == E && o.vdim == E) {
        in_proj_weight_ = xavier("in_proj_weight", {3 * E, E});
    } else {
        q_proj_weight_ = xavier("q_proj_weight", {E, E});
        k_proj_weight_ = xavier("k_proj_weight", {E, o.kdim});
        v_proj_weight_ = xavier("v_proj_weight", {E, o.vdim});
    }
    if (o.bias) {
        in_proj_bias_ = this->register_parameter("in_proj_bias", Array<T>(xt::zeros<T>({3 * E})));
        auto out_bias = out_proj_->bias();  // a handle to the layer's parameter
        out_bias.set_value(Array<T>(xt::zeros<T>({E})));
    }
}

template <class T>
AttentionOutput<T> MultiheadAttention<T>::forward(const BasicTensor<T>& query, const BasicTensor<T>& key,
                                                  const BasicTensor<T>& value, const MultiheadAttentionArgs<T>& args) {
    const auto& o = options_;
    const char* op = "MultiheadAttention";
    const bool batched = query.defined() && query.dim() == 3;
    const std::size_t dims = batched ? 3 : 2;
    auto expects = [&](const BasicTensor<T>& t, std::size_t features) {
        return t.defined() && t.dim() == dims && t.shape().back() == features;
    };
    if (!query.defined() || (query.dim() != 2 && query.dim() != 3) || !expects(query, o.embed_dim) ||
        !expects(key, o.kdim) || !expects(value, o.vdim) || key.shape()[dims - 2] != value.shape()[dims - 2] ||
        (batched && (key.shape()[o.batch_first ? 1 : 0] != value.shape()[o.batch_first ? 1 : 0] ||
                     key.shape()[o.batch_first ? 0 : 1] != query.shape()[o.batch_first ? 0 : 1] ||
                     value.shape()[o.batch_first ? 0 : 1] != query.shape()[o.batch_first ? 0 : 1])))
        throw ShapeError(fmt::format(
            "{}: expects query [{}, {}], key [{}, {}], value [{}, {}] (or unbatched [L, "
            "{}], ...); got {}, {}, {}",
            op, o.batch_first ? "B, L" : "L, B", o.embed_dim, o.batch_first ? "B, S" : "S, B", o.kdim,
            o.batch_first ? "B, S" : "S, B", o.vdim, o.embed_dim, shape_of(query), shape_of(key), shape_of(value)));
    // to [B, L, features]
    auto batch_major = [&](const BasicTensor<T>& t) {
        return !batched ? unsqueeze(t, 0) : o.batch_first ? t : transpose(t, 0, 1);
    };
    // Three products, also for self-attention: splitting the packed weight [3E, E] is cheaper
    // than splitting one product [B, L, 3E] (its copies, and its gradient put together from
    // three slices): a Transformer encoder layer's step took 10 % less time (bench_sequence).
    std::vector<BasicTensor<T>> b(3);
    if (in_proj_bias_.defined()) b = chunk(in_proj_bias_, 3, 0);
    std::vector<BasicTensor<T>> w{q_proj_weight_, k_proj_weight_, v_proj_weight_};
    if (in_proj_weight_.defined()) w = chunk(in_proj_weight_, 3, 0);
    // each distinct input laid out once (self-attention's one tensor: one transpose, not three)
    const BasicTensor<T> query_rows = batch_major(query);
    const BasicTensor<T> key_rows = key.is_same(query) ? query_rows : batch_major(key);
    const BasicTensor<T> value_rows = value.is_same(key)     ? key_rows
                                      : value.is_same(query) ? query_rows
                                                             : batch_major(value);
    const BasicTensor<T> q = functional::linear(query_rows, w[0], b[0]);
    const BasicTensor<T> k = functional::linear(key_rows, w[1], b[1]);
    const BasicTensor<T> v = functional::linear(value_rows, w[2], b[2]);
    const std::size_t B = q.shape()[0], L = q.shape()[1], S = k.shape()[1], H = o.num_heads, E = o.embed_dim;
    auto heads = [&](const BasicTensor<T>& t) {  // [B, n, E] -> [B, H, n, E / H]
        return transpose(reshape(t, {B, t.shape()[1], H, E / H}), 1, 2);
    };
    std::optional<BasicMask<T>> blocked;
    if (args.key_padding_mask) {
        const Shape expected = batched ? Shape{B, S} : Shape{S};
        if (args.key_padding_mask->shape() != expected)
            throw ShapeError(fmt::format("{}: key_padding_mask of shape {} (expected {})", op,
                                         to_string(args.key_padding_mask->shape()), to_string(expected)));
        blocked = BasicMask<T>(reshape(args.key_padding_mask->tensor(), {B, 1, 1, S}));
    }
    // attn_mask [L, S] or [B H, L, S] -> broadcasting against [B, H, L, S]
    auto per_head = [&](const BasicTensor<T>& m, const char* what) {
        if (m.shape() == Shape{L, S}) return m;
        if (m.shape() == Shape{B * H, L, S}) return reshape(m, {B, H, L, S});
        throw ShapeError(fmt::format("{}: {} of shape {} (expected [{}, {}] or [{}, {}, {}])", op, what,
                                     to_string(m.shape()), L, S, B * H, L, S));
    };
    BasicTensor<T> bias;
    if (const auto* m = std::get_if<BasicMask<T>>(&args.attn_mask))
        blocked = either(blocked, BasicMask<T>(per_head(m->tensor(), "attn_mask")));
    if (const auto* f = std::get_if<BasicTensor<T>>(&args.attn_mask)) bias = per_head(*f, "attn_mask");
    const double p = this->is_training() ? o.dropout : 0.0;
    auto attended = attend(op, heads(q), heads(k), heads(v), blocked, bias, args.is_causal,
                           T(1.0 / std::sqrt(double(E / H))), p, args.need_weights, gen_);
    auto merged = reshape(transpose(attended.output, 1, 2), {B, L, E});  // heads side by side again
    auto y = (*out_proj_)(merged);
    AttentionOutput<T> out;
    out.output = !batched ? squeeze(y, 0) : o.batch_first ? y : transpose(y, 0, 1);
    if (args.need_weights) {
        out.weights = args.average_attn_weights ? mean(attended.weights, 1) : attended.weights;
        if (!batched) out.weights = squeeze(out.weights, 0);
    }
    return out;
}

#define XTGRAD_INSTANTIATE(T)                                                                                   \
    template AttentionOutput<T> functional::scaled_dot_product_attention(                                       \
        const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,                                    \
        const std::type_identity_t<AttentionMask<T>>&, const functional::ScaledDotProductOptions&, Generator&); \
    template class MultiheadAttention<T>;
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad::nn
