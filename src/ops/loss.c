/* ops/loss.c — loss functions: pointwise losses of a prediction and a target of the same
 * shape (mse, l1, bce, bce_logits), and the class losses of a [N, C] score matrix and i32
 * labels [N] (cross_entropy, nll). Each reduces with nb_reduction as PyTorch does:
 *
 *   NONE  ℓ_i                 one loss per element (pointwise) or per sample (class losses)
 *   SUM   L = Σ_i ℓ_i
 *   MEAN  L = (1/n) Σ_i ℓ_i   n = elements (pointwise) or samples N (class losses)
 *
 * and backward scales dℓ_i by s_i = gy_i (NONE), gy (SUM) or gy / n (MEAN). Sums are
 * accumulated in double, so their rounding stays far below f32's. The formulas and loops are
 * kernels (kernels/ref/loss.c); this file checks shapes, labels and probabilities.
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

/* ---- pointwise losses --------------------------------------------------------------------- */

/* The kernel's kind of a pointwise loss op. */
static int pair_kind(int op) {
    switch (op) {
    case NBI_OP_MSE_LOSS:
        return NBI_LOSS_MSE;
    case NBI_OP_L1_LOSS:
        return NBI_LOSS_L1;
    case NBI_OP_BCE_LOSS:
        return NBI_LOSS_BCE;
    default:
        NBI_ASSERT(op == NBI_OP_BCE_LOGITS_LOSS);
        return NBI_LOSS_BCE_LOGITS;
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
static nb_status check_probabilities(nb_ctx *ctx, const nbi_node *n, const nb_tensor *p) {
    const nbi_backend *be = ctx->be;
    int64_t i = be->find_outside(be, p->numel, p->data, 0.0f, 1.0f);
    if (i < 0) return NB_OK;
    float v;
    be->to_host(be, &v, (const float *)p->data + i, sizeof v);
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
                     nbi_ops[n->op]->name, at, nb_shape_str(p, sh, sizeof sh), (double)v);
}

static nb_status pair_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_arena_mark m = {NULL, 0, 0}; /* where a copy of the inputs would start */
    if (!n->recording) m = nbi_arena_mark_get(&ctx->arena);
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
    nb_status st = n->op == NBI_OP_BCE_LOSS ? check_probabilities(ctx, n, p) : NB_OK;
    if (st == NB_OK)
        ctx->be->pair_loss(ctx->be, pair_kind(n->op), (int)n->attrs->i[0], p->numel, p->data,
                           t->data, n->out->data);
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
    ctx->be->pair_loss_bwd(ctx->be, pair_kind(n->op), (int)n->attrs->i[0], p->numel, p->data,
                           t->data, n->out->grad->data, gp, gt);
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
static nb_status check_labels(nb_ctx *ctx, const nbi_node *n, const nb_tensor *labels,
                              int64_t C) {
    const nbi_backend *be = ctx->be;
    int64_t N = labels->shape[0], st = labels->stride[0];
    int64_t i = be->find_bad_label(be, N, labels->data, st, C);
    if (i < 0) return NB_OK;
    int32_t v;
    be->to_host(be, &v, (const int32_t *)labels->data + i * st, sizeof v);
    return nbi_error(NB_ERR_ARG,
                     "%s: label of sample %lld is %d, outside the classes [0, %lld) of the "
                     "[%lld, %lld] scores",
                     nbi_ops[n->op]->name, (long long)i, (int)v, (long long)C, (long long)N,
                     (long long)C);
}

/* Cross-entropy fused with log-softmax:
 *   ℓ_i = -log softmax(x_i)[y_i] = log Σ_j exp(x_ij) - x_i,y_i
 *   ∂ℓ_i/∂x_ij = softmax(x_i)_j - [j = y_i]
 * Forward keeps log-softmax [N, C] for backward (exp of it is the softmax). */
static nb_status cross_entropy_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = n->in[0], *lab = n->in[1];
    int64_t N = x->shape[0], C = x->shape[1];
    nb_status s = check_labels(ctx, n, lab, C);
    if (s != NB_OK) return s;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    x = nbi_contig(ctx, x);
    if (!x) return ctx->status;
    nb_tensor *lp = nbi_tensor_alloc(ctx, NB_F32, 2, x->shape);
    if (!lp) return ctx->status;
    const nbi_backend *be = ctx->be;
    be->log_softmax(be, N, C, x->data, lp->data);
    be->nll(be, (int)n->attrs->i[0], N, lp->data, C, 1, lab->data, lab->stride[0],
            n->out->data);
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
    ctx->be->cross_entropy_bwd(ctx->be, (int)n->attrs->i[0], lp->shape[0], lp->shape[1],
                               n->out->grad->data, lp->data, lab->data, lab->stride[0],
                               g->data);
    return NB_OK;
}

/* Negative log-likelihood of log-probabilities: ℓ_i = -logp_i,y_i; ∂ℓ_i/∂logp_ij = -[j = y_i].
 * It reads one element per row through the strides, so no copy is needed. */
static nb_status nll_forward(nb_ctx *ctx, nbi_node *n) {
    const nb_tensor *x = n->in[0], *lab = n->in[1];
    nb_status s = check_labels(ctx, n, lab, x->shape[1]);
    if (s != NB_OK) return s;
    ctx->be->nll(ctx->be, (int)n->attrs->i[0], x->shape[0], x->data, x->stride[0], x->stride[1],
                 lab->data, lab->stride[0], n->out->data);
    return NB_OK;
}

static nb_status nll_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    const nb_tensor *lab = n->in[1];
    ctx->be->nll_bwd(ctx->be, (int)n->attrs->i[0], g->shape[0], g->shape[1],
                     n->out->grad->data, lab->data, lab->stride[0], g->data);
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
