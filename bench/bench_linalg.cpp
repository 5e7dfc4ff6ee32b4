// Linear algebra beside libtorch, float64, 1 and 2 threads, n = 1000 and 3000:
//   solve(A, b) for a vector b; inverse(A); logdet(S); cholesky_solve(b, cholesky(S)).
// Each row times the forward and the backward (gradients of a weighted sum of the result with
// respect to every input) separately: the median over the runs of each.
// Usage: bench_linalg [--quick]   (--quick: n = 1000 only, fewer runs)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include <xtensor/xrandom.hpp>

#include "torch_workloads.hpp"
#include "xtgrad/autodiff.hpp"

using namespace xtgrad;

namespace {

struct Times {
    double forward, backward;
};

double median(std::vector<double> t) {
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    return t[t.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The same matrices as the libtorch side's recipe (not the same numbers): A = randn + sqrt(n) I,
// well conditioned; S = A A^T / n + I, symmetric positive definite.
struct Operands {
    Array<double> a, s, b;
    explicit Operands(std::size_t n) {
        xt::random::seed(0);
        a = xt::random::randn<double>({n, n});
        for (std::size_t i = 0; i < n; ++i) a(i, i) += std::sqrt(double(n));
        s = Array<double>::from_shape({n, n});
        auto at = Tensor::constant(a);
        s = matmul(at, transpose(at)).value() / double(n);
        for (std::size_t i = 0; i < n; ++i) s(i, i) += 1.0;
        b = xt::random::randn<double>({n});
    }
};

// `forward` builds the result from the parameters; the backward is that of sum(result).
template <class F>
Times time_op(F&& forward, const TensorList<double>& params, int reps) {
    std::vector<double> f, b;
    Tape tape;
    for (int i = 0; i < reps + 1; ++i) {  // the first run warms up
        auto start = std::chrono::steady_clock::now();
        Tensor out = forward();
        double tf = seconds_since(start);
        start = std::chrono::steady_clock::now();
        sum(out).backward();
        double tb = seconds_since(start);
        for (auto p : params) p.zero_grad();
        tape.release();
        if (i > 0) f.push_back(tf), b.push_back(tb);
    }
    return {median(f), median(b)};
}

void row(const char* what, std::size_t n, Times ours, int reps) {
    std::printf("  %-26s n=%-5zu fwd %8.1f ms  bwd %8.1f ms", what, n, ours.forward * 1e3, ours.backward * 1e3);
    if (torch_side::available()) {
        double tf = 0, tb = 0;
        torch_side::linalg(what, int(n), reps, tf, tb);
        std::printf("   libtorch fwd %8.1f ms  bwd %8.1f ms   xtgrad faster fwd %5.2fx bwd %5.2fx", tf * 1e3, tb * 1e3,
                    tf / ours.forward, tb / ours.backward);
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    std::vector<std::size_t> sizes = quick ? std::vector<std::size_t>{1000} : std::vector<std::size_t>{1000, 3000};
    std::printf("linear algebra, float64, forward and backward (median of runs in one process)%s\n",
                torch_side::available() ? ", beside libtorch" : "");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        std::printf("\n%d thread%s\n", threads, threads > 1 ? "s" : "");
        for (std::size_t n : sizes) {
            const int reps = quick ? 3 : (n > 2000 ? 5 : 9);
            Operands m(n);
            auto a = Tensor::parameter(m.a), s = Tensor::parameter(m.s), b = Tensor::parameter(m.b);
            row("solve", n, time_op([&] { return solve(a, b); }, {a, b}, reps), reps);
            row("inverse", n, time_op([&] { return inverse(a); }, {a}, reps), reps);
            row("logdet", n, time_op([&] { return logdet(s); }, {s}, reps), reps);
            row("cholesky_solve", n, time_op([&] { return cholesky_solve(b, cholesky(s)); }, {b, s}, reps), reps);
        }
    }
    return 0;
}
