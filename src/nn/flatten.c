/* nn/flatten.c — the flatten layer: [d1, d2, ...] → [d1·d2·...] per sample, between the
 * convolutional part of a network and its dense head. A reshape: a view of contiguous input,
 * no copy, no parameters. */
#include "nn/nn.h"

#include <string.h>

static nb_status flatten_output_shape(const nbi_layer *l, int *rank, int64_t *shape) {
    *rank = 1;
    shape[0] = 1;
    for (int d = 0; d < l->in_rank; d++) shape[0] *= l->in_shape[d];
    return NB_OK;
}

static nb_tensor *flatten_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    (void)l;
    return nb_flatten(f->ctx, x);
}

static void flatten_spec(const nbi_layer *l, nbi_text *out) {
    (void)l;
    nbi_text_puts(out, "flatten");
}

static const nbi_layer_vt flatten_vt = {
    .kind = "Flatten",
    .stem = "flatten",
    .output_shape = flatten_output_shape,
    .forward = flatten_forward,
    .spec = flatten_spec,
};

nb_status nb_model_flatten(nb_model *m) {
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_flatten: model is NULL");
    nbi_layer *l = nbi_malloc_for("nb_model_flatten", sizeof *l);
    if (!l) return NB_ERR_NOMEM;
    memset(l, 0, sizeof *l);
    l->vt = &flatten_vt;
    return nbi_model_push(m, l, NULL);
}
