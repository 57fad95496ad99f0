/* kernels/x86/gemm_avx2.c — the GEMM micro-kernel for AVX2 + FMA (compiled with -mavx2
 * -mfma, called only when the CPU supports both; see kernels.c).
 *
 * 6 x 16: 12 ymm accumulators + 2 for B + 1 broadcast of the 16 registers — the classic
 * Haswell shape; 12 independent chains cover two FMA pipes of 4-cycle latency.
 * Block sizes: KC = 256 keeps the A micro-panel (6 KB) in L1 with room for B's stream;
 * KC x NC = 256 x 512 x 4 B = 512 KB of B in L2. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define MR 6
#define NV 2
#define FOR_ROWS(X, v) X(1, v) X(2, v) X(3, v) X(4, v) X(5, v) X(6, v)
#define ARCH_NAME nbi_gemm_arch_avx2
#define MC 144
#define KC 256
#define NC 512
#define SMALL_MNK (32 * 32 * 32)
#define PAR_FLOPS 1000000

#include "kernels/x86/gemm.inc"
#else
typedef int nbi_gemm_avx2_unused; /* not an x86 build: nothing to compile */
#endif
