/* stats/discrete.c — discrete distributions given as arrays of probabilities.
 *
 *   E[X]      = Σ p_i x_i                     Var(X) = Σ p_i (x_i − E[X])²
 *   H(p)      = −Σ p_i log p_i                (entropy, nats; 0 log 0 = 0 by continuity)
 *   H(p, q)   = −Σ p_i log q_i                (cross-entropy: the loss of classification)
 *   KL(p ‖ q) = Σ p_i log(p_i / q_i) = H(p, q) − H(p) ≥ 0
 *   P(X = i | Y = j) = P(X = i, Y = j) / P(Y = j)
 *
 * Every input distribution is validated first (non-negative, finite, sums to 1), so a vector
 * of raw scores or counts passed by mistake is reported, not silently used. */
#include "base/base.h"
#include "nabla/stats.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

nb_status nb_stats_check_dist(const char *what, const float *p, int64_t n) {
    if (!what) what = "p";
    if (n <= 0) return nbi_error(NB_ERR_ARG, "%s: a distribution needs n > 0 entries, got %lld",
                                 what, (long long)n);
    if (!p) return nbi_error(NB_ERR_ARG, "%s is NULL", what);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!(p[i] >= 0.0f) || isinf(p[i]))
            return nbi_error(NB_ERR_ARG, "%s[%lld] = %g is not a probability (must be finite "
                             "and >= 0)", what, (long long)i, (double)p[i]);
        sum += p[i];
    }
    double tol = NB_STATS_PROB_TOL + (double)n * FLT_EPSILON;
    if (fabs(sum - 1.0) > tol)
        return nbi_error(NB_ERR_ARG, "%s sums to %.9g, not 1 (tolerance %.2g): normalise it "
                         "(divide by the sum; for scores use softmax)", what, sum, tol);
    return NB_OK;
}

static nb_status check_values(const char *fn, const float *values, int64_t n) {
    if (!values) return nbi_error(NB_ERR_ARG, "%s: values is NULL", fn);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(values[i]))
            return nbi_error(NB_ERR_ARG, "%s: values[%lld] = %g is not finite", fn, (long long)i,
                             (double)values[i]);
    return NB_OK;
}

/* The message prefix names the function: "nb_stats_expectation: p sums to ..." */
static nb_status check_dist_in(const char *fn, const char *name, const float *p, int64_t n) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s", fn, name);
    return nb_stats_check_dist(what, p, n);
}

nb_status nb_stats_expectation(const float *values, const float *p, int64_t n, double *mean) {
    const char *fn = "nb_stats_expectation";
    nb_status s = check_dist_in(fn, "p", p, n);
    if (s == NB_OK) s = check_values(fn, values, n);
    if (s != NB_OK) return s;
    if (!mean) return nbi_error(NB_ERR_ARG, "%s: mean is NULL", fn);
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) e += (double)p[i] * values[i];
    *mean = e;
    return NB_OK;
}

nb_status nb_stats_dist_var(const float *values, const float *p, int64_t n, double *var) {
    const char *fn = "nb_stats_dist_var";
    nb_status s = check_dist_in(fn, "p", p, n);
    if (s == NB_OK) s = check_values(fn, values, n);
    if (s != NB_OK) return s;
    if (!var) return nbi_error(NB_ERR_ARG, "%s: var is NULL", fn);
    double mu = 0.0, v = 0.0;
    for (int64_t i = 0; i < n; i++) mu += (double)p[i] * values[i];
    for (int64_t i = 0; i < n; i++) v += (double)p[i] * (values[i] - mu) * (values[i] - mu);
    *var = v;
    return NB_OK;
}

nb_status nb_stats_entropy(const float *p, int64_t n, double *h) {
    const char *fn = "nb_stats_entropy";
    nb_status s = check_dist_in(fn, "p", p, n);
    if (s != NB_OK) return s;
    if (!h) return nbi_error(NB_ERR_ARG, "%s: h is NULL", fn);
    double e = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (p[i] > 0.0f) e -= (double)p[i] * log((double)p[i]);
    *h = e;
    return NB_OK;
}

/* kl 0: H(p, q); kl 1: KL(p ‖ q). */
static nb_status cross(const char *fn, const float *p, const float *q, int64_t n, int kl,
                       double *out) {
    nb_status s = check_dist_in(fn, "p", p, n);
    if (s == NB_OK) s = check_dist_in(fn, "q", q, n);
    if (s != NB_OK) return s;
    if (!out) return nbi_error(NB_ERR_ARG, "%s: the output is NULL", fn);
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] == 0.0f) continue; /* 0 log(0 / q) = 0 log q = 0 */
        if (q[i] == 0.0f) {
            *out = INFINITY;
            return nbi_error(NB_ERR_NUMERIC, "%s: the result is +infinity: q[%lld] = 0 where "
                             "p[%lld] = %g > 0 (p puts mass where q has none); mix q with a "
                             "little of the uniform distribution if a finite value is needed",
                             fn, (long long)i, (long long)i, (double)p[i]);
        }
        acc += kl ? (double)p[i] * log((double)p[i] / (double)q[i])
                  : -(double)p[i] * log((double)q[i]);
    }
    *out = acc;
    return NB_OK;
}

nb_status nb_stats_cross_entropy(const float *p, const float *q, int64_t n, double *h) {
    return cross("nb_stats_cross_entropy", p, q, n, 0, h);
}

nb_status nb_stats_kl(const float *p, const float *q, int64_t n, double *kl) {
    return cross("nb_stats_kl", p, q, n, 1, kl);
}

static nb_status check_joint(const char *fn, const float *joint, int64_t nx, int64_t ny) {
    if (nx <= 0 || ny <= 0)
        return nbi_error(NB_ERR_ARG, "%s: the joint table must be at least 1x1, got %lldx%lld",
                         fn, (long long)nx, (long long)ny);
    size_t cells;
    if (!nbi_mul_size((size_t)nx, (size_t)ny, &cells) || cells > (size_t)INT64_MAX)
        return nbi_error(NB_ERR_ARG, "%s: a %lldx%lld table is too large", fn, (long long)nx,
                         (long long)ny);
    return check_dist_in(fn, "the joint table", joint, nx * ny);
}

nb_status nb_stats_marginals(const float *joint, int64_t nx, int64_t ny, float *px, float *py) {
    nb_status s = check_joint("nb_stats_marginals", joint, nx, ny);
    if (s != NB_OK) return s;
    for (int64_t i = 0; px && i < nx; i++) {
        double r = 0.0;
        for (int64_t j = 0; j < ny; j++) r += joint[i * ny + j];
        px[i] = (float)r;
    }
    for (int64_t j = 0; py && j < ny; j++) {
        double c = 0.0;
        for (int64_t i = 0; i < nx; i++) c += joint[i * ny + j];
        py[j] = (float)c;
    }
    return NB_OK;
}

nb_status nb_stats_conditional(const float *joint, int64_t nx, int64_t ny, float *cond) {
    const char *fn = "nb_stats_conditional";
    nb_status s = check_joint(fn, joint, nx, ny);
    if (s != NB_OK) return s;
    if (!cond) return nbi_error(NB_ERR_ARG, "%s: cond is NULL", fn);
    for (int64_t j = 0; j < ny; j++) { /* validate every column before writing any */
        double c = 0.0;
        for (int64_t i = 0; i < nx; i++) c += joint[i * ny + j];
        if (c == 0.0)
            return nbi_error(NB_ERR_ARG, "%s: P(Y = %lld) = 0 (column %lld of the joint table "
                             "is all zeros), so P(X | Y = %lld) is undefined", fn, (long long)j,
                             (long long)j, (long long)j);
    }
    for (int64_t j = 0; j < ny; j++) {
        double c = 0.0;
        for (int64_t i = 0; i < nx; i++) c += joint[i * ny + j];
        for (int64_t i = 0; i < nx; i++) cond[i * ny + j] = (float)(joint[i * ny + j] / c);
    }
    return NB_OK;
}
