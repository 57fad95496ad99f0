/* ops/norm.c — batch normalisation over axis 1 of [N, C] or [N, C, ...] input (PyTorch's
 * BatchNorm1d/2d/3d), with the statistics of each channel over its M = N·S values (S the
 * product of the trailing axes):
 *
 *   training   μ = (1/M) Σ x,  σ² = (1/M) Σ (x − μ)²,  x̂ = (x − μ) / sqrt(σ² + eps),
 *              y = γ x̂ + β;  running_mean ← (1 − m) running_mean + m μ,
 *                            running_var  ← (1 − m) running_var + m σ² M/(M − 1)
 *   eval       x̂ = (x − running_mean) / sqrt(running_var + eps),  y = γ x̂ + β
 *
 * Backward. dβ = Σ dy, dγ = Σ dy x̂ in both modes. In eval the normalisation is a fixed
 * affine map, dx = γ dy / sqrt(running_var + eps). In training μ and σ² depend on x too;
 * differentiating through them gives, per channel with g = γ dy and σ̃ = sqrt(σ² + eps),
 *
 *   dx = (1/σ̃) (g − mean(g) − x̂ mean(g x̂))
 *
 * (the two subtracted terms are the paths through μ and through σ²). Statistics are summed in
 * double. The running statistics are updated in place during forward (as PyTorch does) and
 * are never differentiated. The loops are the back end's (kernels/ref/norm.c), channel by
 * channel.
 *
 * Inputs: x, then, as attrs.i flags say, weight γ, bias β, running_mean and running_var.
 * attrs.i: 0 training, 1 has weight, 2 has bias, 3 has running statistics;
 * attrs.f: 0 eps, 1 momentum. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { A_TRAIN, A_HAS_W, A_HAS_B, A_HAS_RUN };

typedef struct bn_in {
    nb_tensor *x, *w, *b, *rm, *rv;
} bn_in;

static bn_in inputs_of(const nbi_node *n) {
    const int64_t *a = n->attrs->i;
    bn_in r = {n->in[0], NULL, NULL, NULL, NULL};
    int k = 1;
    if (a[A_HAS_W]) r.w = n->in[k++];
    if (a[A_HAS_B]) r.b = n->in[k++];
    if (a[A_HAS_RUN]) {
        r.rm = n->in[k++];
        r.rv = n->in[k++];
    }
    return r;
}

/* saved for backward: the per-channel mean and 1/σ̃ that forward normalised with */
typedef struct bn_saved {
    nb_tensor *x; /* contiguous */
    float *mean, *invstd;
} bn_saved;

static nb_status bn_infer(const nbi_node *n, nb_tensor *out) {
    const int64_t *a = n->attrs->i;
    int want = 1 + (a[A_HAS_W] != 0) + (a[A_HAS_B] != 0) + 2 * (a[A_HAS_RUN] != 0);
    NBI_ASSERT(n->n_in == want);
    bn_in in = inputs_of(n);
    const nb_tensor *x = in.x;
    char what[200];
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (x->rank < 2) return nbi_shape_error(n, "input must be [N, C] or [N, C, ...]");
    int64_t C = x->shape[1];
    const nb_tensor *per[4] = {in.w, in.b, in.rm, in.rv};
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        if (per[i] && (per[i]->rank != 1 || per[i]->shape[0] != C)) {
            snprintf(what, sizeof what, "%s must be [%lld], one per channel (axis 1)", names[i],
                     (long long)C);
            return nbi_shape_error(n, what);
        }
    }
    for (int i = 2; i < 4; i++) {
        if (per[i] && (per[i]->flags & NB_TF_REQUIRES_GRAD)) {
            snprintf(what, sizeof what,
                     "%s must not require a gradient (it is a statistic, "
                     "not a parameter)",
                     names[i]);
            return nbi_shape_error(n, what);
        }
        if (per[i] && !nb_tensor_is_contiguous(per[i])) {
            snprintf(what, sizeof what, "%s must be contiguous (it is updated in place)", names[i]);
            return nbi_shape_error(n, what);
        }
    }
    if (!a[A_TRAIN] && !a[A_HAS_RUN])
        return nbi_shape_error(n, "evaluation mode needs running_mean and running_var");
    int64_t M = C ? x->numel / C : 0;
    if (a[A_TRAIN] && M < 2 && x->numel > 0) {
        snprintf(what, sizeof what,
                 "training needs more than one value per channel, got %lld "
                 "(a batch of one [N=1, C] has no variance)",
                 (long long)M);
        return nbi_shape_error(n, what);
    }
    out->dtype = NB_F32;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof x->shape);
    return NB_OK;
}

/* The kernels' geometry: x [N, C, S], S the product of the trailing axes. */
static nbi_bn geom_of(const nbi_node *n, const nb_tensor *x, const bn_in *in) {
    nbi_bn g = {.N = x->shape[0],
                .C = x->shape[1],
                .S = 1,
                .training = n->attrs->i[A_TRAIN] != 0,
                .eps = n->attrs->f[0],
                .momentum = n->attrs->f[1],
                .run_mean = in->rm ? in->rm->data : NULL,
                .run_var = in->rv ? in->rv->data : NULL};
    for (int d = 2; d < x->rank; d++) g.S *= x->shape[d];
    return g;
}

static nb_status bn_forward(nb_ctx *ctx, nbi_node *n) {
    bn_in in = inputs_of(n);
    nb_tensor *x = nbi_contig(ctx, in.x);
    if (!x) return ctx->status;
    const nbi_bn g = geom_of(n, x, &in);
    const size_t C = (size_t)(g.C ? g.C : 1);
    nbi_arena_mark mk = nbi_arena_mark_get(&ctx->arena);
    bn_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, "batch_norm");
    float *mean = nbi_ctx_alloc(ctx, sizeof(float) * C, "batch_norm");
    float *invstd = nbi_ctx_alloc(ctx, sizeof(float) * C, "batch_norm");
    if (!sv || !mean || !invstd) return ctx->status;
    const nbi_backend *be = ctx->be;
    be->bn_stats(be, &g, x->data, mean, invstd);
    be->bn_apply(be, &g, x->data, mean, invstd, in.w ? in.w->data : NULL,
                 in.b ? in.b->data : NULL, n->out->data);
    if (n->recording) {
        sv->x = x;
        sv->mean = mean;
        sv->invstd = invstd;
        n->saved = sv;
    } else {
        nbi_arena_release(&ctx->arena, mk);
    }
    return NB_OK;
}

static nb_status bn_backward(nb_ctx *ctx, nbi_node *n) {
    bn_in in = inputs_of(n);
    const bn_saved *sv = n->saved;
    float *dx = NULL, *dw = NULL, *db = NULL;
    int k = 1;
    if (nbi_needs_grad(n, 0)) {
        nb_tensor *g = nbi_grad(ctx, in.x);
        if (!g) return ctx->status;
        dx = g->data;
    }
    if (in.w && nbi_needs_grad(n, k)) {
        nb_tensor *g = nbi_grad(ctx, in.w);
        if (!g) return ctx->status;
        dw = g->data;
    }
    if (in.w) k++;
    if (in.b && nbi_needs_grad(n, k)) {
        nb_tensor *g = nbi_grad(ctx, in.b);
        if (!g) return ctx->status;
        db = g->data;
    }
    const nbi_bn g = geom_of(n, sv->x, &in);
    ctx->be->bn_backward(ctx->be, &g, sv->x->data, n->out->grad->data, sv->mean, sv->invstd,
                         in.w ? in.w->data : NULL, dx, dw, db);
    return NB_OK;
}

/* ---- check cases ---------------------------------------------------------------------------- */

/* case: rank, shape, training, weight, bias, running */
static const struct {
    int rank;
    int64_t shape[4];
    int train, w, b, run;
} bn_cases[] = {
    {4, {3, 2, 3, 2}, 1, 1, 1, 1}, /* BatchNorm2d, training */
    {2, {5, 3}, 1, 1, 1, 1},       /* BatchNorm1d on [N, C] */
    {3, {2, 3, 4}, 1, 0, 0, 0},    /* no affine, no running statistics */
    {4, {2, 3, 2, 3}, 0, 1, 1, 1}, /* eval: running statistics */
    {3, {4, 2, 3}, 1, 1, 0, 1},    /* weight without bias */
};
#define BN_CASES ((int)(sizeof bn_cases / sizeof bn_cases[0]))

static nb_status bn_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k, nbi_check_case *c) {
    (void)def;
    int64_t C = bn_cases[k].shape[1];
    memset(&c->attrs, 0, sizeof c->attrs);
    c->attrs.i[A_TRAIN] = bn_cases[k].train;
    c->attrs.i[A_HAS_W] = bn_cases[k].w;
    c->attrs.i[A_HAS_B] = bn_cases[k].b;
    c->attrs.i[A_HAS_RUN] = bn_cases[k].run;
    c->attrs.f[0] = 1e-5f;
    c->attrs.f[1] = 0.1f;
    c->has_attrs = 1;
    int m = 0;
    c->in[m++] =
        nbi_gen_input(ctx, rng, bn_cases[k].rank, bn_cases[k].shape, -2.0f, 2.0f, NULL, 0, 0.0f);
    if (bn_cases[k].w) c->in[m++] = nbi_gen_input(ctx, rng, 1, &C, 0.5f, 1.5f, NULL, 0, 0.0f);
    if (bn_cases[k].b) c->in[m++] = nbi_gen_input(ctx, rng, 1, &C, -1.0f, 1.0f, NULL, 0, 0.0f);
    if (bn_cases[k].run) {
        nb_tensor *rm = nbi_gen_input(ctx, rng, 1, &C, -0.5f, 0.5f, NULL, 0, 0.0f);
        nb_tensor *rv = nbi_gen_input(ctx, rng, 1, &C, 0.5f, 2.0f, NULL, 0, 0.0f);
        if (!rm || !rv) return ctx->status;
        nb_tensor_set_requires_grad(rm, 0);
        nb_tensor_set_requires_grad(rv, 0);
        c->in[m++] = rm;
        c->in[m++] = rv;
    }
    c->n_in = m;
    for (int i = 0; i < m; i++)
        if (!c->in[i]) return ctx->status;
    return NB_OK;
}

/* The normalisation divides by σ̃ ≈ 1 and sums a few dozen terms: 4th-order differences
 * agree to a few 1e-5. */
const nbi_op_def nbi_op_batch_norm = {
    .name = "batch_norm",
    .infer = bn_infer,
    .forward = bn_forward,
    .backward = bn_backward,
    .check = {.gen = bn_gen, .cases = BN_CASES, .atol = 2e-4f, .rtol = 2e-4f},
};

nb_tensor *nb_batch_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *weight, nb_tensor *bias,
                         nb_tensor *running_mean, nb_tensor *running_var, int training,
                         float momentum, float eps) {
    nb_tensor *in[5];
    int k = 0;
    in[k++] = x;
    if (weight) in[k++] = weight;
    if (bias) in[k++] = bias;
    if (!ctx) return nbi_apply(ctx, NBI_OP_BATCH_NORM, in, 1, NULL); /* reports it */
    if ((running_mean == NULL) != (running_var == NULL)) {
        nbi_error(NB_ERR_ARG, "batch_norm: give both running_mean and running_var, or neither");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) {
        nbi_error(NB_ERR_ARG,
                  "batch_norm: need eps > 0 and 0 <= momentum <= 1, got eps %g, "
                  "momentum %g",
                  (double)eps, (double)momentum);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (running_mean) {
        in[k++] = running_mean;
        in[k++] = running_var;
    }
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[A_TRAIN] = training != 0;
    a.i[A_HAS_W] = weight != NULL;
    a.i[A_HAS_B] = bias != NULL;
    a.i[A_HAS_RUN] = running_mean != NULL;
    a.f[0] = eps;
    a.f[1] = momentum;
    return nbi_apply(ctx, NBI_OP_BATCH_NORM, in, k, &a);
}
