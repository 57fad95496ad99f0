/* kernels/fft.h — discrete Fourier transforms and the per-frame loops of spectral features, on
 * raw float pointers.
 *
 * Complex data is interleaved (re, im) pairs. The transforms are
 *
 *   forward   X[k] = Σ_{t<n} x[t] · e^{−2πi·kt/n}
 *   inverse   x[t] = Σ_{k<n} X[k] · e^{+2πi·kt/n}        (unnormalised: inverse(forward(x)) = n·x)
 *
 * and the real forward transform keeps the n/2 + 1 non-negative frequencies (NumPy's rfft).
 * A plan (nbi_fft, nbi_rfft) is made once per length and is read-only afterwards, so threads
 * may share it; each call takes a caller-owned work buffer of nbi_*_work() floats.
 *
 * Lengths: any n ≥ 1. n is factored into 4, 2, 3 and 5 (the common sizes: 256, 320, 400, 512)
 * and other primes, each a pass of a self-sorting (Stockham) mixed-radix FFT; a length with a
 * prime factor above 61 is done by Bluestein's chirp-z algorithm through a power-of-two FFT,
 * so no length costs O(n²). The real transform of even n runs a complex FFT of n/2 points on
 * the samples paired as (x[2j], x[2j+1]) and separates the two halves; odd n runs a complex
 * FFT of n points. Twiddle factors are computed in double and rounded once.
 *
 * kernels/ref/dft.c holds the oracle: the DFT as its definition, summed in double.
 *
 * The per-frame loops below (framing and windowing, the STFT, |X|^p, the band-matrix product
 * behind the mel filterbank and the DCT) each come with the adjoint of their linear part, so
 * that a differentiable op can call them for backward: the transpose of the windowed DFT of
 * frames (an overlap-add of inverse transforms) and the transpose of the matrix product. */
#ifndef NBI_FFT_H
#define NBI_FFT_H

#include "base/base.h"

/* ---- complex FFT -------------------------------------------------------------------------- */
typedef struct nbi_fft nbi_fft;

/* A plan for length n ≥ 1 (NB_ERR_ARG for n < 1, NB_ERR_NOMEM), in one allocation. */
nb_status nbi_fft_new(int64_t n, nbi_fft **out);
void nbi_fft_free(nbi_fft *p); /* NULL is a no-op */
/* The same plan built in memory the caller owns (an op's arena): nbi_fft_bytes(n) bytes,
 * 64-byte aligned (0: n outside 1 .. 2^30). Nothing to free but the memory. */
size_t nbi_fft_bytes(int64_t n);
nbi_fft *nbi_fft_place(void *mem, int64_t n);
int64_t nbi_fft_len(const nbi_fft *p);
/* Floats of work space a call needs. */
size_t nbi_fft_work(const nbi_fft *p);
/* y = forward (inverse = 0) or unnormalised inverse (inverse = 1) transform of x; n complex
 * values each. y may be x. work: nbi_fft_work(p) floats, not overlapping x or y. */
void nbi_fft_run(const nbi_fft *p, int inverse, const float *x, float *y, float *work);

/* ---- real FFT ----------------------------------------------------------------------------- */
typedef struct nbi_rfft nbi_rfft;

nb_status nbi_rfft_new(int64_t n, nbi_rfft **out);
void nbi_rfft_free(nbi_rfft *p);
size_t nbi_rfft_bytes(int64_t n);
nbi_rfft *nbi_rfft_place(void *mem, int64_t n);
int64_t nbi_rfft_len(const nbi_rfft *p);
size_t nbi_rfft_work(const nbi_rfft *p);
/* X[0 .. n/2] (complex, n/2 + 1 pairs) = rfft(x[0 .. n)). */
void nbi_rfft_forward(const nbi_rfft *p, const float *x, float *X, float *work);
/* x = n · irfft(X): the unnormalised inverse of a Hermitian spectrum given by its n/2 + 1
 * non-negative frequencies. The imaginary parts of X[0] and (for even n) X[n/2] are ignored,
 * as NumPy's irfft ignores them. X is not modified. */
void nbi_rfft_inverse(const nbi_rfft *p, const float *X, float *x, float *work);
/* dx[t] = Re Σ_{k ≤ n/2} G[k] · e^{+2πi·kt/n}: the transpose of rfft seen as a real linear map
 * from n values to 2(n/2 + 1) (what backward through rfft needs). dx is written. */
void nbi_rfft_adjoint(const nbi_rfft *p, const float *G, float *dx, float *work);

/* Windowed frames through the real FFT: for f < count, X + 2K·f (K = n/2 + 1 complex) gets
 * rfft(w ⊙ x[f·hop .. f·hop + n)). work: nbi_rfft_frames_work(p) floats. This is the scalar
 * loop (the kernel table's reference entry, nbi_kernels.rfft_frames); the x86 sets transform
 * VL frames at once, one per vector lane (kernels/x86/fft.inc), with the same bits. */
size_t nbi_rfft_frames_work(const nbi_rfft *p);
void nbi_rfft_frames_ref(const nbi_rfft *p, int64_t count, const float *x, int64_t hop,
                         const float *w, float *X, float *work);
/* The adjoint of count transforms: A + n·f gets nbi_rfft_adjoint of G + 2K·f, for f < count
 * (the STFT's backward). work: nbi_rfft_frames_work(p) floats. The scalar loop (the kernel
 * table's reference entry, nbi_kernels.rfft_adjoint_frames); the x86 sets run VL frames at
 * once, one per lane, with the same bits. */
void nbi_rfft_adjoint_frames_ref(const nbi_rfft *p, int64_t count, const float *G, float *A,
                                 float *work);

/* ---- reference transforms (kernels/ref/dft.c): the definitions, summed in double ---------- */
void nbi_dft_ref(int64_t n, int inverse, const float *x, float *y);
void nbi_rdft_ref(int64_t n, const float *x, float *X);

/* ---- per-frame loops (kernels/spectral.c) --------------------------------------------------
 * A signal xp (already padded: for centred frames the caller pads n_fft/2 on each side) is cut
 * into frames f = 0 .. n_frames − 1 starting at f·hop, each multiplied by the window w (n_fft
 * values, zero outside the window proper) and transformed:
 *
 *   S[f, k] = scale · Σ_{t<n_fft} w[t] · xp[f·hop + t] · e^{−2πi·kt/n_fft},   k ≤ n_fft/2
 *
 * S is [n_frames, n_fft/2 + 1] complex (interleaved), frame-major. work: nbi_stft_work(p)
 * floats. */
size_t nbi_stft_work(const nbi_rfft *p);
void nbi_stft_forward(const nbi_rfft *p, const float *xp, int64_t n_frames, int64_t hop,
                      const float *w, float scale, float *S, float *work);
/* The adjoint: dxp[f·hop + t] += scale · w[t] · (rfftᵀ dS[f])[t], an overlap-add. */
void nbi_stft_adjoint(const nbi_rfft *p, const float *dS, int64_t n_frames, int64_t hop,
                      const float *w, float scale, float *dxp, float *work);

/* P[i] = |S[i]|^power for n complex values (power 2: re² + im², no square root; power 1: the
 * magnitude; any other power > 0: (re² + im²)^(power/2)). */
void nbi_spec_power(int64_t n, const float *S, float power, float *P);
/* Backward: dS[i] += dP[i] · power · |S[i]|^(power − 2) · S[i] (0 where |S[i]| = 0 and
 * power < 2, the subgradient that keeps silence finite). */
void nbi_spec_power_backward(int64_t n, const float *S, float power, const float *dP, float *dS);

/* A band matrix W [rows_w, cols] whose row m is zero outside columns [lo[m], hi[m]): the mel
 * filterbank (a few columns per row) and, with lo = 0 and hi = cols, a dense matrix such as
 * the DCT. For r < n:
 *   forward   y[r, m] = Σ_{lo[m] ≤ c < hi[m]} W[m, c] · x[r, c]          y [n, rows_w]
 *   adjoint   dx[r, c] += Σ_m W[m, c] · dy[r, m]                          dx [n, cols]
 * Sums run in a fixed order (c ascending; m ascending), in float. */
void nbi_band_apply(const float *W, const int32_t *lo, const int32_t *hi, int64_t rows_w,
                    int64_t cols, int64_t n, const float *x, float *y);
void nbi_band_adjoint(const float *W, const int32_t *lo, const int32_t *hi, int64_t rows_w,
                      int64_t cols, int64_t n, const float *dy, float *dx);

#endif
