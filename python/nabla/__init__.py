"""nabla: Python bindings of the nabla deep-learning framework (C11).

    import numpy as np, nabla
    x = nabla.tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    y = np.array([[0], [1], [1], [0]], np.float32)
    net = nabla.Sequential([2], seed=42).dense(4, "sigmoid").dense(1, "sigmoid")
    net.fit(nabla.SGD(net, lr=0.5), x, y, epochs=2000, batch_size=4, loss="mse")
    print(net.predict(x))

Tensors share memory with NumPy arrays where the layout allows (C-contiguous float32 or
int32); other arrays are converted (a copy). Errors raise nabla.Error, a ValueError and a
RuntimeError, carrying nabla's message."""
import numpy as _np

from . import _nabla
from ._nabla import Error, Model, Optimizer, Tensor

__all__ = ["Error", "Tensor", "Model", "Optimizer", "tensor", "ops", "Sequential",
           "from_spec", "load", "optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def tensor(data, requires_grad=False, copy=False):
    """A Tensor from a NumPy array (or anything np.asarray takes).

    A C-contiguous, writable float32 or int32 array is shared (no copy) unless copy=True;
    anything else is converted to float32 (int32 for integer arrays) first."""
    if isinstance(data, Tensor):
        return data
    a = _np.asarray(data)
    if a.dtype.kind in "iub":
        want = _np.int32
    elif a.dtype.kind == "f":
        want = _np.float32
    else:
        raise Error(f"nabla tensors hold numbers; got an array of dtype {a.dtype}")
    if copy or a.dtype != want or not a.flags.c_contiguous or not a.flags.writeable:
        a = _np.array(a, dtype=want, order="C", copy=True)
    return _nabla.from_buffer(a, requires_grad)


class _Ops:
    """The ops as functions: nabla.ops.relu(x), nabla.ops.sum(x, axis=0), ..."""
    exp = staticmethod(_nabla.exp)
    log = staticmethod(_nabla.log)
    sqrt = staticmethod(_nabla.sqrt)
    abs = staticmethod(_nabla.abs)
    sigmoid = staticmethod(_nabla.sigmoid)
    tanh = staticmethod(_nabla.tanh)
    relu = staticmethod(_nabla.relu)
    gelu = staticmethod(_nabla.gelu)
    silu = staticmethod(_nabla.silu)
    sum = staticmethod(_nabla.sum)
    mean = staticmethod(_nabla.mean)
    softmax = staticmethod(_nabla.softmax)
    reshape = staticmethod(_nabla.reshape)

    @staticmethod
    def matmul(a, b):
        return a @ b

    @staticmethod
    def loss(name, pred, y):
        """The batch-mean loss `name` (mse, mae, cross_entropy, bce, ...) of pred against y."""
        return _nabla.loss(name, tensor(pred), tensor(y))


ops = _Ops()


def _as_t(x):
    return x if isinstance(x, Tensor) else tensor(x)


def Sequential(input_shape, seed=0, layers=()):
    """A sequential model over samples of input_shape, initialised from seed.

    Add layers with .dense(units, activation), .activation(name), .dropout(p), .flatten() (each
    returns the model), or pass layers=[("dense", 4, "relu"), ...]."""
    m = _nabla.sequential(list(input_shape), seed)
    for spec in layers:
        getattr(m, spec[0])(*spec[1:])
    return m


def from_spec(text_or_path):
    """A model from spec text (docs/spec.md) or from a .spec file's path."""
    import os
    if "\n" not in text_or_path and os.path.exists(text_or_path):
        with open(text_or_path, encoding="utf-8") as f:
            text_or_path = f.read()
    return _nabla.from_spec(text_or_path)


load = _nabla.load
optimizer = _nabla.optimizer


def SGD(model, lr=0.0, momentum=0.0, weight_decay=0.0):
    """torch.optim.SGD's rule over the model's parameters (lr 0: nabla's default)."""
    return _nabla.optimizer(model, "sgd", lr, momentum, weight_decay)


def Adam(model, lr=0.0, weight_decay=0.0):
    return _nabla.optimizer(model, "adam", lr, 0.0, weight_decay)


def AdamW(model, lr=0.0, weight_decay=0.0):
    return _nabla.optimizer(model, "adamw", lr, 0.0, weight_decay)


def RMSprop(model, lr=0.0, momentum=0.0, weight_decay=0.0):
    return _nabla.optimizer(model, "rmsprop", lr, momentum, weight_decay)


def Adagrad(model, lr=0.0, weight_decay=0.0):
    return _nabla.optimizer(model, "adagrad", lr, 0.0, weight_decay)


def _convert(obj, loss):
    """x (loss None) or y for a loss as a Tensor: labels int32 [N] for cross_entropy and nll,
    float32 targets otherwise."""
    if loss is None:
        return tensor(obj)
    y = _np.asarray(obj)
    if loss in ("cross_entropy", "nll"):
        return tensor(_np.ascontiguousarray(y.reshape(-1), dtype=_np.int32))
    return tensor(y.astype(_np.float32, copy=False))


_nabla._set_converter(_convert)
