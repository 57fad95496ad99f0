/* ops/linear.c — the affine map of a dense layer as one op, and with its activation fused:
 *
 *   linear:      y[..., out] = x[..., in] · W[in, out] + b[out]          b optional
 *                dx = dy · Wᵀ,   dW = Σ_rows xᵀ dy,   db = Σ_rows dy
 *   linear_act:  z = x W + b,  y = f(z)                f an elementwise activation
 *                dz = dy ⊙ f'(z, y), then dx, dW, db as above from dz
 *
 * linear is exactly nb_add(nb_matmul(x, W), b) (test_nn compares them, values and gradients),
 * in one tape node instead of two and without the intermediate x·W: the bias is written into
 * y first and GEMM accumulates onto it (beta = 1), and backward runs two GEMMs and a column sum
 * with no broadcasting machinery. linear_act is exactly the activation's op applied to
 * linear's result (test_nn again), in one node: z stays in the arena for backward (as the
 * separate result did), f is applied to it where GEMM left it hot in cache, and backward
 * forms dz once instead of a gradient tensor, a second node and a second sweep. A dense layer
 * is this op (nn/dense.c). All leading dimensions of x are rows: x is read as a matrix
 * [M, in], M = numel / in. */
#include "autograd/autograd.h"
#include "ops/linear.h"
#include "kernels/backend.h"

#include <stdbool.h>
#include <string.h>

static nb_status linear_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0], *W = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    if (x->dtype != NB_F32 || W->dtype != NB_F32 || (b && b->dtype != NB_F32))
        return nbi_shape_error(n, "inputs must be f32");
    if (x->rank < 1) return nbi_shape_error(n, "x must have rank >= 1 (features last)");
    if (W->rank != 2) return nbi_shape_error(n, "W must be a matrix [in, out]");
    if (W->shape[0] != x->shape[x->rank - 1])
        return nbi_shape_error(n, "x's last dimension differs from W's first");
    if (b && (b->rank != 1 || b->shape[0] != W->shape[1]))
        return nbi_shape_error(n, "b must be a vector [out] with W's second dimension");
    out->dtype = NB_F32;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof x->shape);
    out->shape[x->rank - 1] = W->shape[1];
    return NB_OK;
}

static inline int64_t ld(int64_t cols) { return cols > 1 ? cols : 1; }

/* What forward keeps for backward: the contiguous x and W it read (when they are copies of
 * the inputs) and, for linear_act, z and the room for backward's dz (one arena block). */
typedef struct lin_saved {
    nb_tensor *x, *W;
    float *z, *gz;
} lin_saved;

/* y = x W + b into y [M, out] */
static nb_status affine(nb_ctx *ctx, const nbi_node *n, const nb_tensor *x, const nb_tensor *W,
                        float *y) {
    const int64_t in = W->shape[0], out = W->shape[1];
    const int64_t M = in ? x->numel / in : n->out->numel / (out ? out : 1);
    float beta = 0.0f;
    if (n->n_in > 2) { /* y = b in every row (b read with stride 0 down the rows), then
                          y += x W */
        nb_tensor *b = n->in[2];
        beta = 1.0f;
        if (b->stride[0] == 1 || out == 1) { /* contiguous b: row copies, no iterator */
            ctx->be->bias_rows(ctx->be, M, out, b->data, y);
        } else {
            const int64_t shape[2] = {M, out}, sy[2] = {out, 1}, sb[2] = {0, b->stride[0]};
            const int64_t *st[2] = {sy, sb};
            nbi_iter it;
            nbi_iter_init(&it, 2, shape, 2, st);
            ctx->be->copy_strided(ctx->be, &it, y, b->data);
        }
    }
    if (M == 0 || out == 0) return NB_OK;
    return ctx->be->sgemm(ctx->be, 0, 0, M, out, in, 1.0f, x->data, ld(in), W->data, ld(out),
                          beta, y, ld(out));
}

/* The contiguous x and W, kept for backward when they are copies; with `z`, room for z too. */
static lin_saved *contig_inputs(nb_ctx *ctx, nbi_node *n, bool z, nb_tensor **x, nb_tensor **W) {
    static lin_saved none;
    *x = nbi_contig(ctx, n->in[0]);
    *W = nbi_contig(ctx, n->in[1]);
    if (!*x || !*W) return NULL;
    if (!n->recording || (!z && *x == n->in[0] && *W == n->in[1])) return &none;
    /* one block: the record, then z and dz (numel floats each, the second 64-byte aligned);
     * the sizes cannot overflow, the result of numel floats exists already */
    const size_t head = (sizeof(lin_saved) + NBI_ALIGN - 1) & ~(size_t)(NBI_ALIGN - 1);
    const size_t zb = z ? sizeof(float) * (size_t)n->out->numel : 0;
    const size_t zroom = (zb + NBI_ALIGN - 1) & ~(size_t)(NBI_ALIGN - 1);
    unsigned char *blk = nbi_ctx_alloc(ctx, head + 2 * zroom, nbi_ops[n->op]->name);
    if (!blk) return NULL;
    lin_saved *k = (lin_saved *)(void *)blk;
    k->x = *x;
    k->W = *W;
    k->z = z ? (float *)(void *)(blk + head) : NULL;
    k->gz = z ? (float *)(void *)(blk + head + zroom) : NULL;
    n->saved = k;
    return k;
}

static nb_status linear_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x, *W;
    if (!contig_inputs(ctx, n, false, &x, &W)) return ctx->status;
    return affine(ctx, n, x, W, n->out->data);
}

/* dx += gy Wᵀ, dW += xᵀ gy, db += Σ_rows gy, for gy [M, out] */
static nb_status affine_backward(nb_ctx *ctx, nbi_node *n, const float *gy) {
    nb_tensor *x = n->in[0], *W = n->in[1];
    if (n->saved) {
        x = ((lin_saved *)n->saved)->x;
        W = ((lin_saved *)n->saved)->W;
    }
    const int64_t in = W->shape[0], out = W->shape[1];
    const int64_t M = out ? n->out->numel / out : 0;
    if (M == 0 || out == 0) return NB_OK; /* no output, no gradient */
    nb_status s;
    bool fresh; /* a gradient made here is written (beta = 0): no zero fill, no read */
    if (nbi_needs_grad(n, 0) && in > 0) { /* dx[M,in] += dy[M,out] · Wᵀ */
        nb_tensor *g = nbi_grad_write(ctx, n->in[0], &fresh);
        if (!g) return ctx->status;
        s = ctx->be->sgemm(ctx->be, 0, 1, M, in, out, 1.0f, gy, ld(out), W->data, ld(out),
                           fresh ? 0.0f : 1.0f, g->data, ld(in));
        if (s != NB_OK) return s;
    }
    if (nbi_needs_grad(n, 1) && in > 0) { /* dW[in,out] += xᵀ · dy */
        nb_tensor *g = nbi_grad_write(ctx, n->in[1], &fresh);
        if (!g) return ctx->status;
        s = ctx->be->sgemm(ctx->be, 1, 0, in, out, M, 1.0f, x->data, ld(in), gy, ld(out),
                           fresh ? 0.0f : 1.0f, g->data, ld(out));
        if (s != NB_OK) return s;
    }
    if (n->n_in > 2 && nbi_needs_grad(n, 2)) { /* db[out] += Σ_rows dy */
        nb_tensor *g = nbi_grad(ctx, n->in[2]);
        if (!g) return ctx->status;
        if (g->stride[0] == 1 || out == 1) { /* row by row, in order, no iterator */
            ctx->be->acc_rows(ctx->be, M, out, gy, g->data);
        } else {
            const int64_t shape[2] = {M, out}, sg[2] = {0, g->stride[0]}, sy[2] = {out, 1};
            const int64_t *st[2] = {sg, sy};
            nbi_iter it;
            nbi_iter_init(&it, 2, shape, 2, st);
            ctx->be->acc_strided(ctx->be, &it, g->data, gy); /* row by row, in order */
        }
    }
    return NB_OK;
}

static nb_status linear_backward(nb_ctx *ctx, nbi_node *n) {
    return affine_backward(ctx, n, n->out->grad->data);
}

/* Check cases: a batch with a bias, rank-3 x, no bias, a single vector x. */
static nb_status linear_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                            nbi_check_case *c) {
    (void)def;
    int64_t M = 1 + (int64_t)nb_rng_below(rng, 4), K = 1 + (int64_t)nb_rng_below(rng, 5),
            N = 1 + (int64_t)nb_rng_below(rng, 4), B = 2 + (int64_t)nb_rng_below(rng, 2);
    int64_t xs[3];
    int xr;
    switch (k % 4) {
    case 1:
        xr = 3, xs[0] = B, xs[1] = M, xs[2] = K;
        break;
    case 3:
        xr = 1, xs[0] = K;
        break;
    default:
        xr = 2, xs[0] = M, xs[1] = K;
        break;
    }
    c->in[0] = nbi_gen_input(ctx, rng, xr, xs, -1.0f, 1.0f, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, 2, (int64_t[]){K, N}, -1.0f, 1.0f, NULL, 0, 0.0f);
    c->n_in = 2;
    if (k % 4 != 2) c->in[c->n_in++] = nbi_gen_input(ctx, rng, 1, &N, -1.0f, 1.0f, NULL, 0, 0.0f);
    for (int i = 0; i < c->n_in; i++)
        if (!c->in[i]) return ctx->status;
    return NB_OK;
}

const nbi_op_def nbi_op_linear = {
    .name = "linear",
    .infer = linear_infer,
    .forward = linear_forward,
    .backward = linear_backward,
    .check = {.gen = linear_gen, .cases = 4, .atol = 1e-4f, .rtol = 1e-4f},
};

nb_tensor *nb_linear(nb_ctx *ctx, nb_tensor *x, nb_tensor *W, nb_tensor *b) {
    nb_tensor *in[3] = {x, W, b};
    return nbi_apply(ctx, NBI_OP_LINEAR, in, b ? 3 : 2, NULL);
}

/* ---- linear_act: attrs i[0] = the activation's unary op (an NBI_OP_ id), f[0..1] its
 * parameters. ---- */

static bool is_unary_op(int64_t op) {
    return op >= 0 && op < NBI_OP_COUNT && nbi_ops[op]->forward == nbi_op_sigmoid.forward &&
           nbi_ops[op]->infer == nbi_op_sigmoid.infer;
}

static nb_status linear_act_infer(const nbi_node *n, nb_tensor *out) {
    if (!n->attrs || !is_unary_op(n->attrs->i[0]))
        return nbi_shape_error(n, "the activation is not an elementwise op");
    return linear_infer(n, out);
}

static nb_status linear_act_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x, *W;
    lin_saved *k = contig_inputs(ctx, n, true, &x, &W);
    if (!k) return ctx->status;
    float *y = n->out->data, *z = k->z ? k->z : y; /* not recorded: f in place */
    nb_status s = affine(ctx, n, x, W, z);
    if (s != NB_OK) return s;
    ctx->be->unary(ctx->be, nbi_ops[n->attrs->i[0]]->aux, n->out->numel, z, y, n->attrs->f);
    return NB_OK;
}

static nb_status linear_act_backward(nb_ctx *ctx, nbi_node *n) {
    const lin_saved *k = n->saved;
    const int64_t numel = n->out->numel;
    float *gz = k->gz;                       /* room forward kept in its block */
    ctx->be->unary_dx(ctx->be, nbi_ops[n->attrs->i[0]]->aux, numel, k->z, n->out->data,
                      n->out->grad->data, gz, n->attrs->f); /* dz = dy ⊙ f'(z, y) */
    return affine_backward(ctx, n, gz);
}

/* linear's cases, each with a smooth activation (relu's kink is left to test_nn, which
 * compares the op with its composition). */
static nb_status linear_act_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                                nbi_check_case *c) {
    static const struct {
        int op;
        float p0, p1;
    } acts[] = {{NBI_OP_SIGMOID, 0, 0}, {NBI_OP_TANH, 0, 0}, {NBI_OP_GELU, 0, 0},
                {NBI_OP_SILU, 0, 0},    {NBI_OP_SOFTPLUS, 2, 20}, {NBI_OP_MISH, 0, 0}};
    nb_status s = linear_gen(def, ctx, rng, k, c);
    c->has_attrs = 1;
    c->attrs.i[0] = acts[k % 6].op;
    c->attrs.f[0] = acts[k % 6].p0;
    c->attrs.f[1] = acts[k % 6].p1;
    return s;
}

const nbi_op_def nbi_op_linear_act = {
    .name = "linear_act",
    .infer = linear_act_infer,
    .forward = linear_act_forward,
    .backward = linear_act_backward,
    .check = {.gen = linear_act_gen, .cases = 6, .atol = 1e-4f, .rtol = 1e-4f},
};

nb_tensor *nbi_linear_act(nb_ctx *ctx, nb_tensor *x, nb_tensor *W, nb_tensor *b, int act_op,
                          const float *p) {
    nb_tensor *in[3] = {x, W, b};
    nbi_attrs a = {.i = {act_op}, .f = {p ? p[0] : 0.0f, p ? p[1] : 0.0f}};
    if (ctx && ctx->check) { /* check mode names the op that made a NaN: keep z a result */
        nb_tensor *z = nbi_apply(ctx, NBI_OP_LINEAR, in, b ? 3 : 2, NULL);
        return nbi_apply(ctx, act_op, &z, 1, &a);
    }
    return nbi_apply(ctx, NBI_OP_LINEAR_ACT, in, b ? 3 : 2, &a);
}
