/* kernels/x86/conv_direct_avx2.c — the direct convolution's micro-kernels (x86/conv_direct.inc)
 * compiled for AVX2 + FMA: 8 lanes, the last vector of a row under VMASKMOVPS; installed by
 * kernels.c only where the CPU runs them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define FILL_NAME nbi_conv_direct_avx2
#include "kernels/x86/conv_direct.inc"
#else
typedef int nbi_conv_direct_avx2_unused; /* not an x86 build: nothing to compile */
#endif
