"""Builds the PyTorch nn.Sequential that a nabla spec's architecture describes.

Each nabla layer maps onto Sequential modules in order: `dense N [act]` is nn.Linear(in, N)
followed by the activation's module when it has one; `activation act` is that module alone
(nn.Identity for none/linear). This is the mapping nabla's model files use for their tensor
names ("0.weight", "2.bias", ...), so load_state_dict reads a nabla file directly."""
import torch
from torch import nn


def _activation(name, alpha):
    if name in ("none", "linear", "identity"):
        return None
    table = {
        "relu": lambda: nn.ReLU(),
        "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(),
        "gelu": lambda: nn.GELU(),
        "silu": lambda: nn.SiLU(),
        "softplus": lambda: nn.Softplus(),
        "softmax": lambda: nn.Softmax(dim=-1),
        "leaky_relu": lambda: nn.LeakyReLU(alpha if alpha else 0.01),
        "elu": lambda: nn.ELU(alpha if alpha else 1.0),
    }
    if name not in table:
        raise ValueError(f"activation {name!r} has no PyTorch module here")
    return table[name]()


def sequential_from_spec(text):
    """nn.Sequential for the spec text's input and layer lines (other lines are ignored)."""
    mods, features = [], None
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        kind, args = words[0], words[1:]
        pos = [a for a in args if "=" not in a]
        opts = dict(a.split("=", 1) for a in args if "=" in a)
        alpha = float(opts.get("alpha", 0))
        if kind == "input":
            features = int(pos[-1])
        elif kind == "dense":
            units = int(pos[0])
            bias = opts.get("bias", "true") not in ("false", "no", "0")
            mods.append(nn.Linear(features, units, bias=bias))
            features = units
            act = _activation(pos[1], alpha) if len(pos) > 1 else None
            if act is not None:
                mods.append(act)
        elif kind == "activation":
            act = _activation(pos[0], alpha)
            mods.append(act if act is not None else nn.Identity())
    return nn.Sequential(*mods)
