// Random numbers as tensors: a counter-based generator (Philox4x32-10, Salmon et al. 2011, the
// generator of PyTorch's CUDA and of JAX's threefry-like keys) and ops that draw from it.
//
// A draw depends only on the generator's seed and its position (offset) in the stream: the
// same seed gives the same numbers whatever the number of threads or the order other
// generators are used in. A draw inside a compiled function's trace is a recorded node that
// draws afresh on each replay from the generator's current position and advances it by what
// it drew, exactly as the eager call does: seeded the same, compiled and eager training draw
// the same numbers (torch.compile functionalises its RNG the same way, as seed and offset).
//
//   Generator gen(42);
//   Tensor noise = randn<double>({64, 10}, gen);
//   Tensor y = dropout(x, 0.5, gen);            // training mode: a fresh mask each call
#pragma once

#include <cstdint>
#include <memory>

#include "xtgrad/autodiff/compare.hpp"
#include "xtgrad/autodiff/tensor.hpp"

namespace xtgrad {

namespace detail {
struct GeneratorState;
}

/// A stream of random numbers: a seed and a position. Copies share one stream (a handle, as
/// torch.Generator); a draw from several threads at once is serialised.
class Generator {
public:
    explicit Generator(std::uint64_t seed = 0);
    /// Restarts the stream of `seed` from its beginning (torch.Generator.manual_seed).
    void manual_seed(std::uint64_t seed);
    std::uint64_t seed() const;
    /// Numbers drawn so far (64-bit words: a uniform takes one, a normal two).
    std::uint64_t offset() const;
    /// Moves to a position of the stream (with seed(), the whole state: get_state/set_state).
    void set_offset(std::uint64_t offset);
    const std::shared_ptr<detail::GeneratorState>& state() const { return state_; }

private:
    std::shared_ptr<detail::GeneratorState> state_;
};

/// The process's generator, used by the draws that are given none (seed 0 at start;
/// torch.manual_seed's is `default_generator().manual_seed(s)`).
Generator& default_generator();

/// Uniform on [0, 1), PyTorch's torch.rand.
template <class T>
BasicTensor<T> rand(const Shape& shape, Generator& gen = default_generator());
/// Standard normal (Box-Muller on two uniforms), torch.randn.
template <class T>
BasicTensor<T> randn(const Shape& shape, Generator& gen = default_generator());
/// Integers uniform in [low, high), as values of T (torch.randint); ValueError unless low < high.
template <class T>
BasicTensor<T> randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen = default_generator());
/// 1 with probability p (elementwise, p broadcast against nothing: p's shape), else 0
/// (torch.bernoulli); ValueError for p outside [0, 1]. Not differentiable in p.
template <class T>
BasicMask<T> bernoulli(const BasicTensor<T>& p, Generator& gen = default_generator());
/// A random permutation of 0, 1, ..., n - 1 (torch.randperm): Fisher-Yates on n words of the
/// stream (each index drawn as the high half of word x range, bias below range / 2^64).
IndexArray randperm(std::size_t n, Generator& gen = default_generator());
/// The same shapes as `like`.
template <class T>
BasicTensor<T> rand_like(const BasicTensor<T>& like, Generator& gen = default_generator()) {
    return rand<T>(like.shape(), gen);
}
template <class T>
BasicTensor<T> randn_like(const BasicTensor<T>& like, Generator& gen = default_generator()) {
    return randn<T>(like.shape(), gen);
}

/// Inverted dropout (torch.nn.functional.dropout): in training, each element is zeroed with
/// probability p and the others scaled by 1 / (1 - p); otherwise x itself. p in [0, 1).
template <class T>
BasicTensor<T> dropout(const BasicTensor<T>& x, double p, bool training = true, Generator& gen = default_generator());

}  // namespace xtgrad
