"""Microseconds per small op call through nabla's Python package beside torch's eager mode:
the add of two 4-element tensors and a 64x64 matmul. Prints the numbers (no claims: run it on
a quiet machine). Usage: python3 bench/python_overhead.py (nabla importable: make test-python
installs it into build/python; PYTHONPATH=build/python)."""
import timeit

import numpy as np

import nabla


def per_call_us(fn, n):
    best = min(timeit.repeat(fn, number=n, repeat=5))
    return best / n * 1e6


a4 = nabla.tensor(np.ones(4, np.float32))
b4 = nabla.tensor(np.ones(4, np.float32))
m = nabla.tensor(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
print(f"nabla  add 4:       {per_call_us(lambda: a4 + b4, 20000):8.2f} us")
print(f"nabla  matmul 64^2: {per_call_us(lambda: m @ m, 2000):8.2f} us")
try:
    import torch
except ImportError:
    print("torch not installed: no comparison")
else:
    ta4, tb4 = torch.ones(4), torch.ones(4)
    tm = torch.from_numpy(m.numpy().copy())
    print(f"torch  add 4:       {per_call_us(lambda: ta4 + tb4, 20000):8.2f} us")
    print(f"torch  matmul 64^2: {per_call_us(lambda: tm @ tm, 2000):8.2f} us")
