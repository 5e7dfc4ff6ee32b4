// What the layers computed, for methods that need more than the gradient: Kronecker-factored
// curvature (K-FAC, optim/kfac.hpp) needs each layer's input rows a and the gradient with
// respect to its output s = a W^T + b. PyTorch's K-FAC packages collect them with forward and
// backward hooks; here a LayerCapture, alive on the thread while the model runs, receives
// each weight layer's input and its output tensor, and the output's gradient is then taken on
// the tape like any other (grad with respect to an intermediate tensor).
#pragma once

#include <string>
#include <vector>

#include "xtgrad/autodiff.hpp"

namespace xtgrad::nn {

/// One call of a weight layer: output = inputs W^T + b, row by row, with W the weight seen as
/// [out, in] (its first axis the outputs, the rest flattened in order).
template <class T>
struct CapturedLayer {
    std::string type;       ///< "Linear", "Conv2d", "Conv1d", "Embedding", "RNN", "LSTM" or "GRU"
    BasicTensor<T> weight;  ///< [out, in] for Linear; [out, C, kh, kw] or [out, C, k] for convolutions
    BasicTensor<T> bias;    ///< [out]; undefined when the layer has none
    /// The rows the weight multiplies: [rows, in]. A Linear's input rows; a convolution's
    /// patches (unfold2d), one row per image and output position, the weight's flattening order.
    Array<T> inputs;
    /// The layer's output as recorded: [..., out], rows in the same order. For a convolution the
    /// product before it is laid out as images: [N, positions, out].
    BasicTensor<T> output;
    /// Instead of `output` (then undefined): its columns in parts, side by side, each
    /// [..., out / parts], rows in the same order. A recurrent layer multiplies its input, and
    /// each step the hidden state, by each gate's rows of the weight separately, and reports
    /// those products.
    std::vector<BasicTensor<T>> output_parts;
    /// For an Embedding (a Linear of one-hot rows, its weight [count, dim] the transpose of a
    /// Linear's): the row each output row looked up; `inputs` is then empty.
    std::vector<std::size_t> indices;
};

/// While alive, every Linear forward, every ungrouped convolution (functional::conv1d and
/// conv2d, so the Conv modules too), every embedding lookup (functional::embedding, so the
/// Embedding module too) and every product of a recurrent layer or cell with its weights (the input's projection once a
/// call, the recurrent weight once a step) on this thread appends a CapturedLayer (a layer called twice appears twice).
/// Captures nest: the innermost receives, the outer one is restored when it ends. The tensors live on the tape the
/// forward recorded them on.
template <class T>
class LayerCapture {
public:
    LayerCapture();
    ~LayerCapture();
    LayerCapture(const LayerCapture&) = delete;
    LayerCapture& operator=(const LayerCapture&) = delete;
    const std::vector<CapturedLayer<T>>& layers() const { return layers_; }
    /// The capture receiving on this thread, or nullptr.
    static LayerCapture* active();
    void record(CapturedLayer<T> layer) { layers_.push_back(std::move(layer)); }

private:
    std::vector<CapturedLayer<T>> layers_;
    LayerCapture* outer_;
};

extern template class LayerCapture<float>;
extern template class LayerCapture<double>;

}  // namespace xtgrad::nn
