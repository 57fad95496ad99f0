/* kernels/spectral.c — the per-frame loops of spectral features (see kernels/fft.h): windowed
 * frames through the real FFT and the adjoint overlap-add, |X|^p and its derivative, and the
 * band-matrix product behind the mel filterbank and the DCT, with its transpose.
 *
 * Each loop runs on the calling thread and visits frames, rows and columns in a fixed order,
 * so its results do not depend on who calls it; callers parallelise over whole signals. */
#include "kernels/spectral.h"

#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

size_t nbi_stft_work(const nbi_rfft *p) {
    const size_t a = nbi_rfft_frames_work(p), b = (size_t)nbi_rfft_len(p) + nbi_rfft_work(p);
    return a > b ? a : b;
}

/* The frames through the best kernel set's frame FFT (nbi_kernels.rfft_frames: vector lanes
 * where the CPU has them, the same bits as the scalar loop). */
void nbi_stft_forward(const nbi_rfft *p, const float *xp, int64_t n_frames, int64_t hop,
                      const float *w, float scale, float *S, float *work) {
    const int64_t K = nbi_rfft_len(p) / 2 + 1;
    nbi_kernel_set(nbi_best_isa())->rfft_frames(p, n_frames, xp, hop, w, S, work);
    if (scale != 1.0f)
        for (int64_t k = 0; k < 2 * K * n_frames; k++) S[k] *= scale;
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

/* ---- padding for centred frames ----------------------------------------------------------- */

/* The index of x that padded position i (0 ≤ i < n + 2·pad) reads, or −1 for a zero. */
static int64_t pad_src(int64_t i, int64_t n, int64_t pad, int mode) {
    int64_t j = i - pad;
    if (j >= 0 && j < n) return j;
    switch (mode) {
    case NBI_PAD_REFLECT:
        return j < 0 ? -j : 2 * (n - 1) - j;
    case NBI_PAD_REPLICATE:
        return j < 0 ? 0 : n - 1;
    case NBI_PAD_CIRCULAR:
        return j < 0 ? j + n : j - n;
    default:
        return -1;
    }
}

void nbi_pad1d(const float *x, int64_t n, int64_t pad, int mode, float *xp) {
    for (int64_t i = 0; i < n + 2 * pad; i++) {
        int64_t s = pad_src(i, n, pad, mode);
        xp[i] = s < 0 ? 0.0f : x[s];
    }
}

void nbi_pad1d_adjoint(const float *dxp, int64_t n, int64_t pad, int mode, float *dx) {
    /* Padᵀ: every padded position gives its gradient back to the sample it copied, in
     * ascending position order. */
    for (int64_t i = 0; i < n + 2 * pad; i++) {
        int64_t s = pad_src(i, n, pad, mode);
        if (s >= 0) dx[s] += dxp[i];
    }
}

/* ---- band-matrix products along the second-last axis --------------------------------------- */

void nbi_band_limits(int64_t M, int64_t K, const float *W, int32_t *lo, int32_t *hi) {
    for (int64_t m = 0; m < M; m++) {
        const float *w = W + m * K;
        int64_t a = 0, b = K;
        while (a < K && w[a] == 0.0f) a++;
        while (b > a && w[b - 1] == 0.0f) b--;
        lo[m] = (int32_t)(a < b ? a : 0);
        hi[m] = (int32_t)(a < b ? b : 0);
    }
}

void nbi_band_rows(int64_t M, int64_t K, int64_t T, const float *W, const int32_t *lo,
                   const int32_t *hi, const float *x, float *y) {
    /* y[m, :] = Σ_k W[m, k]·x[k, :], k ascending: each element's products added in order */
    for (int64_t m = 0; m < M; m++) {
        float *ym = y + m * T;
        for (int64_t t = 0; t < T; t++) ym[t] = 0.0f;
        for (int64_t k = lo[m]; k < hi[m]; k++) {
            const float w = W[m * K + k], *xk = x + k * T;
            for (int64_t t = 0; t < T; t++) ym[t] += w * xk[t];
        }
    }
}

void nbi_band_rows_adjoint(int64_t M, int64_t K, int64_t T, const float *W, const int32_t *lo,
                           const int32_t *hi, const float *dy, float *dx) {
    for (int64_t m = 0; m < M; m++) {
        const float *dym = dy + m * T;
        for (int64_t k = lo[m]; k < hi[m]; k++) {
            const float w = W[m * K + k];
            float *dxk = dx + k * T;
            for (int64_t t = 0; t < T; t++) dxk[t] += w * dym[t];
        }
    }
}
