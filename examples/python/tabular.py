"""A notebook-style script: a table from a CSV (or a generated one), a small MLP trained with
nabla through Python, evaluated on a held-out part, and its loss curve plotted when
matplotlib is installed.

    python3 examples/python/tabular.py [data.csv]   # last column: the class label (0..k-1)
"""
import sys

import numpy as np

import nabla

# --- the data: a CSV with a header (features..., label), or two noisy interleaved moons ----
if len(sys.argv) > 1:
    table = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, dtype=np.float64)
    x, y = table[:, :-1].astype(np.float32), table[:, -1].astype(np.int32)
else:
    rng = np.random.default_rng(0)
    n = 600
    t = rng.uniform(0, np.pi, n)
    y = (rng.uniform(size=n) < 0.5).astype(np.int32)
    x = np.stack([np.cos(t) + y, np.sin(t) * (1 - 2 * y) + 0.5 * y], 1)
    x = (x + rng.normal(0, 0.1, x.shape)).astype(np.float32)

# --- standardise with the training part's statistics, hold out a fifth ----------------------
cut = len(x) * 4 // 5
mu, sd = x[:cut].mean(0), x[:cut].std(0) + 1e-6
x = ((x - mu) / sd).astype(np.float32)
classes = int(y.max()) + 1

# --- the model, the optimizer, the training -----------------------------------------------------
net = nabla.Sequential([x.shape[1]], seed=1).dense(32, "relu").dense(32, "relu").dense(classes)
print(net.summary())
history = net.fit(nabla.Adam(net, lr=0.01), x[:cut], y[:cut], epochs=40, batch_size=32, seed=1)
for e in (0, 9, 19, 39):
    print(f"epoch {e + 1:2d}  loss {history[e]['loss']:.4f}  accuracy {history[e]['accuracy']:.3f}")
print("held out:", net.evaluate(x[cut:], y[cut:]))

# --- the loss curve -----------------------------------------------------------------------------
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("(matplotlib not installed: no plot)")
else:
    plt.plot([h["loss"] for h in history], label="loss")
    plt.plot([h["accuracy"] for h in history], label="accuracy")
    plt.xlabel("epoch")
    plt.legend()
    plt.savefig("tabular_history.png")
    print("wrote tabular_history.png")
