// A 64-bit fingerprint (FNV-1a) of what each process passes to a collective, or of the bits
// it holds: processes compare fingerprints before data moves, or to check replicas.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad::dist::detail {

class Fingerprint {
public:
    Fingerprint& bytes(const void* data, std::size_t n) {
        auto p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
        return *this;
    }
    Fingerprint& word(std::uint64_t w) { return bytes(&w, sizeof w); }
    Fingerprint& text(std::string_view s) { return word(s.size()).bytes(s.data(), s.size()); }
    Fingerprint& shape(const Shape& s) {
        word(s.size());
        for (auto d : s) word(d);
        return *this;
    }
    std::uint64_t value() const { return h_; }

private:
    std::uint64_t h_ = 1469598103934665603ull;
};

}  // namespace xtgrad::dist::detail
