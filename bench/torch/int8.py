#!/usr/bin/python3
"""The PyTorch twin of bench/bench_int8.c: inference speed of the Fashion-MNIST MLP
(784-256-128-10, ReLU) and CNN (examples/specs/fmnist_cnn.spec) in float and in PyTorch's own
int8 (torch.ao.quantization, eager-mode post-training static quantization: conv/linear fused
with their ReLU, the engine's default qconfig, calibrated on random images), at batch 1 and 64.

    /usr/bin/python3 bench/torch/int8.py [--model mlp|cnn|all] [--batch B] [--threads N]
                                         [--repeats R] [--engine fbgemm|x86|onednn|qnnpack]

The engine defaults to fbgemm when this PyTorch has it, else x86, onednn, qnnpack (Debian's
python3-torch 1.13 ships onednn and qnnpack only); the line printed names the one used. Each
configuration: a warm-up, then the median of R timings of about 0.2 s, in samples/second of
wall time and of this process's CPU time (the steadier one on a shared machine), in the
format of bench_int8. Run it with OMP_WAIT_POLICY=passive above 1 thread (see bench/torch/cnn.py)."""
import argparse
import statistics
import time

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import models
import torch
import torch.ao.quantization as tq


def build(cnn):
    return models.fmnist_cnn() if cnn else models.fmnist_mlp()


class Quantized(torch.nn.Module):
    def __init__(self, body):
        super().__init__()
        self.quant, self.body, self.dequant = tq.QuantStub(), body, tq.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.body(self.quant(x)))


def quantize(model, cnn, engine, shape):
    q = Quantized(model).eval()
    pairs = [["0", "1"], ["3", "4"], ["7", "8"]] if cnn else [["0", "1"], ["2", "3"]]
    tq.fuse_modules(q.body, pairs, inplace=True)
    q.qconfig = tq.get_default_qconfig(engine)
    tq.prepare(q, inplace=True)
    with torch.no_grad():
        q(torch.rand([512] + shape))
    tq.convert(q, inplace=True)
    return q


def rates(fn, x, batch, repeats):
    with torch.no_grad():
        calls = 1
        while True:  # calls per timing: about 0.2 s
            t0 = time.perf_counter()
            for _ in range(calls):
                fn(x)
            dt = time.perf_counter() - t0
            if dt > 0.05:
                calls = int(calls * 0.2 / dt) + 1
                break
            calls *= 4
        wall, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                fn(x)
            wall.append(calls * batch / (time.perf_counter() - t0))
            cpu.append(calls * batch / (time.process_time() - c0))
    return statistics.median(wall), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["mlp", "cnn", "all"], default="all")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--engine", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    engines = torch.backends.quantized.supported_engines
    engine = a.engine or next(e for e in ("fbgemm", "x86", "onednn", "qnnpack") if e in engines)
    torch.backends.quantized.engine = engine
    torch.manual_seed(0)
    for cnn in (False, True):
        if a.model != "all" and a.model != ("cnn" if cnn else "mlp"):
            continue
        shape = [1, 28, 28] if cnn else [784]
        f32 = build(cnn).eval()
        q = quantize(build(cnn).eval(), cnn, engine, shape)
        for batch in ([a.batch] if a.batch else [1, 64]):
            x = torch.rand([batch] + shape)
            fw, fc = rates(f32, x, batch, a.repeats)
            qw, qc = rates(q, x, batch, a.repeats)
            print(f"torch {torch.__version__} int8 {'cnn' if cnn else 'mlp'} batch {batch} "
                  f"threads {a.threads} engine {engine}: f32 {fw:.0f} samples/s (cpu {fc:.0f}), "
                  f"int8 {qw:.0f} samples/s (cpu {qc:.0f}), ratio {qw / fw:.2f} "
                  f"(cpu {qc / fc:.2f})", flush=True)


if __name__ == "__main__":
    main()
