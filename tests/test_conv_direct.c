/* test_conv_direct — the direct convolution for few input channels (kernels/conv_direct.c):
 *   - forward (plain, ReLU, accumulating) and the input, weight and bias gradients against
 *     the reference loops of kernels/ref/conv.c on odd geometries: 1-4 input channels per
 *     group, stride, uneven padding, dilation, groups, depthwise, rows longer than a vector,
 *     output channels not a multiple of 8, pieces of 1 sample and the default;
 *   - the fused max pooling: the same bits as the direct convolution followed by
 *     nbi_maxpool_forward (values and arg, with ties and NaNs), and gradients against the
 *     reference composition;
 *   - every vector kernel set's micro-kernels against the scalar twins, bit for bit, through
 *     the whole driver; the one-pass δ planes behind the pooling against their twin and the
 *     general loop (ReLU mask, zeroed plane, scatter), ties, NaNs, ±0, odd and untiled planes;
 *   - the back end's dispatch: a shape the rule sends to the direct path gives the direct
 *     path's bits, the same on 1 and 2 threads;
 *   - the weight gradient from the pooled δ (no input gradient, 2x2 windows tiling the
 *     planes) against the reference and, bit for bit, its twin: odd pooled planes, 32 taps,
 *     groups;
 *   - through the ops: nb_conv2d with the pooling fused = nb_conv2d + nb_max_pool2d, bitwise,
 *     forward and backward with the input's gradient; without it, to rounding (the weight
 *     gradient from the pooled δ) and bitwise on 1 and 2 threads. */
#include "nbtest.h"

#include "conv_geom.h"
#include "fixture.h"
#include "kernels/conv_direct.h"
#include "kernels/kernels.h"
#include "ops/conv.h"

/* N C H W O KH KW sh sw pt pb pl pr dh dw groups */
static const int64_t geoms[][16] = {
    {3, 1, 11, 10, 8, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* the CNN's first layer, small */
    {2, 3, 9, 13, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* padded; 12 outputs: 8 + 4 */
    {3, 2, 10, 11, 9, 3, 4, 2, 3, 2, 1, 0, 2, 1, 1, 1},  /* strides 2, 3, uneven padding */
    {2, 4, 12, 12, 16, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1}, /* dilation 2 */
    {2, 6, 7, 9, 20, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 2},   /* 2 groups of 3 -> 10 */
    {2, 4, 6, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},    /* depthwise */
    {3, 1, 9, 40, 8, 1, 7, 1, 1, 0, 0, 3, 3, 1, 1, 1},   /* rows of 40: vectors and a tail */
    {2, 1, 1, 50, 8, 1, 5, 1, 2, 0, 0, 2, 2, 1, 3, 1},   /* 1-D, stride 2, dilation 3 */
    {2, 3, 20, 37, 11, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1}, /* 3 channels, long rows, 8 + 3 */
};

static nbi_conv_geom geom(const int64_t *q) { return nbt_conv_geom(q); }

static float *fill(int64_t n, nb_rng *rng) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = nb_rng_uniform_range(rng, -1.0f, 1.0f);
    return p;
}

static float *filled(int64_t n, float v) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = v;
    return p;
}

static void close_arrays(const char *what, const float *got, const float *want, int64_t n) {
    nbt_compare(what, got, want, n, 1e-5, 1e-5);
}

/* The vector kernel sets this build and CPU have (each has the direct kernels). */
static int vector_sets(const nbi_kernels **sets) {
    static const char *const isas[] = {"avx2", "avx512"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        const nbi_kernels *k = nbi_kernel_set(isas[i]);
        if (k && k->conv_direct_fwd) sets[n++] = k;
    }
    return n;
}

/* One pass through the driver with scratch of its own size. */
static nb_status fwd(const nbi_kernels *k, int nt, const nbi_conv_geom *g, const float *x,
                     const float *w, const float *b, int flags, float *y, const nbi_conv_pool *pool,
                     int64_t chunk) {
    int64_t room = nbi_conv_direct_scratch(g, nt, 1, 0, 0, pool, chunk);
    float *sc = malloc(sizeof(float) * (size_t)(room > 0 ? room : 1));
    nb_status s = nbi_conv_direct_forward(k, nt, g, x, w, b, flags, y, pool, chunk, sc, room);
    free(sc);
    return s;
}

static nb_status bwd(const nbi_kernels *k, int nt, const nbi_conv_geom *g, const float *x,
                     const float *dy, const float *y, int flags, const float *w, float *dx,
                     float *dw, float *db, const nbi_conv_pool *pool, int64_t chunk) {
    int64_t room = nbi_conv_direct_scratch(g, nt, 0, dw != NULL, db != NULL, pool, chunk);
    float *sc = malloc(sizeof(float) * (size_t)(room > 0 ? room : 1));
    nb_status s =
        nbi_conv_direct_backward(k, nt, g, x, dy, y, flags, w, dx, dw, db, pool, chunk, sc, room);
    free(sc);
    return s;
}

/* ---- against the reference ------------------------------------------------------------- */

static void test_direct_vs_reference(void) {
    const nbi_kernels *sets[2];
    int nsets = vector_sets(sets);
    if (!nsets) {
        printf("     (no vector kernel set with the direct convolution here)\n");
        return;
    }
    nb_rng rng;
    nb_rng_seed(&rng, 41);
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) {
        nbi_conv_geom g = geom(geoms[gi]);
        const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
        const int64_t ny = g.N * g.O * g.OH * g.OW;
        float *x = fill(nx, &rng), *w = fill(nw, &rng), *b = fill(g.O, &rng);
        float *dy = fill(ny, &rng), *y0 = filled(ny, 0), *yr = filled(ny, 0);
        float *dym = filled(ny, 0), *y1 = filled(ny, 0);
        float *dx0 = filled(nx, 0), *dw0 = filled(nw, 0), *db0 = filled(g.O, 0);
        float *dx1 = filled(nx, 0), *dw1 = filled(nw, 0), *db1 = filled(g.O, 0);
        nbi_conv_ref_forward(&g, x, w, b, y0);
        for (int relu = 0; relu < 2; relu++) {
            for (int64_t i = 0; i < ny; i++) {
                yr[i] = relu && y0[i] <= 0.0f ? 0.0f : y0[i];
                dym[i] = relu && yr[i] <= 0.0f ? 0.0f : dy[i];
            }
            memset(dx0, 0, sizeof(float) * (size_t)nx);
            memset(dw0, 0, sizeof(float) * (size_t)nw);
            nbi_conv_ref_backward_data(&g, dym, w, dx0);
            nbi_conv_ref_backward_weight(&g, x, dym, dw0);
            for (int64_t o = 0; o < g.O; o++) {
                double s = 0.0;
                for (int64_t i = 0; i < ny; i++)
                    if ((i / (g.OH * g.OW)) % g.O == o) s += dym[i];
                db0[o] = (float)s;
            }
            for (int si = 0; si < nsets; si++)
                for (int64_t chunk = 0; chunk < 2; chunk++) {
                    char what[96];
                    snprintf(what, sizeof what, "%s geometry %zu chunk %lld relu %d", sets[si]->isa,
                             gi, (long long)chunk, relu);
                    const int fl = relu ? NBI_CONV_RELU : 0;
                    CHECK_OK(fwd(sets[si], 1, &g, x, w, b, fl, y1, NULL, chunk));
                    close_arrays(what, y1, yr, ny);
                    if (!relu) { /* accumulating: conv(x, w) + b on top of y0 */
                        memcpy(y1, y0, sizeof(float) * (size_t)ny);
                        CHECK_OK(
                            fwd(sets[si], 1, &g, x, w, b, NBI_CONV_ACCUMULATE, y1, NULL, chunk));
                        for (int64_t i = 0; i < ny; i++) y1[i] *= 0.5f;
                        close_arrays(what, y1, y0, ny);
                    }
                    /* gradients accumulate onto what is there: start from 1 */
                    for (int64_t i = 0; i < nx; i++) dx1[i] = 1.0f;
                    for (int64_t i = 0; i < nw; i++) dw1[i] = 1.0f;
                    for (int64_t i = 0; i < g.O; i++) db1[i] = 1.0f;
                    CHECK_OK(bwd(sets[si], 1, &g, x, dy, yr, fl, w, dx1, dw1, db1, NULL, chunk));
                    for (int64_t i = 0; i < nx; i++) dx1[i] -= 1.0f;
                    for (int64_t i = 0; i < nw; i++) dw1[i] -= 1.0f;
                    for (int64_t i = 0; i < g.O; i++) db1[i] -= 1.0f;
                    close_arrays(what, dx1, dx0, nx);
                    close_arrays(what, dw1, dw0, nw);
                    close_arrays(what, db1, db0, g.O);
                    /* the weight gradient alone (the first layer's case: no dx) */
                    memset(dw1, 0, sizeof(float) * (size_t)nw);
                    CHECK_OK(bwd(sets[si], 1, &g, x, dy, yr, fl, w, NULL, dw1, NULL, NULL, chunk));
                    close_arrays(what, dw1, dw0, nw);
                }
        }
        free(x), free(w), free(b), free(dy), free(y0), free(yr), free(dym), free(y1);
        free(dx0), free(dw0), free(db0), free(dx1), free(dw1), free(db1);
    }
}

/* ---- the fused max pooling --------------------------------------------------------------- */

typedef struct pool_case {
    int64_t g[16];
    int64_t kh, kw;
} pool_case;

static const pool_case pool_cases[] = {
    {{3, 1, 12, 12, 8, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1}, 2, 2},  /* 8x8 -> 4x4 */
    {{2, 3, 11, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 2}, /* 11x10: a row dropped */
    {{2, 2, 13, 41, 16, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1}, 3, 2}, /* 11x39 -> 3x19, 3x2 */
    {{2, 1, 15, 15, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1}, 2, 3},  /* stride 2, 8x8 -> 4x2 */
    {{2, 4, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2}, 3, 3},   /* groups, 9x9 -> 3x3 */
    {{3, 2, 10, 7, 12, 4, 4, 1, 1, 1, 2, 2, 0, 1, 1, 1}, 2, 2},  /* 32 taps, 10x6 -> 5x3 */
    {{2, 2, 12, 10, 8, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2}, 2, 2},  /* 2 groups of 1, 10x8 -> 5x4 */
};

/* Pooled forward = the direct convolution, then nbi_maxpool_forward: the same bits (ties
 * from a zero filter, NaNs from the input); backward against the reference composition. */
static void test_fused_pool(void) {
    const nbi_kernels *sets[2];
    int nsets = vector_sets(sets);
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    for (size_t ci = 0; ci < sizeof pool_cases / sizeof pool_cases[0]; ci++) {
        const nbi_conv_geom g = geom(pool_cases[ci].g);
        nbi_conv_geom pg = {.N = 1,
                            .C = 1,
                            .O = 1,
                            .groups = 1,
                            .H = g.OH,
                            .W = g.OW,
                            .KH = pool_cases[ci].kh,
                            .KW = pool_cases[ci].kw,
                            .sh = pool_cases[ci].kh,
                            .sw = pool_cases[ci].kw,
                            .dh = 1,
                            .dw = 1};
        pg.OH = g.OH / pg.KH;
        pg.OW = g.OW / pg.KW;
        const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
        const int64_t ny = g.N * g.O * g.OH * g.OW, planes = g.N * g.O, np = planes * pg.OH * pg.OW;
        float *x = fill(nx, &rng), *w = fill(nw, &rng), *b = fill(g.O, &rng);
        float *yfull = filled(ny, 0), *want = filled(np, 0), *got = filled(np, 0);
        float *dyp = fill(np, &rng), *dfull = filled(ny, 0);
        int32_t *arg_want = calloc((size_t)np, sizeof(int32_t));
        int32_t *arg = calloc((size_t)np, sizeof(int32_t));
        float *dx0 = filled(nx, 0), *dw0 = filled(nw, 0), *dx1 = filled(nx, 0);
        float *dw1 = filled(nw, 0), *db0 = filled(g.O, 0), *db1 = filled(g.O, 0);
        for (int64_t t = 0; t < nbi_conv_kc(&g); t++) w[t] = 0.0f; /* channel 0: all ties */
        for (int nan = 0; nan < 2; nan++) {
            if (nan) x[nx / 3] = x[nx / 2 + 1] = NAN;
            for (int si = 0; si < nsets; si++)
                for (int relu = 0; relu < 2; relu++) {
                    char what[96];
                    snprintf(what, sizeof what, "%s pool case %zu relu %d nan %d", sets[si]->isa,
                             ci, relu, nan);
                    const int fl = relu ? NBI_CONV_RELU : 0;
                    nbi_conv_pool pool = {pg.KH, pg.KW, arg};
                    CHECK_OK(fwd(sets[si], 1, &g, x, w, b, fl, yfull, NULL, 0));
                    nbi_maxpool_forward(&pg, planes, yfull, want, arg_want);
                    CHECK_OK(fwd(sets[si], 1, &g, x, w, b, fl, got, &pool, 0));
                    CHECK_MSG(memcmp(got, want, sizeof(float) * (size_t)np) == 0 &&
                                  memcmp(arg, arg_want, sizeof(int32_t) * (size_t)np) == 0,
                              "%s: pooled forward differs from conv + max pooling", what);
                    if (nan) continue;
                    /* δ at the conv output: the pooled δ (where the pooled y > 0 after a
                     * ReLU) at each window's maximum */
                    memset(dfull, 0, sizeof(float) * (size_t)ny);
                    for (int64_t i = 0; i < np; i++) {
                        const int64_t plane = i / (pg.OH * pg.OW);
                        if (!relu || got[i] > 0.0f) dfull[plane * g.OH * g.OW + arg[i]] += dyp[i];
                    }
                    memset(dx0, 0, sizeof(float) * (size_t)nx);
                    memset(dw0, 0, sizeof(float) * (size_t)nw);
                    nbi_conv_ref_backward_data(&g, dfull, w, dx0);
                    nbi_conv_ref_backward_weight(&g, x, dfull, dw0);
                    for (int64_t o = 0; o < g.O; o++) {
                        double s = 0.0;
                        for (int64_t i = 0; i < ny; i++)
                            if ((i / (g.OH * g.OW)) % g.O == o) s += dfull[i];
                        db0[o] = (float)s;
                    }
                    memset(dx1, 0, sizeof(float) * (size_t)nx);
                    memset(dw1, 0, sizeof(float) * (size_t)nw);
                    memset(db1, 0, sizeof(float) * (size_t)g.O);
                    CHECK_OK(bwd(sets[si], 1, &g, x, dyp, got, fl, w, dx1, dw1, db1, &pool, 0));
                    close_arrays(what, dx1, dx0, nx);
                    close_arrays(what, dw1, dw0, nw);
                    close_arrays(what, db1, db0, g.O);
                    /* no input gradient: where the windows are 2x2 and tile the planes, the
                     * weight gradient from the pooled δ (conv_direct_dw_pooled) */
                    memset(dw1, 0, sizeof(float) * (size_t)nw);
                    memset(db1, 0, sizeof(float) * (size_t)g.O);
                    CHECK_OK(bwd(sets[si], 1, &g, x, dyp, got, fl, w, NULL, dw1, db1, &pool, 0));
                    close_arrays(what, dw1, dw0, nw);
                    close_arrays(what, db1, db0, g.O);
                }
        }
        free(x), free(w), free(b), free(yfull), free(want), free(got), free(dyp), free(dfull);
        free(arg_want), free(arg), free(dx0), free(dw0), free(dx1), free(dw1), free(db0);
        free(db1);
    }
}

/* ---- vector kernels against their scalar twins ---------------------------------------------- */

static int twin_lanes;
static void dw_twin(const nbi_direct_plan *p, int64_t ns, const float *xp, int64_t xs,
                    const float *delta, int64_t ds, float *dw) {
    nbi_direct_dw_twin(p, ns, xp, xs, delta, ds, dw, twin_lanes);
}
static void dx_twin(const nbi_direct_plan *p, const float *w, const float *delta, float *dxp) {
    nbi_direct_dx_twin(p, w, delta, dxp, twin_lanes);
}

/* The driver with a set's kernels and with the twins in their place: the same bits, for
 * every geometry above, pooled or not, with ReLU. */
static void test_twins(void) {
    const nbi_kernels *sets[2];
    int nsets = vector_sets(sets);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    for (int si = 0; si < nsets; si++) {
        nbi_kernels twin = *sets[si];
        twin.conv_direct_fwd = nbi_direct_fwd_twin;
        twin.conv_direct_pool = nbi_direct_pool_twin;
        twin.conv_direct_dw = dw_twin;
        twin.conv_direct_dx = dx_twin;
        twin.conv_direct_dw_pooled = nbi_direct_dw_pooled_twin;
        twin_lanes = sets[si]->conv_direct_lanes;
        const int ng = (int)(sizeof geoms / sizeof geoms[0]);
        const int np = (int)(sizeof pool_cases / sizeof pool_cases[0]);
        for (int c = 0; c < ng + np; c++) {
            const nbi_conv_geom g = geom(c < ng ? geoms[c] : pool_cases[c - ng].g);
            nbi_conv_pool pool = {c < ng ? 1 : pool_cases[c - ng].kh,
                                  c < ng ? 1 : pool_cases[c - ng].kw, NULL};
            const nbi_conv_pool *pp = c < ng ? NULL : &pool;
            const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
            const int64_t ny =
                pp ? g.N * g.O * (g.OH / pool.kh) * (g.OW / pool.kw) : g.N * g.O * g.OH * g.OW;
            float *x = fill(nx, &rng), *w = fill(nw, &rng), *b = fill(g.O, &rng);
            float *dy = fill(ny, &rng), *y[2], *dx[2], *dw[2], *db[2], *dwn[2], *dbn[2];
            int32_t *arg[2];
            x[nx / 2] = NAN; /* NaNs take the same path through both */
            dy[ny / 3] = NAN;
            for (int t = 0; t < 2; t++) {
                const nbi_kernels *k = t ? &twin : sets[si];
                y[t] = filled(ny, 0), dx[t] = filled(nx, 0), dw[t] = filled(nw, 0);
                db[t] = filled(g.O, 0), dwn[t] = filled(nw, 0), dbn[t] = filled(g.O, 0);
                arg[t] = calloc((size_t)ny, sizeof(int32_t));
                pool.arg = arg[t];
                CHECK_OK(fwd(k, 1, &g, x, w, b, NBI_CONV_RELU, y[t], pp, 2));
                CHECK_OK(bwd(k, 1, &g, x, dy, y[t], NBI_CONV_RELU, w, dx[t], dw[t], db[t], pp, 2));
                /* no input gradient (behind 2x2 windows, conv_direct_dw_pooled) */
                CHECK_OK(bwd(k, 1, &g, x, dy, y[t], NBI_CONV_RELU, w, NULL, dwn[t], dbn[t], pp, 2));
            }
            CHECK_MSG(memcmp(dwn[0], dwn[1], sizeof(float) * (size_t)nw) == 0 &&
                          memcmp(dbn[0], dbn[1], sizeof(float) * (size_t)g.O) == 0,
                      "%s case %d: gradients without dx differ from the twin", sets[si]->isa, c);
            for (int t = 0; t < 2; t++) free(dwn[t]), free(dbn[t]);
            CHECK_MSG(memcmp(y[0], y[1], sizeof(float) * (size_t)ny) == 0 &&
                          memcmp(arg[0], arg[1], sizeof(int32_t) * (size_t)(pp ? ny : 0)) == 0,
                      "%s case %d: forward differs from the twin", sets[si]->isa, c);
            CHECK_MSG(memcmp(dx[0], dx[1], sizeof(float) * (size_t)nx) == 0 &&
                          memcmp(dw[0], dw[1], sizeof(float) * (size_t)nw) == 0 &&
                          memcmp(db[0], db[1], sizeof(float) * (size_t)g.O) == 0,
                      "%s case %d: gradients differ from the twin", sets[si]->isa, c);
            for (int t = 0; t < 2; t++) free(y[t]), free(dx[t]), free(dw[t]), free(db[t]);
            for (int t = 0; t < 2; t++) free(arg[t]);
            free(x), free(w), free(b), free(dy);
        }
    }
}

/* ---- the δ planes behind the pooling --------------------------------------------------------- */

/* The general loop the one-pass writers replace: ReLU's mask, zeroed planes, the scatter. */
static void delta_general(const nbi_conv_geom *pg, int64_t planes, const float *dy, const float *y,
                          const int32_t *arg, float *d) {
    const int64_t PP = pg->OH * pg->OW;
    float *row = malloc(sizeof(float) * (size_t)(planes * PP > 0 ? planes * PP : 1));
    if (y)
        nbi_relu_mask(dy, y, row, planes * PP);
    else
        memcpy(row, dy, sizeof(float) * (size_t)(planes * PP));
    memset(d, 0, sizeof(float) * (size_t)(planes * pg->H * pg->W));
    nbi_maxpool_backward(pg, planes, row, arg, d);
    free(row);
}

/* nbi_unpool2x2_twin, every set's conv_unpool2x2 and nbi_pool_delta against the general loop,
 * bit for bit: 2x2 windows tiling planes of odd pooled sizes (rows shorter and longer than a
 * vector), ties (args anywhere in a window), NaNs, ±0 gradients, y ≤ 0, −0 and NaN; planes
 * not tiled by the windows (an odd row or column left over) through nbi_pool_delta's general
 * loop. */
static void test_unpool(void) {
    const nbi_kernels *sets[2];
    int nsets = vector_sets(sets);
    nb_rng rng;
    nb_rng_seed(&rng, 23);
    static const int64_t sizes[][2] = {{1, 1},  {3, 5},  {12, 12}, {5, 4}, {2, 9},
                                       {7, 13}, {4, 17}, {3, 8},   {1, 33}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int extra = 0; extra < 3; extra++) { /* 0: tiled; 1, 2: a row or column over */
            const int64_t PH = sizes[c][0], PW = sizes[c][1], planes = 3;
            nbi_conv_geom pg = {.N = 1,
                                .C = 1,
                                .O = 1,
                                .groups = 1,
                                .KH = 2,
                                .KW = 2,
                                .sh = 2,
                                .sw = 2,
                                .dh = 1,
                                .dw = 1,
                                .OH = PH,
                                .OW = PW};
            pg.H = 2 * PH + (extra == 1);
            pg.W = 2 * PW + (extra == 2);
            const int64_t P = pg.H * pg.W, PP = PH * PW;
            float *x = fill(planes * P, &rng), *dy = fill(planes * PP, &rng);
            float *y = fill(planes * PP, &rng), *pooled = filled(planes * PP, 0);
            int32_t *arg = calloc((size_t)(planes * PP), sizeof(int32_t));
            for (int64_t i = 0; i < planes * P; i += 3) x[i] = x[i / 3]; /* ties */
            for (int64_t i = 0; i < planes * P; i += 11) x[i] = 0.5f;
            x[P / 2] = NAN;
            nbi_maxpool_forward(&pg, planes, x, pooled, arg);
            dy[0] = -0.0f, dy[planes * PP - 1] = NAN;
            if (PP > 2) dy[1] = 0.0f, dy[2] = -0.0f;
            for (int64_t i = 0; i < planes * PP; i += 4) y[i] = i % 8 ? 0.0f : -0.0f;
            y[planes * PP / 2] = NAN;
            float *want = filled(planes * P, 1), *got = filled(planes * P, 2);
            for (int relu = 0; relu < 2; relu++) {
                const float *ym = relu ? y : NULL;
                delta_general(&pg, planes, dy, ym, arg, want);
                nbi_pool_delta(nbi_kernel_set("ref"), &pg, planes, dy, ym, arg, got);
                CHECK_MSG(memcmp(got, want, sizeof(float) * (size_t)(planes * P)) == 0,
                          "%lldx%lld extra %d relu %d: nbi_pool_delta (ref) differs", (long long)PH,
                          (long long)PW, extra, relu);
                if (extra) continue;
                memset(got, 0x7f, sizeof(float) * (size_t)(planes * P));
                nbi_unpool2x2_twin(planes, PH, PW, dy, ym, arg, got);
                CHECK_MSG(memcmp(got, want, sizeof(float) * (size_t)(planes * P)) == 0,
                          "%lldx%lld relu %d: the twin differs", (long long)PH, (long long)PW,
                          relu);
                for (int si = 0; si < nsets; si++) {
                    CHECK(sets[si]->conv_unpool2x2 != NULL);
                    if (!sets[si]->conv_unpool2x2) continue;
                    memset(got, 0x7f, sizeof(float) * (size_t)(planes * P));
                    sets[si]->conv_unpool2x2(planes, PH, PW, dy, ym, arg, got);
                    CHECK_MSG(memcmp(got, want, sizeof(float) * (size_t)(planes * P)) == 0,
                              "%s %lldx%lld relu %d: the vector kernel differs", sets[si]->isa,
                              (long long)PH, (long long)PW, relu);
                    memset(got, 0x7f, sizeof(float) * (size_t)(planes * P));
                    nbi_pool_delta(sets[si], &pg, planes, dy, ym, arg, got);
                    CHECK_MSG(memcmp(got, want, sizeof(float) * (size_t)(planes * P)) == 0,
                              "%s %lldx%lld relu %d: nbi_pool_delta differs", sets[si]->isa,
                              (long long)PH, (long long)PW, relu);
                }
            }
            free(x), free(dy), free(y), free(pooled), free(arg), free(want), free(got);
        }
}

/* ---- the back end's dispatch and threads -------------------------------------------------- */

/* Through the context's back end (as the ops call it), 1 and 2 threads: the direct path's
 * bits on both, pooled and not. */
static void test_dispatch_threads(void) {
    const nbi_kernels *k = nbi_kernel_set(nbi_best_isa());
    if (!k->conv_direct_fwd) {
        printf("     (the %s kernel set has no direct convolution)\n", k->isa);
        return;
    }
    const int64_t q[16] = {37, 1, 13, 12, 16, 3, 3, 1,
                           1,  1, 1,  1,  1,  1, 1, 1}; /* direct on AVX2 too */
    const nbi_conv_geom g = geom(q);
    const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
    const int64_t ny = g.N * g.O * g.OH * g.OW;
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    float *x = fill(nx, &rng), *w = fill(nw, &rng), *b = fill(g.O, &rng), *dy = fill(ny, &rng);
    int before = nb_get_threads();
    nb_ctx *ctx = nb_ctx_new(NULL);
    for (int pooled = 0; pooled < 2; pooled++) {
        float *y[3], *dx[3], *dw[3], *db[3];
        int32_t *arg[3];
        nbi_conv_pool pool = {2, 2, NULL};
        const nbi_conv_pool *pp = pooled ? &pool : NULL;
        const int64_t n = pooled ? g.N * g.O * (g.OH / 2) * (g.OW / 2) : ny;
        for (int t = 0; t < 3; t++) {
            y[t] = filled(n, 0), dx[t] = filled(nx, 0), dw[t] = filled(nw, 0);
            db[t] = filled(g.O, 0);
            arg[t] = calloc((size_t)n, sizeof(int32_t));
            pool.arg = arg[t];
            if (t == 2) { /* the driver itself */
                CHECK_OK(fwd(k, 1, &g, x, w, b, NBI_CONV_RELU, y[t], pp, 2));
                CHECK_OK(bwd(k, 1, &g, x, dy, y[t], NBI_CONV_RELU, w, dx[t], dw[t], db[t], pp, 2));
                continue;
            }
            CHECK_OK(nb_set_threads(t + 1));
            nb_ctx_reset(ctx);
            CHECK_OK(nbi_conv_forward(ctx, &g, x, w, b, NBI_CONV_RELU, y[t], pp, 2));
            CHECK_OK(nbi_conv_backward(ctx, &g, x, dy, y[t], NBI_CONV_RELU, w, dx[t], dw[t], db[t],
                                       pp, 2));
        }
        for (int t = 1; t < 3; t++) {
            CHECK_MSG(memcmp(y[0], y[t], sizeof(float) * (size_t)n) == 0 &&
                          memcmp(arg[0], arg[t], sizeof(int32_t) * (size_t)(pooled ? n : 0)) == 0,
                      "pooled %d: forward of run %d differs", pooled, t);
            CHECK_MSG(memcmp(dx[0], dx[t], sizeof(float) * (size_t)nx) == 0 &&
                          memcmp(dw[0], dw[t], sizeof(float) * (size_t)nw) == 0 &&
                          memcmp(db[0], db[t], sizeof(float) * (size_t)g.O) == 0,
                      "pooled %d: gradients of run %d differ", pooled, t);
        }
        for (int t = 0; t < 3; t++) free(y[t]), free(dx[t]), free(dw[t]), free(db[t]), free(arg[t]);
    }
    CHECK_OK(nb_set_threads(before));
    nb_ctx_free(ctx);
    free(x), free(w), free(b), free(dy);
}

/* ---- through the ops ----------------------------------------------------------------------- */

/* nb_conv2d with the pooling fused against nb_conv2d then nb_max_pool2d, on shapes the rule
 * sends to the direct path (the first layer's: one input channel; and three): the same bits
 * forward and backward on 1 and 2 threads when the input needs its gradient. When it does
 * not (the first layer's case, where the back end is not asked for it), the fused weight
 * gradient is taken from the pooled δ (conv_direct_dw_pooled), sums in another order: the
 * weight and bias gradients then agree to rounding, and the fused ones are the same bits on
 * 1 and 2 threads. */
static void test_ops_fused_pool(void) {
    static const struct {
        int64_t N, C, H, W, O, K;
        int x_grad;
    } cases[] = {{6, 1, 14, 14, 16, 5, 0}, {5, 3, 15, 13, 8, 3, 1}};
    nb_rng rng;
    nb_rng_seed(&rng, 17);
    int before = nb_get_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t N = cases[k].N, C = cases[k].C, O = cases[k].O, K = cases[k].K;
        float *one_thread[3] = {NULL, NULL, NULL}; /* the fused gradients on 1 thread */
        nb_tensor *g = NULL;                       /* y's gradient, the same on 1 and 2 */
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
                    nb_tensor_set_requires_grad(t[fused][i], i > 0 || cases[k].x_grad);
                }
                nb_conv_opts o = {.relu = 1};
                if (fused) o.max_pool[0] = o.max_pool[1] = 2;
                y[fused] = nb_conv2d(ctx[fused], t[fused][0], t[fused][1], t[fused][2], &o);
                if (!fused) y[0] = nb_max_pool2d(ctx[0], y[0], &(nb_pool_opts){.kernel = {2, 2}});
                CHECK_PTR(y[fused]);
            }
            if (y[0] && y[1]) {
                CHECK(nb_tensor_same_shape(y[0], y[1]));
                CHECK(memcmp(y[0]->data, y[1]->data, sizeof(float) * (size_t)y[0]->numel) == 0);
                if (!g) g = nb_rand(NULL, y[0]->rank, y[0]->shape, -1, 1, &rng);
                CHECK_OK(nb_backward_with(ctx[0], y[0], g));
                CHECK_OK(nb_backward_with(ctx[1], y[1], g));
                for (int i = 0; i < 3; i++) {
                    if (i == 0 && !cases[k].x_grad) {
                        CHECK(!t[0][0]->grad && !t[1][0]->grad);
                        continue;
                    }
                    CHECK(t[0][i]->grad && t[1][i]->grad);
                    if (!t[0][i]->grad || !t[1][i]->grad) continue;
                    const size_t bytes = sizeof(float) * (size_t)in[i]->numel;
                    const float *g0 = t[0][i]->grad->data, *g1 = t[1][i]->grad->data;
                    if (cases[k].x_grad)
                        CHECK_MSG(memcmp(g0, g1, bytes) == 0,
                                  "case %zu, %d threads: gradient of input %d differs", k, threads,
                                  i);
                    else
                        nbt_compare("fused vs unfused gradient, from the pooled δ", g1, g0,
                                    in[i]->numel, 1e-5, 1e-5);
                    if (threads == 1) {
                        one_thread[i] = malloc(bytes);
                        if (one_thread[i]) memcpy(one_thread[i], g1, bytes);
                    } else if (one_thread[i]) {
                        CHECK_MSG(memcmp(one_thread[i], g1, bytes) == 0,
                                  "case %zu: fused gradient of input %d differs on 2 threads", k, i);
                    }
                }
            }
            nb_ctx_free(ctx[0]);
            nb_ctx_free(ctx[1]);
        }
        for (int i = 0; i < 3; i++) nb_tensor_free(in[i]), free(one_thread[i]);
        nb_tensor_free(g);
    }
    CHECK_OK(nb_set_threads(before));
}

static const nbt_case cases[] = {
    {"direct_vs_reference", test_direct_vs_reference},
    {"fused_pool", test_fused_pool},
    {"twins", test_twins},
    {"unpool", test_unpool},
    {"dispatch_threads", test_dispatch_threads},
    {"ops_fused_pool", test_ops_fused_pool},
};

NBT_MAIN(cases)
