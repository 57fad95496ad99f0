/* nn/dropout.c — the dropout layer: in training mode it zeroes each element with probability
 * p and scales the rest by 1/(1 − p) (nb_dropout), drawing the mask from the generator the
 * caller passed to the forward (nb_model_forward_rng); in inference mode it is the identity. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct dropout_layer {
    nbi_layer base;
    float p;
} dropout_layer;

static nb_status dropout_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                               int *n_out) {
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static void dropout_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                            nb_tensor **out) {
    (void)n_in;
    const dropout_layer *d = (const dropout_layer *)l;
    out[0] = NULL;
    if (f->training && d->p > 0.0f && !f->rng && in[0]) {
        nbi_error(NB_ERR_ARG,
                  "dropout '%s': training mode draws a mask and needs a generator: "
                  "call nb_model_forward_rng(m, ctx, x, rng), or nb_model_set_training(m, 0) "
                  "for inference",
                  l->name);
        nbi_fail(f->ctx, NB_ERR_ARG);
        return;
    }
    out[0] = nb_dropout(f->ctx, in[0], d->p, f->training, f->rng);
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
    .min_in = 1,
    .max_in = 1,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .describe = dropout_describe,
    .spec = dropout_spec,
};

int nb_model_dropout_on(nb_model *m, int x, float p, const char *name) {
    const char *fn = "nb_model_dropout";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (!(p >= 0.0f && p < 1.0f))
        return -(int)nbi_error(NB_ERR_ARG, "%s: p must be in [0, 1), got %g", fn, (double)p);
    dropout_layer *d = nbi_malloc_for(fn, sizeof *d);
    if (!d) return -(int)NB_ERR_NOMEM;
    memset(d, 0, sizeof *d);
    d->base.vt = &dropout_vt;
    d->p = p;
    return nbi_model_push(m, &d->base, &x, 1, name, fn);
}

nb_status nb_model_dropout(nb_model *m, float p) {
    return nbi_node_status(nb_model_dropout_on(m, nbi_model_last(m), p, NULL));
}
