// Batches of tensors from a table, epoch after epoch: what a training loop iterates over.
//
//   nn::DataLoader<float> loader(train, {.batch_size = 64, .seed = 1});
//   for (std::size_t epoch = 0; epoch < 10; ++epoch)
//       for (const auto& batch : loader) {            // reshuffled every epoch
//           auto loss = nn::cross_entropy(model(batch.x), batch.labels());
//           ...
//       }
//
// Each begin() starts an epoch with an order of its own, held by its iterator (PyTorch's
// DataLoader makes a fresh sampler iterator the same way): an evaluation pass over the same
// loader inside a training epoch, or two interleaved passes, leave each other's rows alone.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>
#include <memory>
#include <optional>

#include "xtgrad/autodiff.hpp"
#include "xtgrad/nn/data.hpp"

namespace xtgrad::nn {

struct LoaderOptions {
    std::size_t batch_size = 32;  ///< > 0
    /// A new permutation every epoch: epoch e's is randperm(rows) drawn from Generator(seed) at
    /// offset e * 2^40, so distinct (seed, epoch) pairs never read the same part of one stream
    /// (seed + epoch would make seed 7's epoch 1 seed 8's epoch 0).
    bool shuffle = true;
    bool drop_last = false;       ///< skip a last batch smaller than batch_size
    std::uint64_t seed = 0;
    /// Data-parallel sharding (PyTorch's DistributedSampler): every process draws the same
    /// global batches of batch_size rows and yields only its part of each, rows
    /// shard_range(rows, shard, shards) of the batch. Over an epoch the shards see every row
    /// once, and every process yields the same number of batches; a last batch smaller than
    /// `shards` gives some shards an empty batch (Batch::empty(): no tensors, since xtgrad has
    /// no empty tensors), where the process contributes nothing but still takes part in the
    /// gradient reduction. Nothing is padded or repeated, so the sum over the shards is the
    /// global batch exactly.
    std::size_t shards = 1;
    std::size_t shard = 0;  ///< this process's part, < shards
    /// The shape each row's features take in a batch, [b, sample_shape...] ({1, 8, 8}: images,
    /// as a PyTorch dataset of [1, 8, 8] samples gives); empty: [b, columns]. Its elements must
    /// number the table's columns. Applied before the transform.
    Shape sample_shape{};
};

template <class T>
struct Batch {
    BasicTensor<T> x;               ///< features [b, ...] (after the transform), a constant
    BasicTensor<T> y;               ///< targets [b], a constant (both undefined when empty())
    std::vector<std::size_t> rows;  ///< which rows of the table
    std::size_t global_rows = 0;    ///< rows of the whole batch, over all shards (= rows.size() unsharded)
    /// This shard of the batch has no rows; x and y are then undefined.
    bool empty() const { return rows.empty(); }
    /// The targets as class labels (ValueError if one is negative or not a whole number).
    IndexArray labels() const;
};

template <class T>
class DataLoader {
public:
    /// `transform` maps each batch's features [b, columns] to what the model takes (a reshape
    /// to images [b, 1, 8, 8], scaling, augmentation); empty: the identity. Its output must
    /// keep the b rows first (ShapeError otherwise: the targets would no longer match).
    DataLoader(Table table, const LoaderOptions& options = {}, std::function<Array<T>(Array<T>)> transform = {});
    /// The same for any callable, which must return an Array: a lambda returning `x / 16.0f`
    /// would return an xtensor expression that refers to its own parameter, gone when it
    /// returns (a read of freed memory), so it does not compile.
    template <class F>
    requires std::invocable<F&, Array<T>> DataLoader(Table table, const LoaderOptions& options, F transform)
        : DataLoader(std::move(table), options, std::function<Array<T>(Array<T>)>(std::move(transform))) {
        static_assert(std::is_same_v<std::remove_cvref_t<std::invoke_result_t<F&, Array<T>>>, Array<T>>,
                      "DataLoader: the transform must return an Array<T> (return Array<T>(x / 16), or scale x in "
                      "place and return x): an xtensor expression of its parameter would outlive the parameter");
    }

    std::size_t rows() const { return table_.rows(); }
    /// Batches per epoch (global batches when sharded).
    std::size_t size() const;
    /// The epochs begun so far.
    std::size_t epochs() const { return epoch_; }

    class iterator {
    public:
        using value_type = Batch<T>;
        using difference_type = std::ptrdiff_t;
        const Batch<T>& operator*() const { return *current_; }
        const Batch<T>* operator->() const { return &*current_; }
        iterator& operator++();
        bool operator==(const iterator& other) const { return index_ == other.index_; }

    private:
        friend class DataLoader;
        iterator(const DataLoader* loader, std::size_t index, std::shared_ptr<const std::vector<std::size_t>> order);
        void load();
        const DataLoader* loader_ = nullptr;
        std::size_t index_ = 0;
        std::shared_ptr<const std::vector<std::size_t>> order_;  // this epoch's, shared by its copies
        std::optional<Batch<T>> current_;
    };
    /// Starts an epoch: a new order when shuffling, owned by the iterator.
    iterator begin();
    iterator end() const { return iterator(this, size(), nullptr); }

private:
    Batch<T> make_batch(const std::vector<std::size_t>& order, std::size_t index) const;

    Table table_;
    LoaderOptions options_;
    std::function<Array<T>(Array<T>)> transform_;
    std::shared_ptr<const std::vector<std::size_t>> identity_;  // the order without shuffling
    std::size_t epoch_ = 0;
};

extern template class DataLoader<float>;
extern template class DataLoader<double>;
extern template struct Batch<float>;
extern template struct Batch<double>;

}  // namespace xtgrad::nn
