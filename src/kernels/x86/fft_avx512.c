/* kernels/x86/fft_avx512.c — the frame FFT (x86/fft.inc) compiled for AVX-512: 16 lanes. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define FFT_FILL_NAME nbi_fft_avx512
#include "kernels/x86/fft.inc"
#else
typedef int nbi_fft_avx512_unused; /* not an x86 build: nothing to compile */
#endif
