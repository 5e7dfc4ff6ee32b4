// DataLoader: a permutation per epoch, batches cut from it on demand.
#include "xtgrad/nn/loader.hpp"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace xtgrad::nn {

template <class T>
IndexArray Batch<T>::labels() const {
    if (empty()) throw ValueError("Batch::labels: this shard of the batch has no rows (check Batch::empty())");
    std::vector<std::int64_t> out;
    const auto& values = y.value();
    for (std::size_t row = 0; row < values.size(); ++row) {
        const double v = double(values.data()[row]);
        // (checked before the cast: an infinity or 1e30 converted to an integer is undefined)
        if (!(v >= 0) || !std::isfinite(v) || v != std::floor(v) || v >= 0x1.0p62)
            throw ValueError(fmt::format(
                "Batch::labels: target {} in row {} of the batch is not a class label (a whole number >= 0)", v, row));
        out.push_back(std::int64_t(v));
    }
    return IndexArray(out);
}

template <class T>
DataLoader<T>::DataLoader(Table table, const LoaderOptions& options, std::function<Array<T>(Array<T>)> transform)
    : table_(std::move(table)), options_(options), transform_(std::move(transform)) {
    if (options_.batch_size == 0) throw ValueError("DataLoader: batch_size must be positive");
    if (table_.features.dimension() != 2 || table_.features.shape()[0] != table_.rows())
        throw ShapeError(fmt::format("DataLoader: features of shape {} for {} targets",
                                     to_string(table_.features.shape()), table_.rows()));
    if (table_.rows() == 0) throw ValueError("DataLoader: the table has no rows");
    if (!options_.sample_shape.empty()) {
        std::size_t elements = 1;
        for (std::size_t e : options_.sample_shape) elements *= e;
        if (elements != table_.features.shape()[1])
            throw ShapeError(fmt::format("DataLoader: sample_shape {} ({} elements) for rows of {} features",
                                         to_string(options_.sample_shape), elements, table_.features.shape()[1]));
    }
    if (options_.shards == 0 || options_.shard >= options_.shards)
        throw ValueError(fmt::format("DataLoader: shard {} of {} shards does not exist", options_.shard,
                                     options_.shards));
    std::vector<std::size_t> identity(table_.rows());
    std::iota(identity.begin(), identity.end(), std::size_t(0));
    identity_ = std::make_shared<const std::vector<std::size_t>>(std::move(identity));
}

template <class T>
std::size_t DataLoader<T>::size() const {
    std::size_t n = table_.rows(), b = options_.batch_size;
    return options_.drop_last ? n / b : n / b + (n % b != 0);  // (n + b - 1) / b wraps for b near 2^64
}

template <class T>
typename DataLoader<T>::iterator DataLoader<T>::begin() {
    std::shared_ptr<const std::vector<std::size_t>> order = identity_;
    if (options_.shuffle) {
        // epoch e reads words [e 2^40, (e + 1) 2^40) of the seed's stream (each seed a Philox key
        // of its own): no two (seed, epoch) pairs read the same words of the same stream
        if (epoch_ >= (std::size_t(1) << 24))
            throw ValueError("DataLoader: more than 2^24 epochs of one loader; make a new one");
        Generator gen(options_.seed);
        gen.set_offset(std::uint64_t(epoch_) << 40);
        IndexArray p = randperm(table_.rows(), gen);
        auto shuffled = std::make_shared<std::vector<std::size_t>>(p.size());
        for (std::size_t i = 0; i < p.size(); ++i) (*shuffled)[i] = std::size_t(p[i]);
        order = std::move(shuffled);
    }
    ++epoch_;
    return iterator(this, 0, std::move(order));
}

template <class T>
Batch<T> DataLoader<T>::make_batch(const std::vector<std::size_t>& order, std::size_t index) const {
    // index < size(): start is at most the rows, and the batch's end cannot wrap
    std::size_t start = index * options_.batch_size, stop = start + std::min(options_.batch_size, order.size() - start);
    Batch<T> batch;
    batch.global_rows = stop - start;
    auto [first, last] = shard_range(stop - start, options_.shard, options_.shards);
    stop = start + last;
    start += first;
    batch.rows.assign(order.begin() + std::ptrdiff_t(start), order.begin() + std::ptrdiff_t(stop));
    if (batch.empty()) return batch;  // a shard of a batch smaller than the shards
    std::size_t cols = table_.features.shape()[1];
    Array<T> x = Array<T>::from_shape({batch.rows.size(), cols});
    Array<T> y = Array<T>::from_shape({batch.rows.size()});
    for (std::size_t i = 0; i < batch.rows.size(); ++i) {
        for (std::size_t j = 0; j < cols; ++j) x(i, j) = T(table_.features(batch.rows[i], j));
        y(i) = T(table_.target(batch.rows[i]));
    }
    if (!options_.sample_shape.empty()) {
        Shape shape{batch.rows.size()};
        shape.insert(shape.end(), options_.sample_shape.begin(), options_.sample_shape.end());
        x.reshape(shape);
    }
    if (transform_) {
        Array<T> out = transform_(std::move(x));
        if (out.dimension() == 0 || out.shape()[0] != batch.rows.size())
            throw ShapeError(fmt::format("DataLoader: the transform made features of shape {} from a batch of {} rows "
                                         "[{}, {}]; the rows must stay first, one per target",
                                         to_string(out.shape()), batch.rows.size(), batch.rows.size(), cols));
        x = std::move(out);
    }
    batch.x = BasicTensor<T>::constant(std::move(x));
    batch.y = BasicTensor<T>::constant(std::move(y));
    return batch;
}

template <class T>
DataLoader<T>::iterator::iterator(const DataLoader* loader, std::size_t index,
                                  std::shared_ptr<const std::vector<std::size_t>> order)
    : loader_(loader), index_(index), order_(std::move(order)) {
    load();
}

template <class T>
void DataLoader<T>::iterator::load() {
    current_.reset();
    if (order_ && index_ < loader_->size()) current_ = loader_->make_batch(*order_, index_);
}

template <class T>
typename DataLoader<T>::iterator& DataLoader<T>::iterator::operator++() {
    ++index_;
    load();
    return *this;
}

template class DataLoader<float>;
template class DataLoader<double>;
template struct Batch<float>;
template struct Batch<double>;

}  // namespace xtgrad::nn
