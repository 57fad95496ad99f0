/* ops/reduce.c — reductions over a set of axes: sum, mean, max, and argmax along one axis.
 *
 * One geometry serves them all: walk the input's shape with the strided iterator and give
 * the output strides 0 along the reduced axes, so every element of a group lands on the same
 * output element (the same trick that un-broadcasts in arith.c):
 *
 *   sum    y[o] = Σ_{i ∈ group(o)} x[i]               dx[i] += dy[o]
 *   mean   y[o] = (1/N) Σ_{i ∈ group(o)} x[i]         dx[i] += dy[o] / N      (N = group size)
 *   max    y[o] = max_{i ∈ group(o)} x[i]             dx[i*(o)] += dy[o]
 *
 * where i*(o) is the FIRST maximal element of the group in row-major order (NaN counts as
 * the largest, so a NaN propagates as in NumPy and PyTorch). The iterator visits elements in
 * row-major order, so "first" is the first one met. Sums accumulate in double: exact for the
 * small groups the tests use, and independent of the order of the walk. */
#include "autograd/autograd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- geometry ----------------------------------------------------------------------------- */

typedef struct red_geom {
    unsigned mask;                 /* reduced axes of the input */
    int64_t count;                 /* elements per group: N */
    int64_t ostride[NB_MAX_RANK];  /* output strides over the input's shape, 0 when reduced */
} red_geom;

/* mask over a rank-r input: NB_ALL_AXES means every axis; other bits must name axes < r. */
static bool mask_of(int64_t raw, int r, unsigned *mask) {
    unsigned all = (1u << r) - 1u; /* r <= 8 */
    if ((uint64_t)raw == NB_ALL_AXES) {
        *mask = all;
        return true;
    }
    if (raw < 0 || (uint64_t)raw & ~(uint64_t)all) return false;
    *mask = (unsigned)raw;
    return true;
}

/* The mask of a node whose attrs infer has validated. */
static unsigned node_mask(const nbi_node *n) {
    unsigned mask = 0;
    bool ok = mask_of(n->attrs->i[0], n->in[0]->rank, &mask);
    NBI_ASSERT(ok);
    return mask;
}

/* Output strides: those of the contiguous kept shape (reduced dims 1), zeroed where reduced. */
static void geom_of(const nb_tensor *x, unsigned mask, red_geom *g) {
    g->mask = mask;
    g->count = 1;
    int64_t s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        if (mask & (1u << d)) {
            g->ostride[d] = 0;
            g->count *= x->shape[d];
        } else {
            g->ostride[d] = s;
            s *= x->shape[d];
        }
    }
}

/* out's shape: x's without the reduced axes (or with them as 1 when keepdims). */
static void reduce_shape(const nbi_node *n, unsigned mask, int keepdims, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (!(mask & (1u << d)))
            out->shape[r++] = x->shape[d];
        else if (keepdims)
            out->shape[r++] = 1;
    }
    out->rank = r;
}

static nb_status axes_error(const nbi_node *n, int64_t raw) {
    char what[160];
    snprintf(what, sizeof what, "axes mask 0x%llx names an axis beyond rank %d (use NB_AXIS(i) "
             "with 0 <= i < %d, or NB_ALL_AXES)", (unsigned long long)raw, n->in[0]->rank,
             n->in[0]->rank);
    return nbi_shape_error(n, what);
}

/* "{0,2}" */
static void axes_str(unsigned mask, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "{");
    for (int d = 0; d < NB_MAX_RANK && k < cap; d++)
        if (mask & (1u << d)) k += (size_t)snprintf(buf + k, cap - k, k > 1 ? ",%d" : "%d", d);
    if (k < cap) snprintf(buf + k, cap - k, "}");
}

/* attrs: i[0] = axes mask, i[1] = keepdims */
static nb_status reduce_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    NBI_ASSERT(n->attrs);
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    unsigned mask;
    if (!mask_of(n->attrs->i[0], x->rank, &mask)) return axes_error(n, n->attrs->i[0]);
    out->dtype = NB_F32;
    reduce_shape(n, mask, n->attrs->i[1] != 0, out);
    if (n->op == NBI_OP_MAX) {
        red_geom g;
        geom_of(x, mask, &g);
        int64_t groups = 1;
        for (int i = 0; i < out->rank; i++) groups *= out->shape[i];
        if (g.count == 0 && groups > 0) {
            char what[160], ax[48];
            axes_str(mask, ax, sizeof ax);
            snprintf(what, sizeof what, "cannot take the max over zero elements (axes %s are "
                     "empty); the max of nothing is undefined", ax);
            return nbi_shape_error(n, what);
        }
    }
    return NB_OK;
}

/* ---- sum and mean ------------------------------------------------------------------------- */

static nb_status sum_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = n->in[0], *y = n->out;
    red_geom g;
    geom_of(x, node_mask(n), &g);
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    double *acc = nbi_ctx_alloc(ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(double),
                                nbi_ops[n->op]->name);
    if (!acc) return ctx->status;
    const int64_t *st[2] = {x->stride, g.ostride};
    nbi_iter it;
    nbi_iter_init(&it, x->rank, x->shape, 2, st);
    ctx->be->sum_strided(ctx->be, &it, x->data, acc, y->numel, g.count, n->op == NBI_OP_MEAN,
                         y->data);
    nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

/* dx[i] += dy[o] (sum), dy[o] / N (mean): gx walked with gy's strides, 0 along reduced axes */
static nb_status sum_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *x = n->in[0], *g = nbi_grad(ctx, x);
    if (!g) return ctx->status;
    red_geom geo;
    geom_of(x, node_mask(n), &geo);
    const int64_t *st[2] = {g->stride, geo.ostride};
    nbi_iter it;
    nbi_iter_init(&it, x->rank, x->shape, 2, st);
    if (n->op == NBI_OP_MEAN)
        ctx->be->acc_div_strided(ctx->be, &it, g->data, n->out->grad->data, (float)geo.count);
    else
        ctx->be->acc_strided(ctx->be, &it, g->data, n->out->grad->data);
    return NB_OK;
}

/* ---- max and argmax ----------------------------------------------------------------------- */

/* best[o] and pos[o] over the groups of `mask`; pos counted with the strides `pstride`. */
static void max_scan(const nbi_backend *be, const nb_tensor *x, unsigned mask,
                     const int64_t *pstride, float *best, int64_t *pos, int64_t groups) {
    red_geom g;
    geom_of(x, mask, &g);
    const int64_t *st[3] = {x->stride, g.ostride, pstride};
    nbi_iter it;
    nbi_iter_init(&it, x->rank, x->shape, 3, st);
    be->max_strided(be, &it, x->data, best, pos, groups);
}

/* y[o] = max; the flat (row-major) index of each winner is kept for backward. */
static nb_status max_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = n->in[0], *y = n->out;
    unsigned mask = node_mask(n);
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    int64_t *pos = nbi_ctx_alloc(ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t), "max");
    if (!pos) return ctx->status;
    int64_t flat[NB_MAX_RANK], s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        flat[d] = s;
        s *= x->shape[d];
    }
    max_scan(ctx->be, x, mask, flat, y->data, pos, y->numel);
    if (n->recording)
        n->saved = pos;
    else
        nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

/* dx[i*(o)] += dy[o] */
static nb_status max_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    ctx->be->scatter_add(ctx->be, n->out->numel, n->saved, n->out->grad->data, g->data);
    return NB_OK;
}

/* attrs: i[0] = axis (negative from the end), i[1] = keepdims */
static nb_status argmax_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    NBI_ASSERT(n->attrs);
    char what[160];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    int r = x->rank;
    int64_t a = n->attrs->i[0];
    if (a < -r || a >= r) {
        snprintf(what, sizeof what, "axis %lld is out of range for rank %d (valid: %d..%d)",
                 (long long)a, r, -r, r - 1);
        return nbi_shape_error(n, what);
    }
    int axis = (int)(a < 0 ? a + r : a);
    reduce_shape(n, 1u << axis, n->attrs->i[1] != 0, out);
    out->dtype = NB_I32;
    int64_t groups = 1;
    for (int i = 0; i < out->rank; i++) groups *= out->shape[i];
    if (x->shape[axis] == 0 && groups > 0) {
        snprintf(what, sizeof what, "axis %d is empty: there is no maximum to point at", axis);
        return nbi_shape_error(n, what);
    }
    if (x->shape[axis] > INT32_MAX) {
        snprintf(what, sizeof what, "axis %d has more entries than an i32 index can hold", axis);
        return nbi_shape_error(n, what);
    }
    return NB_OK;
}

/* The position along the axis is the walk's offset in a stride set that is 1 on the axis
 * and 0 elsewhere. */
static nb_status argmax_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *x = n->in[0], *y = n->out;
    int r = x->rank, axis = (int)(n->attrs->i[0] < 0 ? n->attrs->i[0] + r : n->attrs->i[0]);
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    size_t groups = (size_t)(y->numel ? y->numel : 1);
    int64_t *pos = nbi_ctx_alloc(ctx, groups * sizeof(int64_t), "argmax");
    float *best = nbi_ctx_alloc(ctx, groups * sizeof(float), "argmax");
    if (!pos || !best) return ctx->status;
    int64_t unit[NB_MAX_RANK] = {0};
    unit[axis] = 1;
    max_scan(ctx->be, x, 1u << axis, unit, best, pos, y->numel);
    ctx->be->index_narrow(ctx->be, y->numel, pos, y->data);
    nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

/* ---- check cases -------------------------------------------------------------------------- */

/* Case k: rank, axes and keepdims (shapes are random, dims 1..5). */
static const struct {
    int rank;
    unsigned mask;
    int keepdims;
} red_cases[] = {
    {1, NB_ALL_AXES, 0},             /* a vector to a scalar */
    {2, NB_AXIS(0), 1},              /* column sums, kept as [1, n] */
    {3, NB_AXIS(0) | NB_AXIS(2), 0}, /* two non-adjacent axes */
    {3, NB_AXIS(1), 1},              /* a middle axis */
    {4, NB_AXIS(1) | NB_AXIS(3), 0}, /* rank 4 */
    {2, NB_ALL_AXES, 1},             /* everything, kept as [1, 1] */
    {3, NB_AXIS(2), 0},              /* the last axis */
    {2, 0, 0},                       /* no axes: the identity */
};
#define RED_CASES ((int)(sizeof red_cases / sizeof red_cases[0]))

static nb_status reduce_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                            nbi_check_case *c) {
    int64_t d[4];
    nbi_gen_shape(rng, 4, 4, d);
    d[0] += 1; /* at least one dimension above 1 */
    int r = red_cases[k].rank;
    c->attrs.i[0] = red_cases[k].mask;
    c->attrs.i[1] = red_cases[k].keepdims;
    c->has_attrs = 1;
    c->n_in = 1;
    nb_tensor *x = nbi_gen_input(ctx, rng, r, d, def->check.lo, def->check.hi, NULL, 0, 0.0f);
    c->in[0] = x;
    if (!x) return ctx->status;
    /* Distinct values 1/8 apart, so that no ±2h perturbation of the finite differences
     * changes which element is the maximum. */
    if (def == &nbi_op_max) nbi_gen_ladder(x, -2.0f, 0.125f, rng);
    return NB_OK;
}

/* ---- registry entries and public functions ------------------------------------------------ */

/* Sums of grid values are exact, so sum and max are checked tightly; mean divides by N. */
const nbi_op_def nbi_op_sum = {
    .name = "sum",
    .infer = reduce_infer,
    .forward = sum_forward,
    .backward = sum_backward,
    .check = {.gen = reduce_gen, .cases = RED_CASES, .atol = 1e-6f, .rtol = 1e-6f, .lo = -1.0f,
              .hi = 1.0f},
};

const nbi_op_def nbi_op_mean = {
    .name = "mean",
    .infer = reduce_infer,
    .forward = sum_forward,
    .backward = sum_backward,
    .check = {.gen = reduce_gen, .cases = RED_CASES, .atol = 1e-5f, .rtol = 1e-5f, .lo = -1.0f,
              .hi = 1.0f},
};

const nbi_op_def nbi_op_max = {
    .name = "max",
    .infer = reduce_infer,
    .forward = max_forward,
    .backward = max_backward,
    .check = {.gen = reduce_gen, .cases = RED_CASES, .atol = 1e-6f, .rtol = 1e-6f, .lo = -2.0f,
              .hi = 2.0f},
};

/* Not differentiable: no backward, no check cases (its output is i32). */
const nbi_op_def nbi_op_argmax = {
    .name = "argmax",
    .infer = argmax_infer,
    .forward = argmax_forward,
};

static nb_tensor *reduce(nb_ctx *ctx, int op, nb_tensor *x, unsigned axes, int keepdims) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = axes;
    a.i[1] = keepdims != 0;
    return nbi_apply(ctx, op, &x, 1, &a);
}

nb_tensor *nb_sum(nb_ctx *ctx, nb_tensor *x, unsigned axes, int keepdims) {
    return reduce(ctx, NBI_OP_SUM, x, axes, keepdims);
}

nb_tensor *nb_mean(nb_ctx *ctx, nb_tensor *x, unsigned axes, int keepdims) {
    return reduce(ctx, NBI_OP_MEAN, x, axes, keepdims);
}

nb_tensor *nb_max(nb_ctx *ctx, nb_tensor *x, unsigned axes, int keepdims) {
    return reduce(ctx, NBI_OP_MAX, x, axes, keepdims);
}

nb_tensor *nb_argmax(nb_ctx *ctx, nb_tensor *x, int axis, int keepdims) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = axis;
    a.i[1] = keepdims != 0;
    return nbi_apply(ctx, NBI_OP_ARGMAX, &x, 1, &a);
}
