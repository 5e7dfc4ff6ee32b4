// Data-parallel training of an MLP on the 8 x 8 digits over MPI:
//
//   mpirun -np 2 build/examples/data_parallel_digits [epochs]
//
// Rank 0 first trains the model alone on every batch (the one-process baseline, while the
// other ranks wait); then every rank trains a replica on its shard of each global batch,
// the gradients summed by an all-reduce. It prints a progress line per epoch, the speed-up
// over one process, and how far the two models are apart (float64: to rounding, since only
// the order of additions differs). Exit status 1 if they differ by more than 1e-12 relative.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include <xtensor/xsort.hpp>

#include <xtgrad/dist.hpp>
#include <xtgrad/nn.hpp>
#include <xtgrad/optim.hpp>

using namespace xtgrad;
using Clock = std::chrono::steady_clock;

namespace {

struct Data {
    nn::Table train, test;
};

Data digits() {
    auto table = nn::load_csv(std::string(XTGRAD_DATA_DIR) + "/digits.csv.gz");
    table.features /= 16.0;  // pixel intensities 0..16
    auto [train, test] = nn::train_test_split(table, 0.2, 7);
    return {train, test};
}

std::unique_ptr<nn::MLP<double>> make_model() {
    std::mt19937_64 rng(1);
    return std::make_unique<nn::MLP<double>>(std::vector<std::size_t>{64, 256, 256, 10}, nn::Activation::relu, rng);
}

struct Run {
    std::unique_ptr<nn::MLP<double>> model;
    double seconds = 0;
    dist::CommunicationStats communication;
};

// Trains on `shards` shards of every global batch of 256 (one process: shards = 1). With a
// communicator, gradients are summed over the ranks and the metrics reduced.
Run train(const Data& data, int epochs, const dist::Communicator* comm) {
    const std::size_t shards = comm ? std::size_t(comm->size()) : 1, shard = comm ? std::size_t(comm->rank()) : 0;
    const bool printing = !comm || comm->rank() == 0;
    Run run{make_model()};
    auto& model = *run.model;
    std::optional<dist::DataParallel<double>> ddp;
    if (comm) ddp.emplace(*comm, model);
    optim::Adam<double> adam(model.named_parameters(), {.lr = 1e-3});
    nn::DataLoader<double> loader(data.train, {.batch_size = 256, .seed = 11, .shards = shards, .shard = shard});
    auto test_rows = nn::shard_range(data.test.rows(), shard, shards);
    std::vector<std::size_t> mine;
    for (std::size_t r = test_rows.first; r < test_rows.second; ++r) mine.push_back(r);
    auto test = nn::take_rows(data.test, mine);
    std::vector<std::int64_t> test_labels(test.target.begin(), test.target.end());

    auto start = Clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        double loss_sum = 0;  // of this rank's shares of each batch's mean loss
        for (const auto& batch : loader) {
            adam.zero_grad();
            if (!batch.empty()) {
                Tape tape;
                auto loss = nn::cross_entropy(model(batch.x), batch.labels(), {.reduction = nn::Reduction::sum}) /
                            double(batch.global_rows);
                loss.backward();
                loss_sum += loss.item();
            }
            if (ddp) ddp->reduce_gradients();
            adam.step();
        }
        double correct = 0;
        {
            NoGrad no_grad;
            auto scores = model(Tensor::constant(test.features)).value();
            correct = nn::accuracy(scores, IndexArray(test_labels)) * double(test.rows());
        }
        if (comm) {
            loss_sum = comm->all_reduce(loss_sum);
            correct = comm->all_reduce(correct);
        }
        if (printing)
            std::printf("  epoch %2d  train loss %.4f  test accuracy %.3f  %.2f s\n", epoch,
                        loss_sum / double(loader.size()), correct / double(data.test.rows()),
                        std::chrono::duration<double>(Clock::now() - start).count());
    }
    run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (ddp) {
        ddp->check_replicas();
        run.communication = ddp->stats();
    }
    return run;
}

double relative_difference(const nn::Module<double>& a, const nn::Module<double>& b) {
    double worst = 0;
    auto pa = a.parameters(), pb = b.parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        double scale = xt::amax(xt::abs(pb[i].value()))(), diff = xt::amax(xt::abs(pa[i].value() - pb[i].value()))();
        worst = std::max(worst, diff / scale);
    }
    return worst;
}

}  // namespace

int main(int argc, char** argv) {
    return dist::run(argc, argv, [&](dist::Communicator& world) {
        const int epochs = argc > 1 ? std::atoi(argv[1]) : 20;
        if (epochs < 1) throw ValueError("data_parallel_digits: the number of epochs must be positive");
        set_num_threads(1);  // one BLAS thread per process: the processes share the cores
        const bool root = world.rank() == 0;
        Data data = digits();
        if (root)
            std::printf("digits: %zu training and %zu test images, MLP 64-256-256-10 (float64), Adam, global batch "
                        "256, %d epochs\n\none process:\n",
                        data.train.rows(), data.test.rows(), epochs);
        Run alone;
        if (root) alone = train(data, epochs, nullptr);
        world.barrier();
        if (root) std::printf("\n%d processes, data-parallel:\n", world.size());
        Run parallel = train(data, epochs, &world);
        if (!root) return 0;
        double difference = relative_difference(*parallel.model, *alone.model);
        const auto& c = parallel.communication;
        std::printf("\none process %.2f s, %d processes %.2f s: speed-up %.2fx\n", alone.seconds, world.size(),
                    parallel.seconds, alone.seconds / parallel.seconds);
        std::printf("all-reduce: %zu messages, %.1f MB, %.2f s (%.0f %% of the data-parallel time)\n", c.messages,
                    double(c.bytes) / 1e6, c.seconds, 100 * c.seconds / parallel.seconds);
        std::printf("largest relative difference between the two models' parameters: %.2e (%s)\n", difference,
                    difference <= 1e-12 ? "the same model, to rounding" : "NOT the same model");
        return difference <= 1e-12 ? 0 : 1;
    });
}
