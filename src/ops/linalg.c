/* ops/linalg.c — the differentiable linear algebra: inverse, solve, det, log|det|, on
 * [..., n, n] tensors batched over the leading dimensions.
 *
 *   Y = A⁻¹              dA = −A⁻ᵀ dY A⁻ᵀ = −Yᵀ dY Yᵀ           (from d(A A⁻¹) = 0)
 *   X = A⁻¹ B            dB = A⁻ᵀ dX,  dA = −dB Xᵀ               (from dX = A⁻¹(dB − dA X))
 *   d = det A            dA = g · det A · A⁻ᵀ                     (Jacobi's formula)
 *   l = log|det A|       dA = g · A⁻ᵀ
 *
 * The ops walk the batch (broadcasting, and the name of each matrix for messages); the back
 * end's linalg entries (kernels/linalg.h) do the rest, one matrix per call: copy it to double,
 * factor P A = L U, solve, round the result to f32 once. Backward factors A again rather than
 * keeping every factor alive on the tape: the tape then holds nothing beyond the op's inputs
 * and output. Singular or ill-conditioned matrices fail with NB_ERR_SINGULAR naming the op,
 * the matrix and the pivot or condition estimate (see include/nabla/linalg.h). */
#include "ops/linalg_batch.h"

#include <string.h>

static int64_t batch_count(int r, const int64_t *shape) {
    int64_t c = 1;
    for (int i = 0; i < r; i++) c *= shape[i];
    return c;
}

static nb_status square_infer(const nbi_node *n, nb_tensor *out, bool keep_matrix) {
    const nb_tensor *a = n->in[0];
    if (a->dtype != NB_F32) return nbi_shape_error(n, "the matrix must be f32");
    if (a->rank < 2) return nbi_shape_error(n, "needs a matrix [..., n, n]");
    if (a->shape[a->rank - 1] != a->shape[a->rank - 2])
        return nbi_shape_error(n, "the matrix must be square");
    out->dtype = NB_F32;
    out->rank = keep_matrix ? a->rank : a->rank - 2;
    for (int i = 0; i < out->rank; i++) out->shape[i] = a->shape[i];
    return NB_OK;
}

/* Walks the matrices of A [..., n, n] broadcast to an r-dimensional batch: where item k's
 * matrix starts, and whether it is another matrix than the previous item's (a broadcast A is
 * factored once for the run of items that share it). Only offsets: the kernels read the data. */
typedef struct a_walk {
    const nb_tensor *a;
    int tb, r;
    const int64_t *bshape;
    int64_t st[NB_MAX_RANK];
    int64_t rs, cs; /* element strides of A's rows and columns */
    int64_t last;   /* offset of the previous item's matrix, or -1 */
} a_walk;

static void walk_init(a_walk *w, const nb_tensor *a, int r, const int64_t *bshape) {
    w->a = a;
    w->tb = a->rank - 2;
    w->r = r;
    w->bshape = bshape;
    nbi_lb_strides(a, w->tb, r, bshape, w->st);
    w->rs = a->stride[w->tb];
    w->cs = a->stride[w->tb + 1];
    w->last = -1;
}

/* Item k's matrix; *fresh is 0 when it is the previous item's (its factors are kept). */
static const float *walk_at(a_walk *w, int64_t k, int *fresh) {
    int64_t off = nbi_lb_off(w->r, w->bshape, w->st, k);
    *fresh = off != w->last;
    w->last = off;
    return (const float *)w->a->data + off;
}

/* The message of a kernel's outcome for item k, naming the matrix ("matrix [1] of ..."). */
static nb_status walk_fail(const a_walk *w, int64_t k, const nbi_la_res *res, const char *fn) {
    char what[256];
    nbi_lb_what(what, sizeof what, w->a, w->tb, w->r, w->bshape, k);
    return nbi_la_error(res, fn, what);
}

/* ---- inverse -------------------------------------------------------------------------------- */

static nb_status inverse_infer(const nbi_node *n, nb_tensor *out) {
    return square_infer(n, out, true);
}

static nb_status inverse_forward(nb_ctx *ctx, nbi_node *n) {
    const nbi_backend *be = ctx->be;
    nb_tensor *a = n->in[0], *y = n->out;
    int r = a->rank - 2;
    int64_t N = a->shape[a->rank - 1], count = batch_count(r, a->shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_inverse(N), "inverse");
    nb_status s = w ? NB_OK : ctx->status;
    a_walk aw;
    walk_init(&aw, a, r, a->shape);
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        int fresh;
        const float *A = walk_at(&aw, k, &fresh);
        nbi_la_res res = be->la_inverse(be, N, A, aw.rs, aw.cs, w, nb_f32(y) + k * N * N, N);
        if (res.code != NBI_LA_OK) s = walk_fail(&aw, k, &res, "inverse");
    }
    nbi_arena_release(&ctx->arena, mark);
    return s;
}

/* dA −= Yᵀ (dY Yᵀ), per matrix, in double */
static nb_status inverse_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    const nbi_backend *be = ctx->be;
    nb_tensor *a = n->in[0], *y = n->out;
    nb_tensor *ga = nbi_grad(ctx, a);
    if (!ga) return ctx->status;
    int64_t N = a->shape[a->rank - 1], count = batch_count(a->rank - 2, a->shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_inverse(N), "inverse backward");
    if (!w) return ctx->status;
    for (int64_t k = 0; k < count; k++)
        be->la_inverse_bwd(be, N, nb_f32(y) + k * N * N, nb_f32(y->grad) + k * N * N, w,
                           nb_f32(ga) + k * N * N);
    nbi_arena_release(&ctx->arena, mark);
    return NB_OK;
}

/* ---- solve ---------------------------------------------------------------------------------- */

/* The right-hand side's geometry: a vector B [n] (K = 1) or a batch of matrices [..., n, K]. */
typedef struct rhs {
    int tb; /* B's batch rank */
    int64_t K;
    int64_t rs, cs; /* element strides of B's rows and columns */
} rhs;

static rhs rhs_of(const nb_tensor *b) {
    rhs h;
    if (b->rank == 1) {
        h.tb = 0;
        h.K = 1;
        h.rs = b->stride[0];
        h.cs = 0;
    } else {
        h.tb = b->rank - 2;
        h.K = b->shape[b->rank - 1];
        h.rs = b->stride[b->rank - 2];
        h.cs = b->stride[b->rank - 1];
    }
    return h;
}

static nb_status solve_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *a = n->in[0], *b = n->in[1];
    if (a->dtype != NB_F32 || b->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (a->rank < 2) return nbi_shape_error(n, "A must be a matrix [..., n, n]");
    int64_t N = a->shape[a->rank - 1];
    if (a->shape[a->rank - 2] != N) return nbi_shape_error(n, "A must be square");
    if (b->rank < 1) return nbi_shape_error(n, "B must be [n] or [..., n, k]");
    if (b->rank == 1) {
        if (b->shape[0] != N) return nbi_shape_error(n, "B's length differs from A's order");
        out->rank = a->rank - 1;
        for (int i = 0; i < out->rank; i++) out->shape[i] = a->shape[i];
    } else {
        if (b->shape[b->rank - 2] != N)
            return nbi_shape_error(n, "B's rows differ from A's order (for a batch of vectors "
                                      "use B [..., n, 1])");
        int r;
        int64_t shape[NB_MAX_RANK];
        if (!nbi_broadcast_shape(a->rank - 2, a->shape, b->rank - 2, b->shape, &r, shape))
            return nbi_shape_error(n, "cannot broadcast the batch dimensions");
        if (r + 2 > NB_MAX_RANK) return nbi_shape_error(n, "result rank exceeds 8");
        shape[r] = N;
        shape[r + 1] = b->shape[b->rank - 1];
        out->rank = r + 2;
        memcpy(out->shape, shape, sizeof shape);
    }
    out->dtype = NB_F32;
    return NB_OK;
}

/* The output batch: every dimension of X but the matrix (or vector) ones. */
static int solve_batch(const nb_tensor *b, const nb_tensor *x) {
    return b->rank == 1 ? x->rank - 1 : x->rank - 2;
}

static nb_status solve_forward(nb_ctx *ctx, nbi_node *n) {
    const nbi_backend *be = ctx->be;
    nb_tensor *a = n->in[0], *b = n->in[1], *x = n->out;
    rhs h = rhs_of(b);
    int r = solve_batch(b, x);
    int64_t N = a->shape[a->rank - 1], K = h.K, count = batch_count(r, x->shape);
    int64_t bst[NB_MAX_RANK];
    nbi_lb_strides(b, h.tb, r, x->shape, bst);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_solve(N, K), "solve");
    nb_status s = w ? NB_OK : ctx->status;
    a_walk aw;
    walk_init(&aw, a, r, x->shape);
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        int fresh;
        const float *A = walk_at(&aw, k, &fresh);
        const float *B = nb_f32(b) + nbi_lb_off(r, x->shape, bst, k);
        nbi_la_res res = be->la_solve(be, N, K, A, aw.rs, aw.cs, fresh, B, h.rs, h.cs, w,
                                      nb_f32(x) + k * N * K, K);
        if (res.code != NBI_LA_OK) s = walk_fail(&aw, k, &res, "solve");
    }
    nbi_arena_release(&ctx->arena, mark);
    return s;
}

/* dB += A⁻ᵀ dX;  dA −= (A⁻ᵀ dX) Xᵀ. Broadcast operands accumulate over the batch items that
 * share them (their gradient strides are 0 there). */
static nb_status solve_backward(nb_ctx *ctx, nbi_node *n) {
    const nbi_backend *be = ctx->be;
    nb_tensor *a = n->in[0], *b = n->in[1], *x = n->out;
    bool need_a = nbi_needs_grad(n, 0), need_b = nbi_needs_grad(n, 1);
    if (!need_a && !need_b) return NB_OK;
    nb_tensor *ga = need_a ? nbi_grad(ctx, a) : NULL, *gb = need_b ? nbi_grad(ctx, b) : NULL;
    if ((need_a && !ga) || (need_b && !gb)) return ctx->status;
    rhs h = rhs_of(b);
    int r = solve_batch(b, x);
    int64_t N = a->shape[a->rank - 1], K = h.K, count = batch_count(r, x->shape);
    int64_t gast[NB_MAX_RANK], gbst[NB_MAX_RANK];
    if (ga) nbi_lb_strides(ga, a->rank - 2, r, x->shape, gast);
    if (gb) nbi_lb_strides(gb, h.tb, r, x->shape, gbst);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_solve(N, K), "solve backward");
    nb_status s = w ? NB_OK : ctx->status;
    a_walk aw;
    walk_init(&aw, a, r, x->shape);
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        int fresh;
        const float *A = walk_at(&aw, k, &fresh);
        float *GA = ga ? nb_f32(ga) + nbi_lb_off(r, x->shape, gast, k) : NULL;
        float *GB = gb ? nb_f32(gb) + nbi_lb_off(r, x->shape, gbst, k) : NULL;
        nbi_la_res res = be->la_solve_bwd(be, N, K, A, aw.rs, aw.cs, fresh, nb_f32(x) + k * N * K,
                                          nb_f32(x->grad) + k * N * K, w, GB, GA);
        if (res.code != NBI_LA_OK) s = walk_fail(&aw, k, &res, "solve backward");
    }
    nbi_arena_release(&ctx->arena, mark);
    return s;
}

/* ---- det and log|det| -------------------------------------------------------------------- */

static nb_status det_infer(const nbi_node *n, nb_tensor *out) {
    return square_infer(n, out, false);
}

/* aux 0: det A; aux 1: log|det A|. A numerically singular matrix (rcond < n·DBL_EPSILON)
 * gets 0 / −∞: see nb_linalg_det. */
static nb_status det_forward(nb_ctx *ctx, nbi_node *n) {
    const nbi_backend *be = ctx->be;
    nb_tensor *a = n->in[0], *y = n->out;
    bool log_form = nbi_ops[n->op]->aux == 1;
    const char *fn = nbi_ops[n->op]->name;
    int r = a->rank - 2;
    int64_t N = a->shape[a->rank - 1], count = batch_count(r, a->shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_lu(N), fn);
    nb_status s = w ? NB_OK : ctx->status;
    a_walk aw;
    walk_init(&aw, a, r, a->shape);
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        int fresh;
        const float *A = walk_at(&aw, k, &fresh);
        float *out = nb_f32(y) + k;
        nbi_la_res res = be->la_det(be, N, A, aw.rs, aw.cs, fresh, w, log_form ? NULL : out,
                                    log_form ? out : NULL, NULL, NULL);
        if (res.code != NBI_LA_OK) s = walk_fail(&aw, k, &res, fn);
    }
    nbi_arena_release(&ctx->arena, mark);
    return s;
}

/* det:    dA += g · det A · A⁻ᵀ   (the adjugate: fine while A is not numerically singular)
 * logdet: dA += g · A⁻ᵀ          (an inverse: needs A well-conditioned, as nb_inverse) */
static nb_status det_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    const nbi_backend *be = ctx->be;
    nb_tensor *a = n->in[0], *y = n->out;
    nb_tensor *ga = nbi_grad(ctx, a);
    if (!ga) return ctx->status;
    bool log_form = nbi_ops[n->op]->aux == 1;
    const char *fn = log_form ? "logabsdet backward" : "det backward";
    int r = a->rank - 2;
    int64_t N = a->shape[a->rank - 1], count = batch_count(r, a->shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_inverse(N), fn);
    nb_status s = w ? NB_OK : ctx->status;
    a_walk aw;
    walk_init(&aw, a, r, a->shape);
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        int fresh;
        const float *A = walk_at(&aw, k, &fresh);
        nbi_la_res res = be->la_det_bwd(be, N, A, aw.rs, aw.cs, fresh, log_form,
                                        nb_f32(y->grad) + k, w, nb_f32(ga) + k * N * N);
        if (res.code != NBI_LA_OK) s = walk_fail(&aw, k, &res, fn);
    }
    nbi_arena_release(&ctx->arena, mark);
    return s;
}

/* ---- gradient-check generators ---------------------------------------------------------------
 * Well-conditioned matrices: entries uniform in [-1, 1) plus ±n on the diagonal, so that every
 * matrix is strictly diagonally dominant (hence invertible, κ small) and the finite-difference
 * steps of 2^-6 stay far from singularity. A negative shift gives det of sign (−1)^n. The
 * dominant entries are then moved off the diagonal — row i goes to row (i + 1) mod n, which
 * keeps κ — so that partial pivoting must swap rows and the pivoted paths (P, Pᵀ in the
 * transposed solves of backward) are exercised. */
static nb_tensor *gen_square(nb_ctx *ctx, nb_rng *rng, int rank, const int64_t *shape, float sign) {
    nb_tensor *t = nbi_gen_input(ctx, rng, rank, shape, -1.0f, 1.0f, NULL, 0, 0.0f);
    if (!t) return NULL;
    int64_t n = shape[rank - 1], count = t->numel / (n * n);
    float *p = t->data, row[8];
    NBI_ASSERT(n <= 8);
    for (int64_t k = 0; k < count; k++) {
        float *m = p + k * n * n;
        for (int64_t i = 0; i < n; i++) m[i * n + i] += sign * (float)n;
        memcpy(row, m + (n - 1) * n, sizeof(float) * (size_t)n);
        memmove(m + n, m, sizeof(float) * (size_t)((n - 1) * n));
        memcpy(m, row, sizeof(float) * (size_t)n);
    }
    return t;
}

static int64_t gen_order(nb_rng *rng) {
    return 2 + (int64_t)nb_rng_below(rng, 3);
} /* 2..4 */

/* inverse: [1,1]; [n,n]; [2,n,n]; [n,n] with a negative diagonal */
static nb_status inverse_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                             nbi_check_case *c) {
    (void)def;
    int64_t n = k == 0 ? 1 : gen_order(rng);
    int64_t shape[3] = {2, n, n};
    c->n_in = 1;
    c->in[0] = k == 2 ? gen_square(ctx, rng, 3, shape, 1.0f)
                      : gen_square(ctx, rng, 2, shape + 1, k == 3 ? -1.0f : 1.0f);
    return c->in[0] ? NB_OK : ctx->status;
}

/* solve: [n,n]·[n,m]; [n,n]·[n]; [2,n,n]·[2,n,m]; A broadcast: [n,n]·[3,n,m];
 * both broadcast: [2,1,n,n]·[3,n,1] */
static nb_status solve_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                           nbi_check_case *c) {
    (void)def;
    int64_t n = gen_order(rng), m = 1 + (int64_t)nb_rng_below(rng, 3);
    int64_t sa[4], sb[4];
    int ra = 2, rb = 2;
    switch (k) {
    case 0:
        sa[0] = sa[1] = n;
        sb[0] = n;
        sb[1] = m;
        break;
    case 1:
        sa[0] = sa[1] = n;
        rb = 1;
        sb[0] = n;
        break;
    case 2:
        ra = rb = 3;
        sa[0] = sb[0] = 2;
        sa[1] = sa[2] = n;
        sb[1] = n;
        sb[2] = m;
        break;
    case 3:
        sa[0] = sa[1] = n;
        rb = 3;
        sb[0] = 3;
        sb[1] = n;
        sb[2] = m;
        break;
    default:
        ra = 4;
        sa[0] = 2;
        sa[1] = 1;
        sa[2] = sa[3] = n;
        rb = 3;
        sb[0] = 3;
        sb[1] = n;
        sb[2] = 1;
        break;
    }
    c->n_in = 2;
    c->in[0] = gen_square(ctx, rng, ra, sa, 1.0f);
    c->in[1] = nbi_gen_input(ctx, rng, rb, sb, -1.0f, 1.0f, NULL, 0, 0.0f);
    return (c->in[0] && c->in[1]) ? NB_OK : ctx->status;
}

/* det and logabsdet: [1,1]; [n,n]; [n,n] negative diagonal (det sign (−1)^n); [2,n,n] */
static nb_status det_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c) {
    (void)def;
    int64_t n = k == 0 ? 1 : gen_order(rng);
    if (k == 2) n = 3; /* odd: a negative determinant */
    int64_t shape[3] = {2, n, n};
    c->n_in = 1;
    c->in[0] = k == 3 ? gen_square(ctx, rng, 3, shape, 1.0f)
                      : gen_square(ctx, rng, 2, shape + 1, k == 2 ? -1.0f : 1.0f);
    return c->in[0] ? NB_OK : ctx->status;
}

const nbi_op_def nbi_op_inverse = {
    .name = "inverse",
    .infer = inverse_infer,
    .forward = inverse_forward,
    .backward = inverse_backward,
    .check = {.gen = inverse_gen, .cases = 4, .atol = 1e-4f, .rtol = 1e-4f},
};

const nbi_op_def nbi_op_solve = {
    .name = "solve",
    .infer = solve_infer,
    .forward = solve_forward,
    .backward = solve_backward,
    .check = {.gen = solve_gen, .cases = 5, .atol = 1e-4f, .rtol = 1e-4f},
};

const nbi_op_def nbi_op_det = {
    .name = "det",
    .infer = det_infer,
    .forward = det_forward,
    .backward = det_backward,
    .aux = 0,
    /* det reaches ~4^4 here; its f32 rounding (~2e-5) divided by the 12h of the stencil gives
     * numeric errors of a few 1e-4 */
    .check = {.gen = det_gen, .cases = 4, .atol = 1e-3f, .rtol = 1e-4f},
};

const nbi_op_def nbi_op_logabsdet = {
    .name = "logabsdet",
    .infer = det_infer,
    .forward = det_forward,
    .backward = det_backward,
    .aux = 1,
    .check = {.gen = det_gen, .cases = 4, .atol = 1e-4f, .rtol = 1e-4f},
};

nb_tensor *nb_inverse(nb_ctx *ctx, nb_tensor *a) {
    return nbi_apply(ctx, NBI_OP_INVERSE, &a, 1, NULL);
}

nb_tensor *nb_solve(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) {
    nb_tensor *in[2] = {a, b};
    return nbi_apply(ctx, NBI_OP_SOLVE, in, 2, NULL);
}

nb_tensor *nb_det(nb_ctx *ctx, nb_tensor *a) {
    return nbi_apply(ctx, NBI_OP_DET, &a, 1, NULL);
}

nb_tensor *nb_logabsdet(nb_ctx *ctx, nb_tensor *a) {
    return nbi_apply(ctx, NBI_OP_LOGABSDET, &a, 1, NULL);
}
