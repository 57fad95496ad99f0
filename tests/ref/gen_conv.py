"""Writes tests/ref/conv.txt: PyTorch references for convolution, pooling, batch
normalisation and dropout, read by tests/test_conv.c.

Each case `name` holds its configuration `name_cfg` (integers, see below), its inputs, a
fixed upstream gradient `name_g`, the output `name_y` and the gradients from y.backward(g):
    conv (conv2d, conv1d, conv_transpose2d): name_x, name_w, [name_b], name_dx, name_dw,
        [name_db]; cfg = sh sw pt pb pl pr dh dw groups oph opw same has_bias
        (1-D cases use the w entries)
    pool (max_pool2d, avg_pool2d): name_x, name_dx;
        cfg = kh kw sh sw pt pb pl pr dh dw exclude_pad
    batch_norm: name_x, name_w, name_b, name_rm, name_rv (running statistics before), then
        name_dx, name_dw, name_db and name_rm1, name_rv1 (after the forward);
        cfg = training momentum eps
    dropout: drop_x and drop_y = F.dropout(drop_x, p) (its kept elements show the scale);
        drop_cfg = p
Inputs are float32 from a seeded NumPy generator, so the file is the same on every run with
the same PyTorch. Max-pool inputs are distinct values (PyTorch and nabla both give the
gradient to the first maximum, but ties are tested in C only).

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/ref/gen_conv.py
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

rng = np.random.default_rng(5150)


def t(*shape, lo=-1.0, hi=1.0, grad=True):
    a = rng.uniform(lo, hi, size=shape).astype(np.float32)
    return torch.tensor(a, requires_grad=grad)


def distinct(*shape):
    n = int(np.prod(shape))
    a = (rng.permutation(n).astype(np.float32) * 0.125 - 2.0).reshape(shape)
    return torch.tensor(a, requires_grad=True)


fw = FixtureWriter("tests/ref/conv.txt",
                   "written by tests/ref/gen_conv.py (PyTorch %s); do not edit" % torch.__version__)


def finish(name, y, named_inputs):
    g = torch.tensor(rng.uniform(-1.0, 1.0, size=tuple(y.shape)).astype(np.float32))
    y.backward(g)
    fw.add(name + "_g", g)
    fw.add(name + "_y", y.detach())
    for nm, x in named_inputs:
        fw.add(f"{name}_d{nm}", x.grad)


def conv_case(name, kind, xs, ws, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1,
              outpad=(0, 0), same=False, bias=True):
    x, w = t(*xs), t(*ws)
    b = t(ws[1] * groups if kind == "t" else ws[0]) if bias else None
    ins = [("x", x), ("w", w)] + ([("b", b)] if bias else [])
    for nm, v in ins:
        fw.add(f"{name}_{nm}", v.detach())
    if kind == "2d":
        if same:
            y = F.conv2d(x, w, b, stride=1, padding="same", dilation=dil, groups=groups)
        else:
            xp = F.pad(x, (pad[2], pad[3], pad[0], pad[1]))
            y = F.conv2d(xp, w, b, stride=stride, dilation=dil, groups=groups)
    elif kind == "1d":
        if same:
            y = F.conv1d(x, w, b, stride=1, padding="same", dilation=dil[1], groups=groups)
        else:
            xp = F.pad(x, (pad[2], pad[3]))
            y = F.conv1d(xp, w, b, stride=stride[1], dilation=dil[1], groups=groups)
    else:  # transposed: symmetric padding only in PyTorch
        assert pad[0] == pad[1] and pad[2] == pad[3]
        y = F.conv_transpose2d(x, w, b, stride=stride, padding=(pad[0], pad[2]),
                               output_padding=outpad, groups=groups, dilation=dil)
    fw.add(name + "_cfg", np.array([stride[0], stride[1], pad[0], pad[1], pad[2], pad[3], dil[0],
                                    dil[1], groups, outpad[0], outpad[1], int(same), int(bias)],
                                   dtype=np.float32))
    finish(name, y, ins)


# conv2d
conv_case("c2a", "2d", (2, 3, 6, 5), (4, 3, 3, 3))
conv_case("c2b", "2d", (1, 4, 7, 8), (6, 2, 3, 2), stride=(2, 1), pad=(1, 1, 2, 2), dil=(1, 2),
          groups=2)
conv_case("c2c", "2d", (1, 3, 6, 6), (3, 1, 3, 3), pad=(1, 1, 1, 1), groups=3)       # depthwise
conv_case("c2d", "2d", (2, 2, 5, 6), (3, 2, 4, 3), same=True, dil=(1, 2))             # same, even k
conv_case("c2e", "2d", (1, 3, 9, 8), (4, 3, 5, 5), stride=(2, 2), pad=(2, 2, 2, 2))
conv_case("c2f", "2d", (2, 6, 4, 3), (4, 3, 1, 1), groups=2, bias=False)              # 1x1 grouped
conv_case("c2g", "2d", (2, 1, 8, 7), (6, 1, 5, 5))                                  # C = 1
# conv1d (settings in the w entries)
conv_case("c1a", "1d", (2, 3, 11), (4, 3, 3), stride=(1, 2), pad=(0, 0, 1, 1), dil=(1, 2))
conv_case("c1b", "1d", (2, 6, 9), (6, 2, 4), groups=3, same=True)
# conv_transpose2d
conv_case("cta", "t", (1, 4, 3, 4), (4, 3, 3, 3), stride=(2, 2), pad=(1, 1, 1, 1),
          outpad=(1, 1), groups=2)
conv_case("ctb", "t", (1, 3, 4, 3), (3, 2, 2, 3), stride=(1, 2), pad=(0, 0, 1, 1), dil=(2, 1),
          outpad=(1, 1))
conv_case("ctc", "t", (1, 2, 5, 5), (2, 3, 4, 4), bias=False)


def pool_case(name, kind, xs, k, s, pad=(0, 0, 0, 0), dil=(1, 1), exclude=False):
    assert pad[0] == pad[1] and pad[2] == pad[3]
    x = distinct(*xs) if kind == "max" else t(*xs)
    fw.add(name + "_x", x.detach())
    if kind == "max":
        y = F.max_pool2d(x, k, s, padding=(pad[0], pad[2]), dilation=dil)
    else:
        y = F.avg_pool2d(x, k, s, padding=(pad[0], pad[2]), count_include_pad=not exclude)
    fw.add(name + "_cfg", np.array([k[0], k[1], s[0], s[1], pad[0], pad[1], pad[2], pad[3],
                                    dil[0], dil[1], int(exclude)], dtype=np.float32))
    finish(name, y, [("x", x)])


pool_case("mpa", "max", (2, 2, 6, 6), (2, 2), (2, 2))
pool_case("mpb", "max", (1, 2, 7, 9), (3, 3), (2, 2), pad=(1, 1, 1, 1))
pool_case("mpc", "max", (1, 2, 9, 8), (3, 2), (2, 1), pad=(1, 1, 0, 0), dil=(1, 2))
pool_case("apa", "avg", (2, 2, 6, 6), (2, 2), (2, 2))
pool_case("apb", "avg", (1, 2, 7, 7), (3, 3), (2, 2), pad=(1, 1, 1, 1))
pool_case("apc", "avg", (1, 2, 7, 7), (3, 3), (2, 2), pad=(1, 1, 1, 1), exclude=True)
pool_case("apd", "avg", (1, 2, 6, 7), (3, 2), (1, 2), pad=(1, 1, 1, 1))


def bn_case(name, xs, training, momentum=0.1, eps=1e-5):
    C = xs[1]
    x = t(*xs, lo=-2.0, hi=3.0)
    w, b = t(C, lo=0.5, hi=1.5), t(C)
    rm, rv = t(C, lo=-0.5, hi=0.5, grad=False), t(C, lo=0.5, hi=2.0, grad=False)
    for nm, v in (("x", x), ("w", w), ("b", b), ("rm", rm), ("rv", rv)):
        fw.add(f"{name}_{nm}", v.detach())
    rm1, rv1 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm1, rv1, w, b, training=training, momentum=momentum, eps=eps)
    fw.add(name + "_rm1", rm1)
    fw.add(name + "_rv1", rv1)
    fw.add(name + "_cfg", np.array([int(training), momentum, eps], dtype=np.float32))
    finish(name, y, [("x", x), ("w", w), ("b", b)])


bn_case("bn2t", (4, 3, 3, 2), True)
bn_case("bn2e", (4, 3, 3, 2), False)
bn_case("bn1t", (6, 5), True, momentum=0.3, eps=1e-3)
bn_case("bn1e", (6, 5), False, eps=1e-3)

# dropout: torch's mask differs from nabla's; its kept elements show the scale 1/(1 - p)
torch.manual_seed(7)
dx = t(64, grad=False)
fw.add("drop_x", dx)
fw.add("drop_y", F.dropout(dx, 0.3, training=True))
fw.add("drop_cfg", np.array([0.3], dtype=np.float32))
fw.write()
