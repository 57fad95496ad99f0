/* ops/loss.c — loss functions: pointwise losses of a prediction and a target of the same
 * shape (mse, l1, bce, bce_logits), and the class losses of a [N, C] score matrix and i32
 * labels [N] (cross_entropy, nll). Each reduces with nb_reduction as PyTorch does:
 *
 *   NONE  ℓ_i                 one loss per element (pointwise) or per sample (class losses)
 *   SUM   L = Σ_i ℓ_i
 *   MEAN  L = (1/n) Σ_i ℓ_i   n = elements (pointwise) or samples N (class losses)
 *
 * and backward scales dℓ_i by s_i = gy_i (NONE), gy (SUM) or gy / n (MEAN). Sums are
 * accumulated in double, so their rounding stays far below f32's.
 * Pointwise losses never broadcast: pred and target shapes must be equal (PyTorch only
 * warns; a silent broadcast of [N] against [N, 1] is a classic bug). */
#include "autograd/autograd.h"
#include "kernels/backend.h"

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

/* The scale of every dℓ_i under SUM (gy) or MEAN (gy / n); NONE scales by gy_i instead. */
static float reduce_scale(int r, const float *gy, int64_t n) {
    if (r == NB_REDUCE_MEAN) return gy[0] / (float)n;
    return gy[0];
}

/* ---- pointwise losses --------------------------------------------------------------------- */

/* PyTorch clamps the logs of bce at -100, so p = 0 or 1 gives a finite loss. */
#define BCE_LOG_MIN -100.0f
/* and keeps the derivative finite with p (1 - p) >= 1e-12 */
#define BCE_EPS 1e-12f

static float clamped_log(float v) {
    float l = logf(v);
    return l > BCE_LOG_MIN ? l : BCE_LOG_MIN;
}

static float clamped_log1m(float v) { /* log(1 - v) */
    float l = log1pf(-v);
    return l > BCE_LOG_MIN ? l : BCE_LOG_MIN;
}

/* σ(x) without overflow for either sign */
static float stable_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* ℓ(p, t) for one element. */
static float pair_loss(int op, float p, float t) {
    switch (op) {
    case NBI_OP_MSE_LOSS: { /* (p - t)² */
        float d = p - t;
        return d * d;
    }
    case NBI_OP_L1_LOSS: /* |p - t| */
        return fabsf(p - t);
    case NBI_OP_BCE_LOSS: /* -(t log p + (1 - t) log(1 - p)), logs clamped at -100 */
        return -(t * clamped_log(p) + (1.0f - t) * clamped_log1m(p));
    case NBI_OP_BCE_LOGITS_LOSS: /* max(x, 0) - x t + log(1 + exp(-|x|)): never exp of a
                                    large positive number */
        return (p > 0.0f ? p : 0.0f) - p * t + log1pf(expf(-fabsf(p)));
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
    case NBI_OP_L1_LOSS: /* ∂/∂p = sign(p - t) (0 at p = t, as PyTorch), ∂/∂t = -sign */
        *dp = p > t ? 1.0f : (p < t ? -1.0f : 0.0f);
        *dt = -*dp;
        break;
    case NBI_OP_BCE_LOSS: { /* ∂/∂p = (p - t) / (p (1 - p)), the denominator kept >= 1e-12;
                               ∂/∂t = log(1 - p) - log p, clamped as in the forward */
        float den = p * (1.0f - p);
        *dp = (p - t) / (den > BCE_EPS ? den : BCE_EPS);
        *dt = clamped_log1m(p) - clamped_log(p);
        break;
    }
    case NBI_OP_BCE_LOGITS_LOSS: /* ∂/∂x = σ(x) - t, ∂/∂t = -x */
        *dp = stable_sigmoid(p) - t;
        *dt = -p;
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

/* bce takes probabilities: the first element outside [0, 1] (or NaN) is an error that
 * names its index and value (PyTorch raises here too). p is contiguous. */
static nb_status check_probabilities(const nbi_node *n, const nb_tensor *p) {
    const float *v = p->data;
    for (int64_t i = 0; i < p->numel; i++) {
        if (v[i] >= 0.0f && v[i] <= 1.0f) continue;
        int64_t idx[NB_MAX_RANK], flat = i;
        for (int d = p->rank - 1; d >= 0; d--) {
            idx[d] = flat % p->shape[d];
            flat /= p->shape[d];
        }
        char at[96], sh[96];
        nbi_dims_str(p->rank, idx, at, sizeof at);
        return nbi_error(NB_ERR_ARG,
                         "%s: the prediction must hold probabilities in [0, 1], but element %s "
                         "of %s is %g (apply nb_sigmoid first, or pass the logits to "
                         "nb_bce_logits_loss)",
                         nbi_ops[n->op]->name, at, nb_shape_str(p, sh, sizeof sh), (double)v[i]);
    }
    return NB_OK;
}

static nb_status pair_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    nb_tensor *p = nbi_contig(ctx, n->in[0]), *t = nbi_contig(ctx, n->in[1]);
    if (!p || !t) return ctx->status;
    int copied = p != n->in[0] || t != n->in[1];
    if (n->recording && copied) { /* backward reads the contiguous copies */
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
    nb_status st = op == NBI_OP_BCE_LOSS ? check_probabilities(n, p) : NB_OK;
    if (st == NB_OK && r == NB_REDUCE_NONE) {
        for (int64_t i = 0; i < len; i++) y[i] = pair_loss(op, pp[i], tp[i]);
    } else if (st == NB_OK) {
        double s = 0.0;
        for (int64_t i = 0; i < len; i++) s += (double)pair_loss(op, pp[i], tp[i]);
        if (r == NB_REDUCE_MEAN) s /= (double)len; /* 0/0 = NaN for an empty input, as PyTorch */
        y[0] = (float)s;
    }
    if (!n->recording) nbi_arena_release(&ctx->arena, m); /* the copies, if any */
    return st;
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

/* Check cases: ranks 1-3 under each reduction; both inputs require a gradient. The
 * prediction comes from the spec's domain (bce: probabilities, see below); targets are
 * in [-2, 2), or in [0, 1) for the bce pair (soft labels). l1 has a kink at p = t: its
 * prediction is the target moved by 0.0625 to 1.06 either way, so the finite-difference stencil
 * (±2h = ±0.03) never crosses it. */
static nb_status pair_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    int64_t shape[3];
    int rank = 1 + k % 3;
    nbi_gen_shape(rng, rank, 4, shape);
    int bce = def->aux == NBI_OP_BCE_LOSS || def->aux == NBI_OP_BCE_LOGITS_LOSS;
    c->n_in = 2;
    c->in[0] = nbi_gen_input(ctx, rng, rank, shape, def->check.lo, def->check.hi, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, rank, shape, bce ? 0.0f : -2.0f, bce ? 1.0f : 2.0f, NULL,
                             0, 0.0f);
    if (!c->in[0] || !c->in[1]) return ctx->status;
    if (def->aux == NBI_OP_L1_LOSS) {
        float *p = c->in[0]->data;
        const float *t = c->in[1]->data;
        for (int64_t i = 0; i < c->in[0]->numel; i++) {
            float off = 0.0625f + 0.5f * fabsf(p[i]); /* in [0.0625, 1.0625), on a grid */
            p[i] = t[i] + ((i + k) % 2 ? off : -off);
        }
    }
    c->attrs.i[0] = (k / 2) % 3;
    c->has_attrs = 1;
    return NB_OK;
}

#define PAIR_OP(NM, ID, LO, HI)                                                             \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = pair_infer,                                                                  \
        .forward = pair_forward,                                                              \
        .backward = pair_backward,                                                            \
        .aux = NBI_OP_##ID,                                                                   \
        .check = {.gen = pair_gen, .cases = 6, .atol = 1e-4f, .rtol = 1e-4f, .lo = LO,        \
                  .hi = HI},                                                                  \
    };                                                                                        \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target, nb_reduction r) {   \
        return apply_loss(ctx, NBI_OP_##ID, pred, target, r);                                 \
    }

PAIR_OP(mse_loss, MSE_LOSS, -2.0f, 2.0f)
PAIR_OP(l1_loss, L1_LOSS, -2.0f, 2.0f)
/* bce's probabilities stay in [0.25, 0.75): the checker's step is fixed (h = 2^-6) and the
 * fourth-order stencil's error h⁴ f⁽⁵⁾/30 grows like 1/p⁵ (about 0.1 at p = 0.05); the edges
 * are covered by test_loss's hand-computed values and the PyTorch parity test. */
PAIR_OP(bce_loss, BCE_LOSS, 0.25f, 0.75f)
PAIR_OP(bce_logits_loss, BCE_LOGITS_LOSS, -3.0f, 3.0f)

/* ---- class losses: scores [N, C] and labels i32 [N] ------------------------------------- */

static nb_status class_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0], *y = n->in[1];
    int ce = n->op == NBI_OP_CROSS_ENTROPY;
    if (x->dtype != NB_F32)
        return nbi_shape_error(n, ce ? "logits must be f32" : "log-probabilities must be f32");
    if (x->rank != 2)
        return nbi_shape_error(n, ce ? "logits must be [N, C] (reshape one sample's [C] to [1, C])"
                                     : "log-probabilities must be [N, C] (reshape one sample's "
                                       "[C] to [1, C])");
    if (y->dtype != NB_I32) return nbi_shape_error(n, "labels must be i32 class indices");
    if (y->rank != 1 || y->shape[0] != x->shape[0])
        return nbi_shape_error(n, "labels must be [N], one class index per row of the scores");
    out->dtype = NB_F32;
    out->rank = 0;
    if (n->attrs->i[0] == NB_REDUCE_NONE) {
        out->rank = 1;
        out->shape[0] = x->shape[0];
    }
    return NB_OK;
}

/* Every label must be a class: 0 <= label < C. The error names the sample and the value. */
static nb_status check_labels(const nbi_node *n, const nb_tensor *labels, int64_t C) {
    const int32_t *l = labels->data;
    int64_t N = labels->shape[0], st = labels->stride[0];
    for (int64_t i = 0; i < N; i++) {
        int32_t v = l[i * st];
        if (v >= 0 && v < C) continue;
        return nbi_error(NB_ERR_ARG,
                         "%s: label of sample %lld is %d, outside the classes [0, %lld) of the "
                         "[%lld, %lld] scores",
                         nbi_ops[n->op]->name, (long long)i, (int)v, (long long)C, (long long)N,
                         (long long)C);
    }
    return NB_OK;
}

/* Writes the per-sample losses ℓ_i (NONE) or their reduction into y. */
static void reduce_into(float *y, const float *l, int64_t N, int r) {
    if (r == NB_REDUCE_NONE) {
        for (int64_t i = 0; i < N; i++) y[i] = l[i];
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < N; i++) s += (double)l[i];
    if (r == NB_REDUCE_MEAN) s /= (double)N; /* NaN for N = 0, as PyTorch */
    y[0] = (float)s;
}

/* Cross-entropy fused with log-softmax:
 *   ℓ_i = -log softmax(x_i)[y_i] = log Σ_j exp(x_ij) - x_i,y_i
 *   ∂ℓ_i/∂x_ij = softmax(x_i)_j - [j = y_i]
 * Forward keeps log-softmax [N, C] for backward (exp of it is the softmax). */
static nb_status cross_entropy_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = n->in[0], *lab = n->in[1];
    int64_t N = x->shape[0], C = x->shape[1];
    nb_status s = check_labels(n, lab, C);
    if (s != NB_OK) return s;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    x = nbi_contig(ctx, x);
    if (!x) return ctx->status;
    nb_tensor *lp = nbi_tensor_alloc(ctx, NB_F32, 2, x->shape);
    float *l = nbi_ctx_alloc(ctx, (size_t)(N ? N : 1) * sizeof *l, "cross_entropy");
    if (!lp || !l) return ctx->status;
    ctx->be->log_softmax(ctx->be, N, C, x->data, lp->data);
    const float *lpp = lp->data;
    const int32_t *y = lab->data;
    for (int64_t i = 0; i < N; i++) l[i] = -lpp[i * C + y[i * lab->stride[0]]];
    reduce_into(n->out->data, l, N, (int)n->attrs->i[0]);
    if (n->recording)
        n->saved = lp;
    else
        nbi_arena_release(&ctx->arena, m); /* the temporaries, allocated after out */
    return NB_OK;
}

static nb_status cross_entropy_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    const nb_tensor *lab = n->in[1], *lp = n->saved;
    int64_t N = lp->shape[0], C = lp->shape[1];
    int r = (int)n->attrs->i[0];
    const float *gy = n->out->grad->data, *lpp = lp->data;
    const int32_t *y = lab->data;
    float *gx = g->data, s = reduce_scale(r, gy, N);
    for (int64_t i = 0; i < N; i++) {
        float si = r == NB_REDUCE_NONE ? gy[i] : s;
        const float *row = lpp + i * C;
        float *grow = gx + i * C;
        for (int64_t j = 0; j < C; j++) grow[j] += si * expf(row[j]);
        grow[y[i * lab->stride[0]]] -= si;
    }
    return NB_OK;
}

/* Negative log-likelihood of log-probabilities: ℓ_i = -logp_i,y_i; ∂ℓ_i/∂logp_ij = -[j = y_i].
 * It reads one element per row through the strides, so no copy is needed. */
static nb_status nll_forward(nb_ctx *ctx, nbi_node *n) {
    const nb_tensor *x = n->in[0], *lab = n->in[1];
    int64_t N = x->shape[0], C = x->shape[1];
    nb_status s = check_labels(n, lab, C);
    if (s != NB_OK) return s;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    float *l = nbi_ctx_alloc(ctx, (size_t)(N ? N : 1) * sizeof *l, "nll_loss");
    if (!l) return ctx->status;
    const float *xp = x->data;
    const int32_t *y = lab->data;
    for (int64_t i = 0; i < N; i++)
        l[i] = -xp[i * x->stride[0] + (int64_t)y[i * lab->stride[0]] * x->stride[1]];
    reduce_into(n->out->data, l, N, (int)n->attrs->i[0]);
    nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

static nb_status nll_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    const nb_tensor *lab = n->in[1];
    int64_t N = g->shape[0], C = g->shape[1];
    int r = (int)n->attrs->i[0];
    const float *gy = n->out->grad->data;
    const int32_t *y = lab->data;
    float *gx = g->data, s = reduce_scale(r, gy, N);
    for (int64_t i = 0; i < N; i++)
        gx[i * C + y[i * lab->stride[0]]] -= r == NB_REDUCE_NONE ? gy[i] : s;
    return NB_OK;
}

/* Check cases: scores [N, C] with N in 1..4, C in 2..6, random valid labels (i32, not
 * differentiable), under each reduction. */
static nb_status class_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                           nbi_check_case *c) {
    int64_t N = 1 + (int64_t)nb_rng_below(rng, 4), C = 2 + (int64_t)nb_rng_below(rng, 5);
    c->n_in = 2;
    c->in[0] = nbi_gen_input(ctx, rng, 2, (int64_t[]){N, C}, def->check.lo, def->check.hi, NULL,
                             0, 0.0f);
    c->in[1] = nb_tensor_new(ctx, NB_I32, 1, &N);
    if (!c->in[0] || !c->in[1]) return ctx->status;
    int32_t *y = c->in[1]->data;
    for (int64_t i = 0; i < N; i++) y[i] = (int32_t)nb_rng_below(rng, (uint64_t)C);
    c->attrs.i[0] = k % 3;
    c->has_attrs = 1;
    return NB_OK;
}

#define CLASS_OP(NM, ID, FWD, BWD, LO, HI)                                                  \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = class_infer,                                                                 \
        .forward = FWD,                                                                       \
        .backward = BWD,                                                                      \
        .aux = NBI_OP_##ID,                                                                   \
        .check = {.gen = class_gen, .cases = 3, .atol = 1e-4f, .rtol = 1e-4f, .lo = LO,       \
                  .hi = HI},                                                                  \
    };

CLASS_OP(cross_entropy, CROSS_ENTROPY, cross_entropy_forward, cross_entropy_backward, -3.0f, 3.0f)
CLASS_OP(nll_loss, NLL_LOSS, nll_forward, nll_backward, -3.0f, 0.0f)

nb_tensor *nb_cross_entropy(nb_ctx *ctx, nb_tensor *logits, nb_tensor *labels, nb_reduction r) {
    return apply_loss(ctx, NBI_OP_CROSS_ENTROPY, logits, labels, r);
}

nb_tensor *nb_nll_loss(nb_ctx *ctx, nb_tensor *logp, nb_tensor *labels, nb_reduction r) {
    return apply_loss(ctx, NBI_OP_NLL_LOSS, logp, labels, r);
}
