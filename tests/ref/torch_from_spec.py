"""Builds the PyTorch module that a nabla spec's architecture describes.

A version-1 spec (a chain of layers) is an nn.Sequential: each nabla layer maps onto
Sequential modules in order, as nabla's model files name their tensors ("0.weight",
"2.running_mean", ...), so load_state_dict reads a nabla file directly:

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

A version-2 spec (a graph) is a GraphModule: one submodule per layer, named after the layer
("conv2d_1", as nabla's graph files name tensors: "conv2d_1.weight"), and a forward that
walks the lines in order: inputs, layers on the nodes their in= names (default: the line
before), add (a sum), concat (torch.cat), split (torch.split: node "name:k" is part k), reuse
(the layer's module called again), output. Default names follow nabla's: "<kind>_<k>" for
the k-th layer of a kind, skipping names taken; "input", "input_2", ...; "<layer>@<k>" for
the k-th call of a reused layer. build_from_spec picks the right one.
"""
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


def _words(raw):
    """Kind, positional words and options of a line ('#' comments and quotes handled)."""
    out, cur, quoted, i = [], "", False, 0
    line = raw
    while i < len(line):
        c = line[i]
        if quoted:
            if c == "\\" and i + 1 < len(line):
                cur += line[i + 1]
                i += 2
                continue
            if c == '"':
                quoted = False
            else:
                cur += c
        elif c == '"':
            quoted = True
        elif c in " \t\r":
            if cur:
                out.append(cur)
            cur = ""
        elif c == "#" and not cur:
            break
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


def _version(text):
    for raw in text.splitlines():
        w = _words(raw)
        if w:
            return int(w[1]) if w[0] == "nabla-spec" else 1
    return 1


def _probe(fn, shape):
    """The per-sample output shape of fn on samples of `shape` (run-time sizes taken as 5)."""
    with torch.no_grad():
        mods = list(fn.modules())
        modes = [m.training for m in mods]
        for m in mods:
            m.train(False)
        out = fn(torch.zeros([2] + [d if d > 0 else 5 for d in shape]))
        for m, t in zip(mods, modes):
            m.train(t)
    return list(out.shape[1:])


class GraphModule(nn.Module):
    """A nabla graph: submodules named after the layers, forward over the lines."""

    def __init__(self):
        super().__init__()
        self.inputs = []      # node names
        self.steps = []       # (kind, layer, in_names, out_name, extra)
        self.outputs = None
        self.post = {}        # layer -> activation module applied after it (not registered)

    def forward(self, *xs):
        env = dict(zip(self.inputs, xs))
        for kind, layer, ins, out, extra in self.steps:
            args = [env[n] if n != "-" else None for n in ins]
            if kind == "add":
                y = args[0]
                for a in args[1:]:
                    y = y + a
            elif kind == "concat":
                y = torch.cat(args, dim=extra)
            elif kind == "split":
                parts = torch.split(args[0], extra[0], dim=extra[1])
                for k, part in enumerate(parts):
                    env[out if k == 0 else f"{out}:{k}"] = part
                continue
            else:
                y = getattr(self, layer)(args[0])
                if layer in self.post:
                    y = self.post[layer](y)
            env[out] = y
        outs = [env[n] for n in self.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)


def graph_from_spec(text):
    """GraphModule for a version-2 spec's architecture lines (other lines are ignored)."""
    g = GraphModule()
    shapes, taken, kinds, calls = {}, set(), {}, {}
    prev, n_inputs, input_k = None, 0, 0

    def default(stem):
        k = max(kinds.get(stem, (0, 0))[0] + 1, kinds.get(stem, (0, 0))[1] + 1)
        while f"{stem}_{k}" in taken:
            k += 1
        return k

    def ref(name):
        return name[:-2] if name.endswith(":0") else name

    for raw in text.splitlines():
        words = _words(raw)
        if not words or words[0] == "nabla-spec":
            continue
        kind, args = words[0], words[1:]
        pos = [a for a in args if "=" not in a]
        opts = dict(a.split("=", 1) for a in args if "=" in a)
        if kind == "input":
            if "name" in opts:
                name = opts["name"]
            else:  # the k-th input: "input", "input_2", ... skipping names taken
                k = max(n_inputs + 1, input_k + 1)
                while ("input" if k == 1 else f"input_{k}") in taken:
                    k += 1
                name = "input" if k == 1 else f"input_{k}"
                input_k = k
            n_inputs += 1
            dims = [] if pos == ["scalar"] else [-1 if d in ("None", "-1") else int(d) for d in pos]
            g.inputs.append(name)
            shapes[name] = dims
            taken.add(name)
            prev = name
            continue
        if kind == "output":
            g.outputs = [ref(p) for p in pos]
            continue
        ins = [ref(n) for n in opts["in"].split(",")] if "in" in opts else [prev]
        if kind == "reuse":
            layer = pos[0]
            calls[layer] += 1
            name = opts.get("name")
            if name is None:
                k = calls[layer]
                while f"{layer}@{k}" in taken:
                    k += 1
                name = f"{layer}@{k}"
            g.steps.append(("layer", layer, ins, name, None))
            mod, post = getattr(g, layer), g.post.get(layer)
            shapes[name] = _probe(nn.Sequential(mod, post) if post else mod, shapes[ins[0]])
            taken.add(name)
            prev = name
            continue
        stem = kind
        if "name" in opts:
            name = opts["name"]
            c, last = kinds.get(stem, (0, 0))
            kinds[stem] = (c + 1, last)
        else:
            k = default(stem)
            name = f"{stem}_{k}"
            kinds[stem] = (kinds.get(stem, (0, 0))[0] + 1, k)
        taken.add(name)
        calls[name] = 1
        shape = shapes[ins[0]]
        if kind in ("add", "concat", "split"):
            if kind == "add":
                g.steps.append(("add", name, ins, name, None))
                shapes[name] = shape
            elif kind == "concat":
                axis = int(opts.get("axis", -1))
                a = axis if axis >= 0 else axis + len(shape)
                out = list(shape)
                out[a] = sum(shapes[n][a] for n in ins)
                g.steps.append(("concat", name, ins, name, a + 1))
                shapes[name] = out
            else:
                sizes = [int(v) for v in pos[0].split(",")]
                axis = int(opts.get("axis", -1))
                a = axis if axis >= 0 else axis + len(shape)
                g.steps.append(("split", name, ins, name, (sizes, a + 1)))
                for k, sz in enumerate(sizes):
                    out = list(shape)
                    out[a] = sz
                    shapes[name if k == 0 else f"{name}:{k}"] = out
            prev = name
            continue
        # a layer with a module: the sequential builder's mapping, on this node's shape
        line = " ".join(w if " " not in w else '"%s"' % w for w in [kind] + pos +
                        [f"{k}={v}" for k, v in opts.items() if k not in ("in", "name")])
        seq = sequential_from_spec("input " + (" ".join(str(d) for d in shape) or "scalar") +
                                   "\n" + line + "\n")
        mods = list(seq)
        if kind == "global_avgpool2d":
            g.add_module(name, nn.Sequential(*mods))
        else:
            g.add_module(name, mods[0])
            if len(mods) > 1:
                g.post[name] = mods[1]
        shapes[name] = _probe(seq, shape)
        g.steps.append(("layer", name, ins, name, None))
        prev = name
    if g.outputs is None:
        g.outputs = [prev]
    return g


def build_from_spec(text):
    """The torch module of a spec: an nn.Sequential (version 1) or a GraphModule (version 2)."""
    return graph_from_spec(text) if _version(text) >= 2 else sequential_from_spec(text)
