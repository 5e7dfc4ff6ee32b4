#!/usr/bin/env bash
# The components' dependencies point one way: autodiff <- nn <- optim (<- dist). A file of a
# component may include the public headers of the components before it in that list, never
# those after it (xtgrad/<component>/... or the umbrella xtgrad/<component>.hpp), and never
# another component's sources. Prints every offending line; exits 1 if there is one.
# Usage: check_layering.sh <source root>
set -euo pipefail
root="$1"
order=(autodiff nn optim dist)
status=0
for ((i = 0; i < ${#order[@]}; ++i)); do
    component="${order[$i]}"
    [[ -d "$root/$component" ]] || continue
    for ((j = 0; j < ${#order[@]}; ++j)); do
        [[ $j -eq $i ]] && continue
        other="${order[$j]}"
        if ((j > i)); then
            pattern="#[[:space:]]*include[[:space:]]*[<\"](xtgrad/$other[/.]|.*\.\./$other/)"
            why="$component may not depend on $other, which is built on it"
        else
            pattern="#[[:space:]]*include[[:space:]]*[<\"].*\.\./$other/src/"
            why="$component may use $other's public headers only"
        fi
        while IFS= read -r hit; do
            echo "layering: ${hit#"$root/"}: $why"
            status=1
        done < <(grep -rnE "$pattern" "$root/$component" --include='*.hpp' --include='*.cpp' --include='*.h' || true)
    done
    # CMake: a component links only to the components before it.
    for ((j = i + 1; j < ${#order[@]}; ++j)); do
        other="${order[$j]}"
        while IFS= read -r hit; do
            echo "layering: ${hit#"$root/"}: $component may not link to $other"
            status=1
        done < <(grep -rnE "target_link_libraries\(.*(xtgrad_$other|xtgrad::$other)\b" "$root/$component" \
                     --include=CMakeLists.txt || true)
    done
done
if [[ $status -eq 0 ]]; then
    echo "layering: ok (autodiff <- nn <- optim <- dist)"
fi
exit $status
