/* kernels/ref/loss.c — loss functions on raw arrays (the ops are in ops/loss.c):
 *
 *   pointwise   ℓ_i = ℓ(p_i, t_i) for mse, l1, bce, bce with logits
 *   class       ℓ_i = -x[i, y_i] (nll of log-probabilities; cross-entropy is nll of the
 *               log-softmax), with backward -[j = y_i] and, for cross-entropy,
 *               softmax(x_i)_j - [j = y_i] = exp(logsoftmax_ij) - [j = y_i]
 *
 * reduced as nb_reduction says (0 mean, 1 sum, 2 none): L = Σ ℓ_i in double, divided by the
 * count for the mean (NaN for none at all, as PyTorch). Backward scales dℓ_i by s_i = gy_i
 * (none), gy[0] (sum) or gy[0] / n (mean). */
#include "kernels/kernels.h"

#include <math.h>

enum { RED_MEAN = 0, RED_SUM = 1, RED_NONE = 2 }; /* nb_reduction's values */

/* PyTorch clamps the logs of bce at -100, so p = 0 or 1 gives a finite loss. */
#define BCE_LOG_MIN -100.0f
/* and keeps the derivative finite with p (1 - p) >= 1e-12 */
#define BCE_EPS 1e-12f

/* log v clamped below at -100; NaN stays NaN */
static float clamped_log(float v) {
    float l = logf(v);
    return l < BCE_LOG_MIN ? BCE_LOG_MIN : l;
}

static float clamped_log1m(float v) { /* log(1 - v) */
    float l = log1pf(-v);
    return l < BCE_LOG_MIN ? BCE_LOG_MIN : l;
}

/* σ(x) without overflow for either sign */
static float stable_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* ℓ(p, t) for one element. */
static inline float pair_loss(int kind, float p, float t) {
    switch (kind) {
    case NBI_LOSS_MSE: { /* (p - t)² */
        float d = p - t;
        return d * d;
    }
    case NBI_LOSS_L1: /* |p - t| */
        return fabsf(p - t);
    case NBI_LOSS_BCE: /* -(t log p + (1 - t) log(1 - p)), logs clamped at -100 */
        return -(t * clamped_log(p) + (1.0f - t) * clamped_log1m(p));
    default: /* NBI_LOSS_BCE_LOGITS: max(x, 0) - x t + log(1 + exp(-|x|)), never exp of a
                large positive number; max(NaN, 0) is NaN, as PyTorch's */
        return (p < 0.0f ? 0.0f : p) - p * t + log1pf(expf(-fabsf(p)));
    }
}

/* dℓ/dp and dℓ/dt for one element. */
static inline void pair_deriv(int kind, float p, float t, float *dp, float *dt) {
    switch (kind) {
    case NBI_LOSS_MSE: /* ∂/∂p = 2 (p - t), ∂/∂t = -2 (p - t) */
        *dp = 2.0f * (p - t);
        *dt = -*dp;
        break;
    case NBI_LOSS_L1: /* ∂/∂p = sign(p - t) (0 at p = t, as PyTorch), ∂/∂t = -sign */
        *dp = p > t ? 1.0f : (p < t ? -1.0f : 0.0f);
        *dt = -*dp;
        break;
    case NBI_LOSS_BCE: { /* ∂/∂p = (p - t) / (p (1 - p)), the denominator kept >= 1e-12;
                            ∂/∂t = log(1 - p) - log p, clamped as in the forward */
        float den = p * (1.0f - p);
        *dp = (p - t) / (den > BCE_EPS ? den : BCE_EPS);
        *dt = clamped_log1m(p) - clamped_log(p);
        break;
    }
    default: /* NBI_LOSS_BCE_LOGITS: ∂/∂x = σ(x) - t, ∂/∂t = -x */
        *dp = stable_sigmoid(p) - t;
        *dt = -p;
        break;
    }
}

/* y = ℓ_i (none: n values) or their sum or mean (one value) */
void nbi_ref_pair_loss(int kind, int reduction, int64_t n, const float *p, const float *t,
                       float *y) {
    if (reduction == RED_NONE) {
        for (int64_t i = 0; i < n; i++) y[i] = pair_loss(kind, p[i], t[i]);
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)pair_loss(kind, p[i], t[i]);
    if (reduction == RED_MEAN) s /= (double)n; /* 0/0 = NaN for an empty input */
    y[0] = (float)s;
}

/* The scale of every dℓ_i under sum (gy) or mean (gy / n); none scales by gy_i instead. */
static float reduce_scale(int reduction, const float *gy, int64_t n) {
    if (reduction == RED_MEAN) return gy[0] / (float)n;
    return gy[0];
}

/* gp += s_i ∂ℓ_i/∂p_i, gt += s_i ∂ℓ_i/∂t_i (either may be NULL) */
void nbi_ref_pair_loss_bwd(int kind, int reduction, int64_t n, const float *p, const float *t,
                           const float *gy, float *gp, float *gt) {
    float s = reduce_scale(reduction, gy, n);
    for (int64_t i = 0; i < n; i++) {
        float dp, dt, si = reduction == RED_NONE ? gy[i] : s;
        pair_deriv(kind, p[i], t[i], &dp, &dt);
        if (gp) gp[i] += si * dp;
        if (gt) gt[i] += si * dt;
    }
}

/* ℓ_i = -x[i·rs + y_i·cs] for labels y (stride ls), reduced into out */
void nbi_ref_nll(int reduction, int64_t N, const float *x, int64_t rs, int64_t cs,
                 const int32_t *labels, int64_t ls, float *out) {
    if (reduction == RED_NONE) {
        for (int64_t i = 0; i < N; i++) out[i] = -x[i * rs + (int64_t)labels[i * ls] * cs];
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < N; i++) s += (double)-x[i * rs + (int64_t)labels[i * ls] * cs];
    if (reduction == RED_MEAN) s /= (double)N; /* NaN for N = 0, as PyTorch */
    out[0] = (float)s;
}

/* gx[i, y_i] -= s_i, gx contiguous [N, C] */
void nbi_ref_nll_bwd(int reduction, int64_t N, int64_t C, const float *gy, const int32_t *labels,
                     int64_t ls, float *gx) {
    float s = reduce_scale(reduction, gy, N);
    for (int64_t i = 0; i < N; i++) gx[i * C + labels[i * ls]] -= reduction == RED_NONE ? gy[i] : s;
}

/* gx[i, j] += s_i (exp(lp[i, j]) - [j = y_i]) from the log-softmax lp [N, C] */
void nbi_ref_cross_entropy_bwd(int reduction, int64_t N, int64_t C, const float *gy,
                               const float *lp, const int32_t *labels, int64_t ls, float *gx) {
    float s = reduce_scale(reduction, gy, N);
    for (int64_t i = 0; i < N; i++) {
        float si = reduction == RED_NONE ? gy[i] : s;
        const float *row = lp + i * C;
        float *grow = gx + i * C;
        for (int64_t j = 0; j < C; j++) grow[j] += si * expf(row[j]);
        grow[labels[i * ls]] -= si;
    }
}

/* The first i with x[i] outside [lo, hi] (NaN included), or -1. */
int64_t nbi_ref_find_outside(int64_t n, const float *x, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] >= lo && x[i] <= hi)) return i;
    return -1;
}

/* The first i whose label (stride ls) is not a class of [0, C), or -1. */
int64_t nbi_ref_find_bad_label(int64_t N, const int32_t *labels, int64_t ls, int64_t C) {
    for (int64_t i = 0; i < N; i++) {
        int32_t v = labels[i * ls];
        if (!(v >= 0 && v < C)) return i;
    }
    return -1;
}
