#!/usr/bin/env bash
# Each model ported from PyTorch (examples/ports/NAME.cpp beside NAME.py) is at most 1.3 times
# the PyTorch version's length, counted without blank lines and comments (// or #, whole lines).
# Prints the counts docs/ports.md quotes. Usage: check_port_lengths.sh <source dir>
set -euo pipefail
ports="$1/examples/ports"
code_lines() { grep -cvE "^[[:space:]]*(\$|$2)" "$1"; }  # lines that are neither blank nor a comment
status=0
for cpp in "$ports"/*.cpp; do
    name="$(basename "$cpp" .cpp)"
    c=$(code_lines "$cpp" "//")
    p=$(code_lines "$ports/$name.py" "#")
    ratio=$(awk -v c="$c" -v p="$p" 'BEGIN { printf "%.2f", c / p }')
    verdict=ok
    awk -v c="$c" -v p="$p" 'BEGIN { exit !(c > 1.3 * p) }' && { verdict="TOO LONG (more than 1.3x)"; status=1; }
    echo "$name: C++ $c lines, PyTorch $p lines, ratio $ratio: $verdict"
done
exit $status
