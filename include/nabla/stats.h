/* nabla/stats.h — statistics and probability: moments, covariance and correlation, discrete
 * distributions (expectation, variance, entropy, cross-entropy, KL divergence, conditional
 * probability) and samplers that fill tensors from an explicit nb_rng.
 *
 * Conventions. Sums run in double. Logarithms are natural (entropies in nats). Variance
 * divides by N − ddof: ddof 0 is the population (maximum-likelihood) variance, ddof 1 the
 * unbiased sample variance (numpy's ddof; torch's unbiased=True is ddof 1). Covariance takes
 * observations in rows and variables in columns — numpy.cov(x, rowvar=False) — because that
 * is how a batch of data [N, features] is laid out. */
#ifndef NABLA_STATS_H
#define NABLA_STATS_H

#include "nabla/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- moments of a raw array -------------------------------------------------------------- */
/* mean = Σ x_i / n; var = Σ (x_i − mean)² / (n − ddof) (two passes); std = √var.
 * NB_ERR_ARG when n − ddof ≤ 0 or ddof < 0. */
nb_status nb_stats_mean(const float *x, int64_t n, double *mean);
nb_status nb_stats_var(const float *x, int64_t n, int ddof, double *var);
nb_status nb_stats_std(const float *x, int64_t n, int ddof, double *std);
/* Covariance of x [n_obs, n_vars] (row-major; rows are observations, like
 * numpy.cov(x, rowvar=False)): cov [n_vars, n_vars] = Xcᵀ Xc / (n_obs − ddof), Xc the centred
 * data. numpy's default is ddof 1. */
nb_status nb_stats_cov(const float *x, int64_t n_obs, int64_t n_vars, int ddof, float *cov);
/* Pearson correlation [n_vars, n_vars] = cov_ij / √(cov_ii cov_jj) (numpy.corrcoef with
 * rowvar=False). A variable with zero variance has no correlation: NB_ERR_ARG naming it. */
nb_status nb_stats_corr(const float *x, int64_t n_obs, int64_t n_vars, float *corr);

/* ---- moments of tensors -------------------------------------------------------------------
 * axes: a mask (NB_AXIS(i) | ..., or NB_ALL_AXES), as the reductions of ops.h. nb_var, nb_std
 * and nb_cov are differentiable ops (in the registry, gradient-checked):
 *   d var / dx_i = 2 (x_i − μ) / (N − ddof)
 *   d std / dx_i = (x_i − μ) / ((N − ddof) σ)      (0 where σ = 0, where every x_i = μ)
 *   d cov / dX: dX = Xc (G + Gᵀ) / (N − ddof)       (the centring drops out: Σ_rows Xc = 0) */
nb_tensor *nb_var(nb_ctx *ctx, nb_tensor *x, unsigned axes, int ddof, int keepdims);
nb_tensor *nb_std(nb_ctx *ctx, nb_tensor *x, unsigned axes, int ddof, int keepdims);
/* x [..., n_obs, n_vars] → [..., n_vars, n_vars]. */
nb_tensor *nb_cov(nb_ctx *ctx, nb_tensor *x, int ddof);
/* Pearson correlation, x [..., n_obs, n_vars] → [..., n_vars, n_vars]. Not recorded (no
 * gradient). */
nb_tensor *nb_corr(nb_ctx *ctx, nb_tensor *x);

/* ---- discrete distributions ----------------------------------------------------------------
 * A distribution is n probabilities p_i ≥ 0 with Σ p_i = 1 to within
 * NB_STATS_PROB_TOL + n · FLT_EPSILON (the second term allows for f32 rounding of each p_i).
 * Anything else is NB_ERR_ARG naming the offending entry or the sum. */
#define NB_STATS_PROB_TOL 1e-5

/* NB_OK when p[0..n) is a distribution; `what` names it in the message ("p"). */
nb_status nb_stats_check_dist(const char *what, const float *p, int64_t n);
/* E[X] = Σ p_i x_i for X taking value values[i] with probability p[i]. */
nb_status nb_stats_expectation(const float *values, const float *p, int64_t n, double *mean);
/* Var(X) = E[(X − E X)²] = Σ p_i (x_i − μ)². */
nb_status nb_stats_dist_var(const float *values, const float *p, int64_t n, double *var);
/* H(p) = −Σ p_i log p_i, with 0 log 0 = 0 (the limit). */
nb_status nb_stats_entropy(const float *p, int64_t n, double *h);
/* H(p, q) = −Σ p_i log q_i and KL(p ‖ q) = Σ p_i log(p_i / q_i) = H(p, q) − H(p), with terms
 * where p_i = 0 contributing 0. Where q_i = 0 < p_i the value is +∞: *out is set to INFINITY
 * and the call returns NB_ERR_NUMERIC with a message naming i (so an infinite divergence is
 * never mistaken for a number by code that only checks for NB_OK). */
nb_status nb_stats_cross_entropy(const float *p, const float *q, int64_t n, double *h);
nb_status nb_stats_kl(const float *p, const float *q, int64_t n, double *kl);
/* From a joint table joint[i*ny + j] = P(X = i, Y = j): the marginals P(X = i) = Σ_j and
 * P(Y = j) = Σ_i (either output may be NULL), and the conditional
 * cond[i*ny + j] = P(X = i | Y = j) = P(X = i, Y = j) / P(Y = j). The conditional is undefined
 * where P(Y = j) = 0: NB_ERR_ARG naming j. (For P(Y | X) pass the transposed table.) */
nb_status nb_stats_marginals(const float *joint, int64_t nx, int64_t ny, float *px, float *py);
nb_status nb_stats_conditional(const float *joint, int64_t nx, int64_t ny, float *cond);

/* ---- samplers: fill an existing tensor (any strides), in row-major order ----------------- */
/* Uniform on [lo, hi) (f32). */
nb_status nb_sample_uniform(nb_tensor *t, float lo, float hi, nb_rng *rng);
/* Normal(mean, std²) (f32), std ≥ 0. */
nb_status nb_sample_normal(nb_tensor *t, float mean, float std, nb_rng *rng);
/* 1 with probability p, else 0 (f32 or i32), p in [0, 1]. */
nb_status nb_sample_bernoulli(nb_tensor *t, float p, nb_rng *rng);
/* Indices in [0, k) drawn with probabilities p[0..k) (a distribution, checked as above), as
 * i32 or f32. Inverse-CDF sampling with a binary search: O(log k) a draw. */
nb_status nb_sample_categorical(nb_tensor *t, const float *p, int64_t k, nb_rng *rng);
/* A uniformly random permutation of 0 .. n−1 into the 1-D tensor t [n] (i32 or f32), by
 * Fisher–Yates: each of the n! orders has probability 1/n!. */
nb_status nb_sample_permutation(nb_tensor *t, nb_rng *rng);
/* Shuffles t in place along axis 0 (the rows of a dataset move together), Fisher–Yates. */
nb_status nb_sample_shuffle(nb_tensor *t, nb_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
