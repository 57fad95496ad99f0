/* kernels/x86/elementwise_avx2.c — the elementwise kernels (x86/elementwise.inc) compiled
 * for AVX2 + FMA: 8 lanes, tails under VMASKMOVPS. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define FILL_NAME nbi_elementwise_avx2
#include "kernels/x86/elementwise.inc"
#else
typedef int nbi_elementwise_avx2_unused; /* not an x86 build: nothing to compile */
#endif
