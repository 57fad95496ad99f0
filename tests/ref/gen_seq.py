"""Writes tests/ref/seq.txt: PyTorch references for the sequence ops, read by tests/test_seq.c.

Each case `name` holds its inputs, fixed upstream gradients (`name_g*`), PyTorch's outputs
and the gradient of every input (`name_d*`), float32 from a seeded NumPy generator (integer
inputs — ids, lengths, targets — are written as floats):

  recurrent layers (nn.LSTM, nn.GRU, nn.RNN with tanh and relu; bidirectional, batch_first):
      name_x [B, T, I], name_len [B] (lengths, or absent for full sequences), and per
      direction k (0 forward, 1 reverse): name_h0_k, name_c0_k (LSTM), name_wih_k, name_whh_k,
      name_bih_k, name_bhh_k; outputs name_y_k [B, T, H] (zero past each length, as
      pad_packed_sequence), name_hn_k, name_cn_k; upstream name_gy_k, name_ghn_k, name_gcn_k;
      gradients name_dx (both directions together), name_dh0_k, name_dc0_k, name_dwih_k, ...;
      name_cfg = G (gates), H, has lengths.
      Variable lengths go through pack_padded_sequence(enforce_sorted=False), so the reverse
      direction starts at each sample's own last step.
  attention: name_q, name_k, name_v, name_mask (f32 additive, or 0/1 for keys to ignore),
      name_cfg = causal, mask kind (0 none, 1 additive, 2 ignore), scale; name_g, name_y,
      name_dq, name_dk, name_dv. The reference is the formula written out (torch 1.13 has no
      F.scaled_dot_product_attention): softmax(q kᵀ scale + mask) v, with the causal offset
      Tk − Tq.
  layer norm (F.layer_norm) and RMS norm (torch 1.13 has no RMSNorm: x rsqrt(mean(x²) + eps)
      w by hand): name_x, name_w, name_b, name_cfg = eps, has weight, has bias; name_g,
      name_y, name_dx, name_dw, name_db.
  embedding (F.embedding with padding_idx): emb_ids, emb_w, emb_cfg = padding_idx, emb_g,
      emb_y, emb_dw.
  cross-entropy (F.cross_entropy on logits.reshape(-1, V) with ignore_index and
      label_smoothing): name_x [B, T, V], name_t, name_cfg = reduction (0 mean, 1 sum, 2 none),
      ignore_index, label_smoothing; name_g, name_y, name_dx.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/ref/gen_seq.py
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

rng = np.random.default_rng(2718)
torch.manual_seed(0)


def arr(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def t(*shape, lo=-1.0, hi=1.0, grad=True):
    return torch.tensor(arr(*shape, lo=lo, hi=hi), requires_grad=grad)


fw = FixtureWriter("tests/ref/seq.txt",
                   "written by tests/ref/gen_seq.py (PyTorch %s); do not edit" % torch.__version__)


# ---- recurrent layers ---------------------------------------------------------------------------

def rnn_case(name, kind, B, T, I, H, lengths=None, nonlinearity="tanh"):
    G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    if kind == "lstm":
        m = torch.nn.LSTM(I, H, batch_first=True, bidirectional=True)
    elif kind == "gru":
        m = torch.nn.GRU(I, H, batch_first=True, bidirectional=True)
    else:
        m = torch.nn.RNN(I, H, batch_first=True, bidirectional=True, nonlinearity=nonlinearity)
    with torch.no_grad():  # weights from the seeded generator, not torch's
        for p in m.parameters():
            p.copy_(torch.tensor(arr(*p.shape, lo=-0.6, hi=0.6)))
    x = t(B, T, I)
    h0 = t(2, B, H)
    c0 = t(2, B, H)
    fw.add(name + "_x", x.detach())
    if lengths is not None:
        fw.add(name + "_len", np.array(lengths, dtype=np.float32))
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                      enforce_sorted=False)
    else:
        packed = x
    state = (h0, c0) if kind == "lstm" else h0
    out, st = m(packed, state)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    hn, cn = st if kind == "lstm" else (st, None)
    loss = 0
    for k, sfx in enumerate(["", "_reverse"]):
        fw.add(f"{name}_h0_{k}", h0[k].detach())
        if kind == "lstm":
            fw.add(f"{name}_c0_{k}", c0[k].detach())
        for nm in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            short = nm.replace("weight_", "w").replace("bias_", "b")
            fw.add(f"{name}_{short}_{k}", getattr(m, f"{nm}_l0{sfx}").detach())
        y = out[:, :, k * H:(k + 1) * H]
        gy = torch.tensor(arr(B, T, H))
        ghn = torch.tensor(arr(B, H))
        fw.add(f"{name}_y_{k}", y.detach())
        fw.add(f"{name}_hn_{k}", hn[k].detach())
        fw.add(f"{name}_gy_{k}", gy)
        fw.add(f"{name}_ghn_{k}", ghn)
        loss = loss + (y * gy).sum() + (hn[k] * ghn).sum()
        if kind == "lstm":
            gcn = torch.tensor(arr(B, H))
            fw.add(f"{name}_cn_{k}", cn[k].detach())
            fw.add(f"{name}_gcn_{k}", gcn)
            loss = loss + (cn[k] * gcn).sum()
    loss.backward()
    fw.add(name + "_dx", x.grad)
    for k, sfx in enumerate(["", "_reverse"]):
        fw.add(f"{name}_dh0_{k}", h0.grad[k])
        if kind == "lstm":
            fw.add(f"{name}_dc0_{k}", c0.grad[k])
        for nm in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            short = nm.replace("weight_", "w").replace("bias_", "b")
            fw.add(f"{name}_d{short}_{k}", getattr(m, f"{nm}_l0{sfx}").grad)
    fw.add(name + "_cfg", np.array([G, H, int(lengths is not None)], dtype=np.float32))


rnn_case("lstm", "lstm", 3, 5, 4, 3, lengths=[5, 2, 4])
rnn_case("lstmf", "lstm", 2, 4, 3, 5)
rnn_case("gru", "gru", 3, 6, 2, 4, lengths=[3, 6, 1])
rnn_case("rnnt", "rnn", 3, 5, 3, 4, lengths=[5, 1, 3])
rnn_case("rnnr", "rnn", 2, 4, 3, 3, nonlinearity="relu")


# ---- attention ----------------------------------------------------------------------------------

def attn_case(name, B, Hh, Tq, Tk, d, dv, causal=False, mask=None, scale=None):
    """mask: 0/1 per key (1: ignore it), or None."""
    q, k, v = t(B, Hh, Tq, d), t(B, Hh, Tk, d), t(B, Hh, Tk, dv)
    sc = 1.0 / math.sqrt(d) if scale is None else scale
    s = q @ k.transpose(-1, -2) * sc
    kind = 0
    if mask is not None:  # keys to ignore (1), as key_padding_mask
        kind = 2
        m = torch.tensor(mask, dtype=torch.float32)
        s = s.masked_fill(m.bool()[:, None, None, :], float("-inf"))
        fw.add(name + "_mask", m)
    if causal:
        i = torch.arange(Tq)[:, None]
        j = torch.arange(Tk)[None, :]
        s = s.masked_fill(j > Tk - Tq + i, float("-inf"))
    y = torch.softmax(s, dim=-1) @ v
    for nm, a in [("q", q), ("k", k), ("v", v)]:
        fw.add(f"{name}_{nm}", a.detach())
    fw.add(name + "_cfg", np.array([int(causal), kind, sc], dtype=np.float32))
    g = torch.tensor(arr(B, Hh, Tq, dv))
    y.backward(g)
    fw.add(name + "_g", g)
    fw.add(name + "_y", y.detach())
    for nm, a in [("q", q), ("k", k), ("v", v)]:
        fw.add(f"{name}_d{nm}", a.grad)


def attn_additive_case(name, B, Hh, Tq, Tk, d, dv, causal):
    """An additive f32 mask (−inf for two keys, small biases elsewhere)."""
    q, k, v = t(B, Hh, Tq, d), t(B, Hh, Tk, d), t(B, Hh, Tk, dv)
    madd = arr(B, Tk, lo=-0.5, hi=0.5)
    madd[0, 1] = -np.inf
    madd[B - 1, 0] = -np.inf
    sc = 1.0 / math.sqrt(d)
    s = q @ k.transpose(-1, -2) * sc + torch.tensor(madd)[:, None, None, :]
    if causal:
        i = torch.arange(Tq)[:, None]
        j = torch.arange(Tk)[None, :]
        s = s.masked_fill(j > Tk - Tq + i, float("-inf"))
    y = torch.softmax(s, dim=-1) @ v
    for nm, a in [("q", q), ("k", k), ("v", v)]:
        fw.add(f"{name}_{nm}", a.detach())
    fw.add(name + "_mask", madd)
    fw.add(name + "_cfg", np.array([int(causal), 1, sc], dtype=np.float32))
    g = torch.tensor(arr(B, Hh, Tq, dv))
    y.backward(g)
    fw.add(name + "_g", g)
    fw.add(name + "_y", y.detach())
    for nm, a in [("q", q), ("k", k), ("v", v)]:
        fw.add(f"{name}_d{nm}", a.grad)


attn_case("attc", 2, 2, 7, 7, 5, 5, causal=True)                               # causal
attn_case("attp", 2, 3, 4, 6, 3, 5, scale=0.4,                                  # padded
          mask=[[0, 0, 0, 0, 1, 1], [0, 0, 1, 0, 0, 0]])
attn_case("attk", 1, 2, 3, 8, 4, 4, causal=True,                                # KV cache
          mask=[[0, 1, 0, 0, 0, 0, 0, 0]])
attn_additive_case("atta", 2, 2, 2, 5, 6, 3, causal=True)                       # additive
attn_case("attl", 1, 1, 33, 35, 4, 3, causal=True)                               # two tiles


# ---- layer norm and RMS norm --------------------------------------------------------------------

def norm_case(name, shape, rms, eps, weight=True, bias=True):
    D = shape[-1]
    x = t(*shape, lo=-2.0, hi=2.0)
    w = t(D, lo=0.5, hi=1.5) if weight else None
    b = t(D) if bias else None
    if rms:
        y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
        if w is not None:
            y = y * w
    else:
        y = F.layer_norm(x, (D,), w, b, eps)
    fw.add(name + "_x", x.detach())
    if w is not None:
        fw.add(name + "_w", w.detach())
    if b is not None:
        fw.add(name + "_b", b.detach())
    fw.add(name + "_cfg", np.array([eps, int(weight), int(bias)], dtype=np.float32))
    g = torch.tensor(arr(*shape))
    y.backward(g)
    fw.add(name + "_g", g)
    fw.add(name + "_y", y.detach())
    fw.add(name + "_dx", x.grad)
    if w is not None:
        fw.add(name + "_dw", w.grad)
    if b is not None:
        fw.add(name + "_db", b.grad)


norm_case("ln", (2, 3, 7), False, 1e-5)
norm_case("lnw", (4, 33), False, 1e-3, bias=False)
norm_case("lnn", (5, 6), False, 1e-5, weight=False, bias=False)
norm_case("rms", (3, 2, 9), True, 1e-6, bias=False)
norm_case("rmsn", (4, 17), True, 1e-5, weight=False, bias=False)


# ---- embedding ----------------------------------------------------------------------------------

ids = torch.tensor([[1, 2, 0, 2], [4, 2, 1, 1], [0, 3, 2, 4]])
W = t(5, 6)
y = F.embedding(ids, W, padding_idx=2)
g = torch.tensor(arr(3, 4, 6))
y.backward(g)
fw.add("emb_ids", ids.numpy().astype(np.float32))
fw.add("emb_w", W.detach())
fw.add("emb_cfg", np.array([2], dtype=np.float32))
fw.add("emb_g", g)
fw.add("emb_y", y.detach())
fw.add("emb_dw", W.grad)


# ---- cross-entropy ------------------------------------------------------------------------------

def xent_case(name, B, T, V, reduction, ignore_index, smoothing, ignored):
    x = t(B, T, V, lo=-3.0, hi=3.0)
    tg = rng.integers(0, V, size=(B, T))
    for (b, s) in ignored:
        tg[b, s] = ignore_index
    y = F.cross_entropy(x.reshape(-1, V), torch.tensor(tg).reshape(-1), ignore_index=ignore_index,
                        label_smoothing=smoothing, reduction=reduction)
    if reduction == "none":
        y = y.reshape(B, T)
    fw.add(name + "_x", x.detach())
    fw.add(name + "_t", tg.astype(np.float32))
    red = {"mean": 0, "sum": 1, "none": 2}[reduction]
    fw.add(name + "_cfg", np.array([red, ignore_index, smoothing], dtype=np.float32))
    g = torch.tensor(arr(*y.shape)) if y.dim() else torch.tensor(0.75)
    y.backward(g)
    fw.add(name + "_g", g)
    fw.add(name + "_y", y.detach())
    fw.add(name + "_dx", x.grad)


xent_case("xem", 2, 5, 7, "mean", -100, 0.1, [(0, 1), (1, 4), (1, 0)])
xent_case("xes", 3, 4, 11, "sum", -100, 0.25, [(2, 2)])
xent_case("xen", 2, 3, 5, "none", 0, 0.1, [(0, 0), (1, 2)])
xent_case("xep", 4, 6, 9, "mean", -100, 0.0, [(3, 5)])

fw.write()
