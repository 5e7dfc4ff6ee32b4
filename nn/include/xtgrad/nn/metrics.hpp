// Metrics for classification and regression.
#pragma once

#include <functional>
#include <vector>

#include "xtgrad/autodiff/array.hpp"
#include "xtgrad/autodiff/index_array.hpp"

namespace xtgrad::nn {

/// The arg-max of each row of [N, C] scores (the predicted class). With one column (C = 1)
/// the scores are binary logits: class 1 where the score is > 0. A NaN score is a ValueError.
template <class T>
std::vector<std::size_t> predicted_classes(const Array<T>& scores);
/// Fraction of rows whose predicted class equals the label. Every label must name a column
/// (0 or 1 for one-column binary logits): a label out of range is a ValueError, not a miss.
template <class T>
double accuracy(const Array<T>& scores, const IndexArray& labels);
/// [classes, classes] counts: row = true label, column = predicted label.
Array<std::size_t> confusion_matrix(const std::vector<std::size_t>& predicted, const std::vector<std::size_t>& labels,
                                    std::size_t classes);
/// Coefficient of determination 1 - SS_res / SS_tot.
template <class T>
double r2_score(const Array<T>& prediction, const Array<T>& target);
/// The mean of `batch_loss(indices)` over consecutive batches of 0..n-1, weighted by batch
/// size: the mean loss over a data set when each batch's loss is a mean.
double mean_loss(std::size_t n, std::size_t batch_size,
                 const std::function<double(const std::vector<std::size_t>&)>& batch_loss);

}  // namespace xtgrad::nn
