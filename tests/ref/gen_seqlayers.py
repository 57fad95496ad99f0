"""PyTorch fixtures for the sequence layers (tests/test_seqlayers.c).

Each case is a version-2 spec built in PyTorch by torch_from_spec.graph_from_spec — one
submodule per layer, named after it, the sequence layers being the modules written there
(nn.LSTM/GRU/RNN with batch_first, nn.MultiheadAttention, nn.LayerNorm, nn.Embedding, the
TransformerBlock, ...) — with seeded random parameters (dropout 0, so that training mode is
deterministic):

  lstm       2 layers, bidirectional, initial h0 and c0 given, variable lengths
  gru        the same without c0
  rnn        relu, 2 layers, bidirectional, lengths from an f32 mask, h0 given
  rnn_tanh   one layer, tanh, no initial state, full lengths
  attention  multi-head self-attention (2 heads), causal, an i32 key padding mask
  norms      layernorm (eps 1e-3) then rmsnorm
  block      a pre-LN transformer block (4 heads, ffn 24, causal)
  gpt        a char-GPT in miniature: embedding, learned positions, a causal block, layernorm
             and an output head tied to the embedding (with its own bias)
  charlstm   a char-LSTM in miniature: embedding, a 2-layer LSTM, a dense head on [T, H]
  emb        an embedding with padding_idx, sinusoidal positions, a dense head on [T, E]

For each: seqlayers_<key>.safetensors holds the parameters under the layers' names with
nabla's metadata (nabla.spec, nabla.format_version 2), as nabla writes a graph's file. In
seqlayers.txt: the inputs x<i> (integer ones as floats), the outputs y<k>, and for the loss
L = sum_k sum(w<k> * y<k>) with fixed random w<k> the gradient of every parameter
("grad.<name>", PyTorch's layout) and of every f32 input ("grad.x<i>").

Run from the repository root with Debian's python3 (which has torch):

    /usr/bin/python3 tests/ref/gen_seqlayers.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402
import safetensors_io  # noqa: E402
from torch_from_spec import graph_from_spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
B = 3

CASES = {
    "lstm": """nabla-spec 2
input 5 3 name=x
input 4 6 name=h0
input 4 6 name=c0
input scalar dtype=i32 name=len
lstm 6 layers=2 bidirectional=true in=x,h0,c0,len
output lstm_1 lstm_1:1 lstm_1:2
""",
    "gru": """nabla-spec 2
input 5 3 name=x
input 4 4 name=h0
input scalar dtype=i32 name=len
gru 4 layers=2 bidirectional=true in=x,h0,len
output gru_1 gru_1:1
""",
    "rnn": """nabla-spec 2
input 6 2 name=x
input 4 5 name=h0
input 6 name=mask
rnn 5 relu layers=2 bidirectional=true in=x,h0,mask
output rnn_1 rnn_1:1
""",
    "rnn_tanh": """nabla-spec 2
input 4 3 name=x
rnn 5
output rnn_1 rnn_1:1
""",
    "attention": """nabla-spec 2
input 6 8 name=x
input 6 dtype=i32 name=mask
attention 8 heads=2 causal=true in=x,mask
""",
    "norms": """nabla-spec 2
input 4 8 name=x
layernorm eps=0.001
rmsnorm
""",
    "block": """nabla-spec 2
input 7 16 name=x
transformer 16 heads=4 ffn=24 causal=true
""",
    "gpt": """nabla-spec 2
input 6 dtype=i32 name=tokens
embedding 11 8
positional 6
transformer 8 heads=2 causal=true
layernorm
tied_dense embedding_1 bias=true
""",
    "charlstm": """nabla-spec 2
input None dtype=i32 name=tokens
embedding 12 8
lstm 10 layers=2
dense 12
""",
    "emb": """nabla-spec 2
input 5 dtype=i32 name=tokens
embedding 9 6 padding_idx=0
sinusoidal
dense 4
""",
}


def inputs_for(key, g, gen):
    """The batch of each input, in the spec's input order."""
    if key == "lstm":
        return [torch.randn(B, 5, 3, generator=gen), torch.randn(B, 4, 6, generator=gen),
                torch.randn(B, 4, 6, generator=gen), torch.tensor([5, 2, 4], dtype=torch.int32)]
    if key == "gru":
        return [torch.randn(B, 5, 3, generator=gen), torch.randn(B, 4, 4, generator=gen),
                torch.tensor([3, 5, 1], dtype=torch.int32)]
    if key == "rnn":
        mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]],
                            dtype=torch.float32)
        return [torch.randn(B, 6, 2, generator=gen), torch.randn(B, 4, 5, generator=gen) * 0.5,
                mask]
    if key == "rnn_tanh":
        return [torch.randn(B, 4, 3, generator=gen)]
    if key == "attention":
        mask = torch.tensor([[0, 0, 0, 0, 1, 1], [0] * 6, [0, 0, 0, 1, 1, 1]], dtype=torch.int32)
        return [torch.randn(B, 6, 8, generator=gen), mask]
    if key == "norms":
        return [torch.randn(B, 4, 8, generator=gen) * 2 + 0.5]
    if key == "block":
        return [torch.randn(B, 7, 16, generator=gen)]
    if key == "gpt":
        return [torch.randint(0, 11, (B, 6), generator=gen, dtype=torch.int32)]
    if key == "charlstm":
        return [torch.randint(0, 12, (B, 7), generator=gen, dtype=torch.int32)]
    if key == "emb":
        ids = torch.randint(0, 9, (B, 5), generator=gen, dtype=torch.int32)
        ids[0, 1] = 0  # the padding row is looked up, and gets no gradient
        return [ids]
    raise KeyError(key)


def case(fx, key, spec, seed):
    gen = torch.Generator().manual_seed(seed)
    g = graph_from_spec(spec)
    with torch.no_grad():
        for name, p in g.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for mod in g.modules():  # nn.Embedding's padding row stays 0, as PyTorch starts it
            if isinstance(mod, torch.nn.Embedding) and mod.padding_idx is not None:
                mod.weight[mod.padding_idx].zero_()
    state = {k: v.detach().clone() for k, v in g.state_dict().items()}
    safetensors_io.save(os.path.join(HERE, f"seqlayers_{key}.safetensors"),
                        {k: v.numpy() for k, v in state.items()},
                        {"format": "pt", "nabla.format_version": "2", "nabla.spec": spec})
    xs = inputs_for(key, g, gen)
    for x in xs:
        if x.is_floating_point():
            x.requires_grad_(True)
    g.train()
    ys = g(*[x.long() if not x.is_floating_point() else x for x in xs])
    ys = ys if isinstance(ys, tuple) else (ys,)
    ws = [torch.randn(y.shape, generator=gen) for y in ys]
    loss = sum((w * y).sum() for w, y in zip(ws, ys))
    loss.backward()
    for i, x in enumerate(xs):
        fx.add(f"{key}.x{i}", x.float())
        if x.is_floating_point() and x.grad is not None:  # not a mask
            fx.add(f"{key}.grad.x{i}", x.grad)
    for k, (w, y) in enumerate(zip(ws, ys)):
        fx.add(f"{key}.w{k}", w)
        fx.add(f"{key}.y{k}", y)
    for name, p in g.named_parameters():
        fx.add(f"{key}.grad.{name}", p.grad)


def main():
    fx = FixtureWriter(os.path.join(HERE, "seqlayers.txt"),
                       "PyTorch sequence layers for tests/test_seqlayers.c (written by "
                       "tests/ref/gen_seqlayers.py, torch %s)" % torch.__version__)
    for i, (key, spec) in enumerate(CASES.items()):
        case(fx, key, spec, 20260301 + i)
    fx.write()


if __name__ == "__main__":
    main()
