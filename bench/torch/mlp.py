#!/usr/bin/python3
"""The PyTorch twin of bench/bench_mlp.c: training steps of the MLP 784-256-128-10 (ReLU)
with softmax cross-entropy on random data, reporting samples/second.

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/mlp.py --threads 2 --batch 64 --opt sgd

Run PyTorch with OMP_WAIT_POLICY=passive at 2 threads: with the default, its OpenMP workers
spin and fight the main thread on a 2-core machine (about 8x slower), which is no fair
comparison."""
import argparse
import statistics
import time

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import models
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--opt", choices=["sgd", "adam"], default="sgd")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = models.fmnist_mlp()
    if a.opt == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(a.batch, 784)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = time.perf_counter() - t0
        rates.append(a.steps * a.batch / dt)
    print(f"torch {torch.__version__} mlp 784-256-128-10 batch {a.batch} {a.opt} "
          f"threads {a.threads}: {statistics.median(rates):.0f} samples/s (median of {a.repeats})")


if __name__ == "__main__":
    main()
