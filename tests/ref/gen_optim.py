"""Reference trajectories for tests/test_optim.c from torch.optim (Debian's python3-torch).

Every optimizer configuration runs 10 steps on one small parameter vector p (float32) whose
gradient is a fixed function of p that C reproduces exactly in float32:

    grad(p) = 2 (p - target) + 0.1 p·p·p

(the gradient of |p - target|² + p⁴/40; the cubic term makes the steps non-trivial). The
fixture holds p0, target and, for each configuration, the 10 parameter vectors after each
step. Configurations that pass only lr (or nothing) check nabla's defaults — a zero field is
PyTorch's default — and those that pass a 0 where the default is not 0 check NB_ZERO. Gradient clipping is checked on grad(p0); every learning-rate schedule is recorded
over 20 steps (the lr in force at steps 0..19).

    /usr/bin/python3 tests/ref/gen_optim.py      # from the repository root
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

STEPS = 10
SCHED_STEPS = 20
BASE_LR = 0.1


def grad_fn(p):
    # float32 throughout, in the order C computes it: (2 (p - t)) + (0.1 (p p p))
    return 2.0 * (p - TARGET) + 0.1 * (p * p * p)


torch.manual_seed(20260101)
P0 = (torch.rand(7) * 3.0 - 1.5).float()
TARGET = (torch.rand(7) * 2.0 - 1.0).float()

# name -> (optimizer class, keyword arguments)
CONFIGS = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", torch.optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.1)),
    ("adam", torch.optim.Adam, dict(lr=0.1)),
    # beta2 0.5 makes v follow the shrinking gradients down, so the max of amsgrad matters
    ("adam_amsgrad", torch.optim.Adam, dict(lr=0.1, betas=(0.8, 0.5), amsgrad=True)),
    ("adam_weight_decay", torch.optim.Adam, dict(lr=0.1, weight_decay=0.1)),
    ("adamw", torch.optim.AdamW, dict(lr=0.1, weight_decay=0.1)),
    ("adamw_amsgrad", torch.optim.AdamW, dict(lr=0.05, betas=(0.9, 0.6), weight_decay=0.2,
                                              amsgrad=True)),
    # lr only: every other setting is the class's default (nabla: a struct {.lr = x})
    ("adamw_lr_only", torch.optim.AdamW, dict(lr=0.1)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop_centered_momentum", torch.optim.RMSprop,
     dict(lr=0.01, alpha=0.9, centered=True, momentum=0.9, weight_decay=0.05)),
    ("adagrad", torch.optim.Adagrad, dict(lr=0.1)),
    ("adagrad_decay", torch.optim.Adagrad,
     dict(lr=0.2, lr_decay=0.05, initial_accumulator_value=0.1, eps=1e-6, weight_decay=0.01)),
    # nothing set: the class's defaults, lr included (nabla: an all-zero struct or NULL).
    # SGD's lr had no default before PyTorch 2.2; 1e-3 is the default it has had since.
    ("sgd_all_default", torch.optim.SGD, dict(lr=1e-3)),
    ("adam_all_default", torch.optim.Adam, dict()),
    ("adamw_all_default", torch.optim.AdamW, dict()),
    ("rmsprop_all_default", torch.optim.RMSprop, dict()),
    ("adagrad_all_default", torch.optim.Adagrad, dict()),
    # a real zero where the default is not zero (nabla: NB_ZERO)
    ("adam_beta1_zero", torch.optim.Adam, dict(lr=0.1, betas=(0.0, 0.999))),
    ("adamw_no_decay", torch.optim.AdamW, dict(lr=0.1, weight_decay=0.0)),
    ("rmsprop_alpha_zero", torch.optim.RMSprop, dict(lr=0.01, alpha=0.0)),
]


# Parameter groups: weight decay on the matrices only (nanoGPT's recipe; nabla's
# NB_DECAY_MATRICES). Four tensors in a store's order — a [2, 3] matrix, a [3] vector, a
# [3, 2] matrix, a [2] vector — the same gradient function elementwise, and the optimizer
# given two groups: the matrices with the weight decay, the vectors with weight_decay 0.
GROUP_SHAPES = [(2, 3), (3,), (3, 2), (2,)]
_gen = torch.Generator().manual_seed(20260202)
G_P0 = (torch.rand(17, generator=_gen) * 3.0 - 1.5).float()
G_TARGET = (torch.rand(17, generator=_gen) * 2.0 - 1.0).float()
GROUP_CONFIGS = [
    ("groups_adamw", torch.optim.AdamW, dict(lr=0.1, betas=(0.9, 0.95), weight_decay=0.1)),
    ("groups_adam", torch.optim.Adam, dict(lr=0.1, weight_decay=0.2)),
    ("groups_sgd", torch.optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.3)),
]


def group_trajectory(cls, kw):
    ps, k = [], 0
    for shape in GROUP_SHAPES:
        n = 1
        for d in shape:
            n *= d
        ps.append(torch.nn.Parameter(G_P0[k:k + n].clone().reshape(shape)))
        k += n
    decay = [p for p in ps if p.dim() >= 2]
    rest = [p for p in ps if p.dim() < 2]
    opt = cls([{"params": decay}, {"params": rest, "weight_decay": 0.0}], **kw)
    rows = []
    for _ in range(STEPS):
        opt.zero_grad()
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in ps])
            g = 2.0 * (flat - G_TARGET) + 0.1 * (flat * flat * flat)
            k = 0
            for p in ps:
                p.grad = g[k:k + p.numel()].reshape(p.shape).clone()
                k += p.numel()
        opt.step()
        rows.append(torch.cat([p.detach().reshape(-1) for p in ps]))
    return torch.stack(rows)


def trajectory(cls, kw):
    p = torch.nn.Parameter(P0.clone())
    opt = cls([p], **kw)
    rows = []
    for _ in range(STEPS):
        opt.zero_grad()
        with torch.no_grad():
            p.grad = grad_fn(p.detach())
        opt.step()
        rows.append(p.detach().clone())
    return torch.stack(rows)


def schedule(make):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=BASE_LR)
    sched = make(opt)
    lrs = []
    for _ in range(SCHED_STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(lrs, dtype=torch.float64)


S = torch.optim.lr_scheduler
SCHEDULES = [
    ("step", lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
    ("multistep", lambda o: S.MultiStepLR(o, milestones=[2, 5, 11], gamma=0.3)),
    ("exponential", lambda o: S.ExponentialLR(o, gamma=0.9)),
    ("cosine", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    ("linear_warmup", lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8)),
    ("linear_decay", lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=10)),
    ("warmup_cosine", lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=15)],
        milestones=[5])),
    ("warmup_step", lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.5, total_iters=3), S.StepLR(o, step_size=4, gamma=0.5)],
        milestones=[3])),
]


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.txt")
    w = FixtureWriter(out, "torch.optim reference trajectories; written by tests/ref/gen_optim.py\n"
                      "torch " + torch.__version__)
    w.add("p0", P0)
    w.add("target", TARGET)
    for name, cls, kw in CONFIGS:
        w.add(name, trajectory(cls, kw))
    g = grad_fn(P0)
    w.add("clip_grad", g)
    for max_norm in (1.0, 100.0):
        p = torch.nn.Parameter(P0.clone())
        p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_([p], max_norm)
        tag = "clip_norm_%g" % max_norm
        w.add(tag + "_norm", norm.reshape(1))
        w.add(tag, p.grad)
    p = torch.nn.Parameter(P0.clone())
    p.grad = g.clone()
    torch.nn.utils.clip_grad_value_([p], 0.5)
    w.add("clip_value_0.5", p.grad)
    for name, make in SCHEDULES:
        w.add("sched_" + name, schedule(make))
    w.add("groups_p0", G_P0)
    w.add("groups_target", G_TARGET)
    for name, cls, kw in GROUP_CONFIGS:
        w.add(name, group_trajectory(cls, kw))
    w.write()
    print("wrote", out)


if __name__ == "__main__":
    main()
