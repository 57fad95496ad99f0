"""The classic numpy XOR network, for timing against examples/xor.c (bench/bench_xor.c).

A 2-4-1 network of sigmoids trained on the four XOR samples by full-batch gradient descent,
learning rate 0.1, 10 000 epochs. The loss is the classic one, E = 1/2 Σ (y - out)² summed
over the batch, whose gradient at the output is (out - y); every weight AND bias is updated
(the textbook version forgets the biases). Float64, as numpy computes by default.

    python3 bench/xor_numpy.py            # trains once, prints the outputs and the time
    python3 bench/xor_numpy.py --runs 5   # median of 5 timed trainings
"""
import argparse
import time

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def train(seed, epochs=10000, lr=0.1):
    rng = np.random.default_rng(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    W1 = rng.uniform(-1, 1, size=(2, 4))
    b1 = np.zeros((1, 4))
    W2 = rng.uniform(-1, 1, size=(4, 1))
    b2 = np.zeros((1, 1))
    for _ in range(epochs):
        # forward: z = x W + b, a = sigmoid(z)
        h = sigmoid(X @ W1 + b1)
        out = sigmoid(h @ W2 + b2)
        # backward: delta = f'(z) * upstream, with sigmoid' = a (1 - a)
        d_out = (out - y) * out * (1 - out)
        d_h = (d_out @ W2.T) * h * (1 - h)
        # gradient descent on every parameter
        W2 -= lr * h.T @ d_out
        b2 -= lr * d_out.sum(axis=0, keepdims=True)
        W1 -= lr * X.T @ d_h
        b1 -= lr * d_h.sum(axis=0, keepdims=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        out = train(args.seed)
        times.append(time.perf_counter() - t0)
    print(out)
    times.sort()
    print("median %.4f s for 10000 epochs (%d runs), %.1f us/epoch" %
          (times[len(times) // 2], args.runs, times[len(times) // 2] / 10000 * 1e6))


if __name__ == "__main__":
    main()
