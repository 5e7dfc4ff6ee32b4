#!/usr/bin/env bash
# Installs what is missing (OpenMPI included: the dist tests run under mpirun), builds, and
# runs every test; then runs the loaders' fuzz regressions and the error-path tests again
# under AddressSanitizer and UBSan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh" --mpi
# The sanitizer builds do not need the release build: built beside it, they take the core its
# link steps and its longest files leave idle (the whole command: 17 -> ? minutes on 2 cores).
# Their output goes to a log, printed if they fail; the tests run after both, one build at a time.
"$root/scripts/sanitize-tests.sh" build > "$root/build-sanitize.log" 2>&1 &
sanitizer_build=$!
"$root/scripts/build.sh" || { wait "$sanitizer_build" || true; exit 1; }
if ! wait "$sanitizer_build"; then
    tail -n 100 "$root/build-sanitize.log"
    echo "run-tests: the sanitizer builds failed (the whole log: build-sanitize.log)" >&2
    exit 1
fi
(cd "$root/build" && ctest --output-on-failure -j "$(nproc)")
"$root/scripts/sanitize-tests.sh" test
