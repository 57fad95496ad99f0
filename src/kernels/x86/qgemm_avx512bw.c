/* kernels/x86/qgemm_avx512bw.c — the int8 product (x86/qgemm.inc) with AVX-512BW, for
 * AVX-512 CPUs without VNNI: vpmaddubsw multiplies u8 by s8 and adds adjacent pairs into
 * saturating 16-bit lanes, vpmaddwd by ones adds those pairs into 32 bits. The pair sum
 * cannot saturate because activations are 7-bit: |2 · 127 · 128| = 32512 <= 32767
 * (kernels/qgemm.h). Compiled with -mavx512f -mavx512bw. */
#include "kernels/kernels.h"

#if NBI_X86
#include <immintrin.h>
#define QVL 16
static inline __attribute__((always_inline)) __m512i qdot_bw(__m512i acc, __m512i a, __m512i b) {
    __m512i p = _mm512_maddubs_epi16(a, b); /* a unsigned, b signed */
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, _mm512_set1_epi16(1)));
}
#define QDOT(acc, a, b) qdot_bw(acc, a, b)
#define MR 4
#define NV 4
#define FOR_TILES(X)                                                                               \
    X(1, 1)                                                                                        \
    X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) X(3, 1) X(3, 2) X(3, 3) X(3, 4)        \
        X(4, 1) X(4, 2) X(4, 3) X(4, 4)
#define QGEMM_NAME nbi_qgemm_avx512bw
#include "kernels/x86/qgemm.inc"
#else
typedef int nbi_qgemm_avx512bw_unused; /* not an x86 build: nothing to compile */
#endif
