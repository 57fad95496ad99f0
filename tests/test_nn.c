/* test_nn — the parameter store, initialisers, the dense and activation layers and the
 * sequential model: statistics of every initialiser, dense forward and backward against
 * hand-written loops, the flat-buffer layout, the summary text, errors, two threads running
 * one model, a training step that allocates nothing once warm, and fault injection (every
 * allocation of model creation and one training step failed in turn: each must give an
 * error, never a crash, and leave nothing allocated). */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "autograd/autograd.h"
#include "nn/nn.h"
#include "ops/linear.h"

#include <pthread.h>

/* ---- a counting allocator that can fail the Nth allocation --------------------------------- */

static long n_alloc, n_live, fail_at = -1;

static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (++n_alloc == fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    n_live++;
    return p;
}

static void count_free(void *p, void *user) {
    (void)user;
    if (p) n_live--;
    free(p);
}

static void counting_on(long fail) {
    n_alloc = 0;
    n_live = 0;
    fail_at = fail;
    nb_set_allocator(&(nb_allocator){count_alloc, count_free, NULL});
}

static void counting_off(void) { nb_set_allocator(NULL); }

/* ---- helpers ----------------------------------------------------------------------------- */

static double mean_of(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

static double var_of(const float *x, int64_t n) {
    double m = mean_of(x, n), s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return s / (double)n;
}

/* Reads a whole FILE written by the test back as a string (malloc'd). */
static char *slurp(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    return s;
}

/* The XOR-shaped model: 2 → 4 (sigmoid) → 1 (sigmoid). */
static nb_model *xor_model(uint64_t seed) {
    nb_model *m = nb_model_new(NB_DIMS(2), seed);
    if (!m) return NULL;
    if (nb_model_dense(m, 4, NB_ACT_SIGMOID) != NB_OK ||
        nb_model_dense(m, 1, NB_ACT_SIGMOID) != NB_OK) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- initialisers ------------------------------------------------------------------------ */

#define BIG_R 240
#define BIG_C 250
#define BIG_N ((int64_t)BIG_R * BIG_C)

/* mean within 5 standard errors, variance within 4% */
static void check_stats(const char *what, const nb_tensor *t, double mean, double var) {
    double m = mean_of(nb_f32(t), t->numel), v = var_of(nb_f32(t), t->numel);
    CHECK_MSG(fabs(m - mean) <= 5.0 * sqrt(var / (double)t->numel),
              "%s: mean %.5f, expected %.5f", what, m, mean);
    CHECK_MSG(fabs(v - var) <= 0.04 * var, "%s: variance %.5f, expected %.5f", what, v, var);
}

static void test_init_stats(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    nb_tensor *t = nb_zeros(NULL, NB_DIMS(BIG_R, BIG_C));
    CHECK_PTR(t);
    if (!t) return;
    float *p = nb_f32(t);

    CHECK_OK(nb_init_constant(t, 0.75f));
    for (int64_t i = 0; i < BIG_N; i++) CHECK(p[i] == 0.75f);
    CHECK_OK(nb_init_zeros(t));
    for (int64_t i = 0; i < BIG_N; i++) CHECK(p[i] == 0.0f);

    CHECK_OK(nb_init_uniform(t, -2.0f, 3.0f, &rng));
    check_stats("uniform(-2, 3)", t, 0.5, 25.0 / 12.0);
    for (int64_t i = 0; i < BIG_N; i++) CHECK(p[i] >= -2.0f && p[i] < 3.0f);

    CHECK_OK(nb_init_normal(t, 1.0f, 2.0f, &rng));
    check_stats("normal(1, 2)", t, 1.0, 4.0);

    /* Xavier: fan_in 240, fan_out 250, gain 1.5: b = 1.5 sqrt(6 / 490) */
    const double xb = 1.5 * sqrt(6.0 / 490.0);
    CHECK_OK(nb_init_xavier_uniform(t, BIG_R, BIG_C, 1.5f, &rng));
    check_stats("xavier_uniform", t, 0.0, xb * xb / 3.0);
    float lo = p[0], hi = p[0];
    for (int64_t i = 0; i < BIG_N; i++) {
        lo = p[i] < lo ? p[i] : lo;
        hi = p[i] > hi ? p[i] : hi;
    }
    /* inside the bound, and reaching close to it from both sides */
    CHECK(lo >= -(float)xb && hi <= (float)xb);
    CHECK(lo < -0.999 * xb && hi > 0.999 * xb);

    CHECK_OK(nb_init_xavier_normal(t, BIG_R, BIG_C, 1.0f, &rng));
    check_stats("xavier_normal", t, 0.0, 2.0 / 490.0);

    /* Kaiming for a ReLU, fan 240: std = sqrt(2) / sqrt(240) */
    float g = nb_init_gain(NB_ACT_RELU, 0.0f);
    CHECK_OK(nb_init_kaiming_uniform(t, BIG_R, g, &rng));
    const double kb = sqrt(3.0) * sqrt(2.0) / sqrt(240.0);
    check_stats("kaiming_uniform", t, 0.0, 2.0 / 240.0);
    for (int64_t i = 0; i < BIG_N; i++) CHECK(fabsf(p[i]) <= (float)kb);
    CHECK_OK(nb_init_kaiming_normal(t, BIG_C, g, &rng));
    check_stats("kaiming_normal", t, 0.0, 2.0 / 250.0);

    /* the same seed gives the same values */
    nb_tensor *u = nb_zeros(NULL, NB_DIMS(64));
    nb_rng r1, r2;
    nb_rng_seed(&r1, 5);
    nb_rng_seed(&r2, 5);
    CHECK_OK(nb_init_normal(t, 0.0f, 1.0f, &r1));
    CHECK_OK(nb_init_normal(u, 0.0f, 1.0f, &r2));
    CHECK(memcmp(nb_f32(t), nb_f32(u), 64 * sizeof(float)) == 0);

    /* nb_init_apply with a default gain: Kaiming takes the activation's, Xavier 1 */
    nb_rng_seed(&r1, 9);
    nb_rng_seed(&r2, 9);
    CHECK_OK(nb_init_apply(t, &(nb_init){.kind = NB_INIT_KAIMING_UNIFORM}, BIG_R, BIG_C, 3.0f, &r1));
    CHECK_OK(nb_init_kaiming_uniform(u, BIG_R, 3.0f, &r2));
    CHECK(memcmp(nb_f32(t), nb_f32(u), 64 * sizeof(float)) == 0);
    nb_rng_seed(&r1, 10);
    nb_rng_seed(&r2, 10);
    CHECK_OK(nb_init_apply(t, &(nb_init){.kind = NB_INIT_XAVIER_NORMAL}, BIG_R, BIG_C, 3.0f, &r1));
    CHECK_OK(nb_init_xavier_normal(u, BIG_R, BIG_C, 1.0f, &r2));
    CHECK(memcmp(nb_f32(t), nb_f32(u), 64 * sizeof(float)) == 0);
    CHECK_OK(nb_init_apply(t, &(nb_init){.kind = NB_INIT_UNIFORM, .a = 2.0f, .b = 2.5f}, 1, 1, 1.0f, &r1));
    for (int64_t i = 0; i < BIG_N; i++) CHECK(p[i] >= 2.0f && p[i] < 2.5f);
    nb_tensor_free(u);
    nb_tensor_free(t);
}

static void test_init_gain_and_fans(void) {
    CHECK(nb_init_gain(NB_ACT_NONE, 0.0f) == 1.0f);
    CHECK(nb_init_gain(NB_ACT_SIGMOID, 0.0f) == 1.0f);
    CHECK_CLOSE(nb_init_gain(NB_ACT_TANH, 0.0f), 5.0 / 3.0, 0.0, 1e-7);
    CHECK_CLOSE(nb_init_gain(NB_ACT_RELU, 0.0f), sqrt(2.0), 0.0, 1e-7);
    CHECK_CLOSE(nb_init_gain(NB_ACT_LEAKY_RELU, 0.0f), sqrt(2.0 / (1.0 + 1e-4)), 0.0, 1e-7);
    CHECK_CLOSE(nb_init_gain(NB_ACT_LEAKY_RELU, 0.2f), sqrt(2.0 / 1.04), 0.0, 1e-7);

    nb_tensor *w = nb_zeros(NULL, NB_DIMS(8, 3, 5, 5)); /* conv weight [out, in, kh, kw] */
    int64_t fi = 0, fo = 0;
    CHECK_OK(nb_init_fans(w, &fi, &fo));
    CHECK(fi == 75 && fo == 200);
    nb_tensor *v = nb_zeros(NULL, NB_DIMS(8));
    CHECK(nb_init_fans(v, &fi, &fo) == NB_ERR_SHAPE);

    nb_rng rng;
    nb_rng_seed(&rng, 1);
    CHECK(nb_init_xavier_uniform(v, 0, 4, 1.0f, &rng) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "fan") != NULL);
    CHECK(nb_init_kaiming_normal(v, 4, -1.0f, &rng) == NB_ERR_ARG);
    CHECK(nb_init_uniform(v, 1.0f, 0.0f, &rng) == NB_ERR_ARG);
    CHECK(nb_init_normal(v, 0.0f, 1.0f, NULL) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "rng") != NULL);
    CHECK(nb_init_apply(v, &(nb_init){.kind = NB_INIT_DEFAULT}, 1, 1, 1.0f, &rng) == NB_ERR_ARG);
    /* a transposed (non-contiguous) view is refused */
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *mt = nb_transpose(ctx, nb_zeros(ctx, NB_DIMS(3, 4)), 0, 1);
    CHECK_PTR(mt);
    if (mt) {
        CHECK(nb_init_zeros(mt) == NB_ERR_ARG);
        CHECK(strstr(nb_last_error(), "contiguous") != NULL);
    }
    nb_ctx_free(ctx);
    nb_tensor_free(w);
    nb_tensor_free(v);
}

/* ---- the parameter store ----------------------------------------------------------------- */

static void test_params_store(void) {
    nb_params *ps = nb_params_new();
    CHECK_PTR(ps);
    if (!ps) return;
    /* enough parameters to make the buffers grow (and move) several times */
    nb_tensor *t[20];
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        t[i] = nb_params_add(ps, name, NB_DIMS(i + 1, 3));
        CHECK_PTR(t[i]);
        if (!t[i]) return;
        CHECK_OK(nb_init_constant(t[i], (float)i));
    }
    CHECK(nb_params_len(ps) == 20);
    int64_t off = 0;
    for (int i = 0; i < 20; i++) {
        CHECK(nb_params_at(ps, i) == t[i]);
        CHECK(strcmp(t[i]->name, (char[16]){0}) != 0);
        CHECK(t[i]->flags == (NB_TF_PARAM | NB_TF_REQUIRES_GRAD));
        /* values and gradients are consecutive slices of the two flat buffers */
        CHECK(nb_f32(t[i]) == nb_params_data(ps) + off);
        CHECK(t[i]->grad && nb_f32(t[i]->grad) == nb_params_grad(ps) + off);
        CHECK(nb_tensor_same_shape(t[i], t[i]->grad));
        for (int64_t k = 0; k < t[i]->numel; k++) CHECK(nb_f32(t[i])[k] == (float)i);
        off += t[i]->numel;
    }
    CHECK(nb_params_numel(ps) == off && off == 3 * 210);
    CHECK(nb_params_find(ps, "p7") == t[7]);
    CHECK(nb_params_find(ps, "p70") == NULL);
    CHECK(nb_params_at(ps, 20) == NULL && nb_params_at(ps, -1) == NULL);

    /* zero_grad: the whole gradient buffer, one memset */
    for (int64_t k = 0; k < off; k++) nb_params_grad(ps)[k] = 1.0f + (float)k;
    nb_params_zero_grad(ps);
    for (int64_t k = 0; k < off; k++) CHECK(nb_params_grad(ps)[k] == 0.0f);

    /* errors: duplicate name, bad shape, empty name */
    CHECK(nb_params_add(ps, "p3", NB_DIMS(2)) == NULL);
    CHECK(strstr(nb_last_error(), "'p3'") != NULL);
    CHECK(nb_params_add(ps, "neg", NB_DIMS(2, -1)) == NULL);
    CHECK(nb_params_add(ps, "", NB_DIMS(2)) == NULL);
    CHECK(nb_params_len(ps) == 20 && nb_params_numel(ps) == off);
    /* a scalar parameter */
    nb_tensor *s = nb_params_add(ps, "scale", 0, NULL);
    CHECK(s && s->numel == 1 && nb_params_numel(ps) == off + 1);
    nb_params_free(ps);
    nb_params_free(NULL);
}

/* ---- dense --------------------------------------------------------------------------------- */

static float act_ref(nb_activation a, float z, float alpha) {
    switch (a) {
    case NB_ACT_SIGMOID: return 1.0f / (1.0f + expf(-z));
    case NB_ACT_TANH: return tanhf(z);
    case NB_ACT_RELU: return z > 0.0f ? z : 0.0f;
    case NB_ACT_LEAKY_RELU: return z > 0.0f ? z : (alpha ? alpha : 0.01f) * z;
    case NB_ACT_ELU: return z > 0.0f ? z : (alpha ? alpha : 1.0f) * expm1f(z);
    case NB_ACT_GELU: return 0.5f * z * (1.0f + erff(z / sqrtf(2.0f)));
    case NB_ACT_SILU: return z / (1.0f + expf(-z));
    case NB_ACT_SOFTPLUS: return z > 20.0f ? z : log1pf(expf(z));
    default: return z;
    }
}

/* y = f(x W + b) computed by hand, for each activation, on a batch of 5 samples of 3 */
static void test_dense_forward(void) {
    static const nb_activation acts[] = {NB_ACT_NONE, NB_ACT_SIGMOID, NB_ACT_TANH,
                                         NB_ACT_RELU, NB_ACT_LEAKY_RELU, NB_ACT_ELU,
                                         NB_ACT_GELU, NB_ACT_SILU, NB_ACT_SOFTPLUS,
                                         NB_ACT_SOFTMAX};
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_tensor *x = nb_randn(NULL, NB_DIMS(5, 3), 0.0f, 1.5f, &rng);
    nb_ctx *ctx = nb_ctx_new(NULL);
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        nb_model *m = nb_model_new(NB_DIMS(3), 100 + a);
        nb_dense_opts o = {.activation = acts[a], .alpha = a == 4 ? 0.2f : 0.0f,
                           .bias_init = {.kind = NB_INIT_UNIFORM, .a = -1.0f, .b = 1.0f}};
        CHECK_OK(nb_model_dense_with(m, 4, &o));
        nb_tensor *W = nb_params_find(nb_model_params(m), "dense_1.weight");
        nb_tensor *b = nb_params_find(nb_model_params(m), "dense_1.bias");
        CHECK(W && W->rank == 2 && W->shape[0] == 3 && W->shape[1] == 4);
        CHECK(b && b->rank == 1 && b->shape[0] == 4);
        nb_tensor *y = nb_model_forward(m, ctx, x);
        CHECK_PTR(y);
        if (!y || !W || !b) continue;
        CHECK(y->rank == 2 && y->shape[0] == 5 && y->shape[1] == 4);
        for (int i = 0; i < 5; i++) {
            float z[4], zmax = -INFINITY, esum = 0.0f;
            for (int j = 0; j < 4; j++) {
                z[j] = 0.0f;
                for (int k = 0; k < 3; k++) z[j] += nb_f32(x)[i * 3 + k] * nb_f32(W)[k * 4 + j];
                z[j] += nb_f32(b)[j];
                zmax = z[j] > zmax ? z[j] : zmax;
            }
            for (int j = 0; j < 4; j++) esum += expf(z[j] - zmax);
            for (int j = 0; j < 4; j++) {
                float want = acts[a] == NB_ACT_SOFTMAX ? expf(z[j] - zmax) / esum
                                                       : act_ref(acts[a], z[j], o.alpha);
                CHECK_CLOSE(nb_f32(y)[i * 4 + j], want, 1e-6, 1e-5);
            }
        }
        nb_ctx_reset(ctx);
        nb_model_free(m);
    }
    nb_ctx_free(ctx);
    nb_tensor_free(x);
}

/* The tape through the layer lands in the flat gradient buffer: with upstream R,
 * dW = xᵀ R, db = Σ_rows R (no activation), accumulated across two backward passes. */
static void test_dense_backward(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 4);
    nb_tensor *x = nb_randn(NULL, NB_DIMS(6, 3), 0.0f, 1.0f, &rng);
    nb_tensor *R = nb_randn(NULL, NB_DIMS(6, 2), 0.0f, 1.0f, &rng);
    nb_model *m = nb_model_new(NB_DIMS(3), 8);
    CHECK_OK(nb_model_dense(m, 2, NB_ACT_NONE));
    nb_params *ps = nb_model_params(m);
    nb_ctx *ctx = nb_ctx_new(NULL);
    for (int pass = 1; pass <= 2; pass++) {
        nb_tensor *y = nb_model_forward(m, ctx, x);
        CHECK_OK(nb_backward_with(ctx, y, R));
        nb_ctx_reset(ctx);
        const float *g = nb_params_grad(ps); /* [dW (3x2), db (2)] */
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 2; j++) {
                float want = 0.0f;
                for (int i = 0; i < 6; i++) want += nb_f32(x)[i * 3 + k] * nb_f32(R)[i * 2 + j];
                CHECK_CLOSE(g[k * 2 + j], pass * want, 1e-5, 1e-5);
            }
        for (int j = 0; j < 2; j++) {
            float want = 0.0f;
            for (int i = 0; i < 6; i++) want += nb_f32(R)[i * 2 + j];
            CHECK_CLOSE(g[6 + j], pass * want, 1e-5, 1e-5);
        }
    }
    nb_model_zero_grad(m);
    for (int k = 0; k < 8; k++) CHECK(nb_params_grad(ps)[k] == 0.0f);
    nb_ctx_free(ctx);
    nb_model_free(m);
    nb_tensor_free(x);
    nb_tensor_free(R);
}

/* nb_linear, the dense layer's fused op, equals the composition add(matmul(x, W), b):
 * values and all three gradients, for a batch, a rank-3 batch, a transposed (strided) x, and
 * without a bias. */
static void test_linear_equals_composition(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 21);
    for (int k = 0; k < 4; k++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        /* k = 2: x is stored [5, 4] and used through a transposed view [4, 5] */
        nb_tensor *x = k == 1 ? nb_randn(ctx, NB_DIMS(2, 3, 5), 0.0f, 1.0f, &rng)
                     : k == 2 ? nb_randn(ctx, NB_DIMS(5, 4), 0.0f, 1.0f, &rng)
                              : nb_randn(ctx, NB_DIMS(4, 5), 0.0f, 1.0f, &rng);
        nb_tensor *W = nb_randn(ctx, NB_DIMS(5, 3), 0.0f, 1.0f, &rng);
        nb_tensor *b = k == 3 ? NULL : nb_randn(ctx, NB_DIMS(3), 0.0f, 1.0f, &rng);
        nb_tensor *xs[2], *Ws[2], *bs[2], *ys[2];
        for (int v = 0; v < 2; v++) { /* two sets of leaves, so the gradients are separate */
            xs[v] = nb_tensor_clone(ctx, x);
            Ws[v] = nb_tensor_clone(ctx, W);
            bs[v] = b ? nb_tensor_clone(ctx, b) : NULL;
            nb_tensor_set_requires_grad(xs[v], 1);
            nb_tensor_set_requires_grad(Ws[v], 1);
            if (b) nb_tensor_set_requires_grad(bs[v], 1);
        }
        nb_tensor *x0 = k == 2 ? nb_transpose(ctx, xs[0], 0, 1) : xs[0];
        nb_tensor *x1 = k == 2 ? nb_transpose(ctx, xs[1], 0, 1) : xs[1];
        ys[0] = nb_linear(ctx, x0, Ws[0], bs[0]);
        ys[1] = nb_matmul(ctx, x1, Ws[1]);
        if (b) ys[1] = nb_add(ctx, ys[1], bs[1]);
        nb_tensor *R = ys[1] ? nb_randn(ctx, ys[1]->rank, ys[1]->shape, 0.0f, 1.0f, &rng) : NULL;
        nb_tensor *sum = nb_add(ctx, nb_sum(ctx, nb_mul(ctx, ys[0], R), NB_ALL_AXES, 0),
                                nb_sum(ctx, nb_mul(ctx, ys[1], R), NB_ALL_AXES, 0));
        CHECK_PTR(sum);
        if (!sum) {
            nb_ctx_free(ctx);
            continue;
        }
        CHECK(nb_tensor_same_shape(ys[0], ys[1]));
        for (int64_t i = 0; i < ys[1]->numel; i++)
            CHECK_CLOSE(nb_f32(ys[0])[i], nb_f32(ys[1])[i], 1e-6, 1e-6);
        CHECK_OK(nb_backward(ctx, sum));
        const nb_tensor *pairs[3][2] = {{xs[0]->grad, xs[1]->grad},
                                        {Ws[0]->grad, Ws[1]->grad},
                                        {b ? bs[0]->grad : NULL, b ? bs[1]->grad : NULL}};
        for (int p = 0; p < 3; p++) {
            CHECK(p == 2 && !b ? 1 : pairs[p][0] && pairs[p][1]);
            if (!pairs[p][0] || !pairs[p][1]) continue;
            for (int64_t i = 0; i < pairs[p][1]->numel; i++)
                CHECK_CLOSE(nb_f32(pairs[p][0])[i], nb_f32(pairs[p][1])[i], 1e-5, 1e-5);
        }
        nb_ctx_free(ctx);
    }
    /* shape errors name the op */
    nb_ctx *ctx = nb_ctx_new(NULL);
    CHECK(nb_linear(ctx, nb_ones(ctx, NB_DIMS(2, 3)), nb_ones(ctx, NB_DIMS(4, 5)), NULL) == NULL);
    CHECK(strstr(nb_last_error(), "linear") != NULL);
    CHECK(nb_linear(ctx, nb_ones(ctx, NB_DIMS(2, 3)), nb_ones(ctx, NB_DIMS(3, 5)),
                    nb_ones(ctx, NB_DIMS(4))) == NULL);
    nb_ctx_free(ctx);
}

/* linear_act, the dense layer's op with its activation fused, equals linear then the
 * activation's op bit for bit — values and the three gradients — for every elementwise
 * activation (relu's kink included: the same kernels run), with and without a bias, a strided
 * x; without gradients (f applied in place) and in check mode (run as the two ops). */
static void test_linear_act_equals_composition(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 22);
    int tried = 0;
    for (int act = 1; act < NB_ACT_COUNT; act++) {
        int op;
        float p[2];
        if (!nbi_activation_op((nb_activation)act, act == NB_ACT_LEAKY_RELU ? 0.2f : 0.0f, &op, p))
            continue;
        for (int k = 0; k < 4; k++) {
            nb_ctx *ctx = nb_ctx_new(NULL);
            if (k == 3) nb_ctx_set_check(ctx, 1);
            nb_tensor *x = nb_randn(ctx, NB_DIMS(6, 5), 0.0f, 1.0f, &rng);
            nb_tensor *W = nb_randn(ctx, NB_DIMS(k == 1 ? 6 : 5, 3), 0.0f, 1.0f, &rng);
            nb_tensor *b = k == 2 ? NULL : nb_randn(ctx, NB_DIMS(3), 0.0f, 1.0f, &rng);
            nb_tensor *xs[2], *Ws[2], *bs[2], *ys[2];
            for (int v = 0; v < 2; v++) {
                xs[v] = nb_tensor_clone(ctx, x);
                Ws[v] = nb_tensor_clone(ctx, W);
                bs[v] = b ? nb_tensor_clone(ctx, b) : NULL;
                nb_tensor_set_requires_grad(xs[v], 1);
                nb_tensor_set_requires_grad(Ws[v], 1);
                if (b) nb_tensor_set_requires_grad(bs[v], 1);
            }
            /* k = 1: x [6, 5] used through its transpose [5, 6] */
            nb_tensor *x0 = k == 1 ? nb_transpose(ctx, xs[0], 0, 1) : xs[0];
            nb_tensor *x1 = k == 1 ? nb_transpose(ctx, xs[1], 0, 1) : xs[1];
            ys[0] = nbi_linear_act(ctx, x0, Ws[0], bs[0], op, p);
            ys[1] = nb_activate(ctx, nb_linear(ctx, x1, Ws[1], bs[1]), (nb_activation)act,
                                act == NB_ACT_LEAKY_RELU ? 0.2f : 0.0f);
            CHECK_PTR(ys[0]);
            CHECK_PTR(ys[1]);
            if (!ys[0] || !ys[1]) {
                nb_ctx_free(ctx);
                continue;
            }
            CHECK(ys[0]->node && ys[0]->node->op == (k == 3 ? op : NBI_OP_LINEAR_ACT));
            nb_tensor *R = nb_randn(ctx, ys[1]->rank, ys[1]->shape, 0.0f, 1.0f, &rng);
            nb_tensor *sum = nb_add(ctx, nb_sum(ctx, nb_mul(ctx, ys[0], R), NB_ALL_AXES, 0),
                                    nb_sum(ctx, nb_mul(ctx, ys[1], R), NB_ALL_AXES, 0));
            CHECK(nb_tensor_same_shape(ys[0], ys[1]));
            CHECK(memcmp(ys[0]->data, ys[1]->data, sizeof(float) * (size_t)ys[1]->numel) == 0);
            CHECK_OK(nb_backward(ctx, sum));
            const nb_tensor *g[3][2] = {{xs[0]->grad, xs[1]->grad},
                                        {Ws[0]->grad, Ws[1]->grad},
                                        {b ? bs[0]->grad : NULL, b ? bs[1]->grad : NULL}};
            for (int q = 0; q < (b ? 3 : 2); q++) {
                CHECK(g[q][0] && g[q][1]);
                if (g[q][0] && g[q][1])
                    CHECK_MSG(memcmp(g[q][0]->data, g[q][1]->data,
                                     sizeof(float) * (size_t)g[q][1]->numel) == 0,
                              "%s, case %d, gradient %d", nb_activation_name(act), k, q);
            }
            /* without gradients: the same values, f applied where GEMM wrote z */
            nb_ctx_set_grad(ctx, 0);
            nb_tensor *y2 = nbi_linear_act(ctx, x0, Ws[0], bs[0], op, p);
            CHECK(y2 && !y2->node &&
                  memcmp(y2->data, ys[1]->data, sizeof(float) * (size_t)ys[1]->numel) == 0);
            nb_ctx_free(ctx);
            tried++;
        }
    }
    CHECK(tried >= 4 * 9);
}

/* dense acts on the last axis of a rank-3 input, no_bias, and an activation layer */
static void test_model_shapes(void) {
    nb_model *m = nb_model_new(NB_DIMS(7, 3), 1);
    CHECK_OK(nb_model_dense_with(m, 5, &(nb_dense_opts){.no_bias = 1, .name = "proj"}));
    CHECK_OK(nb_model_activation(m, NB_ACT_RELU, 0.0f));
    CHECK_OK(nb_model_dense(m, 2, NB_ACT_NONE));
    CHECK(nb_model_layer_count(m) == 3);
    CHECK(strcmp(nb_model_layer_name(m, 0), "proj") == 0);
    CHECK(strcmp(nb_model_layer_name(m, 1), "activation_1") == 0);
    CHECK(strcmp(nb_model_layer_name(m, 2), "dense_2") == 0); /* the second dense layer */
    CHECK(nb_model_param_count(m) == 3 * 5 + 5 * 2 + 2);
    int64_t shape[NB_MAX_RANK];
    CHECK(nb_model_output_shape(m, shape) == 2 && shape[0] == 7 && shape[1] == 2);
    CHECK(nb_params_find(nb_model_params(m), "proj.bias") == NULL);

    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_ones(ctx, NB_DIMS(4, 7, 3));
    nb_tensor *y = nb_model_forward(m, ctx, x);
    CHECK_PTR(y);
    if (y) CHECK(y->rank == 3 && y->shape[0] == 4 && y->shape[1] == 7 && y->shape[2] == 2);
    nb_ctx_free(ctx);
    nb_model_free(m);
}

/* ---- summary ------------------------------------------------------------------------------ */

static void test_summary(void) {
    nb_model *m = xor_model(1);
    CHECK_PTR(m);
    if (!m) return;
    CHECK(nb_model_param_count(m) == 17);
    CHECK_OK(nb_model_activation(m, NB_ACT_LEAKY_RELU, 0.2f));
    FILE *f = tmpfile();
    CHECK_OK(nb_model_summary(m, f));
    char *s = slurp(f);
    fclose(f);
    const char *want =
        "Model: sequential, input (None, 2)\n"
        "______________________________________________________________________________________\n"
        "Layer (type)                   Output Shape           Param #     Config\n"
        "======================================================================================\n"
        "dense_1 (Dense)                (None, 4)              12          4 units, sigmoid\n"
        "dense_2 (Dense)                (None, 1)              5           1 unit, sigmoid\n"
        "activation_1 (Activation)      (None, 1)              0           leaky_relu(0.2)\n"
        "======================================================================================\n"
        "Total params: 17 (68 bytes)\n"
        "Trainable params: 17\n"
        "Non-trainable params: 0\n"
        "______________________________________________________________________________________\n";
    CHECK_MSG(strcmp(s, want) == 0, "summary:\n%s\nexpected:\n%s", s, want);
    free(s);
    CHECK(nb_model_summary(m, NULL) == NB_ERR_ARG);
    nb_model_free(m);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_model_errors(void) {
    CHECK(nb_model_new(NB_DIMS(2, 0), 1) == NULL);
    CHECK(strstr(nb_last_error(), "[2,0]") != NULL);
    CHECK(nb_model_new(8, (int64_t[8]){1, 1, 1, 1, 1, 1, 1, 1}, 1) == NULL);

    nb_model *m = xor_model(1);
    CHECK_PTR(m);
    if (!m) return;
    /* dense with 0 units: a clear error, and the model is as it was */
    CHECK(nb_model_dense(m, 0, NB_ACT_RELU) == NB_ERR_ARG);
    CHECK_MSG(strstr(nb_last_error(), "units must be at least 1") != NULL, "message: %s",
              nb_last_error());
    CHECK(nb_model_dense(m, 3, (nb_activation)99) == NB_ERR_ARG);
    CHECK(nb_model_dense_with(m, 3, &(nb_dense_opts){.name = "dense_1"}) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "already has a layer named 'dense_1'") != NULL);
    CHECK(nb_model_dense_with(m, 3, &(nb_dense_opts){.name = "a.b"}) == NB_ERR_ARG);
    /* an initialiser that fails during build: rolled back, parameters included */
    CHECK(nb_model_dense_with(m, 3, &(nb_dense_opts){
                                    .weight_init = {.kind = NB_INIT_UNIFORM, .a = 1.0f, .b = -1.0f}}) == NB_ERR_ARG);
    CHECK(nb_model_layer_count(m) == 2);
    CHECK(nb_model_param_count(m) == 17);
    CHECK(nb_params_len(nb_model_params(m)) == 4);
    CHECK(nb_model_dense(NULL, 3, NB_ACT_NONE) == NB_ERR_ARG);

    /* a rolled-back add leaves the generator as it was: the next layer gets the weights it
     * would have had without the failed add */
    nb_model *m2 = xor_model(1);
    CHECK_OK(nb_model_dense(m, 3, NB_ACT_NONE));
    CHECK_OK(nb_model_dense(m2, 3, NB_ACT_NONE));
    nb_tensor *w1 = nb_params_find(nb_model_params(m), "dense_3.weight");
    nb_tensor *w2 = nb_params_find(nb_model_params(m2), "dense_3.weight");
    CHECK(w1 && w2 && memcmp(nb_f32(w1), nb_f32(w2), 3 * sizeof(float)) == 0);
    nb_model_free(m2);

    /* forward with the wrong input */
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_ones(ctx, NB_DIMS(4, 3));
    CHECK(nb_model_forward(m, ctx, x) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MSG(strstr(nb_last_error(), "f32[4,3]") && strstr(nb_last_error(), "(None, 2)"),
              "message: %s", nb_last_error());
    nb_ctx_reset(ctx);
    CHECK(nb_model_forward(m, ctx, NULL) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_ARG);
    CHECK(nb_model_forward(m, NULL, x) == NULL);
    nb_ctx_reset(ctx);

    /* check mode names the layer that made a NaN */
    nb_ctx_set_check(ctx, 1);
    x = nb_full(ctx, NB_DIMS(2, 2), INFINITY);
    nb_tensor *zero = nb_zeros(ctx, NB_DIMS(2, 2));
    nb_tensor *nan_in = nb_mul(ctx, x, zero); /* inf * 0: the NaN is made here */
    CHECK(nan_in == NULL);
    nb_ctx_set_check(ctx, 0);
    nb_ctx_reset(ctx);
    x = nb_full(ctx, NB_DIMS(2, 2), NAN);
    nb_ctx_set_check(ctx, 1);
    CHECK(nb_model_forward(m, ctx, x) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_NUMERIC);
    CHECK_MSG(strstr(nb_last_error(), "'dense_1'") != NULL, "message: %s", nb_last_error());
    nb_ctx_free(ctx);
    nb_model_free(m);
    nb_model_free(NULL);
}

static void test_train_eval_flag(void) {
    nb_model *m = xor_model(1);
    CHECK(nb_model_training(m) == 1); /* training mode by default */
    CHECK_OK(nb_model_set_training(m, 0));
    CHECK(nb_model_training(m) == 0);
    CHECK_OK(nb_model_set_training(m, 1));
    CHECK(nb_model_training(m) == 1);
    CHECK(nb_model_set_training(NULL, 1) == NB_ERR_ARG);
    nb_model_free(m);
}

/* ---- two threads, one model ------------------------------------------------------------------ */

typedef struct worker {
    const nb_model *m;
    const nb_tensor *x;
    float out[64];
    int ok;
} worker;

static void *infer(void *arg) {
    worker *w = arg;
    nb_ctx *ctx = nb_ctx_new(NULL);
    w->ok = ctx != NULL;
    for (int rep = 0; w->ok && rep < 200; rep++) {
        nb_ctx_set_grad(ctx, rep % 2); /* with and without a tape */
        nb_tensor *y = nb_model_infer(w->m, ctx, (nb_tensor *)w->x); /* const: shared */
        if (!y || y->numel > 64) {
            w->ok = 0;
            break;
        }
        memcpy(w->out, y->data, (size_t)y->numel * sizeof(float));
        nb_ctx_reset(ctx);
    }
    nb_ctx_free(ctx);
    return NULL;
}

static void run_two_threads(const nb_model *m, const nb_tensor *x, const nb_tensor *want) {
    worker w[2] = {{m, x, {0}, 0}, {m, x, {0}, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, infer, &w[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2 && want; i++) {
        CHECK(w[i].ok);
        CHECK(memcmp(w[i].out, want->data, 64 * sizeof(float)) == 0);
    }
}

static void test_two_threads(void) {
    nb_model *m = nb_model_new(NB_DIMS(8), 2);
    CHECK_OK(nb_model_dense(m, 16, NB_ACT_TANH));
    CHECK_OK(nb_model_dense(m, 4, NB_ACT_NONE));
    nb_rng rng;
    nb_rng_seed(&rng, 6);
    nb_tensor *x = nb_randn(NULL, NB_DIMS(16, 8), 0.0f, 1.0f, &rng);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *want = nb_model_forward(m, ctx, x);
    CHECK_PTR(want);
    run_two_threads(m, x, want);
    nb_model_free(m);

    /* a graph with batch normalisation and dropout, left in training mode: nb_model_infer
     * runs it in inference mode and writes nothing (not the running statistics), which
     * ThreadSanitizer would see (make tsan) */
    m = nb_model_new_graph(3);
    int in = nb_model_input(m, "x", NB_F32, NB_DIMS(8));
    int h = nb_model_dense_on(m, in, 8, &(nb_dense_opts){.activation = NB_ACT_TANH});
    h = nb_model_batch_norm_on(m, h, NULL);
    h = nb_model_dropout_on(m, h, 0.5f, NULL);
    h = nb_model_add(m, NB_NODES(in, h), NULL);
    h = nb_model_dense_on(m, h, 4, NULL);
    CHECK(h > 0 && nb_model_training(m));
    nb_ctx_reset(ctx);
    want = nb_model_infer(m, ctx, x);
    CHECK_PTR(want);
    float before[8];
    memcpy(before, nb_params_data(nb_model_state(m)), sizeof before); /* running mean */
    run_two_threads(m, x, want);
    CHECK(!memcmp(before, nb_params_data(nb_model_state(m)), sizeof before));
    nb_ctx_free(ctx);
    nb_tensor_free(x);
    nb_model_free(m);
}

/* ---- training steps: no allocation once warm; fault injection ------------------------------ */

static const float X4[8] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float Y4[4] = {0, 1, 1, 0};

/* One step of the XOR network: loss = Σ (out − y)², then the optimizer. */
static nb_status train_step(nb_model *m, nb_optim *opt, nb_ctx *ctx) {
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, (void *)X4, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(ctx, NB_F32, (void *)Y4, NB_DIMS(4, 1));
    nb_tensor *loss = nb_mse_loss(ctx, nb_model_forward(m, ctx, x), y, NB_REDUCE_SUM);
    nb_optim_zero_grad(opt);
    nb_status s = nb_backward(ctx, loss);
    if (s == NB_OK) s = nb_optim_step(opt);
    nb_ctx_reset(ctx);
    return s;
}

static void test_steady_state_no_alloc(void) {
    counting_on(-1);
    nb_model *m = xor_model(3);
    nb_adam_opts ao = {.lr = 1e-2};
    nb_optim *opt = nb_adam_new(nb_model_params(m), &ao);
    nb_ctx *ctx = nb_ctx_new(NULL);
    CHECK(m && opt && ctx);
    long at_step3 = 0;
    for (int step = 1; step <= 10 && m && opt && ctx; step++) {
        if (step == 3) at_step3 = n_alloc;
        CHECK_OK(train_step(m, opt, ctx));
    }
    CHECK_MSG(n_alloc == at_step3, "%ld allocations in steps 3..10", n_alloc - at_step3);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
    CHECK_MSG(n_live == 0, "%ld allocations not freed", n_live);
    counting_off();
}

/* Model creation and one training step with the Nth allocation failing, for every N: the
 * failure must surface as an error, and everything must be freed. */
static int run_with_failure(long n) {
    counting_on(n);
    nb_status s = NB_OK;
    nb_model *m = nb_model_new(NB_DIMS(2), 1);
    if (!m) s = NB_ERR_NOMEM;
    if (s == NB_OK) s = nb_model_dense(m, 4, NB_ACT_TANH);
    if (s == NB_OK) s = nb_model_dense(m, 1, NB_ACT_SIGMOID);
    nb_optim *opt = NULL;
    if (s == NB_OK) {
        nb_adam_opts ao = {.lr = 1e-2};
        ao.amsgrad = 1;
        opt = nb_adam_new(nb_model_params(m), &ao);
        if (!opt) s = NB_ERR_NOMEM;
    }
    nb_ctx *ctx = NULL;
    if (s == NB_OK) {
        ctx = nb_ctx_new(&(nb_ctx_opts){.arena_chunk = 512});
        if (!ctx) s = NB_ERR_NOMEM;
    }
    if (s == NB_OK) s = train_step(m, opt, ctx);
    int failed_at_n = n_alloc >= n;
    if (failed_at_n) {
        CHECK_MSG(s == NB_ERR_NOMEM, "allocation %ld failed but the result was %s", n,
                  nb_status_str(s));
        CHECK_MSG(strstr(nb_last_error(), "memory") != NULL, "allocation %ld: message '%s'", n,
                  nb_last_error());
    } else {
        CHECK_MSG(s == NB_OK, "no failure injected yet the result was %s", nb_status_str(s));
    }
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
    CHECK_MSG(n_live == 0, "allocation %ld failed: %ld allocations not freed", n, n_live);
    counting_off();
    return failed_at_n;
}

static void test_fault_injection(void) {
    long n = 1;
    while (run_with_failure(n) && n < 10000) n++;
    printf("     %ld allocations, each failed in turn\n", n - 1);
    CHECK(n > 10);
}

static const nbt_case cases[] = {
    {"init_stats", test_init_stats},
    {"init_gain_and_fans", test_init_gain_and_fans},
    {"params_store", test_params_store},
    {"dense_forward", test_dense_forward},
    {"dense_backward", test_dense_backward},
    {"linear_equals_composition", test_linear_equals_composition},
    {"linear_act_equals_composition", test_linear_act_equals_composition},
    {"model_shapes", test_model_shapes},
    {"summary", test_summary},
    {"model_errors", test_model_errors},
    {"train_eval_flag", test_train_eval_flag},
    {"two_threads", test_two_threads},
    {"steady_state_no_alloc", test_steady_state_no_alloc},
    {"fault_injection", test_fault_injection},
};
NBT_MAIN(cases)
