/* kernels/x86/fft_avx2.c — the frame FFT (x86/fft.inc) compiled for AVX2: 8 lanes. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define FFT_FILL_NAME nbi_fft_avx2
#include "kernels/x86/fft.inc"
#else
typedef int nbi_fft_avx2_unused; /* not an x86 build: nothing to compile */
#endif
