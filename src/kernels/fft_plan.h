/* kernels/fft_plan.h — the insides of the FFT plans (kernels/fft.h), for the files that run
 * them: kernels/fft.c (one transform at a time) and kernels/x86/fft_*.c (several at once, one
 * per vector lane). Nothing else reads them. */
#ifndef NBI_FFT_PLAN_H
#define NBI_FFT_PLAN_H

#include "kernels/fft.h"

#define NBI_FFT_MAX_FACTORS 64
#define NBI_FFT_MAX_GENERIC 61 /* the largest prime done by a generic pass; above: Bluestein */

struct nbi_fft {
    int64_t n;
    int nf; /* passes; 0 for n = 1 and for Bluestein */
    int fac[NBI_FFT_MAX_FACTORS];
    int64_t tw_off[NBI_FFT_MAX_FACTORS]; /* pass s's twiddles: (p − 1)·ido complex at
                                            tw + 2·tw_off[s] */
    int64_t rt_off[NBI_FFT_MAX_FACTORS]; /* generic pass: the p roots ω_p^k at tw + 2·rt_off[s] */
    float *tw;
    /* Bluestein (sub != NULL): X_k = c_k · Σ_t (x_t c_t) · conj(c_{k−t}), c_j = e^{−πi·j²/n},
     * the convolution done by FFTs of the power-of-two length m ≥ 2n − 1. */
    nbi_fft *sub;
    int64_t m;
    float *chirp; /* c_j, j < n */
    float *bf;    /* FFT of the wrapped conj(c), divided by m */
};

struct nbi_rfft {
    int64_t n;
    nbi_fft *c; /* length n/2 (even n) or n (odd n) */
    float *tw;  /* even n: ω_n^k = e^{−2πi·k/n}, k ≤ n/2 */
};

#endif
