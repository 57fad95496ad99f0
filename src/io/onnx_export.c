/* io/onnx_export.c — a model as an ONNX file (nb_model_export_onnx): opset 17, IR version 8,
 * the protobuf written by io/protobuf.c.
 *
 * A chain of layers (nb_model_is_sequential) is exported layer by layer from the layers' views
 * (nn/nn.h: nbi_model_layer_view), the same introspection the int8 quantizer uses: the graph
 * input keeps the model input's name with a dynamic batch dimension "N", each layer's output
 * is named as the layer, and each tensor is an initializer named as nabla names it
 * ("dense_1.weight"). Composite forms get names "<layer>/<part>". A layer kind without an
 * ONNX form here is refused with a message naming the layer and its kind. */
#include "io/onnx.h"
#include "io/protobuf.h"
#include "base/file.h"
#include "nn/nn.h"
#include "nabla/io.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };
enum { ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7 };

typedef struct exporter {
    const nb_model *m;
    nbi_text graph; /* GraphProto fields */
    char tmp[4][160];
    int k_tmp;
    const char *layer;
} exporter;

/* "<layer>/<part>" in a rotating buffer. */
static const char *part(exporter *e, const char *what) {
    e->k_tmp = (e->k_tmp + 1) % 4;
    snprintf(e->tmp[e->k_tmp], sizeof e->tmp[e->k_tmp], "%s/%s", e->layer, what);
    return e->tmp[e->k_tmp];
}

/* ---- attributes ------------------------------------------------------------------------- */

typedef struct attr {
    const char *name;
    int type;
    int64_t i;
    float f;
    const int64_t *ints;
    int n;
} attr;

static void put_attr(nbi_text *node, const attr *a) {
    nbi_text t;
    nbi_text_init(&t);
    nbi_pb_str(&t, 1, a->name);
    if (a->type == ATTR_FLOAT) nbi_pb_float(&t, 2, a->f);
    if (a->type == ATTR_INT) nbi_pb_int(&t, 3, a->i);
    if (a->type == ATTR_INTS)
        for (int k = 0; k < a->n; k++) nbi_pb_int(&t, 8, a->ints[k]);
    nbi_pb_int(&t, 20, a->type);
    nbi_pb_msg(node, 5, &t);
    nbi_text_free(&t);
}

/* A node: op on inputs (NULL-terminated list of up to 3) to one output. */
static void node(exporter *e, const char *op, const char *name, const char *in0, const char *in1,
                 const char *in2, const char *out, const attr *attrs, int n_attrs) {
    nbi_text t;
    nbi_text_init(&t);
    const char *ins[3] = {in0, in1, in2};
    for (int k = 0; k < 3 && ins[k]; k++) nbi_pb_str(&t, 1, ins[k]);
    nbi_pb_str(&t, 2, out);
    nbi_pb_str(&t, 3, name);
    nbi_pb_str(&t, 4, op);
    for (int k = 0; k < n_attrs; k++) put_attr(&t, &attrs[k]);
    nbi_pb_msg(&e->graph, 1, &t);
    nbi_text_free(&t);
}

/* An f32 initializer from n values with the given dims. */
static void initializer(exporter *e, const char *name, const float *v, int rank,
                        const int64_t *dims) {
    nbi_text t;
    nbi_text_init(&t);
    int64_t n = 1;
    for (int k = 0; k < rank; k++) nbi_pb_int(&t, 1, dims[k]), n *= dims[k];
    nbi_pb_int(&t, 2, ONNX_FLOAT);
    nbi_pb_str(&t, 8, name);
    if (n) nbi_pb_packed_floats(&t, 4, v, (size_t)n);
    nbi_pb_msg(&e->graph, 5, &t);
    nbi_text_free(&t);
}

static nb_status tensor_init(exporter *e, const nb_tensor *x, const char *fallback,
                             const char **name) {
    if (!x->data || !nb_tensor_is_contiguous(x) || x->dtype != NB_F32)
        return nbi_error(NB_ERR_ARG,
                         "nb_model_export_onnx: layer '%s': a tensor without data (a model "
                         "built dry?)",
                         e->layer);
    *name = x->name ? x->name : fallback;
    initializer(e, *name, nb_f32(x), x->rank, x->shape);
    return NB_OK;
}

static void scalar_init(exporter *e, const char *name, float v) {
    initializer(e, name, &v, 0, NULL);
}

/* A ValueInfoProto for an f32 tensor [N, dims...] into the graph's field `field`. */
static void value_info(nbi_text *g, int field, const char *name, int rank, const int64_t *dims) {
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
            char p[16];
            snprintf(p, sizeof p, "d%d", k + 1);
            nbi_pb_str(&d, 2, p);
        }
        nbi_pb_msg(&shape, 1, &d);
    }
    nbi_pb_int(&tt, 1, ONNX_FLOAT);
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

static nb_status unsupported(exporter *e, const char *why) {
    return nbi_error(NB_ERR_UNSUPPORTED, "nb_model_export_onnx: layer '%s': %s", e->layer, why);
}

/* The activation act on x into out. */
static nb_status activation(exporter *e, nb_activation act, float alpha, const char *x,
                            const char *out) {
    switch (act) {
    case NB_ACT_NONE:
        node(e, "Identity", part(e, "identity"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_SIGMOID:
        node(e, "Sigmoid", part(e, "sigmoid"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_TANH:
        node(e, "Tanh", part(e, "tanh"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_RELU:
        node(e, "Relu", part(e, "relu"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_LEAKY_RELU: {
        attr a = {"alpha", ATTR_FLOAT, 0, alpha == 0 ? 0.01f : alpha, NULL, 0};
        node(e, "LeakyRelu", part(e, "leaky_relu"), x, NULL, NULL, out, &a, 1);
        break;
    }
    case NB_ACT_ELU: {
        attr a = {"alpha", ATTR_FLOAT, 0, alpha == 0 ? 1.0f : alpha, NULL, 0};
        node(e, "Elu", part(e, "elu"), x, NULL, NULL, out, &a, 1);
        break;
    }
    case NB_ACT_GELU: {
        /* exact GELU: x · (Erf(x / √2) + 1) / 2 (the Gelu op is opset 20) */
        char c1[160], c2[160], a[160], b[160], c[160], d[160];
        snprintf(c1, sizeof c1, "%s", part(e, "sqrt2"));
        snprintf(c2, sizeof c2, "%s", part(e, "one"));
        scalar_init(e, c1, (float)sqrt(2.0));
        scalar_init(e, c2, 1.0f);
        snprintf(a, sizeof a, "%s", part(e, "div"));
        snprintf(b, sizeof b, "%s", part(e, "erf"));
        snprintf(c, sizeof c, "%s", part(e, "add"));
        snprintf(d, sizeof d, "%s", part(e, "mul"));
        char half[160];
        snprintf(half, sizeof half, "%s", part(e, "half"));
        scalar_init(e, half, 0.5f);
        node(e, "Div", a, x, c1, NULL, a, NULL, 0);
        node(e, "Erf", b, a, NULL, NULL, b, NULL, 0);
        node(e, "Add", c, b, c2, NULL, c, NULL, 0);
        node(e, "Mul", d, x, c, NULL, d, NULL, 0);
        node(e, "Mul", part(e, "gelu"), d, half, NULL, out, NULL, 0);
        break;
    }
    case NB_ACT_SILU: {
        char s[160];
        snprintf(s, sizeof s, "%s", part(e, "sigmoid"));
        node(e, "Sigmoid", s, x, NULL, NULL, s, NULL, 0);
        node(e, "Mul", part(e, "silu"), x, s, NULL, out, NULL, 0);
        break;
    }
    case NB_ACT_SOFTPLUS:
        /* log(1 + e^x); nabla (like PyTorch) returns x above 20, where the two agree to
         * within a float's rounding */
        node(e, "Softplus", part(e, "softplus"), x, NULL, NULL, out, NULL, 0);
        break;
    case NB_ACT_MISH: {
        char sp[160], th[160];
        snprintf(sp, sizeof sp, "%s", part(e, "softplus"));
        snprintf(th, sizeof th, "%s", part(e, "tanh"));
        node(e, "Softplus", sp, x, NULL, NULL, sp, NULL, 0);
        node(e, "Tanh", th, sp, NULL, NULL, th, NULL, 0);
        node(e, "Mul", part(e, "mish"), x, th, NULL, out, NULL, 0);
        break;
    }
    case NB_ACT_SOFTMAX: {
        attr a = {"axis", ATTR_INT, -1, 0, NULL, 0};
        node(e, "Softmax", part(e, "softmax"), x, NULL, NULL, out, &a, 1);
        break;
    }
    case NB_ACT_LOG_SOFTMAX: {
        attr a = {"axis", ATTR_INT, -1, 0, NULL, 0};
        node(e, "LogSoftmax", part(e, "log_softmax"), x, NULL, NULL, out, &a, 1);
        break;
    }
    default: {
        char why[96];
        snprintf(why, sizeof why, "activation %d has no ONNX form here", (int)act);
        return unsupported(e, why);
    }
    }
    return NB_OK;
}

/* The op's output: `out` itself when no activation follows, else "<layer>/pre". */
static const char *pre(exporter *e, nb_activation act, const char *out) {
    return act == NB_ACT_NONE ? out : part(e, "pre");
}

static nb_status export_layer(exporter *e, const nbi_layer_view *v, const char *x, const char *out,
                              int in_rank, int out_rank) {
    nb_status st = NB_OK;
    const char *w = NULL, *b = NULL;
    char wn[192], bn[192], mid[160];
    snprintf(wn, sizeof wn, "%s.weight", e->layer);
    snprintf(bn, sizeof bn, "%s.bias", e->layer);
    switch (v->kind) {
    case NBI_VIEW_DENSE: {
        if ((st = tensor_init(e, v->weight, wn, &w)) != NB_OK) return st;
        if (v->bias && (st = tensor_init(e, v->bias, bn, &b)) != NB_OK) return st;
        snprintf(mid, sizeof mid, "%s", pre(e, v->act, out));
        if (in_rank == 1) {
            node(e, "Gemm", part(e, "gemm"), x, w, b, mid, NULL, 0);
        } else if (b) {
            char mm[160];
            snprintf(mm, sizeof mm, "%s", part(e, "matmul"));
            node(e, "MatMul", mm, x, w, NULL, mm, NULL, 0);
            node(e, "Add", part(e, "add"), mm, b, NULL, mid, NULL, 0);
        } else {
            node(e, "MatMul", part(e, "matmul"), x, w, NULL, mid, NULL, 0);
        }
        return v->act == NB_ACT_NONE ? NB_OK : activation(e, v->act, v->alpha, mid, out);
    }
    case NBI_VIEW_CONV2D: {
        if ((st = tensor_init(e, v->weight, wn, &w)) != NB_OK) return st;
        if (v->bias && (st = tensor_init(e, v->bias, bn, &b)) != NB_OK) return st;
        int64_t pads[4] = {v->pad[0], v->pad[2], v->pad[1], v->pad[3]};
        attr a[5] = {{"kernel_shape", ATTR_INTS, 0, 0, v->kernel, 2},
                     {"strides", ATTR_INTS, 0, 0, v->stride, 2},
                     {"dilations", ATTR_INTS, 0, 0, v->dilation, 2},
                     {"pads", ATTR_INTS, 0, 0, pads, 4},
                     {"group", ATTR_INT, v->groups ? v->groups : 1, 0, NULL, 0}};
        snprintf(mid, sizeof mid, "%s", pre(e, v->act, out));
        node(e, "Conv", part(e, "conv"), x, w, b, mid, a, 5);
        return v->act == NB_ACT_NONE ? NB_OK : activation(e, v->act, v->alpha, mid, out);
    }
    case NBI_VIEW_MAXPOOL2D:
    case NBI_VIEW_AVGPOOL2D: {
        bool max = v->kind == NBI_VIEW_MAXPOOL2D;
        int64_t pads[4] = {v->pad[0], v->pad[2], v->pad[1], v->pad[3]};
        if (!max && (v->dilation[0] != 1 || v->dilation[1] != 1))
            return unsupported(e, "average pooling with dilation (AveragePool has none before "
                                  "opset 19)");
        attr a[4] = {{"kernel_shape", ATTR_INTS, 0, 0, v->kernel, 2},
                     {"strides", ATTR_INTS, 0, 0, v->stride, 2},
                     {"pads", ATTR_INTS, 0, 0, pads, 4},
                     {max ? "dilations" : "count_include_pad", max ? ATTR_INTS : ATTR_INT,
                      v->exclude_pad ? 0 : 1, 0, v->dilation, 2}};
        node(e, max ? "MaxPool" : "AveragePool", part(e, max ? "maxpool" : "avgpool"), x, NULL,
             NULL, out, a, 4);
        return NB_OK;
    }
    case NBI_VIEW_GLOBAL_AVGPOOL2D:
        if (out_rank == 3) {
            node(e, "GlobalAveragePool", part(e, "gap"), x, NULL, NULL, out, NULL, 0);
        } else {
            snprintf(mid, sizeof mid, "%s", part(e, "gap"));
            node(e, "GlobalAveragePool", mid, x, NULL, NULL, mid, NULL, 0);
            attr a = {"axis", ATTR_INT, 1, 0, NULL, 0};
            node(e, "Flatten", part(e, "flatten"), mid, NULL, NULL, out, &a, 1);
        }
        return NB_OK;
    case NBI_VIEW_FLATTEN: {
        attr a = {"axis", ATTR_INT, 1, 0, NULL, 0};
        node(e, "Flatten", part(e, "flatten"), x, NULL, NULL, out, &a, 1);
        return NB_OK;
    }
    case NBI_VIEW_ACTIVATION:
        return activation(e, v->act, v->alpha, x, out);
    case NBI_VIEW_DROPOUT:
        node(e, "Identity", part(e, "dropout"), x, NULL, NULL, out, NULL, 0);
        return NB_OK;
    case NBI_VIEW_BATCHNORM: {
        const char *g = NULL, *bb = NULL, *mu = NULL, *var = NULL;
        char gn[192], mn[192], vn[192], s1[160], s2[160];
        snprintf(gn, sizeof gn, "%s.weight", e->layer);
        snprintf(mn, sizeof mn, "%s.running_mean", e->layer);
        snprintf(vn, sizeof vn, "%s.running_var", e->layer);
        if ((st = tensor_init(e, v->mean, mn, &mu)) != NB_OK) return st;
        if ((st = tensor_init(e, v->var, vn, &var)) != NB_OK) return st;
        int64_t c = v->mean->numel;
        if (v->weight) {
            if ((st = tensor_init(e, v->weight, gn, &g)) != NB_OK) return st;
            if ((st = tensor_init(e, v->bias, bn, &bb)) != NB_OK) return st;
        } else {
            /* no affine: scale 1, shift 0 */
            float *ones = nbi_malloc_for("nb_model_export_onnx", sizeof(float) * (size_t)c * 2);
            if (!ones) return NB_ERR_NOMEM;
            for (int64_t k = 0; k < c; k++) ones[k] = 1.0f, ones[c + k] = 0.0f;
            snprintf(s1, sizeof s1, "%s", part(e, "scale"));
            snprintf(s2, sizeof s2, "%s", part(e, "shift"));
            initializer(e, s1, ones, 1, &c);
            initializer(e, s2, ones + c, 1, &c);
            nbi_free(ones);
            g = s1;
            bb = s2;
        }
        attr a = {"epsilon", ATTR_FLOAT, 0, v->eps, NULL, 0};
        nbi_text t;
        nbi_text_init(&t);
        const char *ins[5] = {x, g, bb, mu, var};
        for (int k = 0; k < 5; k++) nbi_pb_str(&t, 1, ins[k]);
        nbi_pb_str(&t, 2, out);
        nbi_pb_str(&t, 3, part(e, "batchnorm"));
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

nb_status nbi_model_onnx_bytes(const nb_model *m, nbi_text *out) {
    if (!nb_model_is_sequential(m))
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_model_export_onnx: only a chain of layers (a version-1 spec, a "
                         "torch nn.Sequential) is exported so far; this model is a graph");
    exporter e;
    memset(&e, 0, sizeof e);
    e.m = m;
    nbi_text_init(&e.graph);
    nb_status st = NB_OK;
    int in_node = nb_model_input_node(m, 0);
    const char *x = nb_model_node_name(m, in_node);
    int64_t shape[NB_MAX_RANK];
    nb_dtype dt;
    int rank = nb_model_node_shape(m, in_node, &dt, shape);
    value_info(&e.graph, 11, x, rank, shape);
    int n = nb_model_layer_count(m);
    for (int i = 0; i < n && st == NB_OK; i++) {
        nbi_layer_view v;
        const char *name;
        if ((st = nbi_model_layer_view(m, i, &v, &name, NULL)) != NB_OK) break;
        e.layer = name;
        int node_out = nb_model_find_node(m, name);
        int64_t oshape[NB_MAX_RANK];
        int orank = nb_model_node_shape(m, node_out, &dt, oshape);
        st = export_layer(&e, &v, x, name, rank, orank);
        if (st == NB_ERR_UNSUPPORTED && v.kind == NBI_VIEW_OTHER) {
            const nbi_layer *l = nbi_model_layer_named(m, name);
            st = nbi_error(NB_ERR_UNSUPPORTED,
                           "nb_model_export_onnx: layer '%s' of kind %s has no ONNX mapping yet",
                           name, l ? l->vt->kind : "?");
        }
        x = name;
        rank = orank;
        memcpy(shape, oshape, sizeof shape);
    }
    if (st == NB_OK) {
        value_info(&e.graph, 12, x, rank, shape);
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
