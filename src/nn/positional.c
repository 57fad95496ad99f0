/* nn/positional.c — positional embeddings: a sequence of vectors x [T, E] learns where each
 * one stands by having a vector of its position added,
 *
 *     y[t] = x[t] + P[pos + t]            t < T; pos the position of the first (0 but when
 *                                          decoding: the positions already fed)
 *
 * with P either learned (a table [max_len, E], N(0, 1) like nn.Embedding, which is the torch
 * module it maps to: GPT-2's wpe) or fixed (Vaswani et al., 2017):
 *
 *     P[p, 2i] = sin(p / 10000^(2i/E)),   P[p, 2i + 1] = cos(p / 10000^(2i/E))
 *
 * The learned table is read as a slice of rows (a view), broadcast over the batch by nb_add,
 * whose backward sums the batch into those rows. A sequence longer than the table is an error
 * naming both lengths. The sinusoids are computed in the step's arena for the positions used
 * (T·E sines and cosines, in double), a constant without gradient. */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct pos_layer {
    nbi_layer base;
    int sinusoidal;
    int64_t max_len;
    nb_init init;
    nb_tensor *W; /* learned: [max_len, E] */
} pos_layer;

static nb_status pos_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    const pos_layer *p = (const pos_layer *)l;
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    char b[128];
    nbi_shape_str(&in[0], b, sizeof b);
    if (in[0].rank != 2 || in[0].dim[1] < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s': its input %s is not a sequence of vectors [T, E] with E "
                         "known",
                         l->vt->stem, l->name, b);
    if (!p->sinusoidal && in[0].dim[0] > p->max_len)
        return nbi_error(NB_ERR_SHAPE,
                         "positional '%s': its input %s has %lld positions; its table has %lld",
                         l->name, b, (long long)in[0].dim[0], (long long)p->max_len);
    if (p->W && p->W->shape[1] != in[0].dim[1])
        return nbi_error(NB_ERR_SHAPE,
                         "positional '%s' was built for %lld features; it is called "
                         "again on %s",
                         l->name, (long long)p->W->shape[1], b);
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static nb_status pos_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)n_in;
    pos_layer *p = (pos_layer *)l;
    if (p->sinusoidal) return NB_OK;
    return nbi_layer_param(b, "weight", 2, (int64_t[]){p->max_len, in[0].dim[1]}, &p->W);
}

static nb_status pos_init(nbi_layer *l, nb_rng *rng) {
    pos_layer *p = (pos_layer *)l;
    if (!p->W) return NB_OK;
    return nb_init_apply(p->W, &p->init, p->W->shape[1], p->W->shape[0], 1.0f, rng);
}

/* P[pos .. pos + T) of the sinusoids, [T, E], in the step's arena. */
static nb_tensor *sinusoids(nb_ctx *ctx, int64_t pos, int64_t T, int64_t E) {
    nb_tensor *P = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){T, E});
    if (!P) return NULL;
    float *v = nb_f32(P);
    for (int64_t i = 0; 2 * i < E; i++) {
        const double inv = pow(10000.0, -(double)(2 * i) / (double)E); /* 1 / 10000^(2i/E) */
        for (int64_t t = 0; t < T; t++) {
            const double a = (double)(pos + t) * inv;
            v[t * E + 2 * i] = (float)sin(a);
            if (2 * i + 1 < E) v[t * E + 2 * i + 1] = (float)cos(a);
        }
    }
    return P;
}

static void pos_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)n_in;
    const pos_layer *p = (const pos_layer *)l;
    nb_tensor *x = in[0];
    out[0] = NULL;
    const int64_t T = x->shape[1], E = x->shape[2];
    if (!p->sinusoidal && f->pos + T > p->max_len) {
        nbi_error(NB_ERR_SHAPE,
                  "positional '%s': positions %lld..%lld do not fit its table of %lld (a "
                  "sequence longer than the model's context)",
                  l->name, (long long)f->pos, (long long)(f->pos + T - 1), (long long)p->max_len);
        nbi_fail(f->ctx, NB_ERR_SHAPE);
        return;
    }
    nb_tensor *P = p->sinusoidal ? sinusoids(f->ctx, f->pos, T, E)
                                 : nb_slice(f->ctx, p->W, 0, f->pos, f->pos + T, 1);
    out[0] = nb_add(f->ctx, x, P); /* [B, T, E] + [T, E] */
}

static int64_t pos_context(const nbi_layer *l) {
    const pos_layer *p = (const pos_layer *)l;
    return p->sinusoidal ? -1 : p->max_len;
}

static void pos_describe(const nbi_layer *l, char *buf, size_t n) {
    const pos_layer *p = (const pos_layer *)l;
    if (p->sinusoidal)
        snprintf(buf, n, "sin/cos");
    else
        snprintf(buf, n, "learned, %lld positions", (long long)p->max_len);
}

/* positional MAX_LEN [init=I] */
static void pos_spec(const nbi_layer *l, nbi_text *out) {
    const pos_layer *p = (const pos_layer *)l;
    nbi_text_printf(out, "positional %lld", (long long)p->max_len);
    const nb_init *i = &p->init;
    if (!(i->kind == NB_INIT_NORMAL && i->a == 0.0f && i->b == 1.0f && i->gain == 0.0f)) {
        nbi_text_puts(out, " init=");
        nbi_init_text(i, out);
    }
}

/* sinusoidal */
static void sin_spec(const nbi_layer *l, nbi_text *out) {
    (void)l;
    nbi_text_puts(out, "sinusoidal");
}

static void pos_view(const nbi_layer *l, nbi_layer_view *v) {
    const pos_layer *p = (const pos_layer *)l;
    v->kind = p->sinusoidal ? NBI_VIEW_SINUSOIDAL : NBI_VIEW_POSITIONAL;
    v->weight = p->W;
}

static const nbi_layer_vt pos_vt = {
    .kind = "Positional",
    .stem = "positional",
    .min_in = 1,
    .max_in = 1,
    .infer = pos_infer,
    .build = pos_build,
    .init = pos_init,
    .forward = pos_forward,
    .describe = pos_describe,
    .spec = pos_spec,
    .context = pos_context, /* the table's rows */
    .view = pos_view,
};

static const nbi_layer_vt sin_vt = {
    .kind = "Sinusoidal",
    .stem = "sinusoidal",
    .min_in = 1,
    .max_in = 1,
    .infer = pos_infer,
    .forward = pos_forward,
    .describe = pos_describe,
    .spec = sin_spec,
    .view = pos_view,
};

static int push(nb_model *m, int x, int sinusoidal, int64_t max_len, const nb_init *init,
                const char *name, const char *fn) {
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (!sinusoidal && max_len < 1)
        return -(int)nbi_error(NB_ERR_ARG,
                               "%s: the table needs at least 1 position (the longest sequence "
                               "the model takes), got %lld",
                               fn, (long long)max_len);
    pos_layer *p = nbi_malloc_for(fn, sizeof *p);
    if (!p) return -(int)NB_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->base.vt = sinusoidal ? &sin_vt : &pos_vt;
    p->sinusoidal = sinusoidal;
    p->max_len = sinusoidal ? 0 : max_len;
    if (init) p->init = *init;
    if (p->init.kind == NB_INIT_DEFAULT)
        p->init = (nb_init){.kind = NB_INIT_NORMAL, .a = 0, .b = 1};
    return nbi_model_push(m, &p->base, &x, 1, name, fn);
}

int nb_model_positional_on(nb_model *m, int x, int64_t max_len, const nb_init *init,
                           const char *name) {
    return push(m, x, 0, max_len, init, name, "nb_model_positional");
}

int nb_model_sinusoidal_on(nb_model *m, int x, const char *name) {
    return push(m, x, 1, 0, NULL, name, "nb_model_sinusoidal");
}
