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

static nb_status bn_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                          int *n_out) {
    const bn_layer *b = (const bn_layer *)l;
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    if (in[0].rank < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "batchnorm '%s': its input is a scalar per sample; it "
                         "normalises channels (samples [C] or [C, ...])",
                         l->name);
    char t[128];
    nbi_layer_in_str(&in[0], t, sizeof t);
    if (in[0].dim[0] < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "batchnorm '%s': the channels of its input %s must be "
                         "known and at least 1",
                         l->name, t);
    if (b->rmean && b->rmean->shape[0] != in[0].dim[0])
        return nbi_error(NB_ERR_SHAPE,
                         "batchnorm '%s' was built for %lld channels; it is called "
                         "again on %s",
                         l->name, (long long)b->rmean->shape[0], t);
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static nb_status bn_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *bd) {
    (void)n_in;
    bn_layer *b = (bn_layer *)l;
    int64_t C = in[0].dim[0];
    nb_status s = NB_OK;
    if (b->affine) {
        s = nbi_layer_param(bd, "weight", 1, &C, &b->weight);
        if (s == NB_OK) s = nbi_layer_param(bd, "bias", 1, &C, &b->bias);
    }
    if (s == NB_OK) s = nbi_layer_state(bd, "running_mean", 1, &C, &b->rmean);
    if (s == NB_OK) s = nbi_layer_state(bd, "running_var", 1, &C, &b->rvar);
    return s;
}

/* PyTorch's: weight 1, bias 0, running mean 0, running variance 1 (nothing drawn). */
static nb_status bn_init(nbi_layer *l, nb_rng *rng) {
    (void)rng;
    bn_layer *b = (bn_layer *)l;
    nb_status s = b->weight ? nb_init_constant(b->weight, 1.0f) : NB_OK;
    if (s == NB_OK) s = nb_init_constant(b->rvar, 1.0f);
    return s;
}

static void bn_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                       nb_tensor **out) {
    (void)n_in;
    const bn_layer *b = (const bn_layer *)l;
    out[0] = nb_batch_norm(f->ctx, in[0], b->weight, b->bias, b->rmean, b->rvar, f->training,
                           b->momentum, b->eps);
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
    .min_in = 1,
    .max_in = 1,
    .infer = bn_infer,
    .build = bn_build,
    .init = bn_init,
    .forward = bn_forward,
    .describe = bn_describe,
    .spec = bn_spec, /* nn.BatchNorm1d/2d: weight, bias, running_mean, running_var */
    .torch_counter = "num_batches_tracked", /* torch counts batches; nabla does not */
};

int nb_model_batch_norm_on(nb_model *m, int x, const nb_batch_norm_opts *opts) {
    const char *fn = "nb_model_batch_norm";
    nb_batch_norm_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (o.momentum == 0.0f) o.momentum = 0.1f;
    if (o.eps == 0.0f) o.eps = 1e-5f;
    if (!(o.momentum > 0.0f && o.momentum <= 1.0f) || !(o.eps > 0.0f))
        return -(int)nbi_error(NB_ERR_ARG,
                               "%s: need 0 < momentum <= 1 and eps > 0, got momentum %g, eps %g",
                               fn, (double)o.momentum, (double)o.eps);
    bn_layer *b = nbi_malloc_for(fn, sizeof *b);
    if (!b) return -(int)NB_ERR_NOMEM;
    memset(b, 0, sizeof *b);
    b->base.vt = &bn_vt;
    b->momentum = o.momentum;
    b->eps = o.eps;
    b->affine = !o.no_affine;
    return nbi_model_push(m, &b->base, &x, 1, o.name, fn);
}

nb_status nb_model_batch_norm_with(nb_model *m, const nb_batch_norm_opts *opts) {
    return nbi_node_status(nb_model_batch_norm_on(m, nbi_model_last(m), opts));
}

nb_status nb_model_batch_norm(nb_model *m) {
    return nb_model_batch_norm_with(m, NULL);
}
