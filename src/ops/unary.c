/* ops/unary.c — elementwise functions of one tensor: math (exp, log, sqrt, abs, neg, clamp,
 * the scalar forms) and activations (sigmoid, tanh, relu, leaky_relu, elu, gelu, silu,
 * softplus, mish). Each is a kernel pair (kernels/ref/unary.c) and one NB_UNARY or NB_ACT
 * line of nabla/ops.def, from which this file makes its registry entry (with the
 * gradient-check domain the line gives) and, for ops without parameters, its public
 * function. Ops with parameters have their public functions written out below. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>

static nb_status unary_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    out->dtype = NB_F32;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) out->shape[i] = x->shape[i];
    return NB_OK;
}

static nb_status unary_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    if (!x) return ctx->status;
    if (x != n->in[0] && n->recording) n->saved = x; /* backward reads contiguous x */
    const float *p = n->attrs ? n->attrs->f : NULL;
    ctx->be->unary(ctx->be, nbi_ops[n->op]->aux, x->numel, x->data, n->out->data, p);
    return NB_OK;
}

static nb_status unary_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *x = n->saved ? (nb_tensor *)n->saved : n->in[0];
    bool fresh; /* a gradient made here is written, not accumulated */
    nb_tensor *g = nbi_grad_write(ctx, n->in[0], &fresh);
    if (!g) return ctx->status;
    const float *p = n->attrs ? n->attrs->f : NULL;
    (fresh ? ctx->be->unary_dx : ctx->be->unary_bwd)(ctx->be, nbi_ops[n->op]->aux, x->numel,
                                                     x->data, n->out->data, n->out->grad->data,
                                                     g->data, p);
    return NB_OK;
}

/* One registry entry per NB_UNARY / NB_ACT line; CHECK = (lo, hi, nk, k0, k1, a0, a1). */
#define UNPACK(...) __VA_ARGS__
#define OPDEF(ID, NM, NP, ...) OPDEF_(ID, NM, NP, __VA_ARGS__)
#define OPDEF_(ID, NM, NP, LO, HI, NK, K0, K1, A0, A1)                                      \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = unary_infer,                                                               \
        .forward = unary_forward,                                                           \
        .backward = unary_backward,                                                         \
        .aux = NBI_U_##ID,                                                                  \
        .check = {.gen = nbi_gen_unary, .cases = 3, .atol = 1e-4f, .rtol = 1e-4f, .lo = LO, \
                  .hi = HI, .kink = {K0, K1}, .nkink = NK, .attr_f = {A0, A1}},             \
    };                                                                                      \
    PUBLIC_##NP(ID, NM)
/* the public function of an op without parameters; those with parameters are below */
#define PUBLIC_0(ID, NM)                                                                    \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *x) {                                         \
        return nbi_apply(ctx, NBI_OP_##ID, &x, 1, NULL);                                    \
    }
#define PUBLIC_1(ID, NM)
#define PUBLIC_2(ID, NM)
#define NB_UNARY(ID, NM, NP, CHECK) OPDEF(ID, NM, NP, UNPACK CHECK)
#include "nabla/ops.def"

/* ops with one scalar parameter s */
#define UNARY1(NM, ID)                                                                      \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *x, float s) {                                \
        nbi_attrs a = {.f = {s}};                                                           \
        return nbi_apply(ctx, NBI_OP_##ID, &x, 1, &a);                                      \
    }
UNARY1(add_scalar, ADD_SCALAR)
UNARY1(mul_scalar, MUL_SCALAR)
UNARY1(div_scalar, DIV_SCALAR)
UNARY1(rsub_scalar, RSUB_SCALAR)
UNARY1(rdiv_scalar, RDIV_SCALAR)
UNARY1(pow_scalar, POW_SCALAR)
UNARY1(leaky_relu, LEAKY_RELU)
UNARY1(elu, ELU)

/* x - s is x + (-s): the same value bit for bit in IEEE arithmetic. */
nb_tensor *nb_sub_scalar(nb_ctx *ctx, nb_tensor *x, float s) { return nb_add_scalar(ctx, x, -s); }

nb_tensor *nb_softplus(nb_ctx *ctx, nb_tensor *x, float beta, float threshold) {
    if (!(beta > 0.0f)) {
        nbi_error(NB_ERR_ARG, "softplus: beta must be positive, got %g", (double)beta);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a = {.f = {beta, threshold}};
    return nbi_apply(ctx, NBI_OP_SOFTPLUS, &x, 1, &a);
}

nb_tensor *nb_clamp(nb_ctx *ctx, nb_tensor *x, float lo, float hi) {
    if (!(lo <= hi)) {
        nbi_error(NB_ERR_ARG, "clamp: lower bound %g is above upper bound %g", (double)lo,
                  (double)hi);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a = {.f = {lo, hi}};
    return nbi_apply(ctx, NBI_OP_CLAMP, &x, 1, &a);
}
