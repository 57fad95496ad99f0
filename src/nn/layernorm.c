/* nn/layernorm.c — normalisation over the last axis of each position, the transformer's:
 *
 *     layernorm  y = (x − μ) / sqrt(σ² + eps) ⊙ weight + bias     (PyTorch's nn.LayerNorm(D))
 *     rmsnorm    y = x / sqrt(mean(x²) + eps) ⊙ weight             (nn.RMSNorm, PyTorch 2.4+)
 *
 * μ and σ² (biased) over the D values of one position; weight starts at 1, bias at 0. Each is
 * one op (nb_layer_norm, nb_rms_norm) whose backward comes with it. Unlike batch
 * normalisation there is no batch statistic and no state: training and inference agree. */
#include "nn/nn.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct norm_layer {
    nbi_layer base;
    int rms;
    float eps;
    int affine;
    nb_tensor *weight, *bias;
} norm_layer;

static nb_status norm_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                            int *n_out) {
    const norm_layer *nl = (const norm_layer *)l;
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    char b[128];
    nbi_shape_str(&in[0], b, sizeof b);
    if (in[0].rank < 1 || in[0].dim[in[0].rank - 1] < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s': its input %s has no last axis of known size to normalise",
                         l->vt->stem, l->name, b);
    const int64_t D = in[0].dim[in[0].rank - 1];
    if (nl->weight && nl->weight->shape[0] != D)
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s' was built for %lld features; it is called again "
                         "on %s",
                         l->vt->stem, l->name, (long long)nl->weight->shape[0], b);
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static nb_status norm_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)n_in;
    norm_layer *nl = (norm_layer *)l;
    int64_t D = in[0].dim[in[0].rank - 1];
    if (!nl->affine) return NB_OK;
    nb_status s = nbi_layer_param(b, "weight", 1, &D, &nl->weight);
    if (s == NB_OK && !nl->rms) s = nbi_layer_param(b, "bias", 1, &D, &nl->bias);
    return s;
}

static nb_status norm_init(nbi_layer *l, nb_rng *rng) {
    (void)rng;
    norm_layer *nl = (norm_layer *)l;
    return nl->weight ? nb_init_constant(nl->weight, 1.0f) : NB_OK; /* the bias stays 0 */
}

static void norm_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                         nb_tensor **out) {
    (void)n_in;
    const norm_layer *nl = (const norm_layer *)l;
    out[0] = nl->rms ? nb_rms_norm(f->ctx, in[0], nl->weight, nl->eps)
                     : nb_layer_norm(f->ctx, in[0], nl->weight, nl->bias, nl->eps);
}

static float default_eps(int rms) {
    return rms ? FLT_EPSILON : 1e-5f; /* nn.RMSNorm's eps=None is float32's epsilon */
}

static void norm_describe(const nbi_layer *l, char *buf, size_t n) {
    const norm_layer *nl = (const norm_layer *)l;
    snprintf(buf, n, "eps %g%s", (double)nl->eps, nl->affine ? "" : ", no affine");
}

/* layernorm [eps=E] [affine=false];  rmsnorm [eps=E] [affine=false] */
static void norm_spec(const nbi_layer *l, nbi_text *out) {
    const norm_layer *nl = (const norm_layer *)l;
    nbi_text_puts(out, l->vt->stem);
    if (nl->eps != default_eps(nl->rms)) {
        nbi_text_puts(out, " eps=");
        nbi_text_float(out, nl->eps);
    }
    if (!nl->affine) nbi_text_puts(out, " affine=false");
}

static void norm_view(const nbi_layer *l, nbi_layer_view *v) {
    const norm_layer *nl = (const norm_layer *)l;
    v->kind = nl->rms ? NBI_VIEW_RMSNORM : NBI_VIEW_LAYERNORM;
    v->weight = nl->weight;
    v->bias = nl->bias;
    v->eps = nl->eps;
}

static const nbi_layer_vt ln_vt = {
    .kind = "LayerNorm",
    .stem = "layernorm",
    .min_in = 1,
    .max_in = 1,
    .infer = norm_infer,
    .build = norm_build,
    .init = norm_init,
    .forward = norm_forward,
    .describe = norm_describe,
    .spec = norm_spec, /* nn.LayerNorm(D, eps, elementwise_affine): weight, bias */
    .view = norm_view,
};

static const nbi_layer_vt rms_vt = {
    .kind = "RMSNorm",
    .stem = "rmsnorm",
    .min_in = 1,
    .max_in = 1,
    .infer = norm_infer,
    .build = norm_build,
    .init = norm_init,
    .forward = norm_forward,
    .describe = norm_describe,
    .spec = norm_spec, /* nn.RMSNorm(D, eps, elementwise_affine): weight */
    .view = norm_view,
};

static int push(nb_model *m, int x, int rms, const nb_norm_layer_opts *opts, const char *fn) {
    nb_norm_layer_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (o.eps == 0.0f) o.eps = default_eps(rms);
    if (!(o.eps > 0.0f) || isinf(o.eps))
        return -(int)nbi_error(NB_ERR_ARG, "%s: eps must be a positive number, got %g", fn,
                               (double)o.eps);
    norm_layer *nl = nbi_malloc_for(fn, sizeof *nl);
    if (!nl) return -(int)NB_ERR_NOMEM;
    memset(nl, 0, sizeof *nl);
    nl->base.vt = rms ? &rms_vt : &ln_vt;
    nl->rms = rms;
    nl->eps = o.eps;
    nl->affine = !o.no_affine;
    return nbi_model_push(m, &nl->base, &x, 1, o.name, fn);
}

int nb_model_layer_norm_on(nb_model *m, int x, const nb_norm_layer_opts *opts) {
    return push(m, x, 0, opts, "nb_model_layer_norm");
}

int nb_model_rms_norm_on(nb_model *m, int x, const nb_norm_layer_opts *opts) {
    return push(m, x, 1, opts, "nb_model_rms_norm");
}

nb_status nb_model_layer_norm(nb_model *m, const nb_norm_layer_opts *opts) {
    return nbi_node_status(nb_model_layer_norm_on(m, nbi_model_last(m), opts));
}

nb_status nb_model_rms_norm(nb_model *m, const nb_norm_layer_opts *opts) {
    return nbi_node_status(nb_model_rms_norm_on(m, nbi_model_last(m), opts));
}
