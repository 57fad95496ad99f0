/* kernels/x86/qgemm_avx512vnni.c — the int8 product (x86/qgemm.inc) with AVX512-VNNI: one
 * vpdpbusd adds 4 u8·s8 products per 32-bit lane into the accumulator, 64 per instruction,
 * without intermediate saturation. Compiled with -mavx512f -mavx512bw -mavx512vnni; called
 * only when cpuid reports them (kernels/qgemm_cpu.c).
 *
 * 4 rows x 4 zmm (64 columns): 16 accumulators, 4 of B and a broadcast of the 32 registers;
 * a single sample (M = 1) runs the 1 x 4 kernel: 4 loads and 4 vpdpbusd per 4 bytes of K. */
#include "kernels/kernels.h"

#if NBI_X86
#define QVL 16
#define QDOT(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#define MR 4
#define NV 4
#define FOR_TILES(X)                                                                               \
    X(1, 1)                                                                                        \
    X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) X(3, 1) X(3, 2) X(3, 3) X(3, 4)        \
        X(4, 1) X(4, 2) X(4, 3) X(4, 4)
#define QGEMM_NAME nbi_qgemm_avx512vnni
#include "kernels/x86/qgemm.inc"
#else
typedef int nbi_qgemm_avx512vnni_unused; /* not an x86 build: nothing to compile */
#endif
