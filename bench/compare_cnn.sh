#!/bin/sh
# bench/compare_cnn.sh — nabla's CNN training speed side by side with PyTorch's, interleaved
# (torch 1 thread, nabla 1 thread, torch 2 threads, nabla 2 threads, ROUNDS times) so that
# both see the same load on a shared machine; prints every run and then the medians.
#
#     make build/bench/bench_cnn && sh bench/compare_cnn.sh [ROUNDS]
#
# PyTorch runs with OMP_WAIT_POLICY=passive (see bench/torch/cnn.py).
ROUNDS=${1:-5}
PY=${PYTHON:-/usr/bin/python3}
BIN=${BUILD:-build}/bench/bench_cnn
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for t in 1 2; do
        OMP_WAIT_POLICY=passive "$PY" bench/torch/cnn.py --threads "$t" --steps 20 --repeats 3 |
            tee -a "$OUT"
        "$BIN" --threads "$t" --steps 20 --repeats 3 | tee -a "$OUT"
    done
    i=$((i + 1))
done
echo "== medians over $ROUNDS rounds (samples/s)"
for who in torch nabla; do
    for t in 1 2; do
        grep "^$who" "$OUT" | grep "threads $t:" | sed 's/.*: \([0-9]*\) samples\/s.*/\1/' |
            sort -n | awk -v w="$who" -v t="$t" '{v[NR]=$1} END {
                m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
                printf "%-6s %d thread(s): %6.0f\n", w, t, m }'
    done
done
