/* kernels/x86/conv_dw_avx512.c — the image-broadcast weight gradient (x86/conv_dw.inc) compiled
 * for AVX-512F: tiles of 12 taps x 32 channels; installed by kernels.c only
 * where the CPU runs them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define FILL_NAME nbi_conv_dw_avx512
#define GEMM_ARCH nbi_gemm_arch_avx512
#include "kernels/x86/conv_dw.inc"
#else
typedef int nbi_conv_dw_avx512_unused; /* not an x86 build: nothing to compile */
#endif
