#!/usr/bin/python3
"""The PyTorch twin of bench/bench_seq.c: per-op timings of the sequence ops at the sizes of
the char-LSTM (embedding 100 -> 64, LSTM/GRU/RNN 64 -> 256, loss over 100 classes; batch 32,
64 steps) and the char-GPT (embedding 100 -> 128, layer norm and RMS norm over 128, causal
attention with 4 heads of 32, with and without dropout 0.1; batch 32, context 64), forward
alone and forward + backward, best of R repetitions in milliseconds, in bench_seq's line
format.

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/seq_ops.py --threads 1 [--reps R]

torch 1.13 has neither F.scaled_dot_product_attention nor RMSNorm: attention is the formula
softmax(q kᵀ / sqrt(d) + causal mask) v (with F.dropout on the weights), which is what
nn.MultiheadAttention computes inside; RMS norm is x rsqrt(mean(x²) + eps) w. The recurrent
layers are nn.LSTM / nn.GRU / nn.RNN (one layer, batch_first), which run PyTorch's fused CPU
kernels. Run with OMP_WAIT_POLICY=passive at 2 threads (see bench/torch/mlp.py)."""
import argparse
import math
import time

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import torch
import torch.nn.functional as F


def time_op(name, cfg, fwd, params, reps, threads):
    best_f = best_fb = float("inf")
    seed = None
    for r in range(reps + 3):
        for p in params:
            p.grad = None
        t0 = time.perf_counter()
        y = fwd()
        t1 = time.perf_counter()
        if seed is None:
            seed = torch.randn(y.shape)
        t2 = time.perf_counter()
        y.backward(seed)
        t3 = time.perf_counter()
        if r < 3:
            continue
        best_f = min(best_f, t1 - t0)
        best_fb = min(best_fb, (t1 - t0) + (t3 - t2))
    print(f"torch seq threads {threads}: {name:<16} {cfg:<34} fwd {best_f * 1e3:8.3f} ms  "
          f"fwd+bwd {best_fb * 1e3:8.3f} ms", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    B, T, V, E, H, C, NH = 32, 64, 100, 64, 256, 128, 4
    th, reps = a.threads, a.reps

    def want(n):
        return a.only is None or a.only == n

    def param(*shape, std=1.0):
        return (torch.randn(*shape) * std).requires_grad_()

    ids = torch.randint(0, V, (B, T))
    if want("embedding"):
        W = param(V, E)
        time_op("embedding", "V=100 D=64 ids [32,64]", lambda: F.embedding(ids, W), [W], reps, th)
    for name, cls, extra in [("lstm", torch.nn.LSTM, {}), ("gru", torch.nn.GRU, {}),
                             ("rnn_tanh", torch.nn.RNN, {"nonlinearity": "tanh"})]:
        if not want(name):
            continue
        m = cls(E, H, batch_first=True, **extra)
        x = param(B, T, E)
        time_op(name, "I=64 H=256 x [32,64,64]", lambda: m(x)[0], [x] + list(m.parameters()),
                reps, th)
    if want("cross_entropy"):
        lg = param(B, T, V, std=2.0)
        tg = torch.randint(0, V, (B, T))
        time_op("cross_entropy", "logits [32,64,100]",
                lambda: F.cross_entropy(lg.reshape(-1, V), tg.reshape(-1)), [lg], reps, th)
    if want("embedding"):
        W = param(V, C)
        time_op("embedding", "V=100 D=128 ids [32,64]", lambda: F.embedding(ids, W), [W], reps,
                th)
    if want("layer_norm"):
        x, w, b = param(B, T, C), param(C), param(C)
        time_op("layer_norm", "x [32,64,128]", lambda: F.layer_norm(x, (C,), w, b, 1e-5),
                [x, w, b], reps, th)
    if want("rms_norm"):
        x, w = param(B, T, C), param(C)
        time_op("rms_norm", "x [32,64,128]",
                lambda: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w, [x, w], reps,
                th)
    q, k, v = (param(B, NH, T, C // NH) for _ in range(3))
    causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)

    def attention(p):
        s = q @ k.transpose(-1, -2) / math.sqrt(C // NH) + causal
        w = torch.softmax(s, dim=-1)
        if p > 0:
            w = F.dropout(w, p, training=True)
        return w @ v

    if want("attention"):
        time_op("attention", "causal q,k,v [32,4,64,32]", lambda: attention(0.0), [q, k, v],
                reps, th)
    if want("attention_drop"):
        time_op("attention_drop", "causal p=0.1 q,k,v [32,4,64,32]", lambda: attention(0.1),
                [q, k, v], reps, th)


if __name__ == "__main__":
    main()
