/* ops/factor.c — the factorisations on tensors, batched over leading dimensions: LU, sign and
 * log|det|, the condition estimate, Cholesky (and solving with it), QR and least squares.
 *
 * These are not ops in the registry: they are not recorded on the tape and their results carry
 * no gradient (the differentiable linear algebra is in ops/linalg.c). They follow the ops'
 * error rule all the same: on failure the context's sticky status is set and NULL (or the
 * status) returned, with a message naming the function, the matrix and its shape. The work is
 * done by the back end's linalg entries (kernels/linalg.h), one matrix per call, in double;
 * these functions walk the batch. */
#include "ops/linalg_batch.h"

#include <string.h>

/* Common entry checks: a context, non-NULL f32 inputs (a NULL input means an earlier op
 * failed: its message stands). */
static bool enter(nb_ctx *ctx, const char *fn, nb_tensor *const *in, int n) {
    if (!ctx) {
        nbi_error(NB_ERR_ARG, "%s: context is NULL (create one with nb_ctx_new)", fn);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!in[i]) {
            if (ctx->status == NB_OK)
                nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: input %d is NULL", fn, i));
            return false;
        }
        if (in[i]->dtype != NB_F32) {
            char s[96];
            nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: input %d is %s; f32 is needed", fn, i,
                                    nb_shape_str(in[i], s, sizeof s)));
            return false;
        }
    }
    return true;
}

/* The status to return when enter() refused: the context's, or NB_ERR_ARG without one. */
static nb_status refused(const nb_ctx *ctx) {
    return ctx && ctx->status != NB_OK ? ctx->status : NB_ERR_ARG;
}

/* Records an allocation failure (its message is already set) and returns the status. */
static nb_status nomem(nb_ctx *ctx) {
    nbi_fail(ctx, NB_ERR_NOMEM);
    return ctx->status;
}

/* "fn: what (inputs f32[..], f32[..])" as NB_ERR_SHAPE, recorded in ctx. */
static nb_status shape_fail(nb_ctx *ctx, const char *fn, const char *what, const nb_tensor *a,
                            const nb_tensor *b) {
    char sa[96], sb[96];
    nb_shape_str(a, sa, sizeof sa);
    if (b)
        nbi_error(NB_ERR_SHAPE, "%s: %s (inputs %s, %s)", fn, what, sa,
                  nb_shape_str(b, sb, sizeof sb));
    else
        nbi_error(NB_ERR_SHAPE, "%s: %s (input %s)", fn, what, sa);
    nbi_fail(ctx, NB_ERR_SHAPE);
    return NB_ERR_SHAPE;
}

static bool square_ok(nb_ctx *ctx, const char *fn, const nb_tensor *a) {
    if (a->rank < 2) {
        shape_fail(ctx, fn, "needs a matrix [..., n, n]", a, NULL);
        return false;
    }
    if (a->shape[a->rank - 1] != a->shape[a->rank - 2]) {
        shape_fail(ctx, fn, "the matrix must be square", a, NULL);
        return false;
    }
    return true;
}

static int64_t batch_count(int r, const int64_t *shape) {
    int64_t c = 1;
    for (int i = 0; i < r; i++) c *= shape[i];
    return c;
}

/* Item k of a's own batch: where its matrix starts. */
static const float *item(const nb_tensor *a, int64_t k) {
    int tb = a->rank - 2;
    int64_t st[NB_MAX_RANK];
    nbi_lb_strides(a, tb, tb, a->shape, st);
    return nb_f32(a) + nbi_lb_off(tb, a->shape, st, k);
}

/* The message of a kernel's outcome for item k of t (its batch broadcast to r dimensions). */
static nb_status item_fail(const char *fn, const nb_tensor *t, int r, const int64_t *shape,
                           int64_t k, const nbi_la_res *res) {
    char what[256];
    nbi_lb_what(what, sizeof what, t, t->rank - 2, r, shape, k);
    return nbi_la_error(res, fn, what);
}

/* ---- LU, slogdet, rcond: one LU per matrix ----------------------------------------------- */

/* which: 0 LU factors and pivots into o1 (f32) and o2 (i32); 1 sign and log|det| into o1, o2;
 * 2 rcond into o1. */
static nb_status lu_family(nb_ctx *ctx, const char *fn, nb_tensor *a, int which, nb_tensor *o1,
                           nb_tensor *o2) {
    const nbi_backend *be = ctx->be;
    int r = a->rank - 2;
    int64_t n = a->shape[r], count = batch_count(r, a->shape);
    int64_t rs = a->stride[r], cs = a->stride[r + 1];
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_lu(n), fn);
    if (!w) return ctx->status;
    nb_status s = NB_OK;
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        nbi_la_res res;
        if (which == 0)
            res = be->la_lu(be, n, item(a, k), rs, cs, w, nb_f32(o1) + k * n * n, n,
                            nb_i32(o2) + k * n);
        else
            res = be->la_det(be, n, item(a, k), rs, cs, 1, w, NULL,
                             which == 1 ? nb_f32(o2) + k : NULL, which == 1 ? nb_f32(o1) + k : NULL,
                             which == 2 ? nb_f32(o1) + k : NULL);
        if (res.code != NBI_LA_OK) s = item_fail(fn, a, r, a->shape, k, &res);
    }
    nbi_arena_release(&ctx->arena, mark);
    if (s != NB_OK) nbi_fail(ctx, s);
    return s;
}

nb_status nb_lu(nb_ctx *ctx, nb_tensor *a, nb_tensor **lu, nb_tensor **piv) {
    const char *fn = "lu";
    if (!enter(ctx, fn, &a, 1)) return refused(ctx);
    if (!lu || !piv) {
        nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: lu or piv is NULL", fn));
        return NB_ERR_ARG;
    }
    *lu = *piv = NULL;
    if (!square_ok(ctx, fn, a)) return NB_ERR_SHAPE;
    nb_tensor *o1 = nbi_tensor_alloc(ctx, NB_F32, a->rank, a->shape);
    nb_tensor *o2 = o1 ? nbi_tensor_alloc(ctx, NB_I32, a->rank - 1, a->shape) : NULL;
    if (!o2) return nomem(ctx);
    nb_status s = lu_family(ctx, fn, a, 0, o1, o2);
    if (s == NB_OK) {
        *lu = o1;
        *piv = o2;
    }
    return s;
}

nb_status nb_slogdet(nb_ctx *ctx, nb_tensor *a, nb_tensor **sign, nb_tensor **logabsdet) {
    const char *fn = "slogdet";
    if (!enter(ctx, fn, &a, 1)) return refused(ctx);
    if (!sign || !logabsdet) {
        nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: sign or logabsdet is NULL", fn));
        return NB_ERR_ARG;
    }
    *sign = *logabsdet = NULL;
    if (!square_ok(ctx, fn, a)) return NB_ERR_SHAPE;
    nb_tensor *o1 = nbi_tensor_alloc(ctx, NB_F32, a->rank - 2, a->shape);
    nb_tensor *o2 = o1 ? nbi_tensor_alloc(ctx, NB_F32, a->rank - 2, a->shape) : NULL;
    if (!o2) return nomem(ctx);
    nb_status s = lu_family(ctx, fn, a, 1, o1, o2);
    if (s == NB_OK) {
        *sign = o1;
        *logabsdet = o2;
    }
    return s;
}

nb_tensor *nb_rcond(nb_ctx *ctx, nb_tensor *a) {
    const char *fn = "rcond";
    if (!enter(ctx, fn, &a, 1) || !square_ok(ctx, fn, a)) return NULL;
    nb_tensor *o = nbi_tensor_alloc(ctx, NB_F32, a->rank - 2, a->shape);
    if (!o) return nbi_fail(ctx, NB_ERR_NOMEM);
    return lu_family(ctx, fn, a, 2, o, NULL) == NB_OK ? o : NULL;
}

/* ---- Cholesky -------------------------------------------------------------------------------- */

nb_tensor *nb_cholesky(nb_ctx *ctx, nb_tensor *a) {
    const char *fn = "cholesky";
    if (!enter(ctx, fn, &a, 1) || !square_ok(ctx, fn, a)) return NULL;
    nb_tensor *l = nbi_tensor_alloc(ctx, NB_F32, a->rank, a->shape);
    if (!l) return nbi_fail(ctx, NB_ERR_NOMEM);
    const nbi_backend *be = ctx->be;
    int r = a->rank - 2;
    int64_t n = a->shape[r], count = batch_count(r, a->shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_cholesky(n), fn);
    if (!w) return NULL;
    nb_status s = NB_OK;
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        nbi_la_res res = be->la_cholesky(be, n, item(a, k), a->stride[r], a->stride[r + 1], w,
                                         nb_f32(l) + k * n * n, n);
        if (res.code != NBI_LA_OK) s = item_fail(fn, a, r, a->shape, k, &res);
    }
    nbi_arena_release(&ctx->arena, mark);
    return s == NB_OK ? l : nbi_fail(ctx, s);
}

/* ---- solvers with a right-hand side: B [m] or B [..., m, k] ------------------------------ */

typedef struct pair {
    int r;                      /* output batch rank */
    int64_t shape[NB_MAX_RANK]; /* output batch shape */
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK];
    int tb;            /* B's batch rank */
    int64_t K, rs, cs; /* B's columns and element strides */
} pair;

/* Shapes for X = f(A, B) with A [..., m, n] and B [m] or [..., m, k]: X [..., n] or
 * [..., n, k]. Fills out_rank/out_shape. */
static bool pair_shape(nb_ctx *ctx, const char *fn, const nb_tensor *a, const nb_tensor *b, pair *p,
                       int *out_rank, int64_t *out_shape) {
    if (a->rank < 2) {
        shape_fail(ctx, fn, "A must be a matrix [..., m, n]", a, b);
        return false;
    }
    int64_t m = a->shape[a->rank - 2], n = a->shape[a->rank - 1];
    if (b->rank < 1 || b->shape[b->rank == 1 ? 0 : b->rank - 2] != m) {
        shape_fail(ctx, fn, "B must be [m] or [..., m, k] with A's m rows", a, b);
        return false;
    }
    if (b->rank == 1) {
        p->r = a->rank - 2;
        memcpy(p->shape, a->shape, sizeof(int64_t) * (size_t)p->r);
        p->tb = 0;
        p->K = 1;
        p->rs = b->stride[0];
        p->cs = 0;
    } else {
        if (!nbi_broadcast_shape(a->rank - 2, a->shape, b->rank - 2, b->shape, &p->r, p->shape)) {
            shape_fail(ctx, fn, "cannot broadcast the batch dimensions", a, b);
            return false;
        }
        if (p->r + 2 > NB_MAX_RANK) {
            shape_fail(ctx, fn, "result rank exceeds 8", a, b);
            return false;
        }
        p->tb = b->rank - 2;
        p->K = b->shape[b->rank - 1];
        p->rs = b->stride[b->rank - 2];
        p->cs = b->stride[b->rank - 1];
    }
    nbi_lb_strides(a, a->rank - 2, p->r, p->shape, p->sa);
    nbi_lb_strides(b, p->tb, p->r, p->shape, p->sb);
    *out_rank = p->r;
    memcpy(out_shape, p->shape, sizeof(int64_t) * (size_t)p->r);
    out_shape[(*out_rank)++] = n;
    if (b->rank > 1) out_shape[(*out_rank)++] = p->K;
    return true;
}

/* A's and B's matrices of batch item k (broadcast). */
static const float *pair_a(const nb_tensor *a, const pair *p, int64_t k) {
    return nb_f32(a) + nbi_lb_off(p->r, p->shape, p->sa, k);
}
static const float *pair_b(const nb_tensor *b, const pair *p, int64_t k) {
    return nb_f32(b) + nbi_lb_off(p->r, p->shape, p->sb, k);
}

nb_tensor *nb_cholesky_solve(nb_ctx *ctx, nb_tensor *l, nb_tensor *b) {
    const char *fn = "cholesky_solve";
    nb_tensor *in[2] = {l, b};
    if (!enter(ctx, fn, in, 2) || !square_ok(ctx, fn, l)) return NULL;
    pair p;
    int xr;
    int64_t xs[NB_MAX_RANK];
    if (!pair_shape(ctx, fn, l, b, &p, &xr, xs)) return NULL;
    nb_tensor *x = nbi_tensor_alloc(ctx, NB_F32, xr, xs);
    if (!x) return nbi_fail(ctx, NB_ERR_NOMEM);
    const nbi_backend *be = ctx->be;
    int tl = l->rank - 2;
    int64_t n = l->shape[tl + 1], K = p.K, count = batch_count(p.r, p.shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_cholesky_solve(n, K), fn);
    if (!w) return NULL;
    nb_status s = NB_OK;
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        nbi_la_res res =
            be->la_cholesky_solve(be, n, K, pair_a(l, &p, k), l->stride[tl], l->stride[tl + 1],
                                  pair_b(b, &p, k), p.rs, p.cs, w, nb_f32(x) + k * n * K, K);
        if (res.code != NBI_LA_OK) s = item_fail(fn, l, p.r, p.shape, k, &res);
    }
    nbi_arena_release(&ctx->arena, mark);
    return s == NB_OK ? x : nbi_fail(ctx, s);
}

nb_tensor *nb_lstsq(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) {
    const char *fn = "lstsq";
    nb_tensor *in[2] = {a, b};
    if (!enter(ctx, fn, in, 2)) return NULL;
    pair p;
    int xr;
    int64_t xs[NB_MAX_RANK];
    if (!pair_shape(ctx, fn, a, b, &p, &xr, xs)) return NULL;
    nb_tensor *x = nbi_tensor_alloc(ctx, NB_F32, xr, xs);
    if (!x) return nbi_fail(ctx, NB_ERR_NOMEM);
    const nbi_backend *be = ctx->be;
    int ta = a->rank - 2;
    int64_t m = a->shape[ta], n = a->shape[ta + 1], K = p.K, count = batch_count(p.r, p.shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_lstsq(m, n, K), fn);
    if (!w) return NULL;
    nb_status s = NB_OK;
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        nbi_la_res res =
            be->la_lstsq(be, m, n, K, pair_a(a, &p, k), a->stride[ta], a->stride[ta + 1],
                         pair_b(b, &p, k), p.rs, p.cs, w, nb_f32(x) + k * n * K, K);
        if (res.code != NBI_LA_OK) s = item_fail(fn, a, p.r, p.shape, k, &res);
    }
    nbi_arena_release(&ctx->arena, mark);
    return s == NB_OK ? x : nbi_fail(ctx, s);
}

/* ---- QR -------------------------------------------------------------------------------------- */

nb_status nb_qr(nb_ctx *ctx, nb_tensor *a, nb_tensor **q, nb_tensor **r) {
    const char *fn = "qr";
    if (!enter(ctx, fn, &a, 1)) return refused(ctx);
    if (!q || !r) {
        nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: q or r is NULL", fn));
        return NB_ERR_ARG;
    }
    *q = *r = NULL;
    if (a->rank < 2) return shape_fail(ctx, fn, "needs a matrix [..., m, n]", a, NULL);
    int tb = a->rank - 2;
    int64_t m = a->shape[tb], n = a->shape[tb + 1], kk = m < n ? m : n;
    int64_t qs[NB_MAX_RANK], rs[NB_MAX_RANK];
    memcpy(qs, a->shape, sizeof qs);
    memcpy(rs, a->shape, sizeof rs);
    qs[tb + 1] = kk;
    rs[tb] = kk;
    nb_tensor *Q = nbi_tensor_alloc(ctx, NB_F32, a->rank, qs);
    nb_tensor *R = Q ? nbi_tensor_alloc(ctx, NB_F32, a->rank, rs) : NULL;
    if (!R) return nomem(ctx);
    const nbi_backend *be = ctx->be;
    int64_t count = batch_count(tb, a->shape);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *w = nbi_lb_scratch(ctx, nbi_la_work_qr(m, n), fn);
    if (!w) return ctx->status;
    nb_status s = NB_OK;
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        nbi_la_res res = be->la_qr(be, m, n, item(a, k), a->stride[tb], a->stride[tb + 1], w,
                                   nb_f32(Q) + k * m * kk, kk, nb_f32(R) + k * kk * n, n);
        if (res.code != NBI_LA_OK) s = item_fail(fn, a, tb, a->shape, k, &res);
    }
    nbi_arena_release(&ctx->arena, mark);
    if (s != NB_OK) {
        nbi_fail(ctx, s);
        return s;
    }
    *q = Q;
    *r = R;
    return NB_OK;
}
