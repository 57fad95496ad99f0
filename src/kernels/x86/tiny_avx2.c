/* kernels/x86/tiny_avx2.c — one-tile GEMM kernels for a planned call (kernels/gemm/tiny.h) of
 * at most 8 rows and 8 columns, compiled with -mavx2 -mfma and run only where both are.
 *
 * The arithmetic is the AVX2 and AVX-512 direct tile kernels' (x86/gemm.inc, ukr_body with
 * `direct`), element by element: the sum starts at +0 and takes one fused multiply-add per
 * step p = 0..K-1 in order; alpha != 1 multiplies it after; then C = sum (beta 0), sum + C
 * (beta 1) or fma(beta, C, sum). A lane computes the same whatever the vector width, so
 * one 8-lane vector per row (B's row and C's loaded and stored under the column mask, or
 * with plain moves where rows are 1, 4 or 8 wide) gives those kernels' bits. What they work out each call (strides, the mask, the unused
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

/* Rows of exactly 1, 4 or 8 columns (w) are loaded and stored with plain moves of that width
 * rather than under the mask (w 0): the same lanes, the same arithmetic, without the masked
 * moves, which are slow on some cores (VMASKMOVPS is microcoded on AMD's). */
#define LOADC(p)                                                                                   \
    (w == 1   ? _mm256_zextps128_ps256(_mm_load_ss(p))                                             \
     : w == 4 ? _mm256_zextps128_ps256(_mm_loadu_ps(p))                                            \
     : w == 8 ? _mm256_loadu_ps(p)                                                                 \
              : _mm256_maskload_ps(p, mask))
#define STOREC(p, v)                                                                               \
    (w == 1   ? _mm_store_ss(p, _mm256_castps256_ps128(v))                                         \
     : w == 4 ? _mm_storeu_ps(p, _mm256_castps256_ps128(v))                                        \
     : w == 8 ? _mm256_storeu_ps(p, v)                                                             \
              : _mm256_maskstore_ps(p, mask, v))

static inline __attribute__((always_inline)) void
tiny_body(const int m, const int colsum, const int w, const nbi_gemm_tiny *t, const float *b) {
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

#define TINY(M_, W_)                                                                               \
    static void tiny##W_##_##M_(const nbi_gemm_tiny *t, const float *b) {                          \
        tiny_body(M_, 0, W_, t, b);                                                                \
    }                                                                                              \
    static void tiny##W_##_cs_##M_(const nbi_gemm_tiny *t, const float *b) {                       \
        tiny_body(M_, 1, W_, t, b);                                                                \
    }
#define TINY_W(W_)                                                                                 \
    TINY(1, W_)                                                                                    \
    TINY(2, W_) TINY(3, W_) TINY(4, W_) TINY(5, W_) TINY(6, W_) TINY(7, W_) TINY(8, W_)
TINY_W(0)
TINY_W(1)
TINY_W(4)
TINY_W(8)

#define TABLE(W_)                                                                                  \
    {                                                                                              \
        {tiny##W_##_1, tiny##W_##_2, tiny##W_##_3, tiny##W_##_4,                                   \
         tiny##W_##_5, tiny##W_##_6, tiny##W_##_7, tiny##W_##_8},                                  \
        {                                                                                          \
            tiny##W_##_cs_1, tiny##W_##_cs_2, tiny##W_##_cs_3, tiny##W_##_cs_4, tiny##W_##_cs_5,   \
                tiny##W_##_cs_6, tiny##W_##_cs_7, tiny##W_##_cs_8                                  \
        }                                                                                          \
    }
const nbi_tiny_ukr_fn nbi_tiny_ukr_avx2[4][2][8] = {TABLE(0), TABLE(1), TABLE(4), TABLE(8)};
#else
typedef int nbi_tiny_avx2_unused; /* not an x86 build: nothing to compile */
#endif
