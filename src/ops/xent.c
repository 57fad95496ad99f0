/* ops/xent.c — cross-entropy of logits with the classes on the last axis, as language models
 * lay them out ((B, T, V) logits, (B, T) targets), with PyTorch's ignore_index and
 * label_smoothing — exactly F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ...):
 *
 *   per position (targets y not equal to ignore_index), with smoothing ε over V classes,
 *     ℓ = −Σ_c q_c log softmax(x)_c,  q = (1 − ε) one_hot(y) + ε/V
 *       = lse − (1 − ε) x_y − (ε/V) Σ_c x_c,          lse = log Σ_c exp x_c
 *     ∂ℓ/∂x_c = softmax(x)_c − (1 − ε)[c = y] − ε/V
 *   ignored positions: ℓ = 0 and no gradient;
 *   MEAN divides the sum by the number of positions not ignored (NaN when there are none, as
 *   PyTorch), SUM sums, NONE gives ℓ per position (0 where ignored).
 *
 * One fused kernel pass a row (kernels/seq.h): forward keeps lse per row, not the [N, V]
 * probabilities; backward recomputes them. A target outside [0, V) that is not ignore_index
 * is an error naming its position.
 *
 * attrs.i: 0 reduction, 1 ignore_index; attrs.f: 0 label_smoothing. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct xent_saved {
    nb_tensor *x, *t; /* contiguous */
    float *lse;
    int64_t count; /* positions not ignored */
} xent_saved;

static nb_status xent_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0], *t = n->in[1];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "logits must be f32");
    if (t->dtype != NB_I32) return nbi_shape_error(n, "targets must be i32 class indices");
    if (x->rank < 1) return nbi_shape_error(n, "logits must have the classes on a last axis");
    bool same = t->rank == x->rank - 1;
    for (int i = 0; same && i < t->rank; i++) same = t->shape[i] == x->shape[i];
    if (!same)
        return nbi_shape_error(n, "targets must have the logits' shape without the last (class) "
                                  "axis: [B, T] for [B, T, V] logits");
    float eps = n->attrs->f[0];
    if (!(eps >= 0.0f && eps <= 1.0f))
        return nbi_shape_error(n, "label_smoothing must be in [0, 1]");
    out->dtype = NB_F32;
    out->rank = 0;
    if (n->attrs->i[0] == NB_REDUCE_NONE) {
        out->rank = t->rank;
        memcpy(out->shape, t->shape, sizeof t->shape);
    }
    return NB_OK;
}

static nb_status xent_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    nb_tensor *x = nbi_contig(ctx, n->in[0]), *t = nbi_contig(ctx, n->in[1]);
    if (!x || !t) return ctx->status;
    const int64_t V = x->shape[x->rank - 1], rows = t->numel, r = n->attrs->i[0];
    const int64_t ignore = n->attrs->i[1];
    size_t rb = (size_t)(rows ? rows : 1) * sizeof(float);
    xent_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, "cross_entropy_ex");
    float *lse = nbi_ctx_alloc(ctx, rb, "cross_entropy_ex");
    float *loss = r == NB_REDUCE_NONE ? n->out->data : nbi_ctx_alloc(ctx, rb, "cross_entropy_ex");
    if (!sv || !lse || !loss) return ctx->status;
    double total = 0.0;
    int64_t count = 0;
    int64_t bad = ctx->be->xent(ctx->be, rows, V, x->data, t->data, ignore, n->attrs->f[0], loss,
                                lse, &total, &count);
    if (bad >= 0) {
        const nb_tensor *tt = n->in[1];
        int64_t idx[NB_MAX_RANK], flat = bad;
        for (int d = tt->rank - 1; d >= 0; d--) {
            idx[d] = flat % tt->shape[d];
            flat /= tt->shape[d];
        }
        char at[96], sh[96];
        nbi_dims_str(tt->rank, idx, at, sizeof at);
        return nbi_error(NB_ERR_ARG,
                         "cross_entropy_ex: target %d at position %s of the targets %s is outside "
                         "the classes [0, %lld) and is not ignore_index (%lld)",
                         (int)((const int32_t *)t->data)[bad], at, nb_shape_str(tt, sh, sizeof sh),
                         (long long)V, (long long)ignore);
    }
    float *y = n->out->data;
    if (r == NB_REDUCE_SUM) y[0] = (float)total;
    if (r == NB_REDUCE_MEAN) y[0] = (float)(total / (double)count); /* 0/0: NaN, as PyTorch */
    if (n->recording) {
        sv->x = x;
        sv->t = t;
        sv->lse = lse;
        sv->count = count;
        n->saved = sv;
    } else {
        nbi_arena_release(&ctx->arena, m);
    }
    return NB_OK;
}

static nb_status xent_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    const xent_saved *sv = n->saved;
    const int64_t V = sv->x->shape[sv->x->rank - 1], rows = sv->t->numel, r = n->attrs->i[0];
    const float *gy = n->out->grad->data;
    float s = r == NB_REDUCE_MEAN ? gy[0] / (float)sv->count : gy[0];
    ctx->be->xent_bwd(ctx->be, rows, V, sv->x->data, sv->t->data, n->attrs->i[1], n->attrs->f[0],
                      sv->lse, r == NB_REDUCE_NONE ? gy : &s, r == NB_REDUCE_NONE ? 1 : 0, g->data);
    return NB_OK;
}

/* Check cases: [N, V], [B, T, V] and one row [V] under each reduction, with and without
 * ignored positions and label smoothing (the first position is never ignored, so MEAN has a
 * count). */
static nb_status xent_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    int rank = k % 3 == 0 ? 2 : k % 3 == 1 ? 3 : 1;
    int64_t shape[3];
    nbi_gen_shape(rng, rank, 4, shape);
    shape[rank - 1] += 1; /* V >= 2 */
    const int64_t V = shape[rank - 1];
    c->n_in = 2;
    c->in[0] = nbi_gen_input(ctx, rng, rank, shape, def->check.lo, def->check.hi, NULL, 0, 0.0f);
    c->in[1] = nb_tensor_new(ctx, NB_I32, rank - 1, shape);
    if (!c->in[0] || !c->in[1]) return ctx->status;
    const int64_t ignore = k % 2 ? -100 : (int64_t)V - 1;
    int32_t *y = c->in[1]->data;
    for (int64_t i = 0; i < c->in[1]->numel; i++) {
        y[i] = (int32_t)nb_rng_below(rng, (uint64_t)V);
        if (i > 0 && k >= 2 && nb_rng_below(rng, 3) == 0) y[i] = (int32_t)ignore;
    }
    c->attrs.i[0] = k % 3;
    c->attrs.i[1] = ignore;
    c->attrs.f[0] = k < 2 ? 0.0f : k % 2 ? 0.1f : 0.25f;
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_cross_entropy_ex = {
    .name = "cross_entropy_ex",
    .infer = xent_infer,
    .forward = xent_forward,
    .backward = xent_backward,
    .check = {.gen = xent_gen, .cases = 6, .atol = 1e-4f, .rtol = 1e-4f, .lo = -3.0f, .hi = 3.0f},
};

nb_tensor *nb_cross_entropy_ex(nb_ctx *ctx, nb_tensor *logits, nb_tensor *targets, nb_reduction r,
                               int64_t ignore_index, float label_smoothing) {
    if (r != NB_REDUCE_MEAN && r != NB_REDUCE_SUM && r != NB_REDUCE_NONE) {
        nbi_error(NB_ERR_ARG,
                  "cross_entropy_ex: unknown reduction %d (use NB_REDUCE_MEAN, NB_REDUCE_SUM or "
                  "NB_REDUCE_NONE)",
                  (int)r);
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = (int64_t)r;
    a.i[1] = ignore_index;
    a.f[0] = label_smoothing;
    nb_tensor *in[2] = {logits, targets};
    return nbi_apply(ctx, NBI_OP_CROSS_ENTROPY_EX, in, 2, &a);
}
