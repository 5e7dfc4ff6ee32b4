// embedding (index_select of rows) and one_hot. Under a LayerCapture (K-FAC) a lookup reports
// the rows it took.
#include <fmt/format.h>

#include "xtgrad/nn/capture.hpp"
#include "xtgrad/nn/functional.hpp"

namespace xtgrad::nn::functional {

namespace {
template <class T>
void check_table(const BasicTensor<T>& weight) {
    if (!weight.defined() || weight.dim() != 2)
        throw ShapeError(fmt::format("embedding: weight of shape {} (expected [count, dim])",
                                     weight.defined() ? to_string(weight.shape()) : "undefined"));
}
}  // namespace

template <class T>
BasicTensor<T> embedding(const IndexArray& indices, const BasicTensor<T>& weight) {
    check_table(weight);
    const std::size_t count = weight.shape()[0];
    for (std::size_t i = 0; i < indices.size(); ++i)
        if (indices[i] < 0 || std::size_t(indices[i]) >= count)
            throw ValueError(
                fmt::format("embedding: index {} at position {} is out of range for {} rows", indices[i], i, count));
    std::vector<std::int64_t> flat(indices.data(), indices.data() + indices.size());
    Shape shape = indices.shape();
    shape.push_back(weight.shape()[1]);
    auto out = reshape(index_select(weight, 0, flat), shape);
    if (auto* capture = LayerCapture<T>::active())
        capture->record({"Embedding", weight, {}, Array<T>(), out, {}, {flat.begin(), flat.end()}});
    return out;
}

template <class T>
BasicTensor<T> embedding(const BasicTensor<T>& indices, const BasicTensor<T>& weight) {
    check_table(weight);
    if (!indices.defined()) throw ValueError("embedding: the indices are undefined");
    // index_select reads and checks the indices on every evaluation (a compiled replay too)
    Shape shape = indices.shape();
    shape.push_back(weight.shape()[1]);
    auto out = reshape(index_select(weight, 0, reshape(indices, {indices.size()})), shape);
    if (auto* capture = LayerCapture<T>::active()) {  // (index_select has checked them: whole numbers in range)
        std::vector<std::size_t> rows(indices.size());
        for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = std::size_t(indices.value().data()[i]);
        capture->record({"Embedding", weight, {}, Array<T>(), out, {}, std::move(rows)});
    }
    return out;
}

template <class T>
BasicTensor<T> one_hot(const IndexArray& labels, std::size_t classes) {
    if (classes == 0) throw ValueError("one_hot: 0 classes");
    std::vector<std::size_t> index = labels.labels("one_hot", classes, "label");
    Shape shape = labels.shape();
    shape.push_back(classes);
    Array<T> out = Array<T>::from_shape(shape);
    out.fill(T(0));
    for (std::size_t i = 0; i < index.size(); ++i) out.data()[i * classes + index[i]] = T(1);
    return BasicTensor<T>::constant(std::move(out));
}

#define XTGRAD_INSTANTIATE(T)                                                        \
    template BasicTensor<T> embedding(const IndexArray&, const BasicTensor<T>&);     \
    template BasicTensor<T> embedding(const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> one_hot(const IndexArray&, std::size_t);
XTGRAD_INSTANTIATE(float)
XTGRAD_INSTANTIATE(double)

}  // namespace xtgrad::nn::functional

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
