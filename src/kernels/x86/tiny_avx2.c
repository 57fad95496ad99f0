/* kernels/x86/tiny_avx2.c — one-tile GEMM kernels for a planned call (kernels/gemm/tiny.h) of
 * at most 8 rows and 8 columns, compiled with -mavx2 -mfma and run only where both are.
 *
 * The arithmetic is the AVX2 and AVX-512 direct tile kernels' (x86/gemm.inc, ukr_body with
 * `direct`), element by element: the sum starts at +0 and takes one fused multiply-add per
 * step p = 0..K-1 in order; alpha != 1 multiplies it after; then C = sum (beta 0), sum + C
 * (beta 1) or fma(beta, C, sum). A lane computes the same whatever the vector width, so
 * one 8-lane vector per row (B's row and C's loaded and stored under the column mask) gives
 * those kernels' bits. What they work out each call (strides, the mask, the unused
 * accumulators, prefetches) the plan holds or the row count fixes.
 *
 * Two neighbours of a dense layer's product can ride along (autograd/replay.c pairs them):
 * the bias the forward copied into C's rows just before (t->bias: C = sum + bias, the bits
 * of sum + C), and the bias gradient's column sums of B (t->colsum += each row of B in
 * order, acc_rows' sums), B's rows being loaded anyway. */
#include "kernels/gemm/tiny.h"

#if NBI_X86
#include <immintrin.h>

#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

/* Rows of exactly four columns (w4) are loaded and stored as 4-lane vectors rather than under
 * the mask: the same lanes, the same arithmetic, without the masked moves (slow on some
 * cores, and a masked store that a narrower load reads next is not forwarded). */
#define LOADC(p) (w4 ? _mm256_zextps128_ps256(_mm_loadu_ps(p)) : _mm256_maskload_ps(p, mask))
#define STOREC(p, v)                                                                               \
    (w4 ? _mm_storeu_ps(p, _mm256_castps256_ps128(v)) : _mm256_maskstore_ps(p, mask, v))

static inline __attribute__((always_inline)) void
tiny_body(const int m, const int colsum, const int w4, const nbi_gemm_tiny *t, const float *b) {
    const nbi_gemm_call *c = &t->c;
    const __m256i mask = _mm256_loadu_si256((const __m256i *)(const void *)t->mask);
    const float *a = c->A;
    const int64_t a_rs = t->a_rs, a_cs = t->a_cs, ldb = c->ldb, K = c->K;
    __m256 acc[8];
    UNROLL for (int i = 0; i < m; i++) acc[i] = _mm256_setzero_ps();
    /* colsum: B's rows summed into t->colsum on the way, in order (acc_rows' sums) */
    __m256 cs = colsum ? LOADC(t->colsum) : _mm256_setzero_ps();
    for (int64_t p = 0; p < K; p++, a += a_cs, b += ldb) {
        const __m256 bv = LOADC(b);
        if (colsum) cs = _mm256_add_ps(cs, bv);
        UNROLL for (int i = 0; i < m; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * a_rs), bv, acc[i]);
    }
    if (colsum) STOREC(t->colsum, cs);
    if (c->alpha != 1.0f) {
        const __m256 al = _mm256_set1_ps(c->alpha);
        UNROLL for (int i = 0; i < m; i++) acc[i] = _mm256_mul_ps(acc[i], al);
    }
    float *cp = c->C;
    const int64_t ldc = c->ldc;
    const float beta = c->beta;
    if (t->bias) { /* C's rows hold the bias (beta 1): read it from the bias itself */
        const __m256 bias = LOADC(t->bias);
        UNROLL for (int i = 0; i < m; i++) STOREC(cp + i * ldc, _mm256_add_ps(acc[i], bias));
    } else if (beta == 0.0f) {
        UNROLL for (int i = 0; i < m; i++) STOREC(cp + i * ldc, acc[i]);
    } else if (beta == 1.0f) {
        UNROLL for (int i = 0; i < m; i++)
            STOREC(cp + i * ldc, _mm256_add_ps(acc[i], LOADC(cp + i * ldc)));
    } else {
        const __m256 bb = _mm256_set1_ps(beta);
        UNROLL for (int i = 0; i < m; i++)
            STOREC(cp + i * ldc, _mm256_fmadd_ps(bb, LOADC(cp + i * ldc), acc[i]));
    }
}

#define TINY(M_)                                                                                   \
    static void tiny_##M_(const nbi_gemm_tiny *t, const float *b) {                                \
        tiny_body(M_, 0, 0, t, b);                                                                 \
    }                                                                                              \
    static void tiny_cs_##M_(const nbi_gemm_tiny *t, const float *b) {                             \
        tiny_body(M_, 1, 0, t, b);                                                                 \
    }                                                                                              \
    static void tiny4_##M_(const nbi_gemm_tiny *t, const float *b) {                               \
        tiny_body(M_, 0, 1, t, b);                                                                 \
    }                                                                                              \
    static void tiny4_cs_##M_(const nbi_gemm_tiny *t, const float *b) {                            \
        tiny_body(M_, 1, 1, t, b);                                                                 \
    }
TINY(1)
TINY(2)
TINY(3)
TINY(4)
TINY(5)
TINY(6)
TINY(7)
TINY(8)

const nbi_tiny_ukr_fn nbi_tiny_ukr_avx2[2][2][8] = {
    {{tiny_1, tiny_2, tiny_3, tiny_4, tiny_5, tiny_6, tiny_7, tiny_8},
     {tiny_cs_1, tiny_cs_2, tiny_cs_3, tiny_cs_4, tiny_cs_5, tiny_cs_6, tiny_cs_7, tiny_cs_8}},
    {{tiny4_1, tiny4_2, tiny4_3, tiny4_4, tiny4_5, tiny4_6, tiny4_7, tiny4_8},
     {tiny4_cs_1, tiny4_cs_2, tiny4_cs_3, tiny4_cs_4, tiny4_cs_5, tiny4_cs_6, tiny4_cs_7,
      tiny4_cs_8}}};
#else
typedef int nbi_tiny_avx2_unused; /* not an x86 build: nothing to compile */
#endif
