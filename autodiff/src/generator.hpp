// A generator's state (random.hpp): seed and position, and the lock that serialises draws. Its
// own header because recordings read and restore positions (CompileOptions::check traces
// afresh and must draw what the replay drew).
#pragma once

#include <cstdint>
#include <mutex>

namespace xtgrad::detail {

struct GeneratorState {
    std::mutex mutex;
    std::uint64_t seed = 0;
    std::uint64_t offset = 0;  // 64-bit words drawn so far; draws start at even positions

    /// Takes `words` words from the stream: returns where they start and advances past them
    /// (to the next even position, so that each draw starts at a counter of its own).
    std::uint64_t take(std::uint64_t words) {
        std::lock_guard<std::mutex> lock(mutex);
        std::uint64_t start = offset;
        offset += words + (words & 1);
        return start;
    }
};

}  // namespace xtgrad::detail
