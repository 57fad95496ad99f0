/* nn/flatten.c — the flatten layer: [d1, d2, ...] → [d1·d2·...] per sample, between the
 * convolutional part of a network and its dense head. A reshape: a view of contiguous input,
 * no copy, no parameters. The product is overflow-checked, and every dimension must be known
 * (a size known only at run time would make the output's size unknown to the layers after). */
#include "nn/nn.h"

#include <string.h>

static nb_status flatten_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                               int *n_out) {
    (void)n_in;
    char b[128];
    int64_t n = 1;
    for (int d = 0; d < in[0].rank; d++) {
        nbi_layer_in_str(&in[0], b, sizeof b);
        if (in[0].dim[d] < 0)
            return nbi_error(NB_ERR_SHAPE,
                             "flatten '%s': dimension %d of its input %s is known "
                             "only at run time; flatten needs every dimension fixed",
                             l->name, d + 1, b);
        if (!nbi_mul_i64(n, in[0].dim[d], &n) || n > INT64_MAX / 8)
            return nbi_error(NB_ERR_SHAPE,
                             "flatten '%s': its input %s has too many elements "
                             "per sample (the product overflows)",
                             l->name, b);
    }
    out[0].dtype = in[0].dtype;
    out[0].rank = 1;
    out[0].dim[0] = n;
    *n_out = 1;
    return NB_OK;
}

static void flatten_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                            nb_tensor **out) {
    (void)l;
    (void)n_in;
    out[0] = nb_flatten(f->ctx, in[0]);
}

static void flatten_spec(const nbi_layer *l, nbi_text *out) {
    (void)l;
    nbi_text_puts(out, "flatten");
}

static const nbi_layer_vt flatten_vt = {
    .kind = "Flatten",
    .stem = "flatten",
    .min_in = 1,
    .max_in = 1,
    .infer = flatten_infer,
    .forward = flatten_forward,
    .spec = flatten_spec,
};

int nb_model_flatten_on(nb_model *m, int x, const char *name) {
    const char *fn = "nb_model_flatten";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    nbi_layer *l = nbi_malloc_for(fn, sizeof *l);
    if (!l) return -(int)NB_ERR_NOMEM;
    memset(l, 0, sizeof *l);
    l->vt = &flatten_vt;
    return nbi_model_push(m, l, &x, 1, name, fn);
}

nb_status nb_model_flatten(nb_model *m) {
    return nbi_node_status(nb_model_flatten_on(m, nbi_model_last(m), NULL));
}
