// Data-parallel training step of MLP 784-256-256-10 (ReLU, float32, SGD) at a global batch
// of 256 over the ranks of `mpirun -np P`: samples/s, time in the all-reduce, and an
// alpha-beta model of ring all-reduce fitted to all-reduces timed here, which predicts the
// step for 8-64 nodes on 10 and 100 Gbit/s links. bench/dist.sh runs it with 1 and 2 ranks
// beside PyTorch's DistributedDataParallel (gloo) on the same workload.
//
// Lines beginning with "RESULT" are for bench/dist.sh to put side by side.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include <xtensor/xrandom.hpp>

#include "timing.hpp"
#include "xtgrad/dist.hpp"
#include "xtgrad/nn.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;

namespace {

constexpr std::size_t global_batch = 256;

// One replica's workload: the model, this rank's rows of a seeded batch, and the step.
struct Replica {
    std::mt19937_64 rng{0};
    nn::MLP<float> net{{784, 256, 256, 10}, nn::Activation::relu, rng};
    optim::SGD<float> sgd{net.named_parameters(), {.lr = 0.01f}};
    Tensor32 x;
    IndexArray labels{std::vector<std::int64_t>{0}};
    std::optional<dist::DataParallel<float>> ddp;

    Replica(std::size_t rows, std::uint64_t seed, const dist::Communicator* comm) {
        xt::random::seed(seed);
        x = Tensor32::constant(xt::random::randn<float>({rows, std::size_t(784)}));
        std::vector<std::int64_t> l;
        for (std::size_t i = 0; i < rows; ++i) l.push_back(std::int64_t(rng() % 10));
        labels = IndexArray(l);
        if (comm) ddp.emplace(*comm, net);
    }
    double compute_seconds = 0;
    void step() {
        auto start = std::chrono::steady_clock::now();
        sgd.zero_grad();
        {
            Tape tape;
            auto loss = nn::cross_entropy(net(x), labels, {.reduction = nn::Reduction::sum}) / float(global_batch);
            loss.backward();
        }
        compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (ddp) ddp->reduce_gradients();
        sgd.step();
    }
    std::size_t parameter_bytes() const {
        std::size_t n = 0;
        for (auto& p : net.parameters()) n += p.size();
        return n * sizeof(float);
    }
};

// Median all-reduce time of `bytes` (float32) over the communicator.
double allreduce_seconds(const dist::Communicator& comm, std::size_t bytes, int reps) {
    std::vector<float> buffer(std::max<std::size_t>(1, bytes / sizeof(float)), 1.0f);
    return bench::median_seconds(
        [&] { comm.all_reduce_unchecked(std::span<float>(buffer), dist::ReduceOp::sum, "bench"); }, reps, 5);
}

// Ring all-reduce over p nodes of n bytes: 2(p-1) messages of n/p bytes each way.
double ring_seconds(double alpha, double beta, int p, double n) {
    return p == 1 ? 0.0 : 2.0 * (p - 1) * alpha + 2.0 * (p - 1) / p * n * beta;
}

}  // namespace

int main(int argc, char** argv) {
    return dist::run(argc, argv, [&](dist::Communicator& world) {
        const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
        const int reps = quick ? 10 : 40, p = world.size(), rank = world.rank();
        const bool root = rank == 0;
        const int threads = p == 1 ? 2 : 1;  // the cores: one process takes both, two take one each
        set_num_threads(threads);
        if (global_batch % std::size_t(p) != 0) throw ValueError("bench_dist: the ranks must divide 256");

        // the data-parallel step
        Replica replica(global_batch / std::size_t(p), 100 + std::uint64_t(rank), &world);
        replica.step();
        replica.ddp->reset_stats();
        replica.compute_seconds = 0;
        world.barrier();
        double step = bench::median_seconds([&] { replica.step(); }, reps, 0);
        world.barrier();
        const auto& stats = replica.ddp->stats();
        double reduce = stats.seconds / double(stats.reductions), compute = replica.compute_seconds / double(stats.reductions);
        step = world.all_reduce(step, dist::ReduceOp::max);
        reduce = world.all_reduce(reduce, dist::ReduceOp::mean);
        compute = world.all_reduce(compute, dist::ReduceOp::mean);
        if (root) {
            std::printf("MLP 784-256-256-10, float32, SGD step, global batch %zu, %d rank(s) x %d BLAS thread(s)\n",
                        global_batch, p, threads);
            std::printf("  step %.3f ms   %.0f samples/s   forward+backward %.3f ms   all-reduce %.3f ms (%.0f %% of the "
                        "step; %.2f MB per step)\n",
                        step * 1e3, double(global_batch) / step, compute * 1e3, reduce * 1e3, 100 * reduce / step,
                        double(replica.parameter_bytes()) / 1e6);
            std::printf("RESULT xtgrad ranks=%d samples_per_s=%.1f allreduce_fraction=%.3f\n", p,
                        double(global_batch) / step, reduce / step);
        }
        if (p < 2) return 0;

        // alpha and beta of this machine's all-reduce between two ranks (shared memory), for
        // t = 2 alpha + n beta (ring, p = 2)
        std::vector<double> sizes, times;
        for (std::size_t bytes = 8; bytes <= (std::size_t(8) << 20); bytes *= 4) {
            sizes.push_back(double(bytes));
            times.push_back(world.all_reduce(allreduce_seconds(world, bytes, quick ? 20 : 100), dist::ReduceOp::max));
        }
        // alpha from the smallest message (latency alone), beta by least squares through the
        // origin on what the messages of 128 KiB and more add to it
        double alpha = times.front() / 2, num = 0, den = 0;
        for (std::size_t i = 0; i < sizes.size(); ++i)
            if (sizes[i] >= 131072) num += sizes[i] * (times[i] - 2 * alpha), den += sizes[i] * sizes[i];
        double beta = num / den;
        // forward+backward of one replica at each per-node batch of the table, timed on rank 0
        // alone (the other ranks wait) with one thread
        std::vector<int> nodes{8, 16, 32, 64};
        std::vector<double> per_node_compute;
        for (int n : nodes) {
            double t = 0;
            if (root) {
                Replica alone(global_batch / std::size_t(n), 7, nullptr);
                t = bench::median_seconds([&] { alone.step(); }, reps);
            }
            world.barrier();
            per_node_compute.push_back(t);
        }
        if (!root) return 0;
        std::printf("\nall-reduce between %d ranks here (float32, median):\n", p);
        for (std::size_t i = 0; i < sizes.size(); ++i)
            std::printf("  %9.0f bytes  %9.2f us   model %9.2f us\n", sizes[i], times[i] * 1e6,
                        ring_seconds(alpha, beta, 2, sizes[i]) * 1e6);
        std::printf("  fitted: alpha %.2f us per message, beta %.3f ns per byte (%.2f GB/s)\n", alpha * 1e6, beta * 1e9,
                    1e-9 / beta);
        const double n = double(replica.parameter_bytes());
        std::printf("\npredicted for a cluster (ring all-reduce of %.2f MB per step, no overlap with the backward sweep;\n"
                    "per-node step time measured here at the per-node batch; link latency assumed 10 us at 10 Gbit/s,\n"
                    "3 us at 100 Gbit/s, bandwidth the nominal rate):\n",
                    n / 1e6);
        std::printf("  %5s %9s %12s | %14s %14s %10s | %14s %14s %10s\n", "nodes", "batch/node", "compute ms",
                    "10G reduce ms", "10G samples/s", "10G reduce%", "100G reduce ms", "100G samples/s", "100G reduce%");
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            double c = per_node_compute[i];
            double r10 = ring_seconds(10e-6, 8.0 / 10e9, nodes[i], n), r100 = ring_seconds(3e-6, 8.0 / 100e9, nodes[i], n);
            std::printf("  %5d %9zu %12.3f | %14.3f %14.0f %9.0f%% | %14.3f %14.0f %9.0f%%\n", nodes[i],
                        global_batch / std::size_t(nodes[i]), c * 1e3, r10 * 1e3, double(global_batch) / (c + r10),
                        100 * r10 / (c + r10), r100 * 1e3, double(global_batch) / (c + r100), 100 * r100 / (c + r100));
        }
        std::printf("  (this machine's own alpha and beta would give, for 8 nodes: %.3f ms per all-reduce)\n",
                    ring_seconds(alpha, beta, 8, n) * 1e3);
        return 0;
    });
}
