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
    global_avgpool1d       the mean over time of a sequence [B, T, C] -> [B, C] (TimeMean)
    batchnorm              nn.BatchNorm1d(C) for samples [C] or [C, L], nn.BatchNorm2d(C) for
                           [C, H, W]
    dropout P              nn.Dropout(P)
    flatten                nn.Flatten()

The sequence layers are modules written here (SEQ_KINDS), whose parameters are named as
nabla's model files name them:

    embedding V D          nn.Embedding(V, D, padding_idx)            weight
    positional N           Positional: x + weight[:T]                  weight [N, E]
    sinusoidal             Sinusoidal: x + sin/cos table (no parameters)
    tied_dense EMB         TiedDense: F.linear(x, EMB.weight, bias)    bias (optional); the
                           embedding is held, not registered: its weight is stored once
    layernorm, rmsnorm     nn.LayerNorm(E); RMSNorm (x rsqrt(mean(x²) + eps) weight)
    rnn, lstm, gru         Recurrent (an nn.RNN/nn.LSTM/nn.GRU with batch_first=True):
                           forward(x, h0, [c0], lengths) -> (y, h_n[, c_n]); states batch
                           first [B, L·D, H] as nabla's; lengths (or a mask) through
                           pack_padded_sequence
    attention E            SelfAttention (an nn.MultiheadAttention, batch_first=True):
                           forward(x, key_mask) = attn(x, x, x)[0], causal by attn_mask
    transformer E          TransformerBlock: ln_1, attn (SelfAttention), ln_2, mlp.fc,
                           mlp.proj; x + drop(attn(ln_1 x)), then + drop(proj(gelu(fc(ln_2 ·))))

A version-2 spec (a graph) is a GraphModule: one submodule per layer, named after the layer
("conv2d_1", as nabla's graph files name tensors: "conv2d_1.weight"), and a forward that
walks the lines in order: inputs, layers on the nodes their in= names (default: the line
before), add (a sum), concat (torch.cat), split (torch.split: node "name:k" is part k), reuse
(the layer's module called again), output. Default names follow nabla's: "<kind>_<k>" for
the k-th layer of a kind, skipping names taken; "input", "input_2", ...; "<layer>@<k>" for
the k-th call of a reused layer. build_from_spec picks the right one.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


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
        "log_softmax": lambda: nn.LogSoftmax(dim=-1),
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


# ---- sequence layers -----------------------------------------------------------------------

class Positional(nn.Module):
    """A learned positional table: x [B, T, E] + weight[:T]."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim))

    def forward(self, x):
        return x + self.weight[: x.shape[1]]


class Sinusoidal(nn.Module):
    """x + P with P[t, 2i] = sin(t / 10000^(2i/E)), P[t, 2i+1] = cos(t / 10000^(2i/E))."""

    def forward(self, x):
        T, E = x.shape[1], x.shape[2]
        t = torch.arange(T, dtype=torch.float64)[:, None]
        i = torch.arange(0, E, 2, dtype=torch.float64)
        a = t * torch.pow(10000.0, -i / E)
        p = torch.zeros(T, E, dtype=torch.float64)
        p[:, 0::2] = torch.sin(a)
        p[:, 1::2] = torch.cos(a)[:, : E // 2]
        return x + p.to(x.dtype)


class TiedDense(nn.Module):
    """logits = x Eᵀ (+ bias), E an embedding's weight (held, not registered: one key)."""

    def __init__(self, embedding, bias):
        super().__init__()
        object.__setattr__(self, "embedding", embedding)
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings)) if bias else None

    def forward(self, x):
        return F.linear(x, self.embedding.weight, self.bias)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps, affine):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if affine else None

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return y * self.weight if self.weight is not None else y


class TimeMean(nn.Module):
    """global_avgpool1d: a sequence [B, T, C] averaged over its T frames, [B, C]."""

    def forward(self, x):
        return x.mean(dim=1)


def _lengths(lengths):
    if lengths is None:
        return None
    if lengths.dim() == 2:  # a mask: nonzero at tokens, tokens first
        return (lengths != 0).sum(1)
    return lengths


def _recurrent(base):
    class Recurrent(base):
        """batch_first, states batch first ([B, L·D, H]), lengths or a mask."""

        def forward(self, x, h0=None, c0=None, lengths=None):
            if base is not nn.LSTM:
                lengths, c0 = c0, None
            st = None
            if h0 is not None:
                h = h0.transpose(0, 1).contiguous()
                if base is nn.LSTM:
                    c = (c0.transpose(0, 1).contiguous() if c0 is not None
                         else torch.zeros_like(h))
                    st = (h, c)
                else:
                    st = h
            elif c0 is not None:
                st = (torch.zeros_like(c0.transpose(0, 1)), c0.transpose(0, 1).contiguous())
            lengths = _lengths(lengths)
            T = x.shape[1]
            if lengths is not None:
                packed = pack_padded_sequence(x, lengths.to(torch.int64).cpu(), batch_first=True,
                                              enforce_sorted=False)
                y, hs = super().forward(packed, st)
                y, _ = pad_packed_sequence(y, batch_first=True, total_length=T)
            else:
                y, hs = super().forward(x, st)
            if base is nn.LSTM:
                return y, hs[0].transpose(0, 1), hs[1].transpose(0, 1)
            return y, hs.transpose(0, 1)

    return Recurrent


LSTMLayer, GRULayer, RNNLayer = _recurrent(nn.LSTM), _recurrent(nn.GRU), _recurrent(nn.RNN)


class SelfAttention(nn.MultiheadAttention):
    """attn(x, x, x)[0], causal through attn_mask; key_mask as key_padding_mask (an integer
    mask: nonzero ignores the key; a float one is added to the scores)."""

    def __init__(self, dim, heads, causal, dropout, bias):
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal

    def forward(self, x, key_mask=None):
        B, T = x.shape[0], x.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if self.causal else None
        if key_mask is not None and key_mask.is_floating_point():
            # an additive mask: one float mask [B·heads, T, T] (torch 1.13 mishandles a float
            # key_padding_mask beside a float attn_mask)
            add = key_mask[:, None, :].expand(B, T, T)
            if mask is not None:
                add = add.masked_fill(mask, float("-inf"))
            mask, key_mask = add.repeat_interleave(self.num_heads, 0), None
        elif key_mask is not None:
            key_mask = key_mask != 0
        return super().forward(x, x, x, need_weights=False, attn_mask=mask,
                               key_padding_mask=key_mask)[0]


class MLP(nn.Module):
    def __init__(self, dim, ffn, bias):
        super().__init__()
        self.fc = nn.Linear(dim, ffn, bias=bias)
        self.proj = nn.Linear(ffn, dim, bias=bias)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class TransformerBlock(nn.Module):
    """Pre-LN: h = x + drop(attn(ln_1 x)); y = h + drop(mlp(ln_2 h))."""

    def __init__(self, dim, heads, ffn, causal, dropout, eps, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=eps)
        self.attn = SelfAttention(dim, heads, causal, dropout, bias)
        self.ln_2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, ffn, bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask=None):
        h = x + self.drop(self.attn(self.ln_1(x), key_mask))
        return h + self.drop(self.mlp(self.ln_2(h)))


SEQ_KINDS = ("embedding", "positional", "sinusoidal", "tied_dense", "layernorm", "rmsnorm",
             "rnn", "lstm", "gru", "attention", "transformer")


def _true(opts, key, default=False):
    return opts.get(key, "true" if default else "false") in ("true", "yes", "1")


def seq_layer(kind, pos, opts, shapes, find):
    """The module of a sequence layer on inputs of per-sample shapes `shapes` (the first is x;
    -1 for a size known at run time), and its output shapes. find(name) gives the module of an
    earlier layer (tied_dense's embedding)."""
    x = shapes[0]
    if kind == "embedding":
        pad = int(opts["padding_idx"]) if "padding_idx" in opts else None
        return nn.Embedding(int(pos[0]), int(pos[1]), padding_idx=pad), [x + [int(pos[1])]]
    if kind == "positional":
        return Positional(int(pos[0]), x[-1]), [x]
    if kind == "sinusoidal":
        return Sinusoidal(), [x]
    if kind == "tied_dense":
        emb = find(pos[0])
        return TiedDense(emb, _true(opts, "bias")), [x[:-1] + [emb.num_embeddings]]
    if kind == "layernorm":
        return nn.LayerNorm(x[-1], eps=float(opts.get("eps", 1e-5)),
                            elementwise_affine=_true(opts, "affine", True)), [x]
    if kind == "rmsnorm":
        eps = float(opts.get("eps", torch.finfo(torch.float32).eps))
        return RMSNorm(x[-1], eps, _true(opts, "affine", True)), [x]
    if kind in ("rnn", "lstm", "gru"):
        H, L = int(pos[0]), int(opts.get("layers", 1))
        bi = _true(opts, "bidirectional")
        kw = dict(num_layers=L, bias=_true(opts, "bias", True), batch_first=True,
                  dropout=float(opts.get("dropout", 0)), bidirectional=bi)
        if kind == "rnn":
            mod = RNNLayer(x[-1], H, nonlinearity=pos[1] if len(pos) > 1 else "tanh", **kw)
        else:
            mod = (LSTMLayer if kind == "lstm" else GRULayer)(x[-1], H, **kw)
        D = 2 if bi else 1
        outs = [[x[0], D * H], [L * D, H]]
        return mod, outs + ([[L * D, H]] if kind == "lstm" else [])
    if kind in ("attention", "transformer"):
        E, heads = int(pos[0]), int(opts.get("heads", 1))
        causal, p = _true(opts, "causal"), float(opts.get("dropout", 0))
        bias = _true(opts, "bias", True)
        if kind == "attention":
            return SelfAttention(E, heads, causal, p, bias), [x]
        return TransformerBlock(E, heads, int(opts.get("ffn", 4 * E)), causal, p,
                                float(opts.get("eps", 1e-5)), bias), [x]
    raise ValueError(f"not a sequence layer: {kind}")


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
        elif kind == "global_avgpool1d":
            mods.append(TimeMean())
            shape = [shape[-1]]
        elif kind == "batchnorm":
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            mods.append(cls(shape[0], eps=float(opts.get("eps", 1e-5)),
                            momentum=float(opts.get("momentum", 0.1)),
                            affine=opts.get("affine", "true") != "false"))
        elif kind == "dropout":
            mods.append(nn.Dropout(float(pos[0])))
        elif kind in SEQ_KINDS:
            mod, outs = seq_layer(kind, pos, opts, [shape], None)
            mods.append(mod)
            shape = outs[0]
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


# the lines of a spec that are not the architecture's
TRAINING_LINES = ("loss", "optimizer", "schedule", "clip", "batch", "epochs", "seed", "data")


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
        self.seq_shapes = {}  # sequence layer -> its output shapes

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
                while len(args) > 1 and args[-1] is None:
                    args.pop()
                y = getattr(self, layer)(*args)
                if layer in self.post:
                    y = self.post[layer](y)
                if isinstance(y, tuple):  # several outputs: node, node:1, ...
                    for k, part in enumerate(y):
                        env[out if k == 0 else f"{out}:{k}"] = part
                    continue
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
        if not words or words[0] in ("nabla-spec",) + TRAINING_LINES:
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
            if layer in g.seq_shapes:  # a sequence layer: its output shapes by rule
                for k, sh in enumerate(g.seq_shapes[layer]):
                    shapes[name if k == 0 else f"{name}:{k}"] = sh
            else:
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
        if kind in SEQ_KINDS:
            mod, outs = seq_layer(kind, pos, opts, [shapes[n] if n != "-" else None for n in ins],
                                  lambda nm: getattr(g, nm))
            g.add_module(name, mod)
            g.seq_shapes[name] = outs
            for k, sh in enumerate(outs):
                shapes[name if k == 0 else f"{name}:{k}"] = sh
            g.steps.append(("layer", name, ins, name, None))
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
