/* kernels/x86/optim_avx512.c — the optimizers' fused updates (x86/optim.inc) compiled for
 * AVX-512F (16 lanes, tails under k-masks); installed by kernels.c only where the CPU runs them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define FILL_NAME nbi_optim_avx512
#include "kernels/x86/optim.inc"
#else
typedef int nbi_optim_avx512_unused; /* not an x86 build: nothing to compile */
#endif
