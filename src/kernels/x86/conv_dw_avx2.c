/* kernels/x86/conv_dw_avx2.c — the image-broadcast weight gradient (x86/conv_dw.inc) compiled
 * for AVX2 + FMA: tiles of 6 taps x 16 channels; installed by kernels.c only
 * where the CPU runs them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define FILL_NAME nbi_conv_dw_avx2
#define GEMM_ARCH nbi_gemm_arch_avx2
#include "kernels/x86/conv_dw.inc"
#else
typedef int nbi_conv_dw_avx2_unused; /* not an x86 build: nothing to compile */
#endif
