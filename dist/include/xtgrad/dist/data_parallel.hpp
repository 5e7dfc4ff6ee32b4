// Data-parallel training (PyTorch's DistributedDataParallel, Horovod): every process holds
// the whole model, takes its shard of every global batch (nn::LoaderOptions::shards), and
// after its backward sweep the gradients are summed over the processes, so every process
// takes the same step and the replicas stay equal.
//
//   dist::DataParallel<double> ddp(world, model);          // rank 0's parameters everywhere
//   nn::DataLoader<double> loader(train, {.batch_size = 256, .seed = 1,
//                                         .shards = world.size(), .shard = world.rank()});
//   for (const auto& batch : loader) {
//       optimizer.zero_grad();
//       if (!batch.empty()) {                              // a last batch may leave a rank none
//           Tape tape;
//           // this rank's share of the global mean: the sum over its rows / the global rows
//           auto loss = nn::cross_entropy(model(batch.x), batch.labels(), {.reduction = nn::Reduction::sum})
//                       / double(batch.global_rows);
//           loss.backward();
//       }
//       ddp.reduce_gradients();                            // every rank: the global batch's gradient
//       optimizer.step();
//   }
#pragma once

#include <string>

#include "xtgrad/dist/communicator.hpp"
#include "xtgrad/optim/optimizer.hpp"

namespace xtgrad::dist {

struct DataParallelOptions {
    /// Gradients travel in buckets of about this many bytes: fewer, larger messages than one
    /// per parameter, without one buffer the size of the model (PyTorch's DDP uses 25 MiB).
    std::size_t bucket_bytes = std::size_t(4) << 20;
};

/// Where the time of the gradient reductions went (per process).
struct CommunicationStats {
    std::size_t reductions = 0;  ///< calls of reduce_gradients
    std::size_t messages = 0;    ///< all-reduce calls (one per bucket)
    std::size_t bytes = 0;       ///< gradient bytes reduced
    double seconds = 0;          ///< wall time inside the all-reduces, packing included
};

template <class T>
class DataParallel {
public:
    /// Checks that every process has the same parameter names and shapes (CommunicationError
    /// otherwise), then copies rank 0's parameters and buffers to every process.
    DataParallel(Communicator comm, const nn::Module<T>& module, const DataParallelOptions& options = {});
    DataParallel(Communicator comm, nn::NamedTensors<T> parameters, nn::NamedTensors<T> buffers = {},
                 const DataParallelOptions& options = {});

    /// Every parameter's gradient becomes the sum over the processes of `weight` times its
    /// gradient there (a parameter without one counts as zeros). With each process's loss its
    /// share of the global loss (sum over its rows / global rows), weight 1 gives the global
    /// batch's gradient; with each loss the mean over its own rows, weight rows / global_rows
    /// does.
    void reduce_gradients(double weight = 1.0);
    /// Copies `root`'s parameters and buffers to every process (BatchNorm's running
    /// statistics drift apart between replicas; PyTorch broadcasts them before each forward).
    void broadcast_parameters(int root = 0);
    void broadcast_buffers(int root = 0);
    /// Throws CommunicationError on every process, naming the first parameter that differs,
    /// unless all replicas hold the same bits.
    void check_replicas() const;

    const Communicator& communicator() const { return comm_; }
    const CommunicationStats& stats() const { return stats_; }
    void reset_stats() { stats_ = {}; }

private:
    Communicator comm_;
    nn::NamedTensors<T> parameters_, buffers_;
    DataParallelOptions options_;
    CommunicationStats stats_;
    std::vector<T> bucket_;
};

extern template class DataParallel<float>;
extern template class DataParallel<double>;

/// optim::save_checkpoint by rank 0 alone (atomically, as always), after check_replicas; every
/// process returns once the file is complete, or every process throws (IoError) when rank 0
/// could not write it. The file loads into a single-process run with optim::load_checkpoint.
template <class T>
void save_checkpoint(const Communicator& comm, const nn::Module<T>& module, const optim::Optimizer<T>& optimizer,
                     const std::string& path);

}  // namespace xtgrad::dist
