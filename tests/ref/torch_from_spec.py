"""Builds the PyTorch nn.Sequential that a nabla spec's architecture describes.

Each nabla layer maps onto Sequential modules in order, as nabla's model files name their
tensors ("0.weight", "2.running_mean", ...), so load_state_dict reads a nabla file directly:

    dense N [act]          nn.Linear(in, N), then the activation's module when there is one
    activation act         that module (nn.Identity for none/linear)
    conv2d F K [act] ...   nn.Conv2d(C, F, K, stride, padding, dilation, groups, bias), then
                           the activation's module when there is one
    maxpool2d K ...        nn.MaxPool2d(K, stride, padding, dilation)
    avgpool2d K ...        nn.AvgPool2d(K, stride, padding, count_include_pad)
    global_avgpool2d       nn.AdaptiveAvgPool2d(1), nn.Flatten()
    batchnorm              nn.BatchNorm1d(C) for samples [C] or [C, L], nn.BatchNorm2d(C) for
                           [C, H, W]
    dropout P              nn.Dropout(P)
    flatten                nn.Flatten()
"""
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
        "mish": lambda: nn.Mish(),
        "softmax": lambda: nn.Softmax(dim=-1),
        "leaky_relu": lambda: nn.LeakyReLU(alpha if alpha else 0.01),
        "elu": lambda: nn.ELU(alpha if alpha else 1.0),
    }
    if name not in table:
        raise ValueError(f"activation {name!r} has no PyTorch module here")
    return table[name]()


def _pair(text, default=None):
    if text is None:
        return default
    v = [int(t) for t in text.split(",")]
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _padding(text):
    """nabla's pad=P | H,W | T,B,L,R as PyTorch's symmetric (h, w)."""
    if text is None:
        return (0, 0)
    v = [int(t) for t in text.split(",")]
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) == 2:
        return (v[0], v[1])
    if v[0] != v[1] or v[2] != v[3]:
        raise ValueError(f"pad={text}: PyTorch's Conv2d and pooling pad symmetrically only")
    return (v[0], v[2])


def _out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def sequential_from_spec(text):
    """nn.Sequential for the spec text's input and layer lines (other lines are ignored)."""
    mods, shape = [], None
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        kind, args = words[0], words[1:]
        pos = [a for a in args if "=" not in a]
        opts = dict(a.split("=", 1) for a in args if "=" in a)
        alpha = float(opts.get("alpha", 0))
        bias = opts.get("bias", "true") not in ("false", "no", "0")
        if kind == "input":
            shape = [int(d) for d in pos]
        elif kind == "dense":
            units = int(pos[0])
            mods.append(nn.Linear(shape[-1], units, bias=bias))
            shape = shape[:-1] + [units]
            act = _activation(pos[1], alpha) if len(pos) > 1 else None
            if act is not None:
                mods.append(act)
        elif kind == "activation":
            act = _activation(pos[0], alpha)
            mods.append(act if act is not None else nn.Identity())
        elif kind == "conv2d":
            filters, k = int(pos[0]), _pair(pos[1])
            s, d = _pair(opts.get("stride"), (1, 1)), _pair(opts.get("dilation"), (1, 1))
            groups = int(opts.get("groups", 1))
            if opts.get("same", "false") == "true":
                padding = "same"
                oh, ow = shape[1], shape[2]
            else:
                padding = _padding(opts.get("pad"))
                oh = _out(shape[1], k[0], s[0], padding[0], d[0])
                ow = _out(shape[2], k[1], s[1], padding[1], d[1])
            mods.append(nn.Conv2d(shape[0], filters, k, stride=s, padding=padding, dilation=d,
                                  groups=groups, bias=bias))
            shape = [filters, oh, ow]
            act = _activation(pos[2], alpha) if len(pos) > 2 else None
            if act is not None:
                mods.append(act)
        elif kind in ("maxpool2d", "avgpool2d"):
            k = _pair(pos[0])
            s = _pair(opts.get("stride"), k)
            p = _padding(opts.get("pad"))
            if kind == "maxpool2d":
                d = _pair(opts.get("dilation"), (1, 1))
                mods.append(nn.MaxPool2d(k, stride=s, padding=p, dilation=d))
            else:
                d = (1, 1)
                include = opts.get("exclude_pad", "false") != "true"
                mods.append(nn.AvgPool2d(k, stride=s, padding=p, count_include_pad=include))
            shape = [shape[0], _out(shape[1], k[0], s[0], p[0], d[0]),
                     _out(shape[2], k[1], s[1], p[1], d[1])]
        elif kind == "global_avgpool2d":
            mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            shape = [shape[0]]
        elif kind == "batchnorm":
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            mods.append(cls(shape[0], eps=float(opts.get("eps", 1e-5)),
                            momentum=float(opts.get("momentum", 0.1)),
                            affine=opts.get("affine", "true") != "false"))
        elif kind == "dropout":
            mods.append(nn.Dropout(float(pos[0])))
        elif kind == "flatten":
            mods.append(nn.Flatten())
            n = 1
            for v in shape:
                n *= v
            shape = [n]
    return nn.Sequential(*mods)
