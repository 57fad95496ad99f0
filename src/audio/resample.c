/* audio/resample.c — band-limited resampling by a Kaiser-windowed sinc (see nabla/audio.h).
 *
 * With P = from/g and Q = to/g (g = gcd), output sample j sits at input position
 * u = j·P/Q = q·P + p·P/Q for j = q·Q + p, so its fractional offset φ = (p·P mod Q)/Q depends on
 * the phase p = j mod Q alone: the filter has Q phases of 2K + 1 taps (K = ⌈hw⌉), and output j
 * is Σ_d h_p[d] · x[⌊u⌋ + d] over d = −K .. K, with
 *
 *   h_p[d] = r · sinc(r·(φ − d)) · I0(β·√(1 − ((φ − d)/hw)²)) / I0(β)     for |φ − d| < hw
 *
 * (r = rolloff · min(from, to)/from, the cutoff relative to the input rate times 2;
 * hw = zero_crossings / r). The taps are computed in double; when the table of Q·(2K + 1) taps
 * would be larger than 4M floats (rates with a large reduced denominator, such as 44101 →
 * 16000), each output's taps are computed on the fly instead, with the same formula.
 *
 * Design: a Kaiser window of shape β ≈ 8 gives about 80 dB of stop-band attenuation and a
 * transition band about 5·fc/zero_crossings wide around the cutoff fc; the defaults (24
 * crossings, rolloff 0.9) put it between 0.81 and 0.99 of the lower Nyquist frequency. */
#include "audio/audio.h"

#include <math.h>
#include <string.h>

#define MAX_TABLE (INT64_C(1) << 22)
#define MAX_RATE INT64_C(1000000000)
#define MAX_HALF_WIDTH (INT64_C(1) << 20) /* taps on each side */

static const double PI = 3.14159265358979323846264338327950288;

struct nb_resampler {
    int64_t P, Q; /* from/g, to/g */
    double r, hw, beta, i0beta;
    int64_t K;    /* taps on each side of the centre */
    float *table; /* Q × (2K + 1), or NULL: taps computed per output */
};

nb_resample_opts nbi_resample_resolve(const nb_resample_opts *in) {
    nb_resample_opts o = in ? *in : (nb_resample_opts){0};
    if (o.zero_crossings == 0) o.zero_crossings = 24;
    if (o.rolloff == 0.0) o.rolloff = 0.9;
    if (o.beta == 0.0 && !signbit(o.beta)) o.beta = 8.0; /* NB_ZERO (-0.0) stays: a real 0 */
    return o;
}

/* I0(x) = Σ_k ((x/2)^k / k!)², summed until the terms stop mattering in double */
static double bessel_i0(double x) {
    double sum = 1.0, term = 1.0, q = 0.25 * x * x;
    for (int k = 1; k < 500; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < 1e-17 * sum) break;
    }
    return sum;
}

static double tap(const nb_resampler *rs, double x) {
    const double u = x / rs->hw;
    if (!(fabs(u) < 1.0)) return 0.0;
    const double z = rs->r * x;
    const double sinc = z == 0.0 ? 1.0 : sin(PI * z) / (PI * z);
    return rs->r * sinc * bessel_i0(rs->beta * sqrt(1.0 - u * u)) / rs->i0beta;
}

/* taps of phase p into h[0 .. 2K] */
static void phase_taps(const nb_resampler *rs, int64_t p, float *h) {
    const double phi = (double)((p * rs->P) % rs->Q) / (double)rs->Q;
    for (int64_t d = -rs->K; d <= rs->K; d++) h[d + rs->K] = (float)tap(rs, phi - (double)d);
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void nb_resampler_free(nb_resampler *r) {
    if (!r) return;
    nbi_free(r->table);
    nbi_free(r);
}

nb_status nb_resampler_new(int64_t from_rate, int64_t to_rate, const nb_resample_opts *opts,
                           nb_resampler **out) {
    *out = NULL;
    const nb_resample_opts o = nbi_resample_resolve(opts);
    if (from_rate < 1 || to_rate < 1 || from_rate > MAX_RATE || to_rate > MAX_RATE)
        return nbi_error(NB_ERR_ARG,
                         "resample: rates %lld -> %lld Hz are out of range (1 .. "
                         "10^9)",
                         (long long)from_rate, (long long)to_rate);
    if (o.zero_crossings < 1 || o.zero_crossings > 1024)
        return nbi_error(NB_ERR_ARG, "resample: zero_crossings %d is out of range (1 .. 1024)",
                         o.zero_crossings);
    if (!(o.rolloff > 0.0 && o.rolloff <= 1.0))
        return nbi_error(NB_ERR_ARG, "resample: rolloff %g is out of range (0, 1]", o.rolloff);
    if (!(o.beta >= 0.0 && o.beta <= 50.0))
        return nbi_error(NB_ERR_ARG, "resample: Kaiser beta %g is out of range [0, 50]", o.beta);
    nb_resampler *rs = nbi_calloc(1, sizeof *rs);
    if (!rs) return nbi_error(NB_ERR_NOMEM, "resample: out of memory");
    const int64_t g = gcd64(from_rate, to_rate);
    rs->P = from_rate / g;
    rs->Q = to_rate / g;
    const int64_t lower = from_rate < to_rate ? from_rate : to_rate;
    rs->r = o.rolloff * (double)lower / (double)from_rate;
    rs->hw = o.zero_crossings / rs->r;
    rs->beta = o.beta;
    rs->i0beta = bessel_i0(o.beta);
    if (rs->hw > (double)MAX_HALF_WIDTH) {
        nbi_free(rs);
        return nbi_error(NB_ERR_ARG,
                         "resample: %lld -> %lld Hz is too extreme a ratio (the "
                         "filter would span %.3g samples)",
                         (long long)from_rate, (long long)to_rate,
                         2.0 * o.zero_crossings / (o.rolloff * (double)lower / (double)from_rate));
    }
    rs->K = (int64_t)ceil(rs->hw);
    const int64_t L = 2 * rs->K + 1;
    if (rs->P != rs->Q && rs->Q <= MAX_TABLE / L) {
        rs->table = nbi_malloc_for("resample", sizeof(float) * (size_t)(rs->Q * L));
        if (!rs->table) {
            nbi_free(rs);
            return NB_ERR_NOMEM;
        }
        for (int64_t p = 0; p < rs->Q; p++) phase_taps(rs, p, rs->table + p * L);
    }
    *out = rs;
    return NB_OK;
}

int64_t nb_resampler_out_len(const nb_resampler *r, int64_t n) {
    if (n <= 0) return 0;
    if (n > (INT64_MAX - r->P) / r->Q) return -1;
    return (n * r->Q + r->P - 1) / r->P;
}

void nb_resampler_run(const nb_resampler *r, const float *x, int64_t n, int64_t xs, float *y,
                      int64_t ys) {
    const int64_t m = nb_resampler_out_len(r, n);
    if (r->P == r->Q) { /* the same rate: nothing to filter */
        for (int64_t j = 0; j < m; j++) y[j * ys] = x[j * xs];
        return;
    }
    const int64_t K = r->K, L = 2 * K + 1;
    for (int64_t j = 0; j < m; j++) {
        const int64_t q = j / r->Q, p = j % r->Q;
        const int64_t base = q * r->P + (p * r->P) / r->Q;
        int64_t d0 = -K, d1 = K;
        if (base + d0 < 0) d0 = -base;
        if (base + d1 > n - 1) d1 = n - 1 - base;
        const float *xb = x + base * xs;
        float s = 0.0f;
        if (r->table) {
            const float *w = r->table + p * L + K;
            if (xs == 1) {
                for (int64_t d = d0; d <= d1; d++) s += w[d] * xb[d];
            } else {
                for (int64_t d = d0; d <= d1; d++) s += w[d] * xb[d * xs];
            }
        } else { /* no table: the same taps, computed here */
            const double phi = (double)((p * r->P) % r->Q) / (double)r->Q;
            for (int64_t d = d0; d <= d1; d++) s += (float)tap(r, phi - (double)d) * xb[d * xs];
        }
        y[j * ys] = s;
    }
}

nb_status nb_audio_resample(nb_audio *a, int rate, const nb_resample_opts *opts) {
    if (!a || !a->data || a->channels < 1 || a->frames < 0)
        return nbi_error(NB_ERR_ARG, "nb_audio_resample: the audio is empty or malformed");
    if (rate == a->rate) return NB_OK;
    nb_resampler *r;
    nb_status st = nb_resampler_new(a->rate, rate, opts, &r);
    if (st) return st;
    const int64_t m = nb_resampler_out_len(r, a->frames);
    nb_audio b;
    st = m < 0 ? nbi_error(NB_ERR_ARG, "nb_audio_resample: %lld frames at %d Hz is too long",
                           (long long)a->frames, rate)
               : nbi_audio_alloc(&b, m, a->channels, rate, "nb_audio_resample");
    if (!st) {
        for (int c = 0; c < a->channels; c++)
            nb_resampler_run(r, a->data + c, a->frames, a->channels, b.data + c, a->channels);
        nb_audio_free(a);
        *a = b;
    }
    nb_resampler_free(r);
    return st;
}

nb_status nb_audio_to_mono(nb_audio *a) {
    if (!a || !a->data || a->channels < 1 || a->frames < 0)
        return nbi_error(NB_ERR_ARG, "nb_audio_to_mono: the audio is empty or malformed");
    const int C = a->channels;
    if (C == 1) return NB_OK;
    for (int64_t t = 0; t < a->frames; t++) {
        double s = 0.0;
        for (int c = 0; c < C; c++) s += a->data[t * C + c];
        a->data[t] = (float)(s / C);
    }
    a->channels = 1;
    return NB_OK;
}

void nbi_fix_length(const float *x, int64_t n, float *y, int64_t length, nb_align align) {
    /* off: where x[0] lands in y (negative: the first −off samples of x are cut) */
    int64_t off = align == NB_ALIGN_CENTER ? (length - n) / 2 : 0;
    if (align == NB_ALIGN_CENTER && length < n) off = -((n - length) / 2);
    /* y[i] = x[i − off] where that is inside x, else 0: zeros, a copy, zeros */
    if (length <= 0) return;
    const int64_t a = off > 0 ? (off < length ? off : length) : 0;
    int64_t b = n + off < length ? n + off : length;
    if (b < a) b = a;
    memset(y, 0, sizeof(float) * (size_t)a);
    if (b > a) memcpy(y + a, x + (a - off), sizeof(float) * (size_t)(b - a));
    memset(y + b, 0, sizeof(float) * (size_t)(length - b));
}
