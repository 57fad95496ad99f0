/* kernels/fft.c — mixed-radix complex FFT (Stockham, radices 4, 2, 3, 5 and generic odd
 * primes up to 61), Bluestein's algorithm for lengths with a larger prime factor, and the real
 * transform built on the complex one (see kernels/fft.h).
 *
 * One pass of radix p takes the data as cc[k][m][i] (k < l1 blocks already split, m < p, i < ido
 * with n = l1·p·ido, i fastest) and writes ch[j][k][i]:
 *
 *   ch[j][k][i] = ω_{p·ido}^{j·i} · Σ_{m<p} ω_p^{j·m} · cc[k][m][i],    ω_q = e^{∓2πi/q}
 *
 * which is one step of decimation in frequency: the sub-sequences x[i + ido·m] are combined by
 * a p-point DFT, twiddled, and each output j is a length-ido problem for the next pass. Because
 * the new frequency digit j goes to the outermost place, after the last pass (ido = 1) the
 * result is in natural order without a bit-reversal permutation (Stockham's autosort); passes
 * ping-pong between two buffers. The passes are kernels/fft_pass.inc, instantiated here on
 * floats (one transform) and in kernels/x86/fft_*.c on vectors (one transform per lane). */
#include "kernels/fft_plan.h"

#include <math.h>
#include <string.h>

#define MAX_LEN (INT64_C(1) << 30)

static const double TWO_PI = 6.283185307179586476925286766559;

/* ---- the passes (kernels/fft_pass.inc) on one transform: FT = float ------------------------ */
#define FT float
#define FADD(a, b) ((a) + (b))
#define FSUB(a, b) ((a) - (b))
#define FMUL(a, b) ((a) * (b))
#define FSET(x) (x)
#define FFT_FN(name) scalar_##name
#include "kernels/fft_pass.inc"
#undef FT
#undef FADD
#undef FSUB
#undef FMUL
#undef FSET
#undef FFT_FN

/* ---- plans --------------------------------------------------------------------------------
 * A plan lives in one block of memory: the struct, its twiddles (and for Bluestein the chirp,
 * its transform, the sub-plan and the work space its set-up needs), each piece 64-byte
 * aligned. nbi_fft_new allocates the block; nbi_fft_place builds a plan in a block the caller
 * owns (an op's arena), so that a transform needs no allocation of its own. */

static size_t round_up(size_t b) {
    return (b + (NBI_ALIGN - 1)) & ~(size_t)(NBI_ALIGN - 1);
}

/* Factors n into 4s, 2s, 3s, 5s and other odd primes (ascending); false when a prime factor
 * exceeds NBI_FFT_MAX_GENERIC. */
static bool factorize(int64_t n, int *fac, int *nf) {
    *nf = 0;
    while (n % 4 == 0) fac[(*nf)++] = 4, n /= 4;
    while (n % 2 == 0) fac[(*nf)++] = 2, n /= 2;
    for (int64_t p = 3; n > 1; p += 2) {
        if (p * p > n) p = n; /* n itself is prime */
        while (n % p == 0) {
            if (p > NBI_FFT_MAX_GENERIC) return false;
            fac[(*nf)++] = (int)p;
            n /= p;
        }
    }
    return true;
}

/* The factors and the twiddle layout of a factorable n: returns the twiddles' complex count. */
static int64_t layout(nbi_fft *p) {
    int64_t total = 0, l1 = 1;
    for (int s = 0; s < p->nf; s++) {
        int64_t ido = p->n / (l1 * p->fac[s]);
        p->tw_off[s] = total;
        total += (p->fac[s] - 1) * ido;
        if (p->fac[s] > 5) {
            p->rt_off[s] = total;
            total += p->fac[s];
        }
        l1 *= p->fac[s];
    }
    return total;
}

static int64_t bluestein_len(int64_t n) {
    int64_t m = 1;
    while (m < 2 * n - 1) m *= 2;
    return m;
}

size_t nbi_fft_bytes(int64_t n) {
    if (n < 1 || n > MAX_LEN) return 0;
    nbi_fft p;
    memset(&p, 0, sizeof p);
    p.n = n;
    size_t b = round_up(sizeof(nbi_fft));
    if (factorize(n, p.fac, &p.nf)) {
        int64_t total = layout(&p);
        return b + round_up(sizeof(float) * 2 * (size_t)(total ? total : 1));
    }
    const int64_t m = bluestein_len(n);
    return b + round_up(sizeof(float) * 2 * (size_t)n) + round_up(sizeof(float) * 2 * (size_t)m) +
           round_up(sizeof(float) * 4 * (size_t)m) + nbi_fft_bytes(m);
}

nbi_fft *nbi_fft_place(void *mem, int64_t n) {
    NBI_ASSERT(n >= 1 && n <= MAX_LEN && ((uintptr_t)mem % NBI_ALIGN) == 0);
    unsigned char *at = mem;
    nbi_fft *p = (nbi_fft *)at;
    memset(p, 0, sizeof *p);
    p->n = n;
    at += round_up(sizeof(nbi_fft));
    if (factorize(n, p->fac, &p->nf)) {
        /* twiddles for every pass, then the roots of the generic ones */
        int64_t total = layout(p);
        p->tw = (float *)at;
        (void)total;
        for (int s = 0, l = 1; s < p->nf; s++) {
            const int f = p->fac[s];
            const int64_t ido = n / (l * f);
            float *w = p->tw + 2 * p->tw_off[s];
            for (int j = 1; j < f; j++) {
                for (int64_t i = 0; i < ido; i++) {
                    /* e^{−2πi·j·i/(f·ido)}, the angle reduced exactly in integers */
                    int64_t q = (j * i) % (f * ido);
                    double a = TWO_PI * (double)q / (double)(f * ido);
                    w[2 * ((j - 1) * ido + i)] = (float)cos(a);
                    w[2 * ((j - 1) * ido + i) + 1] = (float)-sin(a);
                }
            }
            if (f > 5) {
                float *r = p->tw + 2 * p->rt_off[s];
                for (int k = 0; k < f; k++) {
                    double a = TWO_PI * k / f;
                    r[2 * k] = (float)cos(a);
                    r[2 * k + 1] = (float)-sin(a);
                }
            }
            l *= f;
        }
        return p;
    }
    /* Bluestein */
    p->nf = 0;
    const int64_t m = bluestein_len(n);
    p->m = m;
    p->chirp = (float *)at;
    at += round_up(sizeof(float) * 2 * (size_t)n);
    p->bf = (float *)at;
    at += round_up(sizeof(float) * 2 * (size_t)m);
    float *work = (float *)at;
    at += round_up(sizeof(float) * 4 * (size_t)m);
    p->sub = nbi_fft_place(at, m);
    memset(p->bf, 0, sizeof(float) * 2 * (size_t)m);
    /* j² mod 2n in integers keeps the angle π·j²/n exact before the cosine */
    for (int64_t j = 0; j < n; j++) {
        int64_t q = (j * j) % (2 * n); /* j < n ≤ 2^30: no overflow */
        double a = TWO_PI * 0.5 * (double)q / (double)n;
        p->chirp[2 * j] = (float)cos(a);
        p->chirp[2 * j + 1] = (float)-sin(a);
        /* b[j] = b[m − j] = conj(c_j) / m (the 1/m of the inverse FFT folded in) */
        float br = (float)(cos(a) / (double)m), bi = (float)(sin(a) / (double)m);
        p->bf[2 * j] = br;
        p->bf[2 * j + 1] = bi;
        if (j) {
            p->bf[2 * (m - j)] = br;
            p->bf[2 * (m - j) + 1] = bi;
        }
    }
    nbi_fft_run(p->sub, 0, p->bf, p->bf, work);
    return p;
}

nb_status nbi_fft_new(int64_t n, nbi_fft **out) {
    *out = NULL;
    size_t bytes = nbi_fft_bytes(n);
    if (!bytes)
        return nbi_error(NB_ERR_ARG, "fft: length %lld is out of range (1 .. 2^30)", (long long)n);
    void *mem = nbi_malloc_for("fft", bytes);
    if (!mem)
        return nbi_error(NB_ERR_NOMEM, "fft: out of memory for a plan of length %lld",
                         (long long)n);
    *out = nbi_fft_place(mem, n);
    return NB_OK;
}

void nbi_fft_free(nbi_fft *p) {
    nbi_free(p);
}

int64_t nbi_fft_len(const nbi_fft *p) {
    return p->n;
}

size_t nbi_fft_work(const nbi_fft *p) {
    return p->sub ? (size_t)(2 * p->m) + nbi_fft_work(p->sub) : (size_t)(4 * p->n);
}

/* ---- running -------------------------------------------------------------------------- */

static void bluestein_run(const nbi_fft *p, int inverse, const float *x, float *y, float *work) {
    const int64_t n = p->n, m = p->m;
    float *a = work, *sw = work + 2 * m;
    /* The inverse is conj(forward(conj(x))): conjugate on the way in and out. */
    const float cj = inverse ? -1.0f : 1.0f;
    for (int64_t j = 0; j < n; j++) {
        float xr = x[2 * j], xi = cj * x[2 * j + 1];
        float cr = p->chirp[2 * j], ci = p->chirp[2 * j + 1];
        a[2 * j] = xr * cr - xi * ci;
        a[2 * j + 1] = xr * ci + xi * cr;
    }
    memset(a + 2 * n, 0, sizeof(float) * 2 * (size_t)(m - n));
    nbi_fft_run(p->sub, 0, a, a, sw);
    for (int64_t j = 0; j < m; j++) {
        float ar = a[2 * j], ai = a[2 * j + 1], br = p->bf[2 * j], bi = p->bf[2 * j + 1];
        a[2 * j] = ar * br - ai * bi;
        a[2 * j + 1] = ar * bi + ai * br;
    }
    nbi_fft_run(p->sub, 1, a, a, sw);
    for (int64_t k = 0; k < n; k++) {
        float ar = a[2 * k], ai = a[2 * k + 1];
        float cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
        y[2 * k] = ar * cr - ai * ci;
        y[2 * k + 1] = cj * (ar * ci + ai * cr);
    }
}

void nbi_fft_run(const nbi_fft *p, int inverse, const float *x, float *y, float *work) {
    if (p->sub) {
        bluestein_run(p, inverse, x, y, work);
        return;
    }
    if (p->nf == 0) { /* n = 1 */
        y[0] = x[0];
        y[1] = x[1];
        return;
    }
    scalar_passes(p, inverse, x, y, work);
}

/* ---- real transforms -------------------------------------------------------------------
 * Even n = 2h: z[j] = x[2j] + i·x[2j+1] (the real array read as complex), Z = FFT_h(z); the
 * transforms of the even and odd samples are E[k] = (Z[k] + conj Z[h−k]) / 2 and
 * O[k] = −i·(Z[k] − conj Z[h−k]) / 2, and X[k] = E[k] + ω_n^k·O[k] for k ≤ h (Z[h] = Z[0]). */

size_t nbi_rfft_bytes(int64_t n) {
    if (n < 1 || n > MAX_LEN) return 0;
    const bool even = n % 2 == 0;
    size_t b = round_up(sizeof(nbi_rfft)) + nbi_fft_bytes(even ? n / 2 : n);
    if (even) b += round_up(sizeof(float) * 2 * (size_t)(n / 2 + 1));
    return b;
}

nbi_rfft *nbi_rfft_place(void *mem, int64_t n) {
    NBI_ASSERT(n >= 1 && n <= MAX_LEN && ((uintptr_t)mem % NBI_ALIGN) == 0);
    unsigned char *at = mem;
    nbi_rfft *p = (nbi_rfft *)at;
    memset(p, 0, sizeof *p);
    p->n = n;
    at += round_up(sizeof(nbi_rfft));
    const bool even = n % 2 == 0;
    if (even) {
        const int64_t h = n / 2;
        p->tw = (float *)at;
        at += round_up(sizeof(float) * 2 * (size_t)(h + 1));
        for (int64_t k = 0; k <= h; k++) {
            double a = TWO_PI * (double)k / (double)n;
            p->tw[2 * k] = (float)cos(a);
            p->tw[2 * k + 1] = (float)-sin(a);
        }
    }
    p->c = nbi_fft_place(at, even ? n / 2 : n);
    return p;
}

nb_status nbi_rfft_new(int64_t n, nbi_rfft **out) {
    *out = NULL;
    size_t bytes = nbi_rfft_bytes(n);
    if (!bytes)
        return nbi_error(NB_ERR_ARG, "rfft: length %lld is out of range (1 .. 2^30)", (long long)n);
    void *mem = nbi_malloc_for("rfft", bytes);
    if (!mem) return nbi_error(NB_ERR_NOMEM, "rfft: out of memory for length %lld", (long long)n);
    *out = nbi_rfft_place(mem, n);
    return NB_OK;
}

void nbi_rfft_free(nbi_rfft *p) {
    nbi_free(p);
}

int64_t nbi_rfft_len(const nbi_rfft *p) {
    return p->n;
}

/* odd n: the adjoint's spectrum (n + 1), the complex copy (2n), the FFT's own */
size_t nbi_rfft_work(const nbi_rfft *p) {
    return (size_t)(3 * p->n + 4) + nbi_fft_work(p->c);
}

void nbi_rfft_forward(const nbi_rfft *p, const float *x, float *X, float *work) {
    const int64_t n = p->n;
    if (n % 2) {
        float *z = work;
        for (int64_t t = 0; t < n; t++) {
            z[2 * t] = x[t];
            z[2 * t + 1] = 0.0f;
        }
        nbi_fft_run(p->c, 0, z, z, work + 2 * n);
        memcpy(X, z, sizeof(float) * 2 * (size_t)(n / 2 + 1));
        return;
    }
    const int64_t h = n / 2;
    nbi_fft_run(p->c, 0, x, X, work); /* Z in X[0 .. h) */
    scalar_rfft_split(h, X, p->tw);
}

void nbi_rfft_inverse(const nbi_rfft *p, const float *X, float *x, float *work) {
    const int64_t n = p->n;
    if (n % 2) {
        float *z = work;
        const int64_t K = n / 2 + 1;
        z[0] = X[0];
        z[1] = 0.0f;
        for (int64_t k = 1; k < K; k++) {
            z[2 * k] = X[2 * k];
            z[2 * k + 1] = X[2 * k + 1];
            z[2 * (n - k)] = X[2 * k];
            z[2 * (n - k) + 1] = -X[2 * k + 1];
        }
        nbi_fft_run(p->c, 1, z, z, work + 2 * n);
        for (int64_t t = 0; t < n; t++) x[t] = z[2 * t];
        return;
    }
    /* Z[k] = (X[k] + conj X[h−k]) + i·ω^{−k}·(X[k] − conj X[h−k]), k < h; the unnormalised
     * inverse FFT of length h then gives n·x, pairs (x[2j], x[2j+1]). */
    const int64_t h = n / 2;
    for (int64_t k = 0; k < h; k++) {
        float ar = X[2 * k], ai = k == 0 ? 0.0f : X[2 * k + 1];
        float br = X[2 * (h - k)], bi = k == 0 ? 0.0f : -X[2 * (h - k) + 1]; /* conj X[h−k] */
        float sr = ar + br, si = ai + bi, dr = ar - br, di = ai - bi;
        const float *w = p->tw + 2 * k; /* ω^k; ω^{−k} = conj */
        float tr = dr * w[0] + di * w[1], ti = di * w[0] - dr * w[1];
        x[2 * k] = sr - ti; /* + i·t */
        x[2 * k + 1] = si + tr;
    }
    nbi_fft_run(p->c, 1, x, x, work);
}

void nbi_rfft_adjoint(const nbi_rfft *p, const float *G, float *dx, float *work) {
    /* dx[t] = Re Σ_k G[k] e^{iθ} = irfft-unnormalised of G' with G'[k] = G[k]/2 inside and
     * Re G[k] at k = 0 and (even n) k = n/2, whose sines vanish. */
    const int64_t n = p->n, K = n / 2 + 1;
    float *g = work;
    for (int64_t k = 0; k < K; k++) {
        bool edge = k == 0 || (n % 2 == 0 && k == K - 1);
        g[2 * k] = edge ? G[2 * k] : 0.5f * G[2 * k];
        g[2 * k + 1] = edge ? 0.0f : 0.5f * G[2 * k + 1];
    }
    nbi_rfft_inverse(p, g, dx, work + 2 * K);
}

/* ---- frames ------------------------------------------------------------------------------ */

void nbi_rfft_adjoint_frames_ref(const nbi_rfft *p, int64_t count, const float *G, float *A,
                                 float *work) {
    const int64_t n = p->n, K = n / 2 + 1;
    for (int64_t f = 0; f < count; f++) nbi_rfft_adjoint(p, G + 2 * K * f, A + n * f, work);
}

/* the most lanes a vector set uses (AVX-512: 16), and the alignment slack of its buffers */
#define FRAMES_LANES 16

size_t nbi_rfft_frames_work(const nbi_rfft *p) {
    const size_t n = (size_t)p->n, scalar = n + nbi_rfft_work(p);
    /* vector: the paired input (h complex), the spectrum (h + 1) and the passes' 4h, per lane */
    const size_t h = n / 2, vec = FRAMES_LANES * (8 * h + 2) + FRAMES_LANES;
    return scalar > vec ? scalar : vec;
}

void nbi_rfft_frames_ref(const nbi_rfft *p, int64_t count, const float *x, int64_t hop,
                         const float *w, float *X, float *work) {
    const int64_t n = p->n, K = n / 2 + 1;
    float *frame = work, *fw = work + n;
    for (int64_t f = 0; f < count; f++) {
        const float *xf = x + f * hop;
        for (int64_t t = 0; t < n; t++) frame[t] = w[t] * xf[t];
        nbi_rfft_forward(p, frame, X + 2 * K * f, fw);
    }
}
