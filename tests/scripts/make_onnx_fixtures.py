#!/usr/bin/python3
"""tests/scripts/make_onnx_fixtures.py — the PyTorch-made ONNX fixtures test_onnx imports.

Run from the repository root with Debian's python3-torch (and python3-numpy):

    /usr/bin/python3 tests/scripts/make_onnx_fixtures.py

For each model below (fixed seed, eval mode) it writes, under tests/data/onnx/:
  <name>.onnx        torch.onnx.export, opset 17, a dynamic batch dimension
  <name>.input.npy   a batch of inputs (float32; int32 token ids for a model that starts
                     with an embedding, whose ONNX input is int64)
  <name>.output.npy  PyTorch's outputs on that batch (float32)
The models are small (a few KB each) so that the files can be committed. BatchNorm is kept as
BatchNormalization (training=PRESERVE, no constant folding), with running statistics that are
not the defaults, so that the import of every layer is tested, not a folded convolution.
The sequence models are exported with constant folding (torch.onnx.export's default), which
stores each recurrent node's W, R and B as initializers in ONNX's gate order.

It also writes hostile variants of a small LSTM (tests/data/onnx/bad_*.onnx; python3-onnx) that
the import must refuse, naming the node: W of the wrong rank, hidden_size disagreeing with W, an
unsupported activations or clip attribute, direction "reverse", sequence_lens given, a GRU with
linear_before_reset = 0.

`make_onnx_fixtures.py attention` writes only the attention fixtures: nn.MultiheadAttention
(batch_first) and nn.TransformerEncoderLayer(norm_first, batch_first, gelu) as torch exports
them, which nabla's import refuses (its attention import reads nabla's own export; torch's
folds the heads into the batch, splits q, k, v by Slices of computed shapes and scales q by a
Div), naming the node it stops at."""
import os

import numpy as np
import torch
import torch.nn as nn

OUT = "tests/data/onnx"


def randomise_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def mlp():
    return nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(),
        nn.Linear(8, 8), nn.Tanh(),
        nn.Linear(8, 8), nn.LeakyReLU(0.2),
        nn.Linear(8, 8), nn.Sigmoid(),
        nn.Dropout(0.3),
        nn.Linear(8, 8), nn.GELU(),
        nn.BatchNorm1d(8),
        nn.Linear(8, 4), nn.LogSoftmax(dim=1))


def cnn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=(1, 2), dilation=(1, 2), groups=2), nn.ReLU(),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5), nn.Softmax(dim=1))


def gap_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.Tanh(),
        nn.AvgPool2d(2, padding=1),  # count_include_pad=True
        nn.BatchNorm2d(3),
        nn.AdaptiveAvgPool2d(1),     # exported as GlobalAveragePool
        nn.Flatten(),
        nn.Linear(3, 2))


class Seq(nn.Module):
    """An optional embedding, a recurrent layer, then a dense layer on every step or on the
    last steps (x[:, -1, :] is a Gather; x[:, -2:, :] a Slice)."""

    def __init__(self, rnn, out, vocab=0, emb=0, pick=None):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb) if vocab else None
        self.rnn = rnn
        self.fc = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), out)
        self.pick = pick

    def forward(self, x):
        if self.emb is not None:
            x = self.emb(x)
        y = self.rnn(x)[0]
        if self.pick == "last":
            y = y[:, -1, :]
        elif self.pick == "last2":
            y = y[:, -2:, :]
        return self.fc(y)


class LastState(nn.Module):
    """A dense layer on the last layer's final state h_n[-1] (h_n a Concat of the nodes' Y_h)."""

    def __init__(self, rnn, out):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(rnn.hidden_size, out)

    def forward(self, x):
        h = self.rnn(x)[1]
        if isinstance(h, tuple):
            h = h[0]
        return self.fc(h[-1])


def layernorm_mlp():
    return nn.Sequential(
        nn.Linear(6, 8), nn.LayerNorm(8), nn.ReLU(),
        nn.Linear(8, 8), nn.LayerNorm(8, eps=1e-3), nn.Tanh(),
        nn.Linear(8, 3))


def same_cnn(pad):
    """padding "same" (pad=None) or a stand-in padding (torch cannot export "same"; the script
    exports the stand-in and makes its Convs auto_pad SAME_UPPER, which is torch's "same")."""
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=pad or "same"), nn.ReLU(),
        nn.Conv2d(3, 4, (2, 4), padding=pad or "same", dilation=(2, 1)), nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.AvgPool2d(3, stride=2, ceil_mode=True, count_include_pad=False),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


class ViewCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


def randomise_norms(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.LayerNorm):
            n = mod.normalized_shape[0]
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def write(name, model, shape, g, fold=False, vocab=0, export=None, fresh=False, dyn_t=False):
    """dyn_t: the sequence length (axis 1) is dynamic too, and the stored input is three steps
    longer than the one exported with."""
    model.eval()
    randomise_bn(model, g)
    if not fresh:
        randomise_norms(model, g)

    def draw(shape):
        return (torch.randint(0, vocab, shape, generator=g) if vocab else
                torch.randn(*shape, generator=g))

    x = draw(shape)
    axes = {0: "N", 1: "T"} if dyn_t else {0: "N"}
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(export or model, x, path, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": axes, "output": axes},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=fold)
    if dyn_t:
        x = draw((shape[0], shape[1] + 3) + tuple(shape[2:]))
    with torch.no_grad():
        y = model(x)
    np.save(os.path.join(OUT, name + ".input.npy"),
            x.numpy().astype(np.int32 if vocab else np.float32))
    np.save(os.path.join(OUT, name + ".output.npy"), y.numpy().astype(np.float32))
    print("%s: %d bytes, input %s, output %s" % (path, os.path.getsize(path), tuple(x.shape),
                                                  tuple(y.shape)))


def main():
    torch.manual_seed(14)
    g = torch.Generator().manual_seed(14)
    os.makedirs(OUT, exist_ok=True)
    write("torch_mlp", mlp(), (5, 6), g)
    write("torch_cnn", cnn(), (3, 2, 10, 10), g)
    write("torch_gap_cnn", gap_cnn(), (2, 1, 7, 7), g)
    write("torch_char_lstm", Seq(nn.LSTM(5, 6, batch_first=True), 12, vocab=12, emb=5),
          (3, 7), g, fold=True, vocab=12)
    write("torch_lstm2_bi", Seq(nn.LSTM(3, 4, num_layers=2, batch_first=True,
                                        bidirectional=True), 3, pick="last2"),
          (2, 5, 3), g, fold=True)
    write("torch_gru2_bi", Seq(nn.GRU(4, 5, num_layers=2, batch_first=True, bidirectional=True),
                               3, pick="last"), (2, 6, 4), g, fold=True)
    write("torch_gru", Seq(nn.GRU(4, 3, batch_first=True), 2), (2, 4, 4), g, fold=True)
    write("torch_rnn_relu", Seq(nn.RNN(4, 5, num_layers=2, nonlinearity="relu", batch_first=True),
                                3, pick="last"), (3, 6, 4), g, fold=True)
    write("torch_rnn_tanh_bi", Seq(nn.RNN(3, 4, batch_first=True, bidirectional=True), 2,
                                   vocab=9, emb=3), (2, 5), g, fold=True, vocab=9)
    write("torch_layernorm_mlp", layernorm_mlp(), (4, 6), g)
    write_same_cnn(g)
    write("torch_view_cnn", ViewCNN(), (2, 1, 6, 6), g)
    # ceil_mode without padding (count_include_pad=True: a Pad of zeros before the pool)
    write("torch_avg_ceil", nn.Sequential(nn.AvgPool2d(3, stride=2, ceil_mode=True),
                                          nn.MaxPool2d(2, ceil_mode=True), nn.Flatten()),
          (2, 2, 6, 6), g)
    hostile(g)
    write("torch_lstm2_hn", LastState(nn.LSTM(3, 4, num_layers=2, batch_first=True), 2),
          (2, 5, 3), g, fold=True)
    # layer norms as initialised (weight 1, bias 0): torch writes Identity nodes for the
    # weights equal to others
    ln = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 6),
                       nn.LayerNorm(6), nn.Linear(6, 2))
    write("torch_ln_fresh", ln, (3, 4), g, fresh=True)
    # a sequence length known only at run time: the stored input is longer than the export's
    write("torch_gru2_dyn", Seq(nn.GRU(5, 6, num_layers=2, batch_first=True, bidirectional=True),
                                7, vocab=11, emb=5), (2, 4), g, fold=True, vocab=11, dyn_t=True)


def same_pad(x, conv, lower):
    """x padded as auto_pad SAME_UPPER (odd pixel at the end) or SAME_LOWER (at the start)."""
    pads = []
    for k, d, n in reversed(list(zip(conv.kernel_size, conv.dilation, x.shape[2:]))):
        total = max((k - 1) * d + 1 - 1, 0)  # stride 1: out = in
        small = total // 2
        pads += [total - small, small] if lower else [small, total - small]
    return nn.functional.pad(x, pads)


def write_same_cnn(g):
    """torch_same_cnn (auto_pad SAME_UPPER: torch's padding "same") and torch_same_lower_cnn
    (SAME_LOWER, whose PyTorch reference pads by hand)."""
    import onnx
    import onnx.helper as oh
    eager, twin = same_cnn(None), same_cnn(1)
    twin.load_state_dict(eager.state_dict())
    write("torch_same_cnn", eager, (2, 2, 7, 7), g, export=twin)
    exported = onnx.load(os.path.join(OUT, "torch_same_cnn.onnx"))
    for name, mode in (("torch_same_cnn", "SAME_UPPER"), ("torch_same_lower_cnn", "SAME_LOWER")):
        m = onnx.ModelProto()
        m.CopyFrom(exported)
        for n in m.graph.node:
            if n.op_type == "Conv":
                keep = [a for a in n.attribute if a.name not in ("pads", "auto_pad")]
                del n.attribute[:]
                n.attribute.extend(keep + [oh.make_attribute("auto_pad", mode)])
        del m.graph.value_info[:]
        onnx.save(m, os.path.join(OUT, name + ".onnx"))
    # the SAME_LOWER reference: each Conv on its input padded by hand
    x = torch.from_numpy(np.load(os.path.join(OUT, "torch_same_cnn.input.npy")))
    with torch.no_grad():
        for mod in eager:
            if isinstance(mod, nn.Conv2d):
                x = nn.functional.conv2d(same_pad(x, mod, True), mod.weight, mod.bias,
                                         dilation=mod.dilation)
            else:
                x = mod(x)
    np.save(os.path.join(OUT, "torch_same_lower_cnn.input.npy"),
            np.load(os.path.join(OUT, "torch_same_cnn.input.npy")))
    np.save(os.path.join(OUT, "torch_same_lower_cnn.output.npy"), x.numpy().astype(np.float32))


def hostile(g):
    """Variants of a small LSTM that the import must refuse, each naming the node."""
    import onnx
    import onnx.helper as oh
    import onnx.numpy_helper as nh
    model = Seq(nn.LSTM(2, 2, batch_first=True), 2).eval()
    x = torch.randn(1, 3, 2, generator=g)
    path = os.path.join(OUT, "bad_lstm.onnx")
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    base = onnx.load(path)
    os.remove(path)

    def node(m, op):
        return next(n for n in m.graph.node if n.op_type == op)

    def init(m, name):
        return next(t for t in m.graph.initializer if t.name == name)

    def variant(name, change):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        change(m)
        p = os.path.join(OUT, "bad_%s.onnx" % name)
        onnx.save(m, p)
        print("%s: %d bytes" % (p, os.path.getsize(p)))

    def w_dims(m):  # W [1, 8, 2] → [8, 2]
        t = init(m, node(m, "LSTM").input[1])
        t.CopyFrom(nh.from_array(nh.to_array(t)[0], t.name))

    def hidden(m):
        for a in node(m, "LSTM").attribute:
            if a.name == "hidden_size":
                a.i = 3

    def acts(m):
        node(m, "LSTM").attribute.append(oh.make_attribute("activations",
                                                           ["Sigmoid", "Relu", "Tanh"]))

    def clip(m):
        node(m, "LSTM").attribute.append(oh.make_attribute("clip", 3.0))

    def reverse(m):
        node(m, "LSTM").attribute.append(oh.make_attribute("direction", "reverse"))

    def seq_lens(m):
        n = node(m, "LSTM")
        m.graph.initializer.append(nh.from_array(np.array([3], dtype=np.int32), "lens"))
        n.input[4] = "lens"

    def gru_lbr0(m):  # the LSTM as a GRU of the same sizes, linear_before_reset 0
        n = node(m, "LSTM")
        n.op_type = "GRU"
        for k in (1, 2, 3):
            t = init(m, n.input[k])
            a = nh.to_array(t)
            a = a[:, :6] if k < 3 else np.concatenate([a[:, :6], a[:, 8:14]], axis=1)
            t.CopyFrom(nh.from_array(np.ascontiguousarray(a), t.name))
        del n.input[6:]
        del n.output[2:]

    # an LSTM exported without constant folding: its weights are Slices and Concats of the
    # initializers (refused, asking for constant folding)
    path = os.path.join(OUT, "bad_unfolded.onnx")
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                      do_constant_folding=False)
    print("%s: %d bytes" % (path, os.path.getsize(path)))
    # x[:, -1, :] of a sequence whose length is known only at run time
    path = os.path.join(OUT, "bad_dyn_last.onnx")
    torch.onnx.export(Seq(nn.LSTM(2, 2, batch_first=True), 2, pick="last").eval(), x, path,
                      opset_version=17, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N", 1: "T"}, "output": {0: "N"}})
    print("%s: %d bytes" % (path, os.path.getsize(path)))
    # average pooling with ceil_mode, padding and count_include_pad (PyTorch's divisor for the
    # extra window is not expressible)
    path = os.path.join(OUT, "bad_avg_ceil.onnx")
    torch.onnx.export(nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)).eval(),
                      torch.randn(1, 1, 4, 4, generator=g), path, opset_version=17,
                      input_names=["input"], output_names=["output"])
    print("%s: %d bytes" % (path, os.path.getsize(path)))

    def h0_ones(m):  # an initial state that is not zeros
        n = node(m, "LSTM")
        m.graph.initializer.append(nh.from_array(np.ones((1, 1, 2), dtype=np.float32), "h0"))
        n.input[5] = "h0"

    def y_out(m):  # the graph's output is Y itself, time-major
        m.graph.output[0].name = node(m, "LSTM").output[0]

    for name, change in [("h0_ones", h0_ones), ("y_out", y_out), ("w_dims", w_dims), ("hidden", hidden), ("acts", acts), ("clip", clip),
                         ("reverse", reverse), ("seq_lens", seq_lens), ("gru_lbr0", gru_lbr0)]:
        variant(name, change)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention called as self-attention, its output alone."""

    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def attention():
    g = torch.Generator().manual_seed(17)
    torch.manual_seed(17)
    write("torch_mha", SelfAttention(8, 2), (2, 5, 8), g, fold=True)
    write("torch_encoder", nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                                      activation="gelu", norm_first=True,
                                                      batch_first=True), (2, 5, 8), g, fold=True)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["attention"]:
        attention()
    else:
        main()
