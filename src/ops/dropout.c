/* ops/dropout.c — inverted dropout: y = x · m / (1 − p) with m ~ Bernoulli(1 − p) per element,
 * so E[y] = x and evaluation needs no rescaling (the identity). dx = dy · m / (1 − p).
 *
 * The mask is a function of a 64-bit seed kept in the op's attributes: the public function
 * draws the seed from the caller's generator (one draw per call), and forward and backward
 * both regenerate the mask from it. The op is therefore a pure function of its input and
 * attributes — re-running it gives the same mask, which is what the gradient check needs —
 * and backward keeps no mask in memory. Element i is dropped when the i-th 32-bit draw of a
 * xoshiro stream seeded with the seed is below p·2³² (kernels/ref/norm.c).
 *
 * attrs.i: 0 the seed (its bits); attrs.f: 0 p. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <string.h>

static nb_status dropout_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    float p = n->attrs->f[0];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    if (!(p >= 0.0f && p <= 1.0f)) return nbi_shape_error(n, "p must be in [0, 1]");
    out->dtype = NB_F32;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof x->shape);
    return NB_OK;
}

static nb_status dropout_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    if (!x) return ctx->status;
    ctx->be->dropout(ctx->be, (uint64_t)n->attrs->i[0], n->attrs->f[0], x->numel, x->data,
                     n->out->data, 0);
    return NB_OK;
}

/* dx += dy · m / (1 − p): the same mask, regenerated from the seed */
static nb_status dropout_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    ctx->be->dropout(ctx->be, (uint64_t)n->attrs->i[0], n->attrs->f[0], g->numel,
                     n->out->grad->data, g->data, 1);
    return NB_OK;
}

static nb_status dropout_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                             nbi_check_case *c) {
    static const float ps[3] = {0.5f, 0.2f, 0.75f};
    nb_status s = nbi_gen_unary(def, ctx, rng, k, c);
    if (s != NB_OK) return s;
    memset(&c->attrs, 0, sizeof c->attrs);
    c->attrs.f[0] = ps[k % 3];
    c->attrs.i[0] = (int64_t)(nb_rng_u64(rng) >> 1);
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_dropout = {
    .name = "dropout",
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .check =
        {.gen = dropout_gen, .cases = 3, .atol = 1e-4f, .rtol = 1e-4f, .lo = -2.0f, .hi = 2.0f},
};

nb_tensor *nb_dropout(nb_ctx *ctx, nb_tensor *x, float p, int training, nb_rng *rng) {
    if (!ctx || !x) return nbi_apply(ctx, NBI_OP_DROPOUT, &x, 1, NULL); /* reports it */
    if (!(p >= 0.0f && p <= 1.0f)) {
        nbi_error(NB_ERR_ARG, "dropout: p must be in [0, 1], got %g", (double)p);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (!training || p == 0.0f) return x;
    if (!rng) {
        nbi_error(NB_ERR_ARG, "dropout: training mode needs a random generator (rng is NULL)");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.f[0] = p;
    uint64_t seed = nb_rng_u64(rng);
    memcpy(&a.i[0], &seed, sizeof seed);
    return nbi_apply(ctx, NBI_OP_DROPOUT, &x, 1, &a);
}
