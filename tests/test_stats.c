/* test_stats — moments, covariance, discrete distributions against NumPy
 * (tests/ref/stats.txt, written by tests/ref/gen_linalg_stats.py), their documented errors,
 * and the samplers by their statistics over 10^6 draws with fixed seeds.
 *
 * Tolerances. NumPy computed in float64 on the same float32 inputs and nabla sums in double,
 * so results differ by the final rounding to float32: rtol 1e-6 (≈ 8 ulps). Sampler checks
 * allow 5 standard errors of the estimate (σ/√n for a mean; for a variance
 * √((μ₄ − σ⁴)/n)), and frequency tables a chi-square statistic below the 0.999 quantile of
 * its distribution. The seeds are fixed, so the outcome is deterministic; a broken sampler
 * misses these bounds by orders of magnitude. */
#include "nbtest.h"

#include "fixture.h"

#define RT 1e-6
#define DRAWS 1000000

static nbt_fixture *fx;

static const nbt_array *need(const char *name) {
    CHECK_MSG(fx != NULL, "cannot load tests/ref/stats.txt (run the tests from the repo root)");
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array '%s' missing (regenerate tests/ref/stats.txt)", name);
    return a;
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

#define CHECK_STATUS(expr, want)                                                            \
    do {                                                                                    \
        nb_status s__ = (expr);                                                             \
        CHECK_MSG(s__ == (want), "%s returned %s, expected %s (%s)", #expr,                 \
                  nb_status_str(s__), nb_status_str(want), nb_last_error());                \
    } while (0)

#define CHECK_MESSAGE(sub)                                                                  \
    CHECK_MSG(contains(nb_last_error(), sub), "message lacks \"%s\": %s", sub, nb_last_error())

static nb_tensor *from_fixture(nb_ctx *ctx, const nbt_array *a) {
    return nb_tensor_copy_of(ctx, a->data, a->rank, a->shape);
}

static void compare_t(const char *what, const nb_tensor *t, const nbt_array *want) {
    CHECK_MSG(t != NULL, "%s: NULL (%s)", what, nb_last_error());
    if (!t || !want) return;
    CHECK_MSG(t->numel == want->numel, "%s: %lld elements, reference %lld", what,
              (long long)t->numel, (long long)want->numel);
    if (t->numel == want->numel) nbt_compare(what, nb_f32(t), want->data, t->numel, RT, RT);
}

/* ---- moments ------------------------------------------------------------------------------- */

static void test_var_std(void) {
    const nbt_array *X = need("x"), *X3 = need("x3");
    if (!X || !X3) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = from_fixture(ctx, X), *x3 = from_fixture(ctx, X3);
    for (int ddof = 0; ddof <= 1; ddof++) {
        char nm[64];
        snprintf(nm, sizeof nm, "var_ax0_ddof%d", ddof);
        compare_t(nm, nb_var(ctx, x, NB_AXIS(0), ddof, 0), need(nm));
        snprintf(nm, sizeof nm, "var_ax1_ddof%d", ddof);
        compare_t(nm, nb_var(ctx, x, NB_AXIS(1), ddof, 0), need(nm));
        snprintf(nm, sizeof nm, "var_all_ddof%d", ddof);
        compare_t(nm, nb_var(ctx, x, NB_ALL_AXES, ddof, 0), need(nm));
        snprintf(nm, sizeof nm, "std_ax0_ddof%d", ddof);
        compare_t(nm, nb_std(ctx, x, NB_AXIS(0), ddof, 0), need(nm));
        snprintf(nm, sizeof nm, "std_ax1_ddof%d", ddof);
        compare_t(nm, nb_std(ctx, x, NB_AXIS(1), ddof, 0), need(nm));
        /* the raw routine over the whole array */
        double v;
        CHECK_OK(nb_stats_var(X->data, X->numel, ddof, &v));
        snprintf(nm, sizeof nm, "var_all_ddof%d", ddof);
        const nbt_array *va = need(nm);
        if (va) CHECK_CLOSE(v, va->data[0], 0, RT);
    }
    compare_t("x3 var axes 0,2", nb_var(ctx, x3, NB_AXIS(0) | NB_AXIS(2), 1, 0),
              need("x3_var_ax02_ddof1"));
    nb_tensor *s = nb_std(ctx, x3, NB_AXIS(2), 0, 1);
    compare_t("x3 std axis 2 keepdims", s, need("x3_std_ax2_ddof0"));
    if (s) CHECK(s->rank == 3 && s->shape[0] == 2 && s->shape[1] == 3 && s->shape[2] == 1);
    /* mean and std of the raw routines */
    const nbt_array *M = need("mean_all"), *M0 = need("mean_ax0"), *S0 = need("std_ax0_ddof1");
    double m;
    CHECK_OK(nb_stats_mean(X->data, X->numel, &m));
    if (M) CHECK_CLOSE(m, M->data[0], 1e-7, RT);
    float col[6];
    for (int j = 0; j < 4 && M0 && S0; j++) {
        for (int i = 0; i < 6; i++) col[i] = X->data[i * 4 + j];
        double cm, cs;
        CHECK_OK(nb_stats_mean(col, 6, &cm));
        CHECK_OK(nb_stats_std(col, 6, 1, &cs));
        CHECK_CLOSE(cm, M0->data[j], 1e-7, RT);
        CHECK_CLOSE(cs, S0->data[j], 0, RT);
    }
    CHECK(nb_ctx_status(ctx) == NB_OK);
    nb_ctx_free(ctx);
}

/* var of a large-mean sample: the two-pass formula keeps it, E[x²] − μ² would not */
static void test_var_large_mean(void) {
    float x[4] = {10000.0f, 10001.0f, 10002.0f, 10003.0f};
    double v;
    CHECK_OK(nb_stats_var(x, 4, 1, &v));
    CHECK_CLOSE(v, 5.0 / 3.0, 0, 1e-12);
}

static void test_cov_corr(void) {
    const nbt_array *O = need("obs"), *C1 = need("cov_ddof1"), *C0 = need("cov_ddof0"),
                    *R = need("corr");
    if (!O || !C1 || !C0 || !R) return;
    float c[9];
    CHECK_OK(nb_stats_cov(O->data, 10, 3, 1, c));
    nbt_compare("cov ddof 1", c, C1->data, 9, RT, RT);
    CHECK_OK(nb_stats_cov(O->data, 10, 3, 0, c));
    nbt_compare("cov ddof 0", c, C0->data, 9, RT, RT);
    CHECK_OK(nb_stats_corr(O->data, 10, 3, c));
    nbt_compare("corr", c, R->data, 9, RT, RT);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *o = from_fixture(ctx, O);
    compare_t("tensor cov", nb_cov(ctx, o, 1), C1);
    compare_t("tensor corr", nb_corr(ctx, o), R);
    /* a batch of two copies gives two copies of the answer */
    nb_tensor *b = nb_zeros(ctx, NB_DIMS(2, 10, 3));
    memcpy(nb_f32(b), O->data, 30 * sizeof(float));
    memcpy(nb_f32(b) + 30, O->data, 30 * sizeof(float));
    nb_tensor *bc = nb_cov(ctx, b, 0);
    CHECK_PTR(bc);
    if (bc) {
        CHECK(bc->rank == 3 && bc->shape[0] == 2 && bc->shape[1] == 3 && bc->shape[2] == 3);
        nbt_compare("batched cov [0]", nb_f32(bc), C0->data, 9, RT, RT);
        nbt_compare("batched cov [1]", nb_f32(bc) + 9, C0->data, 9, RT, RT);
    }
    /* errors: a constant variable has no correlation; too few observations */
    float flat[6] = {1, 5, 2, 5, 3, 5};
    CHECK_STATUS(nb_stats_corr(flat, 3, 2, c), NB_ERR_ARG);
    CHECK_MESSAGE("variable 1");
    CHECK_MESSAGE("zero variance");
    CHECK(nb_corr(ctx, nb_tensor_copy_of(ctx, flat, NB_DIMS(3, 2))) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_ARG);
    CHECK_MESSAGE("variable 1");
    nb_ctx_reset(ctx);
    CHECK(nb_cov(ctx, nb_ones(ctx, NB_DIMS(1, 3)), 1) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MESSAGE("f32[1,3]");
    CHECK_MESSAGE("degrees of freedom");
    nb_ctx_free(ctx);
}

static void test_moment_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_ones(ctx, NB_DIMS(2, 3));
    CHECK(nb_var(ctx, x, NB_AXIS(2), 0, 0) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MESSAGE("var");
    CHECK_MESSAGE("beyond rank 2");
    CHECK_MESSAGE("f32[2,3]");
    nb_ctx_reset(ctx);
    x = nb_ones(ctx, NB_DIMS(1, 3));
    CHECK(nb_std(ctx, x, NB_AXIS(0), 1, 0) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MESSAGE("ddof 1");
    nb_ctx_free(ctx);
    float v[1] = {1};
    double out;
    CHECK_STATUS(nb_stats_var(v, 1, 1, &out), NB_ERR_ARG);
    CHECK_MESSAGE("degrees of freedom");
    CHECK_STATUS(nb_stats_var(v, 1, -1, &out), NB_ERR_ARG);
}

/* ∂var/∂x_i = 2 (x_i − μ) / (N − ddof) and ∂std/∂x_i = (x_i − μ) / ((N − ddof) σ), by hand */
static void test_var_gradient(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    float v[4] = {1, 2, 4, 9}; /* μ = 4, Σ(x−μ)² = 9 + 4 + 0 + 25 = 38 */
    nb_tensor *x = nb_tensor_copy_of(ctx, v, NB_DIMS(4));
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = nb_var(ctx, x, NB_ALL_AXES, 1, 0);
    CHECK_PTR(y);
    if (y) {
        CHECK_CLOSE(nb_item(y), 38.0 / 3.0, 0, RT);
        CHECK_OK(nb_backward(ctx, y));
        float want[4] = {-2.0f, -4.0f / 3.0f, 0.0f, 10.0f / 3.0f};
        CHECK(x->grad != NULL);
        if (x->grad) nbt_compare("d var / dx", nb_f32(x->grad), want, 4, 1e-6, 1e-6);
    }
    nb_ctx_reset(ctx);
    x = nb_tensor_copy_of(ctx, v, NB_DIMS(4));
    nb_tensor_set_requires_grad(x, 1);
    y = nb_std(ctx, x, NB_ALL_AXES, 0, 0); /* σ = √(38/4) */
    CHECK_PTR(y);
    if (y) {
        double sd = sqrt(38.0 / 4.0);
        CHECK_CLOSE(nb_item(y), sd, 0, RT);
        CHECK_OK(nb_backward(ctx, y));
        if (x->grad)
            for (int i = 0; i < 4; i++)
                CHECK_CLOSE(nb_f32(x->grad)[i], (v[i] - 4.0) / (4.0 * sd), 1e-7, 1e-6);
    }
    nb_ctx_free(ctx);
}

/* ---- discrete distributions ---------------------------------------------------------------- */

static void test_discrete(void) {
    const nbt_array *V = need("dist_vals"), *P = need("dist_p"), *M = need("dist_mean"),
                    *VA = need("dist_var"), *EP = need("ent_p"), *EQ = need("ent_q"),
                    *H = need("entropy_p"), *CE = need("cross_entropy_pq"), *KL = need("kl_pq");
    if (!V || !P || !M || !VA || !EP || !EQ || !H || !CE || !KL) return;
    double e, var, h, ce, kl;
    CHECK_OK(nb_stats_expectation(V->data, P->data, 5, &e));
    CHECK_CLOSE(e, M->data[0], 1e-7, RT);
    CHECK_OK(nb_stats_dist_var(V->data, P->data, 5, &var));
    CHECK_CLOSE(var, VA->data[0], 0, RT);
    CHECK_OK(nb_stats_entropy(EP->data, 5, &h)); /* p has a zero: 0 log 0 = 0 */
    CHECK_CLOSE(h, H->data[0], 0, RT);
    CHECK_OK(nb_stats_cross_entropy(EP->data, EQ->data, 5, &ce));
    CHECK_CLOSE(ce, CE->data[0], 0, RT);
    CHECK_OK(nb_stats_kl(EP->data, EQ->data, 5, &kl));
    CHECK_CLOSE(kl, KL->data[0], 1e-7, RT);
    CHECK_CLOSE(kl, ce - h, 1e-12, 1e-12); /* KL = H(p, q) − H(p) */
    /* entropy of the uniform distribution is log n; KL(p ‖ p) = 0 */
    CHECK_OK(nb_stats_entropy(EQ->data, 5, &h));
    CHECK_CLOSE(h, log(5.0), 0, 1e-7);
    CHECK_OK(nb_stats_kl(EP->data, EP->data, 5, &kl));
    CHECK(kl == 0.0);
}

static void test_discrete_errors(void) {
    float neg[3] = {0.5f, 0.6f, -0.1f}, big[3] = {0.5f, 0.5f, 0.5f}, vals[3] = {1, 2, 3};
    double out = 0;
    CHECK_STATUS(nb_stats_expectation(vals, neg, 3, &out), NB_ERR_ARG);
    CHECK_MESSAGE("nb_stats_expectation");
    CHECK_MESSAGE("p[2] = -0.1");
    CHECK_STATUS(nb_stats_dist_var(vals, big, 3, &out), NB_ERR_ARG);
    CHECK_MESSAGE("sums to 1.5");
    float nanp[2] = {NAN, 1.0f};
    CHECK_STATUS(nb_stats_entropy(nanp, 2, &out), NB_ERR_ARG);
    CHECK_MESSAGE("p[0]");
    /* within tolerance: f32 rounding of a sum is accepted */
    float third[3] = {1.0f / 3, 1.0f / 3, 1.0f / 3};
    CHECK_OK(nb_stats_entropy(third, 3, &out));
    CHECK_CLOSE(out, log(3.0), 0, 1e-6);
    /* KL and cross-entropy where q = 0 < p: +infinity, reported */
    float p[3] = {0.5f, 0.25f, 0.25f}, q[3] = {0.5f, 0.5f, 0.0f};
    CHECK_STATUS(nb_stats_kl(p, q, 3, &out), NB_ERR_NUMERIC);
    CHECK(isinf(out) && out > 0);
    CHECK_MESSAGE("nb_stats_kl");
    CHECK_MESSAGE("q[2] = 0");
    CHECK_MESSAGE("infinity");
    out = 0;
    CHECK_STATUS(nb_stats_cross_entropy(p, q, 3, &out), NB_ERR_NUMERIC);
    CHECK(isinf(out));
    /* q = 0 where p = 0 too is fine: those terms are 0 */
    double kl;
    CHECK_OK(nb_stats_kl(q, p, 3, &kl));
    CHECK_CLOSE(kl, 0.5 * log(1.0) + 0.5 * log(2.0), 1e-12, 1e-12);
}

static void test_conditional(void) {
    const nbt_array *J = need("joint"), *C = need("cond_x_given_y"), *MY = need("marg_y");
    if (!J || !C || !MY) return;
    float cond[12], px[3], py[4];
    CHECK_OK(nb_stats_conditional(J->data, 3, 4, cond));
    nbt_compare("P(X | Y)", cond, C->data, 12, RT, RT);
    CHECK_OK(nb_stats_marginals(J->data, 3, 4, px, py));
    nbt_compare("P(Y)", py, MY->data, 4, RT, RT);
    double s = 0;
    for (int i = 0; i < 3; i++) s += px[i];
    CHECK_CLOSE(s, 1.0, 1e-6, 0);
    for (int j = 0; j < 4; j++) { /* each column of P(X | Y) is a distribution */
        double c = 0;
        for (int i = 0; i < 3; i++) c += cond[i * 4 + j];
        CHECK_CLOSE(c, 1.0, 1e-6, 0);
    }
    /* independence: P(X, Y) = P(X) P(Y) gives P(X | Y = j) = P(X) for every j */
    float ind[6], pxv[2] = {0.25f, 0.75f}, pyv[3] = {0.5f, 0.25f, 0.25f};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) ind[i * 3 + j] = pxv[i] * pyv[j];
    CHECK_OK(nb_stats_conditional(ind, 2, 3, cond));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) CHECK_CLOSE(cond[i * 3 + j], pxv[i], 1e-7, 0);
    /* P(Y = 1) = 0: undefined */
    float zero_col[6] = {0.25f, 0.0f, 0.25f, 0.25f, 0.0f, 0.25f};
    for (int i = 0; i < 6; i++) cond[i] = -1.0f;
    CHECK_STATUS(nb_stats_conditional(zero_col, 2, 3, cond), NB_ERR_ARG);
    CHECK_MESSAGE("P(Y = 1) = 0");
    CHECK(cond[0] == -1.0f); /* nothing written */
    float notdist[4] = {1, 2, 3, 4};
    CHECK_STATUS(nb_stats_conditional(notdist, 2, 2, cond), NB_ERR_ARG);
    CHECK_MESSAGE("joint table sums to 10");
}

/* ---- samplers ------------------------------------------------------------------------------ */

static void moments_of(const float *x, int64_t n, double *mean, double *var) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = q / (double)(n - 1);
}

static void test_sample_uniform(void) {
    nb_tensor *t = nb_zeros(NULL, NB_DIMS(DRAWS));
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    CHECK_OK(nb_sample_uniform(t, -1.0f, 3.0f, &rng));
    const float *x = nb_f32(t);
    int out = 0;
    for (int i = 0; i < DRAWS; i++) out += !(x[i] >= -1.0f && x[i] < 3.0f);
    CHECK(out == 0);
    double m, v;
    moments_of(x, DRAWS, &m, &v);
    /* U(a, b): mean (a+b)/2, var (b−a)²/12; SE of the mean (b−a)/√12/√n, of the variance
     * (b−a)² √(1/80 − 1/144) / √n */
    CHECK_CLOSE(m, 1.0, 5 * 4.0 / sqrt(12.0) / 1000.0, 0);
    CHECK_CLOSE(v, 16.0 / 12.0, 5 * 16.0 * sqrt(1.0 / 80 - 1.0 / 144) / 1000.0, 0);
    CHECK_STATUS(nb_sample_uniform(t, 2.0f, 1.0f, &rng), NB_ERR_ARG);
    nb_tensor_free(t);
}

static void test_sample_normal(void) {
    nb_tensor *t = nb_zeros(NULL, NB_DIMS(1000, 1000));
    nb_rng rng;
    nb_rng_seed(&rng, 2);
    CHECK_OK(nb_sample_normal(t, 2.0f, 3.0f, &rng));
    const float *x = nb_f32(t);
    double m, v;
    moments_of(x, DRAWS, &m, &v);
    CHECK_CLOSE(m, 2.0, 5 * 3.0 / 1000.0, 0);           /* SE σ/√n */
    CHECK_CLOSE(v, 9.0, 5 * 9.0 * sqrt(2.0) / 1000.0, 0); /* SE σ² √(2/n) */
    int within = 0;
    for (int i = 0; i < DRAWS; i++) within += fabs(x[i] - 2.0) < 3.0;
    /* P(|Z| < 1) = erf(1/√2) = 0.682689..., SE √(p(1−p)/n) */
    double p1 = erf(1.0 / sqrt(2.0));
    CHECK_CLOSE(within / (double)DRAWS, p1, 5 * sqrt(p1 * (1 - p1)) / 1000.0, 0);
    CHECK_STATUS(nb_sample_normal(t, 0.0f, -1.0f, &rng), NB_ERR_ARG);
    nb_tensor_free(t);
}

static void test_sample_bernoulli(void) {
    nb_tensor *t = nb_tensor_new(NULL, NB_I32, NB_DIMS(DRAWS));
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    CHECK_OK(nb_sample_bernoulli(t, 0.3f, &rng));
    int64_t ones = 0, other = 0;
    for (int i = 0; i < DRAWS; i++) {
        ones += nb_i32(t)[i] == 1;
        other += nb_i32(t)[i] != 0 && nb_i32(t)[i] != 1;
    }
    CHECK(other == 0);
    CHECK_CLOSE(ones / (double)DRAWS, 0.3, 5 * sqrt(0.3 * 0.7) / 1000.0, 0);
    nb_tensor *f = nb_zeros(NULL, NB_DIMS(1000));
    CHECK_OK(nb_sample_bernoulli(f, 1.0f, &rng));
    for (int i = 0; i < 1000; i++) CHECK(nb_f32(f)[i] == 1.0f);
    CHECK_OK(nb_sample_bernoulli(f, 0.0f, &rng));
    for (int i = 0; i < 1000; i++) CHECK(nb_f32(f)[i] == 0.0f);
    CHECK_STATUS(nb_sample_bernoulli(f, 1.5f, &rng), NB_ERR_ARG);
    nb_tensor_free(t);
    nb_tensor_free(f);
}

static void test_sample_categorical(void) {
    const float p[5] = {0.1f, 0.0f, 0.25f, 0.05f, 0.6f};
    nb_tensor *t = nb_tensor_new(NULL, NB_I32, NB_DIMS(DRAWS));
    nb_rng rng;
    nb_rng_seed(&rng, 4);
    CHECK_OK(nb_sample_categorical(t, p, 5, &rng));
    int64_t count[5] = {0}, bad = 0;
    for (int i = 0; i < DRAWS; i++) {
        int32_t c = nb_i32(t)[i];
        if (c < 0 || c >= 5)
            bad++;
        else
            count[c]++;
    }
    CHECK(bad == 0);
    CHECK(count[1] == 0); /* probability 0: never drawn */
    /* Pearson's chi-square over the 4 possible categories: 3 degrees of freedom, the 0.999
     * quantile of χ²(3) is 16.27 */
    double chi2 = 0;
    for (int k = 0; k < 5; k++) {
        if (p[k] == 0.0f) continue;
        double e = p[k] * (double)DRAWS;
        chi2 += (count[k] - e) * (count[k] - e) / e;
    }
    CHECK_MSG(chi2 < 16.27, "chi-square %g over counts %lld %lld %lld %lld", chi2,
              (long long)count[0], (long long)count[2], (long long)count[3], (long long)count[4]);
    const float notp[2] = {0.5f, 0.6f};
    CHECK_STATUS(nb_sample_categorical(t, notp, 2, &rng), NB_ERR_ARG);
    CHECK_MESSAGE("sums to");
    nb_tensor_free(t);
}

static void test_sample_permutation(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_tensor *t = nb_tensor_new(NULL, NB_I32, NB_DIMS(1000));
    CHECK_OK(nb_sample_permutation(t, &rng));
    static int seen[1000];
    memset(seen, 0, sizeof seen);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        int32_t v = nb_i32(t)[i];
        if (v < 0 || v >= 1000 || seen[v]++) bad++;
    }
    CHECK_MSG(bad == 0, "not a permutation of 0..999 (%d bad entries)", bad);
    nb_tensor_free(t);
    /* uniform over the 4! = 24 orders: 240 000 draws, 10 000 expected each; χ²(23) 0.999
     * quantile 49.73 */
    enum { M = 240000 };
    nb_tensor *s = nb_zeros(NULL, NB_DIMS(4));
    static int64_t freq[256];
    memset(freq, 0, sizeof freq);
    for (int r = 0; r < M; r++) {
        CHECK_OK(nb_sample_permutation(s, &rng));
        int code = 0;
        for (int i = 0; i < 4; i++) code = code * 4 + (int)nb_f32(s)[i];
        freq[code]++;
    }
    int orders = 0;
    double chi2 = 0;
    for (int c = 0; c < 256; c++)
        if (freq[c]) {
            orders++;
            chi2 += (freq[c] - M / 24.0) * (freq[c] - M / 24.0) / (M / 24.0);
        }
    CHECK(orders == 24);
    CHECK_MSG(chi2 < 49.73, "chi-square over the 24 orders %g", chi2);
    nb_tensor_free(s);
}

static void test_sample_shuffle(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 6);
    enum { R = 6, M = 60000 };
    nb_tensor *t = nb_zeros(NULL, NB_DIMS(R, 3));
    static int64_t where[R];
    memset(where, 0, sizeof where);
    int broken = 0;
    for (int r = 0; r < M; r++) {
        for (int i = 0; i < R; i++)
            for (int j = 0; j < 3; j++) nb_f32(t)[i * 3 + j] = (float)(i * (j == 0 ? 1 : j * 10));
        CHECK_OK(nb_sample_shuffle(t, &rng));
        int seen = 0;
        for (int i = 0; i < R; i++) {
            const float *row = nb_f32(t) + i * 3;
            int id = (int)row[0];
            if (row[1] != 10.0f * id || row[2] != 20.0f * id) broken++; /* rows move whole */
            seen |= 1 << id;
            if (id == 0) where[i]++;
        }
        if (seen != (1 << R) - 1) broken++;
    }
    CHECK(broken == 0);
    /* row 0 lands in each of the 6 places with probability 1/6: χ²(5) 0.999 quantile 20.52 */
    double chi2 = 0;
    for (int i = 0; i < R; i++) chi2 += (where[i] - M / 6.0) * (where[i] - M / 6.0) / (M / 6.0);
    CHECK_MSG(chi2 < 20.52, "chi-square of row 0's position %g", chi2);
    nb_tensor_free(t);
}

/* Samplers write in row-major order whatever the strides: a transposed view gets the same
 * sequence as a contiguous tensor; the same seed gives the same values. */
static void test_sample_strided_reproducible(void) {
    nb_tensor *a = nb_zeros(NULL, NB_DIMS(3, 4)), *b = nb_zeros(NULL, NB_DIMS(4, 3));
    nb_rng r1, r2;
    nb_rng_seed(&r1, 77);
    nb_rng_seed(&r2, 77);
    CHECK_OK(nb_sample_normal(a, 0, 1, &r1));
    nb_tensor bt = *b; /* b viewed as its transpose [3, 4], built by hand */
    bt.shape[0] = 3;
    bt.shape[1] = 4;
    bt.stride[0] = 1;
    bt.stride[1] = 3;
    CHECK_OK(nb_sample_normal(&bt, 0, 1, &r2));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) CHECK(nb_f32(a)[i * 4 + j] == nb_f32(b)[j * 3 + i]);
    nb_tensor_free(a);
    nb_tensor_free(b);
}


/* The allocating routines free what they took when an allocation fails: the Nth allocation
 * fails for every N until the calls succeed; allocations must match frees. */
static long n_alloc, n_free, fail_at = -1;
static void *count_alloc(size_t size, size_t align, void *u) {
    (void)u;
    if (n_alloc++ == fail_at) return NULL;
    size_t bytes = ((size ? size : 1) + align - 1) / align * align;
    return aligned_alloc(align, bytes); /* C11: the size a multiple of the alignment */
}
static void count_free(void *p, void *u) {
    (void)u;
    if (p) n_free++;
    free(p);
}

static void test_allocation_failures(void) {
    nb_tensor *t = nb_tensor_new(NULL, NB_I32, NB_DIMS(4, 3));
    const float x[6] = {1, 2, 4, 3, 0, 5}, p[3] = {0.5f, 0.25f, 0.25f};
    float out[4];
    nb_rng rng;
    nb_rng_seed(&rng, 9);
    nb_allocator al = {count_alloc, count_free, NULL};
    nb_set_allocator(&al);
    int failures_seen = 0;
    for (fail_at = 0; fail_at < 1000; fail_at++) {
        n_alloc = n_free = 0;
        nb_status s = nb_stats_cov(x, 3, 2, 1, out);
        if (s == NB_OK) s = nb_stats_corr(x, 3, 2, out);
        if (s == NB_OK) s = nb_sample_categorical(t, p, 3, &rng);
        if (s == NB_OK) s = nb_sample_shuffle(t, &rng);
        long frees_expected = n_alloc - (fail_at < n_alloc ? 1 : 0);
        CHECK_MSG(n_free == frees_expected, "fail at %ld: %ld allocations, %ld frees", fail_at,
                  n_alloc, n_free);
        if (s == NB_OK) break;
        CHECK_MSG(s == NB_ERR_NOMEM, "fail at %ld: %s", fail_at, nb_status_str(s));
        failures_seen++;
    }
    fail_at = -1;
    nb_set_allocator(NULL);
    CHECK(failures_seen == 4);
    nb_tensor_free(t);
}

static const nbt_case cases[] = {
    {"var_std", test_var_std},
    {"var_large_mean", test_var_large_mean},
    {"cov_corr", test_cov_corr},
    {"moment_errors", test_moment_errors},
    {"var_gradient", test_var_gradient},
    {"discrete", test_discrete},
    {"discrete_errors", test_discrete_errors},
    {"conditional", test_conditional},
    {"sample_uniform", test_sample_uniform},
    {"sample_normal", test_sample_normal},
    {"sample_bernoulli", test_sample_bernoulli},
    {"sample_categorical", test_sample_categorical},
    {"sample_permutation", test_sample_permutation},
    {"sample_shuffle", test_sample_shuffle},
    {"sample_strided_reproducible", test_sample_strided_reproducible},
    {"allocation_failures", test_allocation_failures},
};

/* The fixture is loaded once for all tests (from the repository root, where tests run). */
int main(int argc, char **argv) {
    fx = nbt_fixture_load("tests/ref/stats.txt");
    int rc = nbt_run(cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    nbt_fixture_free(fx);
    return rc;
}
