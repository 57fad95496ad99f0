/* kernels/x86/dropout_avx2.c — inverted dropout (nbi_ref_dropout in kernels/ref/norm.c is
 * the scalar twin), compiled with -mavx2. The mask's stream is sequential, so the twin spent
 * most of its time calling nb_rng_u64 once per two values and branching per value; here the
 * xoshiro256** step is inlined into a loop that fills a block of 32-bit draws (a u64 stored
 * little-endian is draw 2i then 2i + 1, the twin's order), and the block is applied 8 values
 * a step: the same compare, the same product x · (0 or 1/(1 − p)), the same add, so the same
 * bits. */
#include "kernels/kernels.h"

#if NBI_X86
#include <immintrin.h>
#include <string.h>

enum { DROP_BLOCK = 256 }; /* 32-bit draws a block: 1 KB, in L1 */

static inline uint64_t rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* n64 steps of base/rng.c's nb_rng_u64 (the same xoshiro256**), kept in registers */
static void draw_block(uint64_t s[4], int n64, uint32_t *u) {
    uint64_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    for (int i = 0; i < n64; i++) {
        uint64_t r = rotl64(s1 * 5, 7) * 9, t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl64(s3, 45);
        memcpy(u + 2 * i, &r, sizeof r);
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

static void dropout_avx2(uint64_t seed, float p, int64_t n, const float *x, float *y, int acc) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const uint64_t threshold = (uint64_t)((double)p * 4294967296.0); /* p · 2³² */
    /* u < threshold as a signed compare of both biased by 2³¹; a threshold of 2³² (p = 1)
     * becomes 2³² − 1, which only u = 2³² − 1 fails, and then the factor is scale = 0 too */
    const uint32_t thr32 = threshold > 0xffffffffu ? 0xffffffffu : (uint32_t)threshold;
    const __m256i bias = _mm256_set1_epi32((int)0x80000000u);
    const __m256i vthr = _mm256_xor_si256(_mm256_set1_epi32((int)thr32), bias);
    const __m256 vscale = _mm256_set1_ps(scale);
    nb_rng r;
    nb_rng_seed(&r, seed);
    uint32_t u[DROP_BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += DROP_BLOCK) {
        const int64_t m = n - i0 < DROP_BLOCK ? n - i0 : DROP_BLOCK;
        draw_block(r.s, (int)((m + 1) / 2), u);
        const float *xb = x + i0;
        float *yb = y + i0;
        int64_t i = 0;
        for (; i + 8 <= m; i += 8) {
            __m256i vu =
                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(u + i)), bias);
            __m256 drop = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vthr, vu)); /* u < threshold */
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + i), _mm256_andnot_ps(drop, vscale));
            if (acc) v = _mm256_add_ps(_mm256_loadu_ps(yb + i), v);
            _mm256_storeu_ps(yb + i, v);
        }
        for (; i < m; i++) {
            float v = xb[i] * (u[i] < threshold ? 0.0f : scale);
            yb[i] = acc ? yb[i] + v : v;
        }
    }
}

void nbi_dropout_avx2(nbi_kernels *k) {
    k->dropout = dropout_avx2;
}
#else
typedef int nbi_dropout_avx2_unused; /* not an x86 build: nothing to compile */
#endif
