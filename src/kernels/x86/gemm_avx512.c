/* kernels/x86/gemm_avx512.c — the GEMM micro-kernel for AVX-512F (compiled with -mavx512f,
 * called only when the CPU and the OS support it; see kernels.c).
 *
 * 12 x 32: 24 zmm accumulators + 2 for B + 1 broadcast of the 32 registers. Measured on Zen 5
 * (two 512-bit FMA pipes, 4-cycle latency: at least 8 independent chains needed) it runs at
 * ~94% of peak from L1/L2; 32 columns divide the usual layer widths (64, 128, 256, 768), and
 * the per-height edge kernels make M = 64 cost 5 1/3 tiles, not 6.
 * Block sizes: KC = 384 keeps the A micro-panel (12 x 384 x 4 B = 18 KB) in the 48 KB L1
 * while B streams; KC x NC = 384 x 512 x 4 B = 768 KB of B stays in the 1 MB L2; MC bounds
 * the shared A block (MC x KC = 288 KB). */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define MR 12
#define NV 2
#define FOR_ROWS(X, v) X(1, v) X(2, v) X(3, v) X(4, v) X(5, v) X(6, v) X(7, v) X(8, v) \
    X(9, v) X(10, v) X(11, v) X(12, v)
#define ARCH_NAME nbi_gemm_arch_avx512
#define MC 192
#define KC 384
#define NC 512
#define SMALL_MNK (32 * 32 * 32)
#define PAR_FLOPS 2000000

#include "kernels/x86/gemm.inc"
#else
typedef int nbi_gemm_avx512_unused; /* not an x86 build: nothing to compile */
#endif
