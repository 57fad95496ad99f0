#!/bin/sh
# tests/run.sh DIR — runs every test binary in DIR, sums their "N passed, M failed" lines, and
# exits non-zero if any test failed or any binary crashed.
dir=${1:-build/tests}
total_pass=0
total_fail=0
bad=""
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$("$t" 2>&1)
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        printf '%s\n' "$out"
        echo "CRASH $name (exit $rc, no summary line)"
        total_fail=$((total_fail + 1))
        bad="$bad $name"
        continue
    fi
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
        printf '%s\n' "$out" | grep -v '^ok '
        bad="$bad $name"
        [ "$f" -eq 0 ] && total_fail=$((total_fail + 1))
    fi
    echo "$name: $line"
done
[ -n "$bad" ] && echo "failing:$bad"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
