/* kernels/x86/optim_avx2.c — the optimizers' fused updates (x86/optim.inc) compiled for
 * AVX2 (8 lanes, masked tails through VMASKMOVPS); installed by kernels.c only where the CPU runs
 * them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define FILL_NAME nbi_optim_avx2
#include "kernels/x86/optim.inc"
#else
typedef int nbi_optim_avx2_unused; /* not an x86 build: nothing to compile */
#endif
