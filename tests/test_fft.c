/* test_fft — the FFT kernels and the per-frame spectral loops (kernels/fft.h):
 *   - the complex FFT, forward and inverse, against the O(n²) reference DFT (kernels/ref/dft.c)
 *     on every length up to 130 and on powers of two, the common non-powers (320, 400, 1000),
 *     primes and products taking the generic and Bluestein paths, random inputs;
 *   - the real FFT against the reference, inverse(forward(x)) = n·x, in place and not;
 *   - NumPy parity of fft, ifft and rfft on the lengths of tests/ref/audio.txt;
 *   - the adjoints (rfft, STFT, band matrix) by the identity <A x, g> = <x, Aᵀ g>, and the
 *     derivative of |X|^p by finite differences;
 *   - the frame FFT of every kernel set this CPU runs (nbi_kernels.rfft_frames: vector lanes
 *     on x86) against the scalar loop, bit for bit, on even, odd, prime-factor and Bluestein
 *     lengths and frame counts around the lane widths; the same for the band-matrix product
 *     (nbi_kernels.band_apply) on odd row counts, widths and bands;
 *   - plan errors. */
#include "nbtest.h"

#include "fixture.h"
#include "kernels/fft.h"
#include "kernels/kernels.h"

#include <stdlib.h>

#define FIXTURE "tests/ref/audio.txt"

static void fill(nb_rng *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = nb_rng_uniform_range(r, -1.0f, 1.0f);
}

/* max |a − b| over n values */
static double maxdiff(const float *a, const float *b, int64_t n) {
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - (double)b[i]));
    return e;
}

/* Float rounding grows like sqrt(n)·log n for inputs in [−1, 1]; measured errors are below
 * 5e-7·sqrt(n) for every length tested, 4× under this bound. */
static double tol(int64_t n) {
    return 2e-6 * sqrt((double)n) + 1e-6;
}

static void check_c2c(int64_t n, nb_rng *r) {
    nbi_fft *p = NULL;
    CHECK_OK(nbi_fft_new(n, &p));
    if (!p) return;
    float *x = malloc(sizeof(float) * 2 * (size_t)n), *y = malloc(sizeof(float) * 2 * (size_t)n);
    float *z = malloc(sizeof(float) * 2 * (size_t)n);
    float *w = malloc(sizeof(float) * nbi_fft_work(p));
    fill(r, x, 2 * n);
    for (int inv = 0; inv < 2; inv++) {
        nbi_fft_run(p, inv, x, y, w);
        nbi_dft_ref(n, inv, x, z);
        double e = maxdiff(y, z, 2 * n);
        CHECK_MSG(e <= tol(n), "fft n=%lld %s: max error %.3g > %.3g", (long long)n,
                  inv ? "inverse" : "forward", e, tol(n));
        /* in place gives the same bits */
        for (int64_t i = 0; i < 2 * n; i++) z[i] = x[i];
        nbi_fft_run(p, inv, z, z, w);
        CHECK_MSG(memcmp(y, z, sizeof(float) * 2 * (size_t)n) == 0, "fft n=%lld: in place differs",
                  (long long)n);
    }
    /* inverse(forward(x)) = n·x */
    nbi_fft_run(p, 0, x, y, w);
    nbi_fft_run(p, 1, y, z, w);
    for (int64_t i = 0; i < 2 * n; i++) z[i] /= (float)n;
    double e = maxdiff(x, z, 2 * n);
    CHECK_MSG(e <= 1e-6 * log2((double)n + 1) + 1e-6, "fft n=%lld: round trip error %.3g",
              (long long)n, e);
    free(x), free(y), free(z), free(w);
    nbi_fft_free(p);
}

static void check_r2c(int64_t n, nb_rng *r) {
    nbi_rfft *p = NULL;
    CHECK_OK(nbi_rfft_new(n, &p));
    if (!p) return;
    const int64_t K = n / 2 + 1;
    float *x = malloc(sizeof(float) * (size_t)n), *X = malloc(sizeof(float) * 2 * (size_t)K);
    float *R = malloc(sizeof(float) * 2 * (size_t)K), *z = malloc(sizeof(float) * (size_t)n);
    float *w = malloc(sizeof(float) * nbi_rfft_work(p));
    fill(r, x, n);
    nbi_rfft_forward(p, x, X, w);
    nbi_rdft_ref(n, x, R);
    double e = maxdiff(X, R, 2 * K);
    CHECK_MSG(e <= tol(n), "rfft n=%lld: max error %.3g > %.3g", (long long)n, e, tol(n));
    /* the inverse ignores the imaginary parts that a real signal's spectrum cannot have */
    X[1] = 123.0f;
    if (n % 2 == 0) X[2 * K - 1] = -7.0f;
    nbi_rfft_inverse(p, X, z, w);
    for (int64_t i = 0; i < n; i++) z[i] /= (float)n;
    e = maxdiff(x, z, n);
    CHECK_MSG(e <= 1e-6 * log2((double)n + 1) + 1e-6, "rfft n=%lld: round trip error %.3g",
              (long long)n, e);
    free(x), free(X), free(R), free(z), free(w);
    nbi_rfft_free(p);
}

/* powers of two, the usual non-powers (2^a·3^b·5^c), primes up to 61 (generic passes), larger
 * primes and products with them (Bluestein), squares of primes */
static const int64_t big_sizes[] = {160, 192,  200,  240,  243,         256,    320,  384,  400,
                                    480, 500,  512,  640,  768,         800,    1000, 1024, 2048,
                                    59,  61,   67,   71,   97,          101,    127,  131,  202,
                                    257, 1009, 1331, 2003, 11 * 13 * 7, 61 * 61};

static void fft_vs_reference(void) {
    nb_rng r;
    nb_rng_seed(&r, 11);
    for (int64_t n = 1; n <= 130; n++) check_c2c(n, &r);
    for (size_t i = 0; i < sizeof big_sizes / sizeof *big_sizes; i++) check_c2c(big_sizes[i], &r);
}

static void rfft_vs_reference(void) {
    nb_rng r;
    nb_rng_seed(&r, 12);
    for (int64_t n = 1; n <= 130; n++) check_r2c(n, &r);
    for (size_t i = 0; i < sizeof big_sizes / sizeof *big_sizes; i++) check_r2c(big_sizes[i], &r);
}

/* numpy.fft on the fixture's inputs (float64 reference of float32 inputs) */
static void fft_numpy_parity(void) {
    nbt_fixture *fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    if (!fx) return;
    char name[64];
    const nbt_array *sizes = nbt_fixture_get(fx, "fft_sizes");
    CHECK(sizes != NULL);
    for (int64_t s = 0; sizes && s < sizes->numel; s++) {
        const int64_t n = (int64_t)sizes->data[s];
        snprintf(name, sizeof name, "fft_%lld_x", (long long)n);
        const nbt_array *x = nbt_fixture_get(fx, name);
        snprintf(name, sizeof name, "fft_%lld_y", (long long)n);
        const nbt_array *y = nbt_fixture_get(fx, name);
        snprintf(name, sizeof name, "fft_%lld_inv", (long long)n);
        const nbt_array *yi = nbt_fixture_get(fx, name);
        CHECK_MSG(x && y && yi, "fixture lacks the fft arrays of n = %lld", (long long)n);
        nbi_fft *p = NULL;
        if (!(x && y && yi) || nbi_fft_new(n, &p)) continue;
        float *out = malloc(sizeof(float) * 2 * (size_t)n);
        float *w = malloc(sizeof(float) * nbi_fft_work(p));
        nbi_fft_run(p, 0, x->data, out, w);
        snprintf(name, sizeof name, "fft n=%lld", (long long)n);
        nbt_compare(name, out, y->data, 2 * n, tol(n), 0);
        nbi_fft_run(p, 1, x->data, out, w);
        snprintf(name, sizeof name, "ifft n=%lld (times n)", (long long)n);
        nbt_compare(name, out, yi->data, 2 * n, tol(n), 0);
        free(out), free(w);
        nbi_fft_free(p);
    }
    sizes = nbt_fixture_get(fx, "rfft_sizes");
    CHECK(sizes != NULL);
    for (int64_t s = 0; sizes && s < sizes->numel; s++) {
        const int64_t n = (int64_t)sizes->data[s];
        snprintf(name, sizeof name, "rfft_%lld_x", (long long)n);
        const nbt_array *x = nbt_fixture_get(fx, name);
        snprintf(name, sizeof name, "rfft_%lld_y", (long long)n);
        const nbt_array *y = nbt_fixture_get(fx, name);
        CHECK_MSG(x && y, "fixture lacks the rfft arrays of n = %lld", (long long)n);
        nbi_rfft *q = NULL;
        if (!(x && y) || nbi_rfft_new(n, &q)) continue;
        float *out = malloc(sizeof(float) * 2 * (size_t)(n / 2 + 1));
        float *w = malloc(sizeof(float) * nbi_rfft_work(q));
        nbi_rfft_forward(q, x->data, out, w);
        snprintf(name, sizeof name, "rfft n=%lld", (long long)n);
        nbt_compare(name, out, y->data, 2 * (n / 2 + 1), tol(n), 0);
        free(out), free(w);
        nbi_rfft_free(q);
    }
    nbt_fixture_free(fx);
}

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* <rfft(x), g> = <x, rfftᵀ g> with the spectrum read as 2K reals */
static void rfft_adjoint_identity(void) {
    nb_rng r;
    nb_rng_seed(&r, 13);
    const int64_t ns[] = {1, 2, 3, 8, 9, 15, 16, 100, 101, 320, 400, 512, 1009};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        const int64_t n = ns[i], K = n / 2 + 1;
        nbi_rfft *p = NULL;
        CHECK_OK(nbi_rfft_new(n, &p));
        if (!p) return;
        float *x = malloc(sizeof(float) * (size_t)n), *X = malloc(sizeof(float) * 2 * (size_t)K);
        float *g = malloc(sizeof(float) * 2 * (size_t)K), *dx = malloc(sizeof(float) * (size_t)n);
        float *w = malloc(sizeof(float) * nbi_rfft_work(p));
        fill(&r, x, n);
        fill(&r, g, 2 * K);
        nbi_rfft_forward(p, x, X, w);
        nbi_rfft_adjoint(p, g, dx, w);
        double a = dot(X, g, 2 * K), b = dot(x, dx, n);
        CHECK_MSG(fabs(a - b) <= 1e-5 * (fabs(a) + sqrt((double)n)),
                  "rfft adjoint n=%lld: <Ax,g> = %.9g, <x,Aᵀg> = %.9g", (long long)n, a, b);
        free(x), free(X), free(g), free(dx), free(w);
        nbi_rfft_free(p);
    }
}

/* The STFT of frames against a direct per-frame reference, and its adjoint by the identity. */
static void stft_loops(void) {
    nb_rng r;
    nb_rng_seed(&r, 14);
    const int64_t cfg[][3] = {{16, 4, 10}, {15, 5, 7}, {400, 160, 6}, {64, 64, 3}, {9, 2, 11}};
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        const int64_t n = cfg[c][0], hop = cfg[c][1], F = cfg[c][2], K = n / 2 + 1;
        const int64_t len = (F - 1) * hop + n;
        nbi_rfft *p = NULL;
        CHECK_OK(nbi_rfft_new(n, &p));
        if (!p) return;
        float *x = malloc(sizeof(float) * (size_t)len), *win = malloc(sizeof(float) * (size_t)n);
        float *S = malloc(sizeof(float) * 2 * (size_t)(K * F)),
              *R = malloc(sizeof(float) * 2 * (size_t)K);
        float *fr = malloc(sizeof(float) * (size_t)n),
              *g = malloc(sizeof(float) * 2 * (size_t)(K * F));
        float *dx = calloc((size_t)len, sizeof(float));
        float *w = malloc(sizeof(float) * nbi_stft_work(p));
        fill(&r, x, len);
        fill(&r, win, n);
        fill(&r, g, 2 * K * F);
        const float scale = 0.25f;
        nbi_stft_forward(p, x, F, hop, win, scale, S, w);
        for (int64_t f = 0; f < F; f++) {
            for (int64_t t = 0; t < n; t++) fr[t] = win[t] * x[f * hop + t];
            nbi_rdft_ref(n, fr, R);
            for (int64_t k = 0; k < 2 * K; k++) R[k] *= scale;
            double e = maxdiff(S + 2 * K * f, R, 2 * K);
            CHECK_MSG(e <= tol(n), "stft n=%lld frame %lld: error %.3g", (long long)n, (long long)f,
                      e);
        }
        /* dx starts at 1 to show the adjoint accumulates */
        for (int64_t i = 0; i < len; i++) dx[i] = 1.0f;
        nbi_stft_adjoint(p, g, F, hop, win, scale, dx, w);
        double sx = 0.0;
        for (int64_t i = 0; i < len; i++) sx += x[i];
        double a = dot(S, g, 2 * K * F), b = dot(x, dx, len) - sx;
        CHECK_MSG(fabs(a - b) <= 1e-5 * (fabs(a) + (double)(n * F)),
                  "stft adjoint n=%lld hop=%lld: %.9g vs %.9g", (long long)n, (long long)hop, a, b);
        free(x), free(win), free(S), free(R), free(fr), free(g), free(dx), free(w);
        nbi_rfft_free(p);
    }
}

static void band_matrix(void) {
    nb_rng r;
    nb_rng_seed(&r, 15);
    const int64_t M = 7, C = 13, N = 5;
    float W[7 * 13], x[5 * 13], y[5 * 7], g[5 * 7], dx[5 * 13];
    int32_t lo[7], hi[7];
    fill(&r, W, M * C);
    for (int64_t m = 0; m < M; m++) {
        lo[m] = (int32_t)m;
        hi[m] = (int32_t)(m + 1 + m % 4);
        for (int64_t c = 0; c < C; c++)
            if (c < lo[m] || c >= hi[m]) W[m * C + c] = 1e6f; /* outside the band: never read */
    }
    fill(&r, x, N * C);
    fill(&r, g, N * M);
    nbi_band_apply(W, lo, hi, M, C, N, x, y);
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            double s = 0.0;
            for (int64_t c = lo[m]; c < hi[m]; c++) s += (double)W[m * C + c] * x[n * C + c];
            CHECK_CLOSE(y[n * M + m], s, 1e-6, 1e-6);
        }
    memset(dx, 0, sizeof dx);
    nbi_band_adjoint(W, lo, hi, M, C, N, g, dx);
    CHECK_CLOSE(dot(y, g, N * M), dot(x, dx, N * C), 1e-5, 1e-5);
}

/* d|S|^p: central differences on each of re, im */
static void power_derivative(void) {
    nb_rng r;
    nb_rng_seed(&r, 16);
    const float powers[] = {2.0f, 1.0f, 0.5f, 3.0f};
    float S[2 * 6], P[6], dP[6], dS[2 * 6];
    fill(&r, S, 12);
    S[2] = 0.0f; /* a zero bin: finite subgradient */
    S[3] = 0.0f;
    fill(&r, dP, 6);
    for (size_t i = 0; i < sizeof powers / sizeof *powers; i++) {
        const float pw = powers[i];
        memset(dS, 0, sizeof dS);
        nbi_spec_power_backward(6, S, pw, dP, dS);
        for (int j = 0; j < 12; j++) {
            if (j == 2 || j == 3) {
                CHECK_MSG(isfinite(dS[j]), "power %g: gradient at a zero bin is %g", pw, dS[j]);
                continue;
            }
            const float h = 1e-3f, s0 = S[j];
            double fp = 0.0, fm = 0.0;
            S[j] = s0 + h;
            nbi_spec_power(6, S, pw, P);
            for (int k = 0; k < 6; k++) fp += (double)dP[k] * P[k];
            S[j] = s0 - h;
            nbi_spec_power(6, S, pw, P);
            for (int k = 0; k < 6; k++) fm += (double)dP[k] * P[k];
            S[j] = s0;
            CHECK_CLOSE(dS[j], (fp - fm) / (2.0 * h), 2e-3, 2e-3);
        }
    }
    nbi_spec_power(6, S, 1.0f, P);
    CHECK_CLOSE(P[0], hypot(S[0], S[1]), 1e-7, 1e-6);
    nbi_spec_power(6, S, 2.0f, P);
    CHECK_CLOSE(P[0], S[0] * S[0] + S[1] * S[1], 1e-7, 1e-6);
}

static void plan_errors(void) {
    nbi_fft *p = (nbi_fft *)&p;
    CHECK(nbi_fft_new(0, &p) == NB_ERR_ARG && p == NULL);
    CHECK(strstr(nb_last_error(), "length 0") != NULL);
    nbi_rfft *q = (nbi_rfft *)&q;
    CHECK(nbi_rfft_new(-3, &q) == NB_ERR_ARG && q == NULL);
    CHECK(nbi_rfft_new(INT64_C(1) << 40, &q) == NB_ERR_ARG);
    nbi_fft_free(NULL);
    nbi_rfft_free(NULL);
}

/* Every set's frame FFT gives the scalar loop's bits: the vector sets run the same IEEE
 * operations per lane, and fall back to the loop for odd n, Bluestein and the tail frames. */
static void frames_all_sets(void) {
    static const int64_t lens[] = {2,  4,   6,   8,   10,  12,  14,  16,  18,  22, 30, 50, 62,
                                   94, 122, 126, 134, 200, 254, 256, 400, 512, 9,  15, 33, 401};
    static const int64_t counts[] = {1, 7, 8, 9, 15, 16, 17, 33};
    static const char *const isas[] = {"ref", "c", "avx2", "avx512"};
    nb_rng r;
    nb_rng_seed(&r, 11);
    int sets = 0;
    for (size_t s = 0; s < sizeof isas / sizeof *isas; s++) {
        const nbi_kernels *k = nbi_kernel_set(isas[s]);
        if (!k) {
            printf("  (the %s set does not run on this CPU: skipped)\n", isas[s]);
            continue;
        }
        sets++;
        for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
            const int64_t n = lens[i], K = n / 2 + 1, hop = n / 3 + 1;
            nbi_rfft *p = NULL;
            CHECK_OK(nbi_rfft_new(n, &p));
            if (!p) continue;
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
                const int64_t cnt = counts[c], len = (cnt - 1) * hop + n;
                float *x = malloc(sizeof(float) * (size_t)len),
                      *w = malloc(sizeof(float) * (size_t)n);
                float *A = malloc(sizeof(float) * (size_t)(2 * K * cnt));
                float *B = malloc(sizeof(float) * (size_t)(2 * K * cnt));
                /* an odd offset: the kernels may not assume an aligned work space */
                float *wk = malloc(sizeof(float) * (nbi_rfft_frames_work(p) + 1));
                fill(&r, x, len);
                fill(&r, w, n);
                nbi_rfft_frames_ref(p, cnt, x, hop, w, A, wk + 1);
                k->rfft_frames(p, cnt, x, hop, w, B, wk + 1);
                CHECK_MSG(memcmp(A, B, sizeof(float) * (size_t)(2 * K * cnt)) == 0,
                          "%s frame FFT n=%lld, %lld frames: differs from the scalar loop", isas[s],
                          (long long)n, (long long)cnt);
                /* and the loop is the real FFT of each windowed frame */
                float *fr = malloc(sizeof(float) * (size_t)n),
                      *X = malloc(sizeof(float) * 2 * (size_t)K);
                for (int64_t t = 0; t < n; t++) fr[t] = w[t] * x[(cnt - 1) * hop + t];
                nbi_rdft_ref(n, fr, X);
                double e = maxdiff(X, A + 2 * K * (cnt - 1), 2 * K);
                CHECK_MSG(e <= tol(n), "frame FFT n=%lld: last frame off by %.3g", (long long)n, e);
                free(fr), free(X), free(x), free(w), free(A), free(B), free(wk);
            }
            nbi_rfft_free(p);
        }
    }
    CHECK(sets >= 2);
}

/* Every set's adjoint of the frame transforms gives the bits of the scalar loop (each frame
 * nbi_rfft_adjoint's), on the frame FFT's lengths and counts around the lane widths; and it is
 * the adjoint: <rfft(x), G> = <x, adjoint(G)> for the last frame. */
static void adjoint_frames_all_sets(void) {
    static const int64_t lens[] = {2,  4,   6,   8,   10,  12,  14,  16,  18,  22, 30, 50, 62,
                                   94, 122, 126, 134, 200, 254, 256, 400, 512, 9,  15, 33, 401};
    static const int64_t counts[] = {1, 7, 8, 9, 15, 16, 17, 33};
    static const char *const isas[] = {"ref", "c", "avx2", "avx512"};
    nb_rng r;
    nb_rng_seed(&r, 12);
    int sets = 0;
    for (size_t s = 0; s < sizeof isas / sizeof *isas; s++) {
        const nbi_kernels *k = nbi_kernel_set(isas[s]);
        if (!k) continue;
        sets++;
        for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
            const int64_t n = lens[i], K = n / 2 + 1;
            nbi_rfft *p = NULL;
            CHECK_OK(nbi_rfft_new(n, &p));
            if (!p) continue;
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
                const int64_t cnt = counts[c];
                float *G = malloc(sizeof(float) * (size_t)(2 * K * cnt));
                float *A = malloc(sizeof(float) * (size_t)(n * cnt));
                float *B = malloc(sizeof(float) * (size_t)(n * cnt));
                float *wk = malloc(sizeof(float) * (nbi_rfft_frames_work(p) + 1));
                fill(&r, G, 2 * K * cnt);
                nbi_rfft_adjoint_frames_ref(p, cnt, G, A, wk + 1);
                k->rfft_adjoint_frames(p, cnt, G, B, wk + 1);
                CHECK_MSG(memcmp(A, B, sizeof(float) * (size_t)(n * cnt)) == 0,
                          "%s frame adjoint n=%lld, %lld frames: differs from the scalar loop",
                          isas[s], (long long)n, (long long)cnt);
                float *x = malloc(sizeof(float) * (size_t)n), *X = malloc(sizeof(float) * 2 * (size_t)K);
                fill(&r, x, n);
                nbi_rdft_ref(n, x, X);
                double lhs = 0, rhs = 0, mag = 0;
                const float *Gl = G + 2 * K * (cnt - 1), *Al = B + n * (cnt - 1);
                for (int64_t q = 0; q < 2 * K; q++) lhs += (double)X[q] * Gl[q], mag += fabs((double)X[q] * Gl[q]);
                for (int64_t t = 0; t < n; t++) rhs += (double)x[t] * Al[t];
                CHECK_MSG(fabs(lhs - rhs) <= 1e-5 * (mag + 1),
                          "frame adjoint n=%lld: <rfft x, G> %.9g, <x, adj G> %.9g", (long long)n,
                          lhs, rhs);
                free(G), free(A), free(B), free(wk), free(x), free(X);
            }
            nbi_rfft_free(p);
        }
    }
    CHECK(sets >= 2);
}

/* Every set's band-matrix product and |S|^p give the bits of nbi_band_apply and nbi_spec_power
 * (each lane sums in its order), on odd shapes, empty bands and rows left over after the lanes. */
static void band_all_sets(void) {
    static const char *const isas[] = {"ref", "c", "avx2", "avx512"};
    static const int64_t shapes[][3] = {{1, 1, 1},   {3, 5, 7},   {40, 201, 101}, {13, 40, 9},
                                        {5, 17, 16}, {7, 33, 17}, {2, 3, 25}};
    nb_rng r;
    nb_rng_seed(&r, 5);
    for (size_t s = 0; s < sizeof isas / sizeof *isas; s++) {
        const nbi_kernels *k = nbi_kernel_set(isas[s]);
        if (!k) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            const int64_t M = shapes[i][0], C = shapes[i][1], n = shapes[i][2];
            float *W = malloc(sizeof(float) * (size_t)(M * C)),
                  *x = malloc(sizeof(float) * (size_t)(n * C));
            float *A = malloc(sizeof(float) * (size_t)(n * M)),
                  *B = malloc(sizeof(float) * (size_t)(n * M));
            int32_t *lo = malloc(sizeof(int32_t) * (size_t)M),
                    *hi = malloc(sizeof(int32_t) * (size_t)M);
            fill(&r, W, M * C);
            fill(&r, x, n * C);
            for (int64_t m = 0; m < M; m++) { /* a band somewhere in [0, C], sometimes empty */
                lo[m] = (int32_t)((m * 7) % C);
                hi[m] = (int32_t)(m % 5 == 4 ? lo[m] : lo[m] + (C - lo[m] + 1) / 2);
            }
            nbi_band_apply(W, lo, hi, M, C, n, x, A);
            k->band_apply(W, lo, hi, M, C, n, x, B);
            CHECK_MSG(memcmp(A, B, sizeof(float) * (size_t)(n * M)) == 0,
                      "%s band product %lldx%lld, %lld rows: differs from the scalar twin", isas[s],
                      (long long)M, (long long)C, (long long)n);
            /* and the twin is the product */
            const int64_t rr = n - 1, mm = M - 1;
            double e = 0.0;
            for (int64_t c = lo[mm]; c < hi[mm]; c++) e += (double)W[mm * C + c] * x[rr * C + c];
            CHECK_CLOSE(A[rr * M + mm], e, 1e-5, 1e-5);
            free(W), free(x), free(A), free(B), free(lo), free(hi);
        }
        /* |S|^p: p = 2 in vectors, others by the twin, odd counts */
        static const int64_t lens[] = {1, 7, 8, 9, 17, 201, 2020};
        static const float powers[] = {2.0f, 1.0f, 0.5f};
        for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
            for (size_t q = 0; q < sizeof powers / sizeof *powers; q++) {
                const int64_t n = lens[i];
                float *S = malloc(sizeof(float) * 2 * (size_t)n),
                      *A = malloc(sizeof(float) * (size_t)n);
                float *B = malloc(sizeof(float) * (size_t)n);
                fill(&r, S, 2 * n);
                nbi_spec_power(n, S, powers[q], A);
                k->spec_power(n, S, powers[q], B);
                CHECK_MSG(memcmp(A, B, sizeof(float) * (size_t)n) == 0,
                          "%s |S|^%g, n=%lld: differs from the scalar twin", isas[s], powers[q],
                          (long long)n);
                CHECK_CLOSE(
                    A[n - 1],
                    pow((double)S[2 * n - 2] * S[2 * n - 2] + (double)S[2 * n - 1] * S[2 * n - 1],
                        0.5 * powers[q]),
                    1e-6, 1e-5);
                free(S), free(A), free(B);
            }
    }
}

static const nbt_case cases[] = {
    {"fft_vs_reference", fft_vs_reference},
    {"rfft_vs_reference", rfft_vs_reference},
    {"fft_numpy_parity", fft_numpy_parity},
    {"rfft_adjoint_identity", rfft_adjoint_identity},
    {"stft_loops", stft_loops},
    {"band_matrix", band_matrix},
    {"power_derivative", power_derivative},
    {"frames_all_sets", frames_all_sets},
    {"adjoint_frames_all_sets", adjoint_frames_all_sets},
    {"band_all_sets", band_all_sets},
    {"plan_errors", plan_errors},
};
NBT_MAIN(cases)
