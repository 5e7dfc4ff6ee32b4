#!/usr/bin/env bash
# The data-parallel benchmark: xtgrad's step over 1 and 2 MPI ranks (bench_dist, with the
# alpha-beta model of ring all-reduce), then PyTorch's DistributedDataParallel (gloo) on the
# same workload, and the two side by side.
# Usage: bench/dist.sh [--quick]    (after scripts/install-deps.sh --bench --mpi and a build
# with -DXTGRAD_BUILD_BENCH=ON in build-bench)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
program="$root/build-bench/bench/bench_dist"
export OMP_WAIT_POLICY=PASSIVE
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for ranks in 1 2; do
    mpirun --oversubscribe -np "$ranks" "$program" "$@" | tee -a "$results"
    echo
done
if /usr/bin/python3 -c "import torch.distributed as d; assert d.is_available() and d.is_gloo_available()" 2>/dev/null; then
    /usr/bin/python3 "$root/bench/ddp_torch.py" "$@" | tee -a "$results"
else
    echo "PyTorch with torch.distributed (gloo) not found: install python3-torch for the comparison"
fi
echo
echo "samples/s, side by side:"
awk '/^RESULT/ {
        split($3, r, "="); split($4, s, "=");
        v[$2, r[2]] = s[2]; ranks[r[2]] = 1
     }
     END {
        for (k = 1; k <= 2; ++k) if (k in ranks) {
            line = sprintf("  %d rank(s): xtgrad %8.0f", k, v["xtgrad", k]);
            if (("torch", k) in v) line = line sprintf("   PyTorch DDP %8.0f   xtgrad / PyTorch %5.2fx", v["torch", k], v["xtgrad", k] / v["torch", k]);
            print line
        }
     }' "$results"
