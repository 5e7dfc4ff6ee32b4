// The encoder layer: PyTorch's _sa_block and _ff_block, composed post- or pre-norm.
#include "xtgrad/nn/transformer.hpp"

#include <fmt/format.h>

namespace xtgrad::nn {

template <class T>
TransformerEncoderLayer<T>::TransformerEncoderLayer(const TransformerEncoderLayerOptions& options, Generator& gen)
    : options_(options), gen_(gen) {
    const auto& o = options_;
    if (o.dim_feedforward == 0)
        throw ValueError(fmt::format("TransformerEncoderLayer: dim_feedforward must be positive, got 0"));
    if (!(o.dropout >= 0 && o.dropout < 1))
        throw ValueError(fmt::format("TransformerEncoderLayer: dropout must be in [0, 1), got {}", o.dropout));
    if (!(o.layer_norm_eps > 0))
        throw ValueError(
            fmt::format("TransformerEncoderLayer: layer_norm_eps must be positive, got {}", o.layer_norm_eps));
    // PyTorch's order of construction (and so of the draws): self_attn, linear1, linear2
    self_attn_ = this->register_module(
        "self_attn",
        std::make_shared<MultiheadAttention<T>>(
            MultiheadAttentionOptions{
                .embed_dim = o.d_model, .num_heads = o.nhead, .dropout = o.dropout, .batch_first = o.batch_first},
            gen));
    linear1_ = this->register_module(
        "linear1", std::make_shared<Linear<T>>(LinearOptions{.in = o.d_model, .out = o.dim_feedforward}, gen));
    linear2_ = this->register_module(
        "linear2", std::make_shared<Linear<T>>(LinearOptions{.in = o.dim_feedforward, .out = o.d_model}, gen));
    norm1_ = this->register_module("norm1", std::make_shared<LayerNorm<T>>(Shape{o.d_model}, o.layer_norm_eps));
    norm2_ = this->register_module("norm2", std::make_shared<LayerNorm<T>>(Shape{o.d_model}, o.layer_norm_eps));
}

template <class T>
BasicTensor<T> TransformerEncoderLayer<T>::drop(const BasicTensor<T>& x) {
    return options_.dropout > 0 && this->is_training() ? dropout(x, options_.dropout, true, gen_) : x;
}

template <class T>
BasicTensor<T> TransformerEncoderLayer<T>::self_attention_block(const BasicTensor<T>& x,
                                                                const TransformerEncoderArgs<T>& args) {
    auto attended = (*self_attn_)(x, x, x,
                                  {.key_padding_mask = args.src_key_padding_mask,
                                   .attn_mask = args.src_mask,
                                   .is_causal = args.is_causal,
                                   .need_weights = false});
    return drop(attended.output);
}

template <class T>
BasicTensor<T> TransformerEncoderLayer<T>::feed_forward_block(const BasicTensor<T>& x) {
    return drop((*linear2_)(drop(activate(options_.activation, (*linear1_)(x)))));
}

template <class T>
BasicTensor<T> TransformerEncoderLayer<T>::forward(const BasicTensor<T>& src, const TransformerEncoderArgs<T>& args) {
    if (!src.defined() || (src.dim() != 2 && src.dim() != 3) || src.shape().back() != options_.d_model)
        throw ShapeError(fmt::format("TransformerEncoderLayer: expects src [{}, {}] (or unbatched [L, {}]), got {}",
                                     options_.batch_first ? "B, L" : "L, B", options_.d_model, options_.d_model,
                                     src.defined() ? to_string(src.shape()) : "undefined"));
    if (options_.norm_first) {
        auto x = src + self_attention_block((*norm1_)(src), args);
        return x + feed_forward_block((*norm2_)(x));
    }
    auto x = (*norm1_)(src + self_attention_block(src, args));
    return (*norm2_)(x + feed_forward_block(x));
}

template class TransformerEncoderLayer<float>;
template class TransformerEncoderLayer<double>;

}  // namespace xtgrad::nn
