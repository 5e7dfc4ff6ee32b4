// Data: CSV loading (plain or gzip), standardisation, shuffling, splitting, mini-batches,
// one-hot encoding. Data arrays are float64; convert with xt::cast for float32 models.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad::nn {

/// Rows of features and one target column.
struct Table {
    Array<double> features;  ///< [rows, columns]
    Array<double> target;    ///< [rows]
    std::size_t rows() const { return target.size(); }
};

struct CsvOptions {
    std::size_t header_lines = 0;      ///< lines to skip at the top
    std::ptrdiff_t label_column = -1;  ///< which column is the target (negative: from the end)
    char delimiter = ',';              ///< ' ' means any run of spaces or tabs
    bool has_label = true;             ///< false: every column is a feature, target is empty
};

/// Reads a CSV file, gzip-compressed or not (detected from its content). Every row must
/// have the same number of numeric fields; a malformed row is an error naming the file and
/// line number.
Table load_csv(const std::string& path, const CsvOptions& options = {});

/// Fits per-column mean and standard deviation on training data and applies them to any
/// data (constant columns keep a scale of 1).
class Standardizer {
public:
    void fit(const Array<double>& features);
    Array<double> transform(const Array<double>& features) const;
    const Array<double>& mean() const { return mean_; }
    const Array<double>& scale() const { return scale_; }

private:
    Array<double> mean_, scale_;
};

/// A permutation of 0..n-1 drawn from `seed` (the same seed, the same order).
std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed);
/// The part [first, last) of n rows that shard `shard` of `shards` holds: contiguous, in shard
/// order, sizes differing by at most one (ValueError when shard >= shards).
std::pair<std::size_t, std::size_t> shard_range(std::size_t n, std::size_t shard, std::size_t shards);
/// Rows first, ..., last - 1 of `table` (a slice, table[first:last] in numpy).
Table row_range(const Table& table, std::size_t first, std::size_t last);
/// The rows of `table` at `indices`, in that order.
Table take_rows(const Table& table, const std::vector<std::size_t>& indices);
/// Shuffles with `seed` and splits off a fraction (0, 1) of the rows as the test set.
std::pair<Table, Table> train_test_split(const Table& table, double test_fraction, std::uint64_t seed);
/// Consecutive batches of indices of size `batch_size` (the last may be smaller), over a
/// permutation drawn from `seed` or in order when `shuffle` is false.
std::vector<std::vector<std::size_t>> batches(std::size_t n, std::size_t batch_size, bool shuffle = true,
                                              std::uint64_t seed = 0);
/// Integer class labels from a target column (ValueError for negative or fractional values).
std::vector<std::size_t> to_labels(const Array<double>& target);
/// [n, classes] rows with a 1 at each label.
Array<double> one_hot(const std::vector<std::size_t>& labels, std::size_t classes);

}  // namespace xtgrad::nn
