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

void nbi_ref_bn_stats(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, float *mean,
                      float *invstd) {
    const int64_t N = g->N, C = g->C, S = g->S, M = N * S;
    for (int64_t c = c0; c < c1; c++) {
        if (g->training) {
            double s = 0.0, q = 0.0;
            for (int64_t i = 0; i < N; i++) s += sum_of(x + (i * C + c) * S, S);
            double mu = M ? s / (double)M : 0.0;
            for (int64_t i = 0; i < N; i++) q += sq_of(x + (i * C + c) * S, S, (float)mu);
            double var = M ? q / (double)M : 0.0;
            mean[c] = (float)mu;
            invstd[c] = (float)(1.0 / sqrt(var + (double)g->eps));
            if (g->run_mean && M > 1) {
                const float mom = g->momentum;
                g->run_mean[c] = (1.0f - mom) * g->run_mean[c] + mom * (float)mu;
                g->run_var[c] = (1.0f - mom) * g->run_var[c] + mom * (float)(q / (double)(M - 1));
            }
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

void nbi_ref_bn_backward(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *gy,
                         const float *mean, const float *invstd, const float *w, float *dx,
                         float *dw, float *db) {
    const int64_t N = g->N, C = g->C, S = g->S;
    const double M = (double)(N * S);
    for (int64_t c = c0; c < c1; c++) {
        const float mu = mean[c], is = invstd[c];
        double sg = 0.0, sgx = 0.0; /* Σ dy, Σ dy x̂ = (1/σ̃) Σ dy (x − μ) */
        for (int64_t i = 0; i < N; i++) {
            const float *xs = x + (i * C + c) * S, *gs = gy + (i * C + c) * S;
            sg += sum_of(gs, S);
            sgx += dot_of(gs, xs, S, mu);
        }
        sgx *= (double)is;
        if (db) db[c] += (float)sg;
        if (dw) dw[c] += (float)sgx;
        if (!dx) continue;
        const float gamma = w ? w[c] : 1.0f;
        /* g = γ dy: mean(g) = γ Σdy / M, mean(g x̂) = γ Σdy x̂ / M */
        const float mg = g->training ? (float)(gamma * sg / M) : 0.0f;
        const float mgx = g->training ? (float)(gamma * sgx / M) : 0.0f;
        for (int64_t i = 0; i < N; i++)
            bn_dx(x + (i * C + c) * S, gy + (i * C + c) * S, dx + (i * C + c) * S, S, mu, is, gamma,
                  mg, mgx);
    }
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
