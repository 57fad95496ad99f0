#!/bin/sh
# tests/fuzz/campaign.sh BUILD_DIR SECONDS [HARNESS...] — a fuzzing campaign (make fuzz-long).
#
# Runs each libFuzzer harness (all of BUILD_DIR/fuzz/fuzz_* unless named) for SECONDS on a
# working corpus that starts from the committed seeds (tests/fuzz/corpus/<name>) and is kept
# between campaigns (BUILD_DIR/corpus-long/<name>), so a long campaign can be run in pieces.
# Each run's log goes to BUILD_DIR/campaign/<name>.log, any crash, leak, timeout or OOM input
# to BUILD_DIR/campaign/<name>-*, and the table of what was done — executions, speed,
# coverage, corpus size, findings — to BUILD_DIR/campaign/campaign.md (the form of the table
# in docs/reliability.md). Exits non-zero when any harness found something.
set -u
build=${1:?usage: campaign.sh BUILD_DIR SECONDS [HARNESS...]}
seconds=${2:?usage: campaign.sh BUILD_DIR SECONDS [HARNESS...]}
shift 2
out="$build/campaign"
mkdir -p "$out"
if [ $# -eq 0 ]; then
    set -- $(cd "$build/fuzz" && ls fuzz_* 2>/dev/null)
fi
table="$out/campaign.md"
{
    echo "| harness | seconds | executions | exec/s | coverage (edges) | corpus | peak RSS MB | findings |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
} >"$table"
status=0
for f in "$@"; do
    corpus="$build/corpus-long/$f"
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$f" ] && cp -n "tests/fuzz/corpus/$f"/* "$corpus"/ 2>/dev/null
    rm -f "$out/$f"-crash-* "$out/$f"-leak-* "$out/$f"-timeout-* "$out/$f"-oom-*
    echo "== $f: $seconds s"
    "$build/fuzz/$f" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$out/$f-" ${FUZZ_ARGS:-} "$corpus" \
        >"$out/$f.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$f.log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$f.log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$out/$f.log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$out/$f.log" | tail -n 1 | sed 's/cov: //')
    files=$(ls "$corpus" | wc -l | tr -d ' ')
    found=$(ls "$out/$f"-crash-* "$out/$f"-leak-* "$out/$f"-timeout-* "$out/$f"-oom-* 2>/dev/null | wc -l | tr -d ' ')
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        note="$found input(s) saved, exit $rc: see $out/$f.log"
        status=1
    else
        note="none"
    fi
    echo "| $f | $seconds | ${execs:-?} | ${speed:-?} | ${cov:-?} | $files | ${rss:-?} | $note |" >>"$table"
    tail -n 3 "$out/$f.log"
done
echo
cat "$table"
exit $status
