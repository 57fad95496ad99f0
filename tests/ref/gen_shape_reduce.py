"""Writes tests/ref/shape_reduce.txt: PyTorch references for compositions of shape ops (views
of views included) and reductions, read by tests/test_shape_reduce.c.

For each case `cN`: inputs `cN_x...`, the fixed upstream gradient `cN_g`, the output `cN_y`
and the gradient of every input `cN_dx...` (from y.backward(g)). Inputs are float32 drawn
from a seeded generator; the max case uses distinct values (PyTorch's amax splits the
gradient between ties, nabla gives it to the first maximum, so ties are tested in C only).

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/ref/gen_shape_reduce.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

rng = np.random.default_rng(20260)


def leaf(*shape):
    a = rng.uniform(-2.0, 2.0, size=shape).astype(np.float32)
    return torch.tensor(a, requires_grad=True)


def distinct(*shape):
    n = int(np.prod(shape))
    a = (rng.permutation(n).astype(np.float32) * 0.25 - 3.0).reshape(shape)
    return torch.tensor(a, requires_grad=True)


def case(fw, name, xs, f):
    y = f(*xs)
    g = torch.tensor(rng.uniform(-1.0, 1.0, size=tuple(y.shape)).astype(np.float32))
    y.backward(g)
    for i, x in enumerate(xs):
        fw.add(f"{name}_x{i}", x.detach())
    fw.add(f"{name}_g", g)
    fw.add(f"{name}_y", y.detach())
    for i, x in enumerate(xs):
        fw.add(f"{name}_dx{i}", x.grad)


fw = FixtureWriter("tests/ref/shape_reduce.txt",
                   "written by tests/ref/gen_shape_reduce.py (PyTorch %s)" % torch.__version__)

# c1: slice with step 2 of a permuted tensor, then a keepdims sum of the last axis
case(fw, "c1", [leaf(3, 4, 5)],
     lambda x: x.permute(2, 0, 1)[1:5:2].sum(dim=2, keepdim=True))
# c2: reshape of a transpose (a copy), then the mean of axis 1
case(fw, "c2", [leaf(4, 6)], lambda x: x.t().reshape(3, -1).mean(dim=1))
# c3: max over axes {0, 2} with keepdims, distinct values
case(fw, "c3", [distinct(4, 3, 5)], lambda x: torch.amax(x, dim=(0, 2), keepdim=True))
# c4: concat of a matrix, a transposed matrix and a column along the last axis, summed by column
case(fw, "c4", [leaf(2, 3), leaf(4, 2), leaf(2, 1)],
     lambda a, b, c: torch.cat([a, b.t(), c], dim=-1).sum(dim=0))
# c5: negative bounds and step 3 on a reshaped vector, then the mean of everything
case(fw, "c5", [leaf(24)], lambda x: x.reshape(4, 6)[:, -5:-1:3].mean())
# c6: a 4-D permute, then a sum over two non-adjacent axes
case(fw, "c6", [leaf(2, 3, 4, 5)], lambda x: x.permute(3, 1, 0, 2).sum(dim=(1, 3)))
# c7: a slice of a transpose of a slice, max over the last axis (no keepdims)
case(fw, "c7", [distinct(5, 6)],
     lambda x: torch.amax(x[1:4].t()[::2], dim=-1))

# argmax with ties: the first maximum wins (checked against NumPy, which documents it)
a = np.array([[1, 3, 3, 0, 2], [5, 5, 1, 5, 0], [-1, -2, -1, -3, -1]], dtype=np.float32)
ta = torch.tensor(a)
last = torch.argmax(ta, dim=-1)
first = torch.argmax(ta, dim=0, keepdim=True)
assert np.array_equal(last.numpy(), np.argmax(a, axis=-1))
assert np.array_equal(first.numpy()[0], np.argmax(a, axis=0))
fw.add("am_x", a)
fw.add("am_last", last.numpy().astype(np.float32))
fw.add("am_first_keep", first.numpy().astype(np.float32))
fw.write()
