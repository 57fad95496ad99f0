/* test_qkernels — the int8 kernels of quantized inference (kernels/qgemm.h):
 *   - the requantization and quantization definitions on hand-checked values (ties to even,
 *     clamps, NaN and infinities);
 *   - every product this CPU runs (ref, c, avx2, avxvnni, avx512bw, avx512vnni) against the
 *     scalar reference, bit for bit, on odd sizes (rows 1..13 and 29, columns across every
 *     vector and panel edge, K not a multiple of 4), u8 and f32 output, a fused ReLU, at the
 *     extremes of the operands' ranges (A = 127 with B = −128 and 127: the largest pair sum
 *     vpmaddubsw must not saturate), with canaries around C;
 *   - every quantization kernel against the reference, with NaN, ±inf, ties and huge values;
 *   - the packing, im2col and max pooling against their definitions written out here;
 *   - the back end's entries: the same bits at 1, 2 and 3 threads and on every kernel set. */
#include "nbtest.h"

#include <float.h>

#include "kernels/backend.h"

static uint64_t rnd(nb_rng *r, uint64_t n) {
    return nb_rng_below(r, n);
}

/* ---- the definitions -------------------------------------------------------------------- */

static void test_requant_definition(void) {
    /* t = acc · m exactly representable: ties go to even */
    CHECK(nbi_q_requant(5, 0.5f, 0, 0, 255) == 2);   /* 2.5 → 2 */
    CHECK(nbi_q_requant(7, 0.5f, 0, 0, 255) == 4);   /* 3.5 → 4 */
    CHECK(nbi_q_requant(-5, 0.5f, 10, 0, 255) == 8); /* −2.5 → −2, + 10 */
    CHECK(nbi_q_requant(-7, 0.5f, 10, 0, 255) == 6); /* −3.5 → −4, + 10 */
    CHECK(nbi_q_requant(3, 0.25f, 0, 0, 255) == 1);  /* 0.75 → 1 */
    /* clamps: to [lo, hi] around the zero point; a ReLU is lo = zero */
    CHECK(nbi_q_requant(1000000, 1.0f, 3, 0, 127) == 127);
    CHECK(nbi_q_requant(-1000000, 1.0f, 3, 0, 127) == 0);
    CHECK(nbi_q_requant(-1000000, 1.0f, 3, 3, 127) == 3);
    CHECK(nbi_q_requant(INT32_MAX, 3.0e38f, 0, 0, 255) == 255); /* t = inf: clamped */
    CHECK(nbi_q_requant(INT32_MIN, 3.0e38f, 0, 0, 255) == 0);
    /* (float)acc rounds to nearest even above 2^24: 16777217 → 16777216 */
    CHECK(nbi_q_requant(16777217, 1.0f / 16777216.0f, 0, 0, 255) == 1);
    /* the quantization of inputs */
    CHECK(nbi_q_quantize1(0.5f, 1.0f, 0, 0, 127) == 0);
    CHECK(nbi_q_quantize1(1.5f, 1.0f, 0, 0, 127) == 2);
    CHECK(nbi_q_quantize1(-1.5f, 1.0f, 64, 0, 127) == 62);
    CHECK(nbi_q_quantize1(NAN, 1.0f, 64, 0, 127) == 0);
    CHECK(nbi_q_quantize1(INFINITY, 1.0f, 64, 0, 127) == 127);
    CHECK(nbi_q_quantize1(-INFINITY, 1.0f, 64, 0, 127) == 0);
    CHECK(nbi_q_quantize1(1e30f, 1e10f, 0, 0, 127) == 127);
    for (int i = -300; i <= 300; i++) { /* rne against the definition, on halves */
        float t = (float)i * 0.5f;
        float want = (float)floor(t + 0.5);
        if (want - t == 0.5f && fmodf(want, 2.0f) != 0.0f) want -= 1.0f; /* tie: even */
        CHECK_MSG(nbi_q_rne(t) == want, "rne(%g) = %g, expected %g", (double)t,
                  (double)nbi_q_rne(t), (double)want);
    }
}

/* ---- the product ------------------------------------------------------------------------- */

typedef struct problem {
    int64_t M, N, K, K4, lda, ldc;
    uint8_t *A;
    int8_t *W, *Bp; /* W [N, K], packed Bp */
    int32_t *bias;
    float *m;
    nbi_qepi e;
} problem;

enum { FILL_RANDOM, FILL_MAX_NEG, FILL_MAX_POS };

static problem make_problem(int64_t M, int64_t N, int64_t K, int fill, int out_f32, int relu,
                            nb_rng *r) {
    problem p;
    memset(&p, 0, sizeof p);
    p.M = M;
    p.N = N;
    p.K = K;
    p.K4 = nbi_q_k4(K);
    p.lda = p.K4 + 4 * (int64_t)rnd(r, 3); /* padded rows too */
    p.ldc = N + (int64_t)rnd(r, 5);
    p.A = malloc((size_t)(M * p.lda + 1));
    p.W = malloc((size_t)(N * K));
    p.Bp = malloc((size_t)nbi_q_packed_bytes(K, N));
    p.bias = malloc(sizeof(int32_t) * (size_t)N);
    p.m = malloc(sizeof(float) * (size_t)N);
    for (int64_t i = 0; i < M * p.lda; i++)
        p.A[i] = fill == FILL_RANDOM ? (uint8_t)rnd(r, 128) : 127;
    for (int64_t i = 0; i < M; i++) /* the bytes past K meet zero weights: any value */
        for (int64_t k = K; k < p.lda; k++) p.A[i * p.lda + k] = (uint8_t)rnd(r, 128);
    for (int64_t i = 0; i < N * K; i++)
        p.W[i] = fill == FILL_MAX_NEG   ? -128
                 : fill == FILL_MAX_POS ? 127
                                        : (int8_t)((int)rnd(r, 256) - 128);
    nbi_q_pack(K, N, p.W, K, p.Bp);
    for (int64_t j = 0; j < N; j++) {
        int64_t b = (int64_t)rnd(r, 2 * (uint64_t)NBI_Q_MAX_BIAS + 1) - NBI_Q_MAX_BIAS;
        p.bias[j] = fill == FILL_RANDOM ? (int32_t)(b / (1 << (int)rnd(r, 30))) : (int32_t)b;
        /* multipliers from 2^-20 to 2^-4: outputs spread over the u8 range and past it */
        p.m[j] = ldexpf(1.0f + (float)rnd(r, 1000) / 1000.0f, -4 - (int)rnd(r, 17));
    }
    int32_t zero = (int32_t)rnd(r, 128);
    p.e = (nbi_qepi){.bias = p.bias,
                     .m = p.m,
                     .zero = zero,
                     .lo = relu ? zero : 0,
                     .hi = 127,
                     .out_f32 = out_f32};
    if (!relu && rnd(r, 2)) p.e.hi = 255; /* the whole byte range */
    return p;
}

static void free_problem(problem *p) {
    free(p->A);
    free(p->W);
    free(p->Bp);
    free(p->bias);
    free(p->m);
}

#define CANARY 16

/* Runs fn into a fresh C with canaries before and after and in the row padding; returns
 * the buffer (CANARY bytes of 0xA5 on each side), or NULL if a canary was touched. */
static unsigned char *run_into(nbi_qgemm_fn fn, const problem *p, const char *who) {
    size_t es = p->e.out_f32 ? 4 : 1;
    size_t bytes = (size_t)(p->M * p->ldc) * es;
    unsigned char *buf = malloc(bytes + 2 * CANARY);
    memset(buf, 0xA5, bytes + 2 * CANARY);
    fn(p->M, p->N, p->K4, p->A, p->lda, p->Bp, &p->e, buf + CANARY, p->ldc);
    bool ok = true;
    for (size_t i = 0; i < CANARY; i++)
        ok = ok && buf[i] == 0xA5 && buf[CANARY + bytes + i] == 0xA5;
    for (int64_t i = 0; i < p->M; i++)
        for (size_t b = (size_t)p->N * es; b < (size_t)p->ldc * es; b++)
            ok = ok && buf[CANARY + (size_t)i * (size_t)p->ldc * es + b] == 0xA5;
    CHECK_MSG(ok, "%s wrote outside C (M %lld, N %lld, K %lld)", who, (long long)p->M,
              (long long)p->N, (long long)p->K);
    return buf;
}

static void compare_all(const problem *p, const char *what) {
    const nbi_qgemm_impl *impl;
    int n = nbi_qgemm_impls(&impl);
    unsigned char *want = run_into(nbi_qgemm_ref, p, "ref");
    size_t bytes = (size_t)(p->M * p->ldc) * (p->e.out_f32 ? 4 : 1);
    for (int i = 0; i < n; i++) {
        unsigned char *got = run_into(impl[i].fn, p, impl[i].name);
        CHECK_MSG(memcmp(got, want, bytes + 2 * CANARY) == 0,
                  "%s: %s differs from ref (M %lld, N %lld, K %lld, %s output, zero %d, [%d, %d])",
                  what, impl[i].name, (long long)p->M, (long long)p->N, (long long)p->K,
                  p->e.out_f32 ? "f32" : "u8", (int)p->e.zero, (int)p->e.lo, (int)p->e.hi);
        free(got);
    }
    free(want);
}

static void test_products_against_reference(void) {
    const nbi_qgemm_impl *impl;
    int n = nbi_qgemm_impls(&impl);
    CHECK(n >= 2 && !strcmp(impl[0].name, "ref") && !strcmp(impl[1].name, "c"));
    for (int i = 0; i < n; i++) printf("# int8 product: %s\n", impl[i].name);
    nb_rng r;
    nb_rng_seed(&r, 7);
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 13, 29};
    static const int64_t Ns[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 130};
    static const int64_t Ks[] = {1, 3, 4, 5, 17, 64, 101, 785};
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++) {
            int64_t K = Ks[(a * 3 + b) % (sizeof Ks / sizeof *Ks)];
            for (int variant = 0; variant < 3; variant++) {
                problem p =
                    make_problem(Ms[a], Ns[b], K, FILL_RANDOM, variant == 2, variant == 1, &r);
                compare_all(&p, "random");
                free_problem(&p);
            }
        }
    /* the extremes of the operands: A = 127 against B = −128 or 127, the longest K */
    for (int fill = FILL_MAX_NEG; fill <= FILL_MAX_POS; fill++)
        for (int out = 0; out < 2; out++) {
            problem p = make_problem(5, 37, NBI_Q_MAX_K, fill, out, 0, &r);
            compare_all(&p, fill == FILL_MAX_NEG ? "A = 127, B = -128" : "A = 127, B = 127");
            /* and the exact sum is what the reference gives (f32: checked through its bits) */
            if (out) {
                float y;
                nbi_qgemm_ref(1, 1, p.K4, p.A, p.lda, p.Bp, &p.e, &y, 1);
                int64_t exact =
                    p.bias[0] + (int64_t)127 * (fill == FILL_MAX_NEG ? -128 : 127) * p.K;
                CHECK(y == (float)(int32_t)exact * p.m[0]);
            }
            free_problem(&p);
        }
}

/* ---- quantization ------------------------------------------------------------------------- */

static void test_quantize_against_reference(void) {
    const nbi_quantize_impl *impl;
    int n = nbi_quantize_impls(&impl);
    CHECK(n >= 1 && !strcmp(impl[0].name, "ref"));
    nb_rng r;
    nb_rng_seed(&r, 11);
    static const int64_t sizes[] = {0, 1, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1025};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int64_t len = sizes[s];
        float *x = malloc(sizeof(float) * (size_t)(len + 1));
        for (int64_t i = 0; i < len; i++) {
            int kind = (int)rnd(&r, 10);
            x[i] = kind == 0   ? (float)((int)rnd(&r, 300) - 150) * 0.5f /* ties */
                   : kind == 1 ? ((int)rnd(&r, 2) ? 1e30f : -1e30f)
                   : kind == 2 ? FLT_MIN * (float)rnd(&r, 5)
                               : nb_rng_normal(&r, 0.0f, 40.0f);
        }
        for (int bad = 0; bad < 4; bad++) {
            if (bad && len == 0) continue;
            int64_t at = bad ? (int64_t)rnd(&r, (uint64_t)len) : -1;
            float keep = at >= 0 ? x[at] : 0.0f;
            if (at >= 0) x[at] = bad == 1 ? NAN : bad == 2 ? INFINITY : -INFINITY;
            int32_t zero = (int32_t)rnd(&r, 128);
            float inv = 1.0f / (0.05f + (float)rnd(&r, 100) / 100.0f);
            uint8_t *want = malloc((size_t)len + CANARY), *got = malloc((size_t)len + CANARY);
            memset(want, 0xA5, (size_t)len + CANARY);
            int64_t wb = nbi_quantize_ref(len, x, inv, zero, 0, 127, want);
            CHECK(wb == at);
            for (int i = 0; i < n; i++) {
                memset(got, 0xA5, (size_t)len + CANARY);
                int64_t gb = impl[i].fn(len, x, inv, zero, 0, 127, got);
                CHECK_MSG(gb == wb, "%s reports bad index %lld, expected %lld (n %lld)",
                          impl[i].name, (long long)gb, (long long)wb, (long long)len);
                CHECK_MSG(memcmp(got, want, (size_t)len + CANARY) == 0,
                          "%s differs from ref on %lld values", impl[i].name, (long long)len);
            }
            free(want);
            free(got);
            if (at >= 0) x[at] = keep;
        }
        free(x);
    }
}

/* ---- packing and feature maps --------------------------------------------------------------- */

static void test_pack_layout(void) {
    nb_rng r;
    nb_rng_seed(&r, 3);
    const int64_t K = 7, N = 19, K4 = nbi_q_k4(K);
    int8_t W[19 * 7], Bp[8 * 32];
    for (int i = 0; i < N * K; i++) W[i] = (int8_t)((int)rnd(&r, 256) - 128);
    CHECK(nbi_q_packed_bytes(K, N) == (int64_t)sizeof Bp);
    memset(Bp, 0x55, sizeof Bp);
    nbi_q_pack(K, N, W, K, Bp);
    int64_t nonpad = 0;
    for (int64_t j = 0; j < 32; j++)
        for (int64_t k = 0; k < K4; k++) {
            int8_t v = Bp[nbi_q_packed_at(K4, k, j)];
            if (j < N && k < K) {
                CHECK(v == W[j * K + k]);
                nonpad++;
            } else {
                CHECK(v == 0);
            }
        }
    CHECK(nonpad == N * K);
    /* the formula: panel, group, lane, byte */
    CHECK(nbi_q_packed_at(8, 5, 17) == 1 * 8 * 16 + 1 * 64 + 1 * 4 + 1);
}

static void test_im2col_maxpool(void) {
    nb_rng r;
    nb_rng_seed(&r, 5);
    for (int rep = 0; rep < 40; rep++) {
        nbi_q_geom g;
        memset(&g, 0, sizeof g);
        g.C = 1 + (int64_t)rnd(&r, 5);
        g.H = 3 + (int64_t)rnd(&r, 6);
        g.W = 3 + (int64_t)rnd(&r, 6);
        g.KH = 1 + (int64_t)rnd(&r, 3);
        g.KW = 1 + (int64_t)rnd(&r, 3);
        g.sh = 1 + (int64_t)rnd(&r, 2);
        g.sw = 1 + (int64_t)rnd(&r, 2);
        g.dh = 1 + (int64_t)rnd(&r, 2);
        g.dw = 1 + (int64_t)rnd(&r, 2);
        g.pt = (int64_t)rnd(&r, 2);
        g.pb = (int64_t)rnd(&r, 2);
        g.pl = (int64_t)rnd(&r, 2);
        g.pr = (int64_t)rnd(&r, 2);
        int64_t eh = g.dh * (g.KH - 1) + 1, ew = g.dw * (g.KW - 1) + 1;
        if (eh > g.H + g.pt + g.pb || ew > g.W + g.pl + g.pr) continue;
        g.OH = (g.H + g.pt + g.pb - eh) / g.sh + 1;
        g.OW = (g.W + g.pl + g.pr - ew) / g.sw + 1;
        int64_t K = g.KH * g.KW * g.C, K4 = nbi_q_k4(K), P = g.OH * g.OW;
        uint8_t *x = malloc((size_t)(g.H * g.W * g.C));
        for (int64_t i = 0; i < g.H * g.W * g.C; i++) x[i] = (uint8_t)rnd(&r, 128);
        uint8_t *col = malloc((size_t)(P * K4)), *y = malloc((size_t)(P * g.C));
        uint8_t pad = (uint8_t)rnd(&r, 128);
        nbi_q_im2col(&g, x, pad, K4, col);
        nbi_q_maxpool(&g, x, y);
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++)
                for (int64_t c = 0; c < g.C; c++) {
                    int best = -1;
                    for (int64_t kh = 0; kh < g.KH; kh++)
                        for (int64_t kw = 0; kw < g.KW; kw++) {
                            int64_t ih = oh * g.sh + kh * g.dh - g.pt;
                            int64_t iw = ow * g.sw + kw * g.dw - g.pl;
                            bool in = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
                            int v = in ? x[(ih * g.W + iw) * g.C + c] : pad;
                            CHECK(col[(oh * g.OW + ow) * K4 + (kh * g.KW + kw) * g.C + c] == v);
                            if (in && v > best) best = v;
                        }
                    CHECK(y[(oh * g.OW + ow) * g.C + c] == (best < 0 ? 0 : best));
                }
        for (int64_t p = 0; p < P; p++)
            for (int64_t k = K; k < K4; k++) CHECK(col[p * K4 + k] == 0);
        free(x);
        free(col);
        free(y);
    }
}

/* ---- the back end --------------------------------------------------------------------------- */

static void test_backend_entries(void) {
    nb_rng r;
    nb_rng_seed(&r, 13);
    int saved = nb_get_threads();
    static const char *const devices[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512"};
    /* a tall product (split by rows), a short wide one (split by columns), a big input */
    problem tall = make_problem(301, 70, 200, FILL_RANDOM, 0, 1, &r);
    problem wide = make_problem(3, 700, 900, FILL_RANDOM, 1, 0, &r);
    const int64_t nx = 200003;
    float *x = malloc(sizeof(float) * (size_t)nx);
    for (int64_t i = 0; i < nx; i++) x[i] = nb_rng_normal(&r, 0.0f, 3.0f);
    x[150001] = NAN;
    x[190000] = INFINITY;
    size_t bt = (size_t)(tall.M * tall.ldc), bw = (size_t)(wide.M * wide.ldc) * 4;
    uint8_t *t0 = calloc(bt, 1), *t1 = calloc(bt, 1), *q0 = malloc((size_t)nx),
            *q1 = malloc((size_t)nx);
    unsigned char *w0 = calloc(bw, 1), *w1 = calloc(bw, 1);
    nbi_qgemm_ref(tall.M, tall.N, tall.K4, tall.A, tall.lda, tall.Bp, &tall.e, t0, tall.ldc);
    nbi_qgemm_ref(wide.M, wide.N, wide.K4, wide.A, wide.lda, wide.Bp, &wide.e, w0, wide.ldc);
    CHECK(nbi_quantize_ref(nx, x, 0.7f, 20, 0, 127, q0) == 150001);
    for (int nt = 1; nt <= 3; nt++) {
        CHECK_OK(nb_set_threads(nt));
        for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
            nbi_backend be;
            if (nbi_backend_init(&be, devices[d], 0, "test") != NB_OK) continue;
            memset(t1, 0, bt);
            memset(w1, 0, bw);
            be.qgemm(&be, tall.M, tall.N, tall.K4, tall.A, tall.lda, tall.Bp, &tall.e, t1,
                     tall.ldc);
            be.qgemm(&be, wide.M, wide.N, wide.K4, wide.A, wide.lda, wide.Bp, &wide.e, w1,
                     wide.ldc);
            CHECK_MSG(memcmp(t0, t1, bt) == 0, "%s at %d threads: the tall product differs",
                      devices[d], nt);
            CHECK_MSG(memcmp(w0, w1, bw) == 0, "%s at %d threads: the wide product differs",
                      devices[d], nt);
            CHECK(be.quantize(&be, nx, x, 0.7f, 20, 0, 127, q1) == 150001);
            CHECK_MSG(memcmp(q0, q1, (size_t)nx) == 0, "%s at %d threads: quantize differs",
                      devices[d], nt);
            if (nt == 1) printf("# %s: int8 product %s\n", devices[d], be.k->qgemm_isa);
        }
    }
    /* im2col and pooling of a batch, split by samples */
    nbi_q_geom g = {.C = 8,
                    .H = 12,
                    .W = 12,
                    .KH = 3,
                    .KW = 3,
                    .sh = 1,
                    .sw = 1,
                    .dh = 1,
                    .dw = 1,
                    .pt = 1,
                    .pb = 1,
                    .pl = 1,
                    .pr = 1,
                    .OH = 12,
                    .OW = 12};
    const int64_t ns = 37, xs = 12 * 12 * 8, K4 = nbi_q_k4(72), cs = 144 * K4;
    uint8_t *maps = malloc((size_t)(ns * xs)), *c0 = malloc((size_t)(ns * cs)),
            *c1 = malloc((size_t)(ns * cs));
    for (int64_t i = 0; i < ns * xs; i++) maps[i] = (uint8_t)rnd(&r, 128);
    for (int64_t i = 0; i < ns; i++) nbi_q_im2col(&g, maps + i * xs, 9, K4, c0 + i * cs);
    for (int nt = 1; nt <= 3; nt++) {
        CHECK_OK(nb_set_threads(nt));
        const nbi_backend *be = nbi_backend_default();
        memset(c1, 0, (size_t)(ns * cs));
        be->q_im2col(be, &g, ns, maps, xs, 9, K4, c1, cs);
        CHECK(memcmp(c0, c1, (size_t)(ns * cs)) == 0);
        nbi_q_geom pg = {.C = 8,
                         .H = 12,
                         .W = 12,
                         .KH = 2,
                         .KW = 2,
                         .sh = 2,
                         .sw = 2,
                         .dh = 1,
                         .dw = 1,
                         .OH = 6,
                         .OW = 6};
        be->q_maxpool(be, &pg, ns, maps, xs, c1, 6 * 6 * 8);
        for (int64_t i = 0; i < ns; i++) nbi_q_maxpool(&pg, maps + i * xs, c0 + i * 288);
        CHECK(memcmp(c0, c1, (size_t)(ns * 288)) == 0);
        for (int64_t i = 0; i < ns; i++) nbi_q_im2col(&g, maps + i * xs, 9, K4, c0 + i * cs);
    }
    CHECK_OK(nb_set_threads(saved));
    free(maps);
    free(c0);
    free(c1);
    free(t0);
    free(t1);
    free(w0);
    free(w1);
    free(q0);
    free(q1);
    free(x);
    free_problem(&tall);
    free_problem(&wide);
}

static const nbt_case cases[] = {
    {"requant_definition", test_requant_definition},
    {"products_against_reference", test_products_against_reference},
    {"quantize_against_reference", test_quantize_against_reference},
    {"pack_layout", test_pack_layout},
    {"im2col_maxpool", test_im2col_maxpool},
    {"backend_entries", test_backend_entries},
};
NBT_MAIN(cases)
