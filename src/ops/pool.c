/* ops/pool.c — max and average pooling over the last two axes of NCHW input, global average
 * pooling and flatten. The loops are in kernels/pooling.c, run by the back end's pool entry
 * (planes spread over the thread pool); global average pooling and flatten
 * are compositions (mean over axes 2 and 3; reshape).
 *
 *   max:  y = max over the window      dx[argmax] += dy   (argmax kept from forward)
 *   avg:  y = Σ window / D             dx[window] += dy / D
 *
 * attrs.i: 0 KH, 1 KW, 2 sh, 3 sw, 4 pt, 5 pb, 6 pl, 7 pr, 8 dh, 9 dw, 10 exclude_pad. */
#include "autograd/autograd.h"
#include "kernels/conv.h"
#include "kernels/backend.h"

#include <stdio.h>
#include <string.h>

enum { A_KH, A_KW, A_SH, A_SW, A_PT, A_PB, A_PL, A_PR, A_DH, A_DW, A_EXCL };

static void geom_of(const nbi_node *n, nbi_conv_geom *g) {
    const nb_tensor *x = n->in[0];
    const int64_t *a = n->attrs->i;
    memset(g, 0, sizeof *g);
    g->N = x->shape[0];
    g->C = g->O = x->shape[1];
    g->groups = g->C ? g->C : 1;
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->KH = a[A_KH];
    g->KW = a[A_KW];
    g->sh = a[A_SH];
    g->sw = a[A_SW];
    g->pt = a[A_PT];
    g->pb = a[A_PB];
    g->pl = a[A_PL];
    g->pr = a[A_PR];
    g->dh = a[A_DH];
    g->dw = a[A_DW];
    g->OH = (g->H + g->pt + g->pb - g->dh * (g->KH - 1) - 1) / g->sh + 1;
    g->OW = (g->W + g->pl + g->pr - g->dw * (g->KW - 1) - 1) / g->sw + 1;
}

static nb_status pool_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    const int64_t *a = n->attrs->i;
    char what[240];
    if (x->dtype != NB_F32 || x->rank != 4)
        return nbi_shape_error(n, "input must be f32 [N, C, H, W]");
    if (a[A_KH] < 1 || a[A_KW] < 1 || a[A_SH] < 1 || a[A_SW] < 1 || a[A_DH] < 1 || a[A_DW] < 1) {
        snprintf(what, sizeof what,
                 "kernel (%lld, %lld), stride (%lld, %lld) and dilation "
                 "(%lld, %lld) must be >= 1",
                 (long long)a[A_KH], (long long)a[A_KW], (long long)a[A_SH], (long long)a[A_SW],
                 (long long)a[A_DH], (long long)a[A_DW]);
        return nbi_shape_error(n, what);
    }
    for (int k = 0; k < 4; k++) {
        int64_t p = a[A_PT + k], kern = a[k < 2 ? A_KH : A_KW];
        if (p < 0 || 2 * p > kern) {
            snprintf(what, sizeof what,
                     "padding %lld must be between 0 and half the kernel "
                     "size %lld (so every window overlaps the image)",
                     (long long)p, (long long)kern);
            return nbi_shape_error(n, what);
        }
    }
    nbi_conv_geom g;
    geom_of(n, &g);
    int64_t eh = g.dh * (g.KH - 1) + 1, ew = g.dw * (g.KW - 1) + 1;
    if (eh > g.H + g.pt + g.pb || ew > g.W + g.pl + g.pr) {
        snprintf(what, sizeof what,
                 "the window (%lldx%lld) is larger than the padded input "
                 "(%lldx%lld)",
                 (long long)eh, (long long)ew, (long long)(g.H + g.pt + g.pb),
                 (long long)(g.W + g.pl + g.pr));
        return nbi_shape_error(n, what);
    }
    out->dtype = NB_F32;
    out->rank = 4;
    out->shape[0] = g.N;
    out->shape[1] = g.C;
    out->shape[2] = g.OH;
    out->shape[3] = g.OW;
    return NB_OK;
}

/* saved: the contiguous input (avg) or the argmax indices (max) */
static nb_status max_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_conv_geom g;
    geom_of(n, &g);
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    if (!x) return ctx->status;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    int32_t *arg =
        nbi_ctx_alloc(ctx, (size_t)(n->out->numel ? n->out->numel : 1) * 4, "max_pool2d");
    if (!arg) return ctx->status;
    ctx->be->pool(ctx->be, NBI_POOL_MAX, &g, 0, x->data, n->out->data, arg);
    if (n->recording)
        n->saved = arg;
    else
        nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

static nb_status max_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nbi_conv_geom g;
    geom_of(n, &g);
    nb_tensor *gx = nbi_grad(ctx, n->in[0]);
    if (!gx) return ctx->status;
    ctx->be->pool(ctx->be, NBI_POOL_MAX_BWD, &g, 0, n->out->grad->data, gx->data, n->saved);
    return NB_OK;
}

static nb_status avg_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_conv_geom g;
    geom_of(n, &g);
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    if (!x) return ctx->status;
    ctx->be->pool(ctx->be, NBI_POOL_AVG, &g, !n->attrs->i[A_EXCL], x->data, n->out->data, NULL);
    return NB_OK;
}

static nb_status avg_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nbi_conv_geom g;
    geom_of(n, &g);
    nb_tensor *gx = nbi_grad(ctx, n->in[0]);
    if (!gx) return ctx->status;
    ctx->be->pool(ctx->be, NBI_POOL_AVG_BWD, &g, !n->attrs->i[A_EXCL], n->out->grad->data,
                  gx->data, NULL);
    return NB_OK;
}

/* ---- check cases ---------------------------------------------------------------------------- */

static const struct {
    int64_t N, C, H, W;
    int64_t a[11];
} pool_cases[] = {
    {2, 3, 6, 6, {2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0}}, /* the CNN's 2x2 */
    {1, 2, 7, 5, {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0}}, /* overlapping, padded */
    {2, 2, 7, 6, {3, 2, 1, 2, 1, 0, 1, 1, 2, 1, 1}}, /* dilation (max), exclude_pad (avg) */
    {1, 3, 5, 7, {2, 3, 3, 1, 1, 1, 0, 1, 1, 1, 0}}, /* uneven stride and padding */
};
#define POOL_CASES ((int)(sizeof pool_cases / sizeof pool_cases[0]))

static nb_status pool_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    int64_t shape[4] = {pool_cases[k].N, pool_cases[k].C, pool_cases[k].H, pool_cases[k].W};
    memset(&c->attrs, 0, sizeof c->attrs);
    memcpy(c->attrs.i, pool_cases[k].a, sizeof pool_cases[k].a);
    if (def == &nbi_op_avg_pool2d) c->attrs.i[A_DH] = c->attrs.i[A_DW] = 1;
    c->has_attrs = 1;
    c->n_in = 1;
    nb_tensor *x = nbi_gen_input(ctx, rng, 4, shape, -1.0f, 1.0f, NULL, 0, 0.0f);
    c->in[0] = x;
    if (!x) return ctx->status;
    if (def == &nbi_op_max_pool2d) {
        /* Distinct values 1/8 apart, shuffled: no ±2h perturbation changes a window's max. */
        nbi_gen_ladder(x, -4.0f, 0.125f, rng);
    }
    return NB_OK;
}

const nbi_op_def nbi_op_max_pool2d = {
    .name = "max_pool2d",
    .infer = pool_infer,
    .forward = max_forward,
    .backward = max_backward,
    .check = {.gen = pool_gen, .cases = POOL_CASES, .atol = 1e-5f, .rtol = 1e-5f},
};

const nbi_op_def nbi_op_avg_pool2d = {
    .name = "avg_pool2d",
    .infer = pool_infer,
    .forward = avg_forward,
    .backward = avg_backward,
    .check = {.gen = pool_gen, .cases = POOL_CASES, .atol = 1e-4f, .rtol = 1e-4f},
};

/* ---- public functions ----------------------------------------------------------------------- */

static nb_tensor *pool_call(nb_ctx *ctx, int op, nb_tensor *x, const nb_pool_opts *o) {
    if (!ctx) return nbi_apply(ctx, op, &x, 1, NULL); /* reports it */
    if (!o) {
        nbi_error(NB_ERR_ARG, "%s: options are NULL (the kernel size is required)",
                  nbi_ops[op]->name);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (op == NBI_OP_AVG_POOL2D && ((o->dilation[0] > 1) || (o->dilation[1] > 1))) {
        nbi_error(NB_ERR_ARG, "avg_pool2d: dilation is for max pooling only");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    for (int d = 0; d < 2; d++) {
        a.i[A_KH + d] = o->kernel[d];
        a.i[A_SH + d] = o->stride[d] ? o->stride[d] : o->kernel[d];
        a.i[A_DH + d] = o->dilation[d] ? o->dilation[d] : 1;
    }
    for (int k = 0; k < 4; k++) a.i[A_PT + k] = o->pad[k];
    a.i[A_EXCL] = o->exclude_pad != 0;
    return nbi_apply(ctx, op, &x, 1, &a);
}

nb_tensor *nb_max_pool2d(nb_ctx *ctx, nb_tensor *x, const nb_pool_opts *opts) {
    return pool_call(ctx, NBI_OP_MAX_POOL2D, x, opts);
}

nb_tensor *nb_avg_pool2d(nb_ctx *ctx, nb_tensor *x, const nb_pool_opts *opts) {
    return pool_call(ctx, NBI_OP_AVG_POOL2D, x, opts);
}

nb_tensor *nb_global_avg_pool2d(nb_ctx *ctx, nb_tensor *x) {
    if (ctx && x && (x->rank != 4 || x->dtype != NB_F32)) {
        char b[96];
        nbi_error(NB_ERR_SHAPE, "global_avg_pool2d: input %s must be f32 [N, C, H, W]",
                  nb_shape_str(x, b, sizeof b));
        return nbi_fail(ctx, NB_ERR_SHAPE);
    }
    return nb_mean(ctx, x, NB_AXIS(2) | NB_AXIS(3), 0);
}

nb_tensor *nb_flatten(nb_ctx *ctx, nb_tensor *x) {
    if (ctx && x && x->rank < 1) {
        nbi_error(NB_ERR_SHAPE, "flatten: input is a scalar; it needs a batch dimension");
        return nbi_fail(ctx, NB_ERR_SHAPE);
    }
    if (!x) return nb_reshape(ctx, x, 0, NULL);
    int64_t shape[2] = {x->shape[0], 1};
    for (int d = 1; d < x->rank; d++) shape[1] *= x->shape[d];
    return nb_reshape(ctx, x, 2, shape);
}
