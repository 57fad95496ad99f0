/* ops/attention.c — scaled dot-product attention as one fused op (PyTorch's
 * F.scaled_dot_product_attention with a key padding mask):
 *
 *   q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv]  →  o [B, H, Tq, dv]
 *   s_ij = scale q_i·k_j (+ mask[b, j] when the mask is f32: additive)
 *   keys masked out: j > Tk − Tq + i when causal (the offset lets Tq new queries attend to a
 *   KV cache of Tk >= Tq keys), and mask[b, j] != 0 when the mask is i32 (keys to ignore, as
 *   nn.MultiheadAttention's key_padding_mask)
 *   o_i = Σ_j dropout(softmax_j(s_i))_j v_j
 *
 * The back end computes it in tiles with an online softmax (kernels/x86/attention.inc): no
 * Tq × Tk matrix is ever stored, only the log-sum-exp of each query row for backward, which
 * recomputes the weights tile by tile (FlashAttention's scheme; the formulas are in
 * kernels/ref/attention.c). Dropout (training only) zeroes each weight with probability p and
 * scales the rest by 1/(1 − p); its mask is a hash of a 64-bit seed drawn from the caller's
 * generator, the query row and the key, so backward regenerates it and nothing is stored.
 * A query that sees no key at all (every key masked) gets o = 0 (PyTorch gives NaN).
 *
 * q, k and v may be views — a slice of a KV cache, heads cut from a wider tensor — as long as
 * each row of d features is contiguous: the kernels take each operand's strides
 * (kernels/seq.h: nbi_attn_rows), so nothing is copied. The gradients are contiguous.
 *
 * Inputs: q, k, v and optionally the mask [B, Tk] (f32 additive or i32 ignore), which takes
 * no gradient. attrs.i: 0 causal, 1 the dropout seed; attrs.f: 0 scale, 1 dropout p.
 *
 * nb_attention_qkv is the same computation for H heads of self-attention taken straight
 * from a QKV projection's packed output, qkv [B, T, 3E] (q, then k, then v, each with head h
 * at features h·d .. (h + 1)·d, d = E/H) to o [B, T, E] (the heads side by side): the layouts
 * of the GEMMs before and after it, so a transformer's attention reads and writes them in
 * place and its backward writes the gradient of qkv directly. attrs.i: 0 causal, 1 seed,
 * 2 heads. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct attn_saved {
    nb_tensor *q, *k, *v, *mask; /* rows contiguous (the mask: all) */
    float *lse;
} attn_saved;

/* An operand as the kernels take it: itself when each row is contiguous (its last stride 1),
 * else a contiguous copy. */
static nb_tensor *rows_view(nb_ctx *ctx, nb_tensor *t) {
    if (t->stride[3] == 1 || t->shape[3] <= 1) {
        if (t->stride[0] || t->stride[1] || t->stride[2] || t->numel == t->shape[3]) return t;
    }
    return nbi_contig(ctx, t);
}

static nbi_attn_rows rows_of(const nb_tensor *t) {
    return (nbi_attn_rows){t->stride[0], t->stride[1], t->stride[2]};
}

static nb_status attn_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    const nb_tensor *mask = n->n_in > 3 ? n->in[3] : NULL;
    if (q->dtype != NB_F32 || k->dtype != NB_F32 || v->dtype != NB_F32)
        return nbi_shape_error(n, "q, k and v must be f32");
    if (q->rank != 4 || k->rank != 4 || v->rank != 4)
        return nbi_shape_error(n, "q, k and v must be [B, H, T, d] (batch, heads, positions, "
                                  "features)");
    if (k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] ||
        v->shape[1] != q->shape[1])
        return nbi_shape_error(n, "q, k and v must have the same batch and head counts");
    if (k->shape[3] != q->shape[3])
        return nbi_shape_error(n, "q and k must have the same feature size d");
    if (v->shape[2] != k->shape[2])
        return nbi_shape_error(n, "k and v must have the same number of positions Tk");
    const int64_t B = q->shape[0], Tq = q->shape[2], Tk = k->shape[2];
    if (n->attrs->i[0] && Tk < Tq)
        return nbi_shape_error(n, "causal attention needs at least as many keys as queries "
                                  "(query i sees keys up to Tk - Tq + i)");
    if (Tq > INT32_MAX || Tk > INT32_MAX)
        return nbi_shape_error(n, "sequences longer than 2^31 positions are not supported");
    if (mask) {
        char what[160];
        if (mask->rank != 2 || mask->shape[0] != B || mask->shape[1] != Tk) {
            snprintf(what, sizeof what,
                     "the mask must be [B, Tk] = [%lld, %lld]: one entry per batch sample and "
                     "key",
                     (long long)B, (long long)Tk);
            return nbi_shape_error(n, what);
        }
        if (mask->flags & NB_TF_REQUIRES_GRAD)
            return nbi_shape_error(n, "the mask must not require a gradient");
    }
    const float scale = n->attrs->f[0], p = n->attrs->f[1];
    if (!isfinite(scale)) return nbi_shape_error(n, "scale must be finite");
    if (!(p >= 0.0f && p < 1.0f)) return nbi_shape_error(n, "dropout p must be in [0, 1)");
    out->dtype = NB_F32;
    out->rank = 4;
    out->shape[0] = B;
    out->shape[1] = q->shape[1];
    out->shape[2] = Tq;
    out->shape[3] = v->shape[3];
    int64_t numel;
    if (nbi_check_shape("attention", 4, out->shape, &numel) != NB_OK)
        return nbi_shape_error(n, "the result has too many elements");
    return NB_OK;
}

static nbi_attn_geom geom_of(const nbi_node *n, const nb_tensor *q, const nb_tensor *k,
                             const nb_tensor *v, const nb_tensor *mask) {
    nbi_attn_geom g;
    memset(&g, 0, sizeof g);
    g.B = q->shape[0];
    g.H = q->shape[1];
    g.Tq = q->shape[2];
    g.Tk = k->shape[2];
    g.d = q->shape[3];
    g.dv = v->shape[3];
    g.scale = n->attrs->f[0];
    g.causal = n->attrs->i[0] != 0;
    if (mask && mask->dtype == NB_F32) g.mask_add = mask->data;
    if (mask && mask->dtype == NB_I32) g.mask_ignore = mask->data;
    g.p_drop = n->attrs->f[1];
    memcpy(&g.seed, &n->attrs->i[1], sizeof g.seed);
    g.q = rows_of(q); /* the gradients, and o, are contiguous: left zero */
    g.k = rows_of(k);
    g.v = rows_of(v);
    return g;
}

static nb_status attn_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    nb_tensor *q = rows_view(ctx, n->in[0]), *k = rows_view(ctx, n->in[1]);
    nb_tensor *v = rows_view(ctx, n->in[2]);
    nb_tensor *mask = n->n_in > 3 ? nbi_contig(ctx, n->in[3]) : NULL;
    if (!q || !k || !v || (n->n_in > 3 && !mask)) return ctx->status;
    const int64_t rows = q->shape[0] * q->shape[1] * q->shape[2];
    attn_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, "attention");
    float *lse = nbi_ctx_alloc(ctx, (size_t)(rows ? rows : 1) * sizeof *lse, "attention");
    if (!sv || !lse) return ctx->status;
    nbi_attn_geom g = geom_of(n, q, k, v, mask);
    ctx->be->attention(ctx->be, &g, q->data, k->data, v->data, n->out->data, lse);
    if (n->recording) {
        *sv = (attn_saved){q, k, v, mask, lse};
        n->saved = sv;
    } else {
        nbi_arena_release(&ctx->arena, m);
    }
    return NB_OK;
}

static nb_status attn_backward(nb_ctx *ctx, nbi_node *n) {
    float *gp[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        if (!nbi_needs_grad(n, i)) continue;
        nb_tensor *g = nbi_grad(ctx, n->in[i]);
        if (!g) return ctx->status;
        gp[i] = g->data;
    }
    if (!gp[0] && !gp[1] && !gp[2]) return NB_OK;
    const attn_saved *sv = n->saved;
    nbi_attn_geom g = geom_of(n, sv->q, sv->k, sv->v, sv->mask);
    ctx->be->attention_bwd(ctx->be, &g, sv->q->data, sv->k->data, sv->v->data, n->out->data,
                           sv->lse, n->out->grad->data, gp[0], gp[1], gp[2]);
    return NB_OK;
}

/* Check cases: plain; causal; causal with fewer queries than keys (a KV cache) and an i32
 * mask; an additive mask with −inf entries and dv != d; dropout with a fixed seed, causal;
 * dropout with an i32 mask, Tq < Tk and a custom scale. Every query keeps a visible key. */
static nb_status attn_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    (void)def;
    const int64_t B = 1 + (int64_t)nb_rng_below(rng, 2), H = 1 + (int64_t)nb_rng_below(rng, 2);
    const int64_t Tq = 1 + (int64_t)nb_rng_below(rng, 4);
    const int64_t Tk = Tq + (k == 2 || k == 5 ? 1 + (int64_t)nb_rng_below(rng, 3) : 0);
    const int64_t d = 1 + (int64_t)nb_rng_below(rng, 5);
    const int64_t dv = k == 3 ? 1 + (int64_t)nb_rng_below(rng, 4) : d;
    c->n_in = 3;
    c->in[0] = nbi_gen_input(ctx, rng, 4, (int64_t[]){B, H, Tq, d}, -1.5f, 1.5f, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, 4, (int64_t[]){B, H, Tk, d}, -1.5f, 1.5f, NULL, 0, 0.0f);
    c->in[2] = nbi_gen_input(ctx, rng, 4, (int64_t[]){B, H, Tk, dv}, -1.0f, 1.0f, NULL, 0, 0.0f);
    if (!c->in[0] || !c->in[1] || !c->in[2]) return ctx->status;
    if (k == 2 || k == 3 || k == 5) { /* the mask: never the first key (every query sees it) */
        c->in[3] = nb_tensor_new(ctx, k == 3 ? NB_F32 : NB_I32, 2, (int64_t[]){B, Tk});
        if (!c->in[3]) return ctx->status;
        for (int64_t i = 0; i < B * Tk; i++) {
            int off = i % Tk != 0 && nb_rng_below(rng, 3) == 0;
            if (k == 3)
                nb_f32(c->in[3])[i] = off ? -INFINITY : (float)nb_rng_below(rng, 8) * 0.125f - 0.5f;
            else
                nb_i32(c->in[3])[i] = off;
        }
        c->n_in = 4;
    }
    c->attrs.i[0] = k == 1 || k == 2 || k == 4;
    c->attrs.i[1] = (int64_t)(nb_rng_u64(rng) >> 1);
    c->attrs.f[0] = k == 5 ? 0.75f : 1.0f / sqrtf((float)d);
    c->attrs.f[1] = k >= 4 ? 0.3f : 0.0f;
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_attention = {
    .name = "attention",
    .infer = attn_infer,
    .forward = attn_forward,
    .backward = attn_backward,
    .check = {.gen = attn_gen, .cases = 6, .atol = 2e-4f, .rtol = 2e-4f},
};

/* ---- attention_qkv: self-attention on a packed projection ---------------------------------- */

static nb_status qkv_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0], *mask = n->n_in > 1 ? n->in[1] : NULL;
    const int64_t H = n->attrs->i[2];
    if (x->dtype != NB_F32 || x->rank != 3)
        return nbi_shape_error(n, "qkv must be f32 [B, T, 3E] (a QKV projection's output)");
    const int64_t B = x->shape[0], T = x->shape[1], E3 = x->shape[2];
    if (H < 1 || E3 % 3 != 0 || (E3 / 3) % H != 0 || E3 == 0)
        return nbi_shape_error(n, "qkv's last axis must be 3·E with E a positive multiple of "
                                  "the number of heads");
    if (T > INT32_MAX) return nbi_shape_error(n, "sequences longer than 2^31 are not supported");
    if (mask && (mask->rank != 2 || mask->shape[0] != B || mask->shape[1] != T ||
                 (mask->flags & NB_TF_REQUIRES_GRAD)))
        return nbi_shape_error(n, "the mask must be [B, T], one entry per sample and key, "
                                  "without a gradient");
    const float scale = n->attrs->f[0], p = n->attrs->f[1];
    if (!isfinite(scale)) return nbi_shape_error(n, "scale must be finite");
    if (!(p >= 0.0f && p < 1.0f)) return nbi_shape_error(n, "dropout p must be in [0, 1)");
    out->dtype = NB_F32;
    out->rank = 3;
    out->shape[0] = B;
    out->shape[1] = T;
    out->shape[2] = E3 / 3;
    return NB_OK;
}

/* The geometry of H heads over packed [B, T, 3E] (q at +0, k at +E, v at +2E) and o [B, T, E]. */
static nbi_attn_geom qkv_geom(const nbi_node *n, const nb_tensor *x, const nb_tensor *mask) {
    nbi_attn_geom g;
    memset(&g, 0, sizeof g);
    const int64_t T = x->shape[1], E = x->shape[2] / 3, H = n->attrs->i[2];
    g.B = x->shape[0];
    g.H = H;
    g.Tq = g.Tk = T;
    g.d = g.dv = E / H;
    g.scale = n->attrs->f[0];
    g.causal = n->attrs->i[0] != 0;
    if (mask && mask->dtype == NB_F32) g.mask_add = mask->data;
    if (mask && mask->dtype == NB_I32) g.mask_ignore = mask->data;
    g.p_drop = n->attrs->f[1];
    memcpy(&g.seed, &n->attrs->i[1], sizeof g.seed);
    g.q = g.k = g.v = g.gq = g.gk = g.gv = (nbi_attn_rows){T * 3 * E, g.d, 3 * E};
    g.o = g.go = (nbi_attn_rows){T * E, g.d, E};
    return g;
}

static nb_status qkv_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    nb_tensor *mask = n->n_in > 1 ? nbi_contig(ctx, n->in[1]) : NULL;
    if (!x || (n->n_in > 1 && !mask)) return ctx->status;
    const int64_t rows = x->shape[0] * n->attrs->i[2] * x->shape[1];
    attn_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, "attention_qkv");
    float *lse = nbi_ctx_alloc(ctx, (size_t)(rows ? rows : 1) * sizeof *lse, "attention_qkv");
    if (!sv || !lse) return ctx->status;
    nbi_attn_geom g = qkv_geom(n, x, mask);
    const int64_t E = x->shape[2] / 3;
    const float *base = x->data;
    ctx->be->attention(ctx->be, &g, base, base + E, base + 2 * E, n->out->data, lse);
    if (n->recording) {
        *sv = (attn_saved){x, NULL, NULL, mask, lse};
        n->saved = sv;
    } else {
        nbi_arena_release(&ctx->arena, m);
    }
    return NB_OK;
}

static nb_status qkv_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    bool fresh; /* made here: the heads' rows cover it, written not accumulated */
    nb_tensor *gx = nbi_grad_write(ctx, n->in[0], &fresh); /* contiguous [B, T, 3E] */
    if (!gx) return ctx->status;
    const attn_saved *sv = n->saved;
    nbi_attn_geom g = qkv_geom(n, sv->q, sv->mask);
    g.write_grads = fresh;
    const int64_t E = sv->q->shape[2] / 3;
    const float *x = sv->q->data;
    float *gp = gx->data;
    ctx->be->attention_bwd(ctx->be, &g, x, x + E, x + 2 * E, n->out->data, sv->lse,
                           n->out->grad->data, gp, gp + E, gp + 2 * E);
    return NB_OK;
}

/* Check cases: plain; causal; causal with an i32 mask; an additive mask (−inf entries) with
 * two heads; dropout, causal. Every query keeps a visible key (the first). */
static nb_status qkv_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c) {
    (void)def;
    const int64_t B = 1 + (int64_t)nb_rng_below(rng, 2), T = 1 + (int64_t)nb_rng_below(rng, 4);
    const int64_t H = k == 3 ? 2 : 1 + (int64_t)nb_rng_below(rng, 2);
    const int64_t d = 1 + (int64_t)nb_rng_below(rng, 3);
    c->n_in = 1;
    c->in[0] = nbi_gen_input(ctx, rng, 3, (int64_t[]){B, T, 3 * H * d}, -1.5f, 1.5f, NULL, 0, 0.0f);
    if (!c->in[0]) return ctx->status;
    if (k == 2 || k == 3) {
        c->in[1] = nb_tensor_new(ctx, k == 3 ? NB_F32 : NB_I32, 2, (int64_t[]){B, T});
        if (!c->in[1]) return ctx->status;
        for (int64_t i = 0; i < B * T; i++) {
            int off = i % T != 0 && nb_rng_below(rng, 3) == 0;
            if (k == 3)
                nb_f32(c->in[1])[i] = off ? -INFINITY : (float)nb_rng_below(rng, 8) * 0.125f - 0.5f;
            else
                nb_i32(c->in[1])[i] = off;
        }
        c->n_in = 2;
    }
    c->attrs.i[0] = k == 1 || k == 2 || k == 4;
    c->attrs.i[1] = (int64_t)(nb_rng_u64(rng) >> 1);
    c->attrs.i[2] = H;
    c->attrs.f[0] = 1.0f / sqrtf((float)d);
    c->attrs.f[1] = k == 4 ? 0.3f : 0.0f;
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_attention_qkv = {
    .name = "attention_qkv",
    .infer = qkv_infer,
    .forward = qkv_forward,
    .backward = qkv_backward,
    .check = {.gen = qkv_gen, .cases = 5, .atol = 2e-4f, .rtol = 2e-4f},
};

/* dropout settings into attrs (the seed drawn here); NB_OK or the error, set */
static nb_status dropout_attrs(const nb_attention_opts *o, nbi_attrs *a) {
    if (o->training && o->dropout != 0.0f) {
        if (!(o->dropout > 0.0f && o->dropout < 1.0f))
            return nbi_error(NB_ERR_ARG, "attention: dropout must be in [0, 1), got %g",
                             (double)o->dropout);
        if (!o->rng)
            return nbi_error(NB_ERR_ARG,
                             "attention: dropout in training needs a random generator (opts.rng)");
        a->f[1] = o->dropout;
        uint64_t seed = nb_rng_u64(o->rng);
        memcpy(&a->i[1], &seed, sizeof seed);
    }
    return NB_OK;
}

nb_tensor *nb_attention_qkv(nb_ctx *ctx, nb_tensor *qkv, int64_t heads, nb_tensor *key_mask,
                            const nb_attention_opts *opts) {
    nb_attention_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = o.causal != 0;
    a.i[2] = heads;
    a.f[0] = o.scale;
    if (o.scale == 0.0f && qkv && qkv->rank == 3 && heads > 0 && qkv->shape[2] / 3 / heads > 0)
        a.f[0] = 1.0f / sqrtf((float)(qkv->shape[2] / 3 / heads)); /* the default, 1/sqrt(d) */
    nb_status s = dropout_attrs(&o, &a);
    if (s != NB_OK) return ctx ? nbi_fail(ctx, s) : NULL;
    nb_tensor *in[2] = {qkv, key_mask};
    return nbi_apply(ctx, NBI_OP_ATTENTION_QKV, in, key_mask ? 2 : 1, &a);
}

nb_tensor *nb_attention(nb_ctx *ctx, nb_tensor *q, nb_tensor *k, nb_tensor *v, nb_tensor *key_mask,
                        const nb_attention_opts *opts) {
    nb_attention_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = o.causal != 0;
    a.f[0] = o.scale;
    if (o.scale == 0.0f && q && q->rank == 4) /* the default, 1/sqrt(d) */
        a.f[0] = q->shape[3] > 0 ? 1.0f / sqrtf((float)q->shape[3]) : 1.0f;
    nb_status s = dropout_attrs(&o, &a);
    if (s != NB_OK) return ctx ? nbi_fail(ctx, s) : NULL;
    nb_tensor *in[4] = {q, k, v, key_mask};
    return nbi_apply(ctx, NBI_OP_ATTENTION, in, key_mask ? 4 : 3, &a);
}
