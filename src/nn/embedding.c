/* nn/embedding.c — the embedding layer (PyTorch's nn.Embedding): token ids in, one learned
 * vector per id out,
 *
 *     y[..., :] = W[ids[...], :]          ids i32 [...], W [vocab, dim]  →  y [..., dim]
 *
 * the nb_embedding op, whose backward scatters ∂L/∂y back into the rows that were looked up.
 * The weight starts N(0, 1), as PyTorch's; with padding_idx, that row starts at 0 and never
 * receives a gradient. An id outside [0, vocab) is an error naming its position (the op's). */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

typedef struct emb_layer {
    nbi_layer base;
    int64_t vocab, dim;
    int padding;
    int64_t padding_idx;
    nb_init init;
    nb_tensor *W;
} emb_layer;

static nb_status emb_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    (void)n_in;
    const emb_layer *e = (const emb_layer *)l;
    if (in[0].dtype != NB_I32) {
        char b[128];
        nbi_shape_str(&in[0], b, sizeof b);
        return nbi_error(NB_ERR_ARG,
                         "embedding '%s': its input %s holds f32 values; an embedding takes "
                         "token ids (an i32 input: nb_model_input(..., NB_I32, ...), or "
                         "dtype=i32 on the spec's input line)",
                         l->name, b);
    }
    if (in[0].rank > NB_MAX_RANK - 2)
        return nbi_error(NB_ERR_SHAPE,
                         "embedding '%s': its input has %d dimensions per sample; the result "
                         "adds one, and a tensor holds at most %d with the batch",
                         l->name, in[0].rank, NB_MAX_RANK);
    *out = in[0];
    out->dtype = NB_F32;
    out->dim[out->rank++] = e->dim;
    *n_out = 1;
    return NB_OK;
}

static nb_status emb_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)in;
    (void)n_in;
    emb_layer *e = (emb_layer *)l;
    return nbi_layer_param(b, "weight", 2, (int64_t[]){e->vocab, e->dim}, &e->W);
}

/* PyTorch's: N(0, 1), then the padding row set to 0. */
static nb_status emb_init(nbi_layer *l, nb_rng *rng) {
    emb_layer *e = (emb_layer *)l;
    nb_status s = nb_init_apply(e->W, &e->init, e->dim, e->vocab, 1.0f, rng);
    if (s == NB_OK && e->padding)
        memset(nb_f32(e->W) + e->padding_idx * e->dim, 0, sizeof(float) * (size_t)e->dim);
    return s;
}

static void emb_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)n_in;
    const emb_layer *e = (const emb_layer *)l;
    out[0] = nb_embedding(f->ctx, in[0], e->W, e->padding ? e->padding_idx : NB_NO_PADDING);
}

static void emb_describe(const nbi_layer *l, char *buf, size_t n) {
    const emb_layer *e = (const emb_layer *)l;
    if (e->padding)
        snprintf(buf, n, "%lld x %lld, padding %lld", (long long)e->vocab, (long long)e->dim,
                 (long long)e->padding_idx);
    else
        snprintf(buf, n, "%lld x %lld", (long long)e->vocab, (long long)e->dim);
}

static bool is_default_init(const nb_init *i) {
    return i->kind == NB_INIT_NORMAL && i->a == 0.0f && i->b == 1.0f && i->gain == 0.0f;
}

/* embedding VOCAB DIM [padding_idx=P] [init=I] */
static void emb_spec(const nbi_layer *l, nbi_text *out) {
    const emb_layer *e = (const emb_layer *)l;
    nbi_text_printf(out, "embedding %lld %lld", (long long)e->vocab, (long long)e->dim);
    if (e->padding) nbi_text_printf(out, " padding_idx=%lld", (long long)e->padding_idx);
    if (!is_default_init(&e->init)) {
        nbi_text_puts(out, " init=");
        nbi_init_text(&e->init, out);
    }
}

static void emb_view(const nbi_layer *l, nbi_layer_view *v) {
    v->kind = NBI_VIEW_EMBEDDING;
    v->weight = ((const emb_layer *)l)->W;
}

static const nbi_layer_vt emb_vt = {
    .kind = "Embedding",
    .stem = "embedding",
    .min_in = 1,
    .max_in = 1,
    .infer = emb_infer,
    .build = emb_build,
    .init = emb_init,
    .forward = emb_forward,
    .describe = emb_describe,
    .spec = emb_spec, /* nn.Embedding(vocab, dim, padding_idx): weight [vocab, dim] */
    .view = emb_view,
};

bool nbi_is_embedding(const nbi_layer *l) {
    return l && l->vt == &emb_vt;
}

int nb_model_embedding_on(nb_model *m, int x, int64_t vocab, int64_t dim,
                          const nb_embedding_opts *opts) {
    const char *fn = "nb_model_embedding";
    nb_embedding_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    int64_t n;
    if (vocab < 1 || dim < 1 || !nbi_mul_i64(vocab, dim, &n))
        return -(int)nbi_error(NB_ERR_ARG,
                               "%s: the vocabulary and the dimension must be at least 1 (and "
                               "their product fit), got %lld and %lld",
                               fn, (long long)vocab, (long long)dim);
    if (o.padding && (o.padding_idx < 0 || o.padding_idx >= vocab))
        return -(int)nbi_error(NB_ERR_ARG, "%s: padding_idx %lld is outside [0, %lld)", fn,
                               (long long)o.padding_idx, (long long)vocab);
    emb_layer *e = nbi_malloc_for(fn, sizeof *e);
    if (!e) return -(int)NB_ERR_NOMEM;
    memset(e, 0, sizeof *e);
    e->base.vt = &emb_vt;
    e->vocab = vocab;
    e->dim = dim;
    e->padding = o.padding != 0;
    e->padding_idx = o.padding ? o.padding_idx : 0;
    e->init = o.init;
    if (e->init.kind == NB_INIT_DEFAULT)
        e->init = (nb_init){.kind = NB_INIT_NORMAL, .a = 0, .b = 1};
    return nbi_model_push(m, &e->base, &x, 1, o.name, fn);
}

nb_status nb_model_embedding(nb_model *m, int64_t vocab, int64_t dim) {
    return nbi_node_status(nb_model_embedding_on(m, nbi_model_last(m), vocab, dim, NULL));
}
