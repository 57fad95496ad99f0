/* kernels/x86/elementwise_avx512.c — the elementwise kernels (x86/elementwise.inc) compiled
 * for AVX-512F: 16 lanes, tails under k-masks, VSCALEFPS for exp's power of two. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define FILL_NAME nbi_elementwise_avx512
#include "kernels/x86/elementwise.inc"
#else
typedef int nbi_elementwise_avx512_unused; /* not an x86 build: nothing to compile */
#endif
