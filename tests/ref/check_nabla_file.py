"""Checks that PyTorch reads a nabla model file and reproduces nabla's predictions.

    /usr/bin/python3 tests/ref/check_nabla_file.py MODEL.safetensors EXPECTED.txt [...]

(any number of MODEL EXPECTED pairs). MODEL is a file written by nabla (nb_model_save); EXPECTED is a fixture (tests/ref format)
with `x` (inputs; token ids written as numbers when the model's input is dtype=i32) and `y`
(nabla's outputs; y0, y1, ... for a model with several). The script
parses the safetensors file by hand, builds the torch module that the file's "nabla.spec"
metadata describes (an nn.Sequential for a chain of layers, format 1; a module with one
submodule per layer for a graph, format 2: torch_from_spec.build_from_spec), loads the weights
with load_state_dict(strict=True) — after dropping a checkpoint's "optim.*" tensors, the
optimizer's state — runs x and compares with y (1e-5 relative + 1e-6 absolute). Exit status
0 when everything agrees; a one-line reason and 1 otherwise; 77 (skip) without torch."""
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
from torch_from_spec import _words, build_from_spec  # noqa: E402


def first_input_is_ids(spec):
    """Whether the spec's first input line says dtype=i32 (token ids)."""
    for raw in spec.splitlines():
        w = _words(raw)
        if w and w[0] == "input":
            return "dtype=i32" in w[1:]
    return False


def read_fixture(path):
    out, lines = {}, [ln for ln in open(path).read().splitlines() if not ln.startswith("#")]
    for head, vals in zip(lines[0::2], lines[1::2]):
        h = head.split()
        rank = int(h[1])
        shape = [int(d) for d in h[2:2 + rank]]
        out[h[0]] = np.array([float(v) for v in vals.split()], dtype=np.float32).reshape(shape)
    return out


def check(model_path, expected_path):
    tensors, meta = safetensors_io.load(model_path)
    if meta.get("format") != "pt" or meta.get("nabla.format_version") not in ("1", "2"):
        print(f"{model_path}: not a nabla model file (metadata {sorted(meta)})")
        return 1
    model = build_from_spec(meta["nabla.spec"])
    weights = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("optim.")}
    model.load_state_dict(weights, strict=True)
    model.eval()
    fx = read_fixture(expected_path)
    x = torch.from_numpy(fx["x"])
    if first_input_is_ids(meta["nabla.spec"]):
        x = x.long()
    with torch.no_grad():
        ys = model(x)
    ys = ys if isinstance(ys, tuple) else (ys,)
    names = ["y"] if len(ys) == 1 and "y" in fx else [f"y{k}" for k in range(len(ys))]
    total = 0
    for name, y in zip(names, ys):
        y = y.numpy()
        want = fx[name]
        if y.shape != want.shape:
            print(f"{model_path}: PyTorch's {name} has shape {y.shape}, nabla's {want.shape}")
            return 1
        err = np.abs(y - want) - (1e-6 + 1e-5 * np.abs(want))
        if (err > 0).any():
            i = np.unravel_index(np.argmax(err), err.shape)
            print(f"{model_path}: PyTorch and nabla differ at {name}{i}: {y[i]!r} vs {want[i]!r}")
            return 1
        total += want.size
    print(f"ok: PyTorch reproduces the {total} outputs of {os.path.basename(model_path)} "
          f"(format {meta['nabla.format_version']})")
    return 0


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        print("usage: check_nabla_file.py MODEL.safetensors EXPECTED.txt [...]")
        return 2
    return max(check(args[i], args[i + 1]) for i in range(0, len(args), 2))


if __name__ == "__main__":
    sys.exit(main())
