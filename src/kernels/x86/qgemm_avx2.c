/* kernels/x86/qgemm_avx2.c — the int8 product (x86/qgemm.inc) with AVX2: vpmaddubsw
 * multiplies u8 by s8 and adds adjacent pairs into saturating 16-bit lanes, vpmaddwd by ones
 * adds those pairs into 32 bits. The pair sum cannot saturate because activations are
 * 7-bit: |2 · 127 · 128| = 32512 <= 32767 (kernels/qgemm.h); with 8-bit activations it
 * could (2 · 255 · 127 = 64770), and the result would differ from the other kernel sets.
 * Compiled with -mavx2 -mfma.
 *
 * 4 rows x 2 ymm (16 columns): 8 accumulators, 2 of B, the broadcast, the ones and the
 * products of the 16 registers. */
#include "kernels/kernels.h"

#if NBI_X86
#include <immintrin.h>
#define QVL 8
static inline __attribute__((always_inline)) __m256i qdot_avx2(__m256i acc, __m256i a, __m256i b) {
    __m256i p = _mm256_maddubs_epi16(a, b); /* a unsigned, b signed */
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
#define QDOT(acc, a, b) qdot_avx2(acc, a, b)
#define MR 4
#define NV 2
#define FOR_TILES(X) X(1, 1) X(1, 2) X(2, 1) X(2, 2) X(3, 1) X(3, 2) X(4, 1) X(4, 2)
#define QGEMM_NAME nbi_qgemm_avx2
#include "kernels/x86/qgemm.inc"
#else
typedef int nbi_qgemm_avx2_unused; /* not an x86 build: nothing to compile */
#endif
