// Storage for tensor values.
//
// Small blocks go straight to malloc (glibc's own bins reuse them well). Blocks of
// 64 KiB and more are kept in a cache keyed by size when freed and handed out again:
// glibc returns such blocks to the kernel, and touching fresh pages again costs
// ~2.6 us per 4 KiB on this class of machine, which made large elementwise work
// several times slower (docs/design.md, "Memory"). The cache is bounded.
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad {

namespace {
constexpr std::size_t kAlign = 64;
constexpr std::size_t kLarge = 64 * 1024;
constexpr std::size_t kCacheLimit = std::size_t(1) << 30;  // 1 GiB

std::size_t rounded(std::size_t bytes) {
    std::size_t unit = bytes >= kLarge ? 4096 : kAlign;
    return bytes == 0 ? kAlign : (bytes + unit - 1) / unit * unit;
}

struct LargeBlockCache {
    std::mutex mutex;
    std::map<std::size_t, std::vector<void*>> free_blocks;  // size -> blocks
    std::size_t cached = 0;
};

// Never destroyed: tensors in static storage may be freed after main returns.
LargeBlockCache& cache() {
    static auto* c = new LargeBlockCache();
    return *c;
}

std::atomic<std::size_t> in_use{0};
}  // namespace

namespace storage {

void* pool_allocate(std::size_t bytes) {
    std::size_t size = rounded(bytes);
    in_use.fetch_add(size, std::memory_order_relaxed);
    if (size >= kLarge) {
        auto& c = cache();
        std::lock_guard lock(c.mutex);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.cached -= size;
            return p;
        }
    }
    void* p = std::aligned_alloc(kAlign, size);
    if (p == nullptr) {
        pool_release_cached();
        p = std::aligned_alloc(kAlign, size);
        if (p == nullptr) {
            in_use.fetch_sub(size, std::memory_order_relaxed);
            throw std::bad_alloc();
        }
    }
    return p;
}

void pool_deallocate(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    std::size_t size = rounded(bytes);
    in_use.fetch_sub(size, std::memory_order_relaxed);
    if (size >= kLarge) {
        auto& c = cache();
        std::lock_guard lock(c.mutex);
        if (c.cached + size <= kCacheLimit) {
            try {
                c.free_blocks[size].push_back(p);
                c.cached += size;
                return;
            } catch (...) {
                // no room to remember the block: give it back
            }
        }
    }
    std::free(p);
}

}  // namespace storage

PoolStats pool_stats() {
    auto& c = cache();
    std::lock_guard lock(c.mutex);
    return {in_use.load(std::memory_order_relaxed), c.cached};
}

void pool_release_cached() {
    auto& c = cache();
    std::lock_guard lock(c.mutex);
    for (auto& [size, blocks] : c.free_blocks)
        for (void* p : blocks) std::free(p);
    c.free_blocks.clear();
    c.cached = 0;
}

std::string to_string(const Shape& shape) {
    return fmt::format("[{}]", fmt::join(shape, ","));
}

}  // namespace xtgrad
