/* io/onnx_ops.c — the ONNX import's node handlers: each supported op (or pattern of ops) as
 * the layers of io/onnx_import.c's model, its initializers copied into the layers' tensors.
 * docs/onnx.md has the table of what maps to what. */
#include "io/onnx_import.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef nbi_onnx_importer importer;
typedef nbi_onnx_val val;

int64_t nbi_onnx_attr_i(const nbi_onnx_node *nd, const char *name, int64_t def) {
    const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, name);
    return a && a->has_i ? a->i : def;
}

float nbi_onnx_attr_f(const nbi_onnx_node *nd, const char *name, float def) {
    const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, name);
    return a && a->has_f ? a->f : def;
}

/* An ints attribute of exactly n values into out (left as it is when absent). */
static nb_status attr_ints(const importer *im, const nbi_onnx_node *nd, const char *name,
                           int64_t *out, int n) {
    const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, name);
    if (!a) return NB_OK;
    if (a->n_ints != n)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "attribute %s has %d values (%d expected: only "
                               "2-D images are supported)",
                               name, a->n_ints, n);
    for (int k = 0; k < n; k++) out[k] = a->ints[k];
    return NB_OK;
}

/* ---- inputs and outputs of a node ------------------------------------------------------------ */

val *nbi_onnx_input(const importer *im, const nbi_onnx_node *nd, int k) {
    return k < nd->n_in && nd->in[k][0] ? nbi_onnx_find(im, nd->in[k]) : NULL;
}

/* Input k as a computed value (its nabla node in *x, its per-sample shape in shape). */
nb_status nbi_onnx_computed(const importer *im, const nbi_onnx_node *nd, int k, val **v, int *rank,
                            int64_t *shape) {
    val *x = nbi_onnx_input(im, nd, k);
    if (!x) return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "input %d is missing", k);
    if (x->kind == V_CONST)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "input '%s' is a constant; nabla needs a "
                               "computed value there",
                               x->name);
    if (x->kind == V_SHAPE || x->kind == V_ZEROS)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "reads '%s', computed from shapes (Shape, ConstantOfShape, ...): "
                               "nabla takes such values only as a recurrent layer's zero initial "
                               "state or a flatten's target shape",
                               x->name);
    if (x->kind != V_NODE)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "reads '%s', an output nabla does not compute "
                               "(a mask or indices)",
                               x->name);
    if (x->layout != NBI_LAY_BATCH)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "reads '%s', a time-major sequence (a recurrent node's input or "
                               "output): only Transpose, Squeeze, Reshape or a recurrent node "
                               "may read it",
                               x->name);
    *v = x;
    nb_dtype dt;
    if (rank) *rank = nb_model_node_shape(im->m, x->nb, &dt, shape);
    return NB_OK;
}

/* Input k as a float constant of the given rank (-1: any); NULL *t when absent and optional. */
nb_status nbi_onnx_constant(const importer *im, const nbi_onnx_node *nd, int k, int rank,
                            bool optional, const nbi_onnx_tensor **t) {
    *t = NULL;
    val *c = nbi_onnx_input(im, nd, k);
    if (!c) {
        if (optional && (k >= nd->n_in || !nd->in[k][0])) return NB_OK;
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "input %d is missing", k);
    }
    if (c->kind != V_CONST)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "input '%s' must be an initializer (a weight), "
                               "not a computed value",
                               c->name);
    if (c->t->dtype != NBI_ONNX_FLOAT)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "initializer '%s' has ONNX type %d; only "
                               "float (1) weights are read",
                               c->name, c->t->dtype);
    if (rank >= 0 && c->t->rank != rank)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "initializer '%s' has rank %d, not %d",
                               c->name, c->t->rank, rank);
    *t = c->t;
    return NB_OK;
}

nb_status nbi_onnx_set_out(importer *im, const nbi_onnx_node *nd, int h, int gap) {
    if (h < 0) {
        char why[400];
        snprintf(why, sizeof why, "%s", nb_last_error());
        return nbi_onnx_refuse(im, nd, (nb_status)-h, "%s", why);
    }
    val *o = nbi_onnx_find(im, nd->out[0]);
    o->kind = V_NODE;
    o->nb = h;
    o->gap = gap;
    o->layout = NBI_LAY_BATCH;
    return NB_OK;
}

/* Copies n floats of t (optionally transposed from [r, c] to [c, r]) into the tensor
 * "<layer>.<what>" of store (parameters or state). */
nb_status nbi_onnx_fill(const importer *im, const nbi_onnx_node *nd, nb_params *store, int h,
                        const char *what, const nbi_onnx_tensor *t, bool transpose) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", nb_model_node_name(im->m, h), what);
    nb_tensor *p = nb_params_find(store, name);
    if (!p || p->numel != t->n)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "initializer '%s' has %lld values; the layer's %s "
                               "has %lld",
                               t->name, (long long)t->n, what, p ? (long long)p->numel : 0LL);
    float *v = nbi_malloc_for("nb_model_load_onnx", sizeof(float) * (size_t)(t->n ? t->n : 1));
    if (!v) return NB_ERR_NOMEM;
    nb_status st = nbi_onnx_floats(im->g, t, v);
    if (st == NB_OK) {
        float *d = nb_f32(p);
        if (transpose) {
            int64_t r = t->dims[0], c = t->dims[1];
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < c; j++) d[j * r + i] = v[i * c + j];
        } else {
            memcpy(d, v, sizeof(float) * (size_t)t->n);
        }
    }
    nbi_free(v);
    return st;
}

/* ---- ops ---------------------------------------------------------------------------------------
 */

/* A dense layer on x from weight w ([in, units], or [units, in] when trans) and bias b. */
nb_status nbi_onnx_dense(importer *im, const nbi_onnx_node *nd, const val *x, int rank,
                         const int64_t *shape, const nbi_onnx_tensor *w, bool trans,
                         const nbi_onnx_tensor *b, const char *out) {
    int64_t in = trans ? w->dims[1] : w->dims[0], units = trans ? w->dims[0] : w->dims[1];
    if (rank < 1 || shape[rank - 1] != in)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "the weight '%s' takes %lld features; the input "
                               "'%s' has %lld",
                               w->name, (long long)in, x->name,
                               rank < 1 ? 0LL : (long long)shape[rank - 1]);
    if (b && (b->n != units || b->rank > 2 || (b->rank == 2 && b->dims[0] != 1)))
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "the bias '%s' should have %lld values in one row", b->name,
                               (long long)units);
    if (units < 1) return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "a weight without units");
    if (x->gap)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "a dense layer on a pooled [C, 1, 1]: "
                               "Flatten it first");
    nb_status st = nbi_onnx_take(im, nd, w->n + (b ? b->n : 0));
    if (st != NB_OK) return st;
    int h = nb_model_dense_on(im->m, x->nb, units, &(nb_dense_opts){.no_bias = !b});
    if (h >= 0) {
        st = nbi_onnx_fill(im, nd, nb_model_params(im->m), h, "weight", w, trans);
        if (st == NB_OK && b)
            st = nbi_onnx_fill(im, nd, nb_model_params(im->m), h, "bias", b, false);
    }
    if (st != NB_OK) return st;
    if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
    val *o = nbi_onnx_find(im, out);
    o->kind = V_NODE;
    o->nb = h;
    return NB_OK;
}

static nb_status op_gemm(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    const nbi_onnx_tensor *w, *b;
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 1, 2, false, &w)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 2, -1, true, &b)) != NB_OK)
        return st;
    if (nbi_onnx_attr_i(nd, "transA", 0) != 0)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "transA = 1 is not supported");
    if (nbi_onnx_attr_f(nd, "alpha", 1.0f) != 1.0f ||
        (b && nbi_onnx_attr_f(nd, "beta", 1.0f) != 1.0f))
        return nbi_onnx_refuse(
            im, nd, NB_ERR_UNSUPPORTED, "alpha %g and beta %g: only 1 is supported",
            (double)nbi_onnx_attr_f(nd, "alpha", 1.0f), (double)nbi_onnx_attr_f(nd, "beta", 1.0f));
    if (rank != 1)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "Gemm takes a matrix [batch, features]; its input "
                               "has %d dimensions per sample",
                               rank);
    int64_t tb = nbi_onnx_attr_i(nd, "transB", 0);
    if (tb != 0 && tb != 1)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "transB = %lld", (long long)tb);
    return nbi_onnx_dense(im, nd, x, rank, shape, w, tb == 1, b, nd->out[0]);
}

/* MatMul by a weight, and the Add of a bias when that is the only use of its result; the
 * in-projection of an attention (io/onnx_attn.c); a MatMul by a transposed weight. */
static nb_status op_matmul(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    const nbi_onnx_tensor *w;
    nb_status st;
    const val *wv = nbi_onnx_input(im, nd, 1);
    if (wv && wv->kind == V_TRANSPOSED) return nbi_onnx_matmul_transposed(im, i);
    if (nbi_onnx_attention(im, i, &st)) return st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 1, 2, false, &w)) != NB_OK)
        return st;
    const nbi_onnx_tensor *b = NULL;
    const char *out = nd->out[0];
    int add = nbi_onnx_bias_add(im, out, w->dims[1], &b);
    if (add >= 0) {
        out = im->g->nodes[add].out[0];
        im->skip[add] = 1;
    }
    return nbi_onnx_dense(im, nd, x, rank, shape, w, false, b, out);
}

/* auto_pad SAME_UPPER / SAME_LOWER as explicit pads p (ONNX order: H begin, W begin, H end,
 * W end) for images [C, H, W] (shape), kernel k, strides s, dilations d: the output has
 * ceil(in / stride) positions, the odd one of the padding at the end (UPPER) or the start
 * (LOWER). NOTSET and VALID leave p as it is (VALID: no padding). */
static nb_status auto_pad(const importer *im, const nbi_onnx_node *nd, const int64_t *shape,
                          const int64_t *k, const int64_t *s, const int64_t *d, int64_t *p) {
    const nbi_onnx_attr *ap = nbi_onnx_get_attr(nd, "auto_pad");
    if (!ap || !ap->s || !strcmp(ap->s, "NOTSET")) return NB_OK;
    if (!strcmp(ap->s, "VALID")) {
        p[0] = p[1] = p[2] = p[3] = 0;
        return NB_OK;
    }
    bool upper = !strcmp(ap->s, "SAME_UPPER");
    if (!upper && strcmp(ap->s, "SAME_LOWER"))
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "auto_pad %s is not supported", ap->s);
    for (int j = 0; j < 2; j++) {
        int64_t in = shape[1 + j];
        if (in < 0)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "auto_pad %s of images whose size is known only at run time",
                                   ap->s);
        if (s[j] < 1 || d[j] < 1 || k[j] < 1 || in > ((int64_t)1 << 24) ||
            k[j] > ((int64_t)1 << 24) || d[j] > ((int64_t)1 << 24) || s[j] > ((int64_t)1 << 24))
            return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                                   "a kernel, stride or dilation below 1 or above 2^24");
        int64_t out = (in + s[j] - 1) / s[j], total = (out - 1) * s[j] + (k[j] - 1) * d[j] + 1 - in;
        if (total < 0) total = 0;
        p[j] = upper ? total / 2 : total - total / 2;
        p[j + 2] = total - p[j];
    }
    return NB_OK;
}

static nb_status op_conv(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    const nbi_onnx_tensor *w, *b;
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 1, 4, false, &w)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 2, 1, true, &b)) != NB_OK)
        return st;
    int64_t k[2] = {w->dims[2], w->dims[3]}, s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0};
    if ((st = attr_ints(im, nd, "kernel_shape", k, 2)) != NB_OK ||
        (st = attr_ints(im, nd, "strides", s, 2)) != NB_OK ||
        (st = attr_ints(im, nd, "dilations", d, 2)) != NB_OK ||
        (st = attr_ints(im, nd, "pads", p, 4)) != NB_OK)
        return st;
    int64_t groups = nbi_onnx_attr_i(nd, "group", 1);
    if (rank != 3)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "Conv takes images [C, H, W]; its input "
                               "has %d dimensions per sample",
                               rank);
    if ((st = auto_pad(im, nd, shape, k, s, d, p)) != NB_OK) return st;
    if (k[0] != w->dims[2] || k[1] != w->dims[3])
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "kernel_shape disagrees with the weight '%s'",
                               w->name);
    if (groups < 1 || groups > shape[0] || w->dims[1] * groups != shape[0] || w->dims[0] % groups)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "the weight '%s' [%lld, %lld, ...] with %lld groups "
                               "does not fit %lld input channels",
                               w->name, (long long)w->dims[0], (long long)w->dims[1],
                               (long long)groups, (long long)shape[0]);
    for (int j = 0; j < 4; j++)
        if (p[j] < 0 || (j < 2 && (s[j] < 1 || d[j] < 1)))
            return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                                   "negative pads, or strides or dilations below 1");
    if (b && b->n != w->dims[0])
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "the bias '%s' has %lld values for %lld filters", b->name,
                               (long long)b->n, (long long)w->dims[0]);
    nb_conv2d_opts o = {.kernel = {k[0], k[1]},
                        .stride = {s[0], s[1]},
                        .dilation = {d[0], d[1]},
                        .pad = {p[0], p[2], p[1], p[3]},
                        .groups = groups,
                        .no_bias = !b};
    if ((st = nbi_onnx_take(im, nd, w->n + (b ? b->n : 0))) != NB_OK) return st;
    int h = nb_model_conv2d_on(im->m, x->nb, w->dims[0], &o);
    if (h >= 0 &&
        (st = nbi_onnx_fill(im, nd, nb_model_params(im->m), h, "weight", w, false)) != NB_OK)
        return st;
    if (h >= 0 && b &&
        (st = nbi_onnx_fill(im, nd, nb_model_params(im->m), h, "bias", b, false)) != NB_OK)
        return st;
    return nbi_onnx_set_out(im, nd, h, 0);
}

/* ceil_mode = 1: the output takes ceil((in + pads − window) / stride) + 1 positions (less one
 * when that last window would start past the input and its start padding, as PyTorch), which
 * is floor mode with that much more padding at the end: ignored by max pooling and by average
 * pooling that does not count padding (which then divide by what is inside). Average pooling
 * that counts padding does not count that extra (PyTorch), which nabla cannot say: refused. */
static nb_status ceil_mode(const importer *im, const nbi_onnx_node *nd, const int64_t *shape,
                           const int64_t *k, const int64_t *s, const int64_t *d, int64_t *p,
                           bool counted) {
    int64_t c = nbi_onnx_attr_i(nd, "ceil_mode", 0);
    if (c == 0) return NB_OK;
    if (c != 1) return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "ceil_mode = %lld", (long long)c);
    const int64_t big = (int64_t)1 << 24;
    for (int j = 0; j < 2; j++) {
        int64_t in = shape[1 + j];
        if (in < 0)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "ceil_mode = 1 on images whose size is known only at run "
                                   "time");
        if (in > big || k[j] > big || d[j] > big || s[j] > big || p[j] > big || p[j + 2] > big)
            return NB_OK; /* the layer says what does not fit */
        int64_t win = (k[j] - 1) * d[j] + 1, span = in + p[j] + p[j + 2] - win;
        if (span < 0) return NB_OK;
        int64_t out = (span + s[j] - 1) / s[j] + 1;
        if ((out - 1) * s[j] >= in + p[j]) out--;
        int64_t extra = (out - 1) * s[j] + win - (in + p[j] + p[j + 2]);
        if (extra > 0 && counted)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "ceil_mode = 1 with count_include_pad = 1 adds a window that "
                                   "nabla's avg_pool2d cannot divide as PyTorch does");
        if (extra > 0) p[j + 2] += extra;
    }
    return NB_OK;
}

static nb_status op_pool(importer *im, int i, bool max) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK) return st;
    int64_t k[2] = {0, 0}, s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0};
    if (!nbi_onnx_get_attr(nd, "kernel_shape"))
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "the attribute kernel_shape is missing");
    if ((st = attr_ints(im, nd, "kernel_shape", k, 2)) != NB_OK ||
        (st = attr_ints(im, nd, "strides", s, 2)) != NB_OK ||
        (st = attr_ints(im, nd, "dilations", d, 2)) != NB_OK ||
        (st = attr_ints(im, nd, "pads", p, 4)) != NB_OK)
        return st;
    if (rank != 3)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "pooling takes images [C, H, W]; its "
                               "input has %d dimensions per sample",
                               rank);
    for (int j = 0; j < 4; j++)
        if (p[j] < 0 || (j < 2 && (s[j] < 1 || d[j] < 1 || k[j] < 1)))
            return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                                   "a kernel, stride or dilation below 1, or "
                                   "negative pads");
    if ((st = auto_pad(im, nd, shape, k, s, d, p)) != NB_OK) return st;
    const int64_t *q = im->pad[i];
    if (q[0] || q[1] || q[2] || q[3]) { /* the zeros of a Pad before it, counted as image */
        if (p[0] || p[1] || p[2] || p[3])
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "a Pad before an AveragePool that pads");
        for (int j = 0; j < 4; j++) p[j] = q[j];
    }
    bool counted = !max && ((q[0] || q[1] || q[2] || q[3]) ||
                            nbi_onnx_attr_i(nd, "count_include_pad", 0) != 0);
    if ((st = ceil_mode(im, nd, shape, k, s, d, p, counted)) != NB_OK) return st;
    if (!max && (d[0] != 1 || d[1] != 1))
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "average pooling with dilations");
    if (nd->n_out > 1 && nd->out[1][0] && nbi_onnx_find(im, nd->out[1])->uses)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "the Indices output is not supported");
    nb_pool_opts o = {.kernel = {k[0], k[1]},
                      .stride = {s[0], s[1]},
                      .pad = {p[0], p[2], p[1], p[3]},
                      .dilation = {d[0], d[1]},
                      .exclude_pad = !max && !(q[0] || q[1] || q[2] || q[3]) &&
                                     nbi_onnx_attr_i(nd, "count_include_pad", 0) == 0};
    int h = max ? nb_model_max_pool2d_on(im->m, x->nb, &o, NULL)
                : nb_model_avg_pool2d_on(im->m, x->nb, &o, NULL);
    return nbi_onnx_set_out(im, nd, h, 0);
}

static nb_status op_batchnorm(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    const nbi_onnx_tensor *t[4];
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK) return st;
    for (int k = 0; k < 4; k++)
        if ((st = nbi_onnx_constant(im, nd, k + 1, 1, false, &t[k])) != NB_OK) return st;
    if (nbi_onnx_attr_i(nd, "training_mode", 0) != 0)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "training_mode = 1 (only the inference form "
                               "is imported)");
    for (int k = 1; k < nd->n_out; k++)
        if (nd->out[k][0] && nbi_onnx_find(im, nd->out[k])->uses)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "its running-statistics outputs are not "
                                   "supported");
    float eps = nbi_onnx_attr_f(nd, "epsilon", 1e-5f);
    if (!(eps > 0.0f) || !isfinite(eps))
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "epsilon %g (must be positive)",
                               (double)eps);
    if (rank < 1 || x->gap)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "an input without channels");
    for (int k = 0; k < 4; k++)
        if (t[k]->n != shape[0])
            return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "'%s' has %lld values for %lld channels",
                                   t[k]->name, (long long)t[k]->n, (long long)shape[0]);
    /* always affine (ONNX always has scale and shift; a layer without affine exports ones and
     * zeros, which compute the same) */
    if ((st = nbi_onnx_take(im, nd, 4 * shape[0])) != NB_OK) return st;
    int h = nb_model_batch_norm_on(im->m, x->nb, &(nb_batch_norm_opts){.eps = eps});
    static const char *const what[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; h >= 0 && k < 4; k++)
        if ((st = nbi_onnx_fill(im, nd, k < 2 ? nb_model_params(im->m) : nb_model_state(im->m), h,
                                what[k], t[k], false)) != NB_OK)
            return st;
    return nbi_onnx_set_out(im, nd, h, 0);
}

/* Flatten (axis 1) and a Reshape to [batch, features]. */
static nb_status op_flatten(importer *im, int i, bool reshape) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK], numel = 1;
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK) return st;
    for (int k = 0; k < rank; k++)
        if (shape[k] < 0)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "a dimension known only at run time");
        else
            numel *= shape[k];
    if (reshape) {
        val *s = nbi_onnx_input(im, nd, 1);
        int64_t t[NBI_ONNX_MAX_RANK];
        int n = 0;
        if (!s || !nbi_onnx_shape_arg(im, s, t, &n) || n != 2)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "only a Reshape to [batch, features] by a "
                                   "constant shape (or one computed from shapes) is supported");
        bool batch = t[0] == 0 || t[0] == NBI_SYM_BATCH; /* 0: keep the input's */
        if (nbi_onnx_attr_i(nd, "allowzero", 0) != 0 || !(batch || t[0] == -1) ||
            !(t[1] == numel || (t[1] == -1 && batch)))
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "a Reshape to [%lld, %lld] of samples of "
                                   "%lld values: only [batch, features] is supported",
                                   t[0] == NBI_SYM_BATCH ? -1LL : (long long)t[0],
                                   t[1] < -1 ? -1LL : (long long)t[1], (long long)numel);
    } else {
        int64_t axis = nbi_onnx_attr_i(nd, "axis", 1), r = rank + 1 + 2 * x->gap;
        if (axis < 0) axis += r;
        if (axis != 1)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "axis %lld: only axis 1 (keep the batch) "
                                   "is supported",
                                   (long long)nbi_onnx_attr_i(nd, "axis", 1));
    }
    if (rank <= 1) { /* already [batch, features] (a global pool's [C] included) */
        val *o = nbi_onnx_find(im, nd->out[0]);
        o->kind = V_NODE;
        o->nb = x->nb;
        return NB_OK;
    }
    return nbi_onnx_set_out(im, nd, nb_model_flatten_on(im->m, x->nb, NULL), 0);
}

/* The Mul that alone reads value `name` and multiplies it by value x, or -1. */
static int times(const importer *im, const char *name, const char *x) {
    int k = nbi_onnx_only_reader(im, name, "Mul");
    if (k < 0) return -1;
    const nbi_onnx_node *mul = &im->g->nodes[k];
    if (mul->n_in != 2 || mul->n_out != 1) return -1;
    return !strcmp(mul->in[!strcmp(mul->in[0], name) ? 1 : 0], x) ? k : -1;
}

static nb_status op_activation(importer *im, int i, nb_activation act, float alpha) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK) return st;
    /* compositions: x · Sigmoid(x) is SiLU, x · Tanh(Softplus(x)) is Mish */
    int mul = -1, th = -1;
    if (act == NB_ACT_SIGMOID && (mul = times(im, nd->out[0], nd->in[0])) >= 0) {
        act = NB_ACT_SILU;
    } else if (act == NB_ACT_SOFTPLUS && (th = nbi_onnx_only_reader(im, nd->out[0], "Tanh")) >= 0 &&
               (mul = times(im, im->g->nodes[th].out[0], nd->in[0])) >= 0) {
        act = NB_ACT_MISH;
        im->skip[th] = 1;
    }
    if (mul >= 0) {
        im->skip[mul] = 1;
        int h = nb_model_activation_on(im->m, x->nb, act, 0.0f, NULL);
        if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
        val *o = nbi_onnx_find(im, im->g->nodes[mul].out[0]);
        o->kind = V_NODE;
        o->nb = h;
        o->gap = x->gap;
        return NB_OK;
    }
    if (act == NB_ACT_SOFTMAX || act == NB_ACT_LOG_SOFTMAX) {
        int64_t r = rank + 1 + 2 * x->gap;
        int64_t axis = nbi_onnx_attr_i(nd, "axis", im->g->opset && im->g->opset < 13 ? 1 : -1);
        if (axis < 0) axis += r;
        if (axis != r - 1 || x->gap)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                   "axis %lld: only the last axis is "
                                   "supported",
                                   (long long)nbi_onnx_attr_i(nd, "axis", -1));
    }
    return nbi_onnx_set_out(im, nd, nb_model_activation_on(im->m, x->nb, act, alpha, NULL), x->gap);
}

/* A constant scalar input of node nd (either of its two inputs that is not `other`) equal to
 * want; 1 when it is. */
static int scalar_is(const importer *im, const nbi_onnx_node *nd, const char *other, float want) {
    if (nd->n_in != 2 || nd->n_out != 1) return 0;
    const val *c = nbi_onnx_input(im, nd, !strcmp(nd->in[0], other) ? 1 : 0);
    float v;
    if (!c || c->kind != V_CONST || c->t->dtype != NBI_ONNX_FLOAT || c->t->n != 1 ||
        nbi_onnx_floats(im->g, c->t, &v) != NB_OK)
        return 0;
    return fabsf(v - want) <= 1e-6f * fabsf(want);
}

/* The node that alone reads value `name`, has op `op` and a named first output, or -1. */
int nbi_onnx_only_reader(const importer *im, const char *name, const char *op) {
    const val *v = nbi_onnx_find(im, name);
    if (!v || v->uses != 1 || v->consumer < 0) return -1;
    const nbi_onnx_node *r = &im->g->nodes[v->consumer];
    /* a reader without an output is no part of a pattern (a pattern reads its output) */
    if (r->n_out < 1 || !r->out[0] || !r->out[0][0]) return -1;
    return strcmp(r->op, op) ? -1 : v->consumer;
}

/* Exact GELU as torch.onnx.export writes it: Div(x, √2) → Erf → Add(1) → Mul(x, ·) → Mul(0.5). */
static nb_status op_div(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    const nbi_onnx_node *nodes = im->g->nodes;
    int erf = -1, add = -1, mul = -1, half = -1;
    if (nd->n_in == 2 && nd->n_out == 1 && nd->in[0][0] &&
        scalar_is(im, nd, nd->in[0], sqrtf(2.0f)) &&
        (erf = nbi_onnx_only_reader(im, nd->out[0], "Erf")) >= 0 &&
        (add = nbi_onnx_only_reader(im, nodes[erf].out[0], "Add")) >= 0 &&
        scalar_is(im, &nodes[add], nodes[erf].out[0], 1.0f) &&
        (mul = nbi_onnx_only_reader(im, nodes[add].out[0], "Mul")) >= 0 && nodes[mul].n_in == 2 &&
        !strcmp(nodes[mul].in[!strcmp(nodes[mul].in[0], nodes[add].out[0]) ? 1 : 0], nd->in[0]) &&
        (half = nbi_onnx_only_reader(im, nodes[mul].out[0], "Mul")) >= 0 &&
        scalar_is(im, &nodes[half], nodes[mul].out[0], 0.5f)) {
        val *x;
        int rank;
        int64_t shape[NB_MAX_RANK];
        nb_status st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape);
        if (st != NB_OK) return st;
        im->skip[erf] = im->skip[add] = im->skip[mul] = im->skip[half] = 1;
        int h = nb_model_activation_on(im->m, x->nb, NB_ACT_GELU, 0.0f, NULL);
        if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
        val *o = nbi_onnx_find(im, nodes[half].out[0]);
        o->kind = V_NODE;
        o->nb = h;
        o->gap = x->gap;
        return NB_OK;
    }
    return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                           "op Div is supported only as part of an exact "
                           "GELU, x * (Erf(x / sqrt(2)) + 1) * 0.5");
}

static nb_status op_add(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *a, *b;
    int ra, rb;
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK];
    nb_status st;
    if (nd->n_in != 2) return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "Add takes two inputs");
    if ((st = nbi_onnx_computed(im, nd, 0, &a, &ra, sa)) != NB_OK ||
        (st = nbi_onnx_computed(im, nd, 1, &b, &rb, sb)) != NB_OK)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "Add is supported for two computed values of "
                               "one shape (a residual connection) and as the bias after a MatMul");
    if (a->gap != b->gap) return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "shapes differ");
    return nbi_onnx_set_out(im, nd, nb_model_add(im->m, (int[]){a->nb, b->nb}, 2, NULL), a->gap);
}

/* A Pad of zeros on H and W read only by an AveragePool (how torch.onnx.export writes
 * count_include_pad=True): the pool takes the padding. */
static nb_status op_pad(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK], p[8];
    nb_status st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape);
    if (st != NB_OK) return st;
    const nbi_onnx_attr *mode = nbi_onnx_get_attr(nd, "mode");
    const val *pads = nbi_onnx_input(im, nd, 1), *value = nbi_onnx_input(im, nd, 2);
    int pool = nbi_onnx_only_reader(im, nd->out[0], "AveragePool");
    float v = 0;
    if (value && (value->kind != V_CONST || value->t->dtype != NBI_ONNX_FLOAT || value->t->n != 1 ||
                  nbi_onnx_floats(im->g, value->t, &v) != NB_OK))
        v = 1;
    if ((mode && mode->s && strcmp(mode->s, "constant")) || v != 0 || nd->n_in > 3 || rank != 3 ||
        x->gap || pool < 0 || !pads || pads->kind != V_CONST || pads->t->n != 8)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "Pad is supported only as zeros on H and W "
                               "before an AveragePool");
    if ((st = nbi_onnx_int64s(im->g, pads->t, p, 8)) != NB_OK) return st;
    if (p[0] || p[1] || p[4] || p[5] || p[2] < 0 || p[3] < 0 || p[6] < 0 || p[7] < 0)
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                               "Pad is supported only as zeros on H and W "
                               "before an AveragePool");
    int64_t *q = im->pad[pool];
    q[0] = p[2], q[1] = p[3], q[2] = p[6], q[3] = p[7];
    val *o = nbi_onnx_find(im, nd->out[0]);
    o->kind = V_NODE;
    o->nb = x->nb;
    return NB_OK;
}

/* The identity: the output is the input's node (or, of an initializer, that initializer:
 * torch.onnx.export writes one Identity per weight equal to another, as a fresh LayerNorm's
 * bias and another's). */
static nb_status op_pass(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    val *x = nbi_onnx_input(im, nd, 0);
    if (x && x->kind == V_CONST && !strcmp(nd->op, "Identity")) {
        val *o = nbi_onnx_find(im, nd->out[0]);
        o->kind = V_CONST;
        o->t = x->t;
        return NB_OK;
    }
    nb_status st = nbi_onnx_computed(im, nd, 0, &x, NULL, NULL);
    if (st != NB_OK) return st;
    if (!strcmp(nd->op, "Dropout")) {
        val *t = nbi_onnx_input(im, nd, 2);
        float on = 0;
        if (t && t->kind == V_CONST && t->t->dtype == NBI_ONNX_FLOAT && t->t->n == 1)
            nbi_onnx_floats(im->g, t->t, &on);
        if ((t && t->kind != V_CONST) || on != 0)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "dropout in training mode");
        if (nd->n_out > 1 && nd->out[1][0] && nbi_onnx_find(im, nd->out[1])->uses)
            return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "its mask output is not supported");
    }
    val *o = nbi_onnx_find(im, nd->out[0]);
    o->kind = V_NODE;
    o->nb = x->nb;
    o->gap = x->gap;
    return NB_OK;
}

nb_status nbi_onnx_run_node(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    const char *op = nd->op;
    if (nd->domain && *nd->domain && strcmp(nd->domain, "ai.onnx"))
        return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED, "the op domain '%s' is not supported",
                               nd->domain);
    if (nd->n_out < 1 || !nd->out[0][0]) return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "no output");
    nb_status seq_st;
    if (nbi_onnx_run_seq(im, i, &seq_st)) return seq_st;
    if (!strcmp(op, "Gemm")) return op_gemm(im, i);
    if (!strcmp(op, "MatMul")) return op_matmul(im, i);
    if (!strcmp(op, "Conv")) return op_conv(im, i);
    if (!strcmp(op, "MaxPool")) return op_pool(im, i, true);
    if (!strcmp(op, "AveragePool")) return op_pool(im, i, false);
    if (!strcmp(op, "BatchNormalization")) return op_batchnorm(im, i);
    if (!strcmp(op, "Flatten")) return op_flatten(im, i, false);
    if (!strcmp(op, "Reshape")) return op_flatten(im, i, true);
    if (!strcmp(op, "Relu")) return op_activation(im, i, NB_ACT_RELU, 0.0f);
    if (!strcmp(op, "Sigmoid")) return op_activation(im, i, NB_ACT_SIGMOID, 0.0f);
    if (!strcmp(op, "Tanh")) return op_activation(im, i, NB_ACT_TANH, 0.0f);
    if (!strcmp(op, "Softplus")) return op_activation(im, i, NB_ACT_SOFTPLUS, 0.0f);
    if (!strcmp(op, "Softmax")) return op_activation(im, i, NB_ACT_SOFTMAX, 0.0f);
    if (!strcmp(op, "LogSoftmax")) return op_activation(im, i, NB_ACT_LOG_SOFTMAX, 0.0f);
    if (!strcmp(op, "LeakyRelu") || !strcmp(op, "Elu")) {
        bool leaky = op[0] == 'L';
        float alpha = nbi_onnx_attr_f(nd, "alpha", leaky ? 0.01f : 1.0f);
        if (!isfinite(alpha)) return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT, "alpha is not finite");
        /* nabla reads alpha 0 as the default: 0 is relu */
        if (alpha == 0.0f) return op_activation(im, i, NB_ACT_RELU, 0.0f);
        return op_activation(im, i, leaky ? NB_ACT_LEAKY_RELU : NB_ACT_ELU, alpha);
    }
    if (!strcmp(op, "GlobalAveragePool")) {
        val *x;
        int rank;
        int64_t shape[NB_MAX_RANK];
        nb_status st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape);
        if (st != NB_OK) return st;
        if (rank != 3 || x->gap)
            return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                                   "GlobalAveragePool takes images [C, H, W]");
        return nbi_onnx_set_out(im, nd, nb_model_global_avg_pool2d_on(im->m, x->nb, NULL), 1);
    }
    if (!strcmp(op, "Dropout") || !strcmp(op, "Identity")) return op_pass(im, i);
    if (!strcmp(op, "Div")) return op_div(im, i);
    if (!strcmp(op, "Add")) return op_add(im, i);
    if (!strcmp(op, "Pad")) return op_pad(im, i);
    return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                           "op %s is not supported by nabla's ONNX import "
                           "(docs/onnx.md lists those that are)",
                           op);
}
