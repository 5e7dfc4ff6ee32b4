#!/usr/bin/env bash
# Builds what reads files and what reports errors with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc; leaks detected too) in ./build-sanitize, and runs the
# fuzz regressions and seed corpora (loaders, layers, linear algebra), the error-path tests
# and the compiled replays (the replay plan's pointer arithmetic over blocks and operands;
# draws, index tensors and compiled training), the functional layers' window arithmetic and
# the shape ops under them, attention's masks, K-FAC's state and L-BFGS-B's model, and the
# value pool's poisoning of what it caches.
# Then the compiled replays under ThreadSanitizer, in ./build-tsan.
#
#   scripts/sanitize-tests.sh          build both, then run both
#   scripts/sanitize-tests.sh build    only build
#   scripts/sanitize-tests.sh test     only run what was built (the two runs side by side)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-all}"
[[ "$mode" == all || "$mode" == build || "$mode" == test ]] ||
    { echo "usage: $0 [build|test]" >&2; exit 2; }
build="$root/build-sanitize" tsan="$root/build-tsan"
targets=(fuzz_replay_npz fuzz_replay_csv fuzz_replay_optimizer_state fuzz_replay_layers fuzz_replay_linalg
         test_autodiff_errors test_nn_hostile_archives
         test_nn_data test_nn_checkpoint test_optim_hostile_state test_optim_stopping test_autodiff_compile
         test_autodiff_replay test_autodiff_random test_optim_compiled_training test_nn_functional
         test_autodiff_ops_layout test_nn_attention test_optim_kfac test_optim_lbfgsb_model pool_misuse_probe)

configure_asan() {
    # -O1 without -march=native: quick to compile, and the portable SSE2 code paths get checked
    # too. A unity build (six sources to a file): the libraries' files instantiate the same
    # xtensor kernels, once per file otherwise; it cut this build from 7.2 to 6.0 minutes.
    # -Wno-subobject-linkage: g++ warns of a file's own anonymous-namespace types in lambdas once
    # the file is included by the unity file rather than compiled as the main file.
    cmake -S "$root" -B "$build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=None \
        -DCMAKE_CXX_FLAGS="-O1 -g1 -Wno-subobject-linkage" -DXTGRAD_NATIVE=OFF \
        -DXTGRAD_SANITIZE=ON -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=6 \
        -DXTGRAD_TARGET_GROUP="$(IFS=';'; echo "${targets[*]}")" > "$build.configure.log" 2>&1 ||
        { cat "$build.configure.log"; return 1; }
}

test_asan() {
    (cd "$build" &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            ctest --output-on-failure -j "$(nproc)" -R 'fuzz|autodiff_errors|hostile|nn_data|nn_checkpoint|optim_stopping|autodiff_compile|autodiff_replay|autodiff_random|compiled_training|nn_functional|autodiff_ops_layout|nn_attention|optim_kfac|optim_lbfgsb_model|autodiff_pool')
}

# ThreadSanitizer (it cannot be combined with AddressSanitizer): the compiled replays split
# large fused groups between worker threads (autodiff/src/parallel.cpp); their tests run
# with 1, 2 and 3 threads and with two threads replaying at once.
# A unity build with precompiled headers, as the ASan build: 125 CPU-seconds against 184 file
# by file without them (this build used to leave the precompiled header out, to catch a source's
# missing #include; a build with -DXTGRAD_PCH=OFF is no longer part of the test command).
configure_tsan() {
    cmake -S "$root" -B "$tsan" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=None \
        -DCMAKE_CXX_FLAGS="-O1 -g1 -Wno-subobject-linkage" -DXTGRAD_NATIVE=OFF -DXTGRAD_TSAN=ON \
        -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=6 > "$tsan.configure.log" 2>&1 ||
        { cat "$tsan.configure.log"; return 1; }
}

# Both builds under one make and its job server: at most nproc compilers in all, and each
# build's idle stretches (a target waiting for its precompiled header or its library, a last
# link) filled by the other's work. One after the other took 275 + 90 s; four compilers on two
# cores (each build its own -j) are slower than two. Each build's output goes to its own log,
# printed whole after the build, so the two do not interleave.
build_both() {
    local status=0
    ASAN_DIR="$build" TSAN_DIR="$tsan" make -j "$(nproc)" -f - <<'EOF' || status=$?
all: asan tsan
asan:
	+@$(MAKE) --no-print-directory -C "$$ASAN_DIR" xtgrad_target_group > "$$ASAN_DIR.build.log" 2>&1
tsan:
	+@$(MAKE) --no-print-directory -C "$$TSAN_DIR" test_autodiff_replay > "$$TSAN_DIR.build.log" 2>&1
EOF
    echo "== AddressSanitizer and UBSan build (build-sanitize)"
    cat "$build.build.log"
    echo "== ThreadSanitizer build (build-tsan)"
    cat "$tsan.build.log"
    return "$status"
}

# The cases that start threads on purpose: ThreadSanitizer looks for races, and the rest of the
# suite (fused replays of 600,000 elements took 87 s under it) runs in the release and ASan builds.
test_tsan() {
    (cd "$tsan" && TSAN_OPTIONS=halt_on_error=1 ./tests/test_autodiff_replay \
        --run_test=a_replay_gives_the_same_bits_on_any_number_of_threads,replays_on_two_threads_at_once_give_their_own_results,a_steady_state_replay_allocates_nothing,one_compiled_function_called_from_several_threads)
}

if [[ "$mode" != test ]]; then
    # the two configure steps (single-threaded, mostly finding packages) side by side
    configure_tsan & tsan_configure=$!
    configure_asan
    wait "$tsan_configure"
    build_both
fi
if [[ "$mode" != build ]]; then
    # Side by side: the ASan run ends on one long test (the fused replays of a million elements)
    # and the ThreadSanitizer cases keep at most two threads busy between them; one after the
    # other left a core idle for most of a minute each. ThreadSanitizer's report is printed after.
    test_tsan > "$tsan.test.log" 2>&1 &
    tsan_run=$!
    asan_status=0
    test_asan || asan_status=$?
    tsan_status=0
    wait "$tsan_run" || tsan_status=$?
    echo "== ThreadSanitizer: the replays that start threads (build-tsan)"
    cat "$tsan.test.log"
    (( asan_status == 0 && tsan_status == 0 )) || exit 1
fi
