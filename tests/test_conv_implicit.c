/* test_conv_implicit — the implicit-GEMM convolution (B panels packed straight from the image)
 * against the im2col path it replaces, and the forward by output rows (kernels/conv_rows.h),
 * on odd geometries:
 *   - the row kernels of each vector set against their scalar twin, alone (every height, odd
 *     K and widths) and inside the whole forward (bias, ReLU, accumulate, fused pooling with
 *     its arg, pieces of 1, 3 and the default, 1 and 2 threads: bitwise), the forward against
 *     the reference set within tolerance, and a NaN in the image reaching the output;
 *   - the packers alone: nbi_conv_pack_col and nbi_conv_pack_colt against im2col followed by
 *     a plain panel copy, for panel widths 8, 16, 32 and 64, blocks that start inside a tap
 *     group, an output row or a sample, and a last panel narrower than the rest;
 *   - the whole lowered convolution of every kernel set that has sgemm_src (portable C, AVX2,
 *     AVX-512) against the same set with sgemm_src removed (im2col + GEMM): forward (bias,
 *     ReLU, accumulate, fused max pooling) and backward (input, weight and bias gradients),
 *     in pieces of 1, 3 and the default, at 1 and 2 threads, the forward by rows switched off
 *     in both (it sums in another order). The provider yields the same
 *     op(B) and the GEMM keeps its blocking, path choice and FMA chain, so the results must
 *     be bitwise equal, not merely close. */
#include "nbtest.h"

#include "conv_geom.h"
#include "floats.h"

#include "fixture.h"
#include "kernels/conv.h"
#include "kernels/kernels.h"

#include <math.h>

static const char *const isas[] = {"c", "avx2", "avx512"};

/* N C H W O KH KW sh sw pt pb pl pr dh dw groups */
static const int64_t geoms[][16] = {
    {3, 3, 7, 6, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},
    {2, 4, 9, 7, 6, 3, 2, 2, 1, 1, 2, 0, 1, 1, 2, 2},    /* stride, uneven padding, dilation */
    {3, 6, 5, 8, 6, 3, 3, 1, 2, 1, 1, 1, 1, 2, 1, 6},    /* depthwise, dilated rows */
    {5, 1, 11, 10, 5, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* the CNN's first layer, small */
    {7, 8, 12, 12, 13, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1}, /* its second: 8x8 outputs */
    {2, 5, 4, 4, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},    /* 1x1 */
    {3, 2, 6, 9, 3, 4, 3, 3, 2, 2, 1, 0, 2, 1, 1, 1},    /* stride 3 x 2, uneven padding */
    {2, 6, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},    /* groups, padded */
    {3, 3, 5, 41, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* rows wider than a panel */
    {4, 2, 9, 1, 5, 3, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1},    /* one output column */
    {2, 3, 10, 10, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1},  /* stride and dilation 2, padded */
    {6, 40, 6, 6, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* K = 360: above the C set's KC */
    {3, 48, 5, 5, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* K = 432: above every set's KC */
    {2, 3, 13, 16, 5, 4, 5, 3, 1, 2, 1, 3, 2, 1, 1, 1},  /* rows of 16, row stride 3, padded */
    {2, 2, 20, 15, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 1},  /* 20 rows of 15, dilated rows */
};
#define N_GEOMS (sizeof geoms / sizeof geoms[0])

static nbi_conv_geom geom(const int64_t *q) { return nbt_conv_geom(q); }

/* ---- the packers alone --------------------------------------------------------------------- */

/* op(B)[p0 : p0+k, j0 : j0+n] of the row-major matrix M (rows x cols, or its transpose when
 * t) as nr-wide panels with zeros past column n: what a GEMM packer must write. */
static void panels_of(const float *M, int64_t cols, int t, int64_t p0, int64_t k, int64_t j0,
                      int64_t n, int nr, float *dst) {
    for (int64_t c = 0; c < n; c += nr, dst += nr * k)
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < nr; j++) {
                int64_t r = p0 + p, q = j0 + c + j;
                dst[p * nr + j] = c + j >= n ? 0.0f : t ? M[q * cols + r] : M[r * cols + q];
            }
}

/* the portable packers, then each vector set's (kernels/x86/conv_direct.inc) where it has
 * them */
#define N_PACKERS 3
static nbi_bpack_fn col_packers[N_PACKERS], colt_packers[N_PACKERS];
static const char *const packer_names[N_PACKERS] = {"portable", "avx2", "avx512"};

static void find_packers(void) {
    col_packers[0] = nbi_conv_pack_col;
    colt_packers[0] = nbi_conv_pack_colt;
    for (int v = 1; v < N_PACKERS; v++) {
        nbi_kernels k;
        if (!nbi_kernels_for(packer_names[v], &k)) continue;
        col_packers[v] = k.conv_pack_col;
        colt_packers[v] = k.conv_pack_colt;
    }
}

static void test_packers(void) {
    find_packers();
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    static const int nrs[] = {8, 16, 32, 64};
    for (size_t gi = 0; gi < N_GEOMS; gi++) {
        nbi_conv_geom g = geom(geoms[gi]);
        const int64_t Kc = nbi_conv_kc(&g), nb = g.N, cols = nb * g.OH * g.OW;
        const int64_t nx = g.N * g.C * g.H * g.W;
        float *x = nbt_alloc_f(nx), *col = nbt_alloc_f(Kc * cols);
        nbt_fill(x, nx, &rng);
        const int64_t grp = g.groups - 1; /* the last group: x starts past channel 0 */
        const float *xg = x + grp * (g.C / g.groups) * g.H * g.W;
        nbi_im2col(&g, xg, nb, col);
        nbi_conv_src src = {&g, xg, nb};
        for (size_t r = 0; r < sizeof nrs / sizeof nrs[0]; r++) {
            const int nr = nrs[r];
            /* blocks: everything; and one starting mid-way in both directions */
            const int64_t blocks[2][4] = {
                {0, Kc, 0, cols},
                {Kc / 3, Kc - Kc / 3 - Kc / 4, cols / 3 + 1, cols - cols / 3 - 1 - cols / 5}};
            for (int b = 0; b < 2; b++) {
                for (int t = 0; t < 2; t++) { /* t: colᵀ, rows are positions */
                    int64_t p0 = blocks[b][t ? 2 : 0], k = blocks[b][t ? 3 : 1];
                    int64_t j0 = blocks[b][t ? 0 : 2], n = blocks[b][t ? 1 : 3];
                    if (k <= 0 || n <= 0) continue;
                    int64_t sz = (n + nr - 1) / nr * nr * k;
                    float *got = nbt_alloc_f(sz), *want = nbt_alloc_f(sz);
                    panels_of(col, cols, t, p0, k, j0, n, nr, want);
                    for (size_t v = 0; v < N_PACKERS; v++) {
                        nbi_bpack_fn f = t ? colt_packers[v] : col_packers[v];
                        if (!f) continue;
                        for (int64_t i = 0; i < sz; i++) got[i] = NAN; /* every float written */
                        f(&src, p0, k, j0, n, nr, got);
                        CHECK_MSG(nbt_same(got, want, sz),
                                  "geometry %zu: %s panels (%s) nr=%d of rows %lld+%lld, columns "
                                  "%lld+%lld differ from im2col's",
                                  gi, t ? "colT" : "col", packer_names[v], nr, (long long)p0,
                                  (long long)k, (long long)j0, (long long)n);
                    }
                    nb_free(got);
                    nb_free(want);
                }
            }
        }
        nb_free(x);
        nb_free(col);
    }
}

/* ---- the whole convolution: implicit against im2col ------------------------------------------ */

typedef struct outs {
    float *ya, *y, *yp, *dx, *dw, *db;
    int32_t *arg;
} outs;

/* Forward (relu and bias; accumulate onto 1s), the fused max pooling when the output tiles
 * by 2x2, and backward onto 1s with all three gradients, through kernel set k. */
static void run_conv(const nbi_kernels *k, int nt, const nbi_conv_geom *g, int64_t chunk, int relu,
                     const float *x, const float *w, const float *b, const float *dy, outs *o) {
    const int64_t ny = g->N * g->O * g->OH * g->OW, nx = g->N * g->C * g->H * g->W;
    const int64_t nw = g->O * nbi_conv_kc(g);
    const int fl = relu ? NBI_CONV_RELU : 0;
    int64_t room = nbi_conv_scratch(g, nt, 0, 1, 1, NULL, chunk);
    int64_t r2 = nbi_conv_scratch(g, nt, 1, 0, 0, NULL, chunk);
    if (r2 > room) room = r2;
    float *scratch = nbt_alloc_f(room);
    for (int64_t i = 0; i < ny; i++) o->ya[i] = 1.0f;
    CHECK_OK(nbi_conv_lower_forward(k, nt, g, x, w, b, NBI_CONV_ACCUMULATE, o->ya, NULL, chunk,
                                    scratch, room));
    CHECK_OK(nbi_conv_lower_forward(k, nt, g, x, w, b, fl, o->y, NULL, chunk, scratch, room));
    for (int64_t i = 0; i < nx; i++) o->dx[i] = 1.0f;
    for (int64_t i = 0; i < nw; i++) o->dw[i] = 1.0f;
    for (int64_t i = 0; i < g->O; i++) o->db[i] = 1.0f;
    CHECK_OK(nbi_conv_lower_backward(k, nt, g, x, dy, o->y, fl, w, o->dx, o->dw, o->db, NULL, chunk,
                                     scratch, room));
    nb_free(scratch);
    if (g->OH % 2 || g->OW % 2) return;
    nbi_conv_pool pool = {2, 2, o->arg};
    room = nbi_conv_scratch(g, nt, 1, 0, 0, &pool, chunk);
    scratch = nbt_alloc_f(room);
    CHECK_OK(nbi_conv_lower_forward(k, nt, g, x, w, b, fl, o->yp, &pool, chunk, scratch, room));
    nb_free(scratch);
}

static void test_implicit_vs_im2col(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    int sets = 0;
    for (size_t si = 0; si < sizeof isas / sizeof isas[0]; si++) {
        nbi_kernels impl, lowered;
        if (!nbi_kernels_for(isas[si], &impl)) continue;
        sets++;
        CHECK_MSG(impl.sgemm_src != NULL, "%s: no sgemm_src", isas[si]);
        impl.conv_rows = NULL; /* the forward by rows has its own tests (below) */
        lowered = impl;
        lowered.sgemm_src = NULL; /* im2col + the matrix GEMM */
        for (size_t gi = 0; gi < N_GEOMS; gi++) {
            nbi_conv_geom g = geom(geoms[gi]);
            const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
            const int64_t ny = g.N * g.O * g.OH * g.OW;
            float *x = nbt_alloc_f(nx), *w = nbt_alloc_f(nw), *b = nbt_alloc_f(g.O), *dy = nbt_alloc_f(ny);
            nbt_fill(x, nx, &rng);
            nbt_fill(w, nw, &rng);
            nbt_fill(b, g.O, &rng);
            nbt_fill(dy, ny, &rng);
            outs o[2];
            for (int v = 0; v < 2; v++)
                o[v] = (outs){nbt_alloc_f(ny),
                              nbt_alloc_f(ny),
                              nbt_alloc_f(ny / 4 + 1),
                              nbt_alloc_f(nx),
                              nbt_alloc_f(nw),
                              nbt_alloc_f(g.O),
                              nb_malloc(sizeof(int32_t) * (size_t)(ny / 4 + 1))};
            static const int64_t chunks[] = {1, 3, 0};
            for (int ci = 0; ci < 3; ci++)
                for (int relu = 0; relu < 2; relu++)
                    for (int nt = 1; nt <= 2; nt++) {
                        run_conv(&lowered, 1, &g, chunks[ci], relu, x, w, b, dy, &o[0]);
                        run_conv(&impl, nt, &g, chunks[ci], relu, x, w, b, dy, &o[1]);
                        const int pooled = g.OH % 2 == 0 && g.OW % 2 == 0;
                        const char *bad = !nbt_same(o[0].ya, o[1].ya, ny)    ? "accumulated y"
                                          : !nbt_same(o[0].y, o[1].y, ny)    ? "y"
                                          : !nbt_same(o[0].dx, o[1].dx, nx)  ? "dx"
                                          : !nbt_same(o[0].dw, o[1].dw, nw)  ? "dw"
                                          : !nbt_same(o[0].db, o[1].db, g.O) ? "db"
                                          : pooled && !nbt_same(o[0].yp, o[1].yp, ny / 4) ? "pooled y"
                                                                                      : NULL;
                        CHECK_MSG(!bad,
                                  "%s geometry %zu chunk %lld relu %d, %d threads: %s of the "
                                  "implicit GEMM differs from im2col's",
                                  isas[si], gi, (long long)chunks[ci], relu, nt, bad ? bad : "");
                    }
            for (int v = 0; v < 2; v++) {
                nb_free(o[v].ya), nb_free(o[v].y), nb_free(o[v].yp), nb_free(o[v].dx),
                    nb_free(o[v].dw);
                nb_free(o[v].db), nb_free(o[v].arg);
            }
            nb_free(x), nb_free(w), nb_free(b), nb_free(dy);
        }
    }
    CHECK(sets >= 1); /* the portable set runs everywhere */
    nbi_kernels ref;
    CHECK(nbi_kernels_for("ref", &ref) && ref.sgemm_src == NULL);
}

/* each vector set's col2im (kernels/x86/conv_direct.inc) against the portable one: the same
 * additions in the same order, so the same bits */
static void test_col2im(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 13);
    for (int v = 1; v < N_PACKERS; v++) {
        nbi_kernels k;
        if (!nbi_kernels_for(packer_names[v], &k)) continue;
        CHECK_MSG(k.conv_col2im != NULL, "%s: no conv_col2im", packer_names[v]);
        for (size_t gi = 0; gi < N_GEOMS; gi++) {
            nbi_conv_geom g = geom(geoms[gi]);
            const int64_t Kc = nbi_conv_kc(&g), nb = g.N, cols = nb * g.OH * g.OW;
            const int64_t nx = g.N * g.C * g.H * g.W;
            float *col = nbt_alloc_f(Kc * cols), *want = nbt_alloc_f(nx), *got = nbt_alloc_f(nx);
            nbt_fill(col, Kc * cols, &rng);
            nbt_fill(want, nx, &rng);
            memcpy(got, want, sizeof(float) * (size_t)nx);
            const int64_t off = (g.groups - 1) * (g.C / g.groups) * g.H * g.W; /* last group */
            nbi_col2im(&g, col, nb, want + off);
            k.conv_col2im(&g, col, nb, got + off);
            CHECK_MSG(nbt_same(got, want, nx), "%s geometry %zu: col2im differs from the portable one",
                      packer_names[v], gi);
            nb_free(col), nb_free(want), nb_free(got);
        }
    }
}

/* ---- the forward by output rows (kernels/conv_rows.h) ----------------------------------------
 * The vector kernels against the scalar twin, alone and inside the whole forward; the forward
 * against the reference set's (im2col + the plain GEMM) within tolerance; 1 and 2 threads;
 * NaN. */

/* N C H W O KH KW sh sw pt pb pl pr dh dw groups: stride-1 columns, unpadded, rows >= 8 wide,
 * >= 48 taps, groups filling >= 3/4 of every set's panels (where the rows path applies) */
static const int64_t row_geoms[][16] = {
    {3, 7, 11, 13, 25, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* rows of 11, 25 channels */
    {2, 5, 13, 17, 57, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* rows of 13 (7 + 6), 57 > NR */
    {5, 7, 12, 12, 27, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* 8x8 outputs, pooled */
    {3, 5, 15, 15, 29, 3, 5, 2, 1, 0, 0, 0, 0, 1, 1, 1},  /* row stride 2, 7 rows of 11 */
    {2, 12, 11, 14, 54, 3, 3, 1, 1, 0, 0, 0, 0, 2, 1, 2}, /* two groups of 27, dilated rows */
    {4, 49, 9, 9, 31, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   /* 1x1 */
    {2, 7, 9, 13, 59, 3, 3, 1, 1, 0, 0, 0, 0, 1, 2, 1},   /* dilated columns, rows of 9 */
    {2, 9, 13, 15, 25, 4, 4, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* 10 rows of 12, pooled */
    {3, 32, 12, 12, 57, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1}, /* conv2d_2 with 57 channels */
};
#define N_ROW_GEOMS (sizeof row_geoms / sizeof row_geoms[0])

static int64_t twin_calls;
static void rows_twin(int nr, const float *x, const int32_t *koff, int64_t K, const float *wp,
                      int64_t ncols, int rows, float *y, int64_t ldy) {
    twin_calls++;
    nbi_conv_rows_ref(nr, x, koff, K, wp, ncols, rows, y, ldy);
}

/* each set's kernel alone against the twin: every height 1..mr, widths 1..nr, odd K, odd
 * offsets; the floats around each written run keep their canaries */
static void test_rows_kernel(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 17);
    int sets = 0;
    for (size_t si = 0; si < sizeof isas / sizeof isas[0]; si++) {
        nbi_kernels k;
        if (!nbi_kernels_for(isas[si], &k) || !k.conv_rows) continue;
        sets++;
        const int nr = k.conv_rows_nr, mr = k.conv_rows_mr;
        static const int64_t Ks[] = {1, 7, 75, 801};
        for (int ki = 0; ki < 4; ki++) {
            const int64_t K = Ks[ki], nx = 3 * K + 64, ldy = 29;
            float *x = nbt_alloc_f(nx), *wp = nbt_alloc_f(K * nr);
            float *y[2] = {nbt_alloc_f(nr * ldy), nbt_alloc_f(nr * ldy)};
            int32_t *koff = nb_malloc(sizeof(int32_t) * (size_t)K);
            CHECK_PTR(koff);
            nbt_fill(x, nx, &rng);
            nbt_fill(wp, K * nr, &rng);
            for (int64_t t = 0; t < K; t++) koff[t] = (int32_t)((t * 37) % (3 * K) + 1);
            for (int rows = 1; rows <= mr; rows++)
                for (int nc = 1; nc <= nr; nc += nc < 3 ? 1 : 7) {
                    for (int v = 0; v < 2; v++)
                        for (int64_t i = 0; i < nr * ldy; i++) y[v][i] = -7.0f;
                    nbi_conv_rows_ref(nr, x + 3, koff, K, wp, nc, rows, y[0] + 2, ldy);
                    k.conv_rows(nr, x + 3, koff, K, wp, nc, rows, y[1] + 2, ldy);
                    CHECK_MSG(nbt_same(y[0], y[1], nr * ldy),
                              "%s: the row kernel differs from its twin (K %lld, rows %d, %d "
                              "channels)",
                              isas[si], (long long)K, rows, nc);
                }
            nb_free(x), nb_free(wp), nb_free(y[0]), nb_free(y[1]), nb_free(koff);
        }
    }
    (void)sets; /* none on a CPU without AVX2 */
}

/* forward (bias or none, ReLU or none), accumulating onto 1s, and pooled where the output
 * tiles by 2x2, through set k */
typedef struct fwd_outs {
    float *y, *ya, *yp;
    int32_t *arg;
} fwd_outs;

static void run_fwd(const nbi_kernels *k, int nt, const nbi_conv_geom *g, int64_t chunk, int relu,
                    const float *x, const float *w, const float *b, fwd_outs *o) {
    const int64_t ny = g->N * g->O * g->OH * g->OW;
    nbi_conv_pool pool = {2, 2, o->arg};
    const int pooled = g->OH % 2 == 0 && g->OW % 2 == 0;
    int64_t room = nbi_conv_scratch(g, nt, 1, 0, 0, pooled ? &pool : NULL, chunk);
    int64_t r2 = nbi_conv_scratch(g, nt, 1, 0, 0, NULL, chunk);
    float *scratch = nbt_alloc_f(room > r2 ? room : r2);
    if (r2 > room) room = r2;
    const int fl = relu ? NBI_CONV_RELU : 0;
    CHECK_OK(nbi_conv_lower_forward(k, nt, g, x, w, b, fl, o->y, NULL, chunk, scratch, room));
    for (int64_t i = 0; i < ny; i++) o->ya[i] = 1.0f;
    CHECK_OK(nbi_conv_lower_forward(k, nt, g, x, w, b, NBI_CONV_ACCUMULATE, o->ya, NULL, chunk,
                                    scratch, room));
    if (pooled)
        CHECK_OK(nbi_conv_lower_forward(k, nt, g, x, w, b, fl, o->yp, &pool, chunk, scratch, room));
    nb_free(scratch);
}

static int same_i32(const int32_t *a, const int32_t *b, int64_t n) {
    return memcmp(a, b, sizeof(int32_t) * (size_t)n) == 0;
}

static void test_rows_forward(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 19);
    nbi_kernels ref;
    CHECK(nbi_kernels_for("ref", &ref) && ref.conv_rows == NULL);
    for (size_t si = 0; si < sizeof isas / sizeof isas[0]; si++) {
        nbi_kernels vec, twin;
        if (!nbi_kernels_for(isas[si], &vec) || !vec.conv_rows) continue;
        twin = vec;
        twin.conv_rows = rows_twin;
        for (size_t gi = 0; gi < N_ROW_GEOMS; gi++) {
            nbi_conv_geom g = geom(row_geoms[gi]);
            const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
            const int64_t ny = g.N * g.O * g.OH * g.OW, np = ny / 4 + 1;
            const int pooled = g.OH % 2 == 0 && g.OW % 2 == 0;
            float *x = nbt_alloc_f(nx), *w = nbt_alloc_f(nw), *b = nbt_alloc_f(g.O);
            nbt_fill(x, nx, &rng);
            nbt_fill(w, nw, &rng);
            nbt_fill(b, g.O, &rng);
            fwd_outs o[4];
            for (int v = 0; v < 4; v++)
                o[v] = (fwd_outs){nbt_alloc_f(ny), nbt_alloc_f(ny), nbt_alloc_f(np),
                                  nb_malloc(sizeof(int32_t) * (size_t)np)};
            static const int64_t chunks[] = {1, 3, 0};
            for (int ci = 0; ci < 3; ci++)
                for (int relu = 0; relu < 2; relu++)
                    for (int bias = 0; bias < 2; bias++) {
                        const float *bb = bias ? b : NULL;
                        twin_calls = 0;
                        run_fwd(&twin, 1, &g, chunks[ci], relu, x, w, bb, &o[0]);
                        CHECK_MSG(twin_calls > 0, "%s geometry %zu: not run by rows", isas[si], gi);
                        run_fwd(&vec, 1, &g, chunks[ci], relu, x, w, bb, &o[1]);
                        run_fwd(&vec, 2, &g, chunks[ci], relu, x, w, bb, &o[2]);
                        for (int v = 1; v < 3; v++) {
                            const char *bad =
                                !nbt_same(o[0].y, o[v].y, ny)                         ? "y"
                                : !nbt_same(o[0].ya, o[v].ya, ny)                     ? "accumulated y"
                                : pooled && !nbt_same(o[0].yp, o[v].yp, ny / 4)       ? "pooled y"
                                : pooled && !same_i32(o[0].arg, o[v].arg, ny / 4) ? "pooling arg"
                                                                                  : NULL;
                            CHECK_MSG(!bad,
                                      "%s geometry %zu chunk %lld relu %d bias %d, %d threads: "
                                      "%s differs from the twin's",
                                      isas[si], gi, (long long)chunks[ci], relu, bias, v, bad);
                        }
                        /* the reference set: im2col + the plain GEMM (separate products and
                         * adds): test_conv's 1e-5 for up to 100 taps, more for longer sums */
                        run_fwd(&ref, 1, &g, chunks[ci], relu, x, w, bb, &o[3]);
                        const double tol = 1e-5 * (1.0 + (double)nbi_conv_kc(&g) / 100.0);
                        nbt_compare("rows forward vs reference", o[1].y, o[3].y, ny, tol, tol);
                        nbt_compare("rows forward (acc) vs reference", o[1].ya, o[3].ya, ny, tol,
                                    tol);
                        if (pooled)
                            nbt_compare("rows forward (pooled) vs reference", o[1].yp, o[3].yp,
                                        ny / 4, tol, tol);
                    }
            /* a NaN in the image: NaN out of every channel of the outputs that read it (the
             * ReLU and the pooling let it through) */
            const int64_t at = 1 * g.C * g.H * g.W + 0; /* sample 1 (or 0), channel 0, (0, 0) */
            const int64_t n1 = g.N > 1 ? 1 : 0;
            x[n1 ? at : 0] = NAN;
            run_fwd(&vec, 2, &g, 0, 1, x, w, b, &o[1]);
            for (int64_t oc = 0; oc < g.O; oc++) {
                const int64_t og = g.O / g.groups, grp = oc / og;
                if (grp != 0) continue; /* channel 0 is the first group's */
                const float *yo = o[1].y + (n1 * g.O + oc) * g.OH * g.OW;
                CHECK_MSG(isnan(yo[0]), "%s geometry %zu: NaN lost (channel %lld)", isas[si], gi,
                          (long long)oc);
                if (pooled)
                    CHECK_MSG(isnan(o[1].yp[(n1 * g.O + oc) * (g.OH / 2) * (g.OW / 2)]),
                              "%s geometry %zu: NaN lost by the pooling", isas[si], gi);
            }
            for (int v = 0; v < 4; v++)
                nb_free(o[v].y), nb_free(o[v].ya), nb_free(o[v].yp), nb_free(o[v].arg);
            nb_free(x), nb_free(w), nb_free(b);
        }
    }
}

static const nbt_case cases[] = {
    {"rows_kernel", test_rows_kernel},
    {"rows_forward", test_rows_forward},
    {"packers", test_packers},
    {"col2im", test_col2im},
    {"implicit_vs_im2col", test_implicit_vs_im2col},
};
NBT_MAIN(cases)
