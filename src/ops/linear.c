/* ops/linear.c — the affine map of a dense layer as one op:
 *
 *   y[..., out] = x[..., in] · W[in, out] + b[out]          b optional
 *
 *   dx = dy · Wᵀ,   dW = Σ_rows xᵀ dy,   db = Σ_rows dy
 *
 * It is exactly nb_add(nb_matmul(x, W), b) (test_nn compares them, values and gradients), in
 * one tape node instead of two and without the intermediate x·W: the bias is written into y
 * first and GEMM accumulates onto it (beta = 1), and backward runs two GEMMs and a column sum
 * with no broadcasting machinery. A dense layer's forward is this op and an activation. All
 * leading dimensions of x are rows: x is read as a matrix [M, in], M = numel / in. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

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

static nb_status linear_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = nbi_contig(ctx, n->in[0]), *W = nbi_contig(ctx, n->in[1]);
    if (!x || !W) return ctx->status;
    if (n->recording && (x != n->in[0] || W != n->in[1])) {
        nb_tensor **keep = nbi_ctx_alloc(ctx, 2 * sizeof *keep, "linear");
        if (!keep) return ctx->status;
        keep[0] = x;
        keep[1] = W;
        n->saved = keep;
    }
    const int64_t in = W->shape[0], out = W->shape[1];
    const int64_t M = in ? x->numel / in : n->out->numel / (out ? out : 1);
    float *y = n->out->data;
    float beta = 0.0f;
    if (n->n_in > 2) { /* y = b in every row (b read with stride 0 down the rows), then
                          y += x W */
        nb_tensor *b = n->in[2];
        const int64_t shape[2] = {M, out}, sy[2] = {out, 1}, sb[2] = {0, b->stride[0]};
        const int64_t *st[2] = {sy, sb};
        nbi_iter it;
        nbi_iter_init(&it, 2, shape, 2, st);
        ctx->be->copy_strided(ctx->be, &it, y, b->data);
        beta = 1.0f;
    }
    if (M == 0 || out == 0) return NB_OK;
    return ctx->be->sgemm(ctx->be, 0, 0, M, out, in, 1.0f, x->data, ld(in), W->data, ld(out), beta, y,
                       ld(out));
}

static nb_status linear_backward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = n->in[0], *W = n->in[1];
    if (n->saved) {
        x = ((nb_tensor **)n->saved)[0];
        W = ((nb_tensor **)n->saved)[1];
    }
    const int64_t in = W->shape[0], out = W->shape[1];
    const int64_t M = out ? n->out->numel / out : 0;
    const float *gy = n->out->grad->data;
    if (M == 0 || out == 0) return NB_OK; /* no output, no gradient */
    nb_status s;
    if (nbi_needs_grad(n, 0) && in > 0) { /* dx[M,in] += dy[M,out] · Wᵀ */
        nb_tensor *g = nbi_grad(ctx, n->in[0]);
        if (!g) return ctx->status;
        s = ctx->be->sgemm(ctx->be, 0, 1, M, in, out, 1.0f, gy, ld(out), W->data, ld(out), 1.0f, g->data,
                        ld(in));
        if (s != NB_OK) return s;
    }
    if (nbi_needs_grad(n, 1) && in > 0) { /* dW[in,out] += xᵀ · dy */
        nb_tensor *g = nbi_grad(ctx, n->in[1]);
        if (!g) return ctx->status;
        s = ctx->be->sgemm(ctx->be, 1, 0, in, out, M, 1.0f, x->data, ld(in), gy, ld(out), 1.0f, g->data,
                        ld(out));
        if (s != NB_OK) return s;
    }
    if (n->n_in > 2 && nbi_needs_grad(n, 2)) { /* db[out] += Σ_rows dy */
        nb_tensor *g = nbi_grad(ctx, n->in[2]);
        if (!g) return ctx->status;
        const int64_t shape[2] = {M, out}, sg[2] = {0, 1}, sy[2] = {out, 1};
        const int64_t *st[2] = {sg, sy};
        nbi_iter it;
        nbi_iter_init(&it, 2, shape, 2, st);
        ctx->be->acc_strided(ctx->be, &it, g->data, gy); /* row by row, in order */
    }
    return NB_OK;
}

/* Check cases: a batch with a bias, rank-3 x, no bias, a single vector x. */
static nb_status linear_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                            nbi_check_case *c) {
    (void)def;
    int64_t M = 1 + (int64_t)nb_rng_below(rng, 4), K = 1 + (int64_t)nb_rng_below(rng, 5),
            N = 1 + (int64_t)nb_rng_below(rng, 4), B = 2 + (int64_t)nb_rng_below(rng, 2);
    int64_t xs[3];
    int xr;
    switch (k) {
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
    if (k != 2) c->in[c->n_in++] = nbi_gen_input(ctx, rng, 1, &N, -1.0f, 1.0f, NULL, 0, 0.0f);
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
