#!/usr/bin/env bash
# Installs what is missing, builds, and runs every example; fails if any claim does not hold.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
status=0
for example in "$root"/build/examples/example_*; do
    [[ -x "$example" ]] || continue
    echo "== $(basename "$example")"
    "$example" || status=1
done
exit $status
