/* nn/pool.c — the pooling layers: max and average pooling (PyTorch's MaxPool2d / AvgPool2d)
 * and global average pooling ([C, H, W] → [C]). No parameters; each is one op. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct pool_layer {
    nbi_layer base;
    nb_pool_opts o; /* stride and dilation resolved */
} pool_layer;

static nb_status pool_output_shape(const nbi_layer *l, int *rank, int64_t *shape) {
    const pool_layer *p = (const pool_layer *)l;
    const nb_pool_opts *o = &p->o;
    const char *kind = l->vt->stem;
    char in[128];
    nbi_batch_shape_str(l->in_rank, l->in_shape, in, sizeof in);
    if (l->in_rank != 3)
        return nbi_error(NB_ERR_SHAPE, "%s '%s': input %s must have samples [C, H, W]", kind,
                         l->name, in);
    for (int k = 0; k < 4; k++)
        if (2 * o->pad[k] > o->kernel[k / 2])
            return nbi_error(NB_ERR_SHAPE,
                             "%s '%s': padding %lld is more than half the "
                             "window %lld",
                             kind, l->name, (long long)o->pad[k], (long long)o->kernel[k / 2]);
    int64_t H = l->in_shape[1], W = l->in_shape[2];
    int64_t eh = o->dilation[0] * (o->kernel[0] - 1) + 1,
            ew = o->dilation[1] * (o->kernel[1] - 1) + 1;
    int64_t ph = H + o->pad[0] + o->pad[1], pw = W + o->pad[2] + o->pad[3];
    if (eh > ph || ew > pw)
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s': the window %lldx%lld is larger than its input "
                         "%lldx%lld (padded %lldx%lld; input %s)",
                         kind, l->name, (long long)eh, (long long)ew, (long long)H, (long long)W,
                         (long long)ph, (long long)pw, in);
    *rank = 3;
    shape[0] = l->in_shape[0];
    shape[1] = (ph - eh) / o->stride[0] + 1;
    shape[2] = (pw - ew) / o->stride[1] + 1;
    return NB_OK;
}

static nb_tensor *max_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    return nb_max_pool2d(f->ctx, x, &((const pool_layer *)l)->o);
}

static nb_tensor *avg_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    return nb_avg_pool2d(f->ctx, x, &((const pool_layer *)l)->o);
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
    .output_shape = pool_output_shape,
    .forward = max_forward,
    .describe = pool_describe,
    .spec = pool_spec,
};

static const nbi_layer_vt avg_vt = {
    .kind = "AvgPool2D",
    .stem = "avgpool2d",
    .output_shape = pool_output_shape,
    .forward = avg_forward,
    .describe = pool_describe,
    .spec = pool_spec,
};

const nb_pool_opts *nbi_maxpool_layer_opts(const nbi_layer *l) {
    return l && l->vt == &max_vt ? &((const pool_layer *)l)->o : NULL;
}

static nb_status pool_add(nb_model *m, const nbi_layer_vt *vt, const nb_pool_opts *opts,
                          const char *name) {
    const char *fn = vt == &max_vt ? "nb_model_maxpool2d" : "nb_model_avgpool2d";
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (!opts) return nbi_error(NB_ERR_ARG, "%s: options are NULL", fn);
    nb_pool_opts o = *opts;
    if (o.kernel[1] == 0) o.kernel[1] = o.kernel[0];
    for (int d = 0; d < 2; d++) {
        if (o.stride[d] == 0) o.stride[d] = o.kernel[d];
        if (o.dilation[d] == 0) o.dilation[d] = 1;
        if (o.kernel[d] < 1 || o.stride[d] < 1 || o.dilation[d] < 1)
            return nbi_error(NB_ERR_ARG,
                             "%s: kernel %lldx%lld, stride %lldx%lld and dilation "
                             "must be >= 1",
                             fn, (long long)o.kernel[0], (long long)o.kernel[1],
                             (long long)o.stride[0], (long long)o.stride[1]);
    }
    for (int k = 0; k < 4; k++)
        if (o.pad[k] < 0) return nbi_error(NB_ERR_ARG, "%s: padding must be >= 0", fn);
    if (vt == &avg_vt && (o.dilation[0] != 1 || o.dilation[1] != 1))
        return nbi_error(NB_ERR_ARG, "%s: dilation is for max pooling only", fn);
    if (vt == &max_vt && o.exclude_pad)
        return nbi_error(NB_ERR_ARG, "%s: exclude_pad is for average pooling only", fn);
    pool_layer *p = nbi_malloc_for(fn, sizeof *p);
    if (!p) return NB_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->base.vt = vt;
    p->o = o;
    return nbi_model_push(m, &p->base, name);
}

nb_status nb_model_maxpool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name) {
    return pool_add(m, &max_vt, opts, name);
}

nb_status nb_model_avgpool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name) {
    return pool_add(m, &avg_vt, opts, name);
}

nb_status nb_model_maxpool2d(nb_model *m, int64_t kernel, int64_t stride) {
    nb_pool_opts o;
    memset(&o, 0, sizeof o);
    o.kernel[0] = o.kernel[1] = kernel;
    o.stride[0] = o.stride[1] = stride;
    return pool_add(m, &max_vt, &o, NULL);
}

nb_status nb_model_avgpool2d(nb_model *m, int64_t kernel, int64_t stride) {
    nb_pool_opts o;
    memset(&o, 0, sizeof o);
    o.kernel[0] = o.kernel[1] = kernel;
    o.stride[0] = o.stride[1] = stride;
    return pool_add(m, &avg_vt, &o, NULL);
}

/* ---- global average pooling ------------------------------------------------------ */

static nb_status gap_output_shape(const nbi_layer *l, int *rank, int64_t *shape) {
    if (l->in_rank != 3) {
        char in[128];
        nbi_batch_shape_str(l->in_rank, l->in_shape, in, sizeof in);
        return nbi_error(NB_ERR_SHAPE,
                         "global_avgpool2d '%s': input %s must have samples "
                         "[C, H, W]",
                         l->name, in);
    }
    *rank = 1;
    shape[0] = l->in_shape[0];
    return NB_OK;
}

static nb_tensor *gap_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    (void)l;
    return nb_global_avg_pool2d(f->ctx, x);
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
    .output_shape = gap_output_shape,
    .forward = gap_forward,
    .spec = gap_spec,
    .torch_modules = gap_torch_modules,
};

nb_status nb_model_global_avgpool2d(nb_model *m) {
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_global_avgpool2d: model is NULL");
    nbi_layer *l = nbi_malloc_for("nb_model_global_avgpool2d", sizeof *l);
    if (!l) return NB_ERR_NOMEM;
    memset(l, 0, sizeof *l);
    l->vt = &gap_vt;
    return nbi_model_push(m, l, NULL);
}
