// One SGD training step of an MLP 784-256-256-10 (ReLU, cross entropy) at batch 256 in
// float32, built from xtgrad::nn, beside the same step in libtorch, with 1 and 2 threads.
// Reports the time, the ratio, and the GFLOP/s of the matrix products.
#include <cstdio>
#include <cstring>
#include <random>

#include <xtensor/xrandom.hpp>

#include "mlp784.hpp"
#include "timing.hpp"
#include "torch_workloads.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;

namespace {
double xtgrad_step(std::size_t batch, int reps) {
    bench::Mlp784 m(batch);
    auto& net = m.net;
    auto params = net.parameters();
    Tape tape;
    return bench::median_seconds(
        [&] {
            net.zero_grad();
            nn::cross_entropy(net(m.x), m.labels).backward();
            for (auto& p : params) p.mutable_value() -= 0.01f * p.grad();
            tape.release();
        },
        reps);
}
}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 20 : 100;
    const double b = 256;
    // forward: three products; backward: weight gradients of all three, input gradients of the last two
    double flops = 2 * b * (784.0 * 256 + 256.0 * 256 + 256.0 * 10) + 2 * b * (784.0 * 256 + 256.0 * 256 + 256.0 * 10) +
                   2 * b * (256.0 * 256 + 256.0 * 10);
    std::printf("MLP 784-256-256-10, ReLU, cross entropy, batch 256, float32: one SGD step (median)\n");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        double ours = xtgrad_step(256, reps);
        std::printf("  %d thread%s: xtgrad %8.3f ms (%6.1f GFLOP/s)", threads, threads > 1 ? "s" : " ", ours * 1e3,
                    flops / ours * 1e-9);
        if (torch_side::available()) {
            double theirs = torch_side::mlp784_step(256, reps);
            std::printf("   libtorch %8.3f ms (%6.1f GFLOP/s)   xtgrad speed / libtorch speed %5.2fx", theirs * 1e3,
                        flops / theirs * 1e-9, theirs / ours);
        }
        std::printf("\n");
    }
    return 0;
}
