// How compiled functions replay (replay_plan.hpp): elementwise chains fused into blocked
// passes give eager evaluation's bits (sums over several blocks to rounding); a steady-state
// replay makes no heap allocation (every operator new of this program is counted, and the
// value pool's blocks taken from the system); a replay holds no more memory than eager
// evaluation; a vectors-only replay equals a full one; a group split between threads gives
// the bits of one thread.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <optional>
#include <thread>

#include "helpers.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> news{0};

void* counted(std::size_t n, std::size_t align) {
    if (counting.load(std::memory_order_relaxed)) news.fetch_add(1, std::memory_order_relaxed);
    n = n == 0 ? 1 : n;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(n) : std::aligned_alloc(align, (n + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
}  // namespace

// Every allocation through operator new in this program (the library's included) comes here.
// g++ 12 at -O1 takes the free below for one of a `new`-allocated pointer where it inlines
// Boost's test registration: a false positive, as every allocation here comes from malloc.
// Silenced to the end of the file, since every test case's registration is such a place.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace xtgrad;
using namespace xtgrad::testing;

namespace {

// Heap allocations made by `f`: operator new calls plus blocks the value pool took from the system.
template <class F>
std::size_t heap_allocations(F&& f) {
    std::size_t pool_before = pool_stats().system_allocations;
    news = 0;
    counting = true;
    f();
    counting = false;
    return news.load() + (pool_stats().system_allocations - pool_before);
}

// Elementwise work over a [rows, cols] input with a row and a column broadcast, scalars, and
// ops whose block forms come from xtensor expressions (tanh, exp, log1p), scalar functions
// (mul, div, maximum, sigmoid's rule) and derived constants (relu's step); then a sum.
template <class T>
BasicTensor<T> elementwise(const TensorList<T>& in) {
    auto y = tanh(in[0] * in[1] + in[2]);
    auto z = sigmoid(y) * exp(neg(square(in[0]))) / (abs(in[1]) + T(1)) - log1p(square(in[2]));
    return sum(z * z + maximum(z, in[0] * T(0.5)) + relu(y - T(0.1)));
}

template <class T>
std::vector<Array<T>> eager_grad(const std::function<BasicTensor<T>(const TensorList<T>&)>& f,
                                 const std::vector<Array<T>>& at, T& value) {
    Tape tape;
    TensorList<T> p;
    for (auto& a : at) p.push_back(BasicTensor<T>::parameter(a));
    auto out = f(p);
    value = out.item();
    std::vector<Array<T>> g;
    for (auto& t : grad(out, p)) g.push_back(t.value());
    return g;
}

template <class T>
std::vector<Array<T>> eager_hvp(const std::function<BasicTensor<T>(const TensorList<T>&)>& f,
                                const std::vector<Array<T>>& at, const std::vector<Array<T>>& v) {
    Tape tape;
    TensorList<T> p, vs;
    for (auto& a : at) p.push_back(BasicTensor<T>::parameter(a));
    for (auto& a : v) vs.push_back(BasicTensor<T>::constant(a));
    std::vector<Array<T>> out;
    for (auto& t : hvp([&] { return f(p); }, p, vs)) out.push_back(t.value());
    return out;
}

template <class T>
bool same_bits(const Array<T>& a, const Array<T>& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
        if (!(a.data()[k] == b.data()[k])) return false;
    return true;
}

template <class T>
void check_fused_replays(const Shape& shape) {
    const std::size_t rows = shape[0], cols = shape[1];
    std::function<BasicTensor<T>(const TensorList<T>&)> f = elementwise<T>;
    auto compiled = compile<T>(f);
    for (std::uint64_t seed = 1; seed < 4; ++seed) {  // the first call traces, the others replay
        std::vector<Array<T>> at{uniform<T>({rows, cols}, seed), uniform<T>({cols}, seed + 10),
                                 uniform<T>({rows, 1}, seed + 20)};
        std::vector<Array<T>> v{uniform<T>({rows, cols}, seed + 30), uniform<T>({cols}, seed + 40),
                                uniform<T>({rows, 1}, seed + 50)};
        T value = 0;
        auto g = eager_grad<T>(f, at, value);
        auto [cv, cg] = compiled.value_and_grad(at);
        // the sum is accumulated block by block: n eps |terms| bounds the reordering
        const double n = double(rows * cols), eps = std::numeric_limits<T>::epsilon();
        BOOST_TEST(std::abs(double(cv) - double(value)) <= n * eps * 4 * (std::abs(double(value)) + n));
        for (std::size_t i = 0; i < g.size(); ++i) BOOST_TEST(same_bits(cg[i], g[i]), "gradient " << i);
        auto h = eager_hvp<T>(f, at, v);
        auto ch = compiled.hvp(at, v);
        for (std::size_t i = 0; i < h.size(); ++i) BOOST_TEST(same_bits(ch[i], h[i]), "hvp " << i);
    }
    BOOST_TEST(compiled.traces() == 2u);
    auto stats = compiled.stats();
    BOOST_TEST(stats.groups >= 2u);
    BOOST_TEST(stats.fused_nodes >= stats.nodes / 2);  // most of the work is elementwise here
}

}  // namespace

BOOST_AUTO_TEST_CASE(fused_replays_equal_eager_evaluation) {
    check_fused_replays<double>({37, 301});  // 11137 elements: blocks of 1024 and a ragged last one
    check_fused_replays<float>({53, 97});
    check_fused_replays<double>({1, 3});  // shorter than one SIMD batch: element by element
    check_fused_replays<double>({600, 1001});  // outputs over 4 MiB: written by streaming stores
    check_fused_replays<float>({1000, 1100});
}

// A fused group's sum keeps one partial per block of 8 KiB (1024 doubles, 2048 floats): a
// group of a whole number of blocks, and one element either side, must neither lose the last
// block nor write a partial past the end (the AddressSanitizer stage runs this too).
BOOST_AUTO_TEST_CASE(fused_sums_over_whole_numbers_of_blocks) {
    for (std::size_t blocks : {1, 2, 4})
        for (int side : {-1, 0, 1}) {
            check_fused_replays<double>({1, blocks * 1024 + side});
            check_fused_replays<float>({1, blocks * 2048 + side});
        }
}

BOOST_AUTO_TEST_CASE(a_chain_of_scalar_ops_is_one_group) {
    std::function<Tensor(const TensorList<double>&)> chain = [](const TensorList<double>& in) {
        Tensor y = in[0];
        for (int i = 0; i < 100; ++i) y = sin(y * 0.999 + 0.001);
        return sum(y);
    };
    auto compiled = compile<double>(chain);
    compiled.value_and_grad({Array<double>{0.5}});
    double value = 0;
    auto g = eager_grad<double>(chain, {Array<double>{0.25}}, value);
    auto [cv, cg] = compiled.value_and_grad({Array<double>{0.25}});
    BOOST_TEST(cv == value);
    BOOST_TEST(same_bits(cg[0], g[0]));
    BOOST_TEST(compiled.stats().groups == 1u);
}

BOOST_AUTO_TEST_CASE(the_check_mode_accepts_sums_over_many_blocks) {
    std::function<Tensor(const TensorList<double>&)> f = elementwise<double>;
    auto compiled = compile<double>(f, CompileOptions{true});
    std::vector<Array<double>> at{uniform({100, 257}, 1), uniform({257}, 2), uniform({100, 1}, 3)};
    compiled.value_and_grad(at);
    at[0] = uniform({100, 257}, 4);
    BOOST_CHECK_NO_THROW(compiled.value_and_grad(at));
}

namespace {
// A two-layer network's mean cross entropy with one-hot targets as data.
struct Mlp {
    Tensor w1 = param({16, 32}, 1), b1 = param({32}, 2), w2 = param({32, 5}, 3), b2 = param({5}, 4);
    TensorList<double> params() const { return {w1, b1, w2, b2}; }
    Tensor loss(const Tensor& x, const Tensor& y) const {
        auto z = matmul(relu(matmul(x, w1) + b1), w2) + b2;
        return neg(sum(log_softmax(z, 1) * y)) * (1.0 / double(x.shape()[0]));
    }
};

Array<double> one_hot(std::size_t rows, std::size_t classes) {
    Array<double> y = xt::zeros<double>({rows, classes});
    for (std::size_t r = 0; r < rows; ++r) y(r, (r * 7) % classes) = 1;
    return y;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_steady_state_replay_allocates_nothing) {
    Mlp mlp;
    CompiledLoss<double> loss(mlp.params(), [&](const TensorList<double>& d) { return mlp.loss(d[0], d[1]); });
    std::vector<Array<double>> batch{uniform({64, 16}, 5), one_hot(64, 5)};
    for (int i = 0; i < 3; ++i) loss(batch);  // trace, then fill the pool's caches
    BOOST_TEST(heap_allocations([&] {  // the count sees allocations: recording the loss makes many
                   Tape tape;
                   grad(mlp.loss(Tensor::constant(batch[0]), Tensor::constant(batch[1])), mlp.params());
               }) > 10u);
    BOOST_TEST(heap_allocations([&] {
                   for (int i = 0; i < 5; ++i) loss(batch);
               }) == 0u);

    std::function<Tensor(const TensorList<double>&)> f = elementwise<double>;
    auto compiled = compile<double>(f);
    std::vector<Array<double>> at{uniform({40, 300}, 1), uniform({300}, 2), uniform({40, 1}, 3)};
    std::vector<Array<double>> v{uniform({40, 300}, 4), uniform({300}, 5), uniform({40, 1}, 6)};
    std::vector<Array<double>> grads, hv;
    for (int i = 0; i < 3; ++i) compiled.value_and_grad(at, grads), compiled.hvp(at, v, hv);
    BOOST_TEST(heap_allocations([&] {
                   for (int i = 0; i < 5; ++i) compiled.value_and_grad(at, grads), compiled.hvp(at, v, hv);
               }) == 0u);

    // groups of many blocks, split between two threads: waking the workers allocates nothing
    const int threads = num_threads();
    set_num_threads(2);
    std::vector<Array<double>> big{uniform({300, 400}, 1), uniform({400}, 2), uniform({300, 1}, 3)};
    for (int i = 0; i < 3; ++i) compiled.value_and_grad(big, grads);
    BOOST_TEST(heap_allocations([&] {
                   for (int i = 0; i < 5; ++i) compiled.value_and_grad(big, grads);
               }) == 0u);
    set_num_threads(threads);
}

BOOST_AUTO_TEST_CASE(a_replay_gives_the_same_bits_on_any_number_of_threads) {
    // 600 x 1001: groups of 587 blocks, in 64 parts taken by 1, 2 and 3 threads; the sum's
    // block partials are added in block order whoever computed them
    std::function<Tensor(const TensorList<double>&)> f = elementwise<double>;
    auto compiled = compile<double>(f);
    std::vector<Array<double>> at{uniform({600, 1001}, 1), uniform({1001}, 2), uniform({600, 1}, 3)};
    std::vector<Array<double>> v{uniform({600, 1001}, 4), uniform({1001}, 5), uniform({600, 1}, 6)};
    compiled.value_and_grad(at), compiled.hvp(at, v);  // the traces: replays follow
    const int threads = num_threads();
    std::vector<double> values;
    std::vector<std::vector<Array<double>>> grads, hvps;
    for (int n : {1, 2, 3}) {
        set_num_threads(n);
        auto [value, g] = compiled.value_and_grad(at);
        values.push_back(value);
        grads.push_back(g);
        hvps.push_back(compiled.hvp(at, v));
    }
    set_num_threads(threads);
    for (std::size_t run = 1; run < values.size(); ++run) {
        BOOST_TEST(values[run] == values[0], "value, " << run + 1 << " threads");
        for (std::size_t i = 0; i < at.size(); ++i) {
            BOOST_TEST(same_bits(grads[run][i], grads[0][i]), "gradient " << i << ", " << run + 1 << " threads");
            BOOST_TEST(same_bits(hvps[run][i], hvps[0][i]), "hvp " << i << ", " << run + 1 << " threads");
        }
    }
    BOOST_TEST(compiled.traces() == 2u);  // the gradient's and the hvp's
}

BOOST_AUTO_TEST_CASE(replays_on_two_threads_at_once_give_their_own_results) {
    // Each thread compiles and replays its own function (a recording belongs to the thread that
    // made it); their large groups ask for the workers at the same time: one replay gets them,
    // the other runs its parts itself. Both equal what one thread computes alone.
    std::function<Tensor(const TensorList<double>&)> f = elementwise<double>;
    auto inputs = [](std::uint64_t seed) {
        return std::vector<Array<double>>{uniform({300, 700}, seed), uniform({700}, seed + 1),
                                          uniform({300, 1}, seed + 2)};
    };
    auto run = [&](std::uint64_t seed, std::vector<std::pair<double, std::vector<Array<double>>>>& out) {
        auto compiled = compile<double>(f);
        auto at = inputs(seed);
        for (int i = 0; i < 20; ++i) out.push_back(compiled.value_and_grad(at));
    };
    const int threads = num_threads();
    set_num_threads(2);
    std::vector<std::pair<double, std::vector<Array<double>>>> alone_a, alone_b, a, b;
    run(1, alone_a);
    run(7, alone_b);
    std::thread other([&] { run(1, a); });
    run(7, b);
    other.join();
    set_num_threads(threads);
    for (std::size_t i = 1; i < a.size(); ++i) {  // (call 0 is the trace)
        BOOST_TEST(a[i].first == alone_a[1].first);
        BOOST_TEST(b[i].first == alone_b[1].first);
        for (std::size_t k = 0; k < 3; ++k) {
            BOOST_TEST(same_bits(a[i].second[k], alone_a[1].second[k]));
            BOOST_TEST(same_bits(b[i].second[k], alone_b[1].second[k]));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_replay_holds_no_more_memory_than_eager_evaluation) {
    std::function<Tensor(const TensorList<double>&)> f = elementwise<double>;
    std::vector<Array<double>> at{uniform({400, 500}, 1), uniform({500}, 2), uniform({400, 1}, 3)};
    auto peak_of = [](auto&& run) {
        std::size_t before = pool_stats().bytes_in_use;
        pool_reset_peak();
        run();
        return pool_stats().peak_bytes_in_use - before;
    };
    std::size_t eager = peak_of([&] {
        double value = 0;
        eager_grad<double>(f, at, value);
    });
    std::optional<CompiledFunction<double>> compiled;
    compiled.emplace(f);
    compiled->value_and_grad(at);  // the trace, as eager as eager evaluation
    std::vector<Array<double>> grads;
    compiled->value_and_grad(at, grads);
    // what the recording keeps between calls (its leaves, outputs and scratch) and what a replay adds
    std::size_t kept = pool_stats().bytes_in_use;
    compiled.reset();
    kept -= pool_stats().bytes_in_use;
    compiled.emplace(f);
    compiled->value_and_grad(at, grads);
    std::size_t replay = kept + peak_of([&] { compiled->value_and_grad(at, grads); });
    BOOST_TEST_MESSAGE("peak bytes: eager " << eager << ", replay (with what the recording keeps) " << replay);
    BOOST_TEST(replay <= eager);
}

BOOST_AUTO_TEST_CASE(a_vectors_only_replay_equals_a_full_one) {
    // outputs: f, its gradient and H v; replay_vectors recomputes only H v
    Recording<double> r(
        [](const TensorList<double>& in, const TensorList<double>& v) {
            auto f = elementwise<double>(in);
            auto g = grad(TensorList<double>{f}, in, {}, true, true);
            BasicTensor<double> inner;
            for (std::size_t i = 0; i < g.size(); ++i) {
                auto term = sum(g[i] * v[i]);
                inner = inner.defined() ? inner + term : term;
            }
            auto h = grad(TensorList<double>{inner}, in, {}, true, true);
            TensorList<double> out{f};
            out.insert(out.end(), g.begin(), g.end());
            out.insert(out.end(), h.begin(), h.end());
            return out;
        },
        {uniform({30, 50}, 1), uniform({50}, 2), uniform({30, 1}, 3)},
        {uniform({30, 50}, 4), uniform({50}, 5), uniform({30, 1}, 6)});
    r.set_input(0, uniform({30, 50}, 7));
    r.replay();
    for (std::uint64_t seed = 8; seed < 11; ++seed) {
        r.set_vector(0, uniform({30, 50}, seed));
        r.set_vector(2, uniform({30, 1}, seed + 10));
        r.replay_vectors();
        std::vector<Array<double>> partial;
        for (std::size_t i = 0; i < r.outputs(); ++i) partial.push_back(r.output(i));
        r.replay();
        for (std::size_t i = 0; i < r.outputs(); ++i) BOOST_TEST(same_bits(partial[i], r.output(i)), "output " << i);
    }
    BOOST_CHECK_THROW(r.set_vector(1, uniform({49}, 1)), ShapeError);
}

BOOST_AUTO_TEST_CASE(a_member_read_twice_by_its_last_reader_frees_its_block_once) {
    // y * y is y's last use: its scratch block must be handed to one later member, not two
    std::function<Tensor(const TensorList<double>&)> f = [](const TensorList<double>& in) {
        auto y = exp(in[0]);
        auto a = y * y;
        return sum(sin(a) * cos(a));
    };
    auto compiled = compile<double>(f);
    std::vector<Array<double>> at{uniform({1000}, 1, 0.1, 0.5)};  // one block: the sum in eager's order
    compiled(at);  // the value alone: y * y is y's last reader (a gradient would read y again)
    at[0] = uniform({1000}, 2, 0.1, 0.5);
    Tensor eager;
    {
        NoGrad no_grad;
        eager = f({Tensor::constant(at[0])});
    }
    BOOST_TEST(compiled(at).data()[0] == eager.item());
    double value = 0;  // and with the gradient
    auto g = eager_grad<double>(f, at, value);
    auto [cv, cg] = compiled.value_and_grad(at);
    BOOST_TEST(cv == value);
    BOOST_TEST(same_bits(cg[0], g[0]));
}

namespace {
// Draws of the random functions' dropout: rewound before every evaluation that is compared.
Generator draws(7);

// A random function of three inputs ([rows, cols], [cols], [rows, 1]): a chain of elementwise
// ops that read earlier results again (some twice), reshape and broadcast, and sums; masks
// from comparisons (where, clamp, &&, !), dropout, and max along an axis.
Tensor random_function(const TensorList<double>& in, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Tensor> pool{in[0], tanh(in[0] * in[1] + in[2])};
    auto pick = [&] { return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)]; };
    const Shape full = in[0].shape();
    for (int k = 0; k < 12; ++k) {
        Tensor a = pick(), b = pick(), r;
        switch (rng() % 17) {
            case 0: r = a * b; break;
            case 1: r = a + b * 0.5; break;
            case 2: r = a - b; break;
            case 3: r = a / (square(b) + 1.0); break;
            case 4: r = sigmoid(a) * a; break;
            case 5: r = tanh(a) * tanh(a); break;
            case 6: r = relu(a) + softplus(b); break;
            case 7: r = maximum(a, b) * in[1]; break;
            case 8: r = sin(a) * cos(b) + in[2]; break;
            case 9: r = reshape(reshape(a, {full[0] * full[1]}) * 0.9, full); break;
            case 10: r = a * broadcast_to(in[2], full); break;
            case 11: r = exp(neg(square(a))) * b; break;
            case 12: r = where(a > b, a * a, b); break;
            case 13: r = clamp(a, -0.3, 0.4) * b; break;
            case 14: r = dropout(a, 0.3, true, draws) + b; break;
            case 15: r = where(!(a < 0.2) && (b > -0.5), a, 0.25); break;
            case 16: r = a * max(b, {1}, true); break;
        }
        pool.push_back(r);
    }
    Tensor total = sum(pool.back());
    for (std::size_t k = 2; k < pool.size(); k += 3) total = total + sum(pool[k] * pool[k]) * 1e-2;
    return total;
}
}  // namespace

BOOST_AUTO_TEST_CASE(random_elementwise_functions_replay_as_eager_evaluation) {
    for (std::uint64_t seed = 0; seed < 40; ++seed)
        for (const Shape& shape : {Shape{7, 9}, Shape{40, 61}}) {  // one block; several (ragged)
            std::function<Tensor(const TensorList<double>&)> f = [seed](const TensorList<double>& in) {
                return random_function(in, seed);
            };
            auto compiled = compile<double>(f);
            auto inputs = [&](std::uint64_t s) {
                return std::vector<Array<double>>{uniform(shape, s), uniform({shape[1]}, s + 1),
                                                  uniform({shape[0], 1}, s + 2)};
            };
            compiled.value_and_grad(inputs(100));
            compiled.hvp(inputs(100), inputs(200));
            auto at = inputs(300), v = inputs(400);
            double value = 0;
            draws.set_offset(0);
            auto g = eager_grad<double>(f, at, value);
            draws.set_offset(0);
            auto [cv, cg] = compiled.value_and_grad(at);
            if (shape[0] * shape[1] <= 1024)
                BOOST_TEST(cv == value, "seed " << seed);
            else
                BOOST_TEST(std::abs(cv - value) <= 1e-12 * (1 + std::abs(value)), "seed " << seed);
            // the value alone: no backward pass keeps the forward values alive, so scratch
            // blocks are reused sooner
            compiled(inputs(500));
            Tensor eager;
            {
                NoGrad no_grad;
                draws.set_offset(0);
                eager = f({Tensor::constant(at[0]), Tensor::constant(at[1]), Tensor::constant(at[2])});
            }
            draws.set_offset(0);
            double replayed = compiled(at).data()[0];
            if (shape[0] * shape[1] <= 1024)
                BOOST_TEST(replayed == eager.item(), "seed " << seed << " value alone");
            else
                BOOST_TEST(std::abs(replayed - eager.item()) <= 1e-12 * (1 + std::abs(value)), "seed " << seed);
            draws.set_offset(0);
            auto h = eager_hvp<double>(f, at, v);
            draws.set_offset(0);
            auto ch = compiled.hvp(at, v);
            for (std::size_t i = 0; i < 3; ++i) {
                BOOST_TEST(same_bits(cg[i], g[i]), "seed " << seed << " gradient " << i);
                BOOST_TEST(same_bits(ch[i], h[i]), "seed " << seed << " hvp " << i);
            }
        }
}

BOOST_AUTO_TEST_CASE(one_compiled_function_called_from_several_threads) {
    auto f = compile<double>([](const TensorList<double>& in) { return sum(square(tanh(in[0]) * 2.0)); });
    std::vector<std::thread> threads;
    std::vector<int> wrong(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            Array<double> x = xt::ones<double>({3000}) * double(t + 1) * 0.1;
            const double expected = 3000 * std::pow(std::tanh(double(t + 1) * 0.1) * 2.0, 2);
            for (int k = 0; k < 200; ++k) {
                auto [value, g] = f.value_and_grad({x});
                if (std::abs(value - expected) > 1e-9 * expected) ++wrong[t];
            }
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) BOOST_TEST(wrong[t] == 0, "thread " << t);
    BOOST_TEST(f.traces() == 1u);
}
