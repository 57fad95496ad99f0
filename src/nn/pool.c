/* nn/pool.c — the pooling layers: max and average pooling (PyTorch's MaxPool2d / AvgPool2d)
 * and global average pooling ([C, H, W] → [C]). No parameters; each is one op. The window
 * arithmetic (also conv2d's) is overflow-checked: a hostile spec's dilation or padding is a
 * shape error, never a wrapped size. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct pool_layer {
    nbi_layer base;
    nb_pool_opts o; /* stride and dilation resolved */
} pool_layer;

bool nbi_window_sizes(int64_t d, int64_t pad0, int64_t pad1, int64_t k, int64_t dilation,
                      int64_t *eff, int64_t *padded) {
    if (!nbi_mul_i64(dilation, k - 1, eff) || !nbi_add_i64(*eff, 1, eff)) return false;
    if (d < 0) {
        *padded = -1;
        return true;
    }
    return nbi_add_i64(d, pad0, padded) && nbi_add_i64(*padded, pad1, padded);
}

static nb_status pool_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                            int *n_out) {
    const pool_layer *p = (const pool_layer *)l;
    const nb_pool_opts *o = &p->o;
    const char *kind = l->vt->stem;
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    char b[128];
    nbi_layer_in_str(&in[0], b, sizeof b);
    if (in[0].rank != 3)
        return nbi_error(NB_ERR_SHAPE, "%s '%s': input %s must have samples [C, H, W]", kind,
                         l->name, b);
    for (int k = 0; k < 4; k++) /* 2·pad <= kernel, written so that it cannot overflow */
        if (o->pad[k] > o->kernel[k / 2] / 2)
            return nbi_error(NB_ERR_SHAPE,
                             "%s '%s': padding %lld is more than half the "
                             "window %lld",
                             kind, l->name, (long long)o->pad[k], (long long)o->kernel[k / 2]);
    int64_t H = in[0].dim[1], W = in[0].dim[2], eh, ew, ph, pw;
    if (!nbi_window_sizes(H, o->pad[0], o->pad[1], o->kernel[0], o->dilation[0], &eh, &ph) ||
        !nbi_window_sizes(W, o->pad[2], o->pad[3], o->kernel[1], o->dilation[1], &ew, &pw))
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s': window %lldx%lld, dilation %lldx%lld and "
                         "padding on input %s: the sizes overflow",
                         kind, l->name, (long long)o->kernel[0], (long long)o->kernel[1],
                         (long long)o->dilation[0], (long long)o->dilation[1], b);
    if ((ph >= 0 && eh > ph) || (pw >= 0 && ew > pw))
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s': the window %lldx%lld is larger than its input "
                         "%lldx%lld (padded %lldx%lld; input %s)",
                         kind, l->name, (long long)eh, (long long)ew, (long long)H, (long long)W,
                         (long long)ph, (long long)pw, b);
    out[0] = in[0];
    out[0].dim[1] = ph < 0 ? -1 : (ph - eh) / o->stride[0] + 1;
    out[0].dim[2] = pw < 0 ? -1 : (pw - ew) / o->stride[1] + 1;
    *n_out = 1;
    return NB_OK;
}

static void max_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)n_in;
    out[0] = nb_max_pool2d(f->ctx, in[0], &((const pool_layer *)l)->o);
}

static void avg_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)n_in;
    out[0] = nb_avg_pool2d(f->ctx, in[0], &((const pool_layer *)l)->o);
}

static void pool_describe(const nbi_layer *l, char *buf, size_t n) {
    const nb_pool_opts *o = &((const pool_layer *)l)->o;
    const int64_t *p = o->pad;
    size_t k =
        (size_t)snprintf(buf, n, "%lldx%lld, stride %lldx%lld", (long long)o->kernel[0],
                         (long long)o->kernel[1], (long long)o->stride[0], (long long)o->stride[1]);
    if (k < n && (p[0] || p[1] || p[2] || p[3]))
        k += (size_t)snprintf(buf + k, n - k, ", pad %lld,%lld,%lld,%lld", (long long)p[0],
                              (long long)p[1], (long long)p[2], (long long)p[3]);
    if (k < n && (o->dilation[0] != 1 || o->dilation[1] != 1))
        k += (size_t)snprintf(buf + k, n - k, ", dilation %lldx%lld", (long long)o->dilation[0],
                              (long long)o->dilation[1]);
    if (k < n && o->exclude_pad) snprintf(buf + k, n - k, ", exclude pad");
}

/* maxpool2d KERNEL [stride=S] [pad=P] [dilation=D];  avgpool2d KERNEL [stride=S] [pad=P]
 * [exclude_pad=true] */
static void pool_spec(const nbi_layer *l, nbi_text *out) {
    const nb_pool_opts *o = &((const pool_layer *)l)->o;
    const int64_t *p = o->pad;
    nbi_text_printf(out, "%s ", l->vt->stem);
    nbi_pair_text(o->kernel, out);
    if (o->stride[0] != o->kernel[0] || o->stride[1] != o->kernel[1]) {
        nbi_text_puts(out, " stride=");
        nbi_pair_text(o->stride, out);
    }
    if (p[0] || p[1] || p[2] || p[3]) {
        if (p[0] == p[1] && p[1] == p[2] && p[2] == p[3])
            nbi_text_printf(out, " pad=%lld", (long long)p[0]);
        else if (p[0] == p[1] && p[2] == p[3])
            nbi_text_printf(out, " pad=%lld,%lld", (long long)p[0], (long long)p[2]);
        else
            nbi_text_printf(out, " pad=%lld,%lld,%lld,%lld", (long long)p[0], (long long)p[1],
                            (long long)p[2], (long long)p[3]);
    }
    if (o->dilation[0] != 1 || o->dilation[1] != 1) {
        nbi_text_puts(out, " dilation=");
        nbi_pair_text(o->dilation, out);
    }
    if (o->exclude_pad) nbi_text_puts(out, " exclude_pad=true");
}

static const nbi_layer_vt max_vt = {
    .kind = "MaxPool2D",
    .stem = "maxpool2d",
    .min_in = 1,
    .max_in = 1,
    .infer = pool_infer,
    .forward = max_forward,
    .describe = pool_describe,
    .spec = pool_spec,
};

static const nbi_layer_vt avg_vt = {
    .kind = "AvgPool2D",
    .stem = "avgpool2d",
    .min_in = 1,
    .max_in = 1,
    .infer = pool_infer,
    .forward = avg_forward,
    .describe = pool_describe,
    .spec = pool_spec,
};

const nb_pool_opts *nbi_maxpool_layer_opts(const nbi_layer *l) {
    return l && l->vt == &max_vt ? &((const pool_layer *)l)->o : NULL;
}

static int pool_add(nb_model *m, int x, const nbi_layer_vt *vt, const nb_pool_opts *opts,
                    const char *name) {
    const char *fn = vt == &max_vt ? "nb_model_max_pool2d" : "nb_model_avg_pool2d";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (!opts) return -(int)nbi_error(NB_ERR_ARG, "%s: options are NULL", fn);
    nb_pool_opts o = *opts;
    if (o.kernel[1] == 0) o.kernel[1] = o.kernel[0];
    for (int d = 0; d < 2; d++) {
        if (o.stride[d] == 0) o.stride[d] = o.kernel[d];
        if (o.dilation[d] == 0) o.dilation[d] = 1;
        if (o.kernel[d] < 1 || o.stride[d] < 1 || o.dilation[d] < 1)
            return -(int)nbi_error(NB_ERR_ARG,
                                   "%s: kernel %lldx%lld, stride %lldx%lld and dilation "
                                   "must be >= 1",
                                   fn, (long long)o.kernel[0], (long long)o.kernel[1],
                                   (long long)o.stride[0], (long long)o.stride[1]);
    }
    for (int k = 0; k < 4; k++)
        if (o.pad[k] < 0) return -(int)nbi_error(NB_ERR_ARG, "%s: padding must be >= 0", fn);
    if (vt == &avg_vt && (o.dilation[0] != 1 || o.dilation[1] != 1))
        return -(int)nbi_error(NB_ERR_ARG, "%s: dilation is for max pooling only", fn);
    if (vt == &max_vt && o.exclude_pad)
        return -(int)nbi_error(NB_ERR_ARG, "%s: exclude_pad is for average pooling only", fn);
    pool_layer *p = nbi_malloc_for(fn, sizeof *p);
    if (!p) return -(int)NB_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->base.vt = vt;
    p->o = o;
    return nbi_model_push(m, &p->base, &x, 1, name, fn);
}

int nb_model_max_pool2d_on(nb_model *m, int x, const nb_pool_opts *opts, const char *name) {
    return pool_add(m, x, &max_vt, opts, name);
}

int nb_model_avg_pool2d_on(nb_model *m, int x, const nb_pool_opts *opts, const char *name) {
    return pool_add(m, x, &avg_vt, opts, name);
}

nb_status nb_model_max_pool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name) {
    return nbi_node_status(pool_add(m, nbi_model_last(m), &max_vt, opts, name));
}

nb_status nb_model_avg_pool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name) {
    return nbi_node_status(pool_add(m, nbi_model_last(m), &avg_vt, opts, name));
}

static nb_pool_opts square(int64_t kernel, int64_t stride) {
    nb_pool_opts o;
    memset(&o, 0, sizeof o);
    o.kernel[0] = o.kernel[1] = kernel;
    o.stride[0] = o.stride[1] = stride;
    return o;
}

nb_status nb_model_max_pool2d(nb_model *m, int64_t kernel, int64_t stride) {
    nb_pool_opts o = square(kernel, stride);
    return nb_model_max_pool2d_with(m, &o, NULL);
}

nb_status nb_model_avg_pool2d(nb_model *m, int64_t kernel, int64_t stride) {
    nb_pool_opts o = square(kernel, stride);
    return nb_model_avg_pool2d_with(m, &o, NULL);
}

/* ---- global average pooling ------------------------------------------------------ */

static nb_status gap_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    if (in[0].rank != 3) {
        char b[128];
        nbi_layer_in_str(&in[0], b, sizeof b);
        return nbi_error(NB_ERR_SHAPE,
                         "global_avgpool2d '%s': input %s must have samples "
                         "[C, H, W]",
                         l->name, b);
    }
    out[0].dtype = NB_F32;
    out[0].rank = 1;
    out[0].dim[0] = in[0].dim[0];
    *n_out = 1;
    return NB_OK;
}

static void gap_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)l;
    (void)n_in;
    out[0] = nb_global_avg_pool2d(f->ctx, in[0]);
}

static void gap_spec(const nbi_layer *l, nbi_text *out) {
    (void)l;
    nbi_text_puts(out, "global_avgpool2d");
}

/* nn.AdaptiveAvgPool2d(1), then nn.Flatten(): PyTorch needs two modules for [C, H, W] → [C]. */
static int gap_torch_modules(const nbi_layer *l) {
    (void)l;
    return 2;
}

static const nbi_layer_vt gap_vt = {
    .kind = "GlobalAvgPool2D",
    .stem = "global_avgpool2d",
    .min_in = 1,
    .max_in = 1,
    .infer = gap_infer,
    .forward = gap_forward,
    .spec = gap_spec,
    .torch_modules = gap_torch_modules,
};

int nb_model_global_avg_pool2d_on(nb_model *m, int x, const char *name) {
    const char *fn = "nb_model_global_avg_pool2d";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    nbi_layer *l = nbi_malloc_for(fn, sizeof *l);
    if (!l) return -(int)NB_ERR_NOMEM;
    memset(l, 0, sizeof *l);
    l->vt = &gap_vt;
    return nbi_model_push(m, l, &x, 1, name, fn);
}

nb_status nb_model_global_avg_pool2d(nb_model *m) {
    return nbi_node_status(nb_model_global_avg_pool2d_on(m, nbi_model_last(m), NULL));
}
