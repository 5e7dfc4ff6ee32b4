// Compiled functions (compile.hpp) beside eager evaluation of the same function, in one
// process: the first increment of the compiled-replay issue, a replay of the recorded nodes
// without re-tracing (no memory plan, no fusion yet). Figures in bench/README.md.
#include <cstdio>
#include <cstring>

#include <xtensor/xrandom.hpp>

#include "timing.hpp"
#include "xtgrad/autodiff.hpp"

using namespace xtgrad;

namespace {

// 999 scalar ops (mul, add, sin, repeated), value and gradient.
Tensor chain(const TensorList<double>& in) {
    auto c1 = Tensor::constant(Array<double>{0.999}), c2 = Tensor::constant(Array<double>{0.001});
    Tensor y = in[0];
    for (int i = 0; i < 999; i += 3) y = sin(y * c1 + c2);
    return sum(y);
}

Tensor sigmoid_sum(const TensorList<double>& in) {
    return sum(sigmoid(in[0]) * in[0]);
}

void compare(const char* what, const std::function<Tensor(const TensorList<double>&)>& f,
             const std::vector<Array<double>>& at, int reps, double per, const char* unit) {
    double eager = bench::median_seconds(
        [&] {
            Tape tape;
            TensorList<double> p;
            for (auto& a : at) p.push_back(Tensor::parameter(a));
            auto out = f(p);
            grad(out, p);
        },
        reps);
    auto compiled = compile<double>(f);
    double replay = bench::median_seconds([&] { compiled.value_and_grad(at); }, reps);
    std::printf("  %-44s eager %10.3f %-3s  replayed %10.3f %-3s  replay faster %5.2fx\n", what, eager * per, unit,
                replay * per, unit, eager / replay);
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 10 : 50;
    set_num_threads(1);
    std::printf("value and gradient, eager (trace + sweep) against a compiled replay, 1 thread, medians\n");
    compare("op chain (mul, add, sin), 999 ops, per op", chain, {Array<double>{0.5}}, reps * 4, 1e9 / 999, "ns");
    xt::random::seed(0);
    const std::size_t n = std::size_t(1) << 22;
    compare("sum(sigmoid(x)*x), 4M f64, per element", sigmoid_sum, {Array<double>(xt::random::randn<double>({n}))},
            reps / 5 + 2, 1e9 / double(n), "ns");
    return 0;
}
