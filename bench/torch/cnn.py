#!/usr/bin/python3
"""The PyTorch twin of bench/bench_cnn.c: training steps of the Fashion-MNIST CNN of
examples/fmnist_cnn.c on random 28x28 images, reporting samples/second.

    conv 5x5 1->32, ReLU, max-pool 2, conv 5x5 32->64, ReLU, max-pool 2, flatten,
    dense 1024->128, ReLU, dense 128->10, softmax cross-entropy

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/cnn.py --threads 2 --batch 64 --opt sgd

Run PyTorch with OMP_WAIT_POLICY=passive at 2 threads: with the default, its OpenMP workers
spin and fight the main thread on a 2-core machine shared with other work, which is no fair
comparison. Prints the median of --repeats timings of --steps steps each (after a warm-up),
and the peak resident set size of the process."""
import argparse
import resource
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
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = models.fmnist_cnn()
    if a.opt == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = time.perf_counter() - t0
        rates.append(a.steps * a.batch / dt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch {torch.__version__} cnn batch {a.batch} {a.opt} threads {a.threads}: "
          f"{statistics.median(rates):.0f} samples/s (median of {a.repeats}; "
          f"min {min(rates):.0f}, max {max(rates):.0f}); peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
