// CSV loading through zlib's gz* interface (which reads plain files as they are), and
// the usual data preparation.
#include "xtgrad/nn/data.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string_view>

#include <fmt/format.h>
#include <xtensor/xmath.hpp>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::nn {

namespace {
// Calls f(text, column) for each field of `line`, column 1-based in characters. Nothing is
// allocated per field: a line of a million empty fields costs no more memory than the line
// (a fuzzer's 599-byte gzip of comma runs once made the reader hold 38 MiB of field strings).
template <class F>
void for_each_field(const std::string& line, char delimiter, F f) {
    std::string_view view(line);
    if (delimiter == ' ') {  // runs of spaces and tabs separate fields
        std::size_t i = 0;
        while (i < view.size()) {
            while (i < view.size() && (view[i] == ' ' || view[i] == '\t')) ++i;
            if (i == view.size()) break;
            std::size_t j = i;
            while (j < view.size() && view[j] != ' ' && view[j] != '\t') ++j;
            f(view.substr(i, j - i), i + 1);
            i = j;
        }
        return;
    }
    std::size_t start = 0;
    for (std::size_t i = 0; i <= view.size(); ++i)
        if (i == view.size() || view[i] == delimiter) {
            f(view.substr(start, i - start), start + 1);
            start = i + 1;
        }
}

bool blank(std::string_view s) {
    return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Lines of a gzip or plain file, read in blocks: a NUL byte is an error, not the end of a line.
class LineReader {
public:
    explicit LineReader(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
        if (file_ == nullptr) throw IoError(fmt::format("load_csv: cannot open '{}': {}", path, std::strerror(errno)));
    }
    ~LineReader() { gzclose(file_); }
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    /// The next line (without its end of line) and its number; false at the end of the file.
    /// Lines are cut from the buffer by moving a start position: erasing each line from the
    /// front made a block of many short lines quadratic (a fuzzer's 105-byte gzip of 40,000
    /// blank lines took seconds); the consumed front is dropped once per block read.
    bool next(std::string& line, std::size_t& number) {
        line.clear();
        while (true) {
            auto newline = buffer_.find('\n', scanned_);
            if (newline != std::string::npos) {
                line.assign(buffer_, start_, newline - start_);
                start_ = scanned_ = newline + 1;
                break;
            }
            scanned_ = buffer_.size();
            if (eof_) {
                if (start_ >= buffer_.size()) return false;
                line.assign(buffer_, start_, std::string::npos);
                start_ = scanned_ = buffer_.size();
                break;
            }
            buffer_.erase(0, start_);
            scanned_ -= start_;
            start_ = 0;
            char block[65536];
            int n = gzread(file_, block, sizeof block);
            if (n < 0) {
                int err = 0;
                throw IoError(fmt::format("load_csv: '{}' is damaged or truncated: {}", path_, gzerror(file_, &err)));
            }
            if (n == 0) {
                int err = 0;
                const char* msg = gzerror(file_, &err);
                if (err != Z_OK && err != Z_STREAM_END)
                    throw IoError(fmt::format("load_csv: '{}' is damaged or truncated: {}", path_, msg));
                eof_ = true;
            }
            buffer_.append(block, static_cast<std::size_t>(n));
        }
        number = ++lines_;
        if (auto nul = line.find('\0'); nul != std::string::npos)
            throw ValueError(
                fmt::format("load_csv: {}:{}: column {}: a NUL byte (binary data?)", path_, number, nul + 1));
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
    }

private:
    std::string path_;
    gzFile file_;
    std::string buffer_;
    std::size_t start_ = 0, scanned_ = 0, lines_ = 0;  // the unread part is buffer_[start_, ...)
    bool eof_ = false;
};

// A number as strtod reads it, whole field, finite; subnormal numbers are numbers too.
// `scratch` holds the field NUL-terminated (reused: no allocation once it is long enough).
double parse_number(std::string_view text, std::size_t column, const std::string& path, std::size_t line,
                    std::string& scratch) {
    if (blank(text)) throw ValueError(fmt::format("load_csv: {}:{}: column {}: blank field", path, line, column));
    scratch.assign(text);
    const char* begin = scratch.c_str();
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r') ++end;
    if (end == begin || *end != '\0')
        throw ValueError(fmt::format("load_csv: {}:{}: column {}: '{}' is not a number", path, line, column, text));
    // strtod's overflow is +-HUGE_VAL, an infinity; its ERANGE on underflow is a subnormal or
    // zero, the nearest double: a number
    if (!std::isfinite(v))
        throw ValueError(
            fmt::format("load_csv: {}:{}: column {}: '{}' is not a finite float64", path, line, column, text));
    return v;
}
}  // namespace

Table load_csv(const std::string& path, const CsvOptions& options) {
    LineReader reader(path);
    std::string line;
    std::size_t line_number = 0;
    for (std::size_t i = 0; i < options.header_lines && reader.next(line, line_number); ++i) {
    }
    std::vector<double> values;
    std::size_t columns = 0, rows = 0;
    std::string scratch;
    while (reader.next(line, line_number)) {
        if (blank(line)) continue;
        std::size_t fields = 0;
        for_each_field(line, options.delimiter, [&](std::string_view, std::size_t) { ++fields; });
        if (columns == 0) columns = fields;
        if (fields != columns)
            throw ValueError(
                fmt::format("load_csv: {}:{}: {} fields, expected {}", path, line_number, fields, columns));
        for_each_field(line, options.delimiter, [&](std::string_view text, std::size_t column) {
            values.push_back(parse_number(text, column, path, line_number, scratch));
        });
        ++rows;
    }
    if (rows == 0) throw ValueError(fmt::format("load_csv: {}: no data rows", path));
    Table table;
    if (!options.has_label) {
        table.features = Array<double>::from_shape({rows, columns});
        std::copy(values.begin(), values.end(), table.features.begin());
        return table;
    }
    auto n = static_cast<std::ptrdiff_t>(columns);
    if (options.label_column < -n || options.label_column >= n)
        throw ValueError(fmt::format("load_csv: {}: label column {} out of range for {} columns", path,
                                     options.label_column, columns));
    std::size_t label =
        static_cast<std::size_t>(options.label_column < 0 ? options.label_column + n : options.label_column);
    table.features = Array<double>::from_shape({rows, columns - 1});
    table.target = Array<double>::from_shape({rows});
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0, f = 0; c < columns; ++c) {
            double v = values[r * columns + c];
            if (c == label)
                table.target(r) = v;
            else
                table.features(r, f++) = v;
        }
    return table;
}

void Standardizer::fit(const Array<double>& x) {
    if (x.dimension() != 2 || x.shape()[0] == 0)
        throw ShapeError(fmt::format("Standardizer::fit: expects [rows, columns], got {}", to_string(x.shape())));
    std::size_t rows = x.shape()[0], cols = x.shape()[1];
    mean_ = xt::zeros<double>({cols});
    scale_ = xt::zeros<double>({cols});
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) mean_(c) += x(r, c) / double(rows);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) scale_(c) += (x(r, c) - mean_(c)) * (x(r, c) - mean_(c)) / double(rows);
    for (auto& s : scale_) s = s > 0 ? std::sqrt(s) : 1.0;
}

Array<double> Standardizer::transform(const Array<double>& x) const {
    if (mean_.size() == 0) throw ValueError("Standardizer::transform: call fit first");
    if (x.dimension() != 2 || x.shape()[1] != mean_.size())
        throw ShapeError(fmt::format("Standardizer::transform: data of shape {} for a fit on {} columns",
                                     to_string(x.shape()), mean_.size()));
    Array<double> out = x;
    for (std::size_t r = 0; r < x.shape()[0]; ++r)
        for (std::size_t c = 0; c < x.shape()[1]; ++c) out(r, c) = (x(r, c) - mean_(c)) / scale_(c);
    return out;
}

std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t(0));
    std::mt19937_64 rng(seed);
    for (std::size_t i = n; i > 1; --i) {  // Fisher-Yates with our own draws: the same on every platform
        std::size_t j = static_cast<std::size_t>(rng() % i);
        std::swap(idx[i - 1], idx[j]);
    }
    return idx;
}

std::pair<std::size_t, std::size_t> shard_range(std::size_t n, std::size_t shard, std::size_t shards) {
    if (shard >= shards) throw ValueError(fmt::format("shard_range: shard {} of {} shards does not exist", shard, shards));
    return {n / shards * shard + std::min(shard, n % shards), n / shards * (shard + 1) + std::min(shard + 1, n % shards)};
}

Table row_range(const Table& table, std::size_t first, std::size_t last) {
    if (first > last || last > table.features.shape()[0])
        throw ValueError(fmt::format("row_range: rows [{}, {}) of a table of {} rows", first, last,
                                     table.features.shape()[0]));
    std::vector<std::size_t> indices(last - first);
    std::iota(indices.begin(), indices.end(), first);
    return take_rows(table, indices);
}

Table take_rows(const Table& table, const std::vector<std::size_t>& indices) {
    std::size_t rows = table.features.shape()[0], cols = table.features.shape()[1];
    Table out;
    out.features = Array<double>::from_shape({indices.size(), cols});
    if (table.target.size() > 0) out.target = Array<double>::from_shape({indices.size()});
    for (std::size_t i = 0; i < indices.size(); ++i) {
        if (indices[i] >= rows)
            throw ValueError(fmt::format("take_rows: index {} is out of range for {} rows", indices[i], rows));
        std::copy_n(table.features.data() + indices[i] * cols, cols, out.features.data() + i * cols);
        if (table.target.size() > 0) out.target(i) = table.target(indices[i]);
    }
    return out;
}

std::pair<Table, Table> train_test_split(const Table& table, double test_fraction, std::uint64_t seed) {
    if (!(test_fraction > 0 && test_fraction < 1))
        throw ValueError(fmt::format("train_test_split: test_fraction must be in (0, 1), got {}", test_fraction));
    std::size_t n = table.features.shape()[0];
    auto idx = shuffled_indices(n, seed);
    auto test_n = static_cast<std::size_t>(std::round(test_fraction * double(n)));
    if (test_n == 0 || test_n == n)
        throw ValueError(fmt::format("train_test_split: {} of {} rows leaves an empty side", test_fraction, n));
    std::vector<std::size_t> test(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(test_n));
    std::vector<std::size_t> train(idx.begin() + static_cast<std::ptrdiff_t>(test_n), idx.end());
    return {take_rows(table, train), take_rows(table, test)};
}

std::vector<std::vector<std::size_t>> batches(std::size_t n, std::size_t batch_size, bool shuffle, std::uint64_t seed) {
    if (batch_size == 0) throw ValueError("batches: batch_size must be positive");
    std::vector<std::size_t> idx;
    if (shuffle) {
        idx = shuffled_indices(n, seed);
    } else {
        idx.resize(n);
        std::iota(idx.begin(), idx.end(), std::size_t(0));
    }
    std::vector<std::vector<std::size_t>> out;
    for (std::size_t start = 0; start < n; start += batch_size)
        out.emplace_back(idx.begin() + static_cast<std::ptrdiff_t>(start),
                         idx.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + batch_size)));
    return out;
}

std::vector<std::size_t> to_labels(const Array<double>& target) {
    std::vector<std::size_t> labels;
    for (std::size_t i = 0; i < target.size(); ++i) {
        double v = target.data()[i];
        if (!(v >= 0) || v != std::floor(v))
            throw ValueError(fmt::format("to_labels: value {} at row {} is not a class label (integer >= 0)", v, i));
        labels.push_back(static_cast<std::size_t>(v));
    }
    return labels;
}

Array<double> one_hot(const std::vector<std::size_t>& labels, std::size_t classes) {
    Array<double> out = xt::zeros<double>({labels.size(), classes});
    for (std::size_t n = 0; n < labels.size(); ++n) {
        if (labels[n] >= classes)
            throw ValueError(
                fmt::format("one_hot: label {} at row {} is out of range for {} classes", labels[n], n, classes));
        out(n, labels[n]) = 1.0;
    }
    return out;
}

}  // namespace xtgrad::nn
