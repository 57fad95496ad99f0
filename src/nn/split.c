/* nn/split.c — the split layer (torch.split): one node cut along a per-sample axis into parts
 * of the given sizes, a layer with several outputs (output k is node "<name>:<k>"). Each part
 * is an nb_slice, a view whose backward writes the upstream gradient into its range of the
 * input's. No parameters. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct split_layer {
    nbi_layer base;
    int axis, n;
    int64_t sizes[NBI_MAX_OUT];
} split_layer;

static nb_status split_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                             int *n_out) {
    (void)n_in;
    const split_layer *s = (const split_layer *)l;
    int r = in[0].rank, a = s->axis < 0 ? s->axis + r : s->axis;
    char b[128];
    nbi_layer_in_str(&in[0], b, sizeof b);
    if (a < 0 || a >= r)
        return nbi_error(NB_ERR_SHAPE, "split '%s': axis %d is not an axis of its input %s",
                         l->name, s->axis, b);
    int64_t total = 0;
    for (int k = 0; k < s->n; k++) total += s->sizes[k]; /* each <= INT64_MAX / 32 */
    if (in[0].dim[a] != total)
        return nbi_error(NB_ERR_SHAPE,
                         "split '%s': sizes adding up to %lld cannot cut axis %d of "
                         "its input %s%s",
                         l->name, (long long)total, s->axis, b,
                         in[0].dim[a] < 0 ? " (known only at run time)" : "");
    for (int k = 0; k < s->n; k++) {
        out[k] = in[0];
        out[k].dim[a] = s->sizes[k];
    }
    *n_out = s->n;
    return NB_OK;
}

static void split_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                          nb_tensor **out) {
    (void)n_in;
    const split_layer *s = (const split_layer *)l;
    int a = (s->axis < 0 ? s->axis + in[0]->rank - 1 : s->axis) + 1; /* in the batch tensor */
    int64_t start = 0;
    for (int k = 0; k < s->n; k++) {
        out[k] = nb_slice(f->ctx, in[0], a, start, start + s->sizes[k], 1);
        start += s->sizes[k];
    }
}

static void split_describe(const nbi_layer *l, char *buf, size_t n) {
    const split_layer *s = (const split_layer *)l;
    size_t w = (size_t)snprintf(buf, n, "axis %d, sizes", s->axis);
    for (int k = 0; k < s->n && w < n; k++)
        w += (size_t)snprintf(buf + w, n - w, "%s%lld", k ? "," : " ", (long long)s->sizes[k]);
}

/* split SIZE,SIZE,... [axis=A] */
static void split_spec(const nbi_layer *l, nbi_text *out) {
    const split_layer *s = (const split_layer *)l;
    nbi_text_puts(out, "split ");
    for (int k = 0; k < s->n; k++)
        nbi_text_printf(out, "%s%lld", k ? "," : "", (long long)s->sizes[k]);
    if (s->axis != -1) nbi_text_printf(out, " axis=%d", s->axis);
}

static void split_view(const nbi_layer *l, nbi_layer_view *v) {
    const split_layer *s = (const split_layer *)l;
    v->kind = NBI_VIEW_SPLIT;
    v->axis = s->axis;
    v->n_parts = s->n;
    v->sizes = s->sizes;
}

static const nbi_layer_vt split_vt = {
    .kind = "Split",
    .stem = "split",
    .min_in = 1,
    .max_in = 1,
    .flags = NBI_LAYER_GRAPH,
    .infer = split_infer,
    .forward = split_forward,
    .describe = split_describe,
    .spec = split_spec,
    .view = split_view,
};

int nb_model_split(nb_model *m, int x, const int64_t *sizes, int n, int axis, const char *name) {
    const char *fn = "nb_model_split";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (!sizes || n < 1 || n > NBI_MAX_OUT)
        return -(int)nbi_error(NB_ERR_ARG, "%s: needs 1..%d sizes, got %d%s", fn, NBI_MAX_OUT, n,
                               sizes ? "" : " (NULL)");
    for (int k = 0; k < n; k++)
        if (sizes[k] < 1 || sizes[k] > INT64_MAX / 32)
            return -(int)nbi_error(NB_ERR_ARG, "%s: size %d is %lld; sizes must be >= 1", fn, k,
                                   (long long)sizes[k]);
    if (axis < -(NB_MAX_RANK - 1) || axis > NB_MAX_RANK - 2)
        return -(int)nbi_error(NB_ERR_ARG, "%s: axis %d is out of range", fn, axis);
    split_layer *s = nbi_malloc_for(fn, sizeof *s);
    if (!s) return -(int)NB_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    s->base.vt = &split_vt;
    s->axis = axis;
    s->n = n;
    memcpy(s->sizes, sizes, sizeof *sizes * (size_t)n);
    return nbi_model_push(m, &s->base, &x, 1, name, fn);
}
