/* kernels/spectral.h — the geometry and the back-end entries of the differentiable spectral
 * ops (ops/spectral.c): the STFT of a batch of signals with PyTorch's conventions, |X|^p, and
 * a band-matrix product along the frequency axis (the mel filterbank, the DCT of MFCCs).
 *
 * The per-frame loops (the real FFT, its adjoint, |X|^p and its derivative) are in
 * kernels/fft.h and kernels/spectral.c; the CPU entries that run them over a batch, one
 * signal a piece on the pool, are in kernels/spectral_cpu.c. Every output element is computed
 * by one piece in a fixed order and sums across the batch (the window's and the matrix's
 * gradients) are added in batch order, so results do not depend on the thread count. */
#ifndef NBI_SPECTRAL_H
#define NBI_SPECTRAL_H

#include "kernels/fft.h"

/* ---- padding for centred frames (kernels/spectral.c) ----------------------------------------
 * Modes as nb_pad_mode (nabla/audio.h): reflect (x[1], x[2], ... mirrored without the edge),
 * constant (zeros), replicate (the edge), circular (the other end). xp has n + 2·pad samples;
 * reflect needs n > pad, replicate n ≥ 1, circular n ≥ pad (the op checks). The adjoint folds
 * a gradient of xp back onto x: dx += Padᵀ dxp. */
enum { NBI_PAD_REFLECT, NBI_PAD_CONSTANT, NBI_PAD_REPLICATE, NBI_PAD_CIRCULAR };
void nbi_pad1d(const float *x, int64_t n, int64_t pad, int mode, float *xp);
void nbi_pad1d_adjoint(const float *dxp, int64_t n, int64_t pad, int mode, float *dx);

/* ---- the STFT ------------------------------------------------------------------------------
 * B signals x [B, L] → S [B, K, T, 2] (torch.stft(..., return_complex=True) through
 * torch.view_as_real), K = n_fft/2 + 1, T frames of n_fft samples every hop over the signal
 * padded by `pad` samples on each side (center: n_fft/2, else 0) in mode pad_mode:
 *
 *   S[b, k, f] = scale · Σ_{t<n_fft} wf[t] · xp[b, f·hop + t] · e^{−2πi·kt/n_fft}
 *
 * where wf is the window w [win] placed at win_off = (n_fft − win)/2 with zeros around it
 * (torch pads a short window that way), and scale 1 or 1/√n_fft (normalized). */
typedef struct nbi_stft_geom {
    int64_t B, L, n_fft, hop, T, K, pad, win, win_off;
    int pad_mode;
    float scale;
} nbi_stft_geom;

/* ---- the band-matrix product ---------------------------------------------------------------
 * x [B, K, T] → y [B, M, T] with W [M, K]:  y[b, m, t] = Σ_{lo[m] ≤ k < hi[m]} W[m, k]·x[b, k, t]
 * where [lo[m], hi[m]) is the non-zero band of row m (the few bins of a mel filter; all of
 * them for a DCT). Backward:
 *   dx[b, k, t] += Σ_m W[m, k] · dy[b, m, t]           (m ascending)
 *   dW[m, k]    += Σ_b Σ_t dy[b, m, t] · x[b, k, t]    (every k; b then t, in double) */
typedef struct nbi_band_geom {
    int64_t B, M, K, T;
} nbi_band_geom;

/* lo[m], hi[m]: the first non-zero column of row m of W [M, K] and one past the last (both 0
 * for a row of zeros); a NaN counts as non-zero. */
void nbi_band_limits(int64_t M, int64_t K, const float *W, int32_t *lo, int32_t *hi);
/* One item: y [M, T] from x [K, T]; dx [K, T] += from dy [M, T]. */
void nbi_band_rows(int64_t M, int64_t K, int64_t T, const float *W, const int32_t *lo,
                   const int32_t *hi, const float *x, float *y);
void nbi_band_rows_adjoint(int64_t M, int64_t K, int64_t T, const float *W, const int32_t *lo,
                           const int32_t *hi, const float *dy, float *dx);

#endif
