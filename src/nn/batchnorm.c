/* nn/batchnorm.c — the batch normalisation layer (PyTorch's BatchNorm1d/2d). It normalises each
 * channel (axis 1 of the batch) with the batch's statistics in training mode, updating the running
 * statistics in the model's state store, and with the running statistics in inference mode (the
 * nb_batch_norm op). Parameter and state names are PyTorch's: weight, bias, running_mean,
 * running_var. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct bn_layer {
    nbi_layer base;
    float momentum, eps;
    int affine;
    nb_tensor *weight, *bias, *rmean, *rvar;
} bn_layer;

static nb_status bn_output_shape(const nbi_layer *l, int *rank, int64_t *shape) {
    if (l->in_rank < 1) {
        return nbi_error(NB_ERR_SHAPE,
                         "batchnorm '%s': its input is a scalar per sample; it "
                         "normalises channels (samples [C] or [C, ...])",
                         l->name);
    }
    *rank = l->in_rank;
    memcpy(shape, l->in_shape, sizeof l->in_shape);
    return NB_OK;
}

static nb_status bn_build(nbi_layer *l, nb_params *ps, nb_rng *rng) {
    (void)rng;
    bn_layer *b = (bn_layer *)l;
    int64_t C = l->in_shape[0];
    nb_status s = NB_OK;
    if (b->affine) {
        s = nbi_layer_param(l, ps, "weight", 1, &C, &b->weight);
        if (s == NB_OK) s = nb_init_constant(b->weight, 1.0f);
        if (s == NB_OK) s = nbi_layer_param(l, ps, "bias", 1, &C, &b->bias);
    }
    if (s == NB_OK) s = nbi_layer_state(l, "running_mean", 1, &C, &b->rmean);
    if (s == NB_OK) s = nbi_layer_state(l, "running_var", 1, &C, &b->rvar);
    if (s == NB_OK) s = nb_init_constant(b->rvar, 1.0f);
    return s;
}

static nb_tensor *bn_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    const bn_layer *b = (const bn_layer *)l;
    return nb_batch_norm(f->ctx, x, b->weight, b->bias, b->rmean, b->rvar, f->training, b->momentum,
                         b->eps);
}

static void bn_describe(const nbi_layer *l, char *buf, size_t n) {
    const bn_layer *b = (const bn_layer *)l;
    snprintf(buf, n, "momentum %g, eps %g%s", (double)b->momentum, (double)b->eps,
             b->affine ? "" : ", no affine");
}

/* batchnorm [momentum=M] [eps=E] [affine=false] */
static void bn_spec(const nbi_layer *l, nbi_text *out) {
    const bn_layer *b = (const bn_layer *)l;
    nbi_text_puts(out, "batchnorm");
    if (b->momentum != 0.1f) {
        nbi_text_puts(out, " momentum=");
        nbi_text_float(out, b->momentum);
    }
    if (b->eps != 1e-5f) {
        nbi_text_puts(out, " eps=");
        nbi_text_float(out, b->eps);
    }
    if (!b->affine) nbi_text_puts(out, " affine=false");
}

static const nbi_layer_vt bn_vt = {
    .kind = "BatchNorm",
    .stem = "batchnorm",
    .output_shape = bn_output_shape,
    .build = bn_build,
    .forward = bn_forward,
    .describe = bn_describe,
    .spec = bn_spec, /* nn.BatchNorm1d/2d: weight, bias, running_mean, running_var */
};

nb_status nb_model_batchnorm_with(nb_model *m, const nb_batchnorm_opts *opts) {
    nb_batchnorm_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_batchnorm: model is NULL");
    if (o.momentum == 0.0f) o.momentum = 0.1f;
    if (o.eps == 0.0f) o.eps = 1e-5f;
    if (!(o.momentum > 0.0f && o.momentum <= 1.0f) || !(o.eps > 0.0f))
        return nbi_error(NB_ERR_ARG,
                         "nb_model_batchnorm: need 0 < momentum <= 1 and eps > 0, "
                         "got momentum %g, eps %g",
                         (double)o.momentum, (double)o.eps);
    bn_layer *b = nbi_malloc_for("nb_model_batchnorm", sizeof *b);
    if (!b) return NB_ERR_NOMEM;
    memset(b, 0, sizeof *b);
    b->base.vt = &bn_vt;
    b->momentum = o.momentum;
    b->eps = o.eps;
    b->affine = !o.no_affine;
    return nbi_model_push(m, &b->base, o.name);
}

nb_status nb_model_batchnorm(nb_model *m) {
    return nb_model_batchnorm_with(m, NULL);
}
