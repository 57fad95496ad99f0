/* ops/moments.c — variance, standard deviation and covariance as differentiable ops, and the
 * correlation matrix; the tensor forms of src/stats/moments.c.
 *
 *   var_g = Σ_{i∈g} (x_i − μ_g)² / (N − ddof)      over each group g of the reduced axes
 *           ∂var/∂x_i = 2 (x_i − μ) / (N − ddof)    (the μ term drops out: Σ (x_i − μ) = 0)
 *   std_g = √var_g,   ∂std/∂x_i = (x_i − μ) / ((N − ddof) σ)      (0 where σ = 0)
 *   C = Xcᵀ Xc / (N − ddof),  X [..., N, V] rows = observations
 *           ∂L/∂X = Xc (G + Gᵀ) / (N − ddof)
 *
 * Sums run in double, two passes (mean, then squared deviations). Backward recomputes the
 * means instead of keeping them on the tape. var and std run in the back end
 * (kernels/ref/moments.c) over the groups' geometry made here. */
#include "kernels/backend.h"
#include "nabla/stats.h"
#include "ops/linalg_batch.h"

#include <math.h>
#include <string.h>

/* The axes mask for a tensor of this rank: NB_ALL_AXES means every axis; an empty mask
 * reduces nothing (groups of one element, as numpy's axis=()). */
static unsigned norm_mask(unsigned axes, int rank) {
    return axes == NB_ALL_AXES ? (1u << rank) - 1u : axes;
}

/* Splits x's dimensions into kept (the groups) and reduced (within a group), with strides in
 * x and in a contiguous tensor of x's shape (its gradient): the kernels' geometry. */
static void groups_of(const nb_tensor *x, unsigned mask, nbi_groups *g) {
    int64_t cs[NB_MAX_RANK], s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        cs[d] = s;
        s *= x->shape[d];
    }
    memset(g, 0, sizeof *g);
    g->nout = g->N = 1;
    for (int d = 0; d < x->rank; d++) {
        int red = (mask >> d) & 1u;
        nbi_walk *w = red ? &g->red : &g->kept;
        w->shape[w->rank] = x->shape[d];
        w->sx[w->rank] = x->stride[d];
        w->sg[w->rank] = cs[d];
        w->rank++;
        if (red)
            g->N *= x->shape[d];
        else
            g->nout *= x->shape[d];
    }
}

/* ---- var and std ------------------------------------------------------------------------------ */
/* attrs: i[0] axes mask, i[1] ddof, i[2] keepdims */

static nb_status var_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    unsigned axes = (unsigned)n->attrs->i[0];
    int64_t ddof = n->attrs->i[1];
    unsigned mask = norm_mask(axes, x->rank);
    char msg[160];
    if ((mask >> x->rank) != 0u) {
        snprintf(msg, sizeof msg, "axes mask 0x%x names an axis beyond rank %d", axes, x->rank);
        return nbi_shape_error(n, msg);
    }
    int64_t N = 1;
    out->rank = 0;
    for (int d = 0; d < x->rank; d++) {
        if ((mask >> d) & 1u) {
            N *= x->shape[d];
            if (n->attrs->i[2]) out->shape[out->rank++] = 1;
        } else {
            out->shape[out->rank++] = x->shape[d];
        }
    }
    if (ddof < 0) return nbi_shape_error(n, "ddof must be >= 0");
    if (N - ddof <= 0) {
        snprintf(msg, sizeof msg,
                 "each group has %lld elements, which leaves no degrees of freedom with ddof %lld",
                 (long long)N, (long long)ddof);
        return nbi_shape_error(n, msg);
    }
    out->dtype = NB_F32;
    return NB_OK;
}

static nb_status var_forward(nb_ctx *ctx, nbi_node *n) {
    const nb_tensor *x = n->in[0];
    nbi_groups g;
    groups_of(x, norm_mask((unsigned)n->attrs->i[0], x->rank), &g);
    ctx->be->moments_var(ctx->be, &g, x->data, (double)(g.N - n->attrs->i[1]),
                         nbi_ops[n->op]->aux == 1, n->out->data);
    return NB_OK;
}

static nb_status var_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    const nb_tensor *x = n->in[0];
    nb_tensor *gx = nbi_grad(ctx, n->in[0]);
    if (!gx) return ctx->status;
    nbi_groups g;
    groups_of(x, norm_mask((unsigned)n->attrs->i[0], x->rank), &g);
    ctx->be->moments_var_bwd(ctx->be, &g, x->data, n->out->grad->data,
                             (double)(g.N - n->attrs->i[1]), nbi_ops[n->op]->aux == 1, gx->data);
    return NB_OK;
}

/* Check cases: [n] all axes; [m,n] axis 0 ddof 1; [m,n] axis 1 keepdims; [a,b,c] axes 0 and 2
 * ddof 1; [a,b,c] all axes, ddof 1, keepdims. Every reduced group has at least 2 elements. */
static nb_status var_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c) {
    (void)def;
    static const int ranks[] = {1, 2, 2, 3, 3};
    static const unsigned masks[] = {NB_ALL_AXES, NB_AXIS(0), NB_AXIS(1), NB_AXIS(0) | NB_AXIS(2),
                                     NB_ALL_AXES};
    static const int ddofs[] = {0, 1, 0, 1, 1}, keeps[] = {0, 0, 1, 0, 1};
    int64_t shape[3];
    nbi_gen_shape(rng, ranks[k], 3, shape);
    for (int i = 0; i < ranks[k]; i++) shape[i] += 1; /* 2..4 */
    c->n_in = 1;
    c->in[0] = nbi_gen_input(ctx, rng, ranks[k], shape, 0.0f, 0.0625f, NULL, 0, 0.0f);
    if (!c->in[0]) return ctx->status;
    /* spread: element e gets 0.25 π(e) − 0.125 numel for a random permutation π, so any two
     * elements differ by at least 0.19 and every group's σ stays far above the step h
     * (std = √var bends sharply near σ = 0) */
    int64_t perm[64], numel = c->in[0]->numel;
    NBI_ASSERT(numel <= 64);
    for (int64_t i = 0; i < numel; i++) perm[i] = i;
    nb_rng_shuffle_i64(rng, perm, numel);
    float *p = c->in[0]->data;
    for (int64_t i = 0; i < numel; i++) p[i] += 0.25f * (float)perm[i] - 0.125f * (float)numel;
    c->attrs.i[0] = masks[k];
    c->attrs.i[1] = ddofs[k];
    c->attrs.i[2] = keeps[k];
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_var = {
    .name = "var",
    .infer = var_infer,
    .forward = var_forward,
    .backward = var_backward,
    .aux = 0,
    .check = {.gen = var_gen, .cases = 5, .atol = 1e-4f, .rtol = 1e-4f},
};

const nbi_op_def nbi_op_std = {
    .name = "std",
    .infer = var_infer,
    .forward = var_forward,
    .backward = var_backward,
    .aux = 1,
    .check = {.gen = var_gen, .cases = 5, .atol = 1e-4f, .rtol = 1e-4f},
};

static nb_tensor *moment(nb_ctx *ctx, int op, nb_tensor *x, unsigned axes, int ddof,
                         int keepdims) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = axes;
    a.i[1] = ddof;
    a.i[2] = keepdims != 0;
    return nbi_apply(ctx, op, &x, 1, &a);
}

nb_tensor *nb_var(nb_ctx *ctx, nb_tensor *x, unsigned axes, int ddof, int keepdims) {
    return moment(ctx, NBI_OP_VAR, x, axes, ddof, keepdims);
}

nb_tensor *nb_std(nb_ctx *ctx, nb_tensor *x, unsigned axes, int ddof, int keepdims) {
    return moment(ctx, NBI_OP_STD, x, axes, ddof, keepdims);
}

/* ---- covariance ------------------------------------------------------------------------------ */
/* attrs: i[0] ddof */

static nb_status cov_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *x = n->in[0];
    if (x->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    if (x->rank < 2) return nbi_shape_error(n, "needs observations x variables [..., N, V]");
    int64_t N = x->shape[x->rank - 2], V = x->shape[x->rank - 1], ddof = n->attrs->i[0];
    if (ddof < 0) return nbi_shape_error(n, "ddof must be >= 0");
    if (N - ddof <= 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "%lld observations leave no degrees of freedom with ddof %lld",
                 (long long)N, (long long)ddof);
        return nbi_shape_error(n, msg);
    }
    out->dtype = NB_F32;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)(x->rank - 2));
    out->shape[x->rank - 2] = V;
    out->shape[x->rank - 1] = V;
    return NB_OK;
}

static int64_t batch_count(int r, const int64_t *shape) {
    int64_t c = 1;
    for (int i = 0; i < r; i++) c *= shape[i];
    return c;
}

/* which 0: covariance (ddof from attrs); 1: correlation. One back-end call per batch item. */
static nb_status cov_run(nb_ctx *ctx, const nb_tensor *x, int64_t ddof, int which, float *y,
                         const char *fn) {
    int tb = x->rank - 2;
    int64_t N = x->shape[tb], V = x->shape[tb + 1], count = batch_count(tb, x->shape);
    int64_t st[NB_MAX_RANK];
    nbi_lb_strides(x, tb, tb, x->shape, st);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *scratch = nbi_lb_scratch(ctx, (size_t)(N * V + V * V), fn);
    if (!scratch) return ctx->status;
    const nbi_backend *be = ctx->be;
    nb_status s = NB_OK;
    for (int64_t k = 0; k < count && s == NB_OK; k++) {
        const float *xk = (const float *)x->data + nbi_lb_off(tb, x->shape, st, k);
        int64_t j = be->cov(be, which, N, V, xk, x->stride[tb], x->stride[tb + 1],
                            (double)(N - ddof), scratch, y + k * V * V);
        if (j >= 0) {
            char what[256];
            nbi_lb_what(what, sizeof what, x, tb, tb, x->shape, k);
            s = nbi_error(NB_ERR_ARG, "%s: variable %lld of %s has zero variance, so its "
                          "correlation is undefined", fn, (long long)j, what);
        }
    }
    nbi_arena_release(&ctx->arena, mark);
    return s;
}

static nb_status cov_forward(nb_ctx *ctx, nbi_node *n) {
    return cov_run(ctx, n->in[0], n->attrs->i[0], 0, n->out->data, "cov");
}

/* dX += Xc (G + Gᵀ) / dof */
static nb_status cov_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    const nb_tensor *x = n->in[0];
    nb_tensor *gx = nbi_grad(ctx, n->in[0]);
    if (!gx) return ctx->status;
    int tb = x->rank - 2;
    int64_t N = x->shape[tb], V = x->shape[tb + 1], count = batch_count(tb, x->shape);
    double dof = (double)(N - n->attrs->i[0]);
    int64_t st[NB_MAX_RANK];
    nbi_lb_strides(x, tb, tb, x->shape, st);
    nbi_arena_mark mark = nbi_arena_mark_get(&ctx->arena);
    double *scratch = nbi_lb_scratch(ctx, (size_t)(N * V + V * V), "cov backward");
    if (!scratch) return ctx->status;
    const nbi_backend *be = ctx->be;
    for (int64_t k = 0; k < count; k++)
        be->cov_bwd(be, N, V, (const float *)x->data + nbi_lb_off(tb, x->shape, st, k),
                    x->stride[tb], x->stride[tb + 1],
                    (const float *)n->out->grad->data + k * V * V, dof, scratch,
                    (float *)gx->data + k * N * V);
    nbi_arena_release(&ctx->arena, mark);
    return NB_OK;
}

/* Check cases: [N,V] ddof 1; [N,V] ddof 0; [2,N,V] ddof 1. */
static nb_status cov_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c) {
    (void)def;
    int64_t shape[3] = {2, 3 + (int64_t)nb_rng_below(rng, 3), 1 + (int64_t)nb_rng_below(rng, 3)};
    c->n_in = 1;
    c->in[0] = k == 2 ? nbi_gen_input(ctx, rng, 3, shape, -2.0f, 2.0f, NULL, 0, 0.0f)
                      : nbi_gen_input(ctx, rng, 2, shape + 1, -2.0f, 2.0f, NULL, 0, 0.0f);
    c->attrs.i[0] = k == 1 ? 0 : 1;
    c->has_attrs = 1;
    return c->in[0] ? NB_OK : ctx->status;
}

const nbi_op_def nbi_op_cov = {
    .name = "cov",
    .infer = cov_infer,
    .forward = cov_forward,
    .backward = cov_backward,
    .check = {.gen = cov_gen, .cases = 3, .atol = 1e-4f, .rtol = 1e-4f},
};

nb_tensor *nb_cov(nb_ctx *ctx, nb_tensor *x, int ddof) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = ddof;
    return nbi_apply(ctx, NBI_OP_COV, &x, 1, &a);
}

/* Not an op: correlation is not recorded (no gradient). Shapes as nb_cov. */
nb_tensor *nb_corr(nb_ctx *ctx, nb_tensor *x) {
    const char *fn = "corr";
    if (!ctx) {
        nbi_error(NB_ERR_ARG, "%s: context is NULL (create one with nb_ctx_new)", fn);
        return NULL;
    }
    if (!x) {
        if (ctx->status == NB_OK) nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: input is NULL", fn));
        return NULL;
    }
    char sh[96];
    nb_shape_str(x, sh, sizeof sh);
    if (x->dtype != NB_F32 || x->rank < 2 || x->shape[x->rank - 2] < 2) {
        nbi_error(NB_ERR_SHAPE, "%s: needs f32 observations x variables [..., N, V] with N >= 2 "
                  "(input %s)", fn, sh);
        return nbi_fail(ctx, NB_ERR_SHAPE);
    }
    int64_t shape[NB_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->rank - 2] = x->shape[x->rank - 1];
    nb_tensor *y = nbi_tensor_alloc(ctx, NB_F32, x->rank, shape);
    if (!y) return nbi_fail(ctx, NB_ERR_NOMEM);
    nb_status s = cov_run(ctx, x, 1, 1, y->data, fn);
    return s == NB_OK ? y : nbi_fail(ctx, s);
}
