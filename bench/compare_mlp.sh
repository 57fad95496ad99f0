#!/bin/sh
# bench/compare_mlp.sh — nabla's MLP training speed side by side with PyTorch's, interleaved
# (torch then nabla, at 1 and 2 threads, ROUNDS times) so both see the same load on a shared
# machine; prints every run and then the medians.
#
#     make build/bench/bench_mlp && sh bench/compare_mlp.sh [ROUNDS] [BATCH] [OPT]
#
# PyTorch runs with OMP_WAIT_POLICY=passive (see bench/torch/mlp.py).
ROUNDS=${1:-5}
BATCH=${2:-64}
OPT=${3:-sgd}
PY=${PYTHON:-/usr/bin/python3}
BIN=${BUILD:-build}/bench/bench_mlp
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for t in 1 2; do
        OMP_WAIT_POLICY=passive "$PY" bench/torch/mlp.py --threads "$t" --batch "$BATCH" \
            --opt "$OPT" --steps 100 | tee -a "$OUT"
        "$BIN" --threads "$t" --batch "$BATCH" --opt "$OPT" --steps 100 | tee -a "$OUT"
    done
    i=$((i + 1))
done
echo "== medians over $ROUNDS rounds (samples/s), batch $BATCH, $OPT"
for who in torch nabla; do
    for t in 1 2; do
        grep "^$who" "$OUT" | grep "threads $t:" | sed 's/.*: \([0-9]*\) samples\/s.*/\1/' |
            sort -n | awk -v w="$who" -v t="$t" '{v[NR]=$1} END {
                m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
                printf "%-6s %d thread(s): %6.0f\n", w, t, m }'
    done
done
