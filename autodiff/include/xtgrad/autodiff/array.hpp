// The one header that owns xtgrad's xtensor include, the storage type of every
// tensor value, and the small shape vocabulary the public API speaks.
//
// Only <xtensor/xarray.hpp> is pulled in here: the heavy parts of xtensor (math,
// reducers, views, BLAS) stay inside the compiled library's .cpp files.
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

namespace xtgrad {

// The allocator lives in a namespace of its own: Array's template arguments make their
// namespaces associated for argument-dependent lookup, and xtensor calls unqualified
// `sum`, `where`, ... internally, which must not find xtgrad's tensor ops.
namespace storage {
// Storage for tensor values. Large blocks are cached and reused instead of being
// returned to the kernel: on this class of machine first touch of a fresh page
// costs ~2.6 us per 4 KiB, which dominated large elementwise work (see docs/design.md).
void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes) noexcept;

/// Allocator behind every tensor value: 64-byte aligned, large blocks cached.
template <class T>
struct PoolAllocator {
    using value_type = T;
    PoolAllocator() noexcept = default;
    template <class U>
    PoolAllocator(const PoolAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        if (n > std::size_t(-1) / sizeof(T)) throw std::bad_array_new_length();  // n * sizeof(T) would wrap
        return static_cast<T*>(pool_allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const PoolAllocator<U>&) const noexcept {
        return true;
    }
};
}  // namespace storage

/// The value of a tensor: a row-major, dynamically shaped xtensor array.
/// Any xtensor expression converts to it (`Array<double> a = xt::ones<double>({2, 3});`).
template <class T>
using Array = xt::xarray<T, xt::layout_type::row_major, storage::PoolAllocator<T>>;

/// A tensor shape: one extent per dimension, `{}` for a scalar.
using Shape = Array<double>::shape_type;

/// Axes for reductions; negative values count from the end as in numpy. A braced list
/// (`sum(x, {0, 2})`), a vector, or one axis (`mean(x, 1)`, as PyTorch's `dim=1`): a vector
/// with one more constructor, so that a single integer is an axis rather than a length.
struct Axes : std::vector<std::ptrdiff_t> {
    using std::vector<std::ptrdiff_t>::vector;
    Axes() = default;
    Axes(std::ptrdiff_t axis) : std::vector<std::ptrdiff_t>{axis} {}  // NOLINT(google-explicit-constructor)
    Axes(std::vector<std::ptrdiff_t> axes) : std::vector<std::ptrdiff_t>(std::move(axes)) {}  // NOLINT
};

/// "[32,10]": how shapes appear in every error message.
std::string to_string(const Shape& shape);

/// Statistics of the value-storage cache (for tests of memory flatness and for tuning).
/// Small blocks (< 64 KiB) are counted for the calling thread, large ones for the process.
struct PoolStats {
    std::size_t bytes_in_use = 0;  ///< bytes handed out and not yet returned
    std::size_t bytes_cached = 0;  ///< bytes held in the caches for reuse
    std::size_t peak_bytes_in_use = 0;  ///< the most in use since pool_reset_peak()
    std::size_t system_allocations = 0;  ///< blocks taken from the system so far (cache misses)
};
PoolStats pool_stats();
/// Starts a new peak_bytes_in_use at what is in use now.
void pool_reset_peak();
/// Returns every cached large block, and the calling thread's small ones, to the system.
void pool_release_cached();

}  // namespace xtgrad
