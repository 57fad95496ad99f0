/* stats/moments.c — mean, variance, standard deviation, covariance and correlation of raw f32
 * arrays, accumulated in double.
 *
 *   mean  μ = Σ x_i / n
 *   var   Σ (x_i − μ)² / (n − ddof)        two passes: the one-pass E[x²] − μ² cancels
 *                                           catastrophically when |μ| ≫ σ
 *   cov   C = Xcᵀ Xc / (n − ddof),  Xc = X − 1 μᵀ   (rows = observations)
 *   corr  R_ij = C_ij / √(C_ii C_jj)
 *
 * The tensor forms (axes, batches, gradients) are ops in src/ops/moments.c. */
#include "base/base.h"
#include "nabla/stats.h"

#include <math.h>

static nb_status check_n(const char *fn, const float *x, int64_t n, int ddof) {
    if (ddof < 0) return nbi_error(NB_ERR_ARG, "%s: ddof %d is negative", fn, ddof);
    if (n - ddof <= 0)
        return nbi_error(NB_ERR_ARG, "%s: %lld values with ddof %d leave no degrees of freedom "
                         "(need more than %d values)", fn, (long long)n, ddof, ddof);
    if (!x) return nbi_error(NB_ERR_ARG, "%s: x is NULL", fn);
    return NB_OK;
}

static double mean_of(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

nb_status nb_stats_mean(const float *x, int64_t n, double *mean) {
    nb_status s = check_n("nb_stats_mean", x, n, 0);
    if (s != NB_OK) return s;
    if (!mean) return nbi_error(NB_ERR_ARG, "nb_stats_mean: mean is NULL");
    *mean = mean_of(x, n);
    return NB_OK;
}

nb_status nb_stats_var(const float *x, int64_t n, int ddof, double *var) {
    nb_status s = check_n("nb_stats_var", x, n, ddof);
    if (s != NB_OK) return s;
    if (!var) return nbi_error(NB_ERR_ARG, "nb_stats_var: var is NULL");
    double mu = mean_of(x, n), ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += ((double)x[i] - mu) * ((double)x[i] - mu);
    *var = ss / (double)(n - ddof);
    return NB_OK;
}

nb_status nb_stats_std(const float *x, int64_t n, int ddof, double *std) {
    if (!std) return nbi_error(NB_ERR_ARG, "nb_stats_std: std is NULL");
    double v;
    nb_status s = nb_stats_var(x, n, ddof, &v);
    if (s != NB_OK) return s;
    *std = sqrt(v);
    return NB_OK;
}

/* C (double, v×v) of x (o×v); mu (v) scratch. */
static void cov_d(const float *x, int64_t o, int64_t v, int ddof, double *mu, double *c) {
    for (int64_t j = 0; j < v; j++) mu[j] = 0.0;
    for (int64_t i = 0; i < o; i++)
        for (int64_t j = 0; j < v; j++) mu[j] += x[i * v + j];
    for (int64_t j = 0; j < v; j++) mu[j] /= (double)o;
    for (int64_t a = 0; a < v; a++)
        for (int64_t b = a; b < v; b++) {
            double s = 0.0;
            for (int64_t i = 0; i < o; i++) s += (x[i * v + a] - mu[a]) * (x[i * v + b] - mu[b]);
            c[a * v + b] = c[b * v + a] = s / (double)(o - ddof);
        }
}

static nb_status cov_args(const char *fn, const float *x, int64_t o, int64_t v, int ddof,
                          const float *out) {
    if (v <= 0) return nbi_error(NB_ERR_ARG, "%s: need at least one variable, got %lld", fn,
                                 (long long)v);
    nb_status s = check_n(fn, x, o, ddof);
    if (s != NB_OK) return s;
    if (!out) return nbi_error(NB_ERR_ARG, "%s: the output is NULL", fn);
    size_t cells;
    if (!nbi_mul_size((size_t)v, (size_t)v + 1, &cells) || cells > SIZE_MAX / sizeof(double))
        return nbi_error(NB_ERR_NOMEM, "%s: %lld variables are too many", fn, (long long)v);
    return NB_OK;
}

nb_status nb_stats_cov(const float *x, int64_t n_obs, int64_t n_vars, int ddof, float *cov) {
    const char *fn = "nb_stats_cov";
    nb_status s = cov_args(fn, x, n_obs, n_vars, ddof, cov);
    if (s != NB_OK) return s;
    double *w = nbi_malloc_for(fn, sizeof(double) * (size_t)(n_vars * (n_vars + 1)));
    if (!w) return NB_ERR_NOMEM;
    cov_d(x, n_obs, n_vars, ddof, w, w + n_vars);
    for (int64_t i = 0; i < n_vars * n_vars; i++) cov[i] = (float)w[n_vars + i];
    nbi_free(w);
    return NB_OK;
}

nb_status nb_stats_corr(const float *x, int64_t n_obs, int64_t n_vars, float *corr) {
    const char *fn = "nb_stats_corr";
    nb_status s = cov_args(fn, x, n_obs, n_vars, 1, corr);
    if (s != NB_OK) return s;
    double *w = nbi_malloc_for(fn, sizeof(double) * (size_t)(n_vars * (n_vars + 1)));
    if (!w) return NB_ERR_NOMEM;
    double *c = w + n_vars;
    cov_d(x, n_obs, n_vars, 1, w, c);
    for (int64_t j = 0; j < n_vars; j++)
        if (!(c[j * n_vars + j] > 0.0)) {
            nbi_free(w);
            return nbi_error(NB_ERR_ARG, "%s: variable %lld (column %lld) has zero variance, so "
                             "its correlation with anything is undefined", fn, (long long)j,
                             (long long)j);
        }
    for (int64_t a = 0; a < n_vars; a++)
        for (int64_t b = 0; b < n_vars; b++)
            corr[a * n_vars + b] =
                a == b ? 1.0f
                       : (float)(c[a * n_vars + b] / sqrt(c[a * n_vars + a] * c[b * n_vars + b]));
    nbi_free(w);
    return NB_OK;
}
