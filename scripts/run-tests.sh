#!/usr/bin/env bash
# Installs what is missing (OpenMPI included: the dist tests run under mpirun), builds, and
# runs every test; then runs the loaders' fuzz regressions and the error-path tests again
# under AddressSanitizer and UBSan, and the threaded replays under ThreadSanitizer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh" --mpi
"$root/scripts/build.sh"
# The sanitizer builds start beside the release tests, at the lowest priority: they take the
# time the tests leave a core idle (a last long test, MPI ranks waiting) and yield it back
# otherwise. Not beside the release build: two builds at once (four compilers on two cores)
# took 936 s against 827 s one after the other. In a process group of their own, so that a
# failing test stops them; their output is printed after the tests.
log="$root/build-sanitizers.log"
setsid -w nice -n 19 "$root/scripts/sanitize-tests.sh" build > "$log" 2>&1 &
builds=$!
stop_builds() { kill -- "-$builds" 2> /dev/null || true; }
trap stop_builds EXIT
(cd "$root/build" && ctest --output-on-failure -j "$(nproc)")
build_status=0
wait "$builds" || build_status=$?
trap - EXIT
cat "$log"
(( build_status == 0 )) || exit "$build_status"
"$root/scripts/sanitize-tests.sh" test
