#!/usr/bin/env bash
# Ranks that stop meeting in their collectives end the job within seconds of the collective
# timeout, with a message naming the collective a rank waits in; never a hang (issue 25).
# Usage: check_hanging_rank.sh <mpiexec> <dist_hanging_rank>
set -uo pipefail
mpiexec="$1"
program="$2"
status=0
check() {  # mode, a collective the message must name
    local mode="$1" collective="$2"
    local start output code milliseconds
    start=$(date +%s%N)
    output=$(timeout 90 "$mpiexec" -np 2 "$program" "$mode" 2 2>&1)
    code=$?
    milliseconds=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "$mode: exit status $code after $milliseconds ms"
    if [[ $code -eq 124 ]]; then echo "FAIL ($mode): the job hung (killed after 90 s)"; status=1; return; fi
    if [[ $code -eq 0 ]]; then echo "FAIL ($mode): exit status 0"; status=1; fi
    if ! grep -qE "has waited [0-9]+ s in $collective \(since [0-9:]+\), longer than the collective timeout of 2 s" <<<"$output"; then
        echo "FAIL ($mode): no message naming $collective:"; echo "$output"; status=1
    fi
    if (( milliseconds > 30000 )); then echo "FAIL ($mode): took $milliseconds ms"; status=1; fi
}
check stall all_reduce
check mismatch "(barrier|all_reduce)"
check early "(all_reduce|MPI_Finalize)"
exit $status
