#!/usr/bin/env bash
# Each linear-algebra op under address-space limits from none to a few times its matrix above
# what the process holds: a right answer or MemoryError, never a wrong answer, a crash or a
# hang. At least one run must end in LAPACK's own allocation failure, so that the path of
# issue 25 is the one exercised.
# Usage: check_lapack_memory.sh <lapack_under_memory_limit>
set -uo pipefail
program="$1"
# one OpenBLAS thread: a worker thread's exit after a failed allocation took seconds per run
export OPENBLAS_NUM_THREADS=1
status=0 lapack_failures=0 answers=0
for op in solve inverse cholesky slogdet; do
    for extra in 0 1500 3000 6000 60000; do
        output=$(timeout 60 "$program" "$op" 600 "$extra" 2>&1)
        code=$?
        case $code in
            0) answers=$((answers + 1)) ;;
            3) grep -q "LAPACK could not allocate" <<<"$output" && lapack_failures=$((lapack_failures + 1)) ;;
            124) echo "FAIL: $op with $extra KiB to spare hung"; status=1 ;;
            *) echo "FAIL: $op with $extra KiB to spare: exit status $code: $output"; status=1 ;;
        esac
        echo "$op, $extra KiB to spare: exit status $code ${output:0:160}"
    done
done
if ((lapack_failures == 0)); then echo "FAIL: no run reached LAPACK's own allocation failure"; status=1; fi
if ((answers == 0)); then echo "FAIL: no run had memory enough for an answer"; status=1; fi
exit $status
