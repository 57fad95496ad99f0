/* python/nabla/_nabla.c — the CPython extension over nabla's public C API.
 *
 * Tensors: a Tensor wraps an nb_tensor. One made from a NumPy array (or any C-contiguous
 * float32/int32 buffer) borrows the array's memory (nb_tensor_from) and keeps the buffer
 * until it dies: no copy. A Tensor exports the buffer protocol, so numpy.asarray(t) is a view
 * too. Results of ops that need no gradient are computed in a scratch context and cloned to
 * the heap, so nothing accumulates; results that need one live in a Graph (an nb_ctx with its
 * tape), kept alive by every Tensor made in it. backward() runs nb_backward on that graph and
 * closes it: later ops start a new graph, and the old one is freed with its last Tensor.
 * Errors raise nabla.Error (a ValueError and RuntimeError) carrying nb_last_error(). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <nabla.h>

#include <stdio.h>
#include <string.h>

static PyObject *Error;
static PyObject *converter; /* nabla._convert(obj, loss_or_None) -> Tensor, set at import */
static PyObject *convert(PyObject *obj, const char *loss);
static PyObject *T_numpy(PyObject *o, PyObject *unused);

static PyObject *raise_nb(void) {
    const char *m = nb_last_error();
    PyErr_SetString(Error, m && *m ? m : "nabla: unknown error");
    return NULL;
}

/* ---- Graph: a context with its tape ------------------------------------------------------ */
typedef struct {
    PyObject_HEAD nb_ctx *ctx;
    int done;       /* backward() ran: new ops go to a new graph */
    PyObject *keep; /* list: the Tensors from elsewhere (and Models) its tape reads */
} Graph;

static void Graph_dealloc(Graph *g) {
    nb_ctx_free(g->ctx);
    Py_XDECREF(g->keep);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyTypeObject GraphType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nabla._nabla.Graph",
    .tp_basicsize = sizeof(Graph),
    .tp_dealloc = (destructor)Graph_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A context (arena and tape) holding the tensors of one forward pass.",
};

static Graph *current_graph; /* where ops needing a gradient go, or NULL */
static nb_ctx *scratch;      /* ops without gradients; reset after each */

static Graph *graph_new(void) {
    Graph *g = PyObject_New(Graph, &GraphType);
    if (!g) return NULL;
    g->done = 0;
    g->keep = PyList_New(0);
    g->ctx = g->keep ? nb_ctx_new(NULL) : NULL;
    if (!g->ctx) {
        Py_DECREF(g);
        return g->keep ? (Graph *)raise_nb() : NULL;
    }
    return g;
}

/* ---- Tensor ------------------------------------------------------------------------------ */
typedef struct {
    PyObject_HEAD nb_tensor *t;
    PyObject *owner; /* Graph, or the Tensor whose grad this is, or NULL */
    Py_buffer view;  /* the borrowed buffer (has_view) */
    int has_view;
    int owns; /* heap tensor to nb_tensor_free */
} Tensor;

static PyTypeObject TensorType;

static PyObject *tensor_wrap(nb_tensor *t, PyObject *owner, int owns) {
    Tensor *o = PyObject_New(Tensor, &TensorType);
    if (!o) {
        if (owns) nb_tensor_free(t);
        return NULL;
    }
    o->t = t;
    o->owner = owner;
    Py_XINCREF(owner);
    o->has_view = 0;
    o->owns = owns;
    return (PyObject *)o;
}

static void Tensor_dealloc(Tensor *o) {
    if (o->owns) nb_tensor_free(o->t);
    if (o->has_view) PyBuffer_Release(&o->view);
    Py_XDECREF(o->owner);
    Py_TYPE(o)->tp_free((PyObject *)o);
}

/* from_buffer(obj, requires_grad=False): a Tensor over obj's memory (C-contiguous float32 or
 * int32, writable): no copy. */
static PyObject *from_buffer(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *names[] = {"obj", "requires_grad", NULL};
    PyObject *obj;
    int rg = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", names, &obj, &rg)) return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(obj, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        return NULL;
    nb_dtype dt;
    const char *f = v.format ? v.format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (strcmp(f, "f") == 0 && v.itemsize == 4)
        dt = NB_F32;
    else if ((strcmp(f, "i") == 0 || strcmp(f, "l") == 0) && v.itemsize == 4)
        dt = NB_I32;
    else {
        PyErr_Format(Error,
                     "nabla tensors are float32 or int32; got buffer format '%s' (%zd bytes)",
                     v.format ? v.format : "B", v.itemsize);
        PyBuffer_Release(&v);
        return NULL;
    }
    if (v.ndim > NB_MAX_RANK) {
        PyErr_Format(Error, "rank %d exceeds nabla's maximum %d", v.ndim, NB_MAX_RANK);
        PyBuffer_Release(&v);
        return NULL;
    }
    int64_t shape[NB_MAX_RANK];
    for (int i = 0; i < v.ndim; i++) shape[i] = v.shape[i];
    nb_tensor *t = nb_tensor_from(NULL, dt, v.buf, v.ndim, shape);
    if (!t) {
        PyBuffer_Release(&v);
        return raise_nb();
    }
    if (rg) nb_tensor_set_requires_grad(t, 1);
    Tensor *o = (Tensor *)tensor_wrap(t, NULL, 1);
    if (!o) {
        PyBuffer_Release(&v);
        return NULL;
    }
    o->view = v;
    o->has_view = 1;
    return (PyObject *)o;
}

static int Tensor_getbuffer(Tensor *o, Py_buffer *v, int flags) {
    nb_tensor *t = o->t;
    v->obj = NULL;
    Py_ssize_t *sh = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (t->rank ? t->rank : 1));
    if (!sh) {
        PyErr_NoMemory();
        return -1;
    }
    size_t item = 4;
    for (int i = 0; i < t->rank; i++) {
        sh[i] = (Py_ssize_t)t->shape[i];
        sh[t->rank + i] = (Py_ssize_t)(t->stride[i] * (int64_t)item);
    }
    v->buf = t->data;
    v->obj = (PyObject *)o;
    Py_INCREF(o);
    v->len = (Py_ssize_t)(t->numel * (int64_t)item);
    v->readonly = 0;
    v->itemsize = (Py_ssize_t)item;
    v->format = (flags & PyBUF_FORMAT) ? (t->dtype == NB_F32 ? "f" : "i") : NULL;
    v->ndim = t->rank;
    v->shape = sh;
    v->strides = sh + t->rank;
    v->suboffsets = NULL;
    v->internal = sh;
    if ((flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS && !nb_tensor_is_contiguous(t)) {
        PyMem_Free(sh);
        Py_DECREF(o);
        v->obj = NULL;
        PyErr_SetString(PyExc_BufferError, "tensor is not contiguous");
        return -1;
    }
    return 0;
}

static void Tensor_releasebuffer(Tensor *o, Py_buffer *v) {
    (void)o;
    PyMem_Free(v->internal);
}

static PyBufferProcs Tensor_as_buffer = {(getbufferproc)Tensor_getbuffer,
                                         (releasebufferproc)Tensor_releasebuffer};

/* ---- running ops ------------------------------------------------------------------------- */
static int is_tensor(PyObject *o) {
    return PyObject_TypeCheck(o, &TensorType);
}

static Graph *graph_of(Tensor *t) {
    return t->owner && Py_TYPE(t->owner) == &GraphType ? (Graph *)t->owner : NULL;
}

/* Chooses the context for an op over n tensors: the graph of an input that is on a tape, the
 * current graph when a gradient is needed, or the scratch context. *g gets the graph (new
 * reference) or NULL. */
static nb_ctx *op_ctx(Tensor **in, int n, Graph **g) {
    *g = NULL;
    int need = 0;
    for (int i = 0; i < n; i++) {
        if (!(in[i]->t->flags & NB_TF_REQUIRES_GRAD)) continue;
        need = 1;
        Graph *gi = graph_of(in[i]);
        if (gi && in[i]->t->node) {
            if (*g && *g != gi) {
                PyErr_SetString(Error, "these tensors belong to two different graphs (one was "
                                       "made after backward() closed the other); detach() one");
                return NULL;
            }
            *g = gi;
        }
    }
    if (!need) {
        if (!scratch && !(scratch = nb_ctx_new(NULL))) return (nb_ctx *)raise_nb();
        nb_ctx_reset(scratch);
        return scratch;
    }
    if (!*g) {
        if (!current_graph || current_graph->done) {
            Py_XDECREF(current_graph);
            current_graph = graph_new();
            if (!current_graph) return NULL;
        }
        *g = current_graph;
    }
    for (int i = 0; i < n; i++)
        if (graph_of(in[i]) != *g && PyList_Append((*g)->keep, (PyObject *)in[i]) < 0) return NULL;
    Py_INCREF(*g);
    return (*g)->ctx;
}

/* Wraps an op's result: heap clone for scratch results, a graph tensor otherwise. */
static PyObject *finish(nb_tensor *r, Graph *g) {
    if (!r) {
        /* The error is sticky in the graph's context: later ops start a fresh graph. */
        if (g) g->done = 1;
        Py_XDECREF(g);
        return raise_nb();
    }
    if (!g) {
        nb_tensor *h = nb_tensor_clone(NULL, r);
        nb_ctx_reset(scratch);
        if (!h) return raise_nb();
        return tensor_wrap(h, NULL, 1);
    }
    PyObject *o = tensor_wrap(r, (PyObject *)g, 0);
    Py_DECREF(g);
    return o;
}

typedef nb_tensor *(*binop)(nb_ctx *, nb_tensor *, nb_tensor *);

/* A number operand becomes a scalar tensor in the op's own context, which outlives the tape
 * that reads it. */
static PyObject *run_binary(PyObject *a, PyObject *b, binop f) {
    int ta = is_tensor(a), tb = is_tensor(b);
    if ((!ta && !tb) || (!ta && !PyNumber_Check(a)) || (!tb && !PyNumber_Check(b)))
        Py_RETURN_NOTIMPLEMENTED;
    double va = 0, vb = 0;
    if (!ta && (va = PyFloat_AsDouble(a)) == -1.0 && PyErr_Occurred()) return NULL;
    if (!tb && (vb = PyFloat_AsDouble(b)) == -1.0 && PyErr_Occurred()) return NULL;
    Tensor *in[2];
    int n = 0;
    if (ta) in[n++] = (Tensor *)a;
    if (tb) in[n++] = (Tensor *)b;
    Graph *g;
    nb_ctx *ctx = op_ctx(in, n, &g);
    if (!ctx) return NULL;
    nb_tensor *x = ta ? ((Tensor *)a)->t : nb_scalar(ctx, (float)va);
    nb_tensor *y = tb ? ((Tensor *)b)->t : nb_scalar(ctx, (float)vb);
    return finish(x && y ? f(ctx, x, y) : NULL, g);
}

static PyObject *T_add(PyObject *a, PyObject *b) {
    return run_binary(a, b, nb_add);
}
static PyObject *T_sub(PyObject *a, PyObject *b) {
    return run_binary(a, b, nb_sub);
}
static PyObject *T_mul(PyObject *a, PyObject *b) {
    return run_binary(a, b, nb_mul);
}
static PyObject *T_div(PyObject *a, PyObject *b) {
    return run_binary(a, b, nb_div);
}
static PyObject *T_matmul(PyObject *a, PyObject *b) {
    if (!is_tensor(a) || !is_tensor(b)) Py_RETURN_NOTIMPLEMENTED;
    return run_binary(a, b, nb_matmul);
}
static PyObject *T_pow(PyObject *a, PyObject *b, PyObject *m) {
    (void)m;
    return run_binary(a, b, nb_pow);
}

typedef nb_tensor *(*unop)(nb_ctx *, nb_tensor *);

static PyObject *run_unary(PyObject *a, unop f) {
    if (!is_tensor(a)) {
        PyErr_SetString(PyExc_TypeError, "expected a nabla.Tensor");
        return NULL;
    }
    Tensor *in[1] = {(Tensor *)a};
    Graph *g;
    nb_ctx *ctx = op_ctx(in, 1, &g);
    return ctx ? finish(f(ctx, in[0]->t), g) : NULL;
}

static PyObject *T_neg(PyObject *a) {
    return run_unary(a, nb_neg);
}

#define UNARY_FN(name)                                                                             \
    static PyObject *fn_##name(PyObject *self, PyObject *a) {                                      \
        (void)self;                                                                                \
        return run_unary(a, nb_##name);                                                            \
    }
UNARY_FN(exp)
UNARY_FN(log)
UNARY_FN(sqrt)
UNARY_FN(abs)
UNARY_FN(sigmoid)
UNARY_FN(tanh)
UNARY_FN(relu)
UNARY_FN(gelu)
UNARY_FN(silu)

static unsigned axes_mask(PyObject *axis, int rank, int *ok) {
    *ok = 1;
    if (!axis || axis == Py_None) return NB_ALL_AXES;
    long a = PyLong_AsLong(axis);
    if (a == -1 && PyErr_Occurred()) {
        *ok = 0;
        return 0;
    }
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) {
        PyErr_Format(Error, "axis %ld is out of range for a tensor of rank %d", a, rank);
        *ok = 0;
        return 0;
    }
    return NB_AXIS(a);
}

static PyObject *reduce(PyObject *args, PyObject *kw,
                        nb_tensor *(*f)(nb_ctx *, nb_tensor *, unsigned, int)) {
    static char *names[] = {"x", "axis", "keepdims", NULL};
    PyObject *x, *axis = NULL;
    int keep = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|Op", names, &TensorType, &x, &axis, &keep))
        return NULL;
    int ok;
    unsigned m = axes_mask(axis, ((Tensor *)x)->t->rank, &ok);
    if (!ok) return NULL;
    Tensor *in[1] = {(Tensor *)x};
    Graph *g;
    nb_ctx *ctx = op_ctx(in, 1, &g);
    return ctx ? finish(f(ctx, in[0]->t, m, keep), g) : NULL;
}
static PyObject *fn_sum(PyObject *s, PyObject *a, PyObject *k) {
    (void)s;
    return reduce(a, k, nb_sum);
}
static PyObject *fn_mean(PyObject *s, PyObject *a, PyObject *k) {
    (void)s;
    return reduce(a, k, nb_mean);
}

static PyObject *fn_softmax(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *x;
    int axis = -1;
    if (!PyArg_ParseTuple(args, "O!|i", &TensorType, &x, &axis)) return NULL;
    Tensor *in[1] = {(Tensor *)x};
    Graph *g;
    nb_ctx *ctx = op_ctx(in, 1, &g);
    return ctx ? finish(nb_softmax(ctx, in[0]->t, axis), g) : NULL;
}

static PyObject *fn_reshape(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *x, *shp;
    if (!PyArg_ParseTuple(args, "O!O", &TensorType, &x, &shp)) return NULL;
    PyObject *seq = PySequence_Fast(shp, "shape must be a sequence of ints");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > NB_MAX_RANK) {
        Py_DECREF(seq);
        PyErr_Format(Error, "rank %zd exceeds nabla's maximum %d", n, NB_MAX_RANK);
        return NULL;
    }
    int64_t s[NB_MAX_RANK];
    for (Py_ssize_t i = 0; i < n; i++) {
        s[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (s[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Tensor *in[1] = {(Tensor *)x};
    Graph *g;
    nb_ctx *ctx = op_ctx(in, 1, &g);
    return ctx ? finish(nb_reshape(ctx, in[0]->t, (int)n, s), g) : NULL;
}

static PyObject *fn_loss(PyObject *self, PyObject *args) {
    (void)self;
    const char *name;
    PyObject *p, *y;
    if (!PyArg_ParseTuple(args, "sO!O!", &name, &TensorType, &p, &TensorType, &y)) return NULL;
    int k = nb_loss_from_name(name);
    if (k < 0) {
        PyErr_Format(Error, "unknown loss '%s'", name);
        return NULL;
    }
    Tensor *in[2] = {(Tensor *)p, (Tensor *)y};
    Graph *g;
    nb_ctx *ctx = op_ctx(in, 2, &g);
    return ctx ? finish(nb_loss_apply(ctx, (nb_loss_kind)k, in[0]->t, in[1]->t), g) : NULL;
}

/* ---- Tensor methods and properties ------------------------------------------------------- */
static PyObject *T_backward(Tensor *o, PyObject *unused) {
    (void)unused;
    Graph *g = graph_of(o);
    if (!g || !o->t->node) {
        PyErr_SetString(Error, "backward: this tensor was not computed from tensors that "
                               "require a gradient");
        return NULL;
    }
    if (nb_backward(g->ctx, o->t) != NB_OK) return raise_nb();
    g->done = 1;
    Py_RETURN_NONE;
}

static PyObject *T_zero_grad(Tensor *o, PyObject *unused) {
    (void)unused;
    if (o->t->grad && nb_tensor_fill(o->t->grad, 0.0f) != NB_OK) return raise_nb();
    Py_RETURN_NONE;
}

static PyObject *T_retain_grad(Tensor *o, PyObject *unused) {
    (void)unused;
    nb_tensor_set_retain_grad(o->t, 1);
    Py_RETURN_NONE;
}

static PyObject *T_detach(Tensor *o, PyObject *unused) {
    (void)unused;
    nb_tensor *h = nb_tensor_clone(NULL, o->t);
    if (!h) return raise_nb();
    h->flags &= ~NB_TF_REQUIRES_GRAD;
    return tensor_wrap(h, NULL, 1);
}

static PyObject *T_item(Tensor *o, PyObject *unused) {
    (void)unused;
    if (o->t->numel != 1) {
        PyErr_Format(Error, "item: the tensor has %lld elements, not 1", (long long)o->t->numel);
        return NULL;
    }
    return PyFloat_FromDouble(nb_item(o->t));
}

static PyObject *T_get_grad(Tensor *o, void *c) {
    (void)c;
    if (!o->t->grad) Py_RETURN_NONE;
    return tensor_wrap(o->t->grad, (PyObject *)o, 0);
}
static PyObject *T_get_shape(Tensor *o, void *c) {
    (void)c;
    PyObject *t = PyTuple_New(o->t->rank);
    if (!t) return NULL;
    for (int i = 0; i < o->t->rank; i++)
        PyTuple_SET_ITEM(t, i, PyLong_FromLongLong(o->t->shape[i]));
    return t;
}
static PyObject *T_get_rg(Tensor *o, void *c) {
    (void)c;
    return PyBool_FromLong(o->t->flags & NB_TF_REQUIRES_GRAD);
}
static int T_set_rg(Tensor *o, PyObject *v, void *c) {
    (void)c;
    int on = PyObject_IsTrue(v);
    if (on < 0) return -1;
    if (o->t->node) {
        PyErr_SetString(Error, "requires_grad can only be set on a leaf tensor");
        return -1;
    }
    nb_tensor_set_requires_grad(o->t, on);
    return 0;
}
static PyObject *T_get_dtype(Tensor *o, void *c) {
    (void)c;
    return PyUnicode_FromString(o->t->dtype == NB_F32 ? "float32" : "int32");
}

static PyObject *T_repr(Tensor *o) {
    char buf[512];
    nb_tensor_format(o->t, buf, sizeof buf);
    return PyUnicode_FromFormat("Tensor(%s)", buf);
}

static PyMethodDef Tensor_methods[] = {
    {"numpy", (PyCFunction)T_numpy, METH_NOARGS,
     "A NumPy array over the tensor's memory (no copy)."},
    {"backward", (PyCFunction)T_backward, METH_NOARGS,
     "Accumulates d(self)/dx into .grad of every tensor it depends on that requires a "
     "gradient (self must have one element)."},
    {"zero_grad", (PyCFunction)T_zero_grad, METH_NOARGS, "Sets .grad to zeros."},
    {"retain_grad", (PyCFunction)T_retain_grad, METH_NOARGS,
     "Keeps this op result's .grad after backward() (leaves always keep theirs)."},
    {"detach", (PyCFunction)T_detach, METH_NOARGS, "A copy off the graph, without gradient."},
    {"item", (PyCFunction)T_item, METH_NOARGS, "The value of a one-element tensor."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Tensor_getset[] = {
    {"grad", (getter)T_get_grad, NULL, "The gradient after backward() (a Tensor) or None.", NULL},
    {"shape", (getter)T_get_shape, NULL, "The shape, a tuple.", NULL},
    {"dtype", (getter)T_get_dtype, NULL, "'float32' or 'int32'.", NULL},
    {"requires_grad", (getter)T_get_rg, (setter)T_set_rg, "Whether gradients flow to it.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyNumberMethods Tensor_as_number = {
    .nb_add = T_add,
    .nb_subtract = T_sub,
    .nb_multiply = T_mul,
    .nb_true_divide = T_div,
    .nb_matrix_multiply = T_matmul,
    .nb_power = T_pow,
    .nb_negative = T_neg,
};

static PyTypeObject TensorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nabla._nabla.Tensor",
    .tp_basicsize = sizeof(Tensor),
    .tp_dealloc = (destructor)Tensor_dealloc,
    .tp_repr = (reprfunc)T_repr,
    .tp_as_number = &Tensor_as_number,
    .tp_as_buffer = &Tensor_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An n-dimensional float32/int32 array of nabla, with autograd.",
    .tp_methods = Tensor_methods,
    .tp_getset = Tensor_getset,
};

/* ---- Model ------------------------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD nb_model *m;
} Model;

static PyTypeObject ModelType;

static void Model_dealloc(Model *o) {
    nb_model_free(o->m);
    Py_TYPE(o)->tp_free((PyObject *)o);
}

static PyObject *model_wrap(nb_model *m) {
    Model *o = PyObject_New(Model, &ModelType);
    if (!o) {
        nb_model_free(m);
        return NULL;
    }
    o->m = m;
    return (PyObject *)o;
}

static int shape_arg(PyObject *shp, int *rank, int64_t *s) {
    PyObject *seq = PySequence_Fast(shp, "input_shape must be a sequence of ints");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > NB_MAX_RANK) {
        Py_DECREF(seq);
        PyErr_Format(Error, "input_shape has %zd dimensions; 1 to %d allowed", n, NB_MAX_RANK);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        s[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (s[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    *rank = (int)n;
    return 0;
}

/* sequential(input_shape, seed=0): an empty sequential model. */
static PyObject *fn_sequential(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *names[] = {"input_shape", "seed", NULL};
    PyObject *shp;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|K", names, &shp, &seed)) return NULL;
    int rank;
    int64_t s[NB_MAX_RANK];
    if (shape_arg(shp, &rank, s) < 0) return NULL;
    nb_model *m = nb_model_new(rank, s, seed);
    return m ? model_wrap(m) : raise_nb();
}

/* from_spec(text): a model built from spec text (docs/spec.md). */
static PyObject *fn_from_spec(PyObject *self, PyObject *args) {
    (void)self;
    const char *text;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "s#", &text, &len)) return NULL;
    nb_spec *sp = NULL;
    if (nb_spec_parse(text, (size_t)len, "spec", ".", &sp) != NB_OK) return raise_nb();
    nb_model *m = NULL;
    nb_status st = nb_spec_build(sp, &m);
    nb_spec_free(sp);
    if (st != NB_OK) return raise_nb();
    return model_wrap(m);
}

static PyObject *fn_load(PyObject *self, PyObject *args) {
    (void)self;
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    nb_model *m = NULL;
    if (nb_model_load(path, &m, NULL) != NB_OK) return raise_nb();
    return model_wrap(m);
}

static int activation_of(const char *name) {
    if (strcmp(name, "none") == 0 || strcmp(name, "linear") == 0 || !*name) return NB_ACT_NONE;
    for (int k = 0; k < 64; k++) {
        const char *n = nb_activation_name((nb_activation)k);
        if (!n) break;
        if (strcmp(n, name) == 0) return k;
    }
    PyErr_Format(Error, "unknown activation '%s'", name);
    return -1;
}

static PyObject *M_dense(Model *o, PyObject *args, PyObject *kw) {
    static char *names[] = {"units", "activation", NULL};
    long long units;
    const char *act = "none";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "L|s", names, &units, &act)) return NULL;
    int a = activation_of(act);
    if (a < 0) return NULL;
    if (nb_model_dense(o->m, units, (nb_activation)a) != NB_OK) return raise_nb();
    Py_INCREF(o);
    return (PyObject *)o;
}

static PyObject *M_activation(Model *o, PyObject *args) {
    const char *act;
    if (!PyArg_ParseTuple(args, "s", &act)) return NULL;
    int a = activation_of(act);
    if (a < 0) return NULL;
    if (nb_model_activation(o->m, (nb_activation)a, 0.0f) != NB_OK) return raise_nb();
    Py_INCREF(o);
    return (PyObject *)o;
}

static PyObject *M_dropout(Model *o, PyObject *args) {
    float p;
    if (!PyArg_ParseTuple(args, "f", &p)) return NULL;
    if (nb_model_dropout(o->m, p) != NB_OK) return raise_nb();
    Py_INCREF(o);
    return (PyObject *)o;
}

static PyObject *M_flatten(Model *o, PyObject *unused) {
    (void)unused;
    if (nb_model_flatten(o->m) != NB_OK) return raise_nb();
    Py_INCREF(o);
    return (PyObject *)o;
}

/* model(x): the forward pass on the tape (parameters require gradients). */
static PyObject *M_call(Model *o, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *x;
    if (!PyArg_ParseTuple(args, "O!", &TensorType, &x)) return NULL;
    Graph *g = NULL;
    Tensor *in[1] = {(Tensor *)x};
    if (graph_of(in[0]) && in[0]->t->node) {
        g = graph_of(in[0]);
    } else {
        if (!current_graph || current_graph->done) {
            Py_XDECREF(current_graph);
            current_graph = graph_new();
            if (!current_graph) return NULL;
        }
        g = current_graph;
    }
    if (PyList_Append(g->keep, (PyObject *)o) < 0 ||
        (graph_of(in[0]) != g && PyList_Append(g->keep, x) < 0))
        return NULL;
    Py_INCREF(g);
    return finish(nb_model_forward(o->m, g->ctx, in[0]->t), g);
}

static PyObject *M_predict(Model *o, PyObject *args) {
    PyObject *x;
    long long bs = 256;
    if (!PyArg_ParseTuple(args, "O|L", &x, &bs)) return NULL;
    if (!(x = convert(x, NULL))) return NULL;
    nb_tensor *r = nb_predict(o->m, ((Tensor *)x)->t, bs);
    Py_DECREF(x);
    PyObject *t = r ? tensor_wrap(r, NULL, 1) : raise_nb();
    if (!t) return NULL;
    PyObject *a = T_numpy(t, NULL);
    Py_DECREF(t); /* the array's memoryview keeps the Tensor */
    return a;
}

/* obj as a Tensor through the Python converter (NumPy arrays, lists); new reference. */
static PyObject *convert(PyObject *obj, const char *loss) {
    if (!loss && PyObject_TypeCheck(obj, &TensorType)) {
        Py_INCREF(obj);
        return obj;
    }
    if (!converter) {
        PyErr_SetString(PyExc_TypeError, "expected a nabla.Tensor");
        return NULL;
    }
    PyObject *r = loss ? PyObject_CallFunction(converter, "Os", obj, loss)
                       : PyObject_CallFunction(converter, "OO", obj, Py_None);
    if (r && !PyObject_TypeCheck(r, &TensorType)) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError, "the converter did not return a Tensor");
        return NULL;
    }
    return r;
}

static PyObject *set_converter(PyObject *self, PyObject *fn) {
    (void)self;
    Py_XDECREF(converter);
    converter = fn;
    Py_INCREF(fn);
    Py_RETURN_NONE;
}

static PyObject *T_numpy(PyObject *o, PyObject *unused) {
    (void)unused;
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) return NULL;
    PyObject *mv = PyMemoryView_FromObject(o);
    PyObject *r = mv ? PyObject_CallMethod(np, "asarray", "O", mv) : NULL;
    Py_XDECREF(mv);
    Py_DECREF(np);
    return r;
}

/* A dataset from two Tensors (copied by nabla). */
static nb_dataset *dataset_of(Tensor *x, Tensor *y) {
    nb_array ax = {.type = x->t->dtype == NB_F32 ? NB_ELEM_F32 : NB_ELEM_I32,
                   .rank = x->t->rank,
                   .numel = x->t->numel,
                   .data = x->t->data};
    memcpy(ax.shape, x->t->shape, sizeof ax.shape);
    nb_array ay = {.type = y->t->dtype == NB_F32 ? NB_ELEM_F32 : NB_ELEM_I32,
                   .rank = y->t->rank,
                   .numel = y->t->numel,
                   .data = y->t->data};
    memcpy(ay.shape, y->t->shape, sizeof ay.shape);
    if (!nb_tensor_is_contiguous(x->t) || !nb_tensor_is_contiguous(y->t)) {
        PyErr_SetString(Error, "fit/evaluate need contiguous x and y");
        return NULL;
    }
    nb_dataset *ds = NULL;
    if (nb_dataset_from_arrays(&ax, &ay, &ds) != NB_OK) {
        raise_nb();
        return NULL;
    }
    return ds;
}

static PyObject *values_dict(const nb_metric_values *v, const char *prefix, PyObject *d) {
    char k[64];
#define PUT(field)                                                                                 \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s" #field, prefix);                                                \
        PyObject *f = PyFloat_FromDouble(v->field);                                                \
        if (!f || PyDict_SetItemString(d, k, f) < 0) {                                             \
            Py_XDECREF(f);                                                                         \
            return NULL;                                                                           \
        }                                                                                          \
        Py_DECREF(f);                                                                              \
    } while (0)
    PUT(loss);
    PUT(accuracy);
    PUT(mse);
    PUT(mae);
#undef PUT
    return d;
}

static unsigned metrics_of(const char *loss) {
    return (strcmp(loss, "cross_entropy") == 0 || strcmp(loss, "nll") == 0 ||
            strcmp(loss, "bce") == 0 || strcmp(loss, "bce_logits") == 0)
               ? NB_METRIC_ACCURACY
               : NB_METRIC_MAE;
}

typedef struct {
    PyObject_HEAD nb_optim *o;
    PyObject *model;
} Optim;
static PyTypeObject OptimType;

/* fit(optimizer, x, y, epochs, batch_size, loss, seed, shuffle): a list of per-epoch dicts. */
static PyObject *M_fit(Model *o, PyObject *args, PyObject *kw) {
    static char *names[] = {"optimizer", "x",    "y",       "epochs", "batch_size",
                            "loss",      "seed", "shuffle", NULL};
    PyObject *opt, *x, *y;
    long long epochs = 1, bs = 32;
    const char *loss = "cross_entropy";
    unsigned long long seed = 0;
    int shuffle = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OO|LLsKp", names, &OptimType, &opt, &x, &y,
                                     &epochs, &bs, &loss, &seed, &shuffle))
        return NULL;
    int lk = nb_loss_from_name(loss);
    if (lk < 0) {
        PyErr_Format(Error, "unknown loss '%s'", loss);
        return NULL;
    }
    if (!(x = convert(x, NULL))) return NULL;
    if (!(y = convert(y, loss))) {
        Py_DECREF(x);
        return NULL;
    }
    nb_dataset *ds = dataset_of((Tensor *)x, (Tensor *)y);
    Py_DECREF(x);
    Py_DECREF(y);
    if (!ds) return NULL;
    nb_fit_opts fo = {.epochs = epochs,
                      .batch_size = bs,
                      .loss = (nb_loss_kind)lk,
                      .metrics = metrics_of(loss),
                      .seed = seed,
                      .no_shuffle = !shuffle};
    nb_history h = {0};
    nb_status st;
    Py_BEGIN_ALLOW_THREADS st = nb_fit(o->m, ((Optim *)opt)->o, ds, &fo, &h);
    Py_END_ALLOW_THREADS nb_dataset_free(ds);
    if (st != NB_OK) {
        nb_history_free(&h);
        return raise_nb();
    }
    PyObject *list = PyList_New(0);
    for (int i = 0; list && i < h.n; i++) {
        PyObject *d = PyDict_New();
        if (!d || !values_dict(&h.rec[i].train, "", d) || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(d);
    }
    nb_history_free(&h);
    return list;
}

static PyObject *M_evaluate(Model *o, PyObject *args, PyObject *kw) {
    static char *names[] = {"x", "y", "loss", NULL};
    PyObject *x, *y;
    const char *loss = "cross_entropy";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|s", names, &x, &y, &loss)) return NULL;
    int lk = nb_loss_from_name(loss);
    if (lk < 0) {
        PyErr_Format(Error, "unknown loss '%s'", loss);
        return NULL;
    }
    if (!(x = convert(x, NULL))) return NULL;
    if (!(y = convert(y, loss))) {
        Py_DECREF(x);
        return NULL;
    }
    nb_dataset *ds = dataset_of((Tensor *)x, (Tensor *)y);
    Py_DECREF(x);
    Py_DECREF(y);
    if (!ds) return NULL;
    int classes = 0;
    int nout = nb_model_output_node(o->m, 0);
    nb_dtype dt;
    int64_t shp[NB_MAX_RANK];
    int r = nb_model_node_shape(o->m, nout, &dt, shp);
    if (r > 0) classes = (int)shp[r - 1];
    nb_metrics *mt = nb_metrics_new((nb_loss_kind)lk, metrics_of(loss), classes, 0);
    if (!mt) {
        nb_dataset_free(ds);
        return raise_nb();
    }
    nb_status st = nb_evaluate(o->m, ds, NULL, mt);
    nb_dataset_free(ds);
    if (st != NB_OK) {
        nb_metrics_free(mt);
        return raise_nb();
    }
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    nb_metrics_free(mt);
    PyObject *d = PyDict_New();
    if (d && !values_dict(&v, "", d)) Py_CLEAR(d);
    return d;
}

static PyObject *M_save(Model *o, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    if (nb_model_save(o->m, path, NULL) != NB_OK) return raise_nb();
    Py_RETURN_NONE;
}

/* parameters(): a dict name -> Tensor viewing the model's parameter (no copy). */
static PyObject *M_parameters(Model *o, PyObject *unused) {
    (void)unused;
    nb_params *ps = nb_model_params(o->m);
    PyObject *d = PyDict_New();
    for (int i = 0; d && ps && i < nb_params_len(ps); i++) {
        nb_tensor *t = nb_params_at(ps, i);
        PyObject *w = tensor_wrap(t, (PyObject *)o, 0);
        if (!w || PyDict_SetItemString(d, t->name ? t->name : "?", w) < 0) {
            Py_XDECREF(w);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(w);
    }
    return d;
}

static PyObject *M_summary(Model *o, PyObject *unused) {
    (void)unused;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return PyErr_NoMemory();
    nb_status st = nb_model_summary(o->m, f);
    fclose(f);
    if (st != NB_OK) {
        free(buf);
        return raise_nb();
    }
    PyObject *s = PyUnicode_FromStringAndSize(buf, (Py_ssize_t)len);
    free(buf);
    return s;
}

static PyObject *M_param_count(Model *o, void *c) {
    (void)c;
    return PyLong_FromLongLong(nb_model_param_count(o->m));
}

static PyObject *M_train(Model *o, PyObject *args) {
    int on = 1;
    if (!PyArg_ParseTuple(args, "|p", &on)) return NULL;
    if (nb_model_set_training(o->m, on) != NB_OK) return raise_nb();
    Py_RETURN_NONE;
}

static PyMethodDef Model_methods[] = {
    {"dense", (PyCFunction)(void (*)(void))M_dense, METH_VARARGS | METH_KEYWORDS,
     "dense(units, activation='none'): adds a dense layer; returns the model."},
    {"activation", (PyCFunction)M_activation, METH_VARARGS, "activation(name): adds one."},
    {"dropout", (PyCFunction)M_dropout, METH_VARARGS, "dropout(p): adds a dropout layer."},
    {"flatten", (PyCFunction)M_flatten, METH_NOARGS, "flatten(): adds a flatten layer."},
    {"predict", (PyCFunction)M_predict, METH_VARARGS, "predict(x, batch_size=256) -> Tensor."},
    {"fit", (PyCFunction)(void (*)(void))M_fit, METH_VARARGS | METH_KEYWORDS,
     "fit(optimizer, x, y, epochs, batch_size, loss, seed, shuffle) -> history."},
    {"evaluate", (PyCFunction)(void (*)(void))M_evaluate, METH_VARARGS | METH_KEYWORDS,
     "evaluate(x, y, loss) -> dict of metrics."},
    {"save", (PyCFunction)M_save, METH_VARARGS, "save(path): a safetensors model file."},
    {"parameters", (PyCFunction)M_parameters, METH_NOARGS, "{name: Tensor} views."},
    {"summary", (PyCFunction)M_summary, METH_NOARGS, "The layer table, as text."},
    {"train", (PyCFunction)M_train, METH_VARARGS, "train(on=True): training or inference mode."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Model_getset[] = {
    {"param_count", (getter)M_param_count, NULL, "Number of trainable values.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nabla._nabla.Model",
    .tp_basicsize = sizeof(Model),
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_call = (ternaryfunc)M_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A nabla model (nb_model).",
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
};

/* ---- Optimizer --------------------------------------------------------------------------- */
static void Optim_dealloc(Optim *o) {
    nb_optim_free(o->o);
    Py_XDECREF(o->model);
    Py_TYPE(o)->tp_free((PyObject *)o);
}

/* optimizer(model, kind='sgd', lr=0 (default), momentum=0, weight_decay=0) */
static PyObject *fn_optimizer(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *names[] = {"model", "kind", "lr", "momentum", "weight_decay", NULL};
    PyObject *model;
    const char *kind = "sgd";
    double lr = 0, mom = 0, wd = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|sddd", names, &ModelType, &model, &kind, &lr,
                                     &mom, &wd))
        return NULL;
    int k = nb_optim_kind_from_name(kind);
    if (k < 0) {
        PyErr_Format(Error, "unknown optimizer '%s' (sgd, adam, adamw, rmsprop, adagrad)", kind);
        return NULL;
    }
    nb_optim_config c = {.kind = (nb_optim_kind)k};
    switch (c.kind) {
    case NB_OPTIM_SGD:
        c.u.sgd = (nb_sgd_opts){.momentum = mom, .weight_decay = wd};
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        c.u.adam = (nb_adam_opts){.weight_decay = wd};
        break;
    case NB_OPTIM_RMSPROP:
        c.u.rmsprop = (nb_rmsprop_opts){.momentum = mom, .weight_decay = wd};
        break;
    default:
        c.u.adagrad = (nb_adagrad_opts){.weight_decay = wd};
        break;
    }
    if (lr != 0 && nb_optim_config_set_lr(&c, lr) != NB_OK) return raise_nb();
    nb_optim *op = nb_optim_new(nb_model_params(((Model *)model)->m), &c);
    if (!op) return raise_nb();
    Optim *o = PyObject_New(Optim, &OptimType);
    if (!o) {
        nb_optim_free(op);
        return NULL;
    }
    o->o = op;
    o->model = model;
    Py_INCREF(model);
    return (PyObject *)o;
}

static PyObject *O_step(Optim *o, PyObject *unused) {
    (void)unused;
    if (nb_optim_step(o->o) != NB_OK) return raise_nb();
    Py_RETURN_NONE;
}
static PyObject *O_zero_grad(Optim *o, PyObject *unused) {
    (void)unused;
    nb_optim_zero_grad(o->o);
    Py_RETURN_NONE;
}
static PyObject *O_get_lr(Optim *o, void *c) {
    (void)c;
    return PyFloat_FromDouble(nb_optim_lr(o->o));
}
static int O_set_lr(Optim *o, PyObject *v, void *c) {
    (void)c;
    double lr = PyFloat_AsDouble(v);
    if (lr == -1.0 && PyErr_Occurred()) return -1;
    if (nb_optim_set_lr(o->o, lr) != NB_OK) {
        raise_nb();
        return -1;
    }
    return 0;
}

static PyMethodDef Optim_methods[] = {
    {"step", (PyCFunction)O_step, METH_NOARGS, "One update from the gradients."},
    {"zero_grad", (PyCFunction)O_zero_grad, METH_NOARGS, "Zeroes the parameters' gradients."},
    {NULL, NULL, 0, NULL}};
static PyGetSetDef Optim_getset[] = {
    {"lr", (getter)O_get_lr, (setter)O_set_lr, "The learning rate.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject OptimType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nabla._nabla.Optimizer",
    .tp_basicsize = sizeof(Optim),
    .tp_dealloc = (destructor)Optim_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An optimizer over a model's parameters (nb_optim).",
    .tp_methods = Optim_methods,
    .tp_getset = Optim_getset,
};

/* ---- module ------------------------------------------------------------------------------ */
#define FN(name, doc)                                                                              \
    { #name, (PyCFunction)fn_##name, METH_O, doc }
static PyMethodDef module_methods[] = {
    {"_set_converter", (PyCFunction)set_converter, METH_O, "internal: nabla._convert"},
    {"from_buffer", (PyCFunction)(void (*)(void))from_buffer, METH_VARARGS | METH_KEYWORDS,
     "A Tensor over a C-contiguous writable float32/int32 buffer (no copy)."},
    FN(exp, "e**x"),
    FN(log, "natural log"),
    FN(sqrt, "square root"),
    FN(abs, "|x|"),
    FN(sigmoid, "1/(1+e**-x)"),
    FN(tanh, "tanh"),
    FN(relu, "max(x, 0)"),
    FN(gelu, "x Phi(x)"),
    FN(silu, "x sigmoid(x)"),
    {"sum", (PyCFunction)(void (*)(void))fn_sum, METH_VARARGS | METH_KEYWORDS,
     "sum(x, axis=None, keepdims=False)"},
    {"mean", (PyCFunction)(void (*)(void))fn_mean, METH_VARARGS | METH_KEYWORDS,
     "mean(x, axis=None, keepdims=False)"},
    {"softmax", (PyCFunction)fn_softmax, METH_VARARGS, "softmax(x, axis=-1)"},
    {"reshape", (PyCFunction)fn_reshape, METH_VARARGS, "reshape(x, shape)"},
    {"loss", (PyCFunction)fn_loss, METH_VARARGS, "loss(name, pred, y): the batch mean loss."},
    {"sequential", (PyCFunction)(void (*)(void))fn_sequential, METH_VARARGS | METH_KEYWORDS,
     "sequential(input_shape, seed=0) -> Model"},
    {"from_spec", (PyCFunction)fn_from_spec, METH_VARARGS, "from_spec(text) -> Model"},
    {"load", (PyCFunction)fn_load, METH_VARARGS, "load(path) -> Model"},
    {"optimizer", (PyCFunction)(void (*)(void))fn_optimizer, METH_VARARGS | METH_KEYWORDS,
     "optimizer(model, kind='sgd', lr=0, momentum=0, weight_decay=0) -> Optimizer"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                                        "_nabla",
                                        "nabla's C extension (see nabla/__init__.py).",
                                        -1,
                                        module_methods,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};

PyMODINIT_FUNC PyInit__nabla(void) {
    if (PyType_Ready(&GraphType) < 0 || PyType_Ready(&TensorType) < 0 ||
        PyType_Ready(&ModelType) < 0 || PyType_Ready(&OptimType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    PyObject *bases = PyTuple_Pack(2, PyExc_ValueError, PyExc_RuntimeError);
    Error = bases ? PyErr_NewException("nabla.Error", bases, NULL) : NULL;
    Py_XDECREF(bases);
    if (!Error || PyModule_AddObject(m, "Error", Error) < 0) return NULL;
    Py_INCREF(Error);
    Py_INCREF(&TensorType);
    Py_INCREF(&ModelType);
    Py_INCREF(&OptimType);
    PyModule_AddObject(m, "Tensor", (PyObject *)&TensorType);
    PyModule_AddObject(m, "Model", (PyObject *)&ModelType);
    PyModule_AddObject(m, "Optimizer", (PyObject *)&OptimType);
    return m;
}
