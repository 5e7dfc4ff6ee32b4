// Storage for tensor values.
//
// Small blocks (< 64 KiB) are kept in per-thread free lists by size class: aligned
// malloc/free of many small arrays was the largest cost of per-op overhead (glibc's
// memalign path and fastbin consolidation). Blocks of 64 KiB and more are kept in a
// shared cache keyed by size: glibc returns such blocks to the kernel, and touching
// fresh pages again costs ~2.6 us per 4 KiB on this class of machine, which made large
// elementwise work several times slower (docs/design.md, "Memory"). Both are bounded.
#include <sys/sysinfo.h>

#include <atomic>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "xtgrad/autodiff/array.hpp"
#include "xtgrad/autodiff/errors.hpp"

#if defined(__SANITIZE_ADDRESS__)  // g++
#define XTGRAD_POISON_POOL 1
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer)
#define XTGRAD_POISON_POOL 1
#endif
#endif
#if defined(XTGRAD_POISON_POOL)
#include <sanitizer/asan_interface.h>
#endif

namespace xtgrad {

namespace {
constexpr std::size_t kAlign = 64;
constexpr std::size_t kLarge = 64 * 1024;
constexpr std::size_t kCacheLimit = std::size_t(1) << 30;  // 1 GiB

constexpr std::size_t kSmallStep = 1024;                          // 64-byte steps up to here, then powers of two
constexpr std::size_t kClasses = kSmallStep / kAlign + 6;         // ... 2, 4, 8, 16, 32, 64 KiB
constexpr std::size_t kSmallCacheLimit = std::size_t(256) << 20;  // bytes kept per thread

std::size_t rounded(std::size_t bytes) {
    if (bytes <= kSmallStep) return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
    if (bytes < kLarge) return std::bit_ceil(bytes);
    return (bytes + 4095) / 4096 * 4096;
}

std::size_t size_class(std::size_t size) {  // size is rounded and < kLarge
    if (size <= kSmallStep) return size / kAlign - 1;
    return kSmallStep / kAlign - 1 + static_cast<std::size_t>(std::countr_zero(size / kSmallStep));
}

std::size_t class_size(std::size_t index) {  // the inverse of size_class
    if (index < kSmallStep / kAlign) return (index + 1) * kAlign;
    return kSmallStep << (index - (kSmallStep / kAlign - 1));
}

// Under AddressSanitizer a pooled block is poisoned while it waits in a cache, and handed out
// with only the bytes asked for addressable: a read or write past a tensor's end, into the
// rounding, or of a block after its release, is reported as it would be with malloc.
#if defined(XTGRAD_POISON_POOL)
void* hand_out(void* p, std::size_t bytes, std::size_t size) {
    ASAN_UNPOISON_MEMORY_REGION(p, bytes);
    ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + bytes, size - bytes);
    return p;
}
void set_aside(void* p, std::size_t size) {
    ASAN_POISON_MEMORY_REGION(p, size);
}
void give_back(void* p, std::size_t size) {
    ASAN_UNPOISON_MEMORY_REGION(p, size);
    std::free(p);
}
#else
void* hand_out(void* p, std::size_t, std::size_t) {
    return p;
}
void set_aside(void*, std::size_t) {}
void give_back(void* p, std::size_t) {
    std::free(p);
}
#endif

struct SmallBlockCache {
    std::vector<void*> free_blocks[kClasses];
    std::size_t cached = 0;
    ~SmallBlockCache();
};
thread_local bool small_cache_alive = false;  // trivially destructible: safe to read at thread exit
thread_local SmallBlockCache small_cache;

SmallBlockCache::~SmallBlockCache() {
    small_cache_alive = false;
    for (std::size_t k = 0; k < kClasses; ++k)
        for (void* p : free_blocks[k]) give_back(p, class_size(k));
}

SmallBlockCache* small() {
    if (!small_cache_alive) {
        static thread_local bool constructed = false;  // after destruction, stay off
        if (constructed) return nullptr;
        constructed = true;
        small_cache_alive = true;
    }
    return &small_cache;
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

// Bytes handed out: large blocks counted globally, small ones per thread (an atomic
// update per small allocation cost as much as the rest of the allocation).
std::atomic<std::size_t> large_in_use{0};
thread_local std::size_t small_in_use = 0;
// The most in use since pool_reset_peak (this thread's small blocks plus every large one),
// and the blocks taken from the system: what tests of compiled replays measure.
thread_local std::size_t peak_in_use = 0;
std::atomic<std::size_t> system_allocations{0};

void note_peak() {
    std::size_t now = large_in_use.load(std::memory_order_relaxed) + small_in_use;
    if (now > peak_in_use) peak_in_use = now;
}
}  // namespace

namespace storage {

namespace {
// Memory and swap of the machine: no single allocation larger than that can be used, and
// where the kernel overcommits it would be granted and then filled until the process is
// killed.
std::size_t machine_bytes() {
    static const std::size_t total = [] {
        struct sysinfo si {};
        constexpr std::size_t most = std::size_t(1) << 62;  // (and rounding up below cannot wrap)
        if (sysinfo(&si) != 0) return most;
        return std::min(most, std::size_t(si.totalram + si.totalswap) * si.mem_unit);
    }();
    return total;
}
}  // namespace

void* pool_allocate(std::size_t bytes) {
    if (bytes > machine_bytes())
        throw MemoryError(fmt::format("out of memory: cannot allocate {} bytes ({:.3g} GiB); the machine has {:.3g} "
                                      "GiB of memory and swap",
                                      bytes, double(bytes) / double(1 << 30),
                                      double(machine_bytes()) / double(1 << 30)));
    std::size_t size = rounded(bytes);
    if (size < kLarge) {
        small_in_use += size;
        if (SmallBlockCache* c = small()) {
            auto& blocks = c->free_blocks[size_class(size)];
            if (!blocks.empty()) {
                void* p = blocks.back();
                blocks.pop_back();
                c->cached -= size;
                note_peak();
                return hand_out(p, bytes, size);
            }
        }
    } else {
        large_in_use.fetch_add(size, std::memory_order_relaxed);
        auto& c = cache();
        std::lock_guard lock(c.mutex);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.cached -= size;
            note_peak();
            return hand_out(p, bytes, size);
        }
    }
    note_peak();
    system_allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = std::aligned_alloc(kAlign, size);
    if (p == nullptr) {
        pool_release_cached();
        p = std::aligned_alloc(kAlign, size);
        if (p == nullptr) {
            if (size < kLarge)
                small_in_use -= size;
            else
                large_in_use.fetch_sub(size, std::memory_order_relaxed);
            throw MemoryError(fmt::format("out of memory: cannot allocate {} bytes ({:.3g} GiB)", size,
                                          double(size) / double(1 << 30)));
        }
    }
    return hand_out(p, bytes, size);
}

void pool_deallocate(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    std::size_t size = rounded(bytes);
    if (size < kLarge) {
        small_in_use -= size;
        if (SmallBlockCache* c = small()) {
            auto& blocks = c->free_blocks[size_class(size)];
            if (c->cached + size <= kSmallCacheLimit) {
                try {
                    blocks.push_back(p);
                    c->cached += size;
                    set_aside(p, size);
                    return;
                } catch (...) {
                    // no room to remember the block: give it back
                }
            }
        }
    } else {
        large_in_use.fetch_sub(size, std::memory_order_relaxed);
        auto& c = cache();
        std::lock_guard lock(c.mutex);
        // Full: blocks of other sizes make room, the largest first. The block just freed is
        // the likeliest to be asked for again (a loop allocates the same sizes every
        // iteration); refusing it would send every later allocation of its size to the system.
        for (auto it = c.free_blocks.rbegin(); c.cached + size > kCacheLimit && it != c.free_blocks.rend(); ++it) {
            if (it->first == size) continue;
            while (!it->second.empty() && c.cached + size > kCacheLimit) {
                give_back(it->second.back(), it->first);
                it->second.pop_back();
                c.cached -= it->first;
            }
        }
        if (c.cached + size <= kCacheLimit) {
            try {
                c.free_blocks[size].push_back(p);
                c.cached += size;
                set_aside(p, size);
                return;
            } catch (...) {
                // no room to remember the block: give it back
            }
        }
    }
    give_back(p, size);
}

}  // namespace storage

PoolStats pool_stats() {
    auto& c = cache();
    std::lock_guard lock(c.mutex);
    std::size_t small_cached = small_cache_alive ? small_cache.cached : 0;
    return {large_in_use.load(std::memory_order_relaxed) + small_in_use, c.cached + small_cached, peak_in_use,
            system_allocations.load(std::memory_order_relaxed)};
}

void pool_reset_peak() {
    peak_in_use = large_in_use.load(std::memory_order_relaxed) + small_in_use;
}

void pool_release_cached() {
    if (small_cache_alive) {
        for (std::size_t k = 0; k < kClasses; ++k) {
            for (void* p : small_cache.free_blocks[k]) give_back(p, class_size(k));
            small_cache.free_blocks[k].clear();
        }
        small_cache.cached = 0;
    }
    auto& c = cache();
    std::lock_guard lock(c.mutex);
    for (auto& [size, blocks] : c.free_blocks)
        for (void* p : blocks) give_back(p, size);
    c.free_blocks.clear();
    c.cached = 0;
}

std::string to_string(const Shape& shape) {
    return fmt::format("[{}]", fmt::join(shape, ","));
}

}  // namespace xtgrad
