#!/usr/bin/env bash
# The project's mutation run: each mutant of scripts/mutants.txt (one realistic one-line
# mistake) is applied in turn to a scratch copy of the working tree, rebuilt incrementally, and
# the whole suite run on it. A mutant is caught when a test fails (or hangs past the timeout),
# survives when every test passes, and is stillborn when it does not compile (not counted).
# Prints each outcome, the score and the survivors. Not part of the README's test command: it
# takes about two minutes per mutant on 2 cores.
#
#   scripts/mutate.sh             every mutant
#   scripts/mutate.sh REGEX       the mutants whose name matches REGEX (grep -E)
#
# The scratch build (./build-mutate) is Release with shared libraries (a mutant relinks one
# library, not every test) and libstdc++'s assertions (an index past a std::vector's end, the
# kind of mistake a sanitizer finds, aborts instead of passing unseen).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list="$root/scripts/mutants.txt"
work="$root/build-mutate"
pattern="${1:-}"
src="$work/src" build="$work/build" logs="$work/logs"
jobs="$(nproc)"

# The scratch copy: the tracked files as they are now. Only files whose content differs are
# copied, and they get the current time: a second run rebuilds what changed, and no object
# built from an older copy looks newer than its source (times kept from the checkout could).
mkdir -p "$src" "$logs"
(cd "$root" && git ls-files -z) | while IFS= read -r -d '' f; do
    [[ -e "$root/$f" ]] || continue
    if ! cmp -s "$root/$f" "$src/$f"; then
        mkdir -p "$src/$(dirname "$f")"
        cp "$root/$f" "$src/$f"
    fi
done
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DCMAKE_LINK_DEPENDS_NO_SHARED=ON \
    -DCMAKE_CXX_FLAGS="-D_GLIBCXX_ASSERTIONS" > "$logs/configure.log" 2>&1 || { cat "$logs/configure.log"; exit 1; }

build_and_test() {  # $1: log name; returns 0 when the build and every test pass, 1 on a failing test, 2 when the build fails
    cmake --build "$build" -j "$jobs" > "$logs/$1.build.log" 2>&1 || return 2
    # the suite in two passes, the lecture's full-size run last: most mutants fail a unit test,
    # and ctest starts its costliest tests first, so in one pass every mutant waited for the lecture
    (cd "$build" && { ctest -j "$jobs" --timeout 300 --stop-on-failure -LE lecture &&
        ctest -j "$jobs" --timeout 300 --stop-on-failure -L lecture; } > "$logs/$1.test.log" 2>&1) || return 1
}

echo "mutate: building the unmutated copy and running the suite on it"
if ! build_and_test baseline; then
    echo "mutate: the unmutated suite fails; see $logs/baseline.*.log" >&2
    exit 1
fi

# Mutants: blocks of "mutant:", "file:", "from:", "to:" lines (and optionally "equivalent:").
names=() files=() froms=() tos=() equivalents=()
while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
        "mutant: "*) names+=("${line#mutant: }"); equivalents+=("") ;;
        "file: "*) files+=("${line#file: }") ;;
        "from: "*) froms+=("${line#from: }") ;;
        "to: "*) tos+=("${line#to: }") ;;
        "equivalent: "*) equivalents[${#equivalents[@]} - 1]="${line#equivalent: }" ;;
    esac
done < "$list"
if (( ${#names[@]} != ${#files[@]} || ${#names[@]} != ${#froms[@]} || ${#names[@]} != ${#tos[@]} )); then
    echo "mutate: $list: every mutant needs a file, a from and a to line" >&2
    exit 1
fi

caught=0 survived=0 stillborn=0 equivalent=0 survivors=()
for i in "${!names[@]}"; do
    name="${names[$i]}" file="$src/${files[$i]}"
    [[ -z "$pattern" ]] || grep -qE -- "$pattern" <<<"$name" || continue
    [[ -f "$file" ]] || { echo "mutate: no file ${files[$i]} (mutant '$name')" >&2; exit 1; }
    cp "$file" "$work/original"
    # the replaced text must occur exactly once: a list gone stale is an error, not a survivor
    if ! FROM="${froms[$i]}" TO="${tos[$i]}" perl -0pi -e \
        'my $n = () = /\Q$ENV{FROM}\E/g; die "occurs $n times\n" if $n != 1; s/\Q$ENV{FROM}\E/$ENV{TO}/' "$file"; then
        echo "mutate: ${files[$i]}: the text of mutant '$name' must occur exactly once" >&2
        cp "$work/original" "$file"
        exit 1
    fi
    line_number="$(grep -nF -- "${tos[$i]}" "$file" | head -1 | cut -d: -f1)"
    start=$SECONDS
    set +e
    build_and_test "mutant-$((i + 1))"
    outcome=$?
    set -e
    cp "$work/original" "$file"  # a new time: the next build compiles the original again
    where="${files[$i]}:$line_number"
    case $outcome in
        0)
            if [[ -n "${equivalents[$i]}" ]]; then
                equivalent=$((equivalent + 1))
                verdict="equivalent (${equivalents[$i]})"
            else
                survived=$((survived + 1))
                survivors+=("$((i + 1)). $name ($where)")
                verdict="SURVIVED"
            fi
            ;;
        1)
            caught=$((caught + 1))
            failed="$(grep -oE '[0-9]+ - [A-Za-z0-9_]+ \((Failed|Timeout|Subprocess aborted|SEGFAULT|Child aborted|Exception)\)' \
                "$logs/mutant-$((i + 1)).test.log" | head -3 | sed -E 's/^[0-9]+ - //' | paste -sd, - || true)"
            verdict="caught by ${failed:-a failing test}"
            ;;
        2)
            stillborn=$((stillborn + 1))
            verdict="stillborn (does not compile; see $logs/mutant-$((i + 1)).build.log)"
            ;;
    esac
    printf '%2d. %-72s %4ds  %s\n' "$((i + 1))" "$name" "$((SECONDS - start))" "$verdict"
done
cmake --build "$build" -j "$jobs" > "$logs/restore.build.log" 2>&1 || true  # leave the copy unmutated

counted=$((caught + survived))
echo
if ((counted > 0)); then
    echo "mutate: $caught of $counted mutants caught ($((100 * caught / counted)) %);" \
        "$equivalent argued equivalent, $stillborn stillborn"
fi
if ((survived > 0)); then
    echo "survivors:"
    printf '  %s\n' "${survivors[@]}"
    exit 1
fi
