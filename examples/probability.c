/* examples/probability.c — probability with nabla: expectation and variance of a discrete
 * distribution, sampling (and the law of large numbers), conditional probability and
 * independence, entropy / cross-entropy / KL divergence, variance and covariance of data.
 * The walk-through is docs/guide/06-probability.md.
 *
 *   make && build/examples/probability */
#include <nabla.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void ok(nb_status s, const char *what) {
    if (s != NB_OK) {
        fprintf(stderr, "%s: %s\n", what, nb_last_error());
        exit(1);
    }
}

int main(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 42); /* every draw below comes from this explicit generator */

    /* 1. A fair die: X ∈ {1..6}, each with probability 1/6.
     *    E[X] = Σ p_i x_i = 3.5,  Var(X) = Σ p_i (x_i − 3.5)² = 35/12 */
    float faces[6] = {1, 2, 3, 4, 5, 6}, fair[6];
    for (int i = 0; i < 6; i++) fair[i] = 1.0f / 6.0f;
    double e, var;
    ok(nb_stats_expectation(faces, fair, 6, &e), "expectation");
    ok(nb_stats_dist_var(faces, fair, 6, &var), "variance");
    printf("fair die: E[X] = %.4f, Var(X) = %.4f (35/12 = %.4f)\n", e, var, 35.0 / 12.0);

    /* 2. Sampling, and the law of large numbers: the mean of n rolls approaches E[X] */
    nb_tensor *rolls = nb_tensor_new(NULL, NB_I32, NB_DIMS(1000000));
    ok(nb_sample_categorical(rolls, fair, 6, &rng), "categorical");
    for (int n = 10; n <= 1000000; n *= 10) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += faces[nb_i32(rolls)[i]];
        printf("  mean of %7d rolls = %.4f\n", n, s / n);
    }
    nb_tensor_free(rolls);

    /* 3. A loaded die and the variance of samples: nb_var over a tensor of draws */
    float loaded[6] = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.5f};
    ok(nb_stats_expectation(faces, loaded, 6, &e), "expectation");
    ok(nb_stats_dist_var(faces, loaded, 6, &var), "variance");
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *idx = nb_tensor_new(ctx, NB_I32, NB_DIMS(100000));
    nb_tensor *x = nb_zeros(ctx, NB_DIMS(100000));
    ok(nb_sample_categorical(idx, loaded, 6, &rng), "categorical");
    for (int i = 0; i < 100000; i++) nb_f32(x)[i] = faces[nb_i32(idx)[i]];
    nb_tensor *sv = nb_var(ctx, x, NB_ALL_AXES, 1, 0); /* ddof 1: the unbiased estimate */
    printf("loaded die: E[X] = %.4f, Var(X) = %.4f; from 100000 rolls: var = %.4f\n", e, var,
           (double)nb_item(sv));

    /* 4. Normal and Bernoulli samples */
    nb_tensor *z = nb_zeros(ctx, NB_DIMS(100000));
    ok(nb_sample_normal(z, 10.0f, 2.0f, &rng), "normal");
    printf("normal(10, 2^2): sample std = %.4f\n", (double)nb_item(nb_std(ctx, z, NB_ALL_AXES, 1, 0)));
    nb_tensor *coin = nb_zeros(ctx, NB_DIMS(100000));
    ok(nb_sample_bernoulli(coin, 0.25f, &rng), "bernoulli");
    double heads;
    ok(nb_stats_mean(nb_f32(coin), 100000, &heads), "mean");
    printf("Bernoulli(0.25): fraction of ones = %.4f\n\n", heads);

    /* 5. Conditional probability from a joint table P(Weather, Umbrella):
     *             umbrella  no umbrella
     *    rain       0.27       0.03
     *    dry        0.07       0.63
     * P(rain | umbrella) = P(rain, umbrella) / P(umbrella) = 0.27 / 0.34 */
    float joint[4] = {0.27f, 0.03f, 0.07f, 0.63f}, cond[4], pw[2], pu[2];
    ok(nb_stats_marginals(joint, 2, 2, pw, pu), "marginals");
    ok(nb_stats_conditional(joint, 2, 2, cond), "conditional");
    printf("P(rain) = %.2f, P(umbrella) = %.2f\n", (double)pw[0], (double)pu[0]);
    printf("P(rain | umbrella) = %.4f, P(rain | no umbrella) = %.4f\n", (double)cond[0],
           (double)cond[1]);
    printf("independent? P(rain) P(umbrella) = %.4f vs P(rain, umbrella) = %.2f -> %s\n\n",
           (double)(pw[0] * pu[0]), (double)joint[0],
           fabsf(pw[0] * pu[0] - joint[0]) < 1e-6f ? "yes" : "no");

    /* 6. Entropy, cross-entropy and KL divergence (in nats) */
    float p[4] = {0.5f, 0.25f, 0.125f, 0.125f}, q[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    double h, ce, kl;
    ok(nb_stats_entropy(p, 4, &h), "entropy");
    ok(nb_stats_cross_entropy(p, q, 4, &ce), "cross-entropy");
    ok(nb_stats_kl(p, q, 4, &kl), "kl");
    printf("H(p) = %.4f, H(p, q) = %.4f, KL(p || q) = %.4f = H(p, q) - H(p)\n", h, ce, kl);
    float r[4] = {0.5f, 0.5f, 0.0f, 0.0f};
    nb_status s = nb_stats_kl(p, r, 4, &kl);
    printf("KL(p || r) with r = 0 where p > 0: %g (%s)\n  %s\n\n", kl, nb_status_str(s),
           nb_last_error());

    /* 7. Correlated samples, and their covariance and correlation. To draw x with covariance
     * Σ, factor Σ = L Lᵀ (Cholesky) and set x = L z for z ~ N(0, I): then
     * Cov(x) = L Cov(z) Lᵀ = L Lᵀ = Σ. Rows of `data` are observations, columns variables. */
    float sigma[9] = {1.0f, 0.8f, 0.0f, 0.8f, 1.0f, 0.0f, 0.0f, 0.0f, 4.0f};
    nb_tensor *L = nb_cholesky(ctx, nb_tensor_copy_of(ctx, sigma, NB_DIMS(3, 3)));
    nb_tensor *data = nb_zeros(ctx, NB_DIMS(50000, 3));
    nb_tensor *zs = nb_zeros(ctx, NB_DIMS(50000, 3));
    if (!L) {
        fprintf(stderr, "%s\n", nb_last_error());
        return 1;
    }
    ok(nb_sample_normal(zs, 0.0f, 1.0f, &rng), "normal");
    for (int i = 0; i < 50000; i++) /* row i = L z_i */
        for (int a = 0; a < 3; a++) {
            float acc = 0.0f;
            for (int k = 0; k <= a; k++) acc += nb_f32(L)[a * 3 + k] * nb_f32(zs)[i * 3 + k];
            nb_f32(data)[i * 3 + a] = acc;
        }
    printf("L =\n");
    nb_tensor_print(L, stdout);
    printf("covariance (ddof 1) =\n");
    nb_tensor_print(nb_cov(ctx, data, 1), stdout);
    printf("correlation =\n");
    nb_tensor_print(nb_corr(ctx, data), stdout);
    if (nb_ctx_status(ctx) != NB_OK) {
        fprintf(stderr, "%s\n", nb_last_error());
        return 1;
    }

    /* 8. A permutation: the order in which to visit 10 training examples this epoch */
    nb_tensor *perm = nb_tensor_new(ctx, NB_I32, NB_DIMS(10));
    ok(nb_sample_permutation(perm, &rng), "permutation");
    printf("epoch order: ");
    nb_tensor_print(perm, stdout);

    nb_ctx_free(ctx);
    return 0;
}
