#!/usr/bin/python3
"""The PyTorch twin of `nabla train SPEC --data PATH --steps N` for a language model of
examples/specs (char_lstm, char_gpt): the same corpus, split, batches, model, initialisation,
optimizer, clipping, dropout and validation loss, so that the two runs' val_loss can be set
side by side (the learning targets of issue 9).

    /usr/bin/python3 bench/torch/lm_learn.py examples/specs/char_gpt.spec \
        --data /usr/share/games/fortunes --steps 1000 [--threads 1] [--eval-every N]

What is the same as nabla's run (tools/nabla/lm.c):
- the corpus: a file, or a folder's regular files in byte order of their names, skipping
  hidden files, symbolic links, subfolders and *.dat (nb_corpus_read), concatenated; a byte
  tokenizer (ids are the bytes); the last round(0.1 n) ids held out for validation;
- a step: B windows of T + 1 ids at uniformly random offsets in the training part (nabla's
  generator differs; the windows are equally random), x = w[0..T), y = w[1..T], the mean
  cross-entropy over the B·T positions, backward, clip_grad_norm_ (the spec's clip line),
  the optimizer's step, dropout on in training;
- the model: tests/ref/torch_from_spec.py's modules (the ones nabla's model files load into),
  with PyTorch's default initialisation — which nabla's layers copy — and the spec's init=
  options (normal:MEAN:STD) applied to the layers that have them;
- the optimizer of the spec's line: adam, or adamw with decay=matrices as two parameter groups
  (weight decay on the tensors of rank >= 2 only);
- the validation loss: every non-overlapping window of T + 1 ids of the held-out part
  (window k starts at train_tokens + k T), in eval mode, the mean over the windows of each
  window's mean cross-entropy; printed every --eval-every steps (default N/10) and at the end
  as `val_loss X`.
"""
import argparse
import math
import os
import re
import sys
import time

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from torch_from_spec import build_from_spec  # noqa: E402


def read_corpus(path):
    if not os.path.isdir(path):
        with open(path, "rb") as f:
            return f.read()
    out = []
    for name in sorted(os.listdir(path), key=lambda s: s.encode()):
        p = os.path.join(path, name)
        if name.startswith(".") or name.endswith(".dat") or os.path.islink(p) or \
                not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            out.append(f.read())
    return b"".join(out)


def spec_lines(text):
    """(kind, positional words, options) of each layer and training line, in order."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("nabla-spec"):
            continue
        words = line.split()
        pos = [w for w in words[1:] if "=" not in w]
        opts = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        yield words[0], pos, opts


def recipe(text):
    """batch, context, optimizer line options, clip norm of a spec."""
    batch, T, opt, clip = 32, None, ("adam", {}), 0.0
    for kind, pos, opts in spec_lines(text):
        if kind == "input" and T is None:
            T = int(pos[0])
        elif kind == "batch":
            batch = int(pos[0])
        elif kind == "optimizer":
            opt = (pos[0], opts)
        elif kind == "clip":
            clip = float(opts.get("norm", 0))
    return batch, T, opt, clip


def normal_init(text):
    m = re.fullmatch(r"normal:([-0-9.e]+):([-0-9.e]+)", text)
    if not m:
        sys.exit(f"lm_learn.py: init={text} is not handled here")
    return float(m.group(1)), float(m.group(2))


def apply_spec_init(model, text):
    """The spec's init=normal:MEAN:STD options, on the layers named as nabla names them: an
    embedding's or positional table's weight; a transformer block's in_proj and mlp.fc weights
    (init) and residual projections attn.out_proj and mlp.proj (proj_init, else init), its four
    biases then 0 (src/nn/transformer.c)."""
    counts = {}
    for kind, pos, opts in spec_lines(text):
        counts[kind] = counts.get(kind, 0) + 1
        if kind not in ("embedding", "positional", "transformer") or "init" not in opts:
            continue
        mod = getattr(model, opts.get("name", f"{kind}_{counts[kind]}"))
        mean, std = normal_init(opts["init"])
        with torch.no_grad():
            if kind != "transformer":
                mod.weight.normal_(mean, std)
                continue
            pmean, pstd = normal_init(opts.get("proj_init", opts["init"]))
            mod.attn.in_proj_weight.normal_(mean, std)
            mod.attn.out_proj.weight.normal_(pmean, pstd)
            mod.mlp.fc.weight.normal_(mean, std)
            mod.mlp.proj.weight.normal_(pmean, pstd)
            for b in (mod.attn.in_proj_bias, mod.attn.out_proj.bias, mod.mlp.fc.bias,
                      mod.mlp.proj.bias):
                if b is not None:
                    b.zero_()


def make_optimizer(params, kind, o):
    lr = float(o.get("lr", 1e-3))
    betas = (float(o.get("beta1", 0.9)), float(o.get("beta2", 0.999)))
    eps = float(o.get("eps", 1e-8))
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps,
                                weight_decay=float(o.get("weight_decay", 0)))
    if kind != "adamw":
        sys.exit(f"lm_learn.py: optimizer {kind} is not handled here")
    wd = float(o.get("weight_decay", 0.01))
    if o.get("decay") == "matrices":
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": wd},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    else:
        groups = [{"params": params, "weight_decay": wd}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def val_loss(model, ids, train_n, T, B):
    model.eval()
    windows = (len(ids) - train_n - 1) // T
    total = 0.0
    with torch.no_grad():
        for b in range(0, windows, B):
            n = min(B, windows - b)
            starts = train_n + (torch.arange(n) + b) * T
            w = torch.stack([ids[s: s + T + 1] for s in starts.tolist()])
            logits = model(w[:, :T])
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                     w[:, 1:].reshape(-1)).item() * n
    model.train()
    return total / windows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=0, help="as nabla's (default N/10)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.spec) as f:
        text = f.read()
    B, T, (opt_kind, opt_opts), clip = recipe(text)
    model = build_from_spec(text)
    apply_spec_init(model, text)
    params = list(model.parameters())
    opt = make_optimizer(params, opt_kind, opt_opts)

    raw = read_corpus(a.data)
    ids = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()
    val_n = int(math.floor(0.1 * len(ids) + 0.5))
    train_n = len(ids) - val_n
    print(f"text: {a.data}, {len(ids)} tokens ({train_n} for training, {val_n} held out); "
          f"{a.steps} steps", flush=True)
    every = a.eval_every or max(1, a.steps // 10)
    model.train()
    t0, run, last = time.time(), 0.0, 0
    for s in range(1, a.steps + 1):
        starts = torch.randint(0, train_n - T, (B,))
        w = torch.stack([ids[i: i + T + 1] for i in starts.tolist()])
        opt.zero_grad()
        logits = model(w[:, :T])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        run += loss.item()
        if s % every == 0 or s == a.steps:
            v = val_loss(model, ids, train_n, T, B)
            print(f"step {s}/{a.steps}  loss {run / (s - last):.4f}  val_loss {v:.4f}  "
                  f"{time.time() - t0:.1f}s", flush=True)
            run, last = 0.0, s
    print(f"val_loss {v:.4f}")


if __name__ == "__main__":
    main()
