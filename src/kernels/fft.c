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
 * ping-pong between two buffers. */
#include "kernels/fft.h"

#include <math.h>
#include <string.h>

#define MAX_FACTORS 64
#define MAX_GENERIC 61 /* largest prime done by a generic pass; above: Bluestein */
#define MAX_LEN (INT64_C(1) << 30)

struct nbi_fft {
    int64_t n;
    int nf;
    int fac[MAX_FACTORS];
    int64_t tw_off[MAX_FACTORS]; /* pass s's twiddles: (p − 1)·ido complex at tw + 2·tw_off[s] */
    int64_t rt_off[MAX_FACTORS]; /* generic pass: the p roots ω_p^k at tw + 2·rt_off[s] */
    float *tw;
    /* Bluestein (sub != NULL): X_k = c_k · Σ_t (x_t c_t) · conj(c_{k−t}), c_j = e^{−πi·j²/n},
     * the convolution done by FFTs of the power-of-two length m ≥ 2n − 1. */
    nbi_fft *sub;
    int64_t m;
    float *chirp; /* c_j, j < n */
    float *bf;    /* FFT of the wrapped conj(c), divided by m */
};

static const double TWO_PI = 6.283185307179586476925286766559;

/* ---- passes ------------------------------------------------------------------------------
 * sg = +1 forward, −1 inverse; stored twiddles are the forward ones (wr, wi) and the inverse
 * uses their conjugates (wr, sg·wi). */

static inline void twiddle(float *o, float re, float im, const float *w, float sg) {
    float wr = w[0], wi = sg * w[1];
    o[0] = re * wr - im * wi;
    o[1] = re * wi + im * wr;
}

static void pass2(int64_t ido, int64_t l1, const float *cc, float *ch, const float *tw, float sg) {
    for (int64_t k = 0; k < l1; k++) {
        for (int64_t i = 0; i < ido; i++) {
            const float *a = cc + 2 * (i + ido * (2 * k));
            const float *b = a + 2 * ido;
            float *y0 = ch + 2 * (i + ido * k), *y1 = ch + 2 * (i + ido * (k + l1));
            y0[0] = a[0] + b[0];
            y0[1] = a[1] + b[1];
            twiddle(y1, a[0] - b[0], a[1] - b[1], tw + 2 * i, sg);
        }
    }
}

static void pass3(int64_t ido, int64_t l1, const float *cc, float *ch, const float *tw, float sg) {
    const float s3 = sg * 0.866025403784438646763723170752936f; /* sin(2π/3) */
    for (int64_t k = 0; k < l1; k++) {
        for (int64_t i = 0; i < ido; i++) {
            const float *a0 = cc + 2 * (i + ido * (3 * k));
            const float *a1 = a0 + 2 * ido, *a2 = a1 + 2 * ido;
            float tr = a1[0] + a2[0], ti = a1[1] + a2[1];
            float mr = a0[0] - 0.5f * tr, mi = a0[1] - 0.5f * ti;
            /* d = −i·sg·sin(2π/3)·(a1 − a2) */
            float dr = s3 * (a1[1] - a2[1]), di = -s3 * (a1[0] - a2[0]);
            float *y0 = ch + 2 * (i + ido * k);
            y0[0] = a0[0] + tr;
            y0[1] = a0[1] + ti;
            twiddle(ch + 2 * (i + ido * (k + l1)), mr + dr, mi + di, tw + 2 * i, sg);
            twiddle(ch + 2 * (i + ido * (k + 2 * l1)), mr - dr, mi - di, tw + 2 * (ido + i), sg);
        }
    }
}

static void pass4(int64_t ido, int64_t l1, const float *cc, float *ch, const float *tw, float sg) {
    for (int64_t k = 0; k < l1; k++) {
        for (int64_t i = 0; i < ido; i++) {
            const float *a0 = cc + 2 * (i + ido * (4 * k));
            const float *a1 = a0 + 2 * ido, *a2 = a1 + 2 * ido, *a3 = a2 + 2 * ido;
            float t0r = a0[0] + a2[0], t0i = a0[1] + a2[1];
            float t1r = a0[0] - a2[0], t1i = a0[1] - a2[1];
            float t2r = a1[0] + a3[0], t2i = a1[1] + a3[1];
            float t3r = a1[0] - a3[0], t3i = a1[1] - a3[1];
            float *y0 = ch + 2 * (i + ido * k);
            y0[0] = t0r + t2r;
            y0[1] = t0i + t2i;
            /* y1 = t1 − i·sg·t3, y3 = t1 + i·sg·t3 (ω_4 = −i forward) */
            twiddle(ch + 2 * (i + ido * (k + l1)), t1r + sg * t3i, t1i - sg * t3r, tw + 2 * i, sg);
            twiddle(ch + 2 * (i + ido * (k + 2 * l1)), t0r - t2r, t0i - t2i, tw + 2 * (ido + i),
                    sg);
            twiddle(ch + 2 * (i + ido * (k + 3 * l1)), t1r - sg * t3i, t1i + sg * t3r,
                    tw + 2 * (2 * ido + i), sg);
        }
    }
}

static void pass5(int64_t ido, int64_t l1, const float *cc, float *ch, const float *tw, float sg) {
    const float c1 = 0.309016994374947424102293417182819f;      /* cos(2π/5) */
    const float c2 = -0.809016994374947424102293417182819f;     /* cos(4π/5) */
    const float s1 = sg * 0.951056516295153572116439333379382f; /* sin(2π/5) */
    const float s2 = sg * 0.587785252292473129168705954639073f; /* sin(4π/5) */
    for (int64_t k = 0; k < l1; k++) {
        for (int64_t i = 0; i < ido; i++) {
            const float *a0 = cc + 2 * (i + ido * (5 * k));
            const float *a1 = a0 + 2 * ido, *a2 = a1 + 2 * ido, *a3 = a2 + 2 * ido,
                        *a4 = a3 + 2 * ido;
            float b1r = a1[0] + a4[0], b1i = a1[1] + a4[1];
            float b2r = a2[0] + a3[0], b2i = a2[1] + a3[1];
            float d1r = a1[0] - a4[0], d1i = a1[1] - a4[1];
            float d2r = a2[0] - a3[0], d2i = a2[1] - a3[1];
            float *y0 = ch + 2 * (i + ido * k);
            y0[0] = a0[0] + b1r + b2r;
            y0[1] = a0[1] + b1i + b2i;
            /* y1,4 = a0 + c1·b1 + c2·b2 ∓ i·(s1·d1 + s2·d2);  y2,3 = a0 + c2·b1 + c1·b2 ∓
             * i·(s2·d1 − s1·d2); −i·(x + iy) = y − ix */
            float p1r = a0[0] + c1 * b1r + c2 * b2r, p1i = a0[1] + c1 * b1i + c2 * b2i;
            float q1r = s1 * d1r + s2 * d2r, q1i = s1 * d1i + s2 * d2i;
            float p2r = a0[0] + c2 * b1r + c1 * b2r, p2i = a0[1] + c2 * b1i + c1 * b2i;
            float q2r = s2 * d1r - s1 * d2r, q2i = s2 * d1i - s1 * d2i;
            twiddle(ch + 2 * (i + ido * (k + l1)), p1r + q1i, p1i - q1r, tw + 2 * i, sg);
            twiddle(ch + 2 * (i + ido * (k + 2 * l1)), p2r + q2i, p2i - q2r, tw + 2 * (ido + i),
                    sg);
            twiddle(ch + 2 * (i + ido * (k + 3 * l1)), p2r - q2i, p2i + q2r, tw + 2 * (2 * ido + i),
                    sg);
            twiddle(ch + 2 * (i + ido * (k + 4 * l1)), p1r - q1i, p1i + q1r, tw + 2 * (3 * ido + i),
                    sg);
        }
    }
}

/* Odd prime p ≤ MAX_GENERIC: y_j and y_{p−j} from the sums b_m = a_m + a_{p−m} and
 * d_m = a_m − a_{p−m} (m = 1 .. (p−1)/2), with the roots rt[k] = ω_p^k (forward). */
static void pass_generic(int p, int64_t ido, int64_t l1, const float *cc, float *ch,
                         const float *tw, const float *rt, float sg) {
    const int h = (p - 1) / 2;
    float br[MAX_GENERIC / 2], bi[MAX_GENERIC / 2], dr[MAX_GENERIC / 2], di[MAX_GENERIC / 2];
    for (int64_t k = 0; k < l1; k++) {
        for (int64_t i = 0; i < ido; i++) {
            const float *a = cc + 2 * (i + ido * (p * k));
            const int64_t st = 2 * ido;
            float y0r = a[0], y0i = a[1];
            for (int m = 1; m <= h; m++) {
                const float *am = a + m * st, *an = a + (p - m) * st;
                br[m - 1] = am[0] + an[0];
                bi[m - 1] = am[1] + an[1];
                dr[m - 1] = am[0] - an[0];
                di[m - 1] = am[1] - an[1];
                y0r += br[m - 1];
                y0i += bi[m - 1];
            }
            float *y0 = ch + 2 * (i + ido * k);
            y0[0] = y0r;
            y0[1] = y0i;
            for (int j = 1; j <= h; j++) {
                /* y_j = a0 + Σ_m cos(2π·jm/p)·b_m − i·sg·sin(2π·jm/p)·d_m; rt holds
                 * (cos, −sin) of 2π·k/p */
                float pr = a[0], pi = a[1], qr = 0.0f, qi = 0.0f;
                int jm = 0;
                for (int m = 1; m <= h; m++) {
                    jm += j;
                    if (jm >= p) jm -= p;
                    float c = rt[2 * jm], s = -rt[2 * jm + 1];
                    pr += c * br[m - 1];
                    pi += c * bi[m - 1];
                    qr += s * dr[m - 1];
                    qi += s * di[m - 1];
                }
                qr *= sg;
                qi *= sg;
                twiddle(ch + 2 * (i + ido * (k + j * l1)), pr + qi, pi - qr,
                        tw + 2 * ((j - 1) * ido + i), sg);
                twiddle(ch + 2 * (i + ido * (k + (p - j) * l1)), pr - qi, pi + qr,
                        tw + 2 * ((p - j - 1) * ido + i), sg);
            }
        }
    }
}

/* ---- plans ------------------------------------------------------------------------------ */

/* Factors n into 4s, 2s, 3s, 5s and other odd primes (ascending); false when a prime factor
 * exceeds MAX_GENERIC. */
static bool factorize(int64_t n, int *fac, int *nf) {
    *nf = 0;
    while (n % 4 == 0) fac[(*nf)++] = 4, n /= 4;
    while (n % 2 == 0) fac[(*nf)++] = 2, n /= 2;
    for (int64_t p = 3; n > 1; p += 2) {
        if (p * p > n) p = n; /* n itself is prime */
        while (n % p == 0) {
            if (p > MAX_GENERIC) return false;
            fac[(*nf)++] = (int)p;
            n /= p;
        }
    }
    return true;
}

void nbi_fft_free(nbi_fft *p) {
    if (!p) return;
    nbi_fft_free(p->sub);
    nbi_free(p->tw);
    nbi_free(p->chirp);
    nbi_free(p->bf);
    nbi_free(p);
}

int64_t nbi_fft_len(const nbi_fft *p) {
    return p->n;
}

size_t nbi_fft_work(const nbi_fft *p) {
    return p->sub ? (size_t)(2 * p->m) + nbi_fft_work(p->sub) : (size_t)(4 * p->n);
}

static nb_status bluestein_init(nbi_fft *p) {
    const int64_t n = p->n;
    int64_t m = 1;
    while (m < 2 * n - 1) m *= 2;
    p->m = m;
    nb_status st = nbi_fft_new(m, &p->sub);
    if (st) return st;
    p->chirp = nbi_malloc_for("fft", sizeof(float) * 2 * (size_t)n);
    p->bf = nbi_calloc(2 * (size_t)m, sizeof(float));
    float *work = nbi_malloc_for("fft", sizeof(float) * nbi_fft_work(p->sub));
    if (!p->chirp || !p->bf || !work) {
        nbi_free(work);
        return nbi_error(NB_ERR_NOMEM, "fft: out of memory for a plan of length %lld",
                         (long long)n);
    }
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
    nbi_free(work);
    return NB_OK;
}

nb_status nbi_fft_new(int64_t n, nbi_fft **out) {
    *out = NULL;
    if (n < 1 || n > MAX_LEN)
        return nbi_error(NB_ERR_ARG, "fft: length %lld is out of range (1 .. 2^30)", (long long)n);
    nbi_fft *p = nbi_calloc(1, sizeof *p);
    if (!p) return nbi_error(NB_ERR_NOMEM, "fft: out of memory");
    p->n = n;
    nb_status st = NB_OK;
    if (!factorize(n, p->fac, &p->nf)) {
        p->nf = 0;
        st = bluestein_init(p);
    } else {
        /* twiddles for every pass, then the roots of the generic ones */
        int64_t total = 0, l1 = 1;
        for (int s = 0; s < p->nf; s++) {
            int64_t ido = n / (l1 * p->fac[s]);
            p->tw_off[s] = total;
            total += (p->fac[s] - 1) * ido;
            if (p->fac[s] > 5) {
                p->rt_off[s] = total;
                total += p->fac[s];
            }
            l1 *= p->fac[s];
        }
        p->tw = nbi_malloc_for("fft", sizeof(float) * 2 * (size_t)(total ? total : 1));
        if (!p->tw) st = NB_ERR_NOMEM;
        for (int s = 0, l = 1; !st && s < p->nf; s++) {
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
    }
    if (st) {
        nbi_fft_free(p);
        return st;
    }
    *out = p;
    return NB_OK;
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
    const int64_t n = p->n;
    if (p->sub) {
        bluestein_run(p, inverse, x, y, work);
        return;
    }
    if (p->nf == 0) { /* n = 1 */
        y[0] = x[0];
        y[1] = x[1];
        return;
    }
    const float sg = inverse ? -1.0f : 1.0f;
    float *b1 = work, *b2 = work + 2 * n;
    const float *src = x;
    if (x == y && p->nf == 1) { /* the only pass would read and write y */
        memcpy(b2, x, sizeof(float) * 2 * (size_t)n);
        src = b2;
    }
    int64_t l1 = 1;
    for (int s = 0; s < p->nf; s++) {
        const int f = p->fac[s];
        const int64_t ido = n / (l1 * f);
        float *dst = s == p->nf - 1 ? y : (src == b1 ? b2 : b1);
        const float *tw = p->tw + 2 * p->tw_off[s];
        switch (f) {
        case 2:
            pass2(ido, l1, src, dst, tw, sg);
            break;
        case 3:
            pass3(ido, l1, src, dst, tw, sg);
            break;
        case 4:
            pass4(ido, l1, src, dst, tw, sg);
            break;
        case 5:
            pass5(ido, l1, src, dst, tw, sg);
            break;
        default:
            pass_generic(f, ido, l1, src, dst, tw, p->tw + 2 * p->rt_off[s], sg);
            break;
        }
        src = dst;
        l1 *= f;
    }
}

/* ---- real transforms -------------------------------------------------------------------
 * Even n = 2h: z[j] = x[2j] + i·x[2j+1] (the real array read as complex), Z = FFT_h(z); the
 * transforms of the even and odd samples are E[k] = (Z[k] + conj Z[h−k]) / 2 and
 * O[k] = −i·(Z[k] − conj Z[h−k]) / 2, and X[k] = E[k] + ω_n^k·O[k] for k ≤ h (Z[h] = Z[0]). */

struct nbi_rfft {
    int64_t n;
    nbi_fft *c; /* length n/2 (even n) or n (odd n) */
    float *tw;  /* even n: ω_n^k = e^{−2πi·k/n}, k ≤ n/2 */
};

void nbi_rfft_free(nbi_rfft *p) {
    if (!p) return;
    nbi_fft_free(p->c);
    nbi_free(p->tw);
    nbi_free(p);
}

int64_t nbi_rfft_len(const nbi_rfft *p) {
    return p->n;
}

/* odd n: the adjoint's spectrum (n + 1), the complex copy (2n), the FFT's own */
size_t nbi_rfft_work(const nbi_rfft *p) {
    return (size_t)(3 * p->n + 4) + nbi_fft_work(p->c);
}

nb_status nbi_rfft_new(int64_t n, nbi_rfft **out) {
    *out = NULL;
    if (n < 1 || n > MAX_LEN)
        return nbi_error(NB_ERR_ARG, "rfft: length %lld is out of range (1 .. 2^30)", (long long)n);
    nbi_rfft *p = nbi_calloc(1, sizeof *p);
    if (!p) return nbi_error(NB_ERR_NOMEM, "rfft: out of memory");
    p->n = n;
    const bool even = n % 2 == 0;
    nb_status st = nbi_fft_new(even ? n / 2 : n, &p->c);
    if (!st && even) {
        const int64_t h = n / 2;
        p->tw = nbi_malloc_for("rfft", sizeof(float) * 2 * (size_t)(h + 1));
        if (!p->tw) st = NB_ERR_NOMEM;
        for (int64_t k = 0; !st && k <= h; k++) {
            double a = TWO_PI * (double)k / (double)n;
            p->tw[2 * k] = (float)cos(a);
            p->tw[2 * k + 1] = (float)-sin(a);
        }
    }
    if (st) {
        nbi_rfft_free(p);
        return st;
    }
    *out = p;
    return NB_OK;
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
    /* pairs (k, h − k) in place; k = 0 pairs with h (Z[h] = Z[0]) */
    for (int64_t k = 0; k <= h / 2; k++) {
        const int64_t kc = h - k;
        const float zr = X[2 * k], zi = X[2 * k + 1];
        const float cr = X[2 * (kc % h)], ci = -X[2 * (kc % h) + 1]; /* conj Z[h−k] */
        /* E = (Z + C)/2, O = −i(Z − C)/2 */
        float er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
        float or_ = 0.5f * (zi - ci), oi = -0.5f * (zr - cr);
        const float *w = p->tw + 2 * k;
        float Xr = er + (or_ * w[0] - oi * w[1]), Xi = ei + (or_ * w[1] + oi * w[0]);
        /* the partner: Z' = Z[h−k], C' = conj Z[k] */
        float zr2 = X[2 * (kc % h)], zi2 = X[2 * (kc % h) + 1];
        float cr2 = zr, ci2 = -zi;
        float er2 = 0.5f * (zr2 + cr2), ei2 = 0.5f * (zi2 + ci2);
        float or2 = 0.5f * (zi2 - ci2), oi2 = -0.5f * (zr2 - cr2);
        const float *w2 = p->tw + 2 * kc;
        float Xr2 = er2 + (or2 * w2[0] - oi2 * w2[1]), Xi2 = ei2 + (or2 * w2[1] + oi2 * w2[0]);
        X[2 * k] = Xr;
        X[2 * k + 1] = Xi;
        X[2 * kc] = Xr2;
        X[2 * kc + 1] = Xi2;
    }
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
