"""Checks int8 model files written by nabla (nabla quantize, nb_qmodel_save) with NumPy and
PyTorch, independently of nabla's code.

    /usr/bin/python3 tests/ref/check_int8.py MODEL.int8.safetensors EXPECTED.txt [...]

(any number of MODEL EXPECTED pairs). EXPECTED is a fixture (tests/ref format) with `x`, the
normalised inputs, and `y`, nabla's outputs for them. For each file the script

  - reads it by hand (safetensors_io: the format is plain JSON + little-endian bytes) and
    checks the metadata ("nabla.quant.format_version" 1) and every tensor's dtype: I8
    weights, F32 weight scales, I32 biases, F32 scales and I32 zero points of rank 0;
  - loads every tensor into PyTorch (torch.from_numpy) and makes each weight a per-channel
    quantized tensor (torch's qint8 with the file's scales), whose dequantized values must be
    weight * weight_scale;
  - reproduces the integer inference in NumPy from the float model's spec (the layer
    sequence, torch_from_spec) and the definitions of docs/quantization.md:
        quantize     q = clamp(rne(float32(x) * float32(1 / s)) + z, 0, 127)
        product      acc = sum (q - z_in) w + bias            (int64: exact)
        requantize   q' = clamp(rne(float32(acc) * m) + z_out), m = float32(s_in s_w / s_out)
        last layer   y = float32(acc) * float32(s_in s_w)
    max pooling and ReLU on the integers, flatten in PyTorch's order;
  - and compares with y bit for bit (activations after the last layer, computed in float, to
    1e-6 relative).

Exit status 0 when everything agrees; a one-line reason and 1 otherwise; 77 (skip) without
numpy or torch."""
import os
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"{e.name} is not installed (Debian: apt install python3-numpy python3-torch); skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from torch_from_spec import sequential_from_spec  # noqa: E402

ACT_MAX = 127
F32 = np.float32


def read_fixture(path):
    out, lines = {}, [ln for ln in open(path).read().splitlines() if not ln.startswith("#")]
    for head, vals in zip(lines[0::2], lines[1::2]):
        h = head.split()
        rank = int(h[1])
        shape = [int(d) for d in h[2:2 + rank]]
        out[h[0]] = np.array([float(v) for v in vals.split()], dtype=F32).reshape(shape)
    return out


def clamp_round(t, zero, lo, hi):
    """clamp to [lo - zero, hi - zero], round half to even, add the zero point."""
    t = np.minimum(np.maximum(t, F32(lo - zero)), F32(hi - zero))
    return np.rint(t).astype(np.int64) + zero


def conv_int(x, w, stride, pad, dil):
    """x int64 [N, C, H, W] (zero point removed), w int64 [F, C, KH, KW] -> acc [N, F, OH, OW]."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    oh = (h + pad[0] + pad[1] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pad[2] + pad[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dil[0], j * dil[1]
            cols[:, :, i, j] = xp[:, :, r0:r0 + stride[0] * (oh - 1) + 1:stride[0],
                                  c0:c0 + stride[1] * (ow - 1) + 1:stride[1]]
    return np.tensordot(cols, w, axes=([1, 2, 3], [1, 2, 3])).transpose(0, 3, 1, 2)


def maxpool_int(x, k, s, pad, dil):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])), constant_values=-1)
    oh = (h + 2 * pad[0] - dil[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * pad[1] - dil[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.full((n, c, oh, ow), -1, dtype=np.int64)
    for i in range(k[0]):
        for j in range(k[1]):
            r0, c0 = i * dil[0], j * dil[1]
            out = np.maximum(out, xp[:, :, r0:r0 + s[0] * (oh - 1) + 1:s[0],
                                     c0:c0 + s[1] * (ow - 1) + 1:s[1]])
    return out


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_pads(m, h, w):
    """nabla's (top, bottom, left, right) for a torch Conv2d: "same" puts the odd one after."""
    if m.padding == "same":
        out = []
        for d, k in zip(m.dilation, m.kernel_size):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return out
    p = pair(m.padding)
    return [p[0], p[0], p[1], p[1]]


def check_dtypes(path, tensors, meta):
    """The scheme's tensors and dtypes, read by hand (safetensors_io keeps the dtype)."""
    if meta.get("nabla.quant.format_version") != "1" or meta.get("format") != "pt":
        return f"{path}: not an int8 model file of version 1 (metadata {sorted(meta)})"
    want = {"weight": np.int8, "weight_scale": np.float32, "bias": np.int32,
            "input_scale": np.float32, "input_zero_point": np.int32, "scale": np.float32,
            "zero_point": np.int32}
    for name, a in tensors.items():
        what = name.rsplit(".", 1)[1]
        if what not in want or a.dtype != want[what]:
            return f"{path}: tensor {name} has dtype {a.dtype}, expected {want.get(what)}"
        if what.endswith("scale") and what != "weight_scale" or what.endswith("zero_point"):
            if a.shape != ():
                return f"{path}: tensor {name} has shape {a.shape}, expected a scalar"
    return None


def torch_side(path, tensors):
    """Every tensor into PyTorch; every weight as a per-channel quantized tensor."""
    for name, a in tensors.items():
        t = torch.from_numpy(a.copy())
        if name.endswith(".weight"):
            prefix = name[:-len(".weight")]
            s = tensors[prefix + ".weight_scale"].astype(np.float64)
            qw = torch._make_per_channel_quantized_tensor(
                t, torch.from_numpy(s), torch.zeros(len(s), dtype=torch.int64), 0)
            deq = qw.dequantize().numpy()
            shape = (-1,) + (1,) * (a.ndim - 1)
            ref = a.astype(np.float64) * s.reshape(shape)
            if not np.allclose(deq, ref, rtol=1e-6, atol=0):
                return f"{path}: torch's per-channel dequantization of {name} disagrees"
    return None


def run_int8(spec, tensors, x):
    """The integer inference of docs/quantization.md; returns (y, exact)."""
    mods = list(sequential_from_spec(spec))
    last = max(i for i, m in enumerate(mods) if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    first = min(i for i, m in enumerate(mods) if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    s0 = tensors[f"{first}.input_scale"]
    z0 = int(tensors[f"{first}.input_zero_point"])
    q = clamp_round(x.astype(F32) * F32(1.0 / np.float64(s0)), z0, 0, ACT_MAX)
    scale, zero, y, exact = s0, z0, None, True
    for i, m in enumerate(mods):
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            p = str(i)
            w = tensors[p + ".weight"].astype(np.int64)
            ws = tensors[p + ".weight_scale"].astype(np.float64)
            bias = tensors[p + ".bias"].astype(np.int64)
            if tensors[p + ".input_scale"] != scale or int(tensors[p + ".input_zero_point"]) != zero:
                raise ValueError(f"layer {p}: its input scale is not the previous layer's output's")
            if isinstance(m, torch.nn.Conv2d):
                acc = conv_int(q - zero, w, pair(m.stride), conv_pads(m, q.shape[2], q.shape[3]),
                               pair(m.dilation))
                shape = (1, -1, 1, 1)
            else:
                acc = (q - zero) @ w.T
                shape = (1, -1)
            acc = acc + bias.reshape(shape)
            assert np.abs(acc).max(initial=0) < 2 ** 31
            if i == last:
                y = acc.astype(F32) * F32(np.float64(scale) * ws).reshape(shape)
            else:
                so, zo = tensors[p + ".scale"], int(tensors[p + ".zero_point"])
                mult = (np.float64(scale) * ws / np.float64(so)).astype(F32).reshape(shape)
                q = clamp_round(acc.astype(F32) * mult, zo, 0, ACT_MAX)
                scale, zero = so, zo
        elif isinstance(m, torch.nn.ReLU):
            if y is None:
                q = np.maximum(q, zero)
            else:
                y = np.maximum(y, F32(0))
        elif isinstance(m, torch.nn.MaxPool2d):
            q = maxpool_int(q, pair(m.kernel_size), pair(m.stride), pair(m.padding),
                            pair(m.dilation))
        elif isinstance(m, torch.nn.Flatten):
            if y is None:
                q = q.reshape(q.shape[0], -1)
            else:
                y = y.reshape(y.shape[0], -1)
        elif isinstance(m, (torch.nn.Dropout, torch.nn.Identity, torch.nn.BatchNorm1d,
                            torch.nn.BatchNorm2d)):
            pass  # inference; batchnorm is folded into the layer before it
        elif y is not None:  # an activation after the last layer runs in float
            with torch.no_grad():
                y = m(torch.from_numpy(y)).numpy()
            exact = False
        else:
            raise ValueError(f"module {i} ({type(m).__name__}) has no int8 form")
    return y, exact


def check(model_path, expected_path):
    tensors, meta = safetensors_io.load(model_path)
    why = check_dtypes(model_path, tensors, meta) or torch_side(model_path, tensors)
    if why:
        print(why)
        return 1
    fx = read_fixture(expected_path)
    y, exact = run_int8(meta["nabla.spec"], tensors, fx["x"])
    want = fx["y"]
    if y.shape != want.shape:
        print(f"{model_path}: NumPy's output has shape {y.shape}, nabla's {want.shape}")
        return 1
    bad = (y != want) if exact else (np.abs(y - want) > 1e-6 * np.abs(want) + 1e-7)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        print(f"{model_path}: output {i} is {want[i]!r} in nabla, {y[i]!r} in NumPy "
              f"({int(bad.sum())} of {bad.size} differ)")
        return 1
    print(f"ok {model_path}: {want.shape[0]} samples reproduced {'bit for bit' if exact else 'to 1e-6'}")
    return 0


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__)
        return 2
    return max(check(argv[i], argv[i + 1]) for i in range(0, len(argv), 2))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
