/* kernels/ref/norm.c — batch normalisation of x [N, C, S] per channel c (the op, its formulas
 * and its backward's derivation are in ops/norm.c):
 *
 *   statistics   μ_c = (1/M) Σ x,  σ²_c = (1/M) Σ (x − μ)²  (M = N·S; two passes, no
 *                cancellation), 1/σ̃_c = 1/sqrt(σ² + eps), and the running statistics
 *                r_μ ← (1 − m) r_μ + m μ,  r_σ² ← (1 − m) r_σ² + m σ² M/(M − 1)
 *   normalise    y = γ (x − μ)/σ̃ + β = scale·x + shift
 *   backward     dβ += Σ dy,  dγ += Σ dy x̂,  dx += (1/σ̃)(γ dy − mean(γ dy) − x̂ mean(γ dy x̂))
 *                (the means only in training)
 *
 * Synchronised batch norm (a data-parallel run: ops/norm.c) needs the same work in phases,
 * with the per-channel sums added up over every replica between them: Σx (then μ = Σx/M over
 * all replicas' M values), Σ(x − μ)² (then 1/σ̃ and the running statistics), and in backward
 * Σdy and Σdy x̂ (then dx). Both forms run the same per-channel code below (channel_*), so with
 * nothing added between the phases they give the bits of the single-pass entries.
 *
 * Every function works on the channels [c0, c1), so channels can be spread over threads:
 * a channel's sums run in one fixed order whoever computes them. The loops over a plane of
 * S values run in blocks of 16 the compiler vectorises; sums go into 16 float lanes added in
 * double (no reassociation needed, accurate for planes of thousands of values). */
#include "kernels/kernels.h"

#include <math.h>

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

/* y = x·scale + shift */
static void affine(const float *restrict x, float *restrict y, int64_t n, float scale,
                   float shift) {
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) y[i + k] = x[i + k] * scale + shift;
    for (; i < n; i++) y[i] = x[i] * scale + shift;
}

/* ---- one channel: the sums of its N planes of S values, each plane's sum added in double,
 * in plane order ----------------------------------------------------------------------------- */

/* Σ x over channel c */
static double channel_sum(const nbi_bn *g, int64_t c, const float *x) {
    double s = 0.0;
    for (int64_t i = 0; i < g->N; i++) s += sum_of(x + (i * g->C + c) * g->S, g->S);
    return s;
}

/* Σ (x − mu)² over channel c */
static double channel_sq(const nbi_bn *g, int64_t c, const float *x, float mu) {
    double q = 0.0;
    for (int64_t i = 0; i < g->N; i++) q += sq_of(x + (i * g->C + c) * g->S, g->S, mu);
    return q;
}

/* μ = Σx / M, as the float the normalisation uses */
static float channel_mean(double sx, double M) {
    return (float)(M ? sx / M : 0.0);
}

/* From q = Σ (x − μ)² over M values: 1/σ̃ = 1/sqrt(q/M + eps), and the running statistics
 * r_μ ← (1 − m) r_μ + m μ,  r_σ² ← (1 − m) r_σ² + m q/(M − 1) (the unbiased variance) */
static void channel_var(const nbi_bn *g, int64_t c, double q, double M, const float *mean,
                        float *invstd) {
    double var = M ? q / M : 0.0;
    invstd[c] = (float)(1.0 / sqrt(var + (double)g->eps));
    if (g->run_mean && M > 1) {
        const float mom = g->momentum;
        g->run_mean[c] = (1.0f - mom) * g->run_mean[c] + mom * mean[c];
        g->run_var[c] = (1.0f - mom) * g->run_var[c] + mom * (float)(q / (M - 1.0));
    }
}

/* Σ dy and Σ dy x̂ = (1/σ̃) Σ dy (x − μ) over channel c */
static void channel_grad_sums(const nbi_bn *g, int64_t c, const float *x, const float *gy, float mu,
                              float is, double *sg_out, double *sgx_out) {
    double sg = 0.0, sgx = 0.0;
    for (int64_t i = 0; i < g->N; i++) {
        const float *xs = x + (i * g->C + c) * g->S, *gs = gy + (i * g->C + c) * g->S;
        sg += sum_of(gs, g->S);
        sgx += dot_of(gs, xs, g->S, mu);
    }
    *sg_out = sg;
    *sgx_out = sgx * (double)is;
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

/* dx of channel c from its sums sg = Σ dy and sgx = Σ dy x̂ over M values */
static void channel_grad_x(const nbi_bn *g, int64_t c, const float *x, const float *gy, float mu,
                           float is, float gamma, double sg, double sgx, double M, float *dx) {
    /* g = γ dy: mean(g) = γ Σdy / M, mean(g x̂) = γ Σdy x̂ / M */
    const float mg = g->training ? (float)(gamma * sg / M) : 0.0f;
    const float mgx = g->training ? (float)(gamma * sgx / M) : 0.0f;
    for (int64_t i = 0; i < g->N; i++) {
        const int64_t o = (i * g->C + c) * g->S;
        bn_dx(x + o, gy + o, dx + o, g->S, mu, is, gamma, mg, mgx);
    }
}

/* ---- the single-pass entries ---------------------------------------------------------------- */

void nbi_ref_bn_stats(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, float *mean,
                      float *invstd) {
    const double M = (double)(g->N * g->S);
    for (int64_t c = c0; c < c1; c++) {
        if (g->training) {
            /* two passes: the mean, then the squares about it (no cancellation) */
            mean[c] = channel_mean(channel_sum(g, c, x), M);
            channel_var(g, c, channel_sq(g, c, x, mean[c]), M, mean, invstd);
        } else {
            mean[c] = g->run_mean[c];
            invstd[c] = (float)(1.0 / sqrt((double)g->run_var[c] + (double)g->eps));
        }
    }
}

void nbi_ref_bn_apply(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *mean,
                      const float *invstd, const float *w, const float *b, float *y) {
    const int64_t N = g->N, C = g->C, S = g->S;
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = c0; c < c1; c++) {
            /* y = γ (x − μ)/σ̃ + β = scale x + shift */
            float scale = invstd[c] * (w ? w[c] : 1.0f);
            float shift = (b ? b[c] : 0.0f) - mean[c] * scale;
            affine(x + (i * C + c) * S, y + (i * C + c) * S, S, scale, shift);
        }
}

void nbi_ref_bn_backward(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *gy,
                         const float *mean, const float *invstd, const float *w, float *dx,
                         float *dw, float *db) {
    const double M = (double)(g->N * g->S);
    for (int64_t c = c0; c < c1; c++) {
        double sg, sgx;
        channel_grad_sums(g, c, x, gy, mean[c], invstd[c], &sg, &sgx);
        if (db) db[c] += (float)sg;
        if (dw) dw[c] += (float)sgx;
        if (dx) channel_grad_x(g, c, x, gy, mean[c], invstd[c], w ? w[c] : 1.0f, sg, sgx, M, dx);
    }
}

/* ---- the phases of synchronised batch norm -------------------------------------------------- */

void nbi_ref_bn_sum_x(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, double *sx) {
    for (int64_t c = c0; c < c1; c++) sx[c] = channel_sum(g, c, x);
}

void nbi_ref_bn_sum_sq(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const double *sx,
                       double M, float *mean, double *sq) {
    for (int64_t c = c0; c < c1; c++) {
        mean[c] = channel_mean(sx[c], M);
        sq[c] = channel_sq(g, c, x, mean[c]);
    }
}

void nbi_ref_bn_var(const nbi_bn *g, int64_t c0, int64_t c1, const double *sq, double M,
                    const float *mean, float *invstd) {
    for (int64_t c = c0; c < c1; c++) channel_var(g, c, sq[c], M, mean, invstd);
}

void nbi_ref_bn_grad_sums(const nbi_bn *g, int64_t c0, int64_t c1, const float *x,
                          const float *gy, const float *mean, const float *invstd, float *dw,
                          float *db, double *sums) {
    for (int64_t c = c0; c < c1; c++) {
        double sg, sgx;
        channel_grad_sums(g, c, x, gy, mean[c], invstd[c], &sg, &sgx);
        if (db) db[c] += (float)sg;
        if (dw) dw[c] += (float)sgx;
        sums[c] = sg;
        sums[g->C + c] = sgx;
    }
}

void nbi_ref_bn_grad_x(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *gy,
                       const float *mean, const float *invstd, const float *w,
                       const double *sums, double M, float *dx) {
    for (int64_t c = c0; c < c1; c++)
        channel_grad_x(g, c, x, gy, mean[c], invstd[c], w ? w[c] : 1.0f, sums[c], sums[g->C + c],
                       M, dx);
}

/* Inverted dropout of n values: element i is multiplied by 0 when the i-th 32-bit draw of a
 * xoshiro stream seeded with `seed` is below p·2³², else by 1/(1 − p); y = or += (acc) that.
 * Multiplied, as PyTorch's x · mask, so a dropped NaN stays NaN. The stream is sequential, so
 * the mask is one pass on one thread. */
void nbi_ref_dropout(uint64_t seed, float p, int64_t n, const float *x, float *y, int acc) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const uint64_t threshold = (uint64_t)((double)p * 4294967296.0); /* p · 2³² */
    nb_rng r;
    nb_rng_seed(&r, seed);
    uint64_t bits = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((i & 1) == 0) bits = nb_rng_u64(&r);
        uint64_t u = (i & 1) ? bits >> 32 : bits & 0xffffffffu;
        float v = x[i] * (u < threshold ? 0.0f : scale);
        if (acc)
            y[i] += v;
        else
            y[i] = v;
    }
}
