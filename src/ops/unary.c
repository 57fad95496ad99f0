/* ops/unary.c — elementwise functions of one tensor: math (exp, log, sqrt, abs, neg, clamp,
 * the scalar forms) and activations (sigmoid, tanh, relu, leaky_relu, elu, gelu, silu,
 * softplus). Each is a kernel pair in kernels/ref/unary.c plus one line here giving its
 * registry entry, its public function and its gradient-check domain. */
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
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    const float *p = n->attrs ? n->attrs->f : NULL;
    ctx->be->unary_bwd(ctx->be, nbi_ops[n->op]->aux, x->numel, x->data, n->out->data,
                       n->out->grad->data, g->data, p);
    return NB_OK;
}

#define OPDEF(NM, ID, LO, HI, K0, K1, NK, A0, A1)                                           \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = unary_infer,                                                                 \
        .forward = unary_forward,                                                             \
        .backward = unary_backward,                                                           \
        .aux = NBI_U_##ID,                                                                    \
        .check = {.gen = nbi_gen_unary, .cases = 3, .atol = 1e-4f, .rtol = 1e-4f, .lo = LO,   \
                  .hi = HI, .kink = {K0, K1}, .nkink = NK, .attr_f = {A0, A1}},               \
    };

/* ops without parameters: name, ID, domain, kinks */
#define UNARY0(NM, ID, LO, HI, NK)                                                          \
    OPDEF(NM, ID, LO, HI, 0.0f, 0.0f, NK, 0.0f, 0.0f)                                       \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *x) {                                         \
        return nbi_apply(ctx, NBI_OP_##ID, &x, 1, NULL);                                      \
    }

/* ops with one scalar parameter s, checked at s = A0 */
#define UNARY1(NM, ID, LO, HI, A0)                                                          \
    OPDEF(NM, ID, LO, HI, 0.0f, 0.0f, 0, A0, 0.0f)                                          \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *x, float s) {                                \
        nbi_attrs a = {.f = {s}};                                                             \
        return nbi_apply(ctx, NBI_OP_##ID, &x, 1, &a);                                        \
    }

UNARY0(exp, EXP, -2.0f, 2.0f, 0)
UNARY0(log, LOG, 0.25f, 4.0f, 0)
UNARY0(sqrt, SQRT, 0.25f, 4.0f, 0)
UNARY0(abs, ABS, -2.0f, 2.0f, 1)
UNARY0(neg, NEG, -2.0f, 2.0f, 0)
UNARY0(sigmoid, SIGMOID, -4.0f, 4.0f, 0)
UNARY0(tanh, TANH, -3.0f, 3.0f, 0)
UNARY0(relu, RELU, -2.0f, 2.0f, 1)
UNARY0(gelu, GELU, -3.0f, 3.0f, 0)
UNARY0(gelu_tanh, GELU_TANH, -3.0f, 3.0f, 0)
UNARY0(silu, SILU, -4.0f, 4.0f, 0)

UNARY1(add_scalar, ADD_SCALAR, -2.0f, 2.0f, 0.75f)
UNARY1(mul_scalar, MUL_SCALAR, -2.0f, 2.0f, -1.5f)
UNARY1(div_scalar, DIV_SCALAR, -2.0f, 2.0f, 3.0f)
UNARY1(rsub_scalar, RSUB_SCALAR, -2.0f, 2.0f, 0.5f)
UNARY1(rdiv_scalar, RDIV_SCALAR, 0.5f, 2.0f, 1.5f)
UNARY1(pow_scalar, POW_SCALAR, 0.5f, 2.0f, 2.5f)

/* x - s is x + (-s): the same value bit for bit in IEEE arithmetic. */
nb_tensor *nb_sub_scalar(nb_ctx *ctx, nb_tensor *x, float s) { return nb_add_scalar(ctx, x, -s); }

/* leaky_relu and elu: one parameter and a kink at 0 */
OPDEF(leaky_relu, LEAKY_RELU, -2.0f, 2.0f, 0.0f, 0.0f, 1, 0.1f, 0.0f)
nb_tensor *nb_leaky_relu(nb_ctx *ctx, nb_tensor *x, float negative_slope) {
    nbi_attrs a = {.f = {negative_slope}};
    return nbi_apply(ctx, NBI_OP_LEAKY_RELU, &x, 1, &a);
}

/* elu is C¹ at 0 only for alpha = 1; checked at alpha 1.5 with the kink avoided */
OPDEF(elu, ELU, -2.0f, 2.0f, 0.0f, 0.0f, 1, 1.5f, 0.0f)
nb_tensor *nb_elu(nb_ctx *ctx, nb_tensor *x, float alpha) {
    nbi_attrs a = {.f = {alpha}};
    return nbi_apply(ctx, NBI_OP_ELU, &x, 1, &a);
}

/* softplus with beta 2 and threshold 3 so the check sees both branches (kink at x = 1.5) */
OPDEF(softplus, SOFTPLUS, -3.0f, 3.0f, 1.5f, 0.0f, 1, 2.0f, 3.0f)
nb_tensor *nb_softplus(nb_ctx *ctx, nb_tensor *x, float beta, float threshold) {
    if (!(beta > 0.0f)) {
        nbi_error(NB_ERR_ARG, "softplus: beta must be positive, got %g", (double)beta);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a = {.f = {beta, threshold}};
    return nbi_apply(ctx, NBI_OP_SOFTPLUS, &x, 1, &a);
}

/* clamp to [-0.5, 1], kinks at both bounds */
OPDEF(clamp, CLAMP, -2.0f, 2.0f, -0.5f, 1.0f, 2, -0.5f, 1.0f)
nb_tensor *nb_clamp(nb_ctx *ctx, nb_tensor *x, float lo, float hi) {
    if (!(lo <= hi)) {
        nbi_error(NB_ERR_ARG, "clamp: lower bound %g is above upper bound %g", (double)lo,
                  (double)hi);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a = {.f = {lo, hi}};
    return nbi_apply(ctx, NBI_OP_CLAMP, &x, 1, &a);
}
