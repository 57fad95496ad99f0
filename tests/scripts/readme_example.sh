#!/bin/sh
# Compiles and runs every C example in README.md against the built library, so the README
# cannot drift from the API. Usage: tests/scripts/readme_example.sh [BUILD_DIR]
set -e
build=${1:-build}
libs=$(make -s print-ldlibs)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '/^```c$/{on=1; n++; next} /^```$/{on=0; next} on {print > (dir "/readme" n ".c")}' README.md
count=0
for src in "$tmp"/readme*.c; do
    [ -f "$src" ] || continue
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -Iinclude "$src" "$build/libnabla.a" $libs -o "$tmp/prog"
    "$tmp/prog" > "$tmp/out"
    grep -q '^array' "$tmp/out"
    count=$((count + 1))
done
[ "$count" -gt 0 ]
echo "README examples: $count ok"
