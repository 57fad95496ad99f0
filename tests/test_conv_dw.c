/* test_conv_dw — the lowering's weight gradient with the image as the broadcast operand
 * (kernels/conv_dw.h, kernels/x86/conv_dw.inc):
 *   - each vector set's kernel bitwise against the scalar twin nbi_conv_dw_img_ref, on odd
 *     geometries (odd channel counts, output channels not a multiple of the tile's columns,
 *     odd image and kernel sizes, 1 to 13 positions a row, several samples), the last group
 *     of grouped ones, and K blocks that end inside a row, a sample, or not at all;
 *   - the twin against the reference convolution's weight gradient, within test_conv's
 *     tolerance;
 *   - NaN in the image or in δ: NaN exactly where the reference has it, in twin and kernel;
 *   - the whole lowered backward with the kernel against the same set without it (the
 *     implicit GEMM δ · colᵀ): the same bits, the K blocks being the GEMM's, in pieces of 1,
 *     3 and the default, at 1 and 2 threads (so also 1 and 2 threads against each other). */
#include "nbtest.h"

#include "conv_geom.h"
#include "floats.h"
#include "fixture.h"

#include "kernels/conv.h"
#include "kernels/kernels.h"

#include <math.h>

static const char *const isas[] = {"avx2", "avx512"};

/* N C H W O KH KW sh sw pt pb pl pr dh dw groups: unit stride and dilation, no padding */
static const int64_t geoms[][16] = {
    {3, 3, 7, 6, 5, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},     /* 4 positions a row */
    {2, 5, 9, 17, 13, 3, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},   /* 13 a row, O odd */
    {5, 1, 11, 10, 33, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* one channel, O = 33 */
    {7, 7, 12, 12, 70, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},  /* conv2d_2, odd: 8 a row */
    {4, 3, 5, 1, 7, 3, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},     /* one position a row */
    {3, 9, 7, 7, 3, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 1},     /* one position a sample */
    {2, 6, 8, 9, 10, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2},    /* groups: 3 channels, 5 outputs */
    {3, 35, 6, 5, 17, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   /* 1x1: Kc = 35 */
    {9, 13, 13, 11, 41, 4, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1}, /* 10 x 9 outputs, Kc = 156 */
};
#define N_GEOMS (sizeof geoms / sizeof geoms[0])

/* one geometry's operands: the image, δ [O, N·P] channel-major as the lowering keeps it,
 * and δ in NCHW for the reference */
typedef struct operands {
    nbi_conv_geom g;
    int64_t nx, ld, Kc, Og, nw;
    float *x, *dy, *dy_nchw;
} operands;

static operands make(const int64_t *q, nb_rng *rng) {
    operands o;
    o.g = nbt_conv_geom(q);
    const nbi_conv_geom *g = &o.g;
    const int64_t P = g->OH * g->OW;
    o.nx = g->N * g->C * g->H * g->W;
    o.ld = g->N * P;
    o.Kc = nbi_conv_kc(g);
    o.Og = g->O / g->groups;
    o.nw = g->O * o.Kc;
    o.x = nbt_alloc_f(o.nx);
    o.dy = nbt_alloc_f(g->O * o.ld);
    o.dy_nchw = nbt_alloc_f(g->O * o.ld);
    nbt_fill(o.x, o.nx, rng);
    nbt_fill(o.dy, g->O * o.ld, rng);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t c = 0; c < g->O; c++)
            memcpy(o.dy_nchw + (n * g->O + c) * P, o.dy + c * o.ld + n * P,
                   sizeof(float) * (size_t)P);
    return o;
}

static void drop(operands *o) {
    nb_free(o->x), nb_free(o->dy), nb_free(o->dy_nchw);
}

/* dW of every group through fn (the twin when fn is NULL), K blocks of kblk positions */
static void dw_of(nbi_conv_dw_fn fn, const operands *o, int64_t kblk, float *dw) {
    const nbi_conv_geom *g = &o->g;
    const int64_t Cg = g->C / g->groups;
    float *ws = nbt_alloc_f(nbi_conv_dw_ws(o->Og, o->ld, o->Kc));
    for (int64_t grp = 0; grp < g->groups; grp++)
        (fn ? fn : nbi_conv_dw_img_ref)(g, o->x + grp * Cg * g->H * g->W, g->N,
                                        o->dy + grp * o->Og * o->ld, o->Og, kblk, ws,
                                        dw + grp * o->Og * o->Kc);
    nb_free(ws);
}

/* the kernel's K blocks to try: 1, 7, the GEMM's, and the whole sum where it fits */
static int kblocks(const operands *o, int64_t kc, int64_t *kb) {
    int n = 0;
    kb[n++] = 1;
    kb[n++] = 7;
    const int64_t blocks = (o->ld + kc - 1) / kc;
    kb[n++] = (o->ld + blocks - 1) / blocks;
    if (o->ld <= NBI_CONV_DW_KBLK) kb[n++] = o->ld;
    return n;
}

static void test_kernel_vs_twin(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 23);
    int sets = 0;
    for (size_t si = 0; si < sizeof isas / sizeof isas[0]; si++) {
        nbi_kernels k;
        if (!nbi_kernels_for(isas[si], &k)) continue;
        CHECK_MSG(k.conv_dw_img && k.conv_dw_kc > 0 && k.conv_dw_kc <= NBI_CONV_DW_KBLK,
                  "%s: no conv_dw_img", isas[si]);
        sets++;
        for (size_t gi = 0; gi < N_GEOMS; gi++) {
            operands o = make(geoms[gi], &rng);
            CHECK(nbi_conv_dw_img_fits(&o.g));
            float *want = nbt_alloc_f(o.nw), *got = nbt_alloc_f(o.nw);
            int64_t kb[4];
            const int nk = kblocks(&o, k.conv_dw_kc, kb);
            for (int i = 0; i < nk; i++) {
                dw_of(NULL, &o, kb[i], want);
                for (int64_t j = 0; j < o.nw; j++) got[j] = NAN; /* every element written */
                dw_of(k.conv_dw_img, &o, kb[i], got);
                CHECK_MSG(nbt_same(got, want, o.nw),
                          "%s geometry %zu, K blocks of %lld: differs "
                          "from the scalar twin",
                          isas[si], gi, (long long)kb[i]);
            }
            nb_free(want), nb_free(got);
            drop(&o);
        }
    }
    (void)sets; /* none on a CPU without AVX2, or a portable build */
}

static void test_twin_vs_reference(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 29);
    for (size_t gi = 0; gi < N_GEOMS; gi++) {
        operands o = make(geoms[gi], &rng);
        float *want = nbt_alloc_f(o.nw), *got = nbt_alloc_f(o.nw);
        memset(want, 0, sizeof(float) * (size_t)o.nw);
        nbi_conv_ref_backward_weight(&o.g, o.x, o.dy_nchw, want);
        int64_t kb[4];
        const int nk = kblocks(&o, 256, kb);
        for (int i = 0; i < nk; i++) {
            dw_of(NULL, &o, kb[i], got);
            char what[64];
            snprintf(what, sizeof what, "geometry %zu K blocks of %lld", gi, (long long)kb[i]);
            nbt_compare(what, got, want, o.nw, 1e-5, 1e-5);
        }
        nb_free(want), nb_free(got);
        drop(&o);
    }
}

/* A NaN in the image (or in δ) reaches exactly the weights whose sums read it: the same
 * places as the reference's, and the same bits in twin and kernel. */
static void test_nan(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 31);
    for (int in_dy = 0; in_dy < 2; in_dy++)
        for (size_t gi = 0; gi < N_GEOMS; gi++) {
            operands o = make(geoms[gi], &rng);
            if (in_dy)
                o.dy[o.ld / 2] =
                    o.dy_nchw[(o.ld / 2 / (o.g.OH * o.g.OW)) * o.g.O * o.g.OH * o.g.OW +
                              o.ld / 2 % (o.g.OH * o.g.OW)] = NAN;
            else
                o.x[o.nx / 3] = NAN;
            float *want = nbt_alloc_f(o.nw), *twin = nbt_alloc_f(o.nw), *got = nbt_alloc_f(o.nw);
            memset(want, 0, sizeof(float) * (size_t)o.nw);
            nbi_conv_ref_backward_weight(&o.g, o.x, o.dy_nchw, want);
            dw_of(NULL, &o, 5, twin);
            int nans = 0, where = 1;
            for (int64_t j = 0; j < o.nw; j++) {
                nans += isnan(want[j]) != 0;
                where &= !isnan(want[j]) == !isnan(twin[j]);
            }
            CHECK_MSG(nans > 0 && where, "geometry %zu NaN in %s: %d NaN, the twin's %s", gi,
                      in_dy ? "dy" : "x", nans, where ? "in place" : "elsewhere");
            for (size_t si = 0; si < sizeof isas / sizeof isas[0]; si++) {
                nbi_kernels k;
                if (!nbi_kernels_for(isas[si], &k)) continue;
                dw_of(k.conv_dw_img, &o, 5, got);
                CHECK_MSG(nbt_same(got, twin, o.nw), "%s geometry %zu NaN in %s: differs from the twin",
                          isas[si], gi, in_dy ? "dy" : "x");
            }
            nb_free(want), nb_free(twin), nb_free(got);
            drop(&o);
        }
}

/* the lowered backward (weight and bias gradients, input gradient, ReLU mask) of set k */
static void backward(const nbi_kernels *k, int nt, const operands *o, int64_t chunk, const float *w,
                     const float *y, float *dx, float *dw, float *db) {
    const nbi_conv_geom *g = &o->g;
    const int64_t room = nbi_conv_scratch(g, nt, 0, 1, 1, NULL, chunk);
    float *scratch = nbt_alloc_f(room);
    for (int64_t i = 0; i < o->nx; i++) dx[i] = 1.0f;
    for (int64_t i = 0; i < o->nw; i++) dw[i] = 1.0f;
    for (int64_t i = 0; i < g->O; i++) db[i] = 1.0f;
    CHECK_OK(nbi_conv_lower_backward(k, nt, g, o->x, o->dy_nchw, y, NBI_CONV_RELU, w, dx, dw, db,
                                     NULL, chunk, scratch, room));
    nb_free(scratch);
}

/* the set's kernel, counting its calls: the lowering takes it only where its workspace fits
 * in the piece's col (conv2d_2-like shapes; not 1x1 or few taps with small pieces) */
static nbi_conv_dw_fn real_dw;
static int64_t dw_calls;
static void counted_dw(const struct nbi_conv_geom *g, const float *x, int64_t nb, const float *dy,
                       int64_t Og, int64_t kblk, float *ws, float *dw) {
    dw_calls++;
    real_dw(g, x, nb, dy, Og, kblk, ws, dw);
}

static void test_lowered_same_bits(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 37);
    for (size_t si = 0; si < sizeof isas / sizeof isas[0]; si++) {
        nbi_kernels with, without;
        if (!nbi_kernels_for(isas[si], &with)) continue;
        without = with;
        without.conv_dw_img = NULL; /* δ · colᵀ through the GEMM */
        real_dw = with.conv_dw_img;
        with.conv_dw_img = counted_dw;
        for (size_t gi = 0; gi < N_GEOMS; gi++) {
            operands o = make(geoms[gi], &rng);
            const int64_t ny = o.g.O * o.ld;
            float *w = nbt_alloc_f(o.nw), *y = nbt_alloc_f(ny);
            nbt_fill(w, o.nw, &rng);
            nbt_fill(y, ny, &rng); /* the ReLU's output: δ masked where y <= 0 */
            float *dx[2] = {nbt_alloc_f(o.nx), nbt_alloc_f(o.nx)}, *dw[2] = {nbt_alloc_f(o.nw), nbt_alloc_f(o.nw)};
            float *db[2] = {nbt_alloc_f(o.g.O), nbt_alloc_f(o.g.O)};
            static const int64_t chunks[] = {1, 3, 0};
            for (int ci = 0; ci < 3; ci++)
                for (int nt = 1; nt <= 2; nt++) {
                    dw_calls = 0;
                    backward(&without, 1, &o, chunks[ci], w, y, dx[0], dw[0], db[0]);
                    backward(&with, nt, &o, chunks[ci], w, y, dx[1], dw[1], db[1]);
                    const char *bad = !nbt_same(dw[0], dw[1], o.nw)    ? "dw"
                                      : !nbt_same(dx[0], dx[1], o.nx)  ? "dx"
                                      : !nbt_same(db[0], db[1], o.g.O) ? "db"
                                                                   : NULL;
                    CHECK_MSG(!bad,
                              "%s geometry %zu chunk %lld, %d threads: %s differs from "
                              "the implicit GEMM's",
                              isas[si], gi, (long long)chunks[ci], nt, bad ? bad : "");
                    /* the two shapes whose default pieces have room for the workspace */
                    if (chunks[ci] == 0 && (gi == 3 || gi == 8))
                        CHECK_MSG(dw_calls > 0, "%s geometry %zu: the kernel was not used",
                                  isas[si], gi);
                }
            for (int v = 0; v < 2; v++) nb_free(dx[v]), nb_free(dw[v]), nb_free(db[v]);
            nb_free(w), nb_free(y);
            drop(&o);
        }
    }
}

static const nbt_case cases[] = {
    {"kernel_vs_twin", test_kernel_vs_twin},
    {"twin_vs_reference", test_twin_vs_reference},
    {"nan", test_nan},
    {"lowered_same_bits", test_lowered_same_bits},
};
NBT_MAIN(cases)
