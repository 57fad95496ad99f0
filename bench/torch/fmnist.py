#!/usr/bin/python3
"""The PyTorch twin of examples/fmnist_mlp.c: the Fashion-MNIST MLP 784-256-128-10 (ReLU),
softmax cross-entropy, Adam lr 1e-3, batches of 64 shuffled each epoch, pixels / 255, read
from the same IDX files. Reports the test accuracy after each epoch, the training speed in
samples/s (the training loops only, as nabla's example reports it) and the peak RSS.

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/fmnist_mlp.py --epochs 5 --threads 1

Use Debian's python3 (it has torch). At 2 threads set OMP_WAIT_POLICY=passive: otherwise
PyTorch's OpenMP workers spin and fight the main thread on a 2-core machine."""
import argparse
import gzip
import os
import resource
import struct
import time

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import models
import numpy as np
import torch


def read_idx(path):
    """An IDX file (gzip or plain) as a numpy array: big-endian header, then the data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(d, images, labels):
    x = read_idx(os.path.join(d, images)).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(os.path.join(d, labels)).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--opt", choices=["adam", "sgd"], default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    xtr, ytr = load(a.data, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    xte, yte = load(a.data, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if a.model == "mlp":
        model = models.fmnist_mlp()
    else:
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
        model = models.fmnist_cnn()
    if a.opt == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = xtr.shape[0]
    train_s = 0.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            x, y = xtr[idx], ytr[idx]
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        dt = time.perf_counter() - t0
        train_s += dt
        model.eval()
        with torch.no_grad():
            acc = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, xte.shape[0], 1000)) / xte.shape[0]
        print(f"epoch {epoch}/{a.epochs} - {dt:.1f}s - {seen / dt:.0f} samples/s - "
              f"loss {total / seen:.4f} - test accuracy {acc:.4f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch {torch.__version__}, {a.model} {a.opt}, {a.threads} thread(s): test accuracy {100 * acc:.2f}% "
          f"after {a.epochs} epochs; {n * a.epochs / train_s:.0f} samples/s; "
          f"peak RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()
