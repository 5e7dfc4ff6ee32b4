// Draws from a counter-based generator. Word q of the stream of seed s is half of
// Philox4x32-10(counter q / 2, key s): any word can be computed on its own, so a draw depends
// only on the seed and its position. In a compiled function's trace a draw is a recorded node
// with no inputs: each replay draws afresh from the generator's current position.
#include <cmath>
#include <numbers>

#include "generator.hpp"
#include "kernels.hpp"
#include "binary.hpp"
#include "xtgrad/autodiff/random.hpp"

namespace xtgrad {

using namespace detail;

namespace {

// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): ten rounds of two 32x32->64 multiplications, the key bumped by Weyl constants.
struct Philox {
    std::uint32_t c[4];
    void rounds(std::uint32_t k0, std::uint32_t k1) {
        for (int r = 0; r < 10; ++r) {
            std::uint64_t p0 = std::uint64_t(0xD2511F53u) * c[0];
            std::uint64_t p1 = std::uint64_t(0xCD9E8D57u) * c[2];
            std::uint32_t hi0 = std::uint32_t(p0 >> 32), lo0 = std::uint32_t(p0);
            std::uint32_t hi1 = std::uint32_t(p1 >> 32), lo1 = std::uint32_t(p1);
            c[0] = hi1 ^ c[1] ^ k0;
            c[1] = lo1;
            c[2] = hi0 ^ c[3] ^ k1;
            c[3] = lo0;
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
    }
};

// Words [start, start + n) of the stream of `seed`, passed to `use(i, word)`.
template <class F>
void words(std::uint64_t seed, std::uint64_t start, std::size_t n, F use) {
    const auto k0 = std::uint32_t(seed), k1 = std::uint32_t(seed >> 32);
    for (std::size_t i = 0; i < n;) {
        const std::uint64_t q = start + i, counter = q / 2;
        Philox p{{std::uint32_t(counter), std::uint32_t(counter >> 32), 0u, 0u}};
        p.rounds(k0, k1);
        const std::uint64_t pair[2] = {(std::uint64_t(p.c[1]) << 32) | p.c[0], (std::uint64_t(p.c[3]) << 32) | p.c[2]};
        for (std::uint64_t half = q % 2; half < 2 && i < n; ++half, ++i) use(i, pair[half]);
    }
}

// The top 53 (double) or 24 (float) bits as a fraction in [0, 1).
template <class T>
T unit(std::uint64_t w) {
    if constexpr (std::is_same_v<T, double>)
        return T(w >> 11) * 0x1.0p-53;
    else
        return T(w >> 40) * 0x1.0p-24f;
}

std::size_t count(std::string_view op, const Shape& shape) {
    check_not_empty(op, shape);
    std::size_t n = 1;
    for (auto e : shape) {
        if (n > (std::size_t(1) << 60) / e)  // (a normal takes two words a value)
            throw ValueError(fmt::format("{}: shape {} has too many elements", op, to_string(shape)));
        n *= e;
    }
    return n;
}

// A draw: recorded as a node when traced (so replays draw afresh and advance the generator),
// a constant otherwise. `fill(out, n, start, seed)` writes n values from the stream.
template <class T, class Fill>
BasicTensor<T> draw(std::string_view name, const Shape& shape, Generator& gen, std::uint64_t words_per_value, Fill fill) {
    const std::size_t n = count(name, shape);
    std::shared_ptr<GeneratorState> state = gen.state();
    auto out = make_op<T>(
        name, {},
        [state, shape, n, words_per_value, fill](const TensorList<T>&) {
            Array<T> r = Array<T>::from_shape(shape);
            std::uint64_t start = state->take(n * words_per_value);
            fill(r.data(), n, start, state->seed);
            return r;
        },
        [](const TensorList<T>&, const BasicTensor<T>&, const BasicTensor<T>&) { return TensorList<T>(); });
    if (TapeState* tape = active_tape(); tape != nullptr && tape->tracing)
        if (Node<T>* node = node_of(*tape, out)) {
            node->effect = true;  // replayed even when unused: later draws must start where eager ones do
            node->generator = state;
            node->draw_words = n * words_per_value + ((n * words_per_value) & 1);
        }
    return out;
}

}  // namespace

Generator::Generator(std::uint64_t seed) : state_(std::make_shared<detail::GeneratorState>()) {
    state_->seed = seed;
}
void Generator::manual_seed(std::uint64_t seed) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->seed = seed;
    state_->offset = 0;
}
std::uint64_t Generator::seed() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->seed;
}
std::uint64_t Generator::offset() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->offset;
}
void Generator::set_offset(std::uint64_t offset) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->offset = offset;
}

Generator& default_generator() {
    static Generator gen(0);
    return gen;
}

IndexArray randperm(std::size_t n, Generator& gen) {
    if (n > (std::size_t(1) << 60)) throw ValueError(fmt::format("randperm: n = {} is too large", n));
    std::vector<std::int64_t> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = std::int64_t(i);
    const std::uint64_t start = gen.state()->take(n);
    words(gen.seed(), start, n, [&](std::size_t i, std::uint64_t w) {
        const std::size_t k = n - i;  // p[0, k) not yet placed: p[k - 1] takes one of them
        const auto j = std::size_t((static_cast<unsigned __int128>(w) * k) >> 64);
        std::swap(p[k - 1], p[j]);
    });
    return IndexArray(std::move(p), {n});
}

template <class T>
BasicTensor<T> rand(const Shape& shape, Generator& gen) {
    return draw<T>("rand", shape, gen, 1, [](T* o, std::size_t n, std::uint64_t start, std::uint64_t seed) {
        words(seed, start, n, [o](std::size_t i, std::uint64_t w) { o[i] = unit<T>(w); });
    });
}

template <class T>
BasicTensor<T> randn(const Shape& shape, Generator& gen) {
    return draw<T>("randn", shape, gen, 2, [](T* o, std::size_t n, std::uint64_t start, std::uint64_t seed) {
        // value i from words 2i and 2i + 1: Box-Muller in double, u1 in (0, 1] so that log is finite
        double u1 = 0;
        words(seed, start, 2 * n, [&](std::size_t i, std::uint64_t w) {
            if (i % 2 == 0) {
                u1 = double((w >> 11) + 1) * 0x1.0p-53;
            } else {
                double u2 = double(w >> 11) * 0x1.0p-53;
                o[i / 2] = T(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
            }
        });
    });
}

template <class T>
BasicTensor<T> randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen) {
    if (!(low < high)) throw ValueError(fmt::format("randint: low {} must be below high {}", low, high));
    const std::uint64_t range = std::uint64_t(high) - std::uint64_t(low);
    const double limit = std::is_same_v<T, float> ? 0x1.0p24 : 0x1.0p53;
    if (double(std::max(std::abs(double(low)), std::abs(double(high)))) > limit)
        throw ValueError(fmt::format("randint: [{}, {}) is not exactly representable in the tensor's dtype", low, high));
    return draw<T>("randint", shape, gen, 1, [low, range](T* o, std::size_t n, std::uint64_t start, std::uint64_t seed) {
        // the top of a 64x64-bit product: uniform up to a bias below range / 2^64 (Lemire)
        words(seed, start, n, [&](std::size_t i, std::uint64_t w) {
            auto pick = std::uint64_t((static_cast<unsigned __int128>(w) * range) >> 64);
            o[i] = T(low + std::int64_t(pick));
        });
    });
}

template <class T>
BasicMask<T> bernoulli(const BasicTensor<T>& p, Generator& gen) {
    check_usable("bernoulli", p, 0);
    const Array<T>& pv = unchecked_value(p);  // a validation
    for (std::size_t i = 0; i < pv.size(); ++i)
        if (!(pv.data()[i] >= 0 && pv.data()[i] <= 1))
            throw ValueError(fmt::format("bernoulli: probability {} at {} of shape {} is outside [0, 1]", pv.data()[i],
                                         index_string(pv.shape(), i), to_string(pv.shape())));
    return BasicMask<T>(binary_flags<T>("bernoulli", rand<T>(p.shape(), gen), p, [](T u, T q) { return u < q; }));
}

template <class T>
BasicTensor<T> dropout(const BasicTensor<T>& x, double p, bool training, Generator& gen) {
    check_usable("dropout", x, 0);
    if (!(p >= 0 && p < 1)) throw ValueError(fmt::format("dropout: p must be in [0, 1), got {}", p));
    if (!training || p == 0) return x;
    auto keep = binary_flags<T>("dropout.keep", rand<T>(x.shape(), gen), BasicTensor<T>::scalar(T(p)),
                                [](T u, T q) { return u >= q; });
    return x * select(keep, BasicTensor<T>::scalar(T(1 / (1 - p))), BasicTensor<T>::scalar(0));
}

#define XTGRAD_INSTANTIATE(T)                                                                           \
    template BasicTensor<T> rand(const Shape&, Generator&);                                             \
    template BasicTensor<T> randn(const Shape&, Generator&);                                            \
    template BasicTensor<T> randint(std::int64_t, std::int64_t, const Shape&, Generator&);              \
    template BasicMask<T> bernoulli(const BasicTensor<T>&, Generator&);                                 \
    template BasicTensor<T> dropout(const BasicTensor<T>&, double, bool, Generator&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)
#undef XTGRAD_INSTANTIATE

}  // namespace xtgrad
