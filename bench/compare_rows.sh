# bench/compare_rows.sh — the workloads of `make compare` (bench/compare.sh sources this file).
# One call of `row` per workload and thread count; to add a workload, add a row:
#
#   row NAME FLOPS  PEER-LABEL 'PEER-COMMAND' PEER-VALUE  'NABLA-COMMAND' NABLA-VALUE
#
# A command runs under sh from the repository root ($B is the build directory, $PY Debian's
# python3 with torch). A VALUE says which number a run gives and whether more is better:
#   rate:REGEX  the number just before REGEX on the last line that has it (more is better);
#               rate:REGEX@WORD looks only at lines that also contain WORD
#   time:REGEX  the same, in seconds (less is better)
#   wall        the command's whole-process wall time in seconds (less is better)
#   wall/N      the same divided by N, for a command that runs a process N times in a row
#               (so the shell and the timer's own processes are paid once, not per run)
#   wall-rate   the last line's number divided by the wall time (a rate: samples per second)
#   gemm:T:C    bench_gemm's GFLOP/s at T threads, column C (4: nabla, 6: OpenBLAS; 5 is nabla's CPU µs per call)
#   sum-ms      the sum of the "fwd+bwd X ms" numbers (bench_seq, seq_ops.py), in seconds
# Both sides of a row must give the same kind (a rate, or seconds); the ratio is always
# "how many times faster nabla is" (above 1: nabla wins). FLOPS, when known, is the work per
# unit of the value (per sample for a rate, per run for seconds), for the percentage of the
# FMA peak measured by bench_peak; 0 when unknown. Rows whose tool is missing are skipped.
#
# FLOPs per training sample: 2 per multiply-add of the products (bias adds, activations and
# pooling are not counted). A layer costs its forward product, the weight gradient's product
# of the same size, and the input gradient's, except the first layer: its input needs no
# gradient and nabla, like PyTorch, skips that product. (The count used to charge it too:
# 1.41 MFLOP for the MLP, 40% high; with a peak that read a quarter of the truth, the MLP
# showed 312% of it.)
#   MLP 784-256-128-10:  2·(2·784·256 + 3·256·128 + 3·128·10) = 1 007 104
#   CNN (bench_cnn.c):   conv 1→32 5x5 24x24 out: 2·2·(32·25·576)    =  1 843 200
#                        conv 32→64 5x5 8x8 out:  3·2·(64·800·64)    = 19 660 800
#                        dense 1024→128, 128→10:  3·2·(131 072 + 1 280) =   794 112
#                                                                  total 22 298 112
#
# FLOPs per token of the language models (bench_lm.c; every layer's input gradient is needed,
# as the embedding's table takes a gradient; attention counted for the causal half, (T+1)/2
# keys per query on average, 2 products forward and 4 backward):
#   char-LSTM (embedding 64, LSTM 256, dense 256):
#     2·3·(64·1024 + 256·1024 + 256·256)                              =  2 359 296
#   char-GPT (width d 128, 2 blocks, context T 64, tied head over 256):
#     2·3·(2·12·d² + 256·d) + 2·2·6·d·(T+1)/2                        =  2 655 744
#   char-GPT large (d 256, 4 blocks, T 128): 2·3·(4·12·d² + 256·d) + 2·4·6·d·(T+1)/2
#                                                                    = 20 060 160

MLP_FLOPS=1007104
CNN_FLOPS=22298112
TORCH="OMP_WAIT_POLICY=passive $PY"
FM=/usr/share/datasets/fashion-mnist

# the CLI, whole process (load, train, test, write the model) vs PyTorch's timed training
# epochs on the same files (bench/torch/fmnist.py: the same model, optimizer and batches; the
# CNN row's peer was bench/torch/cnn.py's steps on one random batch in memory until
# 2026-12-07, a step rate with no data, which is bench cnn-sgd-1t's row)
if [ -r "$FM/train-images-idx3-ubyte.gz" ]; then
    row cli-mlp-adam-1t 0 torch \
        "$TORCH bench/torch/fmnist.py --epochs 5 --threads 1 --data $FM" \
        'rate:samples/s; peak' \
        "$B/nabla train examples/specs/fmnist_mlp.spec --epochs 5 --opt adam --batch 64 --threads 1 --quiet --out \$TMPD/m.safetensors && echo \"\$((5 * 60000))\"" \
        'wall-rate'
    row cli-cnn-sgd-1t 0 torch \
        "$TORCH bench/torch/fmnist.py --model cnn --opt sgd --epochs 1 --threads 1 --data $FM" \
        'rate:samples/s; peak' \
        "$B/nabla train examples/specs/fmnist_cnn.spec --epochs 1 --opt sgd --batch 64 --threads 1 --quiet --out \$TMPD/c.safetensors && echo 60000" \
        'wall-rate'
fi
for t in 1 2; do
    row "mlp-sgd-${t}t" $MLP_FLOPS torch \
        "$TORCH bench/torch/mlp.py --threads $t --batch 64 --opt sgd --steps 200" 'rate:samples/s' \
        "$B/bench/bench_mlp --threads $t --batch 64 --opt sgd --steps 200" 'rate:samples/s'
    row "mlp-adam-${t}t" $MLP_FLOPS torch \
        "$TORCH bench/torch/mlp.py --threads $t --batch 64 --opt adam --steps 200" 'rate:samples/s' \
        "$B/bench/bench_mlp --threads $t --batch 64 --opt adam --steps 200" 'rate:samples/s'
    row "cnn-sgd-${t}t" $CNN_FLOPS torch \
        "$TORCH bench/torch/cnn.py --threads $t --batch 64 --opt sgd --steps 40 --repeats 3" \
        'rate:samples/s' \
        "$B/bench/bench_cnn --threads $t --batch 64 --steps 40 --repeats 3" 'rate:samples/s'
done
# SGEMM against OpenBLAS (bench_gemm runs both, interleaved, in one process; skipped rows
# print no OpenBLAS column when it is not installed). FLOPS 1e9: the value is in GFLOP/s.
for t in 1 2; do
    row "sgemm-512-${t}t" 1000000000 openblas "$B/bench/bench_gemm 512 512 512" "gemm:$t:6" \
        "$B/bench/bench_gemm 512 512 512" "gemm:$t:4"
done
# XOR 2-4-1, 10 000 epochs: numpy's training loop vs the example as a whole process (each of
# a hundred processes started, run and ended in turn; the total over a hundred). The row's
# timer, `sh -c` and two `date` processes, costs 8-13 ms of its own on a slow-to-fork virtual
# machine: over ten runs that was a millisecond a run, a quarter of the reading; over a
# hundred it is a tenth of one.
row xor-10k 0 numpy "$PY bench/xor_numpy.py --runs 3" 'time:s for 10000' \
    "i=0; while [ \$i -lt 100 ]; do $B/examples/xor || exit 1; i=\$((i + 1)); done" 'wall/100'
# the sequence models' ops (forward + backward per op, summed by bench_seq's own lines)
if [ -x "$B/bench/bench_seq" ]; then
    row seq-ops-1t 0 torch "$TORCH bench/torch/seq_ops.py --threads 1 --reps 10" 'sum-ms' \
        "$B/bench/bench_seq --threads 1 --reps 10" 'sum-ms'
fi
# the language models' whole training steps (bench_lm and its twin bench/torch/lm.py)
if [ -x "$B/bench/bench_lm" ]; then
    for t in 1 2; do
        for m in char_lstm char_gpt; do
            f=2359296
            [ $m = char_gpt ] && f=2655744
            row "lm-$m-${t}t" $f torch "$TORCH bench/torch/lm.py --threads $t --steps 20" \
                "rate:tokens/s@$m" "$B/bench/bench_lm --threads $t --steps 20" "rate:tokens/s@$m"
        done
    done
    for t in 1 2; do # the larger GPT (20 MFLOP a token): 10 steps of 2 048 tokens a side
        row "lm-char_gpt_large-${t}t" 20060160 torch \
            "$TORCH bench/torch/lm.py --threads $t --steps 10 --large --only char_gpt_large" \
            "rate:tokens/s@char_gpt_large" \
            "$B/bench/bench_lm --threads $t --steps 10 --large --only char_gpt_large" \
            "rate:tokens/s@char_gpt_large"
    done
fi
