// Reading an optimizer's saved state: every entry is checked before anything is changed
// (a scalar where a scalar belongs, counters finite, integral and in range, arrays finite and
// shaped like their parameter), and an entry no one asked for is an error naming it.
#pragma once

#include <cmath>
#include <optional>
#include <set>
#include <string>

#include "vector.hpp"

namespace xtgrad::optim::detail {

template <class T>
Array<T> scalar_array(double v) {
    Array<T> a = Array<T>::from_shape({});
    a() = static_cast<T>(v);
    return a;
}

template <class T>
class StateReader {
public:
    StateReader(const char* who, const nn::NamedArrays<T>& state) : who_(who), state_(state) {}

    /// The array saved as `key`, or nullptr.
    const Array<T>* find(const std::string& key) {
        for (auto& [name, a] : state_)
            if (name == key) {
                read_.insert(key);
                return &a;
            }
        return nullptr;
    }

    /// A finite scalar, if saved.
    std::optional<double> optional_scalar(const std::string& key) {
        const Array<T>* a = find(key);
        if (a == nullptr) return std::nullopt;
        if (a->dimension() != 0 && a->size() != 1)
            throw ValueError(fmt::format("{}: '{}' must be a scalar, got shape {}", who_, key, to_string(a->shape())));
        double v = double(*a->data());
        if (!std::isfinite(v)) throw ValueError(fmt::format("{}: '{}' is {}, not a finite number", who_, key, v));
        return v;
    }

    /// A counter: a whole number in [0, max]; `fallback` when not saved.
    std::size_t count(const std::string& key, std::size_t fallback, double max = 1e15) {
        auto v = optional_scalar(key);
        if (!v) return fallback;
        if (*v < 0 || *v > max || std::floor(*v) != *v)
            throw ValueError(fmt::format("{}: '{}' must be a whole number in [0, {}], got {}", who_, key, max, *v));
        return static_cast<std::size_t>(*v);
    }

    /// The array saved as `key`, if any: of `shape`, finite, and >= 0 when `non_negative`.
    std::optional<Array<T>> array(const std::string& key, const Shape& shape, bool non_negative = false) {
        const Array<T>* a = find(key);
        if (a == nullptr) return std::nullopt;
        if (a->shape() != shape)
            throw ShapeError(fmt::format("{}: '{}' has shape {}, the parameter {}", who_, key, to_string(a->shape()),
                                         to_string(shape)));
        for (std::size_t k = 0; k < a->size(); ++k) {
            double v = double(a->data()[k]);
            if (!std::isfinite(v) || (non_negative && v < 0))
                throw ValueError(fmt::format("{}: '{}' holds {} at flat index {}", who_, key, v, k));
        }
        return *a;
    }

    /// `<name><suffix>` for every parameter, each finite and of its parameter's shape; empty
    /// when none is saved, an error when only some are.
    Vec<T> per_parameter(const std::vector<std::string>& names, const TensorList<T>& params,
                         const std::string& suffix) {
        Vec<T> out;
        for (std::size_t i = 0; i < names.size(); ++i) {
            std::string key = names[i] + suffix;
            const Array<T>* a = find(key);
            if (a == nullptr) {
                if (!out.empty())
                    throw ValueError(
                        fmt::format("{}: '{}' is missing while '{}' is saved", who_, key, names[0] + suffix));
                continue;
            }
            if (out.size() != i)
                throw ValueError(fmt::format("{}: '{}' is saved but '{}' is missing", who_, key, names[0] + suffix));
            out.push_back(*array(key, params[i].shape()));
        }
        return out;
    }

    /// Fails on the first entry that nothing read.
    void finish() const {
        for (auto& [name, a] : state_)
            if (!read_.count(name)) throw ValueError(fmt::format("{}: unexpected entry '{}'", who_, name));
    }

private:
    const char* who_;
    const nn::NamedArrays<T>& state_;
    std::set<std::string> read_;
};

}  // namespace xtgrad::optim::detail
