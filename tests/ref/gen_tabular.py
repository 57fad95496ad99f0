"""Reference for tests/test_tabular.c: the Huber loss and the class-weighted cross-entropy in
PyTorch (float32: the loss and its gradient), and the metrics nabla reports for tables,
computed by scikit-learn on fixed data (R², RMSE, MAE; precision, recall, F1 macro and micro,
ROC-AUC one-vs-rest, binary and multilabel).

    huber_pred, huber_y [6, 2]      huber_loss [], huber_grad [6, 2]        HuberLoss(delta=1)
    wce_logits [8, 3], wce_labels [8], wce_weight [3]
                                    wce_loss [], wce_grad [8, 3]    CrossEntropyLoss(weight=w)
    reg_y, reg_pred [20, 2]         reg_r2, reg_rmse, reg_mae       r2_score, mean_squared_error
                                                                    (squared=False), MAE; each
                                                                    averaged over the outputs
    mc_logits [30, 3], mc_labels [30]
                                    mc_metrics [7]: accuracy, precision_macro, recall_macro,
                                    f1_macro, f1_micro, roc_auc (ovr macro of softmax), 0
    bin_logits [25], bin_labels [25]
                                    bin_metrics [7]: accuracy, precision, recall, f1, f1_macro,
                                    f1_micro, roc_auc
    ml_logits [15, 3], ml_labels [15, 3]
                                    ml_metrics [4]: precision_macro, recall_macro, f1_macro,
                                    f1_micro, then roc_auc (macro) as ml_auc []

Needs Debian's python3-torch and python3-sklearn; run from the repository root:
    /usr/bin/python3 tests/ref/gen_tabular.py
"""
import os
import sys

import numpy as np
import torch
from sklearn import metrics as skm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

rng = np.random.default_rng(12)
out = FixtureWriter(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tabular.txt"),
                    __doc__.split("\n\n")[0])


def grid(a):
    """Values on a 2^-10 grid: exact in float32 and in the text file."""
    return np.round(np.asarray(a) * 1024) / 1024


# Huber, delta 1: residuals both sides of 1
p = torch.tensor(grid(rng.normal(0, 1.5, (6, 2))), dtype=torch.float32, requires_grad=True)
y = torch.tensor(grid(rng.normal(0, 1.0, (6, 2))), dtype=torch.float32)
loss = torch.nn.HuberLoss(delta=1.0)(p, y)
loss.backward()
out.add("huber_pred", p)
out.add("huber_y", y)
out.add("huber_loss", loss)
out.add("huber_grad", p.grad)

# cross-entropy with class weights (the weighted mean)
z = torch.tensor(grid(rng.normal(0, 2, (8, 3))), dtype=torch.float32, requires_grad=True)
lab = torch.tensor([0, 2, 1, 1, 0, 2, 2, 1])
w = torch.tensor([0.5, 2.0, 1.25])
loss = torch.nn.CrossEntropyLoss(weight=w)(z, lab)
loss.backward()
out.add("wce_logits", z)
out.add("wce_labels", lab.float())
out.add("wce_weight", w)
out.add("wce_loss", loss)
out.add("wce_grad", z.grad)

# regression metrics, two outputs of different scales
ry = grid(rng.normal(0, [1.0, 30.0], (20, 2)))
rp = grid(ry + rng.normal(0, [0.4, 20.0], (20, 2)))
ry32, rp32 = ry.astype(np.float32), rp.astype(np.float32)
out.add("reg_y", ry32)
out.add("reg_pred", rp32)
out.add("reg_r2", np.array(skm.r2_score(ry32, rp32)))
out.add("reg_rmse", np.array(skm.mean_squared_error(ry32, rp32, squared=False)))
out.add("reg_mae", np.array(skm.mean_absolute_error(ry32, rp32)))

# three classes: predictions from the logits, probabilities their softmax
mz = grid(rng.normal(0, 1.5, (30, 3))).astype(np.float32)
ml = rng.integers(0, 3, 30)
mz[np.arange(30), ml] += 0.75  # better than chance
mp = torch.softmax(torch.tensor(mz, dtype=torch.float64), 1).numpy()
pred = mz.argmax(1)
pr, rc, f1, _ = skm.precision_recall_fscore_support(ml, pred, average="macro", zero_division=0)
out.add("mc_logits", mz)
out.add("mc_labels", ml.astype(np.float32))
out.add("mc_metrics", np.array([skm.accuracy_score(ml, pred), pr, rc, f1,
                                skm.f1_score(ml, pred, average="micro"),
                                skm.roc_auc_score(ml, mp, multi_class="ovr", average="macro"), 0]))

# binary: one logit per sample, threshold 0
bz = grid(rng.normal(0, 1.5, 25)).astype(np.float32)
bl = (rng.random(25) < 1 / (1 + np.exp(-1.5 * bz))).astype(int)
bp = (bz > 0).astype(int)
out.add("bin_logits", bz)
out.add("bin_labels", bl.astype(np.float32))
out.add("bin_metrics", np.array([skm.accuracy_score(bl, bp), skm.precision_score(bl, bp),
                                 skm.recall_score(bl, bp), skm.f1_score(bl, bp),
                                 skm.f1_score(bl, bp, average="macro"),
                                 skm.f1_score(bl, bp, average="micro"),
                                 skm.roc_auc_score(bl, bz)]))

# multilabel: three yes/no labels
lz = grid(rng.normal(0, 1.5, (15, 3))).astype(np.float32)
ll = (rng.random((15, 3)) < 1 / (1 + np.exp(-lz))).astype(int)
lp = (lz > 0).astype(int)
pr, rc, f1, _ = skm.precision_recall_fscore_support(ll, lp, average="macro", zero_division=0)
out.add("ml_logits", lz)
out.add("ml_labels", ll.astype(np.float32))
out.add("ml_metrics", np.array([pr, rc, f1, skm.f1_score(ll, lp, average="micro")]))
out.add("ml_auc", np.array(skm.roc_auc_score(ll, lz, average="macro")))
out.write()
