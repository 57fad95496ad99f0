/* kernels/spectral.c — the per-frame loops of spectral features (see kernels/fft.h): windowed
 * frames through the real FFT and the adjoint overlap-add, |X|^p and its derivative, and the
 * band-matrix product behind the mel filterbank and the DCT, with its transpose.
 *
 * Each loop runs on the calling thread and visits frames, rows and columns in a fixed order,
 * so its results do not depend on who calls it; callers parallelise over whole signals. */
#include "kernels/fft.h"

#include <math.h>
#include <string.h>

size_t nbi_stft_work(const nbi_rfft *p) {
    return (size_t)nbi_rfft_len(p) + nbi_rfft_work(p);
}

void nbi_stft_forward(const nbi_rfft *p, const float *xp, int64_t n_frames, int64_t hop,
                      const float *w, float scale, float *S, float *work) {
    const int64_t n = nbi_rfft_len(p), K = n / 2 + 1;
    float *frame = work, *fw = work + n;
    for (int64_t f = 0; f < n_frames; f++) {
        const float *x = xp + f * hop;
        for (int64_t t = 0; t < n; t++) frame[t] = w[t] * x[t];
        float *s = S + 2 * K * f;
        nbi_rfft_forward(p, frame, s, fw);
        if (scale != 1.0f)
            for (int64_t k = 0; k < 2 * K; k++) s[k] *= scale;
    }
}

void nbi_stft_adjoint(const nbi_rfft *p, const float *dS, int64_t n_frames, int64_t hop,
                      const float *w, float scale, float *dxp, float *work) {
    const int64_t n = nbi_rfft_len(p), K = n / 2 + 1;
    float *frame = work, *fw = work + n;
    for (int64_t f = 0; f < n_frames; f++) {
        nbi_rfft_adjoint(p, dS + 2 * K * f, frame, fw);
        float *dx = dxp + f * hop;
        for (int64_t t = 0; t < n; t++) dx[t] += scale * w[t] * frame[t];
    }
}

void nbi_spec_power(int64_t n, const float *S, float power, float *P) {
    if (power == 2.0f) {
        for (int64_t i = 0; i < n; i++) P[i] = S[2 * i] * S[2 * i] + S[2 * i + 1] * S[2 * i + 1];
    } else if (power == 1.0f) {
        for (int64_t i = 0; i < n; i++) P[i] = hypotf(S[2 * i], S[2 * i + 1]);
    } else {
        for (int64_t i = 0; i < n; i++)
            P[i] = powf(S[2 * i] * S[2 * i] + S[2 * i + 1] * S[2 * i + 1], 0.5f * power);
    }
}

void nbi_spec_power_backward(int64_t n, const float *S, float power, const float *dP, float *dS) {
    /* d|S|^p / dS = p·|S|^(p−2)·S (as a real gradient on (re, im)) */
    for (int64_t i = 0; i < n; i++) {
        float re = S[2 * i], im = S[2 * i + 1], g;
        if (power == 2.0f) {
            g = 2.0f * dP[i];
        } else {
            float m2 = re * re + im * im;
            g = m2 > 0.0f ? dP[i] * power * powf(m2, 0.5f * power - 1.0f) : 0.0f;
        }
        dS[2 * i] += g * re;
        dS[2 * i + 1] += g * im;
    }
}

void nbi_band_apply(const float *W, const int32_t *lo, const int32_t *hi, int64_t rows_w,
                    int64_t cols, int64_t n, const float *x, float *y) {
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * rows_w;
        for (int64_t m = 0; m < rows_w; m++) {
            const float *wm = W + m * cols;
            float s = 0.0f;
            for (int64_t c = lo[m]; c < hi[m]; c++) s += wm[c] * xr[c];
            yr[m] = s;
        }
    }
}

void nbi_band_adjoint(const float *W, const int32_t *lo, const int32_t *hi, int64_t rows_w,
                      int64_t cols, int64_t n, const float *dy, float *dx) {
    for (int64_t r = 0; r < n; r++) {
        const float *dyr = dy + r * rows_w;
        float *dxr = dx + r * cols;
        for (int64_t m = 0; m < rows_w; m++) {
            const float *wm = W + m * cols;
            const float g = dyr[m];
            for (int64_t c = lo[m]; c < hi[m]; c++) dxr[c] += wm[c] * g;
        }
    }
}
