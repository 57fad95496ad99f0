"""PyTorch -> nabla interop fixtures (tests/test_interop.c).

Builds two PyTorch MLPs with fixed seeds and writes their weights as safetensors, with
PyTorch's own state_dict names and layouts, plus inputs and PyTorch's outputs:

  interop_a.safetensors  nn.Sequential(Linear(8,16), Tanh(), Linear(16,12), ReLU(),
                         Linear(12,5)), weights only ({"format": "pt"} metadata, as
                         safetensors.torch.save_file writes), with interop_a.spec beside it:
                         nabla builds the model from the spec and loads the weights
  interop_b.safetensors  an MLP through every other activation (GELU, LeakyReLU(0.2) after
                         a Linear without bias, ELU, Softplus, SiLU, Sigmoid, then Softmax),
                         whose metadata carries nabla.spec, so nabla loads it alone
  interop.txt            a.x, a.y, b.x, b.y: inputs and PyTorch's outputs (float32)

Run from the repository root with Debian's python3 (which has torch):

    /usr/bin/python3 tests/ref/gen_interop.py
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402
import safetensors_io  # noqa: E402
from torch_from_spec import sequential_from_spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

SPEC_A = """nabla-spec 1
# PyTorch: Sequential(Linear(8, 16), Tanh(), Linear(16, 12), ReLU(), Linear(12, 5))
input 8
dense 16 tanh
dense 12 relu
dense 5
"""

SPEC_B = """nabla-spec 1
input 6
dense 10 gelu
dense 10 leaky_relu alpha=0.2 bias=false
dense 9 elu
dense 8 softplus
dense 7 silu
dense 4 sigmoid
activation softmax
"""


def state(model):
    return {k: v.detach().float().numpy() for k, v in model.state_dict().items()}


def main():
    torch.manual_seed(20240501)
    a = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 12), nn.ReLU(),
                      nn.Linear(12, 5))
    b = nn.Sequential(nn.Linear(6, 10), nn.GELU(), nn.Linear(10, 10, bias=False),
                      nn.LeakyReLU(0.2), nn.Linear(10, 9), nn.ELU(), nn.Linear(9, 8),
                      nn.Softplus(), nn.Linear(8, 7), nn.SiLU(), nn.Linear(7, 4), nn.Sigmoid(),
                      nn.Softmax(dim=-1))
    # the spec describes the same network: same module list, same parameter names
    assert [type(m) for m in sequential_from_spec(SPEC_B)] == [type(m) for m in b]
    assert list(sequential_from_spec(SPEC_A).state_dict()) == list(a.state_dict())

    xa = torch.randn(32, 8) * 2
    xb = torch.randn(32, 6) * 2
    with torch.no_grad():
        ya = a(xa)
        yb = b(xb)

    safetensors_io.save(os.path.join(HERE, "interop_a.safetensors"), state(a), {"format": "pt"})
    with open(os.path.join(HERE, "interop_a.spec"), "w") as f:
        f.write(SPEC_A)
    safetensors_io.save(os.path.join(HERE, "interop_b.safetensors"), state(b),
                        {"format": "pt", "nabla.format_version": "1", "nabla.spec": SPEC_B})

    fx = FixtureWriter(os.path.join(HERE, "interop.txt"),
                       "PyTorch MLP inputs and outputs for tests/test_interop.c "
                       "(written by tests/ref/gen_interop.py)")
    fx.add("a.x", xa)
    fx.add("a.y", ya)
    fx.add("b.x", xb)
    fx.add("b.y", yb)
    fx.write()


if __name__ == "__main__":
    main()
