#!/usr/bin/env bash
# Installs, with apt, the Debian packages xtgrad needs that are missing; does nothing when
# all are present.
# Usage: scripts/install-deps.sh [--examples] [--bench] [--fuzz] [--mpi]
#   --examples adds gnuplot-nox (plots of the lecture examples), --bench adds libtorch-dev and
#   python3-torch (PyTorch's DistributedDataParallel beside bench_dist),
#   --fuzz adds clang and its sanitizer and libFuzzer runtimes (scripts/fuzz.sh),
#   --mpi adds OpenMPI (libopenmpi-dev, mpirun) for xtgrad::dist and its tests.
set -euo pipefail

packages=(g++ make cmake libxtensor-dev xtl-dev libxsimd-dev libxtensor-blas-dev libopenblas-dev
          liblapacke-dev libboost-test-dev libfmt-dev zlib1g-dev)
for option in "$@"; do
    case "$option" in
        --examples) packages+=(gnuplot-nox) ;;
        --bench) packages+=(libtorch-dev python3-torch) ;;
        --fuzz) packages+=(clang libclang-rt-14-dev) ;;
        --mpi) packages+=(libopenmpi-dev openmpi-bin) ;;
        *) echo "install-deps.sh: unknown option $option" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
