"""PyTorch's DistributedDataParallel (gloo) on bench_dist's workload: MLP 784-256-256-10,
ReLU, float32, SGD, cross entropy summed over each rank's rows / 256, global batch 256
split over the ranks; 1 rank with 2 threads, 2 ranks with 1 thread each. Prints the median
step and samples/s; lines beginning with RESULT are for bench/dist.sh.

Usage: python3 bench/ddp_torch.py [--quick]   (Debian's python3-torch)
"""
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

GLOBAL_BATCH = 256


def worker(rank, world, store_file, reps, out):
    torch.set_num_threads(2 if world == 1 else 1)
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 10))
    model = torch.nn.parallel.DistributedDataParallel(net)
    sgd = torch.optim.SGD(model.parameters(), lr=0.01)
    rows = GLOBAL_BATCH // world
    g = torch.Generator().manual_seed(100 + rank)
    x = torch.randn(rows, 784, generator=g)
    y = torch.randint(0, 10, (rows,), generator=g)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")

    def step():
        sgd.zero_grad()
        loss = loss_fn(model(x), y) / GLOBAL_BATCH
        loss.backward()  # DDP all-reduces (averages) the gradients in buckets during the sweep
        sgd.step()

    for _ in range(5):
        step()
    times = []
    for _ in range(reps):
        dist.barrier()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    t = torch.tensor([statistics.median(times)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if rank == 0:
        out.put(float(t))
    dist.destroy_process_group()


def main():
    reps = 10 if "--quick" in sys.argv else 40
    print(f"PyTorch {torch.__version__} DistributedDataParallel (gloo), MLP 784-256-256-10 float32 SGD step, "
          f"global batch {GLOBAL_BATCH}")
    for world in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            queue = mp.get_context("spawn").SimpleQueue()
            mp.spawn(worker, args=(world, os.path.join(tmp, "store"), reps, queue), nprocs=world, join=True)
            step = queue.get()
        print(f"  {world} rank(s) x {2 if world == 1 else 1} thread(s): step {step * 1e3:.3f} ms   "
              f"{GLOBAL_BATCH / step:.0f} samples/s")
        print(f"RESULT torch ranks={world} samples_per_s={GLOBAL_BATCH / step:.1f}")


if __name__ == "__main__":
    main()
