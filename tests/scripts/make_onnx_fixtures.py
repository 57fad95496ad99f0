#!/usr/bin/python3
"""tests/scripts/make_onnx_fixtures.py — the PyTorch-made ONNX fixtures test_onnx imports.

Run from the repository root with Debian's python3-torch (and python3-numpy):

    /usr/bin/python3 tests/scripts/make_onnx_fixtures.py

For each model below (fixed seed, eval mode) it writes, under tests/data/onnx/:
  <name>.onnx        torch.onnx.export, opset 17, a dynamic batch dimension
  <name>.input.npy   a batch of inputs (float32)
  <name>.output.npy  PyTorch's outputs on that batch (float32)
The models are small (a few KB each) so that the files can be committed. BatchNorm is kept as
BatchNormalization (training=PRESERVE, no constant folding), with running statistics that are
not the defaults, so that the import of every layer is tested, not a folded convolution."""
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


def write(name, model, shape, g):
    model.eval()
    randomise_bn(model, g)
    x = torch.randn(*shape, generator=g)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    np.save(os.path.join(OUT, name + ".input.npy"), x.numpy().astype(np.float32))
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


if __name__ == "__main__":
    main()
