/* kernels/x86/half_f16c.c — binary16 ⇄ binary32 with F16C (VCVTPH2PS, VCVTPS2PH rounding to
 * nearest even), 8 values a step; the tail goes through a zero-padded block, so every value
 * takes the same instruction. Bit for bit the scalar twins of kernels/ref/half.c (the test
 * runs every half and floats of every kind through both). */
#include "kernels/kernels.h"

#if NBI_X86
#include <immintrin.h>
#include <string.h>

static void half_to_f32_f16c(int64_t n, const uint16_t *h, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    if (i < n) {
        uint16_t hb[8] = {0};
        float yb[8];
        memcpy(hb, h + i, sizeof(uint16_t) * (size_t)(n - i));
        _mm256_storeu_ps(yb, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)hb)));
        memcpy(y + i, yb, sizeof(float) * (size_t)(n - i));
    }
}

static void f32_to_half_f16c(int64_t n, const float *x, uint16_t *h) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        float xb[8] = {0};
        uint16_t hb[8];
        memcpy(xb, x + i, sizeof(float) * (size_t)(n - i));
        _mm_storeu_si128((__m128i *)hb,
                         _mm256_cvtps_ph(_mm256_loadu_ps(xb), _MM_FROUND_TO_NEAREST_INT));
        memcpy(h + i, hb, sizeof(uint16_t) * (size_t)(n - i));
    }
}

void nbi_half_f16c(nbi_kernels *k) {
    k->half_to_f32 = half_to_f32_f16c;
    k->f32_to_half = f32_to_half_f16c;
}
#else
typedef int nbi_half_f16c_unused; /* not an x86 build: nothing to compile */
#endif
