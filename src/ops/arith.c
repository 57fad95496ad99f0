/* ops/arith.c — add, sub, mul, div, pow with NumPy broadcasting.
 *
 * Forward walks the output shape with each input's broadcast strides (0 along broadcast
 * dimensions) and calls the back end's binary kernel per innermost run. Backward walks the
 * same shape and calls the binary backward kernel per run, which accumulates into each
 * input's gradient through *its* broadcast strides, so summing over the broadcast dimensions
 * (un-broadcasting) falls out of the stride being 0. The walks are over shapes and strides;
 * the kernels touch the data. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>

static nb_status binary_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *a = n->in[0], *b = n->in[1];
    if (a->dtype != NB_F32 || b->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (!nbi_broadcast_shape(a->rank, a->shape, b->rank, b->shape, &out->rank, out->shape))
        return nbi_shape_error(n, "cannot broadcast the shapes together");
    out->dtype = NB_F32;
    return NB_OK;
}

typedef struct run_ctx {
    const nbi_backend *be;
    int id;
    const float *a, *b;
    float *y;
} run_ctx;

static void fwd_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    run_ctx *r = user;
    r->be->binary(r->be, r->id, len, r->a + off[1], inner[1], r->b + off[2], inner[2],
                  r->y + off[0]);
}

/* ---- the row-broadcast fast path ------------------------------------------------------------
 * The common broadcasts — same shapes, a bias row added to every row of a batch, a scalar —
 * have contiguous operands that each either fill the output or repeat one block along its
 * leading dimensions: x's shape without its leading 1s equals the output's trailing
 * dimensions. Then output element i reads x[i mod numel(x)], and the output splits into R
 * rows of C elements in which every operand runs with stride 1 (or 0 for a single element).
 * This skips the general iterator, whose setup costs more than such small ops themselves. */

/* numel(x) when x repeats as a block along the output's leading dimensions, else 0. */
static int64_t block_len(const nb_tensor *x, const nb_tensor *y) {
    if (!nb_tensor_is_contiguous(x)) return 0;
    int lead = 0;
    while (lead < x->rank && x->shape[lead] == 1) lead++;
    int k = x->rank - lead;
    if (k > y->rank) return 0;
    for (int i = 0; i < k; i++)
        if (x->shape[lead + i] != y->shape[y->rank - k + i]) return 0;
    return x->numel;
}

typedef struct rows {
    int64_t R, C;        /* rows × row length = numel(y) */
    int64_t na, nb;      /* the operands' block lengths */
} rows;

static bool rows_of(const nb_tensor *a, const nb_tensor *b, const nb_tensor *y, rows *r) {
    if (y->numel == 0 || !nb_tensor_is_contiguous(y)) return false;
    r->na = block_len(a, y);
    r->nb = block_len(b, y);
    if (!r->na || !r->nb) return false;
    r->C = y->numel;
    if (r->na > 1 && r->na < r->C) r->C = r->na;
    if (r->nb > 1 && r->nb < r->C) r->C = r->nb;
    r->R = y->numel / r->C;
    return true;
}

/* Where row i starts in an operand of block length nx (a single element: always at 0). */
static inline int64_t row_off(int64_t nx, int64_t i, int64_t C) {
    return nx == 1 ? 0 : (i * C) % nx;
}

static nb_status binary_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    const nbi_backend *be = ctx->be;
    const int id = nbi_ops[n->op]->aux;
    rows r;
    if (rows_of(a, b, y, &r)) {
        const float *pa = a->data, *pb = b->data;
        float *py = y->data;
        int64_t sa = r.na > 1, sb = r.nb > 1;
        for (int64_t i = 0; i < r.R; i++)
            be->binary(be, id, r.C, pa + row_off(r.na, i, r.C), sa, pb + row_off(r.nb, i, r.C), sb,
                       py + i * r.C);
        return NB_OK;
    }
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK];
    nbi_broadcast_strides(a, y->rank, y->shape, sa);
    nbi_broadcast_strides(b, y->rank, y->shape, sb);
    const int64_t *st[3] = {y->stride, sa, sb};
    nbi_iter it;
    nbi_iter_init(&it, y->rank, y->shape, 3, st);
    run_ctx rc = {be, id, a->data, b->data, y->data};
    nbi_iter_run(&it, fwd_run, &rc);
    return NB_OK;
}

/* ---- backward ----------------------------------------------------------------------------- */

typedef struct bwd_ctx {
    const nbi_backend *be;
    int id, which; /* the kernel; which input's gradient */
    const float *gy, *y, *a, *b;
    float *g;
} bwd_ctx;

/* operands: 0 = output (gy, y), 1 = a, 2 = b, 3 = the gradient being accumulated */
static void bwd_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    const bwd_ctx *c = user;
    c->be->binary_bwd(c->be, c->id, c->which, len, c->gy + off[0], inner[0], c->y + off[0],
                      c->a + off[1], inner[1], c->b + off[2], inner[2], c->g + off[3], inner[3]);
}

static nb_status binary_backward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *y = n->out, *gy = y->grad;
    rows r;
    if (rows_of(n->in[0], n->in[1], y, &r)) {
        const int id = nbi_ops[n->op]->aux;
        for (int w = 0; w < 2; w++) {
            if (!nbi_needs_grad(n, w)) continue;
            int64_t ng = w == 0 ? r.na : r.nb; /* the gradient has its input's shape */
            /* d(a + b)/da and /db, d(a − b)/da are 1: a gradient of y's size made here is a
             * copy of gy (what accumulating into zeros gives, without the fill and the add) */
            const bool copies = ng == y->numel && (id == NBI_B_ADD || (id == NBI_B_SUB && w == 0));
            if (copies && nbi_grad_take(ctx, n, n->in[w])) continue; /* gy itself, no copy */
            bool fresh = false;
            nb_tensor *g = copies ? nbi_grad_write(ctx, n->in[w], &fresh) : nbi_grad(ctx, n->in[w]);
            if (!g) return ctx->status;
            if (fresh) {
                ctx->be->copy(ctx->be, g->data, gy->data, sizeof(float) * (size_t)y->numel);
                continue;
            }
            const int64_t inner[4] = {1, r.na > 1, r.nb > 1, ng > 1};
            bwd_ctx c = {ctx->be, nbi_ops[n->op]->aux, w, gy->data, y->data, n->in[0]->data,
                         n->in[1]->data, g->data};
            for (int64_t i = 0; i < r.R; i++) {
                const int64_t off[4] = {i * r.C, row_off(r.na, i, r.C), row_off(r.nb, i, r.C),
                                        row_off(ng, i, r.C)};
                bwd_run(r.C, off, inner, &c);
            }
        }
        return NB_OK;
    }
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK], sg[NB_MAX_RANK];
    nbi_broadcast_strides(n->in[0], y->rank, y->shape, sa);
    nbi_broadcast_strides(n->in[1], y->rank, y->shape, sb);
    for (int w = 0; w < 2; w++) {
        if (!nbi_needs_grad(n, w)) continue;
        nb_tensor *g = nbi_grad(ctx, n->in[w]);
        if (!g) return ctx->status;
        nbi_broadcast_strides(g, y->rank, y->shape, sg);
        const int64_t *st[4] = {y->stride, sa, sb, sg};
        nbi_iter it;
        nbi_iter_init(&it, y->rank, y->shape, 4, st);
        bwd_ctx c = {ctx->be, nbi_ops[n->op]->aux, w, gy->data, y->data, n->in[0]->data,
                     n->in[1]->data, g->data};
        nbi_iter_run(&it, bwd_run, &c);
    }
    return NB_OK;
}

/* One line per op: the public function and the registry entry. The kernel id has the op's
 * ID (NBI_B_ADD for NBI_OP_ADD). */
#define BINARY_OP(NM, ID, LO, HI, ATOL, RTOL)                                               \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = binary_infer,                                                                \
        .forward = binary_forward,                                                            \
        .backward = binary_backward,                                                          \
        .aux = NBI_B_##ID,                                                                    \
        .check = {.gen = nbi_gen_binary, .cases = 5, .atol = ATOL, .rtol = RTOL, .lo = LO,    \
                  .hi = HI},                                                                  \
    };                                                                                        \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) {                           \
        nb_tensor *in[2] = {a, b};                                                            \
        return nbi_apply(ctx, NBI_OP_##ID, in, 2, NULL);                                      \
    }

/* Operands of div and pow are drawn from [0.5, 2) so that 1/b and log a stay tame. */
BINARY_OP(add, ADD, -2.0f, 2.0f, 1e-4f, 1e-4f)
BINARY_OP(sub, SUB, -2.0f, 2.0f, 1e-4f, 1e-4f)
BINARY_OP(mul, MUL, -2.0f, 2.0f, 1e-4f, 1e-4f)
BINARY_OP(div, DIV, 0.5f, 2.0f, 1e-4f, 1e-4f)
BINARY_OP(pow, POW, 0.5f, 2.0f, 1e-4f, 1e-4f)
