/* io/onnx_export.c — a model as an ONNX file (nb_model_export_onnx): opset 17, IR version 8,
 * the protobuf written by io/protobuf.c.
 *
 * The model's calls are written in their (topological) order from the layers' views (nn/nn.h:
 * nbi_model_call_view, nbi_model_layer_view), the same introspection the int8 quantizer uses:
 * a chain and a graph model alike. Every model input keeps its name and dtype with a dynamic
 * batch dimension "N", each call's outputs are named as its nodes, and each tensor is an
 * initializer named as nabla names it ("dense_1.weight"), written once however often it is
 * used. Composite forms get names "<node>/<part>". This file writes the image and dense kinds;
 * io/onnx_export_seq.c the sequence and graph kinds. A layer without an ONNX form is refused
 * with a message naming the layer and its kind (or why). */
#include "io/onnx.h"
#include "io/onnx_export.h"
#include "base/file.h"
#include "nn/nn.h"
#include "nabla/io.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- names, nodes, initializers, values ------------------------------------------------- */

/* Grows an array of n items of `size` bytes to cap items (the hook has no realloc). */
static void *grow(void *old, int n, int cap, size_t size) {
    void *p = nbi_malloc(size * (size_t)cap);
    if (p && n) memcpy(p, old, size * (size_t)n);
    if (p) nbi_free(old);
    return p;
}

const char *nbi_ox_name(nbi_ox *e, const char *fmt, ...) {
    char what[160], buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(buf, sizeof buf, "%s/%s", e->prefix, what);
    if (e->n_pool == e->cap_pool) {
        int cap = e->cap_pool ? 2 * e->cap_pool : 64;
        char **p = grow(e->pool, e->n_pool, cap, sizeof *p);
        if (!p) return e->oom = true, "";
        e->pool = p;
        e->cap_pool = cap;
    }
    size_t n = strlen(buf) + 1;
    char *s = nbi_malloc(n);
    if (!s) return e->oom = true, "";
    memcpy(s, buf, n);
    e->pool[e->n_pool++] = s;
    return s;
}

static void put_attr(nbi_text *node, const nbi_ox_attr *a) {
    nbi_text t;
    nbi_text_init(&t);
    nbi_pb_str(&t, 1, a->name);
    if (a->type == NBI_OX_A_FLOAT) nbi_pb_float(&t, 2, a->f);
    if (a->type == NBI_OX_A_INT) nbi_pb_int(&t, 3, a->i);
    if (a->type == NBI_OX_A_STRING) nbi_pb_str(&t, 4, a->s);
    if (a->type == NBI_OX_A_INTS)
        for (int k = 0; k < a->n; k++) nbi_pb_int(&t, 8, a->ints[k]);
    if (a->type == NBI_OX_A_STRINGS)
        for (int k = 0; k < a->n; k++) nbi_pb_str(&t, 9, a->s);
    nbi_pb_int(&t, 20, a->type);
    nbi_pb_msg(node, 5, &t);
    nbi_text_free(&t);
}

static void node_named(nbi_ox *e, const char *op, const char *name, const char *const *in, int n_in,
                       const char *const *out, int n_out, const nbi_ox_attr *a, int n_a) {
    nbi_text t;
    nbi_text_init(&t);
    for (int k = 0; k < n_in; k++) nbi_pb_str(&t, 1, in[k]);
    for (int k = 0; k < n_out; k++) nbi_pb_str(&t, 2, out[k]);
    nbi_pb_str(&t, 3, name);
    nbi_pb_str(&t, 4, op);
    for (int k = 0; k < n_a; k++) put_attr(&t, &a[k]);
    nbi_pb_msg(&e->graph, 1, &t);
    nbi_text_free(&t);
}

void nbi_ox_node(nbi_ox *e, const char *op, const char *const *in, int n_in, const char *const *out,
                 int n_out, const nbi_ox_attr *a, int n_a) {
    node_named(e, op, out[0], in, n_in, out, n_out, a, n_a);
}

/* A node of the chain forms: op on inputs (up to 3, NULL-terminated) to one output. */
static void node(nbi_ox *e, const char *op, const char *name, const char *in0, const char *in1,
                 const char *in2, const char *out, const nbi_ox_attr *attrs, int n_attrs) {
    const char *ins[3] = {in0, in1, in2};
    int n = 0;
    while (n < 3 && ins[n]) n++;
    node_named(e, op, name, ins, n, &out, 1, attrs, n_attrs);
}

static void tensor_proto(nbi_ox *e, const char *name, int type, const void *v, int rank,
                         const int64_t *dims) {
    nbi_text t;
    nbi_text_init(&t);
    int64_t n = 1;
    for (int k = 0; k < rank; k++) nbi_pb_int(&t, 1, dims[k]), n *= dims[k];
    nbi_pb_int(&t, 2, type);
    nbi_pb_str(&t, 8, name);
    if (n && type == NBI_OX_FLOAT) nbi_pb_packed_floats(&t, 4, v, (size_t)n);
    if (n && type == NBI_OX_INT64) nbi_pb_packed_ints(&t, 7, v, (size_t)n);
    nbi_pb_msg(&e->graph, 5, &t);
    nbi_text_free(&t);
}

void nbi_ox_floats(nbi_ox *e, const char *name, const float *v, int rank, const int64_t *dims) {
    tensor_proto(e, name, NBI_OX_FLOAT, v, rank, dims);
}

void nbi_ox_int64s(nbi_ox *e, const char *name, const int64_t *v, int64_t n) {
    tensor_proto(e, name, NBI_OX_INT64, v, 1, &n);
}

void nbi_ox_int64_scalar(nbi_ox *e, const char *name, int64_t v) {
    tensor_proto(e, name, NBI_OX_INT64, &v, 0, NULL);
}

void nbi_ox_scalar(nbi_ox *e, const char *name, float v) {
    nbi_ox_floats(e, name, &v, 0, NULL);
}

const char *nbi_ox_param(nbi_ox *e, const nb_tensor *x) {
    if (!x->data || !nb_tensor_is_contiguous(x) || x->dtype != NB_F32 || !x->name) {
        nbi_error(NB_ERR_ARG,
                  "nb_model_export_onnx: layer '%s': a tensor without data (a model built "
                  "dry?)",
                  e->layer);
        return NULL;
    }
    for (int k = 0; k < e->n_done; k++)
        if (e->done[k] == x) return x->name;
    if (e->n_done == e->cap_done) {
        int cap = e->cap_done ? 2 * e->cap_done : 64;
        const nb_tensor **d = grow(e->done, e->n_done, cap, sizeof *d);
        if (!d) {
            e->oom = true;
            return x->name;
        }
        e->done = d;
        e->cap_done = cap;
    }
    e->done[e->n_done++] = x;
    nbi_ox_floats(e, x->name, nb_f32(x), x->rank, x->shape);
    return x->name;
}

static nb_status tensor_init(nbi_ox *e, const nb_tensor *x, const char **name) {
    *name = nbi_ox_param(e, x);
    return *name ? NB_OK : NB_ERR_ARG;
}

/* A ValueInfoProto for a tensor [N, dims...] of ONNX type elem into the graph's field
 * `field`; a dimension known only at run time is named "d<k>" (with "_<tag>" for the values
 * after the first of the inputs or of the outputs). */
static void value_info(nbi_text *g, int field, const char *name, int elem, int rank,
                       const int64_t *dims, int tag) {
    nbi_text shape, tt, type, vi;
    nbi_text_init(&shape);
    nbi_text_init(&tt);
    nbi_text_init(&type);
    nbi_text_init(&vi);
    nbi_text d;
    nbi_text_init(&d);
    nbi_pb_str(&d, 2, "N");
    nbi_pb_msg(&shape, 1, &d);
    for (int k = 0; k < rank; k++) {
        d.len = 0;
        if (dims[k] >= 0)
            nbi_pb_int(&d, 1, dims[k]);
        else {
            char p[32];
            if (tag)
                snprintf(p, sizeof p, "d%d_%d", k + 1, tag);
            else
                snprintf(p, sizeof p, "d%d", k + 1);
            nbi_pb_str(&d, 2, p);
        }
        nbi_pb_msg(&shape, 1, &d);
    }
    nbi_pb_int(&tt, 1, elem);
    nbi_pb_msg(&tt, 2, &shape);
    nbi_pb_msg(&type, 1, &tt);
    nbi_pb_str(&vi, 1, name);
    nbi_pb_msg(&vi, 2, &type);
    nbi_pb_msg(g, field, &vi);
    nbi_text_free(&d);
    nbi_text_free(&shape);
    nbi_text_free(&tt);
    nbi_text_free(&type);
    nbi_text_free(&vi);
}

/* ---- layers ----------------------------------------------------------------------------- */

nb_status nbi_ox_unsupported(nbi_ox *e, const char *why) {
    e->named = true;
    return nbi_error(NB_ERR_UNSUPPORTED, "nb_model_export_onnx: layer '%s' of kind %s: %s",
                     e->layer, e->kind, why);
}

/* The activation act on x into out. */
nb_status nbi_ox_activation(nbi_ox *e, nb_activation act, float alpha, const char *x,
                            const char *out) {
    switch (act) {
    case NB_ACT_NONE:
        node(e, "Identity", nbi_ox_name(e, "identity"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_SIGMOID:
        node(e, "Sigmoid", nbi_ox_name(e, "sigmoid"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_TANH:
        node(e, "Tanh", nbi_ox_name(e, "tanh"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_RELU:
        node(e, "Relu", nbi_ox_name(e, "relu"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_LEAKY_RELU: {
        nbi_ox_attr a = {"alpha", NBI_OX_A_FLOAT, 0, alpha == 0 ? 0.01f : alpha, NULL, 0, NULL};
        node(e, "LeakyRelu", nbi_ox_name(e, "leaky_relu"), x, NULL, NULL, out, &a, 1);
        break;
    }
    case NB_ACT_ELU: {
        nbi_ox_attr a = {"alpha", NBI_OX_A_FLOAT, 0, alpha == 0 ? 1.0f : alpha, NULL, 0, NULL};
        node(e, "Elu", nbi_ox_name(e, "elu"), x, NULL, NULL, out, &a, 1);
        break;
    }
    case NB_ACT_GELU: {
        /* exact GELU: x · (Erf(x / √2) + 1) / 2 (the Gelu op is opset 20) */
        char c1[160], c2[160], a[160], b[160], c[160], d[160];
        snprintf(c1, sizeof c1, "%s", nbi_ox_name(e, "sqrt2"));
        snprintf(c2, sizeof c2, "%s", nbi_ox_name(e, "one"));
        nbi_ox_scalar(e, c1, (float)sqrt(2.0));
        nbi_ox_scalar(e, c2, 1.0f);
        snprintf(a, sizeof a, "%s", nbi_ox_name(e, "div"));
        snprintf(b, sizeof b, "%s", nbi_ox_name(e, "erf"));
        snprintf(c, sizeof c, "%s", nbi_ox_name(e, "add"));
        snprintf(d, sizeof d, "%s", nbi_ox_name(e, "mul"));
        char half[160];
        snprintf(half, sizeof half, "%s", nbi_ox_name(e, "half"));
        nbi_ox_scalar(e, half, 0.5f);
        node(e, "Div", a, x, c1, NULL, a, NULL, 0);
        node(e, "Erf", b, a, NULL, NULL, b, NULL, 0);
        node(e, "Add", c, b, c2, NULL, c, NULL, 0);
        node(e, "Mul", d, x, c, NULL, d, NULL, 0);
        node(e, "Mul", nbi_ox_name(e, "gelu"), d, half, NULL, out, NULL, 0);
        break;
    }
    case NB_ACT_SILU: {
        char s[160];
        snprintf(s, sizeof s, "%s", nbi_ox_name(e, "sigmoid"));
        node(e, "Sigmoid", s, x, NULL, NULL, s, NULL, 0);
        node(e, "Mul", nbi_ox_name(e, "silu"), x, s, NULL, out, NULL, 0);
        break;
    }
    case NB_ACT_SOFTPLUS:
        /* log(1 + e^x); nabla (like PyTorch) returns x above 20, where the two agree to
         * within a float's rounding */
        node(e, "Softplus", nbi_ox_name(e, "softplus"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_MISH: {
        char sp[160], th[160];
        snprintf(sp, sizeof sp, "%s", nbi_ox_name(e, "softplus"));
        snprintf(th, sizeof th, "%s", nbi_ox_name(e, "tanh"));
        node(e, "Softplus", sp, x, NULL, NULL, sp, NULL, 0);
        node(e, "Tanh", th, sp, NULL, NULL, th, NULL, 0);
        node(e, "Mul", nbi_ox_name(e, "mish"), x, th, NULL, out, NULL, 0);
        break;
    }
    case NB_ACT_SOFTMAX: {
        nbi_ox_attr a = {"axis", NBI_OX_A_INT, -1, 0, NULL, 0, NULL};
        node(e, "Softmax", nbi_ox_name(e, "softmax"), x, NULL, NULL, out, &a, 1);
        break;
    }
    case NB_ACT_LOG_SOFTMAX: {
        nbi_ox_attr a = {"axis", NBI_OX_A_INT, -1, 0, NULL, 0, NULL};
        node(e, "LogSoftmax", nbi_ox_name(e, "log_softmax"), x, NULL, NULL, out, &a, 1);
        break;
    }
    default: {
        char why[96];
        snprintf(why, sizeof why, "activation %d has no ONNX form here", (int)act);
        return nbi_ox_unsupported(e, why);
    }
    }
    return NB_OK;
}

/* The op's output: `out` itself when no activation follows, else "<layer>/pre". */
static const char *pre(nbi_ox *e, nb_activation act, const char *out) {
    return act == NB_ACT_NONE ? out : nbi_ox_name(e, "pre");
}

/* The image and dense kinds (one input, one output). */
static nb_status export_layer(nbi_ox *e, const nbi_ox_call *c) {
    const nbi_layer_view *v = c->v;
    const char *x = c->in[0], *out = c->out[0];
    const int in_rank = c->in_rank, out_rank = c->out_rank;
    nb_status st = NB_OK;
    const char *w = NULL, *b = NULL;
    char mid[400];
    switch (v->kind) {
    case NBI_VIEW_DENSE: {
        if ((st = tensor_init(e, v->weight, &w)) != NB_OK) return st;
        if (v->bias && (st = tensor_init(e, v->bias, &b)) != NB_OK) return st;
        snprintf(mid, sizeof mid, "%s", pre(e, v->act, out));
        if (in_rank == 1) {
            node(e, "Gemm", nbi_ox_name(e, "gemm"), x, w, b, mid, NULL, 0);
        } else if (b) {
            char mm[160];
            snprintf(mm, sizeof mm, "%s", nbi_ox_name(e, "matmul"));
            node(e, "MatMul", mm, x, w, NULL, mm, NULL, 0);
            node(e, "Add", nbi_ox_name(e, "add"), mm, b, NULL, mid, NULL, 0);
        } else {
            node(e, "MatMul", nbi_ox_name(e, "matmul"), x, w, NULL, mid, NULL, 0);
        }
        return v->act == NB_ACT_NONE ? NB_OK : nbi_ox_activation(e, v->act, v->alpha, mid, out);
    }
    case NBI_VIEW_CONV2D: {
        if ((st = tensor_init(e, v->weight, &w)) != NB_OK) return st;
        if (v->bias && (st = tensor_init(e, v->bias, &b)) != NB_OK) return st;
        int64_t pads[4] = {v->pad[0], v->pad[2], v->pad[1], v->pad[3]};
        nbi_ox_attr a[5] = {{"kernel_shape", NBI_OX_A_INTS, 0, 0, v->kernel, 2, NULL},
                            {"strides", NBI_OX_A_INTS, 0, 0, v->stride, 2, NULL},
                            {"dilations", NBI_OX_A_INTS, 0, 0, v->dilation, 2, NULL},
                            {"pads", NBI_OX_A_INTS, 0, 0, pads, 4, NULL},
                            {"group", NBI_OX_A_INT, v->groups ? v->groups : 1, 0, NULL, 0, NULL}};
        snprintf(mid, sizeof mid, "%s", pre(e, v->act, out));
        node(e, "Conv", nbi_ox_name(e, "conv"), x, w, b, mid, a, 5);
        return v->act == NB_ACT_NONE ? NB_OK : nbi_ox_activation(e, v->act, v->alpha, mid, out);
    }
    case NBI_VIEW_MAXPOOL2D:
    case NBI_VIEW_AVGPOOL2D: {
        bool max = v->kind == NBI_VIEW_MAXPOOL2D;
        int64_t pads[4] = {v->pad[0], v->pad[2], v->pad[1], v->pad[3]};
        if (!max && (v->dilation[0] != 1 || v->dilation[1] != 1))
            return nbi_ox_unsupported(e,
                                      "average pooling with dilation (AveragePool has none before "
                                      "opset 19)");
        nbi_ox_attr a[4] = {{"kernel_shape", NBI_OX_A_INTS, 0, 0, v->kernel, 2, NULL},
                            {"strides", NBI_OX_A_INTS, 0, 0, v->stride, 2, NULL},
                            {"pads", NBI_OX_A_INTS, 0, 0, pads, 4, NULL},
                            {max ? "dilations" : "count_include_pad",
                             max ? NBI_OX_A_INTS : NBI_OX_A_INT, v->exclude_pad ? 0 : 1, 0,
                             v->dilation, 2, NULL}};
        node(e, max ? "MaxPool" : "AveragePool", nbi_ox_name(e, "%s", max ? "maxpool" : "avgpool"),
             x, NULL, NULL, out, a, 4);
        return NB_OK;
    }
    case NBI_VIEW_GLOBAL_AVGPOOL2D:
        if (out_rank == 3) {
            node(e, "GlobalAveragePool", nbi_ox_name(e, "gap"), x, NULL, NULL, out, NULL, 0);
        } else {
            snprintf(mid, sizeof mid, "%s", nbi_ox_name(e, "gap"));
            node(e, "GlobalAveragePool", mid, x, NULL, NULL, mid, NULL, 0);
            nbi_ox_attr a = {"axis", NBI_OX_A_INT, 1, 0, NULL, 0, NULL};
            node(e, "Flatten", nbi_ox_name(e, "flatten"), mid, NULL, NULL, out, &a, 1);
        }
        return NB_OK;
    case NBI_VIEW_FLATTEN: {
        nbi_ox_attr a = {"axis", NBI_OX_A_INT, 1, 0, NULL, 0, NULL};
        node(e, "Flatten", nbi_ox_name(e, "flatten"), x, NULL, NULL, out, &a, 1);
        return NB_OK;
    }
    case NBI_VIEW_ACTIVATION:
        return nbi_ox_activation(e, v->act, v->alpha, x, out);
    case NBI_VIEW_DROPOUT:
        node(e, "Identity", nbi_ox_name(e, "dropout"), x, NULL, NULL, out, NULL, 0);
        return NB_OK;
    case NBI_VIEW_BATCHNORM: {
        const char *g = NULL, *bb = NULL, *mu = NULL, *var = NULL;
        char s1[400], s2[400];
        if ((st = tensor_init(e, v->mean, &mu)) != NB_OK) return st;
        if ((st = tensor_init(e, v->var, &var)) != NB_OK) return st;
        int64_t nc = v->mean->numel;
        if (v->weight) {
            if ((st = tensor_init(e, v->weight, &g)) != NB_OK) return st;
            if ((st = tensor_init(e, v->bias, &bb)) != NB_OK) return st;
        } else {
            /* no affine: scale 1, shift 0 */
            float *ones = nbi_malloc_for("nb_model_export_onnx", sizeof(float) * (size_t)nc * 2);
            if (!ones) return NB_ERR_NOMEM;
            for (int64_t k = 0; k < nc; k++) ones[k] = 1.0f, ones[nc + k] = 0.0f;
            snprintf(s1, sizeof s1, "%s", nbi_ox_name(e, "scale"));
            snprintf(s2, sizeof s2, "%s", nbi_ox_name(e, "shift"));
            nbi_ox_floats(e, s1, ones, 1, &nc);
            nbi_ox_floats(e, s2, ones + nc, 1, &nc);
            nbi_free(ones);
            g = s1;
            bb = s2;
        }
        nbi_ox_attr a = {"epsilon", NBI_OX_A_FLOAT, 0, v->eps, NULL, 0, NULL};
        nbi_text t;
        nbi_text_init(&t);
        const char *ins[5] = {x, g, bb, mu, var};
        for (int k = 0; k < 5; k++) nbi_pb_str(&t, 1, ins[k]);
        nbi_pb_str(&t, 2, out);
        nbi_pb_str(&t, 3, nbi_ox_name(e, "batchnorm"));
        nbi_pb_str(&t, 4, "BatchNormalization");
        put_attr(&t, &a);
        nbi_pb_msg(&e->graph, 1, &t);
        nbi_text_free(&t);
        return NB_OK;
    }
    default:
        break;
    }
    return NB_ERR_UNSUPPORTED; /* the caller names the kind */
}

static int onnx_elem(nb_dtype dt) {
    return dt == NB_I32 ? NBI_OX_INT32 : NBI_OX_FLOAT;
}

/* Which nodes a call reads or the model gives out (e->used, by handle). */
static nb_status mark_used(nbi_ox *e) {
    const nb_model *m = e->m;
    int n_nodes = nb_model_node_count(m);
    e->used = nbi_calloc((size_t)n_nodes + 1, sizeof *e->used);
    if (!e->used) return nbi_error(NB_ERR_NOMEM, "nb_model_export_onnx: out of memory");
    for (int k = 0; k < nbi_model_call_count(m); k++) {
        int layer, in[NBI_VIEW_MAX_IN], n_in, first_out, n_out;
        nb_status st = nbi_model_call_view(m, k, &layer, in, &n_in, &first_out, &n_out);
        if (st != NB_OK) return st;
        for (int i = 0; i < n_in; i++)
            if (in[i] > 0 && in[i] <= n_nodes) e->used[in[i]] = true;
    }
    for (int i = 0; i < nb_model_output_count(m); i++) {
        int h = nb_model_output_node(m, i);
        if (h > 0 && h <= n_nodes) e->used[h] = true;
    }
    return NB_OK;
}

/* Call k: its view, its values' names, the shape of its first input; then its ONNX form. */
static nb_status export_call(nbi_ox *e, int k) {
    const nb_model *m = e->m;
    int layer, in[NBI_VIEW_MAX_IN], n_in, first_out, n_out;
    nb_status st = nbi_model_call_view(m, k, &layer, in, &n_in, &first_out, &n_out);
    if (st != NB_OK) return st;
    nbi_layer_view v;
    const char *lname;
    if ((st = nbi_model_layer_view(m, layer, &v, &lname, NULL)) != NB_OK) return st;
    nbi_ox_call c;
    memset(&c, 0, sizeof c);
    c.v = &v;
    c.n_in = n_in;
    c.n_out = n_out < NBI_MAX_OUT ? n_out : NBI_MAX_OUT;
    for (int i = 0; i < c.n_out; i++) c.out_used[i] = e->used[first_out + i];
    for (int i = 0; i < n_in; i++) {
        c.in[i] = in[i] > 0 ? nb_model_node_name(m, in[i]) : "";
        nb_dtype di = NB_F32;
        c.in_ranks[i] = in[i] > 0 ? nb_model_node_shape(m, in[i], &di, NULL) : -1;
        c.in_i32[i] = in[i] > 0 && di == NB_I32;
    }
    for (int i = 0; i < c.n_out; i++) c.out[i] = nb_model_node_name(m, first_out + i);
    nb_dtype dt;
    c.in_rank = nb_model_node_shape(m, in[0], &dt, c.in_shape);
    int64_t oshape[NB_MAX_RANK];
    c.out_rank = nb_model_node_shape(m, first_out, &dt, oshape);
    const nbi_layer *l = nbi_model_layer_named(m, lname);
    e->layer = lname;
    e->kind = l ? l->vt->kind : "?";
    e->prefix = c.out[0];
    e->named = false;
    st = NB_ERR_UNSUPPORTED;
    if (v.kind != NBI_VIEW_OTHER && v.kind <= NBI_VIEW_BATCHNORM && n_in == 1)
        st = export_layer(e, &c);
    else if (v.kind > NBI_VIEW_BATCHNORM)
        st = nbi_ox_seq_call(e, &c);
    if (st == NB_ERR_UNSUPPORTED && !e->named)
        st = nbi_error(NB_ERR_UNSUPPORTED,
                       "nb_model_export_onnx: layer '%s' of kind %s has no ONNX mapping yet", lname,
                       e->kind);
    return st;
}

nb_status nbi_model_onnx_bytes(const nb_model *m, nbi_text *out) {
    nbi_ox e;
    memset(&e, 0, sizeof e);
    e.m = m;
    nbi_text_init(&e.graph);
    nb_status st = NB_OK;
    for (int i = 0; i < nb_model_input_count(m); i++) {
        int node_in = nb_model_input_node(m, i);
        int64_t shape[NB_MAX_RANK];
        nb_dtype dt;
        int rank = nb_model_node_shape(m, node_in, &dt, shape);
        value_info(&e.graph, 11, nb_model_node_name(m, node_in), onnx_elem(dt), rank, shape, i);
    }
    int n = nbi_model_call_count(m);
    st = mark_used(&e);
    for (int k = 0; k < n && st == NB_OK; k++) st = export_call(&e, k);
    if (st == NB_OK && e.oom) st = nbi_error(NB_ERR_NOMEM, "nb_model_export_onnx: out of memory");
    if (st == NB_OK) {
        for (int i = 0; i < nb_model_output_count(m); i++) {
            int node_out = nb_model_output_node(m, i);
            int64_t shape[NB_MAX_RANK];
            nb_dtype dt;
            int rank = nb_model_node_shape(m, node_out, &dt, shape);
            value_info(&e.graph, 12, nb_model_node_name(m, node_out), onnx_elem(dt), rank, shape,
                       i);
        }
        nbi_pb_str(&e.graph, 2, "nabla");
        nbi_text op;
        nbi_text_init(&op);
        nbi_pb_str(&op, 1, "");
        nbi_pb_int(&op, 2, 17);
        nbi_pb_int(out, 1, 8);
        nbi_pb_str(out, 2, "nabla");
        nbi_pb_msg(out, 7, &e.graph);
        nbi_pb_msg(out, 8, &op);
        nbi_text_free(&op);
        st = nbi_text_status(out, "nb_model_export_onnx");
    }
    nbi_text_free(&e.graph);
    for (int i = 0; i < e.n_pool; i++) nbi_free(e.pool[i]);
    nbi_free(e.pool);
    nbi_free(e.done);
    nbi_free(e.used);
    return st;
}

nb_status nb_model_export_onnx(const nb_model *m, const char *path) {
    if (!m || !path) return nbi_error(NB_ERR_ARG, "nb_model_export_onnx: NULL argument");
    nbi_text t;
    nbi_text_init(&t);
    nb_status st = nbi_model_onnx_bytes(m, &t);
    if (st == NB_OK) st = nbi_write_file_atomic(path, t.buf, t.len);
    nbi_text_free(&t);
    return st;
}
