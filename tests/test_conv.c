/* test_conv — convolution, pooling, batch normalisation and dropout ops:
 *   - PyTorch parity of outputs and gradients (tests/ref/conv.txt, from tests/ref/gen_conv.py)
 *     for conv2d (stride, padding, "same", dilation, groups, depthwise, 1x1), conv1d,
 *     conv_transpose2d (output_padding, groups, dilation), max and average pooling, batch norm
 *     in training (running statistics after the step included) and eval mode, dropout's scale;
 *   - the lowered path (im2col + GEMM, in chunks of 1, 2 and the default) against the
 *     reference loops of kernels/ref/conv.c on odd geometries;
 *   - dropout's statistics and determinism;
 *   - errors for shapes that do not fit. */
#include "nbtest.h"

#include "conv_geom.h"
#include "fixture.h"
#include "kernels/conv.h"
#include "ops/conv.h"

#define FIXTURE "tests/ref/conv.txt"
/* float32 on both sides, different summation orders; sums of up to ~150 products of values
 * below 1 in magnitude. */
#define ATOL 2e-5
#define RTOL 2e-5

static nbt_fixture *fx;

static const nbt_array *get(const char *case_name, const char *what) {
    char name[96];
    snprintf(name, sizeof name, "%s_%s", case_name, what);
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture lacks %s", name);
    return a;
}

static nb_tensor *leaf(nb_ctx *ctx, const nbt_array *a, int rg) {
    if (!a) return NULL;
    nb_tensor *t = nb_tensor_copy_of(ctx, a->data, a->rank, a->shape);
    if (t && rg) nb_tensor_set_requires_grad(t, 1);
    return t;
}

static void compare(const char *case_name, const char *what, const nb_tensor *t) {
    const nbt_array *want = get(case_name, what);
    char name[96];
    snprintf(name, sizeof name, "%s_%s", case_name, what);
    CHECK_MSG(t != NULL, "%s: nabla produced nothing: %s", name, nb_last_error());
    if (!want || !t) return;
    bool same = t->rank == want->rank;
    for (int i = 0; same && i < t->rank; i++) same = t->shape[i] == want->shape[i];
    CHECK_MSG(same, "%s: shape differs from the reference", name);
    if (same) nbt_compare(name, nb_f32(t), want->data, t->numel, ATOL, RTOL);
}

static bool load(void) {
    if (!fx) fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    return fx != NULL;
}

/* ---- PyTorch parity ----------------------------------------------------------------------------
 */

typedef enum { K_2D, K_1D, K_T } conv_kind;

static void conv_parity(const char *name, conv_kind kind) {
    const nbt_array *cfg = get(name, "cfg");
    if (!cfg) return;
    const float *c = cfg->data;
    nb_conv_opts o;
    memset(&o, 0, sizeof o);
    if (kind == K_1D) {
        o.stride[0] = (int64_t)c[1];
        o.pad[0] = (int64_t)c[4];
        o.pad[1] = (int64_t)c[5];
        o.dilation[0] = (int64_t)c[7];
    } else {
        o.stride[0] = (int64_t)c[0];
        o.stride[1] = (int64_t)c[1];
        for (int k = 0; k < 4; k++) o.pad[k] = (int64_t)c[2 + k];
        o.dilation[0] = (int64_t)c[6];
        o.dilation[1] = (int64_t)c[7];
        o.output_padding[0] = (int64_t)c[9];
        o.output_padding[1] = (int64_t)c[10];
    }
    o.groups = (int64_t)c[8];
    o.same = (int)c[11];
    int has_bias = (int)c[12];
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = leaf(ctx, get(name, "x"), 1), *w = leaf(ctx, get(name, "w"), 1);
    nb_tensor *b = has_bias ? leaf(ctx, get(name, "b"), 1) : NULL;
    nb_tensor *y = kind == K_2D   ? nb_conv2d(ctx, x, w, b, &o)
                   : kind == K_1D ? nb_conv1d(ctx, x, w, b, &o)
                                  : nb_conv_transpose2d(ctx, x, w, b, &o);
    compare(name, "y", y);
    nb_tensor *g = leaf(ctx, get(name, "g"), 0);
    if (y && g) {
        CHECK_OK(nb_backward_with(ctx, y, g));
        compare(name, "dx", x->grad);
        compare(name, "dw", w->grad);
        if (b) compare(name, "db", b->grad);
    }
    nb_ctx_free(ctx);
}

static void test_conv2d_parity(void) {
    if (!load()) return;
    static const char *const names[] = {"c2a", "c2b", "c2c", "c2d", "c2e", "c2f", "c2g"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) conv_parity(names[i], K_2D);
}

static void test_conv1d_parity(void) {
    if (!load()) return;
    conv_parity("c1a", K_1D);
    conv_parity("c1b", K_1D);
}

static void test_conv_transpose2d_parity(void) {
    if (!load()) return;
    conv_parity("cta", K_T);
    conv_parity("ctb", K_T);
    conv_parity("ctc", K_T);
}

static void pool_parity(const char *name, int is_max) {
    const nbt_array *cfg = get(name, "cfg");
    if (!cfg) return;
    const float *c = cfg->data;
    nb_pool_opts o;
    memset(&o, 0, sizeof o);
    o.kernel[0] = (int64_t)c[0];
    o.kernel[1] = (int64_t)c[1];
    o.stride[0] = (int64_t)c[2];
    o.stride[1] = (int64_t)c[3];
    for (int k = 0; k < 4; k++) o.pad[k] = (int64_t)c[4 + k];
    o.dilation[0] = (int64_t)c[8];
    o.dilation[1] = (int64_t)c[9];
    o.exclude_pad = (int)c[10];
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = leaf(ctx, get(name, "x"), 1);
    nb_tensor *y = is_max ? nb_max_pool2d(ctx, x, &o) : nb_avg_pool2d(ctx, x, &o);
    compare(name, "y", y);
    nb_tensor *g = leaf(ctx, get(name, "g"), 0);
    if (y && g) {
        CHECK_OK(nb_backward_with(ctx, y, g));
        compare(name, "dx", x->grad);
    }
    nb_ctx_free(ctx);
}

static void test_pool_parity(void) {
    if (!load()) return;
    pool_parity("mpa", 1);
    pool_parity("mpb", 1);
    pool_parity("mpc", 1);
    pool_parity("apa", 0);
    pool_parity("apb", 0);
    pool_parity("apc", 0);
    pool_parity("apd", 0);
}

static void bn_parity(const char *name) {
    const nbt_array *cfg = get(name, "cfg");
    if (!cfg) return;
    int training = (int)cfg->data[0];
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = leaf(ctx, get(name, "x"), 1), *w = leaf(ctx, get(name, "w"), 1);
    nb_tensor *b = leaf(ctx, get(name, "b"), 1);
    nb_tensor *rm = leaf(ctx, get(name, "rm"), 0), *rv = leaf(ctx, get(name, "rv"), 0);
    nb_tensor *y = nb_batch_norm(ctx, x, w, b, rm, rv, training, cfg->data[1], cfg->data[2]);
    compare(name, "y", y);
    compare(name, "rm1", rm); /* updated in place in training mode, unchanged in eval */
    compare(name, "rv1", rv);
    nb_tensor *g = leaf(ctx, get(name, "g"), 0);
    if (y && g) {
        CHECK_OK(nb_backward_with(ctx, y, g));
        compare(name, "dx", x->grad);
        compare(name, "dw", w->grad);
        compare(name, "db", b->grad);
    }
    nb_ctx_free(ctx);
}

static void test_batch_norm_parity(void) {
    if (!load()) return;
    bn_parity("bn2t");
    bn_parity("bn2e");
    bn_parity("bn1t");
    bn_parity("bn1e");
}

/* PyTorch's mask is its own; where both keep an element, the values must agree exactly:
 * y = x · (1/(1 − p)) rounded the same way. */
static void test_dropout_scale_parity(void) {
    if (!load()) return;
    const nbt_array *xa = get("drop", "x"), *ya = get("drop", "y"), *cfg = get("drop", "cfg");
    if (!xa || !ya || !cfg) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_tensor *x = leaf(ctx, xa, 0);
    nb_tensor *y = nb_dropout(ctx, x, cfg->data[0], 1, &rng);
    CHECK_PTR(y);
    int both = 0;
    for (int64_t i = 0; y && i < y->numel; i++) {
        float v = nb_f32(y)[i];
        if (v != 0.0f && ya->data[i] != 0.0f) {
            both++;
            CHECK_MSG(v == ya->data[i], "element %lld: %.9g, PyTorch %.9g", (long long)i, (double)v,
                      (double)ya->data[i]);
        }
        if (v == 0.0f) continue;
        CHECK(v == nb_f32(x)[i] * (1.0f / (1.0f - cfg->data[0])));
    }
    CHECK(both > 10);
    nb_ctx_free(ctx);
}

/* ---- the lowered path against the reference loops ---------------------------------------- */

static void fill(float *p, int64_t n, nb_rng *rng) {
    for (int64_t i = 0; i < n; i++) p[i] = nb_rng_uniform_range(rng, -1.0f, 1.0f);
}

static void close_arrays(const char *what, const float *got, const float *want, int64_t n) {
    nbt_compare(what, got, want, n, 1e-5, 1e-5);
}

/* The lowered convolution in pieces of 1, 2 and the default number of samples, with and
 * without a fused ReLU, against the reference loops: forward, accumulating forward, and the
 * input, weight and bias gradients (accumulated onto what is there). */
static void test_lowered_vs_reference(void) {
    /* N C H W O KH KW sh sw pt pb pl pr dh dw groups */
    static const int64_t geoms[][16] = {
        {3, 3, 7, 6, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},
        {2, 4, 9, 7, 6, 3, 2, 2, 1, 1, 2, 0, 1, 1, 2, 2},
        {3, 6, 5, 8, 6, 3, 3, 1, 2, 1, 1, 1, 1, 2, 1, 6},   /* depthwise */
        {5, 1, 11, 10, 5, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1}, /* the CNN's first layer, small */
        {3, 8, 6, 6, 5, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},   /* its second, small */
        {2, 5, 4, 4, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   /* 1x1 */
        {3, 2, 6, 9, 3, 4, 3, 3, 2, 2, 1, 0, 2, 1, 1, 1},   /* stride 3, uneven padding */
        {2, 6, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},   /* groups, padded */
    };
    nb_rng rng;
    nb_rng_seed(&rng, 99);
    nb_ctx *ctx = nb_ctx_new(NULL);
    for (size_t k = 0; k < sizeof geoms / sizeof geoms[0]; k++) {
        const int64_t *q = geoms[k];
        nbi_conv_geom g = nbt_conv_geom(q);
        int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g),
                ny = g.N * g.O * g.OH * g.OW;
        size_t bx = sizeof(float) * (size_t)nx, bw = sizeof(float) * (size_t)nw;
        size_t by = sizeof(float) * (size_t)ny;
        float *x = malloc(bx), *w = malloc(bw), *b = malloc(sizeof(float) * (size_t)g.O);
        float *dy = malloc(by), *y0 = malloc(by), *y1 = malloc(by), *yr = malloc(by);
        float *dym = malloc(by), *dx0 = malloc(bx), *dx1 = malloc(bx), *dw0 = malloc(bw);
        float *dw1 = malloc(bw), *db0 = malloc(sizeof(float) * (size_t)g.O);
        float *db1 = malloc(sizeof(float) * (size_t)g.O);
        fill(x, nx, &rng);
        fill(w, nw, &rng);
        fill(b, g.O, &rng);
        fill(dy, ny, &rng);
        nbi_conv_ref_forward(&g, x, w, b, y0);
        for (int relu = 0; relu < 2; relu++) {
            /* the reference of the fused op: y = max(y0, 0), δ = dy ⊙ [y > 0] */
            for (int64_t i = 0; i < ny; i++) {
                yr[i] = relu && y0[i] <= 0.0f ? 0.0f : y0[i];
                dym[i] = relu && yr[i] <= 0.0f ? 0.0f : dy[i];
            }
            memset(dx0, 0, bx);
            memset(dw0, 0, bw);
            nbi_conv_ref_backward_data(&g, dym, w, dx0);
            nbi_conv_ref_backward_weight(&g, x, dym, dw0);
            for (int64_t o = 0; o < g.O; o++) {
                double s = 0.0;
                for (int64_t i = 0; i < ny; i++)
                    if ((i / (g.OH * g.OW)) % g.O == o) s += dym[i];
                db0[o] = (float)s;
            }
            static const int64_t chunks[] = {1, 2, 0};
            for (int ci = 0; ci < 3; ci++) {
                char what[96];
                snprintf(what, sizeof what, "geometry %zu chunk %lld relu %d", k,
                         (long long)chunks[ci], relu);
                int fl = relu ? NBI_CONV_RELU : 0;
                nb_ctx_reset(ctx);
                CHECK_OK(nbi_conv_forward(ctx, &g, x, w, b, fl, y1, NULL, chunks[ci]));
                close_arrays(what, y1, yr, ny);
                if (!relu) { /* accumulate mode adds conv(x, w) + b on top: 2·y0 */
                    CHECK_OK(nbi_conv_forward(ctx, &g, x, w, b, NBI_CONV_ACCUMULATE, y1, NULL,
                                              chunks[ci]));
                    for (int64_t i = 0; i < ny; i++) y1[i] *= 0.5f;
                    close_arrays(what, y1, y0, ny);
                }
                /* gradients accumulate onto what is there: start from 1 */
                for (int64_t i = 0; i < nx; i++) dx1[i] = 1.0f;
                for (int64_t i = 0; i < nw; i++) dw1[i] = 1.0f;
                for (int64_t i = 0; i < g.O; i++) db1[i] = 1.0f;
                CHECK_OK(
                    nbi_conv_backward(ctx, &g, x, dy, yr, fl, w, dx1, dw1, db1, NULL, chunks[ci]));
                for (int64_t i = 0; i < nx; i++) dx1[i] -= 1.0f;
                for (int64_t i = 0; i < nw; i++) dw1[i] -= 1.0f;
                for (int64_t i = 0; i < g.O; i++) db1[i] -= 1.0f;
                close_arrays(what, dx1, dx0, nx);
                close_arrays(what, dw1, dw0, nw);
                close_arrays(what, db1, db0, g.O);
            }
        }
        free(x), free(w), free(b), free(dy), free(y0), free(y1), free(yr), free(dym);
        free(dx0), free(dx1), free(dw0), free(dw1), free(db0), free(db1);
    }
    nb_ctx_free(ctx);
}

/* Pieces shared between threads give the same bits as one thread: every output and every
 * partial gradient sum is computed by one member in a fixed order. */
static void test_threads_same_result(void) {
    nbi_conv_geom g = {.N = 37,
                       .C = 6,
                       .H = 9,
                       .W = 8,
                       .O = 10,
                       .KH = 3,
                       .KW = 3,
                       .sh = 1,
                       .sw = 1,
                       .pt = 1,
                       .pb = 1,
                       .pl = 1,
                       .pr = 1,
                       .dh = 1,
                       .dw = 1,
                       .groups = 2};
    g.OH = 9;
    g.OW = 8;
    int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g), ny = g.N * g.O * g.OH * g.OW;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *dy = malloc(sizeof(float) * (size_t)ny), *b = calloc((size_t)g.O, sizeof(float));
    float *y[2], *dx[2], *dw[2], *db[2];
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    fill(x, nx, &rng);
    fill(w, nw, &rng);
    fill(dy, ny, &rng);
    nb_ctx *ctx = nb_ctx_new(NULL);
    int before = nb_get_threads();
    for (int t = 0; t < 2; t++) {
        CHECK_OK(nb_set_threads(t + 1));
        y[t] = malloc(sizeof(float) * (size_t)ny);
        dx[t] = calloc((size_t)nx, sizeof(float));
        dw[t] = calloc((size_t)nw, sizeof(float));
        db[t] = calloc((size_t)g.O, sizeof(float));
        nb_ctx_reset(ctx);
        CHECK_OK(nbi_conv_forward(ctx, &g, x, w, b, NBI_CONV_RELU, y[t], NULL, 2)); /* 19 pieces */
        CHECK_OK(nbi_conv_backward(ctx, &g, x, dy, y[t], NBI_CONV_RELU, w, dx[t], dw[t], db[t],
                                   NULL, 2));
    }
    CHECK(memcmp(y[0], y[1], sizeof(float) * (size_t)ny) == 0);
    CHECK(memcmp(dx[0], dx[1], sizeof(float) * (size_t)nx) == 0);
    CHECK(memcmp(dw[0], dw[1], sizeof(float) * (size_t)nw) == 0);
    CHECK(memcmp(db[0], db[1], sizeof(float) * (size_t)g.O) == 0);
    CHECK_OK(nb_set_threads(before));
    for (int t = 0; t < 2; t++) free(y[t]), free(dx[t]), free(dw[t]), free(db[t]);
    free(x), free(w), free(dy), free(b);
    nb_ctx_free(ctx);
}

/* conv2d with a fused max pooling (and ReLU) against conv2d (relu) then max_pool2d: the same
 * bits forward and backward, through several pieces, on 1 and 2 threads, with windows that do
 * not tile the output (floor) and random signs (windows entirely negative included). */
static void test_fused_pool(void) {
    static const struct {
        int64_t N, C, H, W, O, K, pool;
        int relu;
    } cases[] = {
        {5, 3, 11, 10, 4, 3, 2, 1},  /* 9x8 output: the last row is dropped by the pooling */
        {3, 2, 9, 9, 3, 2, 3, 0},    /* 8x8 output, 3x3 windows, no ReLU */
        {70, 1, 12, 12, 4, 5, 2, 1}, /* the CNN's first layer, small: many pieces */
    };
    nb_rng rng;
    nb_rng_seed(&rng, 33);
    int before = nb_get_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t N = cases[k].N, C = cases[k].C, O = cases[k].O, K = cases[k].K;
        nb_tensor *in[3] = {nb_rand(NULL, NB_DIMS(N, C, cases[k].H, cases[k].W), -1, 1, &rng),
                            nb_rand(NULL, NB_DIMS(O, C, K, K), -1, 1, &rng),
                            nb_rand(NULL, NB_DIMS(O), -1, 1, &rng)};
        for (int threads = 1; threads <= 2; threads++) {
            CHECK_OK(nb_set_threads(threads));
            nb_ctx *ctx[2] = {nb_ctx_new(NULL), nb_ctx_new(NULL)};
            nb_tensor *y[2], *t[2][3];
            for (int fused = 0; fused < 2; fused++) {
                for (int i = 0; i < 3; i++) {
                    t[fused][i] = nb_tensor_clone(ctx[fused], in[i]);
                    nb_tensor_set_requires_grad(t[fused][i], 1);
                }
                int64_t p = cases[k].pool;
                nb_conv_opts o = {.relu = cases[k].relu};
                if (fused) o.max_pool[0] = o.max_pool[1] = p;
                y[fused] = nb_conv2d(ctx[fused], t[fused][0], t[fused][1], t[fused][2], &o);
                if (!fused) y[0] = nb_max_pool2d(ctx[0], y[0], &(nb_pool_opts){.kernel = {p, p}});
                CHECK_PTR(y[fused]);
            }
            if (y[0] && y[1]) {
                CHECK(nb_tensor_same_shape(y[0], y[1]));
                CHECK(memcmp(y[0]->data, y[1]->data, sizeof(float) * (size_t)y[0]->numel) == 0);
                nb_tensor *g = nb_rand(NULL, y[0]->rank, y[0]->shape, -1, 1, &rng);
                CHECK_OK(nb_backward_with(ctx[0], y[0], g));
                CHECK_OK(nb_backward_with(ctx[1], y[1], g));
                for (int i = 0; i < 3; i++)
                    CHECK_MSG(t[0][i]->grad && t[1][i]->grad &&
                                  memcmp(t[0][i]->grad->data, t[1][i]->grad->data,
                                         sizeof(float) * (size_t)in[i]->numel) == 0,
                              "case %zu, %d threads: gradient of input %d differs", k, threads, i);
                nb_tensor_free(g);
            }
            nb_ctx_free(ctx[0]);
            nb_ctx_free(ctx[1]);
        }
        for (int i = 0; i < 3; i++) nb_tensor_free(in[i]);
    }
    CHECK_OK(nb_set_threads(before));
}

/* 2x2 max pooling with stride 2 over PL planes of H x W (the windows tile an even plane) */
static nbi_conv_geom pool2_geom(int PL, int H, int W) {
    return (nbi_conv_geom){.N = 1, .C = PL, .O = PL, .H = H, .W = W, .KH = 2, .KW = 2, .sh = 2,
                           .sw = 2, .dh = 1, .dw = 1, .OH = H / 2, .OW = W / 2, .groups = PL};
}

/* The 2x2 stride-2 fast path of max pooling against the general loop (reached through a
 * bottom padding that changes nothing on an even height), with ties and a NaN. */
static void test_maxpool_fast_path(void) {
    enum { PL = 5, H = 8, W = 10 };
    static float x[PL * H * W], y0[PL * 4 * 5], y1[PL * 4 * 5];
    static int32_t a0[PL * 4 * 5], a1[PL * 4 * 5];
    nb_rng rng;
    nb_rng_seed(&rng, 4);
    for (int i = 0; i < PL * H * W; i++) x[i] = (float)nb_rng_below(&rng, 5); /* many ties */
    x[17] = NAN;
    x[3 * H * W + 22] = NAN;
    x[3 * H * W + 23] = NAN;
    nbi_conv_geom g = pool2_geom(PL, H, W);
    nbi_maxpool_forward(&g, PL, x, y1, a1);
    g.pb = 1;
    nbi_maxpool_forward(&g, PL, x, y0, a0);
    CHECK(memcmp(a0, a1, sizeof a0) == 0);
    for (int i = 0; i < PL * 20; i++)
        CHECK_MSG((isnan(y0[i]) && isnan(y1[i])) || y0[i] == y1[i], "output %d", i);
    /* x[17] is row 1, column 7 of plane 0: window (0, 3); plane 3's NaNs at row 2, columns
     * 2 and 3: window (1, 1), pointing at the first */
    CHECK(isnan(y1[3]) && a1[3] == 17);
    CHECK(isnan(y1[3 * 20 + 6]) && a1[3 * 20 + 6] == 22);
}

/* The flat 2x2 path (windows tiling the planes, rows of 1-7 or 9-15 outputs) against the
 * general loop, on odd plane counts and sizes, ties and NaNs, with enough rows for several
 * blocks of its scratch (1024 pairs) */
static void test_maxpool_flat_path(void) {
    /* rows of 4, 1, 7, 1, 6, 5, 12 and 15 outputs (the flat path), 16 (the row blocks) */
    static const int shapes[][3] = {{8, 8, 37},   {2, 2, 700}, {4, 14, 5}, {6, 2, 3}, {10, 12, 9},
                                    {2, 10, 301}, {4, 24, 7},  {6, 30, 3}, {2, 32, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int H = shapes[s][0], W = shapes[s][1], PL = shapes[s][2];
        const int64_t n = (int64_t)PL * H * W, m = n / 4;
        float *x = malloc(sizeof(float) * (size_t)n), *y0 = malloc(sizeof(float) * (size_t)m),
              *y1 = malloc(sizeof(float) * (size_t)m);
        int32_t *a0 = malloc(sizeof(int32_t) * (size_t)m),
                *a1 = malloc(sizeof(int32_t) * (size_t)m);
        CHECK(x && y0 && y1 && a0 && a1);
        nb_rng rng;
        nb_rng_seed(&rng, 40 + (uint64_t)s);
        for (int64_t i = 0; i < n; i++) x[i] = (float)nb_rng_below(&rng, 4) - 2.0f; /* ties */
        for (int k = 0; k < 1 + PL / 4; k++) x[nb_rng_below(&rng, (uint64_t)n)] = NAN;
        x[n - 1] = NAN; /* the lower right of the last window */
        nbi_conv_geom g = pool2_geom(PL, H, W);
        nbi_maxpool_forward(&g, PL, x, y1, a1);
        g.pb = 1; /* the general loop, the same windows on an even height */
        nbi_maxpool_forward(&g, PL, x, y0, a0);
        CHECK_MSG(memcmp(a0, a1, sizeof(int32_t) * (size_t)m) == 0, "%dx%d: arg", H, W);
        CHECK_MSG(memcmp(y0, y1, sizeof(float) * (size_t)m) == 0, "%dx%d: values", H, W);
        /* the last window's value is the first NaN of its row-major scan */
        const int64_t last[4] = {n - W - 2, n - W - 1, n - 2, n - 1};
        int64_t first = 0;
        while (!isnan(x[last[first]])) first++;
        CHECK_MSG(isnan(y1[m - 1]) &&
                      a1[m - 1] == (int32_t)(last[first] - (int64_t)(PL - 1) * H * W),
                  "%dx%d: last window", H, W);
        free(x);
        free(y0);
        free(y1);
        free(a0);
        free(a1);
    }
}

/* conv2d with a fused ReLU against conv2d then relu: the same values and gradients */
static void test_fused_relu(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 21);
    nb_tensor *in[3] = {nb_rand(NULL, NB_DIMS(3, 4, 9, 7), -1, 1, &rng),
                        nb_rand(NULL, NB_DIMS(6, 2, 3, 3), -1, 1, &rng),
                        nb_rand(NULL, NB_DIMS(6), -1, 1, &rng)};
    nb_tensor *g = nb_rand(NULL, NB_DIMS(3, 6, 5, 7), -1, 1, &rng);
    nb_ctx *ctx[2] = {nb_ctx_new(NULL), nb_ctx_new(NULL)};
    nb_tensor *y[2], *grads[2][3];
    for (int fused = 0; fused < 2; fused++) {
        nb_tensor *t[3];
        for (int i = 0; i < 3; i++) {
            t[i] = nb_tensor_clone(ctx[fused], in[i]);
            nb_tensor_set_requires_grad(t[i], 1);
        }
        nb_conv_opts o = {.stride = {2, 1}, .pad = {1, 1, 0, 2}, .groups = 2, .relu = fused};
        y[fused] = nb_conv2d(ctx[fused], t[0], t[1], t[2], &o);
        if (!fused) y[0] = nb_relu(ctx[0], y[0]);
        CHECK_OK(nb_backward_with(ctx[fused], y[fused], g));
        for (int i = 0; i < 3; i++) grads[fused][i] = t[i]->grad;
    }
    if (y[0] && y[1]) {
        CHECK(memcmp(y[0]->data, y[1]->data, sizeof(float) * (size_t)g->numel) == 0);
        for (int i = 0; i < 3; i++)
            CHECK(grads[0][i] && grads[1][i] &&
                  memcmp(grads[0][i]->data, grads[1][i]->data,
                         sizeof(float) * (size_t)in[i]->numel) == 0);
        int64_t zeros = 0;
        for (int64_t i = 0; i < y[1]->numel; i++) zeros += nb_f32(y[1])[i] == 0.0f;
        CHECK(zeros > 0 && zeros < y[1]->numel); /* the mask matters */
    }
    for (int i = 0; i < 3; i++) nb_tensor_free(in[i]);
    nb_tensor_free(g);
    nb_ctx_free(ctx[0]);
    nb_ctx_free(ctx[1]);
}

/* ---- dropout ------------------------------------------------------------------------------------
 */

static void test_dropout(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng, again;
    nb_rng_seed(&rng, 11);
    again = rng;
    nb_tensor *x = nb_ones(ctx, NB_DIMS(200, 500));
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = nb_dropout(ctx, x, 0.3f, 1, &rng);
    CHECK_PTR(y);
    if (!y) return;
    int64_t dropped = 0;
    const float scale = 1.0f / 0.7f;
    for (int64_t i = 0; i < y->numel; i++) {
        float v = nb_f32(y)[i];
        CHECK_MSG(v == 0.0f || v == scale, "element %lld is %g", (long long)i, (double)v);
        dropped += v == 0.0f;
    }
    /* 100 000 Bernoulli(0.3): the standard deviation of the fraction is 0.0014 */
    double frac = (double)dropped / (double)y->numel;
    CHECK_MSG(fabs(frac - 0.3) < 0.01, "dropped fraction %g, expected 0.3", frac);
    /* the gradient is the same mask and scale */
    CHECK_OK(nb_backward(ctx, nb_sum(ctx, y, NB_ALL_AXES, 0)));
    for (int64_t i = 0; x->grad && i < y->numel; i++)
        if (nb_f32(x->grad)[i] != nb_f32(y)[i]) {
            CHECK_MSG(0, "gradient %lld differs from the mask", (long long)i);
            break;
        }
    /* the same generator state gives the same mask; the next call a different one */
    nb_tensor *y2 = nb_dropout(ctx, x, 0.3f, 1, &again);
    CHECK(y2 && memcmp(y2->data, y->data, sizeof(float) * (size_t)y->numel) == 0);
    nb_tensor *y3 = nb_dropout(ctx, x, 0.3f, 1, &again);
    CHECK(y3 && memcmp(y3->data, y->data, sizeof(float) * (size_t)y->numel) != 0);
    /* eval and p = 0: the identity, no draw */
    nb_rng before = rng;
    CHECK(nb_dropout(ctx, x, 0.3f, 0, &rng) == x);
    CHECK(nb_dropout(ctx, x, 0.0f, 1, &rng) == x);
    CHECK(memcmp(&before, &rng, sizeof rng) == 0);
    /* p = 1 drops everything; bad p and a missing generator are errors */
    nb_tensor *z = nb_dropout(ctx, x, 1.0f, 1, &rng);
    CHECK(z && nb_f32(z)[0] == 0.0f && nb_f32(z)[z->numel - 1] == 0.0f);
    CHECK(nb_dropout(ctx, x, 1.5f, 1, &rng) == NULL);
    CHECK(strstr(nb_last_error(), "[0, 1]") != NULL);
    nb_ctx_reset(ctx);
    CHECK(nb_dropout(ctx, x, 0.5f, 1, NULL) == NULL);
    CHECK(strstr(nb_last_error(), "generator") != NULL);
    nb_ctx_free(ctx);
}

/* ---- errors
 * --------------------------------------------------------------------------------------- */

static void expect_error(nb_ctx *ctx, nb_tensor *y, nb_status want, const char *part1,
                         const char *part2) {
    CHECK(y == NULL);
    CHECK(nb_ctx_status(ctx) == want);
    CHECK_MSG(strstr(nb_last_error(), part1) != NULL, "message lacks '%s': %s", part1,
              nb_last_error());
    if (part2)
        CHECK_MSG(strstr(nb_last_error(), part2) != NULL, "message lacks '%s': %s", part2,
                  nb_last_error());
    nb_ctx_reset(ctx);
}

static void test_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(ctx, NB_DIMS(1, 3, 4, 4));
    nb_tensor *w5 = nb_zeros(ctx, NB_DIMS(2, 3, 5, 5));
    expect_error(ctx, nb_conv2d(ctx, x, w5, NULL, NULL), NB_ERR_SHAPE, "larger than the padded",
                 "f32[1,3,4,4]");
    x = nb_zeros(ctx, NB_DIMS(1, 3, 4, 4));
    nb_tensor *wg = nb_zeros(ctx, NB_DIMS(2, 2, 3, 3));
    expect_error(ctx, nb_conv2d(ctx, x, wg, NULL, &(nb_conv_opts){.groups = 2}), NB_ERR_SHAPE,
                 "divide by groups", "f32[2,2,3,3]");
    x = nb_zeros(ctx, NB_DIMS(1, 4, 4, 4));
    nb_tensor *w3 = nb_zeros(ctx, NB_DIMS(3, 2, 3, 3));
    expect_error(ctx, nb_conv2d(ctx, x, w3, NULL, &(nb_conv_opts){.groups = 2}), NB_ERR_SHAPE,
                 "output channels", "groups");
    x = nb_zeros(ctx, NB_DIMS(1, 3, 4, 4));
    nb_tensor *w = nb_zeros(ctx, NB_DIMS(2, 3, 3, 3)), *b = nb_zeros(ctx, NB_DIMS(3));
    expect_error(ctx, nb_conv2d(ctx, x, w, b, NULL), NB_ERR_SHAPE, "bias must be [2]", NULL);
    x = nb_zeros(ctx, NB_DIMS(3, 4, 4));
    w = nb_zeros(ctx, NB_DIMS(2, 3, 3, 3));
    expect_error(ctx, nb_conv2d(ctx, x, w, NULL, NULL), NB_ERR_SHAPE, "[N, C, H, W]", NULL);
    x = nb_zeros(ctx, NB_DIMS(1, 3, 4, 4));
    w = nb_zeros(ctx, NB_DIMS(2, 3, 3, 3));
    expect_error(ctx, nb_conv2d(ctx, x, w, NULL, &(nb_conv_opts){.same = 1, .stride = {2, 2}}),
                 NB_ERR_ARG, "stride 1", NULL);
    x = nb_zeros(ctx, NB_DIMS(1, 3, 4, 4));
    w = nb_zeros(ctx, NB_DIMS(3, 2, 3, 3));
    expect_error(ctx,
                 nb_conv_transpose2d(ctx, x, w, NULL,
                                     &(nb_conv_opts){.stride = {2, 2}, .output_padding = {2, 0}}),
                 NB_ERR_SHAPE, "output_padding 2", NULL);
    x = nb_zeros(ctx, NB_DIMS(1, 2, 3, 3));
    expect_error(ctx, nb_max_pool2d(ctx, x, &(nb_pool_opts){.kernel = {4, 4}}), NB_ERR_SHAPE,
                 "larger than the padded input", "max_pool2d");
    x = nb_zeros(ctx, NB_DIMS(1, 2, 6, 6));
    expect_error(ctx, nb_avg_pool2d(ctx, x, &(nb_pool_opts){.kernel = {2, 2}, .pad = {2, 2, 0, 0}}),
                 NB_ERR_SHAPE, "half the kernel", NULL);
    x = nb_zeros(ctx, NB_DIMS(1, 3));
    expect_error(ctx, nb_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f), NB_ERR_SHAPE,
                 "more than one value per channel", NULL);
    x = nb_zeros(ctx, NB_DIMS(4, 3));
    expect_error(ctx, nb_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 0, 0.1f, 1e-5f), NB_ERR_SHAPE,
                 "running_mean", NULL);
    x = nb_zeros(ctx, NB_DIMS(4, 3));
    nb_tensor *rm = nb_zeros(ctx, NB_DIMS(4)), *rv = nb_ones(ctx, NB_DIMS(4));
    expect_error(ctx, nb_batch_norm(ctx, x, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f), NB_ERR_SHAPE,
                 "running_mean must be [3]", NULL);
    nb_ctx_free(ctx);
}

static void test_flatten_and_global_pool(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_arange(ctx, 0.0f, 24.0f, 1.0f);
    x = nb_reshape(ctx, x, 4, (int64_t[]){2, 3, 2, 2});
    nb_tensor *f = nb_flatten(ctx, x);
    CHECK(f && f->rank == 2 && f->shape[0] == 2 && f->shape[1] == 12);
    nb_tensor *g = nb_global_avg_pool2d(ctx, x);
    CHECK(g && g->rank == 2 && g->shape[0] == 2 && g->shape[1] == 3);
    /* channel (n, c) holds 4(3n + c) .. 4(3n + c) + 3: mean 4(3n + c) + 1.5 */
    for (int i = 0; g && i < 6; i++) CHECK_CLOSE(nb_f32(g)[i], 4.0f * (float)i + 1.5f, 1e-6, 0);
    nb_ctx_free(ctx);
}

/* the pieces' gradient sums (nbi_conv_add_pieces, blocks along q) against the loop they
 * replace (one q at a time, pieces in order): the same bits, odd lengths around the block */
static void test_add_pieces(void) {
    static const int64_t lens[] = {1, 7, 255, 256, 257, 800, 1001};
    static const int64_t counts[] = {1, 3, 8, 64};
    nb_rng rng;
    nb_rng_seed(&rng, 77);
    for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++)
        for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++) {
            const int64_t n = lens[a], pieces = counts[b];
            float *parts = malloc(sizeof(float) * (size_t)(n * pieces)),
                  *d0 = malloc(sizeof(float) * (size_t)(n + 1)),
                  *d1 = malloc(sizeof(float) * (size_t)(n + 1));
            CHECK(parts && d0 && d1);
            for (int64_t i = 0; i < n * pieces; i++)
                parts[i] = nb_rng_uniform_range(&rng, -1.0f, 1.0f) * (float)(1 + i % 5);
            for (int64_t q = 0; q <= n; q++) d0[q] = d1[q] = nb_rng_uniform(&rng);
            for (int64_t q = 0; q < n; q++) {
                float acc = 0.0f;
                for (int64_t p = 0; p < pieces; p++) acc += parts[p * n + q];
                d0[q] += acc;
            }
            nbi_conv_add_pieces(parts, pieces, n, d1);
            CHECK_MSG(memcmp(d0, d1, sizeof(float) * (size_t)(n + 1)) == 0, "n %lld, pieces %lld",
                      (long long)n, (long long)pieces);
            free(parts);
            free(d0);
            free(d1);
        }
}

static const nbt_case cases[] = {
    {"conv2d_parity", test_conv2d_parity},
    {"conv1d_parity", test_conv1d_parity},
    {"conv_transpose2d_parity", test_conv_transpose2d_parity},
    {"pool_parity", test_pool_parity},
    {"batch_norm_parity", test_batch_norm_parity},
    {"dropout_scale_parity", test_dropout_scale_parity},
    {"lowered_vs_reference", test_lowered_vs_reference},
    {"threads_same_result", test_threads_same_result},
    {"fused_relu", test_fused_relu},
    {"fused_pool", test_fused_pool},
    {"maxpool_fast_path", test_maxpool_fast_path},
    {"maxpool_flat_path", test_maxpool_flat_path},
    {"add_pieces", test_add_pieces},
    {"dropout", test_dropout},
    {"errors", test_errors},
    {"flatten_and_global_pool", test_flatten_and_global_pool},
};

int main(int argc, char **argv) {
    int rc = nbt_run(cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    nbt_fixture_free(fx);
    return rc;
}
