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
 * are never differentiated.
 *
 * Synchronised batch norm (data-parallel runs; PyTorch's SyncBatchNorm): when the context has
 * a sum hook (nb_ctx_set_sum), the per-channel sums of forward (Σx with the count M, then
 * Σ(x − μ)²) and of backward (Σ dy, Σ dy x̂) are summed over every replica before use, so the
 * statistics and their gradients are those of the global batch; the arithmetic is the same.
 *
 * Inputs: x, then, as attrs.i flags say, weight γ, bias β, running_mean and running_var.
 * attrs.i: 0 training, 1 has weight, 2 has bias, 3 has running statistics;
 * attrs.f: 0 eps, 1 momentum. */
#include "autograd/autograd.h"

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
    double M;   /* values per channel the statistics were taken over (all replicas') */
    int synced; /* the statistics were summed over the replicas (nb_ctx_set_sum) */
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

/* ---- the loops over one plane of S values, in blocks of 16 the compiler vectorises; sums in
 * 16 float lanes added in double (no reassociation needed, accurate for planes of thousands
 * of values) -------------------------------------------------------------------------------- */

#define LANES 16

static double lanes_total(const float *acc) {
    double t = 0.0;
    for (int k = 0; k < LANES; k++) t += acc[k];
    return t;
}

/* Σ x */
static double sum_of(const float *restrict x, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += x[i];
    return lanes_total(acc);
}

/* Σ (x − mu)² */
static double sq_of(const float *restrict x, int64_t n, float mu) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            float d = x[i + k] - mu;
            acc[k] += d * d;
        }
    for (int k = 0; i < n; i++, k++) {
        float d = x[i] - mu;
        acc[k] += d * d;
    }
    return lanes_total(acc);
}

/* Σ g·(x − mu) */
static double dot_of(const float *restrict g, const float *restrict x, int64_t n, float mu) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += g[i + k] * (x[i + k] - mu);
    for (int k = 0; i < n; i++, k++) acc[k] += g[i] * (x[i] - mu);
    return lanes_total(acc);
}

/* Geometry: x [N, C, S] */
static void dims_of(const nb_tensor *x, int64_t *N, int64_t *C, int64_t *S) {
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int d = 2; d < x->rank; d++) *S *= x->shape[d];
}

/* y = x·scale + shift */
static void affine(const float *restrict x, float *restrict y, int64_t n, float scale,
                   float shift) {
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) y[i + k] = x[i + k] * scale + shift;
    for (; i < n; i++) y[i] = x[i] * scale + shift;
}

/* Training statistics: μ and 1/σ̃ per channel, and the running statistics updated. With a sum
 * hook (nb_ctx_set_sum: a data-parallel run with synchronised batch norm), the per-channel
 * sums and the count are summed over every replica first, so that μ and σ² are those of the
 * whole global batch: Σx and M, then Σ(x − μ)² about the global μ (two passes, as below). */
static nb_status bn_train_stats(nb_ctx *ctx, const float *xp, int64_t N, int64_t C, int64_t S,
                                float eps, float mom, float *mean, float *invstd, float *rm,
                                float *rv, double *Mout) {
    double *acc = nbi_ctx_alloc(ctx, sizeof(double) * (size_t)(C + 1), "batch_norm");
    if (!acc) return ctx->status;
    for (int64_t c = 0; c < C; c++) {
        double s = 0.0;
        for (int64_t i = 0; i < N; i++) s += sum_of(xp + (i * C + c) * S, S);
        acc[c] = s;
    }
    acc[C] = (double)(N * S);
    nb_status st = ctx->sum ? ctx->sum(acc, C + 1, ctx->sum_user) : NB_OK;
    if (st != NB_OK) return st;
    const double M = acc[C];
    for (int64_t c = 0; c < C; c++) {
        double mu = M ? acc[c] / M : 0.0;
        mean[c] = (float)mu;
        double q = 0.0;
        for (int64_t i = 0; i < N; i++) q += sq_of(xp + (i * C + c) * S, S, (float)mu);
        acc[c] = q;
    }
    st = ctx->sum ? ctx->sum(acc, C, ctx->sum_user) : NB_OK;
    if (st != NB_OK) return st;
    for (int64_t c = 0; c < C; c++) {
        double var = M ? acc[c] / M : 0.0;
        invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        if (rm && M > 1) {
            rm[c] = (1.0f - mom) * rm[c] + mom * mean[c];
            rv[c] = (1.0f - mom) * rv[c] + mom * (float)(acc[c] / (M - 1));
        }
    }
    *Mout = M;
    return NB_OK;
}

static nb_status bn_forward(nb_ctx *ctx, nbi_node *n) {
    bn_in in = inputs_of(n);
    const int64_t *a = n->attrs->i;
    const float eps = n->attrs->f[0], mom = n->attrs->f[1];
    nb_tensor *x = nbi_contig(ctx, in.x);
    if (!x) return ctx->status;
    int64_t N, C, S;
    dims_of(x, &N, &C, &S);
    nbi_arena_mark mk = nbi_arena_mark_get(&ctx->arena);
    bn_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, "batch_norm");
    float *mean = nbi_ctx_alloc(ctx, sizeof(float) * (size_t)(C ? C : 1), "batch_norm");
    float *invstd = nbi_ctx_alloc(ctx, sizeof(float) * (size_t)(C ? C : 1), "batch_norm");
    if (!sv || !mean || !invstd) return ctx->status;
    const float *xp = x->data;
    float *rm = in.rm ? in.rm->data : NULL, *rv = in.rv ? in.rv->data : NULL;
    double M = (double)(N * S);
    if (a[A_TRAIN]) {
        nb_status st = bn_train_stats(ctx, xp, N, C, S, eps, mom, mean, invstd, rm, rv, &M);
        if (st != NB_OK) return st;
    } else {
        for (int64_t c = 0; c < C; c++) {
            mean[c] = rm[c];
            invstd[c] = (float)(1.0 / sqrt((double)rv[c] + (double)eps));
        }
    }
    const float *w = in.w ? in.w->data : NULL, *b = in.b ? in.b->data : NULL;
    float *y = n->out->data;
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            /* y = γ (x − μ)/σ̃ + β = scale x + shift */
            float scale = invstd[c] * (w ? w[c] : 1.0f);
            float shift = (b ? b[c] : 0.0f) - mean[c] * scale;
            affine(xp + (i * C + c) * S, y + (i * C + c) * S, S, scale, shift);
        }
    if (n->recording) {
        sv->x = x;
        sv->mean = mean;
        sv->invstd = invstd;
        sv->M = M;
        sv->synced = a[A_TRAIN] && ctx->sum;
        n->saved = sv;
    } else {
        nbi_arena_release(&ctx->arena, mk);
    }
    return NB_OK;
}

/* dx += (1/σ̃) (γ dy − mean(g) − x̂ mean(g x̂)) */
static void bn_dx(const float *restrict x, const float *restrict gy, float *restrict dx, int64_t n,
                  float mu, float is, float gamma, float mg, float mgx) {
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int k = 0; k < LANES; k++) {
            float xh = (x[j + k] - mu) * is;
            dx[j + k] += is * (gamma * gy[j + k] - mg - xh * mgx);
        }
    for (; j < n; j++) {
        float xh = (x[j] - mu) * is;
        dx[j] += is * (gamma * gy[j] - mg - xh * mgx);
    }
}

static nb_status bn_backward(nb_ctx *ctx, nbi_node *n) {
    bn_in in = inputs_of(n);
    const bn_saved *sv = n->saved;
    const int train = n->attrs->i[A_TRAIN] != 0;
    int64_t N, C, S;
    dims_of(sv->x, &N, &C, &S);
    const float *xp = sv->x->data, *gy = n->out->grad->data;
    const float *w = in.w ? in.w->data : NULL;
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
    /* Σ dy and Σ dy x̂ = (1/σ̃) Σ dy (x − μ) per channel: dβ and dγ are this replica's share
     * (the gradient all-reduce adds the rest); the dx terms use the sums over every replica
     * when the statistics were synchronised (then dy is on the global loss's scale) */
    double *sums = nbi_ctx_alloc(ctx, sizeof(double) * (size_t)(2 * C + 1), "batch_norm");
    if (!sums) return ctx->status;
    for (int64_t c = 0; c < C; c++) {
        const float mu = sv->mean[c], is = sv->invstd[c];
        double sg = 0.0, sgx = 0.0;
        for (int64_t i = 0; i < N; i++) {
            const float *xs = xp + (i * C + c) * S, *gs = gy + (i * C + c) * S;
            sg += sum_of(gs, S);
            sgx += dot_of(gs, xs, S, mu);
        }
        sgx *= (double)is;
        if (db) db[c] += (float)sg;
        if (dw) dw[c] += (float)sgx;
        sums[c] = sg;
        sums[C + c] = sgx;
    }
    if (!dx) return NB_OK;
    const double M = sv->M;
    if (sv->synced && ctx->sum) {
        nb_status st = ctx->sum(sums, 2 * C, ctx->sum_user);
        if (st != NB_OK) return st;
    }
    for (int64_t c = 0; c < C; c++) {
        const float mu = sv->mean[c], is = sv->invstd[c];
        const double sg = sums[c], sgx = sums[C + c];
        const float gamma = w ? w[c] : 1.0f;
        /* g = γ dy: mean(g) = γ Σdy / M, mean(g x̂) = γ Σdy x̂ / M */
        const float mg = train ? (float)(gamma * sg / M) : 0.0f;
        const float mgx = train ? (float)(gamma * sgx / M) : 0.0f;
        for (int64_t i = 0; i < N; i++)
            bn_dx(xp + (i * C + c) * S, gy + (i * C + c) * S, dx + (i * C + c) * S, S, mu, is,
                  gamma, mg, mgx);
    }
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
        nb_requires_grad(rm, 0);
        nb_requires_grad(rv, 0);
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
