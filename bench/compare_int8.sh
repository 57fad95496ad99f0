#!/bin/sh
# bench/compare_int8.sh — nabla's int8 inference beside its f32 inference and beside PyTorch's
# float and int8 (torch.ao.quantization), interleaved (PyTorch then nabla, for each model and
# batch, ROUNDS times) so that both see the same load on a shared machine; prints every run,
# then the medians of the CPU-time rates and the ratios the int8 targets are stated in:
# nabla int8 / nabla f32, and nabla int8 / PyTorch int8.
#
#     make build/bench/bench_int8 && sh bench/compare_int8.sh [ROUNDS] [THREADS]
#
# Report the load average beside the numbers (uptime): on a busy machine the wall-time rates
# mean little; the CPU-time rates (what the medians use) are steadier.
ROUNDS=${1:-5}
THREADS=${2:-1}
PY=${PYTHON:-/usr/bin/python3}
BIN=${BUILD:-build}/bench/bench_int8
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for m in mlp cnn; do
        for b in 1 64; do
            OMP_WAIT_POLICY=passive "$PY" bench/torch/int8.py --model "$m" --batch "$b" \
                --threads "$THREADS" --repeats 3 | tee -a "$OUT"
            "$BIN" --model "$m" --batch "$b" --threads "$THREADS" --repeats 3 | tee -a "$OUT"
        done
    done
    i=$((i + 1))
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== medians over $ROUNDS rounds, samples per CPU-second, $THREADS thread(s)"
med() { sort -n | awk '{v[NR]=$1} END {print NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
printf '%-4s %-5s %11s %11s %11s %11s %10s %12s\n' model batch "torch f32" "torch int8" \
    "nabla f32" "nabla int8" "int8/f32" "int8/torch8"
for m in mlp cnn; do
    for b in 1 64; do
        tf=$(grep "^torch .* $m batch $b " "$OUT" | sed 's/.*f32 [0-9]* samples\/s (cpu \([0-9]*\)).*/\1/' | med)
        tq=$(grep "^torch .* $m batch $b " "$OUT" | sed 's/.*int8 [0-9]* samples\/s (cpu \([0-9]*\)).*/\1/' | med)
        nf=$(grep "^nabla .* $m batch $b " "$OUT" | sed 's/.*f32 [0-9]* samples\/s (cpu \([0-9]*\)).*/\1/' | med)
        nq=$(grep "^nabla .* $m batch $b " "$OUT" | sed 's/.*int8 [0-9]* samples\/s (cpu \([0-9]*\)).*/\1/' | med)
        awk -v m="$m" -v b="$b" -v tf="$tf" -v tq="$tq" -v nf="$nf" -v nq="$nq" 'BEGIN {
            printf "%-4s %-5s %11.0f %11.0f %11.0f %11.0f %10.2f %12.2f\n", m, b, tf, tq, nf, nq,
                   (nf > 0 ? nq / nf : 0), (tq > 0 ? nq / tq : 0) }'
    done
done
