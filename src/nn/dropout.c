/* nn/dropout.c — the dropout layer: in training mode it zeroes each element with probability
 * p and scales the rest by 1/(1 − p) (nb_dropout), drawing the mask from the generator the
 * caller passed to nb_model_forward_rng; in inference mode it is the identity. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct dropout_layer {
    nbi_layer base;
    float p;
} dropout_layer;

static nb_status same_shape(const nbi_layer *l, int *rank, int64_t *shape) {
    *rank = l->in_rank;
    memcpy(shape, l->in_shape, sizeof l->in_shape);
    return NB_OK;
}

static nb_tensor *dropout_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    const dropout_layer *d = (const dropout_layer *)l;
    if (f->training && d->p > 0.0f && !f->rng && x) {
        nbi_error(NB_ERR_ARG,
                  "dropout '%s': training mode draws a mask and needs a generator: "
                  "call nb_model_forward_rng(m, ctx, x, rng), or nb_model_train(m, 0) for "
                  "inference",
                  l->name);
        return nbi_fail(f->ctx, NB_ERR_ARG);
    }
    return nb_dropout(f->ctx, x, d->p, f->training, f->rng);
}

static void dropout_describe(const nbi_layer *l, char *buf, size_t n) {
    snprintf(buf, n, "p = %g", (double)((const dropout_layer *)l)->p);
}

/* dropout P */
static void dropout_spec(const nbi_layer *l, nbi_text *out) {
    nbi_text_puts(out, "dropout ");
    nbi_text_float(out, ((const dropout_layer *)l)->p);
}

static const nbi_layer_vt dropout_vt = {
    .kind = "Dropout",
    .stem = "dropout",
    .output_shape = same_shape,
    .forward = dropout_forward,
    .describe = dropout_describe,
    .spec = dropout_spec,
};

nb_status nb_model_dropout(nb_model *m, float p) {
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_dropout: model is NULL");
    if (!(p >= 0.0f && p < 1.0f))
        return nbi_error(NB_ERR_ARG, "nb_model_dropout: p must be in [0, 1), got %g", (double)p);
    dropout_layer *d = nbi_malloc_for("nb_model_dropout", sizeof *d);
    if (!d) return NB_ERR_NOMEM;
    memset(d, 0, sizeof *d);
    d->base.vt = &dropout_vt;
    d->p = p;
    return nbi_model_push(m, &d->base, NULL);
}
