"""Tests of the Python package: tensors over NumPy memory, ops and autograd, models, fit,
files, errors, bit-identical parity with the C API, and memory that stays bounded."""
import os
import shlex
import subprocess

import numpy as np
import pytest

import nabla
from nabla import ops

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)


def test_xor_trains_with_fit():
    net = nabla.Sequential([2], seed=42).dense(4, "sigmoid").dense(1, "sigmoid")
    hist = net.fit(nabla.SGD(net, lr=0.5), X, Y, epochs=3000, batch_size=4, loss="mse")
    assert len(hist) == 3000 and hist[-1]["loss"] < hist[0]["loss"]
    p = net.predict(X)
    assert p.shape == (4, 1)
    assert (p[[0, 3], 0] < 0.2).all() and (p[[1, 2], 0] > 0.8).all(), p
    ev = net.evaluate(X, Y, loss="mse")
    assert ev["loss"] < 0.02


def test_xor_trains_with_autograd_loop():
    net = nabla.Sequential([2], seed=42, layers=[("dense", 4, "sigmoid"),
                                                 ("dense", 1, "sigmoid")])
    opt = nabla.SGD(net, lr=0.1)
    x, y = nabla.tensor(X), nabla.tensor(Y)
    for _ in range(10000):
        d = net(x) - y
        loss = ops.sum(d * d) * 0.5
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = net(x).numpy().ravel()
    assert out[0] < 0.1 and out[3] < 0.1 and out[1] > 0.9 and out[2] > 0.9, out


def test_numpy_views_without_copy():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = nabla.tensor(a)
    assert t.shape == (2, 3) and t.dtype == "float32"
    v = t.numpy()
    assert np.shares_memory(v, a)
    a[0, 0] = 42.0
    assert v[0, 0] == 42.0
    # int32 too; float64 is converted (a copy)
    i = np.arange(4, dtype=np.int32)
    assert np.shares_memory(nabla.tensor(i).numpy(), i)
    d = np.arange(4, dtype=np.float64)
    td = nabla.tensor(d)
    assert td.dtype == "float32" and not np.shares_memory(td.numpy(), d)
    np.testing.assert_array_equal(td.numpy(), d.astype(np.float32))
    # a non-contiguous array is copied
    s = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    np.testing.assert_array_equal(nabla.tensor(s).numpy(), s)


def test_operators_match_numpy():
    a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    b = np.array([0.5, -1.0], np.float32)
    ta, tb = nabla.tensor(a), nabla.tensor(b)
    np.testing.assert_allclose((ta + tb).numpy(), a + b)
    np.testing.assert_allclose((ta - tb).numpy(), a - b)
    np.testing.assert_allclose((ta * tb).numpy(), a * b)
    np.testing.assert_allclose((ta / tb).numpy(), a / b)
    np.testing.assert_allclose((ta @ ta).numpy(), a @ a, rtol=1e-6)
    np.testing.assert_allclose((-ta).numpy(), -a)
    np.testing.assert_allclose((ta * 2).numpy(), a * 2)
    np.testing.assert_allclose((1 - ta).numpy(), 1 - a)
    np.testing.assert_allclose(ops.exp(ta).numpy(), np.exp(a), rtol=1e-6)
    np.testing.assert_allclose(ops.relu(ta - 2.5).numpy(), np.maximum(a - 2.5, 0))
    np.testing.assert_allclose(ops.sum(ta, axis=0).numpy(), a.sum(0))
    np.testing.assert_allclose(ops.mean(ta).item(), a.mean())
    np.testing.assert_allclose(ops.softmax(ta).numpy().sum(-1), [1, 1], rtol=1e-6)
    assert ops.reshape(ta, [4]).shape == (4,)


def test_backward_gives_gradients():
    x = nabla.tensor(np.array([1.0, -2.0, 3.0], np.float32), requires_grad=True)
    w = nabla.tensor(np.array([0.5, 0.25, 2.0], np.float32), requires_grad=True)
    loss = ops.sum(x * x * w)
    assert loss.requires_grad
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, -2, 3]) * [0.5, 0.25, 2.0])
    np.testing.assert_allclose(w.grad.numpy(), [1, 4, 9])
    x.zero_grad()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0])
    # sigmoid'(0) = 1/4
    z = nabla.tensor(np.zeros(2, np.float32), requires_grad=True)
    ops.sum(ops.sigmoid(z)).backward()
    np.testing.assert_allclose(z.grad.numpy(), [0.25, 0.25])
    # an op's result keeps its gradient only when retained: dL/dy = w for L = sum(y * w)
    y = x * x
    h = y * w
    y.retain_grad()
    ops.sum(h).backward()
    np.testing.assert_allclose(y.grad.numpy(), [0.5, 0.25, 2.0])
    assert h.grad is None


def test_errors_are_exceptions_with_nablas_message():
    a = nabla.tensor(np.zeros((2, 3), np.float32))
    b = nabla.tensor(np.zeros((4,), np.float32))
    with pytest.raises(nabla.Error) as e:
        a + b
    assert isinstance(e.value, ValueError) and isinstance(e.value, RuntimeError)
    # nb_last_error()'s message, word for word
    assert str(e.value) == "add: cannot broadcast the shapes together (inputs f32[2,3], f32[4])"
    # a failed op leaves later ops working, with and without gradients
    np.testing.assert_array_equal((a + a).numpy(), np.zeros((2, 3)))
    g = nabla.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with pytest.raises(nabla.Error):
        g + b
    ops.sum(g * g).backward()
    np.testing.assert_array_equal(g.grad.numpy(), 2 * np.ones((2, 3)))
    with pytest.raises(nabla.Error, match="activation"):
        nabla.Sequential([2]).dense(3, "no_such_activation")
    with pytest.raises(nabla.Error):
        nabla.Sequential([2]).dense(-1)
    with pytest.raises(nabla.Error):
        nabla.tensor(np.array(["a"]))
    with pytest.raises(nabla.Error):
        nabla.from_spec("nabla-spec 1\ninput 3\nfrobnicate 4\n")
    with pytest.raises(nabla.Error, match="no-such"):
        nabla.load("no-such-file.safetensors")
    with pytest.raises(nabla.Error):
        nabla.optimizer(nabla.Sequential([2]).dense(1), "nosuch")
    net = nabla.Sequential([3]).dense(2)
    with pytest.raises(nabla.Error):
        net.predict(np.zeros((4, 5), np.float32))
    with pytest.raises(nabla.Error):
        (a * 2).backward()


def test_spec_save_load(tmp_path):
    net = nabla.from_spec("nabla-spec 1\ninput 4\ndense 8 relu\ndense 3\nseed 7\n")
    assert net.param_count == 4 * 8 + 8 + 8 * 3 + 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    h = net.fit(nabla.Adam(net, lr=0.01), x, y, epochs=20, batch_size=10)
    assert "accuracy" in h[-1] and h[-1]["loss"] < h[0]["loss"]
    path = str(tmp_path / "m.safetensors")
    net.save(path)
    back = nabla.load(path)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert "dense" in back.summary()
    params = net.parameters()
    assert len(params) == 4 and all(isinstance(p, nabla.Tensor) for p in params.values())


def test_every_optimizer_steps():
    for make in (nabla.SGD, nabla.Adam, nabla.AdamW, nabla.RMSprop, nabla.Adagrad):
        net = nabla.Sequential([2], seed=1).dense(1)
        before = {k: v.numpy().copy() for k, v in net.parameters().items()}
        opt = make(net, lr=0.1)
        loss = ops.loss("mse", net(nabla.tensor(X)), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        after = net.parameters()
        assert any(not np.array_equal(before[k], after[k].numpy()) for k in before), make
    opt = nabla.SGD(nabla.Sequential([2]).dense(1), lr=0.2, momentum=0.9)
    assert abs(opt.lr - 0.2) < 1e-12
    opt.lr = 0.05
    assert abs(opt.lr - 0.05) < 1e-12


PARITY_C = r"""
#include <nabla.h>
#include <stdio.h>
int main(void) {
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, Y[4][1] = {{0}, {1}, {1}, {0}};
    nb_model *net = nb_model_new(NB_DIMS(2), 42);
    if (nb_model_dense(net, 4, NB_ACT_TANH) || nb_model_dense(net, 1, NB_ACT_SIGMOID)) return 1;
    nb_optim *opt = nb_optim_new(nb_model_params(net),
                                 &(nb_optim_config){.kind = NB_OPTIM_ADAM, .u.adam = {.lr = 0.01}});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    nb_tensor *half = nb_scalar(NULL, 0.5f);
    for (int i = 0; i < 300; i++) {
        nb_ctx_reset(ctx);
        nb_tensor *d = nb_sub(ctx, nb_model_forward(net, ctx, x), y);
        nb_tensor *loss = nb_mul(ctx, nb_sum(ctx, nb_mul(ctx, d, d), NB_ALL_AXES, 0), half);
        nb_optim_zero_grad(opt);
        if (nb_backward(ctx, loss) || nb_optim_step(opt)) return 1;
    }
    nb_params *ps = nb_model_params(net);
    for (int i = 0; i < nb_params_len(ps); i++) {
        nb_tensor *p = nb_params_at(ps, i);
        for (int64_t k = 0; k < p->numel; k++) printf("%s %a\n", p->name, nb_f32(p)[k]);
    }
    return 0;
}
"""


def test_parity_with_the_c_api(tmp_path, repo_root):
    lib = os.path.join(repo_root, "build", "libnabla.a")
    if not os.path.exists(lib):
        pytest.skip("build/libnabla.a not built")
    src = tmp_path / "parity.c"
    src.write_text(PARITY_C)
    ldlibs = subprocess.run(["make", "-s", "-C", repo_root, "print-ldlibs"], capture_output=True,
                            text=True).stdout.split()
    exe = str(tmp_path / "parity")
    subprocess.run(["cc", "-std=c11", "-O2", "-I", os.path.join(repo_root, "include"), str(src),
                    lib, "-o", exe] + (ldlibs or ["-lm", "-pthread"]), check=True)
    want = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split("\n")

    net = nabla.Sequential([2], seed=42).dense(4, "tanh").dense(1, "sigmoid")
    opt = nabla.Adam(net, lr=0.01)
    x, y = nabla.tensor(X), nabla.tensor(Y)
    for _ in range(300):
        d = net(x) - y
        loss = ops.sum(d * d) * 0.5
        opt.zero_grad()
        loss.backward()
        opt.step()
    got = []
    for name, p in net.parameters().items():
        got += [f"{name} {float(v).hex()}" for v in p.numpy().ravel()]
    want = [w for w in want if w]
    # C's %a and Python's float.hex spell the same double alike up to formatting: compare values
    parse = lambda s: (s.split()[0], float.fromhex(s.split()[1]))
    assert [parse(g) for g in got] == [parse(w) for w in want]


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_memory_stays_bounded():
    a = nabla.tensor(np.ones(4, np.float32))
    b = nabla.tensor(np.ones(4, np.float32), requires_grad=True)

    def loop(n):
        for _ in range(n):
            c = a + b * 2.0
            ops.sum(c).backward()
            t = nabla.tensor(np.ones(16, np.float32))
            _ = (t * t).numpy()

    loop(2000)
    before = _rss_kib()
    loop(10000)
    grown = _rss_kib() - before
    assert grown < 4096, f"memory grew by {grown} KiB over 10 000 iterations"


def test_tabular_example_runs(repo_root, tmp_path):
    import sys
    script = os.path.join(repo_root, "examples", "python", "tabular.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout
    acc = float(out.split("'accuracy': ")[1].split(",")[0])
    assert acc > 0.9, out
