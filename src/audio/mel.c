/* audio/mel.c — the fixed matrices of spectral features: analysis windows, the mel scale and
 * its triangular filterbank, the orthonormal DCT-II (see nabla/audio.h for the formulas and
 * the libraries they match). Everything is computed in double and rounded once. */
#include "audio/audio.h"

#include <math.h>

static const double PI = 3.14159265358979323846264338327950288;

nb_status nb_window(nb_window_kind kind, int64_t length, int periodic, float *w) {
    if (length < 1 || !w)
        return nbi_error(NB_ERR_ARG, "nb_window: length %lld (must be >= 1) or NULL output",
                         (long long)length);
    if ((unsigned)kind > NB_WINDOW_RECT)
        return nbi_error(NB_ERR_ARG, "nb_window: unknown window kind %d", (int)kind);
    /* w[n] = a − (1 − a)·cos(2πn/N): Hann a = 0.5, Hamming a = 0.54 (torch's α, β = 0.54,
     * 0.46); N = length (periodic) or length − 1 (symmetric) */
    const double a = kind == NB_WINDOW_HANN ? 0.5 : 0.54;
    const double N = periodic ? (double)length : (double)(length - 1);
    for (int64_t i = 0; i < length; i++) {
        if (kind == NB_WINDOW_RECT || N == 0.0)
            w[i] = 1.0f;
        else
            w[i] = (float)(a - (1.0 - a) * cos(2.0 * PI * (double)i / N));
    }
    return NB_OK;
}

/* Slaney's scale (Auditory Toolbox; librosa's htk=False): 3 mels per 200 Hz up to 1 kHz, then
 * 27 mels per factor of 6.4 */
#define SLANEY_F_SP (200.0 / 3.0)
#define SLANEY_MIN_LOG_HZ 1000.0
#define SLANEY_MIN_LOG_MEL (SLANEY_MIN_LOG_HZ / SLANEY_F_SP)
#define SLANEY_LOGSTEP 0.068751777420949123 /* ln(6.4) / 27 */

double nb_hz_to_mel(double hz, nb_mel_scale scale) {
    if (scale == NB_MEL_HTK) return 2595.0 * log10(1.0 + hz / 700.0);
    if (hz < SLANEY_MIN_LOG_HZ) return hz / SLANEY_F_SP;
    return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
}

double nb_mel_to_hz(double mel, nb_mel_scale scale) {
    if (scale == NB_MEL_HTK) return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    if (mel < SLANEY_MIN_LOG_MEL) return SLANEY_F_SP * mel;
    return SLANEY_MIN_LOG_HZ * exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
}

#define MAX_MELS 4096

nb_status nb_mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                            double rate, nb_mel_scale scale, nb_mel_norm norm, float *fb) {
    if (n_freqs < 2 || n_mels < 1 || n_mels > MAX_MELS || !fb)
        return nbi_error(NB_ERR_ARG,
                         "nb_mel_filterbank: %lld frequency bins (>= 2) and %lld "
                         "mel bands (1 .. %d) are out of range",
                         (long long)n_freqs, (long long)n_mels, MAX_MELS);
    if (!(rate > 0.0 && isfinite(rate) && f_min >= 0.0 && f_max > f_min && isfinite(f_max)))
        return nbi_error(NB_ERR_ARG,
                         "nb_mel_filterbank: need 0 <= f_min < f_max and a positive "
                         "rate (f_min %g, f_max %g, rate %g)",
                         f_min, f_max, rate);
    if ((unsigned)scale > NB_MEL_SLANEY || (unsigned)norm > NB_MEL_NORM_SLANEY)
        return nbi_error(NB_ERR_ARG, "nb_mel_filterbank: unknown scale %d or norm %d", (int)scale,
                         (int)norm);
    double *pts = nbi_malloc_for("nb_mel_filterbank", sizeof(double) * (size_t)(n_mels + 2));
    if (!pts) return NB_ERR_NOMEM;
    /* n_mels + 2 points equally spaced in mel, back in Hz */
    const double m0 = nb_hz_to_mel(f_min, scale), m1 = nb_hz_to_mel(f_max, scale);
    for (int64_t i = 0; i < n_mels + 2; i++)
        pts[i] = nb_mel_to_hz(m0 + (m1 - m0) * (double)i / (double)(n_mels + 1), scale);
    for (int64_t m = 0; m < n_mels; m++) {
        /* the triangle rises from pts[m] to pts[m+1] and falls to pts[m+2] */
        const double lo = pts[m], mid = pts[m + 1], hi = pts[m + 2];
        const double enorm = norm == NB_MEL_NORM_SLANEY ? 2.0 / (hi - lo) : 1.0;
        for (int64_t k = 0; k < n_freqs; k++) {
            const double f = (double)k * (0.5 * rate) / (double)(n_freqs - 1);
            const double up = (f - lo) / (mid - lo), down = (hi - f) / (hi - mid);
            const double v = fmax(0.0, fmin(up, down));
            fb[m * n_freqs + k] = (float)(v * enorm);
        }
    }
    nbi_free(pts);
    return NB_OK;
}

nb_status nb_dct_matrix(int64_t n_out, int64_t n_in, float *D) {
    if (n_in < 1 || n_out < 1 || n_out > n_in || !D)
        return nbi_error(NB_ERR_ARG,
                         "nb_dct_matrix: %lld outputs of %lld inputs (need 1 <= "
                         "outputs <= inputs)",
                         (long long)n_out, (long long)n_in);
    /* D[k, m] = √(2/N) · cos(π/N · (m + ½) · k), row 0 scaled by 1/√2 */
    const double s = sqrt(2.0 / (double)n_in);
    for (int64_t k = 0; k < n_out; k++)
        for (int64_t m = 0; m < n_in; m++) {
            double v = s * cos(PI / (double)n_in * ((double)m + 0.5) * (double)k);
            if (k == 0) v *= sqrt(0.5);
            D[k * n_in + m] = (float)v;
        }
    return NB_OK;
}
