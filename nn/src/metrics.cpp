// Accuracy, confusion matrix, R^2, mean loss over a data set.
#include "xtgrad/nn/metrics.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"
#include "xtgrad/nn/data.hpp"

namespace xtgrad::nn {

template <class T>
std::vector<std::size_t> predicted_classes(const Array<T>& scores) {
    if (scores.dimension() != 2 || scores.shape()[1] == 0)
        throw ShapeError(fmt::format("predicted_classes: expects [rows, classes], got {}", to_string(scores.shape())));
    std::size_t rows = scores.shape()[0], classes = scores.shape()[1];
    std::vector<std::size_t> out(rows);
    for (std::size_t n = 0; n < rows; ++n) {
        const T* row = scores.data() + n * classes;
        for (std::size_t c = 0; c < classes; ++c)
            if (row[c] != row[c]) throw ValueError(fmt::format("predicted_classes: the score at [{},{}] is nan", n, c));
        // one column: the logit of class 1 (binary), as binary_cross_entropy_with_logits reads it
        out[n] = classes == 1 ? std::size_t(row[0] > 0)
                              : static_cast<std::size_t>(std::max_element(row, row + classes) - row);
    }
    return out;
}

template <class T>
double accuracy(const Array<T>& scores, const IndexArray& label_array) {
    auto predicted = predicted_classes(scores);
    if (predicted.size() != label_array.size() || label_array.size() == 0 || label_array.dim() != 1)
        throw ShapeError(fmt::format("accuracy: labels of shape {} for scores of shape {}",
                                     to_string(label_array.shape()), to_string(scores.shape())));
    std::size_t classes = std::max<std::size_t>(scores.shape()[1], 2);
    for (std::size_t n = 0; n < label_array.size(); ++n)
        if (label_array[n] < 0 || static_cast<std::size_t>(label_array[n]) >= classes)
            throw ValueError(fmt::format("accuracy: label {} of row {} is out of range for scores of shape {}{}",
                                         label_array[n], n, to_string(scores.shape()),
                                         classes == 2 ? " (one column: binary logits, labels 0 and 1)" : ""));
    auto labels = label_array.labels("accuracy", classes);
    std::size_t correct = 0;
    for (std::size_t n = 0; n < labels.size(); ++n) correct += predicted[n] == labels[n];
    return double(correct) / double(labels.size());
}

Array<std::size_t> confusion_matrix(const std::vector<std::size_t>& predicted, const std::vector<std::size_t>& labels,
                                    std::size_t classes) {
    if (predicted.size() != labels.size())
        throw ShapeError(
            fmt::format("confusion_matrix: {} predictions for {} labels", predicted.size(), labels.size()));
    Array<std::size_t> m = xt::zeros<std::size_t>({classes, classes});
    for (std::size_t n = 0; n < labels.size(); ++n) {
        if (labels[n] >= classes || predicted[n] >= classes)
            throw ValueError(
                fmt::format("confusion_matrix: row {} has label {} / prediction {} out of range for {} "
                            "classes",
                            n, labels[n], predicted[n], classes));
        m(labels[n], predicted[n]) += 1;
    }
    return m;
}

template <class T>
double r2_score(const Array<T>& prediction, const Array<T>& target) {
    if (prediction.shape() != target.shape() || target.size() < 2)
        throw ShapeError(fmt::format("r2_score: prediction {} and target {} must have equal shapes and >= 2 values",
                                     to_string(prediction.shape()), to_string(target.shape())));
    double mean = 0;
    for (auto v : target) mean += double(v) / double(target.size());
    double ss_res = 0, ss_tot = 0;
    for (std::size_t i = 0; i < target.size(); ++i) {
        double t = double(target.data()[i]), p = double(prediction.data()[i]);
        ss_res += (t - p) * (t - p);
        ss_tot += (t - mean) * (t - mean);
    }
    if (ss_tot == 0) throw ValueError("r2_score: the target is constant; R^2 is undefined");
    return 1.0 - ss_res / ss_tot;
}

double mean_loss(std::size_t n, std::size_t batch_size,
                 const std::function<double(const std::vector<std::size_t>&)>& batch_loss) {
    if (n == 0) throw ValueError("mean_loss: no rows");
    double total = 0;
    for (auto& batch : batches(n, batch_size, false)) total += batch_loss(batch) * double(batch.size());
    return total / double(n);
}

template std::vector<std::size_t> predicted_classes(const Array<float>&);
template std::vector<std::size_t> predicted_classes(const Array<double>&);
template double accuracy(const Array<float>&, const IndexArray&);
template double accuracy(const Array<double>&, const IndexArray&);
template double r2_score(const Array<float>&, const Array<float>&);
template double r2_score(const Array<double>&, const Array<double>&);

}  // namespace xtgrad::nn
