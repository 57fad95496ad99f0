/* kernels/x86/qgemm_avxvnni.c — the int8 product (x86/qgemm.inc) with AVX-VNNI: vpdpbusd on
 * ymm registers (VEX-encoded), for CPUs that have it without AVX-512, and for the "avx2"
 * kernel set where it is present. Compiled with -mavx2 -mavxvnni; called only when cpuid
 * reports AVX-VNNI (leaf 7, sub-leaf 1, EAX bit 4).
 *
 * 6 rows x 2 ymm (16 columns, one packed panel): 12 accumulators, 2 of B and a broadcast of
 * the 16 registers. */
#include "kernels/kernels.h"

#if NBI_X86
#define QVL 8
#define QDOT(acc, a, b) _mm256_dpbusd_avx_epi32(acc, a, b)
#define MR 6
#define NV 2
#define FOR_TILES(X)                                                                               \
    X(1, 1) X(1, 2) X(2, 1) X(2, 2) X(3, 1) X(3, 2) X(4, 1) X(4, 2) X(5, 1) X(5, 2) X(6, 1) X(6, 2)
#define QGEMM_NAME nbi_qgemm_avxvnni
#include "kernels/x86/qgemm.inc"
#else
typedef int nbi_qgemm_avxvnni_unused; /* not an x86 build: nothing to compile */
#endif
