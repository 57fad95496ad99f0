/* nn/attention.c — multi-head self-attention (nn/mha.h: the part shared with the transformer
 * block) and the attention layer, PyTorch's nn.MultiheadAttention(E, heads, batch_first=True)
 * called as self-attention, attn(x, x, x), with its parameter names.
 *
 * The heads' queries, keys and values are one GEMM (x W_in, W_in [E, 3E]); the attention of
 * all heads is one fused op that reads them where the GEMM wrote them and writes the heads
 * side by side where the output projection, a second GEMM, reads them (nb_attention_qkv:
 * tiles and an online softmax, no T × T matrix, no copy of q, k, v or of the result either
 * way). The causal mask and the key padding mask are the op's. A decoding step appends the
 * new keys and values to the call's cache and runs nb_attention on views of it. */
#include "nn/mha.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the shared part ------------------------------------------------------------------------ */

nb_status nbi_mha_check(const nbi_mha *a, const char *who) {
    if (a->E > INT64_MAX / 8) /* 3E and 4E below must not overflow */
        return nbi_error(NB_ERR_ARG, "%s: a width of %lld is too large", who, (long long)a->E);
    if (a->E < 1 || a->heads < 1 || a->E % a->heads != 0)
        return nbi_error(NB_ERR_ARG,
                         "%s: %lld heads do not divide the width %lld (each head takes E / heads "
                         "features)",
                         who, (long long)a->heads, (long long)a->E);
    if (!(a->dropout >= 0.0f && a->dropout < 1.0f))
        return nbi_error(NB_ERR_ARG, "%s: dropout must be in [0, 1), got %g", who,
                         (double)a->dropout);
    return NB_OK;
}

nb_status nbi_mha_check_mask(const nbi_layer *l, const nbi_shape *x, const nbi_shape *mask) {
    if (mask->rank < 0) return NB_OK;
    if (mask->rank == 1 && (mask->dim[0] == x->dim[0] || mask->dim[0] < 0 || x->dim[0] < 0))
        return NB_OK;
    char a[128], b[128];
    nbi_shape_str(x, a, sizeof a);
    nbi_shape_str(mask, b, sizeof b);
    return nbi_error(NB_ERR_SHAPE,
                     "%s '%s': its key mask %s is not one value per position of its input %s "
                     "(i32: nonzero ignores the key; f32: added to the scores)",
                     l->vt->stem, l->name, b, a);
}

nb_status nbi_mha_build(nbi_mha *a, const nbi_build *b, const char *prefix) {
    char nm[64];
    int64_t E = a->E, E3 = 3 * a->E;
    snprintf(nm, sizeof nm, "%sin_proj_weight", prefix);
    nb_status s = nbi_layer_param(b, nm, 2, (int64_t[]){E, E3}, &a->w_in);
    snprintf(nm, sizeof nm, "%sin_proj_bias", prefix);
    if (s == NB_OK && a->bias) s = nbi_layer_param(b, nm, 1, &E3, &a->b_in);
    snprintf(nm, sizeof nm, "%sout_proj.weight", prefix);
    if (s == NB_OK) s = nbi_layer_param(b, nm, 2, (int64_t[]){E, E}, &a->w_out);
    snprintf(nm, sizeof nm, "%sout_proj.bias", prefix);
    if (s == NB_OK && a->bias) s = nbi_layer_param(b, nm, 1, &E, &a->b_out);
    return s;
}

nb_status nbi_mha_init(nbi_mha *a, nb_rng *rng) {
    nb_status s = nb_init_xavier_uniform(a->w_in, a->E, 3 * a->E, 1.0f, rng);
    const float k = 1.0f / sqrtf((float)a->E);
    if (s == NB_OK) s = nb_init_uniform(a->w_out, -k, k, rng);
    return s; /* the biases stay 0 */
}

void nbi_mha_view(const nbi_mha *a, nbi_layer_view *v) {
    v->width = a->E;
    v->heads = a->heads;
    v->causal = a->causal;
    v->w_in = a->w_in;
    v->b_in = a->b_in;
    v->w_out = a->w_out;
    v->b_out = a->b_out;
}

/* [B, T, E] → [B, H, T, d] (a view when the input is contiguous in T and E). */
static nb_tensor *heads_of(nb_ctx *ctx, nb_tensor *t, int64_t H) {
    const int64_t B = t->shape[0], T = t->shape[1], d = t->shape[2] / H;
    return nb_permute(ctx, nb_reshape(ctx, t, 4, (int64_t[]){B, T, H, d}), (int[]){0, 2, 1, 3});
}

/* Writes positions [pos, pos + Tn) of a cache [B, H, max_len, d] from t [B, H, Tn, d] and
 * returns the view of positions [0, pos + Tn). */
static nb_tensor *cache_append(nb_ctx *ctx, float *cache, nb_tensor *t, int64_t pos,
                               int64_t max_len) {
    nb_tensor *c = nb_contiguous(ctx, t);
    if (!c) return NULL;
    const int64_t B = c->shape[0], H = c->shape[1], Tn = c->shape[2], d = c->shape[3];
    for (int64_t bh = 0; bh < B * H; bh++)
        memcpy(cache + (bh * max_len + pos) * d, nb_f32(c) + bh * Tn * d,
               sizeof(float) * (size_t)(Tn * d));
    nb_tensor *all = nb_tensor_from(ctx, NB_F32, cache, 4, (int64_t[]){B, H, max_len, d});
    return nb_slice(ctx, all, 2, 0, pos + Tn, 1);
}

nb_tensor *nbi_mha_forward(const nbi_mha *a, const nbi_layer *l, const nbi_fwd *f, nb_tensor *x,
                           nb_tensor *key_mask) {
    nb_ctx *ctx = f->ctx;
    const int64_t B = x->shape[0], T = x->shape[1], E = a->E, H = a->heads;
    const bool drop = f->training && a->dropout > 0.0f;
    if (drop && !f->rng) {
        nbi_error(NB_ERR_ARG,
                  "%s '%s': attention dropout in training draws masks and needs a generator: "
                  "call nb_model_forward_rng, or nb_model_set_training(m, 0)",
                  l->vt->stem, l->name);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (f->decoding && key_mask) {
        nbi_error(NB_ERR_ARG, "%s '%s': a key mask is not taken when decoding one step at a time",
                  l->vt->stem, l->name);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nb_tensor *qkv = nb_linear(ctx, x, a->w_in, a->b_in); /* [B, T, 3E] */
    if (!qkv) return NULL;
    nb_attention_opts o = {.causal = a->causal,
                           .dropout = drop ? a->dropout : 0.0f,
                           .training = drop,
                           .rng = drop ? f->rng : NULL};
    nb_tensor *joined; /* [B, T, E]: the heads side by side */
    if (!f->decoding || !f->state) {
        /* the heads read straight from the packed projection: nothing is copied */
        joined = nb_attention_qkv(ctx, qkv, H, key_mask, &o);
    } else { /* the new queries against the keys and values of every position so far */
        nb_tensor *q = heads_of(ctx, nb_slice(ctx, qkv, 2, 0, E, 1), H);
        nb_tensor *k = heads_of(ctx, nb_slice(ctx, qkv, 2, E, 2 * E, 1), H);
        nb_tensor *v = heads_of(ctx, nb_slice(ctx, qkv, 2, 2 * E, 3 * E, 1), H);
        float *kc = f->state, *vc = f->state + B * f->max_len * E;
        k = cache_append(ctx, kc, k, f->pos, f->max_len); /* views of the cache */
        v = cache_append(ctx, vc, v, f->pos, f->max_len);
        if (!k || !v) return NULL;
        if (f->pos == 0) {
            /* a prompt's first pass sees no earlier positions: the causal attention of the
             * whole forward, straight from the packed projection (no strided cache views) */
            joined = nb_attention_qkv(ctx, qkv, H, NULL, &o);
        } else {
            nb_tensor *att = nb_attention(ctx, q, k, v, NULL, &o); /* [B, H, T, d] */
            joined = nb_reshape(ctx, nb_permute(ctx, att, (int[]){0, 2, 1, 3}), 3,
                                (int64_t[]){B, T, E});
        }
    }
    return nb_linear(ctx, joined, a->w_out, a->b_out);
}

int64_t nbi_mha_decode_floats(const nbi_mha *a, const nbi_layer *l, int64_t B, int64_t max_len) {
    if (!a->causal) {
        nbi_error(NB_ERR_ARG,
                  "%s '%s' is not causal: every position attends to later ones, so it cannot "
                  "decode one position at a time (causal=true)",
                  l->vt->stem, l->name);
        return -1;
    }
    int64_t n;
    if (!nbi_mul_i64(B, max_len, &n) || !nbi_mul_i64(n, a->E, &n) || !nbi_mul_i64(n, 2, &n)) {
        nbi_error(NB_ERR_NOMEM, "%s '%s': the key and value cache's size overflows", l->vt->stem,
                  l->name);
        return -1;
    }
    return n;
}

/* ---- the attention layer ----------------------------------------------------------------------
 */

typedef struct attn_layer {
    nbi_layer base;
    nbi_mha a;
} attn_layer;

static nb_status attn_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                            int *n_out) {
    const attn_layer *t = (const attn_layer *)l;
    char b[128];
    nbi_shape_str(&in[0], b, sizeof b);
    if (in[0].dtype != NB_F32 || in[0].rank != 2 || in[0].dim[1] != t->a.E)
        return nbi_error(in[0].dtype != NB_F32 ? NB_ERR_ARG : NB_ERR_SHAPE,
                         "attention '%s': its input %s is not a sequence of f32 vectors "
                         "[T, %lld] (its width)",
                         l->name, b, (long long)t->a.E);
    nb_status s = n_in > 1 ? nbi_mha_check_mask(l, &in[0], &in[1]) : NB_OK;
    if (s != NB_OK) return s;
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static nb_status attn_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)in;
    (void)n_in;
    return nbi_mha_build(&((attn_layer *)l)->a, b, "");
}

static nb_status attn_init(nbi_layer *l, nb_rng *rng) {
    return nbi_mha_init(&((attn_layer *)l)->a, rng);
}

static void attn_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                         nb_tensor **out) {
    out[0] = nbi_mha_forward(&((const attn_layer *)l)->a, l, f, in[0], n_in > 1 ? in[1] : NULL);
}

static int64_t attn_decode_floats(const nbi_layer *l, const nbi_shape *in, int n_in, int64_t B,
                                  int64_t max_len) {
    (void)in;
    (void)n_in;
    return nbi_mha_decode_floats(&((const attn_layer *)l)->a, l, B, max_len);
}

static void attn_describe(const nbi_layer *l, char *buf, size_t n) {
    const nbi_mha *a = &((const attn_layer *)l)->a;
    snprintf(buf, n, "%lld heads of %lld%s%s", (long long)a->heads, (long long)(a->E / a->heads),
             a->causal ? ", causal" : "", a->bias ? "" : ", no bias");
}

/* attention WIDTH [heads=H] [causal=true] [dropout=P] [bias=false] */
static void attn_spec(const nbi_layer *l, nbi_text *out) {
    const nbi_mha *a = &((const attn_layer *)l)->a;
    nbi_text_printf(out, "attention %lld", (long long)a->E);
    if (a->heads != 1) nbi_text_printf(out, " heads=%lld", (long long)a->heads);
    if (a->causal) nbi_text_puts(out, " causal=true");
    if (a->dropout != 0.0f) {
        nbi_text_puts(out, " dropout=");
        nbi_text_float(out, a->dropout);
    }
    if (!a->bias) nbi_text_puts(out, " bias=false");
}

/* nn.MultiheadAttention: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias; the
 * weights transposed (PyTorch's [out, in]) */
static void attn_view(const nbi_layer *l, nbi_layer_view *v) {
    nbi_mha_view(&((const attn_layer *)l)->a, v);
    v->kind = NBI_VIEW_ATTENTION;
}

static const nbi_layer_vt attn_vt = {
    .kind = "Attention",
    .stem = "attention",
    .min_in = 1,
    .max_in = 2,
    .infer = attn_infer,
    .build = attn_build,
    .init = attn_init,
    .forward = attn_forward,
    .describe = attn_describe,
    .spec = attn_spec,
    .decode_floats = attn_decode_floats,
    .torch_transposed = 1u << 0 | 1u << 2,
    .view = attn_view,
};
static const nbi_layer_vt attn_nobias_vt = {
    .kind = "Attention",
    .stem = "attention",
    .min_in = 1,
    .max_in = 2,
    .infer = attn_infer,
    .build = attn_build,
    .init = attn_init,
    .forward = attn_forward,
    .describe = attn_describe,
    .spec = attn_spec,
    .decode_floats = attn_decode_floats,
    .torch_transposed = 1u << 0 | 1u << 1, /* no biases: the weights are parameters 0 and 1 */
    .view = attn_view,
};

int nb_model_attention_on(nb_model *m, int x, int64_t width, const nb_attention_layer_opts *opts) {
    const char *fn = "nb_model_attention";
    nb_attention_layer_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (o.key_mask < 0) return o.key_mask;
    nbi_mha a = {.E = width,
                 .heads = o.heads ? o.heads : 1,
                 .causal = o.causal != 0,
                 .dropout = o.dropout,
                 .bias = !o.no_bias};
    nb_status s = nbi_mha_check(&a, fn);
    if (s != NB_OK) return -(int)s;
    attn_layer *t = nbi_malloc_for(fn, sizeof *t);
    if (!t) return -(int)NB_ERR_NOMEM;
    memset(t, 0, sizeof *t);
    t->base.vt = a.bias ? &attn_vt : &attn_nobias_vt;
    t->a = a;
    int in[2] = {x, o.key_mask};
    return nbi_model_push(m, &t->base, in, o.key_mask ? 2 : 1, o.name, fn);
}
