/* ops/shape.c — shape ops: reshape, permute (and transpose on it), slice, concat, contiguous.
 *
 * reshape, permute and slice are views: infer lays the output header over the input's
 * storage (data pointer and strides) and forward has nothing left to do. Views compose: an
 * input may itself be a view, and infer starts from that input's own strides and data
 * pointer, so a slice of a transpose of a reshape reads the right elements.
 *
 *   permute   y[i_0, .., i_r-1] = x[j]  with j_perm[d] = i_d      stride_y[d] = stride_x[perm[d]]
 *   slice     y[.., i, ..] = x[.., start + step i, ..]            stride_y[a] = step stride_x[a]
 *   reshape   y and x share one row-major order                   (x contiguous)
 *
 * Backward of a view: the output's gradient gy is contiguous in the output's logical order,
 * the input's gradient gx contiguous in the input's. Applying the view's index map to gx's
 * strides (instead of x's) says where each output element came from, and the strided
 * iterator accumulates gx[map(i)] += gy[i]. concat and contiguous copy; their backwards are
 * the same accumulation through the copy's map. */
#include "autograd/autograd.h"

#include <stdio.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------------------------ */

/* d[map_d(i)] += s[map_s(i)] for every index i of `shape`; the maps are strides. */
static void accumulate(const nbi_backend *be, int rank, const int64_t *shape, float *d,
                       const int64_t *sd, const float *s, const int64_t *ss) {
    const int64_t *st[2] = {sd, ss};
    nbi_iter it;
    nbi_iter_init(&it, rank, shape, 2, st);
    be->acc_strided(be, &it, d, s);
}

/* Completes a view header: dtype from x, numel from shape, unused dims as nbi_set_contiguous
 * leaves them. shape, stride and data are set by the caller. */
static void view_finish(nb_tensor *out, const nb_tensor *x, int rank) {
    out->dtype = x->dtype;
    out->rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= out->shape[i];
    for (int i = rank; i < NB_MAX_RANK; i++) {
        out->shape[i] = 1;
        out->stride[i] = 0;
    }
    out->numel = n;
}

/* The output of a view was laid over its input by infer. */
static nb_status view_forward(nb_ctx *ctx, nbi_node *n) {
    (void)ctx;
    (void)n;
    return NB_OK;
}

/* gx += gy for ops whose input and output share one row-major order (reshape, contiguous). */
static nb_status flat_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    ctx->be->add_into(ctx->be, g->numel, n->out->grad->data, g->data);
    return NB_OK;
}

/* Axis `a` of a rank-r tensor, negative counting from the end; -1 if out of range. */
static int norm_axis(int64_t a, int r) {
    if (a < -r || a >= r) return -1;
    return (int)(a < 0 ? a + r : a);
}

/* Check-case inputs drawn on [-1, 1). */
static nb_tensor *gen_in(nb_ctx *ctx, nb_rng *rng, int rank, const int64_t *shape) {
    return nbi_gen_input(ctx, rng, rank, shape, -1.0f, 1.0f, NULL, 0, 0.0f);
}

/* ---- reshape ------------------------------------------------------------------------------ */
/* attrs: i[0] = rank, i[1..rank] = the new shape (one entry may be -1) */

static nb_status reshape_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    NBI_ASSERT(n->attrs);
    int rank = (int)n->attrs->i[0];
    const int64_t *want = n->attrs->i + 1;
    char what[160], ws[96];
    if (rank < 0 || rank > NB_MAX_RANK) {
        snprintf(what, sizeof what, "rank %d is out of range (0..%d)", rank, NB_MAX_RANK);
        return nbi_shape_error(n, what);
    }
    nbi_dims_str(rank, want, ws, sizeof ws);
    if (!nb_tensor_is_contiguous(x))
        return nbi_shape_error(n, "input must be contiguous (nb_reshape copies strided input)");
    int free_at = -1;
    int64_t known = 1;
    for (int i = 0; i < rank; i++) {
        if (want[i] == -1) {
            if (free_at >= 0) {
                snprintf(what, sizeof what, "shape %s has more than one -1", ws);
                return nbi_shape_error(n, what);
            }
            free_at = i;
            continue;
        }
        if (want[i] < 0) {
            snprintf(what, sizeof what, "shape %s has a negative dimension", ws);
            return nbi_shape_error(n, what);
        }
        if (want[i] && known > INT64_MAX / want[i]) {
            snprintf(what, sizeof what, "shape %s has too many elements", ws);
            return nbi_shape_error(n, what);
        }
        known *= want[i];
        out->shape[i] = want[i];
    }
    if (free_at >= 0) {
        if (known == 0 || x->numel % known != 0) {
            snprintf(what, sizeof what, "cannot reshape %lld elements into %s: no size for the -1 "
                     "fits", (long long)x->numel, ws);
            return nbi_shape_error(n, what);
        }
        out->shape[free_at] = x->numel / known;
    } else if (known != x->numel) {
        snprintf(what, sizeof what, "cannot reshape %lld elements into %s (%lld elements)",
                 (long long)x->numel, ws, (long long)known);
        return nbi_shape_error(n, what);
    }
    out->dtype = x->dtype;
    out->rank = rank;
    nbi_set_contiguous(out);
    out->data = x->data;
    return NB_OK;
}

/* Cases: [a,b,c] → [-1,c]; [a,b] → [b,a]; [a,b,c] → [-1] (flatten); [a] → [1,a,1];
 * a 0-d tensor → [1,1]. */
static nb_status reshape_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                             nbi_check_case *c) {
    (void)def;
    int64_t d[3];
    nbi_gen_shape(rng, 3, 4, d);
    d[0] += 1;
    static const int in_rank[] = {3, 2, 3, 1, 0};
    int64_t *a = c->attrs.i;
    switch (k) {
    case 0: a[0] = 2; a[1] = -1; a[2] = d[2]; break;
    case 1: a[0] = 2; a[1] = d[1]; a[2] = d[0]; break;
    case 2: a[0] = 1; a[1] = -1; break;
    case 3: a[0] = 3; a[1] = 1; a[2] = d[0]; a[3] = 1; break;
    default: a[0] = 2; a[1] = 1; a[2] = 1; break;
    }
    c->has_attrs = 1;
    c->n_in = 1;
    c->in[0] = gen_in(ctx, rng, in_rank[k], d);
    return c->in[0] ? NB_OK : ctx->status;
}

const nbi_op_def nbi_op_reshape = {
    .name = "reshape",
    .infer = reshape_infer,
    .forward = view_forward,
    .backward = flat_backward,
    .is_view = 1,
    .check = {.gen = reshape_gen, .cases = 5, .atol = 1e-6f, .rtol = 1e-6f},
};

/* ---- contiguous --------------------------------------------------------------------------- */

static nb_status contiguous_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    out->dtype = x->dtype;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) out->shape[i] = x->shape[i];
    return NB_OK;
}

static nb_status contiguous_forward(nb_ctx *ctx, nbi_node *n) {
    return nbi_tensor_copy_on(ctx->be, n->out, n->in[0]);
}

const nbi_op_def nbi_op_contiguous = {
    .name = "contiguous",
    .infer = contiguous_infer,
    .forward = contiguous_forward,
    .backward = flat_backward,
    .check = {.gen = nbi_gen_unary, .cases = 3, .atol = 1e-6f, .rtol = 1e-6f, .lo = -2.0f,
              .hi = 2.0f},
};

nb_tensor *nb_contiguous(nb_ctx *ctx, nb_tensor *x) {
    return nbi_apply(ctx, NBI_OP_CONTIGUOUS, &x, 1, NULL);
}

nb_tensor *nb_reshape(nb_ctx *ctx, nb_tensor *x, int rank, const int64_t *shape) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    if (!ctx || !x) return nbi_apply(ctx, NBI_OP_RESHAPE, &x, 1, NULL); /* reports it */
    if (rank < 0 || rank > NB_MAX_RANK || (rank > 0 && !shape)) {
        nbi_error(NB_ERR_ARG, "reshape: need a rank in 0..%d and a shape array (got rank %d%s)",
                  NB_MAX_RANK, rank, shape ? "" : ", shape NULL");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    a.i[0] = rank;
    for (int i = 0; i < rank; i++) a.i[1 + i] = shape[i];
    /* A strided input has no row-major order to reinterpret: copy it first (recorded, so
     * the gradient flows back through the copy). */
    if (!nb_tensor_is_contiguous(x)) {
        x = nb_contiguous(ctx, x);
        if (!x) return NULL;
    }
    return nbi_apply(ctx, NBI_OP_RESHAPE, &x, 1, &a);
}

/* ---- permute and transpose ---------------------------------------------------------------- */
/* attrs: i[0..rank-1] = perm, entries may be negative (counted from the end) */

static nb_status permute_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    NBI_ASSERT(n->attrs);
    int r = x->rank;
    unsigned seen = 0;
    for (int i = 0; i < r; i++) {
        int p = norm_axis(n->attrs->i[i], r);
        if (p < 0 || (seen & (1u << p))) {
            char what[160], ps[96];
            snprintf(what, sizeof what, "perm %s is not a permutation of the %d axes",
                     nbi_dims_str(r, n->attrs->i, ps, sizeof ps), r);
            return nbi_shape_error(n, what);
        }
        seen |= 1u << p;
        out->shape[i] = x->shape[p];
        out->stride[i] = x->stride[p];
    }
    view_finish(out, x, r);
    out->data = x->data;
    return NB_OK;
}

/* gx[j] += gy[i], j_perm[d] = i_d: walk gy's shape with gx's strides permuted. */
static nb_status permute_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]), *gy = n->out->grad;
    if (!g) return ctx->status;
    int r = g->rank;
    int64_t sg[NB_MAX_RANK];
    for (int i = 0; i < r; i++) sg[i] = g->stride[norm_axis(n->attrs->i[i], r)];
    accumulate(ctx->be, r, gy->shape, g->data, sg, gy->data, gy->stride);
    return NB_OK;
}

/* Cases: a matrix transpose, rank 3 and 4 with negative entries, an identity. */
static nb_status permute_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                             nbi_check_case *c) {
    (void)def;
    static const int rank[] = {2, 3, 4, 3};
    static const int64_t perms[][4] = {{1, 0}, {2, 0, -2}, {-3, 3, 0, 2}, {0, 1, 2}};
    int64_t d[4];
    nbi_gen_shape(rng, 4, 4, d);
    d[0] += 1;
    d[1] += 2;
    for (int i = 0; i < rank[k]; i++) c->attrs.i[i] = perms[k][i];
    c->has_attrs = 1;
    c->n_in = 1;
    c->in[0] = gen_in(ctx, rng, rank[k], d);
    return c->in[0] ? NB_OK : ctx->status;
}

const nbi_op_def nbi_op_permute = {
    .name = "permute",
    .infer = permute_infer,
    .forward = view_forward,
    .backward = permute_backward,
    .is_view = 1,
    .check = {.gen = permute_gen, .cases = 4, .atol = 1e-6f, .rtol = 1e-6f},
};

nb_tensor *nb_permute(nb_ctx *ctx, nb_tensor *x, const int *perm) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    if (!ctx || !x) return nbi_apply(ctx, NBI_OP_PERMUTE, &x, 1, NULL);
    if (!perm && x->rank > 0) {
        nbi_error(NB_ERR_ARG, "permute: perm is NULL (give one axis per dimension)");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    for (int i = 0; i < x->rank; i++) a.i[i] = perm[i];
    return nbi_apply(ctx, NBI_OP_PERMUTE, &x, 1, &a);
}

nb_tensor *nb_transpose(nb_ctx *ctx, nb_tensor *x, int axis0, int axis1) {
    if (!ctx || !x) return nbi_apply(ctx, NBI_OP_PERMUTE, &x, 1, NULL);
    int r = x->rank, a0 = norm_axis(axis0, r), a1 = norm_axis(axis1, r);
    if (a0 < 0 || a1 < 0) {
        char s[96];
        nbi_error(NB_ERR_SHAPE, "transpose: axes (%d, %d) are out of range for %s (valid: %d..%d)",
                  axis0, axis1, nb_shape_str(x, s, sizeof s), -r, r - 1);
        return nbi_fail(ctx, NB_ERR_SHAPE);
    }
    int perm[NB_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[a0] = a1;
    perm[a1] = a0;
    return nb_permute(ctx, x, perm);
}

/* ---- slice -------------------------------------------------------------------------------- */
/* attrs: i[0] = axis, i[1] = start, i[2] = stop, i[3] = step (> 0) */

typedef struct slice_geom {
    int axis;
    int64_t start, len, step;
} slice_geom;

/* Python's rule for step > 0: a negative bound counts from the end, then both clamp to
 * [0, dim]; the slice has ceil((stop - start) / step) elements when stop > start. */
static bool slice_geom_of(const nb_tensor *x, const nbi_attrs *a, slice_geom *g) {
    int axis = norm_axis(a->i[0], x->rank);
    if (axis < 0) return false;
    int64_t dim = x->shape[axis], b[2] = {a->i[1], a->i[2]};
    for (int k = 0; k < 2; k++) {
        if (b[k] < 0) b[k] += dim;
        if (b[k] < 0) b[k] = 0;
        if (b[k] > dim) b[k] = dim;
    }
    g->axis = axis;
    g->start = b[0];
    g->step = a->i[3];
    g->len = b[1] > b[0] ? 1 + (b[1] - b[0] - 1) / g->step : 0;
    return true;
}

static nb_status slice_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    NBI_ASSERT(n->attrs && n->attrs->i[3] > 0); /* nb_slice checks the step */
    slice_geom g;
    if (!slice_geom_of(x, n->attrs, &g)) {
        char what[128];
        snprintf(what, sizeof what, "axis %lld is out of range for rank %d (valid: %d..%d)",
                 (long long)n->attrs->i[0], x->rank, -x->rank, x->rank - 1);
        return nbi_shape_error(n, what);
    }
    for (int i = 0; i < x->rank; i++) {
        out->shape[i] = x->shape[i];
        out->stride[i] = x->stride[i];
    }
    out->shape[g.axis] = g.len;
    if (g.len > 1) out->stride[g.axis] = x->stride[g.axis] * g.step;
    view_finish(out, x, x->rank);
    out->data = x->data;
    if (out->numel > 0) /* only then is the first element inside x's storage */
        out->data = (char *)x->data +
                    g.start * x->stride[g.axis] * (int64_t)nbi_dtype_size(x->dtype);
    return NB_OK;
}

/* gx[.., start + step i, ..] += gy[.., i, ..] */
static nb_status slice_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    nb_tensor *g = nbi_grad(ctx, n->in[0]), *gy = n->out->grad;
    if (!g) return ctx->status;
    if (gy->numel == 0) return NB_OK;
    slice_geom sg;
    slice_geom_of(n->in[0], n->attrs, &sg);
    int64_t st[NB_MAX_RANK];
    for (int i = 0; i < g->rank; i++) st[i] = g->stride[i];
    st[sg.axis] *= sg.step;
    accumulate(ctx->be, g->rank, gy->shape, (float *)g->data + sg.start * g->stride[sg.axis],
               st, gy->data, gy->stride);
    return NB_OK;
}

/* Cases: interior slice with negative stop; step 2 on a negative axis past the end; a
 * negative start with step 3; an empty slice; a clamped negative start on a vector. */
static nb_status slice_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                           nbi_check_case *c) {
    (void)def;
    static const int rank[] = {2, 3, 3, 2, 1};
    static const int64_t attrs[][4] = {
        {1, 1, -1, 1}, {-1, 0, 100, 2}, {0, -3, 100, 3}, {0, 3, 1, 1}, {0, -100, 100, 2}};
    int64_t d[3];
    nbi_gen_shape(rng, 3, 4, d);
    for (int i = 0; i < 3; i++) d[i] += 2; /* 3..6: room for interior slices */
    memcpy(c->attrs.i, attrs[k], sizeof attrs[k]);
    c->has_attrs = 1;
    c->n_in = 1;
    c->in[0] = gen_in(ctx, rng, rank[k], d);
    return c->in[0] ? NB_OK : ctx->status;
}

const nbi_op_def nbi_op_slice = {
    .name = "slice",
    .infer = slice_infer,
    .forward = view_forward,
    .backward = slice_backward,
    .is_view = 1,
    .check = {.gen = slice_gen, .cases = 5, .atol = 1e-6f, .rtol = 1e-6f},
};

nb_tensor *nb_slice(nb_ctx *ctx, nb_tensor *x, int axis, int64_t start, int64_t stop,
                    int64_t step) {
    if (!ctx || !x) return nbi_apply(ctx, NBI_OP_SLICE, &x, 1, NULL);
    if (step <= 0) {
        char s[96];
        nbi_error(NB_ERR_ARG, "slice: step must be positive, got %lld (slicing %s along axis %d)",
                  (long long)step, nb_shape_str(x, s, sizeof s), axis);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = axis;
    a.i[1] = start;
    a.i[2] = stop;
    a.i[3] = step;
    return nbi_apply(ctx, NBI_OP_SLICE, &x, 1, &a);
}

/* ---- concat ------------------------------------------------------------------------------- */
/* attrs: i[0] = axis */

static nb_status concat_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x0 = n->in[0];
    NBI_ASSERT(n->attrs && n->n_in >= 1);
    char what[200], s0[96], si[96];
    int r = x0->rank, axis = norm_axis(n->attrs->i[0], r);
    if (axis < 0) {
        snprintf(what, sizeof what, "axis %lld is out of range for rank %d (valid: %d..%d)",
                 (long long)n->attrs->i[0], r, -r, r - 1);
        return nbi_shape_error(n, what);
    }
    int64_t total = 0;
    for (int k = 0; k < n->n_in; k++) {
        const nb_tensor *x = n->in[k];
        bool ok = x->dtype == x0->dtype && x->rank == r;
        for (int i = 0; ok && i < r; i++)
            if (i != axis && x->shape[i] != x0->shape[i]) ok = false;
        if (!ok) {
            snprintf(what, sizeof what, "input %d is %s but input 0 is %s: all dimensions "
                     "except axis %d (and the dtype) must match", k,
                     nb_shape_str(x, si, sizeof si), nb_shape_str(x0, s0, sizeof s0), axis);
            return nbi_shape_error(n, what);
        }
        total += x->shape[axis];
    }
    out->dtype = x0->dtype;
    out->rank = r;
    for (int i = 0; i < r; i++) out->shape[i] = x0->shape[i];
    out->shape[axis] = total;
    return NB_OK;
}

/* The block of `out` that input k fills: input k's shape, out's strides, shifted along the
 * axis by the sizes of inputs 0..k-1. */
static int64_t concat_offset(const nbi_node *n, int k, int axis) {
    int64_t at = 0;
    for (int j = 0; j < k; j++) at += n->in[j]->shape[axis];
    return at;
}

static nb_status concat_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *y = n->out;
    int axis = norm_axis(n->attrs->i[0], y->rank);
    int64_t at = 0;
    for (int k = 0; k < n->n_in; k++) {
        const nb_tensor *x = n->in[k];
        if (x->numel > 0) {
            nb_tensor block = *y;
            for (int i = 0; i < y->rank; i++) block.shape[i] = x->shape[i];
            block.numel = x->numel;
            block.data = (char *)y->data + at * y->stride[axis] * (int64_t)nbi_dtype_size(y->dtype);
            nb_status s = nbi_tensor_copy_on(ctx->be, &block, x);
            if (s != NB_OK) return s;
        }
        at += x->shape[axis];
    }
    return NB_OK;
}

static nb_status concat_backward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *gy = n->out->grad;
    int axis = norm_axis(n->attrs->i[0], gy->rank);
    for (int k = 0; k < n->n_in; k++) {
        if (!nbi_needs_grad(n, k) || n->in[k]->numel == 0) continue;
        nb_tensor *g = nbi_grad(ctx, n->in[k]);
        if (!g) return ctx->status;
        const float *src = (const float *)gy->data + concat_offset(n, k, axis) * gy->stride[axis];
        accumulate(ctx->be, g->rank, g->shape, g->data, g->stride, src, gy->stride);
    }
    return NB_OK;
}

/* Cases: 2 matrices on axis 0; 3 inputs on axis -1; 4 inputs on axis 1 of rank 3; one input
 * empty along the axis; a single input. */
static nb_status concat_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                            nbi_check_case *c) {
    (void)def;
    static const int rank[] = {2, 3, 3, 2, 2}, count[] = {2, 3, 4, 3, 1};
    static const int64_t axis[] = {0, -1, 1, 0, 1};
    int64_t d[3];
    nbi_gen_shape(rng, 3, 3, d);
    int r = rank[k], ax = norm_axis(axis[k], r);
    c->attrs.i[0] = axis[k];
    c->has_attrs = 1;
    c->n_in = count[k];
    for (int j = 0; j < count[k]; j++) {
        int64_t s[3] = {d[0], d[1], d[2]};
        s[ax] = 1 + (int64_t)nb_rng_below(rng, 3);
        if (k == 3 && j == 1) s[ax] = 0;
        c->in[j] = gen_in(ctx, rng, r, s);
        if (!c->in[j]) return ctx->status;
    }
    return NB_OK;
}

const nbi_op_def nbi_op_concat = {
    .name = "concat",
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .check = {.gen = concat_gen, .cases = 5, .atol = 1e-6f, .rtol = 1e-6f},
};

nb_tensor *nb_concat(nb_ctx *ctx, nb_tensor *const *xs, int n, int axis) {
    if (ctx && (!xs || n < 1)) {
        nbi_error(NB_ERR_ARG, "concat: need at least one input (got %d%s)", n,
                  xs ? "" : ", xs NULL");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = axis;
    return nbi_apply(ctx, NBI_OP_CONCAT, xs, n, &a);
}
