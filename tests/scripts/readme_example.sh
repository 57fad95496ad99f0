#!/bin/sh
# Compiles and runs the C example in README.md against the built library, so the README
# cannot drift from the API. Usage: tests/scripts/readme_example.sh [BUILD_DIR]
set -e
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```c$/{on=1; next} /^```$/{if(on){exit}} on' README.md > "$tmp/readme.c"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Iinclude "$tmp/readme.c" "$build/libnabla.a" -lm -pthread -o "$tmp/readme"
"$tmp/readme" > "$tmp/out"
grep -q '^array' "$tmp/out"
echo "README example: ok"
