#!/usr/bin/env bash
# Installs the built xtgrad into a temporary prefix, then configures, builds and runs a
# separate project that finds it with find_package(xtgrad): with no components, and asking for
# optim alone where MPI cannot be found (a consumer that does not use dist must not need MPI).
# Where dist was built, asking for it without MPI must fail, naming MPI.
# Usage: install_consumer.sh <build dir> <source dir>
set -euo pipefail
build="$1"
source="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"

consume() {  # <name> <cmake arguments...>: configure, build and run the consumer
    local dir="$work/$1"
    shift
    cmake -S "$source/tests/project/consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$work/prefix" "$@" > "$dir.log" 2>&1 ||
        { cat "$dir.log"; return 1; }
    cmake --build "$dir" >> "$dir.log" 2>&1 || { cat "$dir.log"; return 1; }
    "$dir/consumer"
}

consume default
echo "find_package(xtgrad) from the install tree: ok"
no_mpi=(-DCMAKE_MODULE_PATH="$source/tests/project/no_mpi")
consume default_without_mpi "${no_mpi[@]}"
echo "find_package(xtgrad) without MPI: ok"
consume optim_without_mpi -DXTGRAD_COMPONENTS=optim "${no_mpi[@]}"
echo "find_package(xtgrad COMPONENTS optim) without MPI: ok"
if ls "$work"/prefix/lib*/cmake/xtgrad/xtgrad-dist-targets.cmake > /dev/null 2>&1; then
    if consume dist_without_mpi -DXTGRAD_COMPONENTS=dist "${no_mpi[@]}" > /dev/null 2>&1; then
        echo "find_package(xtgrad COMPONENTS dist) succeeded where MPI cannot be found"
        exit 1
    fi
    grep -q "Could NOT find MPI" "$work/dist_without_mpi.log" || { cat "$work/dist_without_mpi.log"; exit 1; }
    echo "find_package(xtgrad COMPONENTS dist) without MPI fails, naming MPI: ok"
fi
