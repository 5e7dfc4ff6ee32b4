#!/usr/bin/env bash
# Fuzzes one target with libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer: a
# loader (npz, csv, optimizer_state), the layers and the DataLoader built from fuzzed
# geometry and options (layers), or the linear algebra on fuzzed matrices (linalg).
# Usage: scripts/fuzz.sh npz|csv|optimizer_state|layers|linalg [seconds, default 600] [more libFuzzer flags]
# It builds the clang fuzz build in ./build-fuzz, starts from the target's seed corpus and
# regressions, grows a working corpus in build-fuzz/corpus/<name>, and writes any finding
# (crash, leak, undefined behaviour, an allocation over 64 MiB, an input slower than 10 s)
# to build-fuzz/findings/<name>/. Once a finding is fixed, copy it into the target's
# regressions folder: the tests then replay it with every build (ctest -R fuzz).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:?usage: scripts/fuzz.sh npz|csv|optimizer_state|layers|linalg [seconds] [libFuzzer flags]}"
seconds="${2:-600}"
shift $(($# >= 2 ? 2 : 1))
case "$name" in
    npz | csv | layers) component=nn ;;
    optimizer_state) component=optim ;;
    linalg) component=autodiff ;;
    *) echo "fuzz.sh: unknown target '$name' (npz, csv, optimizer_state, layers, linalg)" >&2; exit 2 ;;
esac
"$root/scripts/install-deps.sh" --fuzz
build="$root/build-fuzz"
CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXTGRAD_FUZZ=ON \
    -DXTGRAD_BUILD_TESTS=OFF -DXTGRAD_BUILD_EXAMPLES=OFF > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target "fuzz_$name"
fuzz="$root/$component/fuzz"
mkdir -p "$build/corpus/$name" "$build/findings/$name"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/$component/fuzz_$name" -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=64 \
    -dict="$fuzz/$name.dict" -artifact_prefix="$build/findings/$name/" -print_final_stats=1 "$@" \
    "$build/corpus/$name" "$fuzz/corpus/$name" "$fuzz/regressions/$name"
