/* kernels/x86/bytes_avx2.c — bytes to floats under one (shift, div), 8 values a step,
 * compiled with -mavx2: each value by the scalar twin's operations (kernels/ref/bytes.c: the
 * exact conversion, one subtraction, one division, each correctly rounded), so the same
 * bits. The batches of a byte dataset (data/dataset.c). */
#include "kernels/kernels.h"

#if NBI_X86
#include <immintrin.h>

static void u8_to_f32_avx2(int64_t n, const uint8_t *x, float shift, float div, float *y) {
    const __m256 vs = _mm256_set1_ps(shift), vd = _mm256_set1_ps(div);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(w), vs), vd));
    }
    nbi_ref_u8_to_f32(n - i, x + i, shift, div, y + i);
}

void nbi_bytes_avx2(nbi_kernels *k) {
    k->u8_to_f32 = u8_to_f32_avx2;
}
#else
typedef int nbi_bytes_avx2_unused; /* not an x86 build: nothing to compile */
#endif
