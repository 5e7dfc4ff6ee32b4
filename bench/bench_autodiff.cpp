// The autodiff engine beside libtorch, same workloads in the same process, 1 and 2 threads:
//   1. per-op overhead: a chain of scalar ops, forward + backward, ns per op
//   2. MLP 64-128-10 (tanh, cross entropy from logits), batch 128: one SGD step, f32 and f64
//   3. Hessian-vector product of that MLP in f64 at batch 512, and its ratio to a gradient
//   4. sum(sigmoid(x) * x) forward + backward on 4M f64 values, GB/s beside a triad
// Usage: bench_autodiff [--quick]
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <xtensor/xrandom.hpp>

#include "timing.hpp"
#include "torch_workloads.hpp"
#include "xtgrad/autodiff.hpp"

using namespace xtgrad;

namespace {

int reps_scale = 1;

// One figure beside libtorch's (`theirs` is called only when libtorch is built in); `faster`
// is how many times xtgrad is faster (for times libtorch/xtgrad, for rates xtgrad/libtorch).
template <class Theirs>
void row(const char* what, const char* unit, double ours, Theirs&& theirs_fn, bool higher_is_better = false) {
    if (torch_side::available()) {
        double theirs = theirs_fn();
        std::printf("  %-46s %10.3f %-4s  libtorch %10.3f %-4s  xtgrad faster %6.2fx\n", what, ours, unit, theirs, unit,
                    higher_is_better ? ours / theirs : theirs / ours);
    } else {
        std::printf("  %-46s %10.3f %-4s  (libtorch not built in)\n", what, ours, unit);
    }
}

double op_chain(int ops, int reps) {
    auto x = Tensor::parameter(Array<double>{0.5});
    auto c1 = Tensor::constant(Array<double>{0.999}), c2 = Tensor::constant(Array<double>{0.001});
    Tape tape;
    return bench::median_seconds(
        [&] {
            Tensor y = x;
            for (int i = 0; i < ops; i += 3) {
                y = y * c1;
                y = y + c2;
                y = sin(y);
            }
            sum(y).backward();
            x.zero_grad();
            tape.release();
        },
        reps);
}

template <class T>
struct Mlp {
    BasicTensor<T> x, W1, b1, W2, b2;
    std::vector<std::size_t> labels;
    explicit Mlp(std::size_t batch) {
        xt::random::seed(0);
        x = BasicTensor<T>::constant(xt::random::randn<T>({batch, std::size_t(64)}));
        W1 = BasicTensor<T>::parameter(xt::random::randn<T>({64, 128}) * T(0.1));
        b1 = BasicTensor<T>::parameter(xt::zeros<T>({128}));
        W2 = BasicTensor<T>::parameter(xt::random::randn<T>({128, 10}) * T(0.1));
        b2 = BasicTensor<T>::parameter(xt::zeros<T>({10}));
        std::mt19937 rng(0);
        for (std::size_t i = 0; i < batch; ++i) labels.push_back(rng() % 10);
    }
    BasicTensor<T> loss() const {
        auto h = tanh(matmul(x, W1) + b1);
        return -mean(pick(log_softmax(matmul(h, W2) + b2, 1), labels));
    }
    TensorList<T> params() const { return {W1, b1, W2, b2}; }
};

template <class T>
double mlp_step(int batch, int reps) {
    Mlp<T> m(batch);
    Tape tape;
    return bench::median_seconds(
        [&] {
            auto params = m.params();
            for (auto& p : params) p.zero_grad();
            m.loss().backward();
            for (auto& p : params) p.mutable_value() -= T(0.01) * p.grad();
            tape.release();
        },
        reps);
}

void mlp_hvp(int batch, int reps, double& grad_seconds, double& hvp_seconds) {
    Mlp<double> m(batch);
    auto params = m.params();
    TensorList<double> v;
    for (auto& p : params) v.push_back(Tensor::constant(xt::random::randn<double>(p.shape())));
    Tape tape;
    grad_seconds = bench::median_seconds(
        [&] {
            grad(m.loss(), params);
            tape.release();
        },
        reps);
    hvp_seconds = bench::median_seconds([&] { hvp([&] { return m.loss(); }, params, v); }, reps);
}

double sigmoid_sum(std::size_t n, int reps) {
    auto x = Tensor::parameter(xt::random::randn<double>({n}));
    Tape tape;
    return bench::median_seconds(
        [&] {
            sum(sigmoid(x) * x).backward();
            x.zero_grad();
            tape.release();
        },
        reps);
}

double triad(std::size_t n, int reps) {
    std::vector<double> a(n), b(n, 1.0), c(n, 2.0);
    return bench::median_seconds(
        [&] {
            for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + 3.0 * c[i];
            asm volatile("" : : "r"(a.data()) : "memory");
        },
        reps);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    reps_scale = quick ? 1 : 5;
    std::printf("xtgrad autodiff benchmarks (median of repeated runs in one process)%s\n",
                torch_side::available() ? ", beside libtorch" : "");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        std::printf("\n%d thread%s\n", threads, threads > 1 ? "s" : "");

        const int ops = 999;
        const bool torch = torch_side::available();
        row("op chain (mul, add, sin), fwd+bwd, per op", "ns", op_chain(ops, 20 * reps_scale) / ops * 1e9,
            [&] { return torch_side::op_chain(ops, 10 * reps_scale) / ops * 1e9; });

        row("MLP 64-128-10 batch 128 SGD step, f32", "us", mlp_step<float>(128, 200 * reps_scale) * 1e6,
            [&] { return torch_side::mlp_step(true, 128, 200 * reps_scale) * 1e6; });
        row("MLP 64-128-10 batch 128 SGD step, f64", "us", mlp_step<double>(128, 200 * reps_scale) * 1e6,
            [&] { return torch_side::mlp_step(false, 128, 200 * reps_scale) * 1e6; });

        double g, h, tg = 0, th = 0;
        mlp_hvp(512, 50 * reps_scale, g, h);
        if (torch) torch_side::mlp_hvp(512, 50 * reps_scale, tg, th);
        row("MLP batch 512 f64: gradient", "us", g * 1e6, [&] { return tg * 1e6; });
        row("MLP batch 512 f64: Hessian-vector product", "us", h * 1e6, [&] { return th * 1e6; });
        std::printf("  %-46s %10.2fx", "HVP / gradient time", h / g);
        if (torch) std::printf("       libtorch %10.2fx", th / tg);
        std::printf("\n");

        const std::size_t n = std::size_t(1) << 22;
        double s = sigmoid_sum(n, 10 * reps_scale);
        double ts = torch ? torch_side::sigmoid_sum(long(n), 10 * reps_scale) : 0.0;
        double t = triad(n, 10 * reps_scale);
        double useful = 16.0 * double(n);  // x read once, its gradient written once
        row("sum(sigmoid(x)*x) fwd+bwd, 4M f64, time", "ms", s * 1e3, [&] { return ts * 1e3; });
        row(
            "  as GB/s of (x read + gradient written)", "GB/s", useful / s * 1e-9, [&] { return useful / ts * 1e-9; },
            true);
        std::printf("  %-46s %10.3f GB/s  (a = b + s c, 24 bytes per element; one pass %.3f ms)\n",
                    "triad on the same n, same process", 24.0 * double(n) / t * 1e-9, t * 1e3);
        std::printf("  %-46s %10.1f", "workload time in triad passes", s / t);
        if (torch) std::printf("       libtorch %10.1f", ts / t);
        std::printf("\n");
    }
    return 0;
}
