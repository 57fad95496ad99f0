#!/usr/bin/python3
"""The PyTorch twin of bench/bench_lm.c: whole training steps of the language models of
examples/specs (char_lstm, char_gpt and, with --large, char_gpt_large), tokens per second,
in bench_lm's line format.

The torch modules are built from the very spec files by tests/ref/torch_from_spec.py (the
modules whose state_dict nabla's model files match): nn.Embedding, nn.LSTM(batch_first),
nn.Linear; nn.MultiheadAttention inside the pre-LN TransformerBlock, nn.LayerNorm, the head
tied to the embedding. A step is what nabla's nb_train_step does: zero_grad, forward in
training mode (dropout on), F.cross_entropy over every position, backward,
clip_grad_norm_ (char_gpt: 1.0), the optimizer's step — Adam(lr 2e-3) for char_lstm;
AdamW(lr 1e-3, betas (0.9, 0.95)) with two parameter groups, weight decay 0.1 on the tensors
of rank >= 2 and 0 on the others, for the GPTs. Random windows of bytes; 3 warm-up steps;
the median of S.

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/lm.py --threads 1 [--steps S]

Run from the repository root, with OMP_WAIT_POLICY=passive at 2 threads (see
bench/torch/mlp.py)."""
import argparse
import os
import statistics
import sys
import time

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from torch_from_spec import build_from_spec  # noqa: E402


def recipe(name):
    """(batch, context, optimizer factory, clip) of the spec — as its training lines say."""
    if name == "char_lstm":
        return 32, 64, lambda ps: torch.optim.Adam(ps, lr=2e-3), 0.0
    decay = lambda ps: torch.optim.AdamW(  # noqa: E731
        [{"params": [p for p in ps if p.dim() >= 2], "weight_decay": 0.1},
         {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95))
    if name == "char_gpt":
        return 32, 64, decay, 1.0
    return 16, 128, decay, 1.0


def run(name, threads, steps):
    torch.manual_seed(1)
    with open(os.path.join(ROOT, "examples", "specs", name + ".spec")) as f:
        model = build_from_spec(f.read())
    B, T, make_opt, clip = recipe(name)
    params = list(model.parameters())
    opt = make_opt(params)
    model.train()
    times = []
    for i in range(steps + 3):
        x = torch.randint(0, 256, (B, T))
        y = torch.randint(0, 256, (B, T))
        t0 = time.perf_counter()
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    n = sum(p.numel() for p in params)
    print(f"torch lm threads {threads}: {name:<15} params {n:8d}  step {med * 1e3:9.2f} ms  "
          f"{B * T / med:9.0f} tokens/s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", default=None)
    ap.add_argument("--large", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = ["char_lstm", "char_gpt"] + (["char_gpt_large"] if a.large else [])
    for name in names:
        if a.only is None or a.only == name:
            run(name, a.threads, a.steps)


if __name__ == "__main__":
    main()
