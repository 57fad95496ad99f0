/* nn/tied.c — an output head that shares its weight with an embedding (weight tying, Press &
 * Wolf 2017; GPT-2's lm_head):
 *
 *     logits = x Eᵀ (+ b)          x [..., dim], E the embedding's weight [vocab, dim]
 *
 * The head declares no weight of its own: it holds the embedding's parameter, so the tape
 * sums both uses into one gradient (∂L/∂E = the embedding's scatter + δᵀ x from the head)
 * and a model file stores the matrix once, under the embedding's name. Its torch module
 * (tests/ref/torch_from_spec.py) is F.linear(x, embedding.weight, bias) with the embedding
 * held but not registered, which is what load_state_dict(strict=True) sees as nanoGPT's
 * `lm_head.weight = wte.weight` without the second key. An optional bias [vocab] is the
 * head's own ("<name>.bias", zeros). */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct tied_layer {
    nbi_layer base;
    char target[NBI_LAYER_NAME_MAX]; /* the embedding layer's name */
    int bias;
    nb_tensor *E, *b; /* E: the embedding's parameter; b: our own */
} tied_layer;

static nb_status tied_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                            int *n_out) {
    const tied_layer *t = (const tied_layer *)l;
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    char b[128];
    nbi_shape_str(&in[0], b, sizeof b);
    if (in[0].rank < 1 || in[0].dim[in[0].rank - 1] < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "tied_dense '%s': its input %s has no last axis of "
                         "known size",
                         l->name, b);
    if (t->E->shape[1] != in[0].dim[in[0].rank - 1])
        return nbi_error(NB_ERR_SHAPE,
                         "tied_dense '%s': the embedding '%s' has vectors of %lld; the input %s "
                         "has %lld features",
                         l->name, t->target, (long long)t->E->shape[1], b,
                         (long long)in[0].dim[in[0].rank - 1]);
    out[0] = in[0];
    out[0].dim[out[0].rank - 1] = t->E->shape[0];
    *n_out = 1;
    return NB_OK;
}

static nb_status tied_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)in;
    (void)n_in;
    tied_layer *t = (tied_layer *)l;
    return t->bias ? nbi_layer_param(b, "bias", 1, &t->E->shape[0], &t->b) : NB_OK;
}

static void tied_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                         nb_tensor **out) {
    (void)n_in;
    const tied_layer *t = (const tied_layer *)l;
    /* x Eᵀ: nb_linear reads W [dim, vocab], the transpose of the embedding's [vocab, dim] */
    out[0] = nb_linear(f->ctx, in[0], nb_transpose(f->ctx, t->E, 0, 1), t->b);
}

static void tied_describe(const nbi_layer *l, char *buf, size_t n) {
    const tied_layer *t = (const tied_layer *)l;
    snprintf(buf, n, "weight of %s%s", t->target, t->bias ? ", bias" : "");
}

/* tied_dense EMBEDDING [bias=true] */
static void tied_spec(const nbi_layer *l, nbi_text *out) {
    const tied_layer *t = (const tied_layer *)l;
    nbi_text_puts(out, "tied_dense ");
    nbi_text_value(out, t->target);
    if (t->bias) nbi_text_puts(out, " bias=true");
}

static void tied_view(const nbi_layer *l, nbi_layer_view *v) {
    const tied_layer *t = (const tied_layer *)l;
    v->kind = NBI_VIEW_TIED_DENSE;
    v->weight = t->E;
    v->bias = t->b;
}

static const nbi_layer_vt tied_vt = {
    .kind = "TiedDense",
    .stem = "tied_dense",
    .min_in = 1,
    .max_in = 1,
    .infer = tied_infer,
    .build = tied_build,
    .forward = tied_forward,
    .describe = tied_describe,
    .spec = tied_spec,
    .view = tied_view,
};

int nb_model_tied_dense_on(nb_model *m, int x, const char *embedding, int bias, const char *name) {
    const char *fn = "nb_model_tied_dense";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (!embedding || !*embedding || strlen(embedding) >= NBI_LAYER_NAME_MAX)
        return -(int)nbi_error(NB_ERR_ARG, "%s: name the embedding layer whose weight to share",
                               fn);
    const nbi_layer *e = nbi_model_layer_named(m, embedding);
    if (!e || !nbi_is_embedding(e))
        return -(int)nbi_error(
            NB_ERR_ARG, "%s: %s '%s'; a tied head takes the weight of an embedding layer", fn,
            e ? "the layer is not an embedding:" : "the model has no layer", embedding);
    char pname[NBI_LAYER_NAME_MAX + 16];
    snprintf(pname, sizeof pname, "%s.weight", e->name);
    nb_tensor *E = nb_params_find(nb_model_params(m), pname);
    NBI_ASSERT(E && E->rank == 2);
    tied_layer *t = nbi_malloc_for(fn, sizeof *t);
    if (!t) return -(int)NB_ERR_NOMEM;
    memset(t, 0, sizeof *t);
    t->base.vt = &tied_vt;
    t->E = E; /* the embedding's parameter, which never moves (nbi_param records) */
    memcpy(t->target, embedding, strlen(embedding) + 1);
    t->bias = bias != 0;
    return nbi_model_push(m, &t->base, &x, 1, name, fn);
}
