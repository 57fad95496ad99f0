#!/bin/sh
# bench/callgrind.sh — instructions per repetition of bench_steps's workloads, counted by
# callgrind (repeatable whatever the machine's load): each workload runs at N1 and N2
# repetitions and the difference of the totals is divided by N2 - N1, so setup, warm-up and
# process start cancel out.
#
#     make build/bench/bench_steps && sh bench/callgrind.sh [BIN] [WORKLOAD...]
#
# BIN defaults to build/bench/bench_steps (point it at another build for before/after pairs).
# Valgrind hides AVX-512, so these are the AVX2 kernel set's counts.
BIN=${1:-${BUILD:-build}/bench/bench_steps}
[ $# -gt 0 ] && shift
WORKLOADS=${*:-xor mlp-sgd mlp-adam adam-235k cnn-sgd}
count() { # workload n -> total instructions
    f=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$f" "$BIN" "$1" "$2" >/dev/null 2>&1 ||
        { echo "bench_steps $1 $2 failed under callgrind" >&2; rm -f "$f"; exit 1; }
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f"
    rm -f "$f"
}
for w in $WORKLOADS; do
    case $w in
        xor|xor-step) n1=100; n2=1100 ;;
        cnn-sgd) n1=1; n2=3 ;;
        *) n1=2; n2=12 ;;
    esac
    a=$(count "$w" $n1) || exit 1
    b=$(count "$w" $n2) || exit 1
    echo "$w $a $b $n1 $n2" | awk '{ printf "%-10s %14.0f instructions per repetition\n", $1, ($3 - $2) / ($5 - $4) }'
done
