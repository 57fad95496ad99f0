/* ops/conv.c — conv2d, conv1d and conv_transpose2d: shape rules, forward, backward and
 * gradient-check specs. The arithmetic is the back end's (kernels/conv_lower.c: im2col +
 * GEMM); this file maps each op onto its three products (see ops/conv.h):
 *
 *   conv (1-D and 2-D)    y  = conv(x, w) + b          dx += convᵀ(dy, w)   dw += Σ dy ⊗ x
 *   conv_transpose2d      y  = convᵀ(x, w) + b         dx += conv(dy, w)    dw += Σ x ⊗ dy
 *
 * where the transposed convolution is the adjoint of the convolution that maps its output
 * back to its input (PyTorch's ConvTranspose2d), so it runs the same products with the roles
 * of input and output exchanged. db = Σ_{n,positions} dy in both.
 *
 * With attrs.i[11] set the op is fused with a ReLU, y = max(conv + b, 0), in the same pass
 * over the output (and the mask y > 0 applied in the same pass over the gradient); the tests
 * compare it with the composition conv then relu.
 *
 * With attrs.i[12..13] = (kh, kw) a max pooling (window = stride = kh x kw, no padding)
 * follows inside the op (conv2d only): the conv output is never written, only the pooled
 * output and the window maxima's positions (see nbi_conv_pool); the tests compare it with
 * conv (relu) then max_pool2d.
 *
 * attrs.i: 0 sh, 1 sw, 2 pt, 3 pb, 4 pl, 5 pr, 6 dh, 7 dw, 8 groups, 9 output_padding h,
 * 10 output_padding w, 11 relu, 12 pool h, 13 pool w. conv1d stores its settings in the w entries
 * (h ones are trivial) and runs as a 2-D convolution of height 1. A bias is the optional third
 * input. */
#include "ops/conv.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
    A_SH,
    A_SW,
    A_PT,
    A_PB,
    A_PL,
    A_PR,
    A_DH,
    A_DW,
    A_GROUPS,
    A_OPH,
    A_OPW,
    A_RELU,
    A_POOLH,
    A_POOLW
};

static bool is_transposed(const nbi_node *n) {
    return n->op == NBI_OP_CONV_TRANSPOSE2D;
}

/* The geometry of node n (inputs already validated by infer, except where noted). For a
 * transposed convolution it is the geometry of the convolution it is the adjoint of. */
static void geom_of(const nbi_node *n, nbi_conv_geom *g) {
    const nb_tensor *x = n->in[0], *w = n->in[1];
    const int64_t *a = n->attrs->i;
    int one_d = x->rank == 3;
    g->sh = a[A_SH];
    g->sw = a[A_SW];
    g->pt = a[A_PT];
    g->pb = a[A_PB];
    g->pl = a[A_PL];
    g->pr = a[A_PR];
    g->dh = a[A_DH];
    g->dw = a[A_DW];
    g->groups = a[A_GROUPS];
    g->N = x->shape[0];
    int64_t h = one_d ? 1 : x->shape[2], wd = x->shape[x->rank - 1];
    g->KH = one_d ? 1 : w->shape[2];
    g->KW = w->shape[w->rank - 1];
    if (!is_transposed(n)) {
        g->C = x->shape[1];
        g->H = h;
        g->W = wd;
        g->O = w->shape[0];
        g->OH = (g->H + g->pt + g->pb - g->dh * (g->KH - 1) - 1) / g->sh + 1;
        g->OW = (g->W + g->pl + g->pr - g->dw * (g->KW - 1) - 1) / g->sw + 1;
    } else {
        g->O = x->shape[1]; /* the adjoint conv's output: x */
        g->OH = h;
        g->OW = wd;
        g->C = w->shape[1] * g->groups; /* its input: y */
        g->H = (h - 1) * g->sh - g->pt - g->pb + g->dh * (g->KH - 1) + a[A_OPH] + 1;
        g->W = (wd - 1) * g->sw - g->pl - g->pr + g->dw * (g->KW - 1) + a[A_OPW] + 1;
    }
}

static nb_status attr_error(const nbi_node *n, const char *fmt, long long v0, long long v1) {
    char what[200];
    snprintf(what, sizeof what, fmt, v0, v1);
    return nbi_shape_error(n, what);
}

static nb_status conv_infer(const nbi_node *n, nb_tensor *out) {
    NBI_ASSERT(n->attrs && (n->n_in == 2 || n->n_in == 3));
    const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    const int64_t *a = n->attrs->i;
    const int rank = n->op == NBI_OP_CONV1D ? 3 : 4;
    const char *layout = rank == 3 ? "[N, C, L]" : "[N, C, H, W]";
    char what[240];
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (x->rank != rank || w->rank != rank) {
        snprintf(what, sizeof what, "input must be %s and weight rank %d (%s)", layout, rank,
                 is_transposed(n) ? "[Cin, Cout/groups, KH, KW]"
                 : rank == 3      ? "[O, C/groups, K]"
                                  : "[O, C/groups, KH, KW]");
        return nbi_shape_error(n, what);
    }
    if (a[A_SH] < 1 || a[A_SW] < 1)
        return attr_error(n, "stride (%lld, %lld) must be >= 1", a[A_SH], a[A_SW]);
    if (a[A_DH] < 1 || a[A_DW] < 1)
        return attr_error(n, "dilation (%lld, %lld) must be >= 1", a[A_DH], a[A_DW]);
    if (a[A_PT] < 0 || a[A_PB] < 0 || a[A_PL] < 0 || a[A_PR] < 0)
        return nbi_shape_error(n, "padding must be >= 0");
    int64_t groups = a[A_GROUPS];
    if (groups < 1)
        return attr_error(n, "groups must be >= 1, got %lld (of %lld channels)", groups,
                          x->shape[1]);
    for (int d = 2; d < rank; d++)
        if (w->shape[d] < 1) return nbi_shape_error(n, "the kernel has an empty dimension");
    if (!is_transposed(n)) {
        int64_t C = x->shape[1], O = w->shape[0];
        if (C % groups != 0 || w->shape[1] * groups != C) {
            snprintf(what, sizeof what,
                     "the input has %lld channels, but the weight expects "
                     "%lld per group x %lld groups = %lld (input channels must divide by "
                     "groups, and weight dim 1 = channels/groups)",
                     (long long)C, (long long)w->shape[1], (long long)groups,
                     (long long)(w->shape[1] * groups));
            return nbi_shape_error(n, what);
        }
        if (O % groups != 0)
            return attr_error(n, "%lld output channels do not divide by groups = %lld", O, groups);
        if (b && (b->rank != 1 || b->shape[0] != O))
            return attr_error(n, "bias must be [%lld], one per output channel (got rank %lld)", O,
                              b->rank);
    } else {
        int64_t Cin = x->shape[1];
        if (w->shape[0] != Cin || Cin % groups != 0) {
            snprintf(what, sizeof what,
                     "the input has %lld channels; the weight's first "
                     "dimension (%lld) must equal it and divide by groups = %lld",
                     (long long)Cin, (long long)w->shape[0], (long long)groups);
            return nbi_shape_error(n, what);
        }
        int64_t Cout = w->shape[1] * groups;
        if (b && (b->rank != 1 || b->shape[0] != Cout))
            return attr_error(n, "bias must be [%lld], one per output channel (got rank %lld)",
                              Cout, b->rank);
        for (int d = 0; d < 2; d++) {
            int64_t op = a[A_OPH + d], s = a[A_SH + d], dl = a[A_DH + d];
            if (op < 0 || (op >= s && op >= dl)) {
                snprintf(what, sizeof what,
                         "output_padding %lld must be >= 0 and smaller "
                         "than the stride (%lld) or the dilation (%lld)",
                         (long long)op, (long long)s, (long long)dl);
                return nbi_shape_error(n, what);
            }
        }
    }
    nbi_conv_geom g;
    geom_of(n, &g);
    if (!is_transposed(n)) {
        int64_t eh = g.dh * (g.KH - 1) + 1, ew = g.dw * (g.KW - 1) + 1;
        if (eh > g.H + g.pt + g.pb || ew > g.W + g.pl + g.pr) {
            snprintf(what, sizeof what,
                     "the kernel (%lldx%lld, %lldx%lld with dilation) is "
                     "larger than the padded input (%lldx%lld)",
                     (long long)g.KH, (long long)g.KW, (long long)eh, (long long)ew,
                     (long long)(g.H + g.pt + g.pb), (long long)(g.W + g.pl + g.pr));
            return nbi_shape_error(n, what);
        }
    } else if (g.H < 1 || g.W < 1) {
        snprintf(what, sizeof what,
                 "the output would be %lldx%lld: the padding is too large "
                 "for this input, stride and kernel",
                 (long long)g.H, (long long)g.W);
        return nbi_shape_error(n, what);
    }
    int64_t ph = a[A_POOLH], pw = a[A_POOLW];
    if (ph || pw) {
        if (n->op != NBI_OP_CONV2D || ph < 1 || pw < 1 || ph > g.OH || pw > g.OW) {
            snprintf(what, sizeof what,
                     "a fused max pooling %lldx%lld needs conv2d and a window within the "
                     "%lldx%lld output",
                     (long long)ph, (long long)pw, (long long)g.OH, (long long)g.OW);
            return nbi_shape_error(n, what);
        }
        g.OH /= ph;
        g.OW /= pw;
    }
    out->dtype = NB_F32;
    out->rank = rank;
    out->shape[0] = g.N;
    if (!is_transposed(n)) {
        out->shape[1] = g.O;
        if (rank == 4) out->shape[2] = g.OH;
        out->shape[rank - 1] = g.OW;
    } else {
        out->shape[1] = g.C;
        out->shape[2] = g.H;
        out->shape[3] = g.W;
    }
    return NB_OK;
}

/* What backward needs beyond the node: contiguous copies of strided inputs, and the
 * positions of the window maxima of a fused pooling. */
typedef struct conv_saved {
    nb_tensor *t[3];
    int32_t *arg;
} conv_saved;

/* Contiguous inputs (copies for strided ones) in t; sv, when recording, keeps them. */
static nb_status contig_inputs(nb_ctx *ctx, nbi_node *n, nb_tensor **t, conv_saved **sv) {
    *sv = NULL;
    for (int i = 0; i < n->n_in; i++) {
        t[i] = nbi_contig(ctx, n->in[i]);
        if (!t[i]) return ctx->status;
    }
    if (n->recording) {
        *sv = nbi_ctx_zalloc(ctx, sizeof **sv, nbi_ops[n->op]->name);
        if (!*sv) return ctx->status;
        for (int i = 0; i < n->n_in; i++) (*sv)->t[i] = t[i];
        n->saved = *sv;
    }
    return NB_OK;
}

static void saved_inputs(const nbi_node *n, nb_tensor **t) {
    const conv_saved *sv = n->saved;
    for (int i = 0; i < n->n_in; i++) t[i] = sv ? sv->t[i] : n->in[i];
}

/* ---- the passes, in scratch from the arena ---------------------------------------------- */

nb_status nbi_conv_forward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in, const float *w,
                           const float *bias, int flags, float *out, const nbi_conv_pool *pool,
                           int64_t chunk) {
    const nbi_backend *be = ctx->be;
    int64_t room = be->conv_scratch(be, g, 1, 0, 0, pool, chunk);
    if (room == 0) return NB_OK;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    float *scratch = nbi_ctx_alloc(ctx, sizeof(float) * (size_t)room, "conv scratch");
    if (!scratch) return ctx->status;
    nb_status s = be->conv_forward(be, g, in, w, bias, flags, out, pool, chunk, scratch, room);
    nbi_arena_release(&ctx->arena, m);
    return s;
}

nb_status nbi_conv_backward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in, const float *dout,
                            const float *y, int flags, const float *w, float *din, float *dw,
                            float *dbias, const nbi_conv_pool *pool, int64_t chunk) {
    if (!din && !dw && !dbias) return NB_OK;
    const nbi_backend *be = ctx->be;
    int64_t room = be->conv_scratch(be, g, 0, dw != NULL, dbias != NULL, pool, chunk);
    if (room == 0) return NB_OK;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    float *scratch = nbi_ctx_alloc(ctx, sizeof(float) * (size_t)room, "conv scratch");
    if (!scratch) return ctx->status;
    nb_status s = be->conv_backward(be, g, in, dout, y, flags, w, din, dw, dbias, pool, chunk,
                                    scratch, room);
    nbi_arena_release(&ctx->arena, m);
    return s;
}

static nb_status conv_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *t[3];
    conv_saved *sv;
    nb_status s = contig_inputs(ctx, n, t, &sv);
    if (s != NB_OK) return s;
    nbi_conv_geom g;
    geom_of(n, &g);
    const float *bias = n->n_in == 3 ? t[2]->data : NULL;
    const int relu = n->attrs->i[A_RELU] != 0;
    float *y = n->out->data;
    if (n->attrs->i[A_POOLH]) {
        /* the window maxima's positions: kept for backward, or scratch */
        nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
        int32_t *arg = nbi_ctx_alloc(
            ctx, sizeof(int32_t) * (size_t)(n->out->numel ? n->out->numel : 1), "conv2d");
        if (!arg) return ctx->status;
        nbi_conv_pool pool = {n->attrs->i[A_POOLH], n->attrs->i[A_POOLW], arg};
        s = nbi_conv_forward(ctx, &g, t[0]->data, t[1]->data, bias, relu ? NBI_CONV_RELU : 0, y,
                             &pool, 0);
        if (sv)
            sv->arg = arg;
        else
            nbi_arena_release(&ctx->arena, m);
        return s;
    }
    if (!is_transposed(n))
        return nbi_conv_forward(ctx, &g, t[0]->data, t[1]->data, bias, relu ? NBI_CONV_RELU : 0, y,
                                NULL, 0);
    /* y = convᵀ(x, w) + b: the adjoint accumulates, so start from the bias (read with stride
     * 0 over the samples and positions of y [N, C, H·W]) or zero */
    const nbi_backend *be = ctx->be;
    if (bias) {
        const int64_t shape[3] = {g.N, g.C, g.H * g.W}, sy[3] = {g.C * g.H * g.W, g.H * g.W, 1};
        const int64_t sb[3] = {0, 1, 0}, *st[2] = {sy, sb};
        nbi_iter it;
        nbi_iter_init(&it, 3, shape, 2, st);
        be->copy_strided(be, &it, y, bias);
    } else {
        be->fill(be, n->out->numel, y, 0.0f);
    }
    s = nbi_conv_backward(ctx, &g, NULL, t[0]->data, NULL, 0, t[1]->data, y, NULL, NULL, NULL, 0);
    if (s == NB_OK && relu) be->unary(be, NBI_U_RELU, n->out->numel, y, y, NULL);
    return s;
}

static float *grad_of(nb_ctx *ctx, nbi_node *n, int i) {
    if (i >= n->n_in || !nbi_needs_grad(n, i)) return NULL;
    nb_tensor *g = nbi_grad(ctx, n->in[i]);
    return g ? g->data : NULL;
}

static nb_status conv_backward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *t[3];
    saved_inputs(n, t);
    nbi_conv_geom g;
    geom_of(n, &g);
    const int relu = n->attrs->i[A_RELU] != 0;
    const float *gy = n->out->grad->data, *y = n->out->data;
    float *dx = grad_of(ctx, n, 0), *dw = grad_of(ctx, n, 1), *db = grad_of(ctx, n, 2);
    if (ctx->status != NB_OK) return ctx->status;
    if (!is_transposed(n)) {
        const conv_saved *sv = n->saved;
        nbi_conv_pool pool = {n->attrs->i[A_POOLH], n->attrs->i[A_POOLW], sv->arg};
        return nbi_conv_backward(ctx, &g, t[0]->data, gy, y, relu ? NBI_CONV_RELU : 0, t[1]->data,
                                 dx, dw, db, pool.kh ? &pool : NULL, 0);
    }
    /* the transposed convolution: δ = dy (⊙ [y > 0]) in its own layout [N, C, H, W] */
    const float *d = gy;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    if (relu) {
        float *mask = nbi_ctx_alloc(ctx, sizeof(float) * (size_t)n->out->numel, "conv_transpose2d");
        if (!mask) return ctx->status;
        ctx->be->relu_mask(ctx->be, n->out->numel, gy, y, mask);
        d = mask;
    }
    nb_status s = NB_OK;
    if (dx) s = nbi_conv_forward(ctx, &g, d, t[1]->data, NULL, NBI_CONV_ACCUMULATE, dx, NULL, 0);
    if (dw && s == NB_OK)
        s = nbi_conv_backward(ctx, &g, d, t[0]->data, NULL, 0, t[1]->data, NULL, dw, NULL, NULL, 0);
    if (db && s == NB_OK) /* db[c] += Σ_{n,p} δ[n,c,p] */
        ctx->be->plane_sums(ctx->be, g.N, g.C, g.H * g.W, d, db);
    nbi_arena_release(&ctx->arena, m);
    return s;
}

/* ---- check cases ---------------------------------------------------------------------------- */

typedef struct conv_case {
    int64_t N, C, H, W, O, KH, KW; /* transposed: C = Cin, O = Cout */
    int64_t s[2], pad[4], d[2], groups, op[2];
    int bias, relu;
    int64_t pool; /* fused max pooling, pool x pool */
} conv_case;

/* Odd sizes; each case exercises a different part of the geometry. */
static const conv_case conv2d_cases[] = {
    {2, 3, 5, 6, 4, 3, 3, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 0, 0}, /* plain */
    {1, 2, 7, 5, 3, 3, 2, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1, {0, 0}, 1, 0, 0}, /* stride 2, pad 1 */
    {2, 2, 7, 7, 3, 3, 3, {1, 2}, {1, 0, 2, 1}, {2, 2}, 1, {0, 0}, 0, 0, 0}, /* dilation, uneven pad
                                                                              */
    {1, 4, 6, 5, 6, 2, 3, {2, 1}, {0, 1, 1, 0}, {1, 1}, 2, {0, 0}, 1, 0, 0}, /* 2 groups */
    {2, 3, 5, 5, 6, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 3, {0, 0}, 1, 0, 0}, /* depthwise x2 */
    {2, 5, 3, 4, 3, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 0, 0}, /* 1x1 */
    {1, 2, 4, 6, 2, 3, 5, {1, 1}, {1, 1, 2, 2}, {1, 1}, 1, {0, 0}, 1, 0, 0}, /* "same" 3x5 */
    {1, 2, 5, 4, 3, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, {0, 0}, 1, 1, 0}, /* fused relu */
    {2, 2, 5, 5, 2, 3, 2, {2, 1}, {0, 1, 0, 0}, {1, 1}, 2, {0, 0}, 0, 1, 0}, /* relu, groups */
    {1, 1, 5, 5, 2, 2, 2, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 1, 2}, /* relu + pool */
    {1, 2, 5, 4, 2, 2, 2, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 0, 2}, /* pool, floor */
};
static const conv_case conv1d_cases[] = {
    {2, 3, 1, 9, 4, 1, 3, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 0, 0},
    {2, 4, 1, 11, 6, 1, 3, {1, 2}, {0, 0, 2, 1}, {1, 2}, 2, {0, 0}, 1, 0, 0},
    {1, 3, 1, 8, 3, 1, 4, {1, 3}, {0, 0, 1, 1}, {1, 1}, 3, {0, 0}, 0, 0, 0},
    {2, 2, 1, 7, 3, 1, 3, {1, 2}, {0, 0, 1, 1}, {1, 1}, 1, {0, 0}, 1, 1, 0}, /* fused relu */
};
static const conv_case convt_cases[] = {
    {2, 3, 4, 3, 2, 3, 3, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 0, 0}, /* plain */
    {1, 2, 3, 4, 3, 3, 2, {2, 2}, {1, 1, 0, 0}, {1, 1}, 1, {1, 1}, 1, 0, 0}, /* stride 2, out pad */
    {2, 4, 3, 3, 2, 2, 3, {2, 1}, {1, 1, 1, 1}, {1, 2}, 2, {1, 1}, 0, 0, 0}, /* groups, dilation */
    {1, 2, 3, 3, 2, 3, 3, {1, 1}, {1, 1, 1, 1}, {3, 2}, 1, {2, 0}, 1, 0, 0}, /* out pad < dilation
                                                                              */
    {1, 2, 2, 3, 2, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}, 1, 1, 0}, /* fused relu */
};

/* Are the conv outputs z [N, O, OH, OW] far enough from the kinks of a fused ReLU (|z| >=
 * 0.05) and pooling (each window's largest value, after the ReLU, leads the next by >= 0.07),
 * so that no ±2h step of an input (which moves z by at most 2h < 0.032) changes the branch? */
static bool clear_of_kinks(const nb_tensor *z, int relu, int64_t pool) {
    const float *v = z->data;
    for (int64_t i = 0; relu && i < z->numel; i++)
        if (fabsf(v[i]) < 0.05f) return false;
    if (!pool) return true;
    const int64_t OH = z->shape[2], OW = z->shape[3];
    for (int64_t pl = 0; pl < z->shape[0] * z->shape[1]; pl++)
        for (int64_t i = 0; i + pool <= OH; i += pool)
            for (int64_t j = 0; j + pool <= OW; j += pool) {
                float top = -INFINITY, next = -INFINITY;
                for (int64_t a = 0; a < pool; a++)
                    for (int64_t b = 0; b < pool; b++) {
                        float u = v[(pl * OH + i + a) * OW + j + b];
                        if (relu && u < 0.0f) u = 0.0f;
                        if (u > top) {
                            next = top;
                            top = u;
                        } else if (u > next) {
                            next = u;
                        }
                    }
                if (top > 0.0f || !relu)
                    if (top - next < 0.07f) return false;
            }
    return true;
}

static nb_status conv_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    const conv_case *cc = def == &nbi_op_conv2d   ? &conv2d_cases[k]
                          : def == &nbi_op_conv1d ? &conv1d_cases[k]
                                                  : &convt_cases[k];
    int one_d = def == &nbi_op_conv1d, tr = def == &nbi_op_conv_transpose2d;
    int64_t xs[4] = {cc->N, cc->C, cc->H, cc->W}, ws[4];
    if (one_d) xs[2] = cc->W;
    if (!tr) {
        ws[0] = cc->O;
        ws[1] = cc->C / cc->groups;
    } else {
        ws[0] = cc->C;
        ws[1] = cc->O / cc->groups;
    }
    ws[2] = one_d ? cc->KW : cc->KH;
    ws[3] = cc->KW;
    int rank = one_d ? 3 : 4;
    memset(&c->attrs, 0, sizeof c->attrs);
    int64_t *a = c->attrs.i;
    a[A_SH] = cc->s[0];
    a[A_SW] = cc->s[1];
    a[A_PT] = cc->pad[0];
    a[A_PB] = cc->pad[1];
    a[A_PL] = cc->pad[2];
    a[A_PR] = cc->pad[3];
    a[A_DH] = cc->d[0];
    a[A_DW] = cc->d[1];
    a[A_GROUPS] = cc->groups;
    a[A_OPH] = cc->op[0];
    a[A_OPW] = cc->op[1];
    c->has_attrs = 1;
    c->n_in = cc->bias ? 3 : 2;
    /* With a fused ReLU, draw until every pre-activation is at least 0.05 from the kink: a
     * ±2h step of one input (values and weights in [-1, 1]) moves it by at most 2h < 0.05. */
    for (int tries = 0; tries < 1000; tries++) {
        c->in[0] = nbi_gen_input(ctx, rng, rank, xs, -1.0f, 1.0f, NULL, 0, 0.0f);
        c->in[1] = nbi_gen_input(ctx, rng, rank, ws, -1.0f, 1.0f, NULL, 0, 0.0f);
        if (cc->bias) c->in[2] = nbi_gen_input(ctx, rng, 1, &cc->O, -1.0f, 1.0f, NULL, 0, 0.0f);
        for (int i = 0; i < c->n_in; i++)
            if (!c->in[i]) return ctx->status;
        if (!cc->relu && !cc->pool) return NB_OK;
        int was = nb_ctx_set_grad(ctx, 0);
        int op = one_d ? NBI_OP_CONV1D : tr ? NBI_OP_CONV_TRANSPOSE2D : NBI_OP_CONV2D;
        nb_tensor *z = nbi_apply(ctx, op, c->in, c->n_in, &c->attrs); /* no relu, no pool yet */
        nb_ctx_set_grad(ctx, was);
        if (!z) return ctx->status;
        if (clear_of_kinks(z, cc->relu, cc->pool)) {
            a[A_RELU] = cc->relu;
            a[A_POOLH] = a[A_POOLW] = cc->pool;
            return NB_OK;
        }
    }
    return nbi_error(NB_ERR_STATE, "%s check case %d: no inputs clear of the kinks", def->name, k);
}

#define NCASES(a) ((int)(sizeof a / sizeof a[0]))

const nbi_op_def nbi_op_conv2d = {
    .name = "conv2d",
    .infer = conv_infer,
    .forward = conv_forward,
    .backward = conv_backward,
    .check = {.gen = conv_gen, .cases = NCASES(conv2d_cases), .atol = 2e-4f, .rtol = 2e-4f},
};

const nbi_op_def nbi_op_conv1d = {
    .name = "conv1d",
    .infer = conv_infer,
    .forward = conv_forward,
    .backward = conv_backward,
    .check = {.gen = conv_gen, .cases = NCASES(conv1d_cases), .atol = 2e-4f, .rtol = 2e-4f},
};

const nbi_op_def nbi_op_conv_transpose2d = {
    .name = "conv_transpose2d",
    .infer = conv_infer,
    .forward = conv_forward,
    .backward = conv_backward,
    .check = {.gen = conv_gen, .cases = NCASES(convt_cases), .atol = 2e-4f, .rtol = 2e-4f},
};

/* ---- public functions ----------------------------------------------------------------------- */

static int64_t or1(int64_t v) {
    return v ? v : 1;
}

/* Fills attrs from opts for `dims` spatial dimensions (1 or 2); kernel extents for "same". */
static nb_status attrs_of(const char *op, const nb_conv_opts *o, int dims, const nb_tensor *w,
                          nbi_attrs *at) {
    nb_conv_opts z;
    memset(&z, 0, sizeof z);
    if (!o) o = &z;
    memset(at, 0, sizeof *at);
    int64_t *a = at->i;
    a[A_GROUPS] = or1(o->groups);
    a[A_RELU] = o->relu != 0;
    a[A_POOLH] = o->max_pool[0];
    a[A_POOLW] = o->max_pool[1] ? o->max_pool[1] : o->max_pool[0];
    /* spatial dimension d of the op goes to slot h (d = 0 of 2) or w */
    for (int d = 0; d < dims; d++) {
        int slot = dims == 1 ? 1 : d;
        a[A_SH + slot] = or1(o->stride[d]);
        a[A_DH + slot] = or1(o->dilation[d]);
        a[A_PT + 2 * slot] = o->pad[2 * d];
        a[A_PT + 2 * slot + 1] = o->pad[2 * d + 1];
        a[A_OPH + slot] = o->output_padding[d];
        if (o->same) {
            if (a[A_SH + slot] != 1)
                return nbi_error(NB_ERR_ARG,
                                 "%s: padding \"same\" needs stride 1, got stride "
                                 "%lld (PyTorch has the same rule)",
                                 op, (long long)a[A_SH + slot]);
            if (!w || w->rank != dims + 2) return NB_OK; /* infer reports the weight */
            int64_t total = a[A_DH + slot] * (w->shape[2 + d] - 1);
            a[A_PT + 2 * slot] = total / 2;
            a[A_PT + 2 * slot + 1] = total - total / 2;
        }
    }
    if (dims == 1) {
        a[A_SH] = a[A_DH] = 1;
        a[A_PT] = a[A_PB] = a[A_OPH] = 0;
    }
    return NB_OK;
}

static nb_tensor *conv_call(nb_ctx *ctx, int op, int dims, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                            const nb_conv_opts *o) {
    nb_tensor *in[3] = {x, w, b};
    nbi_attrs a;
    if (!ctx) return nbi_apply(ctx, op, in, b ? 3 : 2, NULL); /* reports it */
    {
        nb_status s = attrs_of(nbi_ops[op]->name, o, dims, w, &a);
        if (s != NB_OK) return nbi_fail(ctx, s);
        if (o && o->same && op == NBI_OP_CONV_TRANSPOSE2D) {
            nbi_error(NB_ERR_ARG, "conv_transpose2d: padding \"same\" is not defined for a "
                                  "transposed convolution (give pad explicitly)");
            return nbi_fail(ctx, NB_ERR_ARG);
        }
        if (op != NBI_OP_CONV_TRANSPOSE2D && o && (o->output_padding[0] || o->output_padding[1])) {
            nbi_error(NB_ERR_ARG, "%s: output_padding belongs to conv_transpose2d only",
                      nbi_ops[op]->name);
            return nbi_fail(ctx, NB_ERR_ARG);
        }
    }
    return nbi_apply(ctx, op, in, b ? 3 : 2, &a);
}

nb_tensor *nb_conv2d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                     const nb_conv_opts *opts) {
    return conv_call(ctx, NBI_OP_CONV2D, 2, x, w, b, opts);
}

nb_tensor *nb_conv1d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                     const nb_conv_opts *opts) {
    return conv_call(ctx, NBI_OP_CONV1D, 1, x, w, b, opts);
}

nb_tensor *nb_conv_transpose2d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                               const nb_conv_opts *opts) {
    return conv_call(ctx, NBI_OP_CONV_TRANSPOSE2D, 2, x, w, b, opts);
}
