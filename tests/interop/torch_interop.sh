#!/usr/bin/env bash
# A checkpoint written by xtgrad loads into the equivalent PyTorch model with load_state_dict and
# gives the same outputs, and the reverse (float64, to 1e-12). Needs python3-torch (Debian's,
# /usr/bin/python3; scripts/install-deps.sh --bench installs it); without it the script exits
# 77, which ctest reports as skipped: the layouts are checked without torch by nn_functional.
# Usage: torch_interop.sh <torch_interop executable>
set -euo pipefail
program="$1"
here="$(cd "$(dirname "$0")" && pwd)"
if ! /usr/bin/python3 -c "import torch, numpy" 2> /dev/null; then
    echo "python3-torch not installed: the round trip with PyTorch is skipped"
    exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$program" write "$work"
/usr/bin/python3 "$here/torch_interop.py" "$work"
"$program" check "$work"
