#!/usr/bin/env bash
# A rank that throws makes every rank exit, non-zero, within seconds, with a message that
# names the rank and the error; never a hang.
# Usage: check_failing_rank.sh <mpiexec> <dist_failing_rank>
set -uo pipefail
mpiexec="$1"
program="$2"
status=0
for mode in escape run unwind; do
    for failing in 0 1; do
        start=$(date +%s%N)
        output=$(timeout 60 "$mpiexec" -np 2 "$program" "$failing" "$mode" 2>&1)
        code=$?
        milliseconds=$(( ($(date +%s%N) - start) / 1000000 ))
        if [[ $code -eq 124 ]]; then
            echo "FAIL ($mode, rank $failing throws): the job hung (killed after 60 s)"; status=1; continue
        fi
        if [[ $code -eq 0 ]]; then
            echo "FAIL ($mode, rank $failing throws): exit status 0"; status=1
        fi
        if ! grep -q "rank $failing of 2 failed" <<<"$output"; then
            echo "FAIL ($mode, rank $failing throws): no message naming rank $failing:"; echo "$output"; status=1
        fi
        if [[ $mode != unwind ]] && ! grep -q "loss is not finite" <<<"$output"; then
            echo "FAIL ($mode, rank $failing throws): the exception's message is missing:"; echo "$output"; status=1
        fi
        if (( milliseconds > 20000 )); then
            echo "FAIL ($mode, rank $failing throws): took $milliseconds ms"; status=1
        fi
        echo "$mode, rank $failing throws: exit status $code after $milliseconds ms"
    done
done
exit $status
