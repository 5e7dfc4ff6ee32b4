#!/usr/bin/env bash
# Installs what is missing (gnuplot for the plots included), builds, and runs the lecture
# examples: every claim is checked; the exit status is non-zero if one does not hold.
# Plots and the CSV behind them go to ./lecture-output (or the folder given as $1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh" --examples
"$root/scripts/build.sh"
"$root/build/examples/lecture" --output "${1:-$root/lecture-output}"
