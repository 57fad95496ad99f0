/* nn/concat.c — the concatenation layer (Keras's Concatenate): n >= 1 nodes joined along one
 * per-sample axis (negative counts from the end), every other dimension equal. One nb_concat,
 * whose backward hands each input its slice of the upstream gradient. No parameters. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct concat_layer {
    nbi_layer base;
    int axis; /* as given: -1 is the last axis */
} concat_layer;

static nb_status concat_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                              int *n_out) {
    const concat_layer *c = (const concat_layer *)l;
    int r = in[0].rank, a = c->axis < 0 ? c->axis + r : c->axis;
    char s0[128], si[128];
    nbi_layer_in_str(&in[0], s0, sizeof s0);
    if (a < 0 || a >= r)
        return nbi_error(NB_ERR_SHAPE,
                         "concat '%s': axis %d is not an axis of its input %s "
                         "(samples of rank %d)",
                         l->name, c->axis, s0, r);
    out[0] = in[0];
    for (int i = 1; i < n_in; i++) {
        nbi_layer_in_str(&in[i], si, sizeof si);
        bool ok = in[i].rank == r && in[i].dtype == in[0].dtype;
        for (int d = 0; ok && d < r; d++) {
            int64_t x = out[0].dim[d], y = in[i].dim[d];
            if (d == a) {
                if (x < 0 || y < 0)
                    out[0].dim[d] = -1;
                else if (!nbi_add_i64(x, y, &out[0].dim[d]) || out[0].dim[d] > INT64_MAX / 8)
                    return nbi_error(NB_ERR_SHAPE, "concat '%s': the joined axis overflows",
                                     l->name);
            } else {
                ok = x < 0 || y < 0 || x == y;
                if (x < 0) out[0].dim[d] = y;
            }
        }
        if (!ok)
            return nbi_error(NB_ERR_SHAPE,
                             "concat '%s': input %d %s does not fit input 0 %s "
                             "(every dimension but axis %d must match)",
                             l->name, i, si, s0, c->axis);
    }
    *n_out = 1;
    return NB_OK;
}

static void concat_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                           nb_tensor **out) {
    const concat_layer *c = (const concat_layer *)l;
    /* the per-sample axis, counted in the batch tensor */
    int a = (c->axis < 0 ? c->axis + in[0]->rank - 1 : c->axis) + 1;
    out[0] = n_in == 1 ? in[0] : nb_concat(f->ctx, in, n_in, a);
}

static void concat_describe(const nbi_layer *l, char *buf, size_t n) {
    snprintf(buf, n, "axis %d", ((const concat_layer *)l)->axis);
}

/* concat [axis=A] */
static void concat_spec(const nbi_layer *l, nbi_text *out) {
    const concat_layer *c = (const concat_layer *)l;
    nbi_text_puts(out, "concat");
    if (c->axis != -1) nbi_text_printf(out, " axis=%d", c->axis);
}

static void concat_view(const nbi_layer *l, nbi_layer_view *v) {
    v->kind = NBI_VIEW_CONCAT;
    v->axis = ((const concat_layer *)l)->axis;
}

static const nbi_layer_vt concat_vt = {
    .kind = "Concatenate",
    .stem = "concat",
    .min_in = 1,
    .max_in = 0,
    .flags = NBI_LAYER_GRAPH,
    .infer = concat_infer,
    .forward = concat_forward,
    .describe = concat_describe,
    .spec = concat_spec,
    .view = concat_view,
};

int nb_model_concat(nb_model *m, const int *in, int n, int axis, const char *name) {
    const char *fn = "nb_model_concat";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (!in || n < 1)
        return -(int)nbi_error(NB_ERR_ARG, "%s: needs at least 1 node, got %d%s", fn, n,
                               in ? "" : " (NULL)");
    if (axis < -(NB_MAX_RANK - 1) || axis > NB_MAX_RANK - 2)
        return -(int)nbi_error(NB_ERR_ARG, "%s: axis %d is out of range", fn, axis);
    concat_layer *c = nbi_malloc_for(fn, sizeof *c);
    if (!c) return -(int)NB_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->base.vt = &concat_vt;
    c->axis = axis;
    return nbi_model_push(m, &c->base, in, n, name, fn);
}
