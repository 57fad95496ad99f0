#!/bin/sh
# bench/compare_lm.sh — training steps of the language models, PyTorch's and nabla's,
# interleaved (torch then nabla, at 1 and 2 threads, ROUNDS times) so both see the same load
# on a shared machine; prints every run and then, per model and thread count, the median
# tokens per second and the ratio nabla / torch (above 1: nabla is faster).
#
#     make build/bench/bench_lm && sh bench/compare_lm.sh [ROUNDS] [STEPS] [--large]
#
# PyTorch runs with OMP_WAIT_POLICY=passive (see bench/torch/mlp.py).
ROUNDS=${1:-3}
STEPS=${2:-20}
LARGE=${3:-}
PY=${PYTHON:-/usr/bin/python3}
BIN=${BUILD:-build}/bench/bench_lm
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for t in 1 2; do
        OMP_WAIT_POLICY=passive "$PY" bench/torch/lm.py --threads "$t" --steps "$STEPS" $LARGE |
            tee -a "$OUT" || exit 1
        "$BIN" --threads "$t" --steps "$STEPS" $LARGE | tee -a "$OUT" || exit 1
    done
    i=$((i + 1))
done
echo "== medians over $ROUNDS rounds (tokens/s)"
# "who lm threads T: name params P  step S ms  R tokens/s"
awk '{
    who = $1; t = $4; sub(":", "", t); key = $5 "|" t; keys[key] = 1
    n[who, key]++; v[who, key, n[who, key]] = $(NF - 1)
}
function median(who, key,    m, i, j, a, x) {
    m = n[who, key]
    for (i = 1; i <= m; i++) a[i] = v[who, key, i]
    for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
    for (key in keys) {
        split(key, p, "|")
        tt = median("torch", key); nn = median("nabla", key)
        printf "%-16s threads %s: torch %9.0f  nabla %9.0f  nabla/torch %5.2f\n", p[1], p[2], tt, nn, (tt > 0 ? nn / tt : 0)
    }
}' "$OUT" | sort
