/* ops/softmax.c — softmax and log-softmax along one axis.
 *
 *   softmax(x)_j     = exp(x_j - m) / Σ_k exp(x_k - m)         m = max_k x_k (for stability)
 *   log_softmax(x)_j = (x_j - m) - log Σ_k exp(x_k - m)
 *   backward, from the output y:
 *     softmax:      gx = y ⊙ (gy - Σ_k gy_k y_k)
 *     log_softmax:  gx = gy - exp(y) Σ_k gy_k
 *
 * The formulas live once, in the row kernels of the kernel table (kernels/ref/binary.c),
 * which work on contiguous rows. The tensor is seen as [outer, C, inner] with C the softmax
 * axis: for the last axis (inner = 1) the kernels run on the data directly; for any other
 * axis the [C, inner] blocks are transposed (the back end's strided copies), a tile of columns
 * at a time, into rows of C in a scratch buffer, run through the kernel, and transposed back
 * (see bench/bench_softmax.c). */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <stdio.h>
#include <string.h>

/* The axis travels in attrs.i[0] as given; infer and the kernels see it normalised. */
static int norm_axis(const nb_tensor *x, int64_t axis) {
    int r = x->rank ? x->rank : 1; /* a rank-0 tensor is one row of one element */
    return (int)(axis < 0 ? axis + r : axis);
}

static nb_status softmax_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    int r = x->rank ? x->rank : 1;
    int64_t axis = n->attrs->i[0];
    if (axis < -r || axis >= r) {
        char what[128];
        snprintf(what, sizeof what, "axis %lld is out of range for rank %d (use %d..%d)",
                 (long long)axis, x->rank, -r, r - 1);
        return nbi_shape_error(n, what);
    }
    out->dtype = NB_F32;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) out->shape[i] = x->shape[i];
    return NB_OK;
}

/* [outer, C, inner] around the axis */
static void split(const nb_tensor *x, int axis, int64_t *outer, int64_t *C, int64_t *inner) {
    *outer = *inner = 1;
    *C = x->rank ? x->shape[axis] : 1;
    for (int i = 0; i < axis; i++) *outer *= x->shape[i];
    for (int i = axis + 1; i < x->rank; i++) *inner *= x->shape[i];
}

/* The inner axis is walked in tiles of TILE columns: a tile of a [C, inner] block becomes
 * TILE rows of C in the scratch buffer. The copies go along C, reading TILE neighbouring
 * floats of each block row and writing TILE row streams. Measured (bench/bench_softmax.c,
 * forward + backward): a whole-block transpose ran 7.5 times slower than the last-axis case
 * for [1024, 256] along axis 0; TILE = 8 tiles run 1.4 to 1.7 times slower. */
#define TILE 8

/* Columns i0 .. i0 + t of a [C, inner] block and t rows of C, as one walk of shape [C, t]:
 * the block element (c, i0 + i) has offset c·inner + i, the row element (i, c) i·C + c. */
static void tile_walk(nbi_iter *it, int64_t C, int64_t inner, int64_t t, int block_first) {
    const int64_t shape[2] = {C, t}, blk[2] = {inner, 1}, row[2] = {1, C};
    const int64_t *st[2] = {block_first ? blk : row, block_first ? row : blk};
    nbi_iter_init(it, 2, shape, 2, st);
}

/* dst[i, c] = src[c, i0 + i] for i < t: columns i0.. of a [C, inner] block as t rows */
static void tile_to_rows(const nbi_backend *be, const float *src, int64_t C, int64_t inner,
                         int64_t i0, int64_t t, float *dst) {
    nbi_iter it;
    tile_walk(&it, C, inner, t, 0);
    be->copy_strided(be, &it, dst, src + i0);
}

/* dst[c, i0 + i] = src[i, c] (or += when acc): t rows back into columns of the block */
static void tile_from_rows(const nbi_backend *be, const float *src, int64_t C, int64_t inner,
                           int64_t i0, int64_t t, float *dst, int acc) {
    nbi_iter it;
    tile_walk(&it, C, inner, t, 1);
    if (acc)
        be->acc_strided(be, &it, dst + i0, src);
    else
        be->copy_strided(be, &it, dst + i0, src);
}

static nb_status softmax_forward(nb_ctx *ctx, nbi_node *n) {
    const nbi_backend *be = ctx->be;
    void (*fn)(const nbi_backend *, int64_t, int64_t, const float *, float *) =
        n->op == NBI_OP_SOFTMAX ? be->softmax : be->log_softmax;
    int64_t outer, C, inner;
    split(n->in[0], norm_axis(n->in[0], n->attrs->i[0]), &outer, &C, &inner);
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena); /* everything below is scratch */
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    if (!x) return ctx->status;
    const float *xp = x->data;
    float *yp = n->out->data;
    if (inner == 1) {
        fn(be, outer, C, xp, yp);
    } else {
        float *buf = nbi_ctx_alloc(ctx, 2 * (size_t)(C * TILE) * sizeof *buf, "softmax");
        if (!buf) return ctx->status;
        float *rows = buf + C * TILE;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i0 = 0; i0 < inner; i0 += TILE) {
                int64_t t = inner - i0 < TILE ? inner - i0 : TILE;
                tile_to_rows(be, xp + o * C * inner, C, inner, i0, t, buf);
                fn(be, t, C, buf, rows);
                tile_from_rows(be, rows, C, inner, i0, t, yp + o * C * inner, 0);
            }
    }
    nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

static nb_status softmax_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]); /* before the mark: it outlives this call */
    if (!g) return ctx->status;
    const nbi_backend *be = ctx->be;
    void (*fn)(const nbi_backend *, int64_t, int64_t, const float *, const float *, float *) =
        n->op == NBI_OP_SOFTMAX ? be->softmax_bwd : be->log_softmax_bwd;
    int64_t outer, C, inner;
    split(n->out, norm_axis(n->in[0], n->attrs->i[0]), &outer, &C, &inner);
    const float *yp = n->out->data, *gyp = n->out->grad->data;
    float *gp = g->data;
    if (inner == 1) {
        fn(be, outer, C, yp, gyp, gp);
        return NB_OK;
    }
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    size_t blk = (size_t)(C * TILE);
    float *buf = nbi_ctx_alloc(ctx, 3 * blk * sizeof *buf, "softmax backward");
    if (!buf) return ctx->status;
    float *ry = buf, *rgy = buf + blk, *rgx = buf + 2 * blk;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i0 = 0; i0 < inner; i0 += TILE) {
            int64_t t = inner - i0 < TILE ? inner - i0 : TILE, off = o * C * inner;
            tile_to_rows(be, yp + off, C, inner, i0, t, ry);
            tile_to_rows(be, gyp + off, C, inner, i0, t, rgy);
            be->fill(be, t * C, rgx, 0.0f);
            fn(be, t, C, ry, rgy, rgx);
            tile_from_rows(be, rgx, C, inner, i0, t, gp + off, 1);
        }
    nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

/* Check cases: ranks 0-3 with every kind of axis (last, first, middle, negative). */
static nb_status softmax_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                             nbi_check_case *c) {
    static const int rank[] = {1, 2, 2, 3, 3, 3, 0};
    static const int axis[] = {0, -1, 0, 1, -3, 2, -1};
    int64_t shape[3];
    nbi_gen_shape(rng, rank[k], 4, shape);
    if (rank[k]) shape[axis[k] < 0 ? axis[k] + rank[k] : axis[k]] += 1; /* C >= 2 */
    c->n_in = 1;
    c->in[0] = nbi_gen_input(ctx, rng, rank[k], shape, def->check.lo, def->check.hi, NULL, 0, 0.0f);
    c->attrs.i[0] = axis[k];
    c->has_attrs = 1;
    return c->in[0] ? NB_OK : ctx->status;
}

#define SOFTMAX_OP(NM, ID)                                                                  \
    const nbi_op_def nbi_op_##NM = {                                                        \
        .name = #NM,                                                                        \
        .infer = softmax_infer,                                                               \
        .forward = softmax_forward,                                                           \
        .backward = softmax_backward,                                                         \
        .check = {.gen = softmax_gen, .cases = 7, .atol = 1e-4f, .rtol = 1e-4f, .lo = -3.0f,  \
                  .hi = 3.0f},                                                                \
    };                                                                                        \
    nb_tensor *nb_##NM(nb_ctx *ctx, nb_tensor *x, int axis) {                               \
        nbi_attrs a = {.i = {axis}};                                                          \
        return nbi_apply(ctx, NBI_OP_##ID, &x, 1, &a);                                        \
    }

SOFTMAX_OP(softmax, SOFTMAX)
SOFTMAX_OP(log_softmax, LOG_SOFTMAX)
