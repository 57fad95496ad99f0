/* test_fused_kernels — the speed branch's kernels against their scalar twins, on odd sizes:
 *   - the optimizers' fused vector updates (kernels/x86/optim.inc) against
 *     nbi_ref_optim_update, bitwise, for every kind and every combination of its options,
 *     with NaN and ±inf among the gradients, on sizes 0..67 and a few large odd ones at odd
 *     offsets, with canaries past the end of every buffer;
 *   - the step's scan for non-finite gradients against nbi_ref_find_nonfinite, with none,
 *     one or two NaN / ±inf placed everywhere in odd sizes;
 *   - the dense layer's bias rows (bias_rows, acc_rows, through the CPU back end) against the
 *     strided-iterator composition they replace in ops/linear.c, bitwise, on odd shapes. */
#include "nbtest.h"

#include "kernels/backend.h"
#include "kernels/iter.h"

static const char *const simd_isas[] = {"avx2", "avx512"};

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int same_bits(float a, float b) {
    return bits_of(a) == bits_of(b) || (isnan(a) && isnan(b));
}

/* ---- optimizer updates -------------------------------------------------------------------- */

#define OPAD 3   /* odd offset of every buffer */
#define CANARY 5 /* floats checked past the end */
#define CANARY_V 12345.0f

/* The configurations: every kind with every option that changes its loop. */
static int optim_configs(nbi_update *u, int max) {
    int n = 0;
    for (int wd = 0; wd < 2; wd++)
        for (int mu = 0; mu < 2; mu++)
            for (int first = 0; first < 2; first++)
                for (int nes = 0; nes < 2 && n < max; nes++) {
                    if (!mu && (first || nes)) continue;
                    u[n++] = (nbi_update){.kind = NBI_UPDATE_SGD,
                                          .nlr = -0.01f,
                                          .wd = wd ? 0.003f : 0.0f,
                                          .mu = mu ? 0.9f : 0.0f,
                                          .keep = 0.75f,
                                          .nesterov = nes,
                                          .first = first};
                }
    for (int dec = 0; dec < 2; dec++)
        for (int wd = 0; wd < 2; wd++)
            for (int ams = 0; ams < 2 && n < max; ams++)
                u[n++] = (nbi_update){.kind = NBI_UPDATE_ADAM,
                                      .nlr = -0.0013f,
                                      .wd = wd ? 0.01f : 0.0f,
                                      .eps = 1e-8f,
                                      .b1 = 0.9f,
                                      .c1 = 0.1f,
                                      .b2 = 0.999f,
                                      .c2 = 0.001f,
                                      .bc2 = 0.0447f,
                                      .decay = dec && wd ? 0.99999f : 1.0f,
                                      .amsgrad = ams,
                                      .decoupled = dec && wd};
    for (int wd = 0; wd < 2; wd++)
        for (int c = 0; c < 2; c++)
            for (int mu = 0; mu < 2 && n < max; mu++)
                u[n++] = (nbi_update){.kind = NBI_UPDATE_RMSPROP,
                                      .nlr = -0.01f,
                                      .wd = wd ? 0.02f : 0.0f,
                                      .eps = 1e-8f,
                                      .mu = mu ? 0.5f : 0.0f,
                                      .a = 0.99f,
                                      .ca = 0.01f,
                                      .centered = c};
    for (int wd = 0; wd < 2 && n < max; wd++)
        u[n++] = (nbi_update){
            .kind = NBI_UPDATE_ADAGRAD, .nlr = -0.01f, .wd = wd ? 0.02f : 0.0f, .eps = 1e-10f};
    return n;
}

static void test_optim_against_reference(void) {
    static const int64_t big[] = {1000, 1023, 4099};
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    const int64_t cap = 4099 + OPAD + CANARY;
    float *buf[2][5]; /* [ref, simd][p, g, s0, s1, s2] */
    for (int w = 0; w < 2; w++)
        for (int b = 0; b < 5; b++) buf[w][b] = malloc(sizeof(float) * (size_t)cap);
    float *init[5];
    for (int b = 0; b < 5; b++) init[b] = malloc(sizeof(float) * (size_t)cap);
    nbi_update cfg[40];
    const int ncfg = optim_configs(cfg, 40);
    CHECK(ncfg == 10 + 8 + 8 + 2); /* SGD: wd x (plain, or momentum x first x nesterov) */
    int ran = 0;
    for (int si = 0; si < 2; si++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[si]);
        if (!k) continue;
        CHECK(k->optim_update != nbi_ref_optim_update); /* the set has its own */
        for (int c = 0; c < ncfg; c++)
            for (int64_t t = 0; t < 68 + 3; t++) {
                const int64_t n = t < 68 ? t : big[t - 68];
                /* state as after some steps: m any sign, v >= 0, v̂ around v */
                for (int64_t i = 0; i < n; i++) {
                    init[0][i] = 2.0f * nb_rng_uniform(&rng) - 1.0f;
                    init[1][i] = 0.2f * nb_rng_uniform(&rng) - 0.1f;
                    init[2][i] = 0.02f * nb_rng_uniform(&rng) - 0.01f;
                    init[3][i] = 1e-3f * nb_rng_uniform(&rng);
                    init[4][i] = 1e-3f * nb_rng_uniform(&rng);
                }
                if (n > 12) { /* non-finite gradients and states go through as in the reference */
                    init[1][3] = NAN;
                    init[1][5] = INFINITY;
                    init[1][7] = -INFINITY;
                    init[1][8] = -0.0f;
                    init[4][9] = NAN;
                    init[3][11] = 0.0f;
                }
                for (int w = 0; w < 2; w++)
                    for (int b = 0; b < 5; b++) {
                        memcpy(buf[w][b] + OPAD, init[b], sizeof(float) * (size_t)n);
                        for (int q = 0; q < CANARY; q++) buf[w][b][OPAD + n + q] = CANARY_V;
                    }
                float *r[5], *s[5];
                for (int b = 0; b < 5; b++) {
                    r[b] = buf[0][b] + OPAD;
                    s[b] = buf[1][b] + OPAD;
                }
                nbi_ref_optim_update(&cfg[c], n, r[0], r[1], r[2], r[3], r[4]);
                k->optim_update(&cfg[c], n, s[0], s[1], s[2], s[3], s[4]);
                int bad = 0;
                for (int b = 0; b < 5 && !bad; b++) {
                    for (int64_t i = 0; i < n && !bad; i++)
                        if (!same_bits(r[b][i], s[b][i])) {
                            CHECK_MSG(0,
                                      "%s optim kind %d config %d n %lld: buffer %d [%lld] = "
                                      "%.9g, reference %.9g",
                                      simd_isas[si], cfg[c].kind, c, (long long)n, b, (long long)i,
                                      s[b][i], r[b][i]);
                            bad = 1;
                        }
                    for (int q = 0; q < CANARY && !bad; q++)
                        if (s[b][n + q] != CANARY_V) {
                            CHECK_MSG(0, "%s optim config %d n %lld wrote past buffer %d",
                                      simd_isas[si], c, (long long)n, b);
                            bad = 1;
                        }
                }
                ran++;
            }
    }
    if (!ran) printf("  (no vector kernel set on this CPU: nothing to compare)\n");
    for (int w = 0; w < 2; w++)
        for (int b = 0; b < 5; b++) free(buf[w][b]);
    for (int b = 0; b < 5; b++) free(init[b]);
}

/* ---- the scan for non-finite values --------------------------------------------------------- */

static void test_find_nonfinite_against_reference(void) {
    static const float bad[] = {NAN, INFINITY, -INFINITY};
    static const int64_t sizes[] = {0, 1, 7, 8, 15, 17, 127, 128, 129, 255, 256, 257, 1000, 4099};
    const int64_t cap = 4099 + OPAD;
    float *buf = malloc(sizeof(float) * (size_t)cap);
    int ran = 0;
    for (int si = 0; si < 2; si++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[si]);
        if (!k) continue;
        CHECK(k->find_nonfinite != nbi_ref_find_nonfinite);
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            const int64_t n = sizes[z];
            float *x = buf + OPAD;
            for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 13) * 1e30f - 6e30f; /* finite */
            CHECK(k->find_nonfinite(n, x) == -1);
            CHECK(nbi_ref_find_nonfinite(n, x) == -1);
            const int64_t step = n > 300 ? 37 : 1;
            for (int64_t at = 0; at < n; at += step)
                for (int b = 0; b < 3; b++) {
                    x[at] = bad[b];
                    if (at + 5 < n) x[at + 5] = bad[(b + 1) % 3]; /* a later one does not count */
                    const int64_t want = nbi_ref_find_nonfinite(n, x),
                                  got = k->find_nonfinite(n, x);
                    CHECK(want == at);
                    if (got != want) {
                        CHECK_MSG(0, "%s find_nonfinite n %lld: %lld, reference %lld",
                                  simd_isas[si], (long long)n, (long long)got, (long long)want);
                        break;
                    }
                    x[at] = 1.0f;
                    if (at + 5 < n) x[at + 5] = 1.0f;
                }
            ran++;
        }
    }
    if (!ran) printf("  (no vector kernel set on this CPU: nothing to compare)\n");
    free(buf);
}

/* ---- a dense layer's bias rows -----------------------------------------------------------------
 */

static void test_bias_rows_against_iterator(void) {
    /* below 16 columns the kernels take their short-row loops, from 16 the row loops */
    static const int64_t dims[] = {0, 1, 2, 3, 4, 7, 15, 16, 17, 33, 130};
    const nbi_backend *be = nbi_backend_default();
    nb_rng rng;
    nb_rng_seed(&rng, 9);
    for (size_t a = 0; a < sizeof dims / sizeof *dims; a++)
        for (size_t c = 0; c < sizeof dims / sizeof *dims; c++) {
            const int64_t M = dims[a], N = dims[c], mn = M * N;
            float *b = malloc(sizeof(float) * (size_t)(N + 1));
            float *y0 = malloc(sizeof(float) * (size_t)(mn + 1)),
                  *y1 = malloc(sizeof(float) * (size_t)(mn + 1));
            float *g0 = malloc(sizeof(float) * (size_t)(N + 1)),
                  *g1 = malloc(sizeof(float) * (size_t)(N + 1));
            for (int64_t j = 0; j < N; j++) {
                b[j] = 2.0f * nb_rng_uniform(&rng) - 1.0f;
                g0[j] = g1[j] = 0.1f * nb_rng_uniform(&rng);
            }
            for (int64_t i = 0; i <= mn; i++) y0[i] = y1[i] = 1e3f * nb_rng_uniform(&rng) - 500.0f;
            const int64_t shape[2] = {M, N}, sy[2] = {N, 1}, sb[2] = {0, 1};
            const int64_t *st[2] = {sy, sb}, *sa[2] = {sb, sy};
            nbi_iter it;
            nbi_iter_init(&it, 2, shape, 2, st);
            nbi_ref_copy_strided(&it, y0, b);
            be->bias_rows(be, M, N, b, y1);
            CHECK(!memcmp(y0, y1, sizeof(float) * (size_t)(mn + 1))); /* and nothing past */
            nbi_iter_init(&it, 2, shape, 2, sa);
            nbi_ref_acc_strided(&it, g0, y0);
            be->acc_rows(be, M, N, y1, g1);
            for (int64_t j = 0; j < N; j++)
                if (!same_bits(g0[j], g1[j])) {
                    CHECK_MSG(0, "acc_rows %lld x %lld: [%lld] = %.9g, iterator %.9g", (long long)M,
                              (long long)N, (long long)j, g1[j], g0[j]);
                    break;
                }
            free(b);
            free(y0);
            free(y1);
            free(g0);
            free(g1);
        }
}

static const nbt_case cases[] = {
    {"bias_rows_against_iterator", test_bias_rows_against_iterator},
    {"optim_against_reference", test_optim_against_reference},
    {"find_nonfinite_against_reference", test_find_nonfinite_against_reference},
};
NBT_MAIN(cases)
