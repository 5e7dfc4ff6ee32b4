// Compiled functions (compile.hpp, Recording) beside eager xtgrad and libtorch, in one process,
// 1 and 2 threads:
//   1. sum(sigmoid(x) * x), value and gradient, 4M float64, and a hand-written fused loop (the
//      same math, xsimd's exp; split between the threads) as the floor: ns per element
//   2. a chain of 999 scalar ops (mul, add, sin), value and gradient: ns per op
//   3. one SGD step of MLP 64-128-10 (tanh, cross entropy), batch 128, float32 and float64
//   4. one natural-gradient step, 20 CG iterations on exact curvature products, MLP 64-128-10,
//      batch 512, float64 (Gauss-Newton and Hessian; libtorch: Hessian by double backward)
// Every compiled workload also reports the heap allocations of one steady-state call: operator
// new (replaced below, counting) plus the blocks xtgrad's value pool took from the system.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <xsimd/xsimd.hpp>
#include <xtensor/xrandom.hpp>

#include "mlp64.hpp"
#include "timing.hpp"
#include "torch_workloads.hpp"
#include "xtgrad/optim.hpp"

namespace {
std::atomic<std::size_t> news{0};
void* counted(std::size_t n, std::size_t align) {
    news.fetch_add(1, std::memory_order_relaxed);
    n = n == 0 ? 1 : n;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(n) : std::aligned_alloc(align, (n + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
}  // namespace
void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace xtgrad;

namespace {

// Heap allocations of one call of `f` (after warm-up calls).
template <class F>
std::size_t allocations_of(F&& f) {
    f();
    f();
    std::size_t pool = pool_stats().system_allocations, before = news.load();
    f();
    return news.load() - before + pool_stats().system_allocations - pool;
}

void row(const char* what, double eager, double compiled, double torch, const char* unit, double per,
         std::size_t eager_allocations, std::size_t allocations) {
    std::printf("  %-46s eager %9.3f  compiled %9.3f  libtorch ", what, eager * per, compiled * per);
    if (torch > 0)
        std::printf("%9.3f", torch * per);
    else
        std::printf("%9s", "-");
    std::printf(" %-3s  compiled/eager %5.2fx", unit, eager / compiled);
    if (torch > 0)
        std::printf("  compiled/libtorch %5.2fx", torch / compiled);
    else
        std::printf("  %24s", "");
    std::printf("  allocations %zu / %zu\n", eager_allocations, allocations);
}

// ---- 1. sum(sigmoid(x) * x) --------------------------------------------------------------
Tensor sigmoid_sum(const TensorList<double>& in) { return sum(sigmoid(in[0]) * in[0]); }

// The hand-fused floor: one pass, xsimd's exp (what sigmoid's block form uses), value and gradient,
// of elements [begin, end) (begin a multiple of the SIMD width).
double hand_fused_range(const double* px, double* pg, std::size_t begin, std::size_t end) {
    using B = xsimd::batch<double>;
    const std::size_t w = B::size, vec = begin + (end - begin) / w * w, n = end;
    B acc(0.0);
    for (std::size_t i = begin; i < vec; i += w) {
        B v = B::load_aligned(px + i);
        B s = B(1.0) / (B(1.0) + xsimd::exp(-v));
        acc += s * v;
        (s + v * s * (B(1.0) - s)).store_aligned(pg + i);  // d/dx [x s(x)] = s + x s (1 - s)
    }
    double total = xsimd::hadd(acc);
    for (std::size_t i = vec; i < n; ++i) {
        double s = 1 / (1 + std::exp(-px[i]));
        total += s * px[i];
        pg[i] = s + px[i] * s * (1 - s);
    }
    return total;
}

// The same loop split into `threads` runs of consecutive elements, one per thread (the first on
// the calling thread; the others started per call, which adds starting and joining a thread to
// its time).
double hand_fused(const Array<double>& x, Array<double>& g, int threads) {
    const std::size_t n = x.size(), parts = std::size_t(threads);
    std::vector<double> partial(parts, 0.0);
    auto run = [&](std::size_t p) {
        const std::size_t begin = p * n / parts / 8 * 8, end = p + 1 == parts ? n : (p + 1) * n / parts / 8 * 8;
        partial[p] = hand_fused_range(x.data(), g.data(), begin, end);
    };
    std::vector<std::thread> others;
    for (std::size_t p = 1; p < parts; ++p) others.emplace_back(run, p);
    run(0);
    for (auto& t : others) t.join();
    double total = 0;
    for (double s : partial) total += s;
    return total;
}

// Eager value and gradient (record, sweep) against the compiled replay of `f` at `at`.
void value_and_grad_row(const char* what, const CompiledFunction<double>::Function& f,
                        const std::vector<Array<double>>& at, double torch, int reps, double per,
                        double* replay_seconds = nullptr) {
    auto eager_call = [&] {
        Tape tape;
        TensorList<double> p;
        for (auto& a : at) p.push_back(Tensor::parameter(a));
        grad(f(p), p);
    };
    double eager = bench::median_seconds(eager_call, reps);
    auto compiled = compile<double>(f);
    std::vector<Array<double>> grads;
    auto call = [&] { compiled.value_and_grad(at, grads); };
    double replay = bench::median_seconds(call, reps);
    if (replay_seconds) *replay_seconds = replay;
    row(what, eager, replay, torch, "ns", per, allocations_of(eager_call), allocations_of(call));
}

void sigmoid_workload(int reps) {
    const std::size_t n = std::size_t(1) << 22;
    xt::random::seed(0);
    std::vector<Array<double>> at{Array<double>(xt::random::randn<double>({n}))};
    double torch = torch_side::available() ? torch_side::sigmoid_sum(long(n), reps) : 0;
    double replay = 0;
    value_and_grad_row("sum(sigmoid(x)*x), 4M f64, per element", sigmoid_sum, at, torch, reps, 1e9 / double(n), &replay);
    Array<double> g = Array<double>::from_shape({n});
    volatile double sink = 0;
    double fused = bench::median_seconds([&] { sink = hand_fused(at[0], g, num_threads()); }, reps);
    std::printf("  %-46s %9.3f ns per element: compiled / hand-fused %5.2fx\n",
                num_threads() > 1 ? "  hand-fused loop, one run per thread" : "  hand-fused loop (same math, xsimd exp)",
                fused * 1e9 / double(n), replay / fused);
}

// ---- 2. a chain of scalar ops ------------------------------------------------------------
Tensor chain(const TensorList<double>& in) {
    auto c1 = Tensor::constant(Array<double>{0.999}), c2 = Tensor::constant(Array<double>{0.001});
    Tensor y = in[0];
    for (int i = 0; i < 999; i += 3) y = sin(y * c1 + c2);
    return sum(y);
}

void chain_workload(int reps) {
    double torch = torch_side::available() ? torch_side::op_chain(999, reps) : 0;
    value_and_grad_row("scalar op chain (mul, add, sin), per op", chain, {Array<double>{0.5}}, torch, reps, 1e9 / 999);
}

// ---- 3. an SGD step ----------------------------------------------------------------------
template <class T>
void sgd_workload(int reps) {
    const std::size_t batch = 128;
    std::mt19937_64 rng(0);
    nn::MLP<T> net({64, 128, 10}, nn::Activation::tanh, rng);
    xt::random::seed(0);
    auto x = BasicTensor<T>::constant(xt::random::randn<T>({batch, std::size_t(64)}));
    std::vector<std::size_t> labels;
    for (std::size_t i = 0; i < batch; ++i) labels.push_back(rng() % 10);
    optim::SGD<T> sgd(net.parameters(), {.lr = 1e-3});
    auto eager_call = [&] {
        sgd.zero_grad();
        Tape tape;
        nn::cross_entropy(net(x), labels).backward();
        sgd.step();
    };
    double eager = bench::median_seconds(eager_call, reps);
    CompiledLoss<T> loss(net.parameters(),
                         [&](const TensorList<T>& data) { return nn::cross_entropy(net(data[0]), labels); });
    std::vector<Array<T>> data{x.value()};
    auto call = [&] {  // (step(closure) would also snapshot the parameters, as eager's step() does not)
        loss(data);
        sgd.step();
    };
    double replay = bench::median_seconds(call, reps);
    double torch = torch_side::available() ? torch_side::mlp_step(sizeof(T) == 4, int(batch), reps) : 0;
    row(sizeof(T) == 4 ? "SGD step, MLP 64-128-10, batch 128, f32" : "SGD step, MLP 64-128-10, batch 128, f64", eager,
        replay, torch, "us", 1e6, allocations_of(eager_call), allocations_of(call));
    std::printf("    %-44s allocations %zu\n", "the compiled loss's replay alone",
                allocations_of([&] { loss(data); }));
}

// ---- 4. a natural-gradient step ----------------------------------------------------------
void natural_gradient_workload(optim::Curvature curvature, int reps) {
    const std::size_t batch = 512;
    bench::Mlp64 m(batch);
    // damping 1 keeps the damped curvature positive definite and cg_rtol 0 runs all 20
    // iterations: the same work on every side (as bench_optim's second-order step)
    auto seconds = [&](bool compiled, std::size_t& allocations) {
        optim::NaturalGradient<double> ng(m.net.parameters(), m.model,
                                          {.damping = 1.0, .adapt_damping = false, .cg_iterations = 20,
                                           .cg_rtol = 0, .curvature = curvature, .compile = compiled});
        double t = bench::median_seconds([&] { ng.step(); }, reps, 2);
        allocations = allocations_of([&] { ng.step(); });
        return t;
    };
    std::size_t eager_allocations = 0, allocations = 0;
    double eager = seconds(false, eager_allocations);
    double replay = seconds(true, allocations);
    double torch = 0;
    if (torch_side::available() && curvature == optim::Curvature::hessian)
        torch = torch_side::newton_cg_step(int(batch), 20, 1.0, reps);
    row(curvature == optim::Curvature::hessian ? "Newton-CG step (Hessian), 20 CG, batch 512, f64"
                                               : "natural-gradient step (Fisher), 20 CG, batch 512",
        eager, replay, torch, "ms", 1e3, eager_allocations, allocations);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string only;  // --only sigmoid|chain|sgd|natural: one workload (for profiling)
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    }
    auto wanted = [&](const char* name) { return only.empty() || only == name; };
    const int reps = quick ? 5 : 21;
    std::printf("compiled replay beside eager xtgrad%s (medians of %d runs; allocations: heap allocations of one "
                "steady-state call, eager / compiled, the optimizers' own included)\n",
                torch_side::available() ? " and libtorch" : "", reps);
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        std::printf("\n%d thread%s\n", threads, threads > 1 ? "s" : "");
        if (wanted("sigmoid")) sigmoid_workload(reps / 2 + 2);
        if (wanted("chain")) chain_workload(reps * 4);
        if (wanted("sgd")) sgd_workload<float>(reps * 10), sgd_workload<double>(reps * 10);
        if (wanted("natural"))
            natural_gradient_workload(optim::Curvature::fisher, reps),
                natural_gradient_workload(optim::Curvature::hessian, reps);
    }
    return 0;
}
