#!/usr/bin/env bash
# Configures and builds xtgrad in ./build (Release). Extra arguments go to cmake.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release "$@" > "$root/build-configure.log" 2>&1 ||
    { cat "$root/build-configure.log"; exit 1; }
cmake --build "$root/build" -j "$(nproc)"
