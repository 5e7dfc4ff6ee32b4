// torch.nn.TransformerEncoderLayer: self-attention and a feed-forward block, each with a
// residual connection and a layer norm, after (post-norm, PyTorch's default) or before
// (norm_first) the block. Children and parameters are named as PyTorch's (self_attn.in_proj_weight,
// linear1.weight, norm1.weight, ...), so a PyTorch state_dict loads and gives the same outputs.
#pragma once

#include "xtgrad/nn/attention.hpp"
#include "xtgrad/nn/normalization.hpp"

namespace xtgrad::nn {

struct TransformerEncoderLayerOptions {
    std::size_t d_model = 0;  ///< > 0, a multiple of nhead
    std::size_t nhead = 0;    ///< > 0
    std::size_t dim_feedforward = 2048;
    double dropout = 0.1;  ///< after attention, inside and after the feed-forward block, on the attention weights
    Activation activation = Activation::relu;  ///< PyTorch's "relu" or "gelu" (any Activation)
    double layer_norm_eps = 1e-5;
    bool batch_first = false;  ///< [B, L, d_model] instead of [L, B, d_model]
    bool norm_first = false;   ///< pre-norm: x + block(norm(x)) instead of norm(x + block(x))
};

/// The masks of one call (PyTorch's src_mask, src_key_padding_mask and is_causal; the
/// conventions of MultiheadAttentionArgs).
template <class T>
struct TransformerEncoderArgs {
    AttentionMask<T> src_mask;                         ///< [L, L] or [B nhead, L, L]
    std::optional<BasicMask<T>> src_key_padding_mask;  ///< [B, L], true at padding
    bool is_causal = false;                            ///< position i attends to j <= i
};

template <class T>
class TransformerEncoderLayer : public Layer<T> {
public:
    /// Weights and dropout draw from `gen` (by default the process's generator, as PyTorch's).
    explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& options,
                                     Generator& gen = default_generator());
    TransformerEncoderLayer(std::size_t d_model, std::size_t nhead)
        : TransformerEncoderLayer(TransformerEncoderLayerOptions{.d_model = d_model, .nhead = nhead}) {}
    /// src [L, B, d_model] ([B, L, d_model] with batch_first; unbatched [L, d_model]) to the same shape.
    BasicTensor<T> forward(const BasicTensor<T>& src) override { return forward(src, {}); }
    BasicTensor<T> forward(const BasicTensor<T>& src, const TransformerEncoderArgs<T>& args);
    using Layer<T>::operator();
    BasicTensor<T> operator()(const BasicTensor<T>& src, const TransformerEncoderArgs<T>& args) {
        return this->scoped([&] { return forward(src, args); });
    }
    const TransformerEncoderLayerOptions& options() const { return options_; }
    /// The children, as PyTorch's attributes (layer.self_attn, layer.linear1, ...).
    MultiheadAttention<T>& self_attn() { return *self_attn_; }
    Linear<T>& linear1() { return *linear1_; }
    Linear<T>& linear2() { return *linear2_; }
    LayerNorm<T>& norm1() { return *norm1_; }
    LayerNorm<T>& norm2() { return *norm2_; }

private:
    BasicTensor<T> self_attention_block(const BasicTensor<T>& x, const TransformerEncoderArgs<T>& args);
    BasicTensor<T> feed_forward_block(const BasicTensor<T>& x);
    BasicTensor<T> drop(const BasicTensor<T>& x);
    TransformerEncoderLayerOptions options_;
    std::shared_ptr<MultiheadAttention<T>> self_attn_;
    std::shared_ptr<Linear<T>> linear1_, linear2_;
    std::shared_ptr<LayerNorm<T>> norm1_, norm2_;
    Generator gen_;
};

extern template class TransformerEncoderLayer<float>;
extern template class TransformerEncoderLayer<double>;

}  // namespace xtgrad::nn
