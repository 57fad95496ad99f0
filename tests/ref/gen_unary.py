"""Writes tests/ref/unary.txt: PyTorch's values and derivatives of every elementwise op of
include/nabla/ops.def, read by tests/test_ops_list.c.

The op list is read from ops.def itself (its NB_UNARY and NB_ACT lines, with the number of
parameters and the parameter values the gradient check uses), so a new op there without a
PyTorch formula below stops this script with a message saying so. For each op `name`:
`name_x` the inputs (a grid over twice the check domain, then NaN, +-inf, +-0, tiny and huge
values), `name_y` = f(x) and `name_dx` = f'(x) from autograd (the gradient of sum f(x)), all
float32.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/ref/gen_unary.py
"""
import os
import re
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OPS_DEF = os.path.join(HERE, "..", "..", "include", "nabla", "ops.def")

# PyTorch's formula of each op, given x and the parameters (a0, a1).
TORCH = {
    "neg": lambda x, a0, a1: -x,
    "add_scalar": lambda x, a0, a1: x + a0,
    "mul_scalar": lambda x, a0, a1: x * a0,
    "div_scalar": lambda x, a0, a1: x / a0,
    "rsub_scalar": lambda x, a0, a1: a0 - x,
    "rdiv_scalar": lambda x, a0, a1: a0 / x,
    "pow_scalar": lambda x, a0, a1: torch.pow(x, a0),
    "exp": lambda x, a0, a1: torch.exp(x),
    "log": lambda x, a0, a1: torch.log(x),
    "sqrt": lambda x, a0, a1: torch.sqrt(x),
    "abs": lambda x, a0, a1: torch.abs(x),
    "clamp": lambda x, a0, a1: torch.clamp(x, a0, a1),
    "sigmoid": lambda x, a0, a1: torch.sigmoid(x),
    "tanh": lambda x, a0, a1: torch.tanh(x),
    "relu": lambda x, a0, a1: torch.relu(x),
    "leaky_relu": lambda x, a0, a1: F.leaky_relu(x, a0),
    "elu": lambda x, a0, a1: F.elu(x, a0),
    "gelu": lambda x, a0, a1: F.gelu(x),
    "gelu_tanh": lambda x, a0, a1: F.gelu(x, approximate="tanh"),
    "silu": lambda x, a0, a1: F.silu(x),
    "softplus": lambda x, a0, a1: F.softplus(x, beta=a0, threshold=a1),
    "mish": lambda x, a0, a1: F.mish(x),
}

LINE = re.compile(r"^NB_(UNARY|ACT)\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\d)\s*,\s*\(([^)]*)\)")


def ops():
    """(name, nparams, lo, hi, a0, a1) of every NB_UNARY / NB_ACT line, in order."""
    text = open(OPS_DEF).read()
    text = re.sub(r",\s*\n\s*", ", ", text)  # lines continued after a comma
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        check = [float(v.strip().rstrip("f")) for v in m.group(5).split(",")]
        lo, hi, _nk, _k0, _k1, a0, a1 = check
        out.append((m.group(3), int(m.group(4)), lo, hi, a0, a1))
    return out


def main():
    fw = FixtureWriter(os.path.join(HERE, "unary.txt"), __doc__.strip().splitlines()[0])
    specials = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-30, -1e-30,
                30.0, -30.0, 100.0, -100.0]
    missing = []
    listed = ops()
    for name, _np, lo, hi, a0, a1 in listed:
        if name not in TORCH:
            missing.append(name)
            continue
        mid, half = 0.5 * (lo + hi), hi - lo
        grid = np.linspace(mid - half, mid + half, 61, dtype=np.float64)
        # step 2^-8 away from grid points that sit on a kink (0, clamp's bounds)
        grid = np.round(grid * 256.0) / 256.0 + 1.0 / 512.0
        xs = np.concatenate([grid, np.array(specials)]).astype(np.float32)
        x = torch.tensor(xs, requires_grad=True)
        y = TORCH[name](x, float(np.float32(a0)), float(np.float32(a1)))
        y.sum().backward()
        fw.add(name + "_x", xs)
        fw.add(name + "_y", y)
        fw.add(name + "_dx", x.grad)
    if missing:
        sys.exit("gen_unary.py: no PyTorch formula for %s (add it to TORCH)" % ", ".join(missing))
    fw.write()
    print("wrote %d ops to tests/ref/unary.txt" % len(listed))


if __name__ == "__main__":
    main()
