#!/bin/sh
# bench/compare_seq.sh — the sequence ops' per-op times, PyTorch's and nabla's, interleaved
# (torch then nabla, at 1 and 2 threads, ROUNDS times) so both see the same load on a shared
# machine; prints every run and then, per op, the medians of forward + backward and the ratio
# torch / nabla (above 1: nabla is faster).
#
#     make build/bench/bench_seq && sh bench/compare_seq.sh [ROUNDS] [REPS]
#
# PyTorch runs with OMP_WAIT_POLICY=passive (see bench/torch/mlp.py).
ROUNDS=${1:-3}
REPS=${2:-10}
PY=${PYTHON:-/usr/bin/python3}
BIN=${BUILD:-build}/bench/bench_seq
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for t in 1 2; do
        OMP_WAIT_POLICY=passive "$PY" bench/torch/seq_ops.py --threads "$t" --reps "$REPS" |
            tee -a "$OUT" || exit 1
        "$BIN" --threads "$t" --reps "$REPS" | tee -a "$OUT" || exit 1
    done
    i=$((i + 1))
done
echo "== medians over $ROUNDS rounds of forward + backward (ms)"
# "who seq threads T: name cfg... fwd F ms  fwd+bwd FB ms"
awk '{
    who = $1; t = $4; sub(":", "", t)
    op = $5; for (k = 6; $k != "fwd"; k++) op = op " " $k
    key = op "|" t; ops[key] = 1
    n[who, key]++; v[who, key, n[who, key]] = $(NF - 1)
}
function median(who, key,    m, i, j, a, x) {
    m = n[who, key]
    for (i = 1; i <= m; i++) a[i] = v[who, key, i]
    for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
    for (key in ops) {
        split(key, p, "|")
        tt = median("torch", key); nn = median("nabla", key)
        printf "%-52s threads %s: torch %9.3f  nabla %9.3f  torch/nabla %5.2f\n", p[1], p[2], tt, nn, (nn > 0 ? tt / nn : 0)
    }
}' "$OUT" | sort
