// Attention as PyTorch's: torch.nn.functional.scaled_dot_product_attention and
// torch.nn.MultiheadAttention (the same parameter names, shapes, initialisation, layouts and
// mask conventions, so a PyTorch state_dict loads and gives the same outputs). Built from
// autodiff ops: differentiable twice, compiled like any op.
//
// Masks follow PyTorch, whose two conventions differ: in scaled_dot_product_attention a
// boolean mask is true where a query MAY attend; in MultiheadAttention `attn_mask` and
// `key_padding_mask` are true where it may NOT. One deliberate difference: a query that may
// attend to no key (a fully masked row) gets zero weights and a zero output, where PyTorch's
// reference path gives NaN; padded queries are common, and a NaN would reach every gradient.
#pragma once

#include <optional>
#include <type_traits>
#include <variant>

#include "xtgrad/nn/linear.hpp"

namespace xtgrad::nn {

/// An attention mask: a boolean mask or a float tensor added to the scores (-inf blocks; ALiBi
/// or relative-position biases), as PyTorch's attn_mask accepts either.
template <class T>
using AttentionMask = std::variant<std::monostate, BasicMask<T>, BasicTensor<T>>;

/// The output of attention, and the attention weights when asked for (undefined otherwise).
template <class T>
struct AttentionOutput {
    BasicTensor<T> output, weights;
};

namespace functional {

struct ScaledDotProductOptions {
    bool is_causal = false;       ///< query i attends to keys j <= i (top-left aligned, as PyTorch)
    double dropout_p = 0;         ///< on the weights, in [0, 1)
    std::optional<double> scale;  ///< none: 1 / sqrt(E)
    bool need_weights = false;    ///< also return the weights (PyTorch's function does not)
};

/// softmax(q k^T scale + mask) v over q [..., L, E], k [..., S, E], v [..., S, Ev] (batch axes
/// broadcast): [..., L, Ev]. A boolean `attn_mask` (broadcasting to [..., L, S]) is true where
/// a query may attend, as in torch.nn.functional.scaled_dot_product_attention; a float mask is
/// added to the scores. Dropout draws from `gen`.
template <class T>
AttentionOutput<T> scaled_dot_product_attention(const BasicTensor<T>& q, const BasicTensor<T>& k,
                                                const BasicTensor<T>& v,
                                                const std::type_identity_t<AttentionMask<T>>& attn_mask = {},
                                                const ScaledDotProductOptions& options = {},
                                                Generator& gen = default_generator());
}  // namespace functional

struct MultiheadAttentionOptions {
    std::size_t embed_dim = 0;  ///< > 0, a multiple of num_heads
    std::size_t num_heads = 0;  ///< > 0
    double dropout = 0;         ///< on the attention weights, in training, in [0, 1)
    bool bias = true;
    std::size_t kdim = 0;      ///< the keys' features; 0: embed_dim
    std::size_t vdim = 0;      ///< the values' features; 0: embed_dim
    bool batch_first = false;  ///< [B, L, E] instead of [L, B, E]
};

/// The masks and flags of one call of MultiheadAttention::forward (PyTorch's keyword arguments).
template <class T>
struct MultiheadAttentionArgs {
    /// [B, S] (or [S] unbatched), true where a key is padding: no query attends to it.
    std::optional<BasicMask<T>> key_padding_mask;
    /// [L, S] or [B num_heads, L, S]: boolean, true where a query may not attend (PyTorch's
    /// MultiheadAttention convention), or float, added to the scores.
    AttentionMask<T> attn_mask;
    /// Query i attends to keys j <= i, combined with the masks above. PyTorch's is_causal is a
    /// hint that attn_mask already is causal; here the causal mask is made for you.
    bool is_causal = false;
    bool need_weights = true;
    bool average_attn_weights = true;  ///< weights [B, L, S] averaged over heads; else [B, H, L, S]
};

/// torch.nn.MultiheadAttention: queries [L, B, E] attend to keys [S, B, kdim] and values
/// [S, B, vdim] ([B, ., .] with batch_first; unbatched [L, E] too) through num_heads heads of
/// embed_dim / num_heads features each. When kdim = vdim = embed_dim the projections are packed
/// in in_proj_weight [3E, E] (one product for self-attention, where query, key and value are
/// one tensor); otherwise q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight
/// [E, vdim]. in_proj_bias [3E] and out_proj (a Linear E -> E) as PyTorch's; projections
/// Xavier-uniform, biases zero, out_proj.weight as Linear's. add_bias_kv and add_zero_attn
/// are not offered.
template <class T>
class MultiheadAttention : public Module<T> {
public:
    /// Dropout draws from `gen` (a handle: by default the process's generator, as PyTorch's).
    explicit MultiheadAttention(const MultiheadAttentionOptions& options, Generator& gen = default_generator());
    MultiheadAttention(std::size_t embed_dim, std::size_t num_heads)
        : MultiheadAttention(MultiheadAttentionOptions{.embed_dim = embed_dim, .num_heads = num_heads}) {}
    /// {output [L, B, E], weights} (batch_first: [B, L, E]).
    AttentionOutput<T> forward(const BasicTensor<T>& query, const BasicTensor<T>& key, const BasicTensor<T>& value,
                               const MultiheadAttentionArgs<T>& args = {});
    AttentionOutput<T> operator()(const BasicTensor<T>& query, const BasicTensor<T>& key, const BasicTensor<T>& value,
                                  const MultiheadAttentionArgs<T>& args = {}) {
        return this->scoped([&] { return forward(query, key, value, args); });
    }
    const MultiheadAttentionOptions& options() const { return options_; }

private:
    MultiheadAttentionOptions options_;
    BasicTensor<T> in_proj_weight_, q_proj_weight_, k_proj_weight_, v_proj_weight_, in_proj_bias_;
    std::shared_ptr<Linear<T>> out_proj_;
    Generator gen_;
};

extern template class MultiheadAttention<float>;
extern template class MultiheadAttention<double>;

}  // namespace xtgrad::nn
