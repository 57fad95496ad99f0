/* test_kernels — the vectorised elementwise kernels (AVX2, AVX-512: whichever this CPU runs)
 * against their scalar twins in kernels/ref/:
 *   - exp, sigmoid and tanh over dense sweeps of the float line (every float in exp's
 *     underflow range), NaN, ±inf, ±0, overflow and underflow, in ulps from expf/tanhf;
 *   - every unary forward and backward kernel of nabla/ops.def on odd sizes (0, 1, 7, 15,
 *     16, 17, 33, 257, 1000, 1025) at odd offsets, with NaN, ±inf and ±0 among the inputs,
 *     bitwise where the set says the formula is IEEE arithmetic only (unary_ulp 0), and
 *     within the set's ulps where it calls exp/tanh; no write past the end;
 *   - the binary kernels for every stride pattern (1,1), (1,0), (0,1), (0,0) and general;
 *   - row-wise softmax / log-softmax, including -inf, huge values and NaN;
 *   - the CPU back end's thread-splitting entries: the same bits at 1, 2 and 3 threads,
 *     whether the pool's size or the back end's budget limits them;
 *   - binary16 ⇄ binary32 (F16C) against the scalar twins, bit for bit: every half, and
 *     floats of every kind, on odd lengths;
 *   - dropout against its scalar twin, bit for bit, on odd lengths, every p kind, written and
 *     accumulated. */
#include "nbtest.h"

#include <float.h>

#include "base/half.h"
#include "kernels/backend.h"

static const char *const simd_isas[] = {"avx2", "avx512"};

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Distance in units in the last place (the number of floats between a and b); 0 for two
 * NaNs, huge for a NaN and a number. */
static int64_t ulp_diff(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    int64_t ia = (int64_t)bits_of(a), ib = (int64_t)bits_of(b);
    if (ia & 0x80000000) ia = 0x80000000 - ia; /* map to a monotone integer line */
    if (ib & 0x80000000) ib = 0x80000000 - ib;
    return ia > ib ? ia - ib : ib - ia;
}

/* ---- vector math sweeps ------------------------------------------------------------------- */

typedef float (*scalar_fn)(float);
static float sigmoid_ref(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Runs kernel `fn` (a forward unary kernel) over xs and returns the worst ulp distance to
 * ref; reports the first few offenders above max_ulp. */
static int64_t sweep(const char *isa, const char *what, nbi_unary_fn fn, scalar_fn ref,
                     const float *xs, int64_t n, float *ys, int64_t max_ulp) {
    fn(n, xs, ys, NULL);
    int64_t worst = 0;
    int shown = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t d = ulp_diff(ys[i], ref(xs[i]));
        if (d > worst) worst = d;
        if (d > max_ulp && shown++ < 3)
            CHECK_MSG(0, "%s %s(%.9g) = %.9g, expected %.9g (%lld ulp)", isa, what, xs[i], ys[i],
                      ref(xs[i]), (long long)d);
    }
    return worst;
}

static void test_exp_sigmoid_tanh_sweeps(void) {
    /* every 509th bit pattern (all exponents, both signs), every float in [-104, -87] where
     * exp underflows gradually, a band around the overflow threshold, and specials */
    const int64_t cap = (1LL << 32) / 509 + (1 << 22) + 4096 + 16;
    float *xs = malloc((size_t)cap * sizeof *xs), *ys = malloc((size_t)cap * sizeof *ys);
    int64_t n = 0;
    for (uint64_t u = 0; u < (1ULL << 32); u += 509) xs[n++] = float_of((uint32_t)u);
    for (uint32_t u = bits_of(-87.0f); u <= bits_of(-104.0f); u += 1) xs[n++] = float_of(u);
    for (int i = -2048; i < 2048; i++) xs[n++] = float_of((uint32_t)((int64_t)bits_of(88.7228f) + i));
    const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, -1e-45f,
                              FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, 88.72283935546875f,
                              88.72284698486328f, -103.97208f, -87.33654f};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) xs[n++] = specials[i];
    CHECK(n <= cap);
    for (size_t is = 0; is < 2; is++) {
        nbi_kernels k;
        if (!nbi_kernels_for(simd_isas[is], &k)) continue;
        int64_t we = sweep(k.isa, "exp", k.unary[NBI_U_EXP], expf, xs, n, ys, 1);
        int64_t ws = sweep(k.isa, "sigmoid", k.unary[NBI_U_SIGMOID], sigmoid_ref, xs, n, ys, 4);
        int64_t wt = sweep(k.isa, "tanh", k.unary[NBI_U_TANH], tanhf, xs, n, ys, 3);
        printf("  %s over %lld values: exp %lld ulp, sigmoid %lld ulp, tanh %lld ulp\n", k.isa,
               (long long)n, (long long)we, (long long)ws, (long long)wt);
    }
    free(xs);
    free(ys);
}

/* ---- unary kernels against their reference twins ------------------------------------------ */

/* Every unary kernel of nabla/ops.def, on inputs spread over eight times its gradient-check
 * domain (so well past the kinks and into the saturated ranges), with the parameters the
 * check uses. */
typedef struct unary_case {
    const char *name;
    float lo, hi;
    float p[2];
} unary_case;

#define UNPACK(...) __VA_ARGS__
#define CASE(ID, NM, ...) CASE_(ID, NM, __VA_ARGS__)
#define CASE_(ID, NM, LO, HI, NK, K0, K1, A0, A1)                                           \
    [NBI_U_##ID] = {#NM, 0.5f * ((LO) + (HI)) - 4.0f * ((HI) - (LO)),                        \
                    0.5f * ((LO) + (HI)) + 4.0f * ((HI) - (LO)), {A0, A1}},
static const unary_case unary_cases[NBI_U_COUNT] = {
#define NB_UNARY(ID, NM, NP, CHECK) CASE(ID, NM, UNPACK CHECK)
#include "nabla/ops.def"
};

static const int64_t sizes[] = {0, 1, 7, 15, 16, 17, 33, 257, 1000, 1025};
#define PAD 24 /* canary floats around each array */
#define CANARY 12345.678f

/* a == b bitwise (NaN payloads aside), or within max_ulp of b, or — for sums that cancel —
 * within max_ulp ulps of the magnitude `scale` */
static int close_enough(float a, float b, int exact, int64_t max_ulp, float scale) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (exact) return bits_of(a) == bits_of(b);
    if (ulp_diff(a, b) <= max_ulp) return 1;
    return fabsf(a - b) <= (float)max_ulp * 0x1p-23f * scale;
}

static void fill(float *v, int64_t n, float lo, float hi, nb_rng *rng, int specials) {
    for (int64_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * nb_rng_uniform(rng);
    if (specials && n > 8) { /* the kinks and the values that trip careless vector code */
        v[0] = 0.0f;
        v[1] = -0.0f;
        v[2] = NAN;
        v[3] = INFINITY;
        v[4] = -INFINITY;
    }
}

static void test_unary_against_reference(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 21);
    float *buf = malloc(6 * (1025 + 2 * PAD + 4) * sizeof *buf);
    for (size_t is = 0; is < 2; is++) {
        nbi_kernels k;
        if (!nbi_kernels_for(simd_isas[is], &k)) continue;
        for (int id = 0; id < NBI_U_COUNT; id++) {
            const unary_case *uc = &unary_cases[id];
            const int exact = k.unary_ulp[id] == 0, ulp = k.unary_ulp[id] ? k.unary_ulp[id] : 1;
            int bad = 0;
            CHECK_MSG(k.unary[id] && k.unary_bwd[id], "%s: %s has no kernel", k.isa, uc->name);
            if (!k.unary[id] || !k.unary_bwd[id]) continue;
            for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
                int64_t n = sizes[si], off = (int64_t)(si % 4), stride = n + 2 * PAD + 4;
                float *x = buf + PAD + off, *y = x + stride, *yr = y + stride;
                float *gy = yr + stride, *gx = gy + stride, *gxr = gx + stride;
                for (int64_t i = -PAD; i < n + PAD; i++) y[i] = gx[i] = CANARY;
                fill(x, n, uc->lo, uc->hi, &rng, 1);
                fill(gy, n, -1.0f, 1.0f, &rng, 0);
                fill(gxr, n, -1.0f, 1.0f, &rng, 0);
                memcpy(gx, gxr, (size_t)n * sizeof *gx);
                k.unary[id](n, x, y, uc->p);
                nbi_ref_unary[id](n, x, yr, uc->p);
                /* gelu_tanh's 1 + tanh(u) cancels for negative x: judge it by |x| */
                for (int64_t i = 0; i < n; i++)
                    if (!close_enough(y[i], yr[i], exact, ulp, fabsf(yr[i]) + fabsf(x[i])) &&
                        bad++ < 3)
                        CHECK_MSG(0, "%s %s n=%lld: y[%lld] = %.9g, reference %.9g (x %.9g)",
                                  k.isa, uc->name, (long long)n, (long long)i, y[i], yr[i], x[i]);
                /* backward from the reference output, so only the derivative differs */
                k.unary_bwd[id](n, x, yr, gy, gx, uc->p);
                nbi_ref_unary_bwd[id](n, x, yr, gy, gxr, uc->p);
                for (int64_t i = 0; i < n; i++) {
                    float scale = fabsf(gxr[i]) + 4.0f * fabsf(gy[i]);
                    if (!close_enough(gx[i], gxr[i], exact, 2 * ulp, scale) && bad++ < 3)
                        CHECK_MSG(0, "%s %s backward n=%lld: gx[%lld] = %.9g, reference %.9g (x %.9g)",
                                  k.isa, uc->name, (long long)n, (long long)i, gx[i], gxr[i], x[i]);
                }
                for (int64_t i = -PAD; i < 0; i++)
                    if ((y[i] != CANARY || gx[i] != CANARY) && bad++ < 3)
                        CHECK_MSG(0, "%s %s n=%lld wrote before the start", k.isa, uc->name,
                                  (long long)n);
                for (int64_t i = n; i < n + PAD; i++)
                    if ((y[i] != CANARY || gx[i] != CANARY) && bad++ < 3)
                        CHECK_MSG(0, "%s %s n=%lld wrote past the end", k.isa, uc->name,
                                  (long long)n);
            }
        }
    }
    free(buf);
}

/* ---- binary kernels ----------------------------------------------------------------------- */

static void test_binary_strides(void) {
    static const int64_t strides[][2] = {{1, 1}, {1, 0}, {0, 1}, {0, 0}, {2, 1}, {1, 3}, {3, 0}};
    nb_rng rng;
    nb_rng_seed(&rng, 22);
    float *a = malloc(3 * 1100 * sizeof *a), *b = malloc(3 * 1100 * sizeof *b);
    float *y = malloc((1100 + PAD) * sizeof *y), *yr = malloc(1100 * sizeof *yr);
    fill(a, 3 * 1100, -4.0f, 4.0f, &rng, 1);
    fill(b, 3 * 1100, -4.0f, 4.0f, &rng, 1);
    b[7] = 0.0f; /* division by zero: ±inf or NaN, as the reference */
    for (size_t is = 0; is < 2; is++) {
        nbi_kernels k;
        if (!nbi_kernels_for(simd_isas[is], &k)) continue;
        for (int op = 0; op < NBI_B_COUNT; op++)
            for (size_t s = 0; s < sizeof strides / sizeof *strides; s++)
                for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
                    int64_t n = sizes[si], sa = strides[s][0], sb = strides[s][1];
                    for (int64_t i = 0; i < n + PAD; i++) y[i] = CANARY;
                    k.binary[op](n, a + 1, sa, b + 2, sb, y);
                    nbi_ref_binary[op](n, a + 1, sa, b + 2, sb, yr);
                    int ok = 1;
                    for (int64_t i = 0; i < n; i++) ok &= close_enough(y[i], yr[i], op != NBI_B_POW, 0, 0);
                    for (int64_t i = n; i < n + PAD; i++) ok &= y[i] == CANARY;
                    CHECK_MSG(ok, "%s binary op %d strides (%lld,%lld) n=%lld differs", k.isa, op,
                              (long long)sa, (long long)sb, (long long)n);
                }
    }
    free(a);
    free(b);
    free(y);
    free(yr);
}

/* ---- softmax ------------------------------------------------------------------------------ */

static void test_softmax_rows(void) {
    static const int64_t cols_list[] = {1, 7, 16, 17, 33, 257, 1000};
    nb_rng rng;
    nb_rng_seed(&rng, 23);
    for (size_t is = 0; is < 2; is++) {
        nbi_kernels k;
        if (!nbi_kernels_for(simd_isas[is], &k)) continue;
        for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++) {
            int64_t cols = cols_list[ci], rows = 5, n = rows * cols;
            float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)(n + PAD) * sizeof *y);
            float *yr = malloc((size_t)n * sizeof *yr);
            fill(x, n, -20.0f, 20.0f, &rng, 0);
            if (cols >= 7) {
                x[cols + 3] = -INFINITY; /* row 1: a zero probability */
                x[2 * cols + 1] = 1e30f;  /* row 2: huge, must not overflow */
                x[3 * cols + 2] = NAN;    /* row 3: NaN spreads over the row */
            }
            for (int lg = 0; lg < 2; lg++) {
                for (int64_t i = 0; i < n + PAD; i++) y[i] = CANARY;
                (lg ? k.log_softmax : k.softmax)(rows, cols, x, y);
                (lg ? nbi_ref_log_softmax : nbi_ref_softmax)(rows, cols, x, yr);
                int bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    float tol = lg ? 4e-6f * (1.0f + fabsf(yr[i])) : 4e-6f * fabsf(yr[i]) + 1e-30f;
                    int ok = (isnan(y[i]) && isnan(yr[i])) || y[i] == yr[i] ||
                             fabsf(y[i] - yr[i]) <= tol;
                    if (!ok && bad++ < 3)
                        CHECK_MSG(0, "%s %s cols=%lld: y[%lld] = %.9g, reference %.9g", k.isa,
                                  lg ? "log_softmax" : "softmax", (long long)cols, (long long)i,
                                  y[i], yr[i]);
                }
                for (int64_t i = n; i < n + PAD; i++)
                    if (y[i] != CANARY && bad++ < 3) CHECK_MSG(0, "%s softmax wrote past the end", k.isa);
                if (!lg) { /* rows without NaN sum to 1 */
                    for (int64_t r = 0; r < rows; r++) {
                        double s = 0.0;
                        for (int64_t j = 0; j < cols; j++) s += y[r * cols + j];
                        if (!isnan(s)) CHECK_CLOSE(s, 1.0, 1e-5, 0.0);
                    }
                }
            }
            free(x);
            free(y);
            free(yr);
        }
    }
}

/* ---- the thread-splitting fronts ---------------------------------------------------------- */

/* Runs four back-end entries into out[0..3]. */
static void run_fronts(const nbi_backend *be, const float *x, const float *b, int64_t n,
                       int64_t rows, int64_t cols, const float *y_tanh, float *const out[4]) {
    be->unary(be, NBI_U_TANH, n, x, out[0], NULL);
    for (int64_t i = 0; i < n; i++) out[1][i] = 0.5f;
    be->unary_bwd(be, NBI_U_TANH, n, x, y_tanh, b, out[1], NULL);
    be->binary(be, NBI_B_MUL, n, x, 1, b, 1, out[2]);
    be->softmax(be, rows, cols, x, out[3]);
}

static void test_parallel_fronts(void) {
    const int64_t n = 300007, rows = 299, cols = 1001; /* rows * cols <= n */
    nb_rng rng;
    nb_rng_seed(&rng, 24);
    float *x = malloc((size_t)n * sizeof *x), *b = malloc((size_t)n * sizeof *b);
    float *one[4], *many[4];
    for (int i = 0; i < 4; i++) {
        one[i] = malloc((size_t)n * sizeof(float));
        many[i] = malloc((size_t)n * sizeof(float));
    }
    fill(x, n, -5.0f, 5.0f, &rng, 0);
    fill(b, n, -5.0f, 5.0f, &rng, 0);
    int saved = nb_get_threads();
    const nbi_backend *be = nbi_backend_default();
    CHECK_OK(nb_set_threads(1));
    run_fronts(be, x, b, n, rows, cols, x, one);
    static const char *const names[4] = {"tanh", "tanh backward", "mul", "softmax"};
    for (int nt = 2; nt <= 3; nt++) {
        CHECK_OK(nb_set_threads(nt));
        run_fronts(be, x, b, n, rows, cols, x, many);
        for (int i = 0; i < 4; i++)
            CHECK_MSG(memcmp(one[i], many[i], (size_t)(i == 3 ? rows * cols : n) * sizeof(float)) == 0,
                      "%s: %d threads give different bits than 1", names[i], nt);
    }
    /* a back end's own budget: 1 and 2 threads of a pool of 3 */
    for (int budget = 1; budget <= 2; budget++) {
        nbi_backend own;
        CHECK_OK(nbi_backend_init(&own, "cpu", budget, "test"));
        CHECK(nbi_backend_threads(&own) == budget);
        run_fronts(&own, x, b, n, rows, cols, x, many);
        for (int i = 0; i < 4; i++)
            CHECK_MSG(memcmp(one[i], many[i], (size_t)(i == 3 ? rows * cols : n) * sizeof(float)) == 0,
                      "%s: a budget of %d threads gives different bits", names[i], budget);
    }
    /* and the entries agree with the single-threaded kernel of the same set */
    const nbi_kernels *raw = be->k;
    raw->softmax(rows, cols, x, many[3]);
    raw->unary[NBI_U_TANH](n, x, many[0], NULL);
    CHECK(memcmp(many[3], one[3], (size_t)(rows * cols) * sizeof(float)) == 0);
    CHECK(memcmp(many[0], one[0], (size_t)n * sizeof(float)) == 0);
    CHECK_OK(nb_set_threads(saved));
    free(x);
    free(b);
    for (int i = 0; i < 4; i++) {
        free(one[i]);
        free(many[i]);
    }
}

/* be->unary_dx (gx = gy f', a gradient written by its first contribution) against a fill with
 * zeros and be->unary_bwd, bit for bit: lengths around its runs of 2048 and the thread split,
 * at 1 to 3 threads, over a gx holding NaNs (never read); nothing written past n. */
static void test_unary_dx(void) {
    static const int64_t lens[] = {1, 7, 2047, 2048, 2049, 6145, 70001, 300007};
    static const struct {
        int id;
        float p[2];
    } ops[] = {{NBI_U_GELU, {0, 0}}, {NBI_U_TANH, {0, 0}}, {NBI_U_LEAKY_RELU, {0.1f, 0}}};
    const int64_t nmax = 300007;
    nb_rng rng;
    nb_rng_seed(&rng, 31);
    float *x = malloc((size_t)nmax * sizeof *x), *y = malloc((size_t)nmax * sizeof *y);
    float *gy = malloc((size_t)nmax * sizeof *gy),
          *want = malloc((size_t)(nmax + 1) * sizeof *want);
    float *got = malloc((size_t)(nmax + 1) * sizeof *got);
    CHECK(x && y && gy && want && got);
    if (!(x && y && gy && want && got)) goto out;
    fill(x, nmax, -4.0f, 4.0f, &rng, 0);
    fill(gy, nmax, -2.0f, 2.0f, &rng, 0);
    int saved = nb_get_threads();
    const nbi_backend *be = nbi_backend_default();
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        be->unary(be, ops[o].id, nmax, x, y, ops[o].p);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int64_t n = lens[li];
            CHECK_OK(nb_set_threads(1));
            for (int64_t i = 0; i < n; i++) want[i] = 0.0f;
            be->unary_bwd(be, ops[o].id, n, x, y, gy, want, ops[o].p);
            for (int nt = 1; nt <= 3; nt++) {
                CHECK_OK(nb_set_threads(nt));
                for (int64_t i = 0; i <= n; i++) got[i] = NAN;
                be->unary_dx(be, ops[o].id, n, x, y, gy, got, ops[o].p);
                CHECK_MSG(memcmp(want, got, (size_t)n * sizeof *got) == 0,
                          "unary_dx op %d, n %lld, %d threads: not fill + unary_bwd", ops[o].id,
                          (long long)n, nt);
                CHECK_MSG(got[n] != got[n], "unary_dx wrote past n = %lld", (long long)n);
            }
        }
    }
    CHECK_OK(nb_set_threads(saved));
out:
    free(x);
    free(y);
    free(gy);
    free(want);
    free(got);
}

/* ---- binary16 conversions (the f16 dataset store) ------------------------------------------
 * Each set's half_to_f32 and f32_to_half against the scalar twins of kernels/ref/half.c, bit
 * for bit: every one of the 65536 halves widened (at odd offsets and lengths, so that every
 * tail length meets every value), and floats of every kind narrowed: random bit patterns
 * (NaNs with payloads, infinities, subnormals), the midpoints between neighbouring halves
 * and their neighbours one float ulp away, the overflow edge 65504 .. 65520. Nothing written
 * outside [0, n). */
static uint32_t f32_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float bits_f32(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Each set's u8_to_f32 against its scalar twin (kernels/ref/bytes.c), bit for bit: every
 * byte value, odd lengths around the vector step, no write past the end, and the twin
 * against the formula with and without a (shift, div). */
static void test_u8_conversion(void) {
    enum { NB = 1100 };
    static uint8_t x[NB];
    static float yr[NB], y[NB + 16];
    for (int i = 0; i < NB; i++) x[i] = (uint8_t)((i * 37 + 11) % 256);
    const float shifts[] = {0.0f, 33.3f, 0.1307f * 255.0f}, divs[] = {1.0f, 77.7f, 255.0f};
    static const char *const sets[] = {"ref", "c", "avx2", "avx512"};
    static const int64_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 33, 784, 1001};
    for (int c = 0; c < 3; c++) {
        nbi_ref_u8_to_f32(NB, x, shifts[c], divs[c], yr);
        int bad = 0;
        for (int i = 0; i < NB; i++) {
            volatile float v = (float)x[i];
            volatile float want = (v - shifts[c]) / divs[c];
            bad += f32_bits(yr[i]) != f32_bits(want);
        }
        CHECK_MSG(bad == 0, "ref u8_to_f32 (%g, %g): %d values off the formula", shifts[c], divs[c],
                  bad);
        for (size_t is = 0; is < sizeof sets / sizeof *sets; is++) {
            const nbi_kernels *k = nbi_kernel_set(sets[is]);
            if (!k) continue;
            CHECK_MSG(k->u8_to_f32 != NULL, "%s: no u8_to_f32", k->isa);
            if (!k->u8_to_f32) continue;
            for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
                const int64_t n = lens[li], at = (int64_t)li * 5;
                for (int64_t i = 0; i < n + 16; i++) y[i] = -7.0f;
                k->u8_to_f32(n, x + at, shifts[c], divs[c], y);
                for (int64_t i = 0; i < n; i++)
                    if (f32_bits(y[i]) != f32_bits(yr[at + i]) && bad++ < 3)
                        CHECK_MSG(0, "%s u8_to_f32 n=%lld: byte %u gave %a, ref %a", k->isa,
                                  (long long)n, x[at + i], y[i], yr[at + i]);
                for (int64_t i = n; i < n + 16; i++)
                    if (y[i] != -7.0f && bad++ < 3)
                        CHECK_MSG(0, "%s u8_to_f32 n=%lld wrote past the end", k->isa,
                                  (long long)n);
            }
        }
    }
}

/* Each set's dropout against its scalar twin (kernels/ref/norm.c), bit for bit: odd lengths
 * around the vector step and the block of draws (256), p = 0, 0.1, 0.5, 1, written and
 * accumulated, NaN and infinities among the inputs (a dropped NaN stays NaN), no write past
 * the end; and the twin against its definition (the i-th 32-bit draw of the seed's stream). */
static void test_dropout_sets(void) {
    enum { ND = 1100 };
    static float x[ND], y0[ND], yr[ND + 16], y[ND + 16];
    for (int i = 0; i < ND; i++) x[i] = (float)((i * 37 + 11) % 201) / 50.0f - 2.0f;
    x[3] = NAN, x[100] = INFINITY, x[300] = -INFINITY, x[513] = NAN;
    for (int i = 0; i < ND; i++) y0[i] = (float)(i % 7) - 3.0f;
    static const char *const sets[] = {"ref", "c", "avx2", "avx512"};
    static const int64_t lens[] = {0, 1, 7, 8, 9, 17, 255, 256, 257, 511, 513, 1001};
    static const float ps[] = {0.0f, 0.1f, 0.5f, 1.0f};
    int bad = 0;
    {   /* the twin against its definition, p = 0.5, written */
        nbi_ref_dropout(77, 0.5f, 301, x, yr, 0);
        nb_rng r;
        nb_rng_seed(&r, 77);
        uint64_t bits = 0;
        for (int i = 0; i < 301; i++) {
            if (i % 2 == 0) bits = nb_rng_u64(&r);
            uint32_t u = (uint32_t)(i % 2 ? bits >> 32 : bits);
            float want = x[i] * (u < 0x80000000u ? 0.0f : 2.0f);
            bad += bits_of(yr[i]) != bits_of(want);
        }
        CHECK_MSG(bad == 0, "ref dropout: %d values off the definition", bad);
    }
    for (size_t is = 0; is < sizeof sets / sizeof *sets; is++) {
        const nbi_kernels *k = nbi_kernel_set(sets[is]);
        if (!k) continue;
        CHECK_MSG(k->dropout != NULL, "%s: no dropout", k->isa);
        if (!k->dropout) continue;
        for (size_t pi = 0; pi < sizeof ps / sizeof *ps; pi++)
            for (int acc = 0; acc < 2; acc++)
                for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
                    const int64_t n = lens[li], at = (int64_t)li * 5;
                    const uint64_t seed = 1000003u * (uint64_t)(li + 1) + pi;
                    for (int64_t i = 0; i < n + 16; i++)
                        yr[i] = y[i] = i < n ? y0[i] : -7.0f;
                    nbi_ref_dropout(seed, ps[pi], n, x + at, yr, acc);
                    k->dropout(seed, ps[pi], n, x + at, y, acc);
                    for (int64_t i = 0; i < n; i++)
                        if (bits_of(y[i]) != bits_of(yr[i]) && bad++ < 3)
                            CHECK_MSG(0, "%s dropout p=%g acc=%d n=%lld: [%lld] %a, ref %a",
                                      k->isa, (double)ps[pi], acc, (long long)n, (long long)i,
                                      y[i], yr[i]);
                    for (int64_t i = n; i < n + 16; i++)
                        if (y[i] != -7.0f && bad++ < 3)
                            CHECK_MSG(0, "%s dropout n=%lld wrote past the end", k->isa,
                                      (long long)n);
                }
    }
}

static void test_half_conversions(void) {
    enum { NH = 65536, NF = 3 * 65536 + 64 };
    uint16_t *h = malloc(sizeof *h * NH), *hv = malloc(sizeof *hv * (NF + 16)),
             *hr = malloc(sizeof *hr * NF);
    float *y = malloc(sizeof *y * (NH + 16)), *yr = malloc(sizeof *yr * NH),
          *x = malloc(sizeof *x * NF);
    if (!h || !hv || !hr || !y || !yr || !x) {
        CHECK(0);
        goto done;
    }
    for (int i = 0; i < NH; i++) h[i] = (uint16_t)i;
    nbi_ref_half_to_f32(NH, h, yr);
    /* the twin's values: half.c's, NaNs quiet */
    for (int i = 0; i < NH; i++) {
        const bool nan = (i & 0x7C00) == 0x7C00 && (i & 0x3FF);
        CHECK_MSG(nan ? isnan(yr[i]) && (f32_bits(yr[i]) & 0x400000u)
                      : f32_bits(yr[i]) == f32_bits(nbi_half_to_float((uint16_t)i)),
                  "ref half_to_f32(0x%04x) = 0x%08x", i, (unsigned)f32_bits(yr[i]));
    }
    nb_rng rng;
    nb_rng_seed(&rng, 16);
    int64_t nf = 0;
    for (int i = 0; i < 65536; i++) x[nf++] = bits_f32((uint32_t)nb_rng_u64(&rng));
    for (int i = 0; i < 0x7C00; i += 7) { /* midpoints of neighbouring finite halves */
        double a = nbi_half_to_float((uint16_t)i), b = nbi_half_to_float((uint16_t)(i + 1));
        float mid = (float)((a + b) / 2);
        x[nf++] = mid;
        x[nf++] = -nextafterf(mid, INFINITY);
        x[nf++] = nextafterf(mid, 0.0f);
    }
    for (float v = 65504.0f; v <= 65520.0f && nf < NF - 8; v += 1.0f) x[nf++] = v;
    x[nf++] = INFINITY;
    x[nf++] = -INFINITY;
    x[nf++] = NAN;
    x[nf++] = -0.0f;
    x[nf++] = FLT_MIN / 4;
    nbi_ref_f32_to_half(nf, x, hr);
    for (int64_t i = 0; i < nf; i++)
        if (hr[i] != nbi_half_from_float(x[i])) {
            CHECK_MSG(0, "ref f32_to_half(%a) = 0x%04x", x[i], hr[i]);
            break;
        }
    static const char *const sets[] = {"ref", "c", "avx2", "avx512"};
    static const int64_t lens[] = {0, 1, 3, 7, 8, 9, 15, 17, 31, 33, 100, 1001};
    for (size_t is = 0; is < sizeof sets / sizeof *sets; is++) {
        const nbi_kernels *k = nbi_kernel_set(sets[is]);
        if (!k) continue;
        CHECK_MSG(k->half_to_f32 && k->f32_to_half, "%s: no half conversions", k->isa);
        if (!k->half_to_f32 || !k->f32_to_half) continue;
        int bad = 0;
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
            for (int64_t at = 0; at + lens[li] <= NH; at += lens[li] ? lens[li] * 13 + 5 : NH) {
                const int64_t n = lens[li];
                for (int64_t i = 0; i < n + 16; i++) y[i] = -7.0f;
                k->half_to_f32(n, h + at, y);
                for (int64_t i = 0; i < n; i++)
                    if (f32_bits(y[i]) != f32_bits(yr[at + i]) && bad++ < 3)
                        CHECK_MSG(0, "%s half_to_f32 n=%lld: 0x%04x gave 0x%08x, ref 0x%08x",
                                  k->isa, (long long)n, h[at + i], (unsigned)f32_bits(y[i]),
                                  (unsigned)f32_bits(yr[at + i]));
                for (int64_t i = n; i < n + 16; i++)
                    if (y[i] != -7.0f && bad++ < 3)
                        CHECK_MSG(0, "%s half_to_f32 n=%lld wrote past the end", k->isa,
                                  (long long)n);
            }
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
            for (int64_t at = 0; at + lens[li] <= nf; at += lens[li] ? lens[li] * 11 + 3 : nf) {
                const int64_t n = lens[li];
                for (int64_t i = 0; i < n + 16; i++) hv[i] = 0xBEEF;
                k->f32_to_half(n, x + at, hv);
                for (int64_t i = 0; i < n; i++)
                    if (hv[i] != hr[at + i] && bad++ < 3)
                        CHECK_MSG(0, "%s f32_to_half n=%lld: %a gave 0x%04x, ref 0x%04x", k->isa,
                                  (long long)n, x[at + i], hv[i], hr[at + i]);
                for (int64_t i = n; i < n + 16; i++)
                    if (hv[i] != 0xBEEF && bad++ < 3)
                        CHECK_MSG(0, "%s f32_to_half n=%lld wrote past the end", k->isa,
                                  (long long)n);
            }
        /* the whole of both at once */
        k->half_to_f32(NH, h, y);
        CHECK(memcmp(y, yr, sizeof *y * NH) == 0);
        k->f32_to_half(nf, x, hv);
        CHECK(memcmp(hv, hr, sizeof *hv * (size_t)nf) == 0);
    }
done:
    free(h);
    free(hv);
    free(hr);
    free(y);
    free(yr);
    free(x);
}

static const nbt_case cases[] = {
    {"exp_sigmoid_tanh_sweeps", test_exp_sigmoid_tanh_sweeps},
    {"unary_against_reference", test_unary_against_reference},
    {"binary_strides", test_binary_strides},
    {"softmax_rows", test_softmax_rows},
    {"parallel_fronts", test_parallel_fronts},
    {"unary_dx", test_unary_dx},
    {"half_conversions", test_half_conversions},
    {"u8_conversion", test_u8_conversion},
    {"dropout_sets", test_dropout_sets},
};
NBT_MAIN(cases)
