"""PyTorch fixtures for models that are graphs (tests/test_graph.c).

Two nabla version-2 specs, built in PyTorch by torch_from_spec.graph_from_spec (one
submodule per layer, named after it) with seeded random weights, batch-norm affine
parameters and running statistics:

  graph_a  a convolutional residual block: conv -> batchnorm -> relu -> conv -> batchnorm,
           added to its input, then relu (ResNet's basic block)
  graph_b  a dense residual block (dense -> relu -> dense, added to its input, relu), a dense
           layer reused on its own output (shared weights), a concatenation, a split into two
           parts and two heads: two outputs

For each: graph_<x>.safetensors holds the weights and buffers under the layers' names with
nabla's metadata (nabla.spec, nabla.format_version 2), as nabla writes a graph's file. In
graph.txt: the input x; in training mode (batch statistics) the outputs y<k> and, for the
loss L = sum_k sum(w<k> * y<k>) with fixed random w<k>, the gradient of every parameter
("grad.<name>", PyTorch's layout) and of x ("grad.x"); the running statistics after that
forward ("after.<name>"); and the outputs in inference mode after it ("eval.y<k>").

Run from the repository root with Debian's python3 (which has torch):

    /usr/bin/python3 tests/ref/gen_graph.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402
import safetensors_io  # noqa: E402
from torch_from_spec import graph_from_spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

SPEC_A = """nabla-spec 2
# ResNet's basic block: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + x)
input 3 5 5 name=x
conv2d 3 3 pad=1 bias=false
batchnorm
activation relu
conv2d 3 3 pad=1 bias=false
batchnorm
add in=batchnorm_2,x
activation relu
"""

SPEC_B = """nabla-spec 2
input 6 name=x
dense 8 relu
dense 6
add in=x,dense_2 name=res
activation relu name=h
dense 6 tanh name=shared
reuse shared
concat in=h,shared@2
split 5,7
dense 3 name=head_a
dense 2 in=split_1:1 name=head_b
output head_a head_b
"""


def randomize(g, gen):
    """Every parameter and buffer away from its default, so that no gradient is trivial."""
    with torch.no_grad():
        for name, p in g.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for name, b in g.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)


def case(fx, key, spec, x_shape, seed):
    gen = torch.Generator().manual_seed(seed)
    g = graph_from_spec(spec)
    randomize(g, gen)
    state = {k: v.detach().clone() for k, v in g.state_dict().items()}
    safetensors_io.save(os.path.join(HERE, f"graph_{key}.safetensors"),
                        {k: v.numpy() for k, v in state.items()},
                        {"format": "pt", "nabla.format_version": "2", "nabla.spec": spec})
    x = (torch.randn(x_shape, generator=gen) * 1.5).requires_grad_(True)
    g.train()
    ys = g(x)
    ys = ys if isinstance(ys, tuple) else (ys,)
    ws = [torch.randn(y.shape, generator=gen) for y in ys]
    loss = sum((w * y).sum() for w, y in zip(ws, ys))
    loss.backward()
    fx.add(f"{key}.x", x)
    for k, (w, y) in enumerate(zip(ws, ys)):
        fx.add(f"{key}.w{k}", w)
        fx.add(f"{key}.y{k}", y)
    for name, p in g.named_parameters():
        fx.add(f"{key}.grad.{name}", p.grad)
    fx.add(f"{key}.grad.x", x.grad)
    for name, b in g.named_buffers():
        if "running" in name:
            fx.add(f"{key}.after.{name}", b)
    g.eval()
    with torch.no_grad():
        ys = g(x)
    ys = ys if isinstance(ys, tuple) else (ys,)
    for k, y in enumerate(ys):
        fx.add(f"{key}.eval.y{k}", y)


def main():
    fx = FixtureWriter(os.path.join(HERE, "graph.txt"),
                       "PyTorch graphs for tests/test_graph.c (written by tests/ref/gen_graph.py)")
    case(fx, "a", SPEC_A, (4, 3, 5, 5), 20240611)
    case(fx, "b", SPEC_B, (7, 6), 20240612)
    fx.write()


if __name__ == "__main__":
    main()
