/* kernels/x86/conv_direct_avx512.c — the direct convolution's micro-kernels (x86/conv_direct.inc)
 * compiled for AVX-512F: 16 lanes, the last vector of a row under a k-mask; installed by kernels.c
 * only where the CPU runs them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define FILL_NAME nbi_conv_direct_avx512
#include "kernels/x86/conv_direct.inc"
#else
typedef int nbi_conv_direct_avx512_unused; /* not an x86 build: nothing to compile */
#endif
