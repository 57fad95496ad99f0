/* ops/loss.c — loss functions: pointwise losses of a prediction and a target of the same
 * shape (mse, l1, bce, bce_logits), and the class losses of a [N, C] score matrix and i32
 * labels [N] (cross_entropy, nll). Each reduces with nb_reduction as PyTorch does:
 *
 *   NONE  ℓ_i                 one loss per element (pointwise) or per sample (class losses)
 *   SUM   L = Σ_i ℓ_i
 *   MEAN  L = (1/n) Σ_i ℓ_i   n = elements (pointwise) or samples N (class losses)
 *
 * and backward scales dℓ_i by s_i = gy_i (NONE), gy (SUM) or gy / n (MEAN). Sums are
 * accumulated in double, so the result does not depend on the summation order's rounding.
 * Pointwise losses never broadcast: pred and target shapes must be equal (PyTorch only
 * warns; a silent broadcast of [N] against [N, 1] is a classic bug). */
#include "autograd/autograd.h"
#include "kernels/kernels.h"

#include <math.h>

/* The reduction travels in attrs.i[0]. */
static nb_status check_reduction(const char *op, nb_reduction r) {
    if (r == NB_REDUCE_MEAN || r == NB_REDUCE_SUM || r == NB_REDUCE_NONE) return NB_OK;
    return nbi_error(NB_ERR_ARG,
                     "%s: unknown reduction %d (use NB_REDUCE_MEAN, NB_REDUCE_SUM or "
                     "NB_REDUCE_NONE)",
                     op, (int)r);
}

static nb_tensor *apply_loss(nb_ctx *ctx, int op, nb_tensor *a, nb_tensor *b, nb_reduction r) {
    nb_status s = check_reduction(nbi_ops[op]->name, r);
    if (s != NB_OK) return ctx ? nbi_fail(ctx, s) : NULL;
    nbi_attrs at = {.i = {(int64_t)r}};
    nb_tensor *in[2] = {a, b};
    return nbi_apply(ctx, op, in, 2, &at);
}

/* Per-element scale of dℓ_i for the reduction: s_i = gy[i] (NONE), else gy[0] · (1 or 1/n). */
static float reduce_scale(int r, const float *gy, int64_t n) {
    if (r == NB_REDUCE_MEAN) return gy[0] / (float)n;
    return gy[0];
}

/* ---- pointwise losses --------------------------------------------------------------------- */

/* ℓ(p, t) for one element. */
static float pair_loss(int op, float p, float t) {
    switch (op) {
    case NBI_OP_MSE_LOSS: { /* (p - t)² */
        float d = p - t;
        return d * d;
    }
    default:
        NBI_ASSERT(0);
        return 0.0f;
    }
}

/* dℓ/dp and dℓ/dt for one element. */
static void pair_deriv(int op, float p, float t, float *dp, float *dt) {
    switch (op) {
    case NBI_OP_MSE_LOSS: /* ∂/∂p = 2 (p - t), ∂/∂t = -2 (p - t) */
        *dp = 2.0f * (p - t);
        *dt = -*dp;
        break;
    default:
        NBI_ASSERT(0);
    }
}

static nb_status pair_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *p = n->in[0], *t = n->in[1];
    if (p->dtype != NB_F32 || t->dtype != NB_F32)
        return nbi_shape_error(n, "prediction and target must both be f32");
    if (!nb_tensor_same_shape(p, t))
        return nbi_shape_error(n, "prediction and target shapes differ; losses do not broadcast "
                                  "(reshape the target to the prediction's shape)");
    out->dtype = NB_F32;
    out->rank = 0;
    if (n->attrs->i[0] == NB_REDUCE_NONE) {
        out->rank = p->rank;
        for (int i = 0; i < p->rank; i++) out->shape[i] = p->shape[i];
    }
    return NB_OK;
}

static nb_status pair_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *p = nbi_contig(ctx, n->in[0]), *t = nbi_contig(ctx, n->in[1]);
    if (!p || !t) return ctx->status;
    if (n->recording && (p != n->in[0] || t != n->in[1])) {
        nb_tensor **keep = nbi_ctx_alloc(ctx, 2 * sizeof *keep, nbi_ops[n->op]->name);
        if (!keep) return ctx->status;
        keep[0] = p;
        keep[1] = t;
        n->saved = keep;
    }
    const float *pp = p->data, *tp = t->data;
    float *y = n->out->data;
    int64_t len = p->numel;
    int op = n->op, r = (int)n->attrs->i[0];
    if (r == NB_REDUCE_NONE) {
        for (int64_t i = 0; i < len; i++) y[i] = pair_loss(op, pp[i], tp[i]);
        return NB_OK;
    }
    double s = 0.0;
    for (int64_t i = 0; i < len; i++) s += (double)pair_loss(op, pp[i], tp[i]);
    if (r == NB_REDUCE_MEAN) s /= (double)len; /* 0/0 = NaN for an empty input, as PyTorch */
    y[0] = (float)s;
    return NB_OK;
}

static nb_status pair_backward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *p = n->in[0], *t = n->in[1];
    if (n->saved) {
        p = ((nb_tensor **)n->saved)[0];
        t = ((nb_tensor **)n->saved)[1];
    }
    float *gp = NULL, *gt = NULL;
    if (nbi_needs_grad(n, 0)) {
        nb_tensor *g = nbi_grad(ctx, n->in[0]);
        if (!g) return ctx->status;
        gp = g->data;
    }
    if (nbi_needs_grad(n, 1)) {
        nb_tensor *g = nbi_grad(ctx, n->in[1]);
        if (!g) return ctx->status;
        gt = g->data;
    }
    const float *pp = p->data, *tp = t->data, *gy = n->out->grad->data;
    int64_t len = p->numel;
    int op = n->op, r = (int)n->attrs->i[0];
    float s = reduce_scale(r, gy, len);
    for (int64_t i = 0; i < len; i++) {
        float dp, dt, si = r == NB_REDUCE_NONE ? gy[i] : s;
        pair_deriv(op, pp[i], tp[i], &dp, &dt);
        if (gp) gp[i] += si * dp;
        if (gt) gt[i] += si * dt;
    }
    return NB_OK;
}

/* Check cases: ranks 1-3 under each reduction; both inputs require a gradient. */
static nb_status pair_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    int64_t shape[3];
    int rank = 1 + k % 3;
    nbi_gen_shape(rng, rank, 4, shape);
    c->n_in = 2;
    c->in[0] = nbi_gen_input(ctx, rng, rank, shape, def->check.lo, def->check.hi, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, rank, shape, -2.0f, 2.0f, NULL, 0, 0.0f);
    c->attrs.i[0] = (k / 2) % 3;
    c->has_attrs = 1;
    return (c->in[0] && c->in[1]) ? NB_OK : ctx->status;
}

#define PAIR_OP(NM, ID, LO, HI)                                                             \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = pair_infer,                                                                  \
        .forward = pair_forward,                                                              \
        .backward = pair_backward,                                                            \
        .check = {.gen = pair_gen, .cases = 6, .atol = 1e-4f, .rtol = 1e-4f, .lo = LO,        \
                  .hi = HI},                                                                  \
    };                                                                                        \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target, nb_reduction r) {   \
        return apply_loss(ctx, NBI_OP_##ID, pred, target, r);                                 \
    }

PAIR_OP(mse_loss, MSE_LOSS, -2.0f, 2.0f)
