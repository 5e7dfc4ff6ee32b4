#!/usr/bin/env bash
# The layering check fails on a tree that breaks the layering: autodiff including an nn
# header, nn including optim's umbrella header, optim linking to dist, and a file reaching into
# another component's sources. Usage: check_layering_catches.sh <check_layering.sh>
set -euo pipefail
check="$1"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{autodiff,nn,optim}/src
printf '#include "xtgrad/autodiff/ops.hpp"\n' > "$tree/nn/src/fine.cpp"
if ! bash "$check" "$tree" > /dev/null; then
    echo "a clean tree was reported as broken"
    exit 1
fi
printf '#include "xtgrad/nn/module.hpp"\n' > "$tree/autodiff/src/a.cpp"
printf '#include <xtgrad/optim.hpp>\n' > "$tree/nn/src/b.cpp"
printf 'target_link_libraries(xtgrad_optim PUBLIC xtgrad::dist)\n' > "$tree/optim/CMakeLists.txt"
printf '#include "../../autodiff/src/tape.hpp"\n' > "$tree/nn/src/c.cpp"
if out=$(bash "$check" "$tree"); then
    echo "the check passed a tree that breaks the layering"
    exit 1
fi
for expected in "autodiff/src/a.cpp:1:" "nn/src/b.cpp:1:" "optim/CMakeLists.txt:1:" "nn/src/c.cpp:1:"; do
    if ! grep -qF "$expected" <<< "$out"; then
        echo "not reported: $expected"
        echo "$out"
        exit 1
    fi
done
echo "the layering check reports every violation: ok"
