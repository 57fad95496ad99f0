/* kernels/x86/simd_avx2.h — the thin vector layer for AVX2 + FMA: 8 floats a vector.
 * The same names as simd_avx512.h (see there); masks are integer vectors here, and the
 * masked forms are VMASKMOVPS, which neither reads nor writes memory outside the mask. */
#ifndef NBI_SIMD_AVX2_H
#define NBI_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define NBI_SIMD_NAME "avx2"
#define VL 8
typedef __m256 vf;
typedef __m256i vmask;
typedef __m256i vi;

#define NBI_INLINE static inline __attribute__((always_inline))

NBI_INLINE vf vzero(void) { return _mm256_setzero_ps(); }
NBI_INLINE vf vset1(float x) { return _mm256_set1_ps(x); }
NBI_INLINE vf vload(const float *p) { return _mm256_loadu_ps(p); }
NBI_INLINE void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
/* lanes [0, n): none for n <= 0, all for n >= VL */
NBI_INLINE vmask vmask_n(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > VL ? VL : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
NBI_INLINE vf vload_m(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
NBI_INLINE void vstore_m(float *p, vmask m, vf v) { _mm256_maskstore_ps(p, m, v); }

NBI_INLINE vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
NBI_INLINE vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
NBI_INLINE vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
NBI_INLINE vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
NBI_INLINE vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
NBI_INLINE vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
/* x86 max/min return the SECOND operand when either is NaN (callers rely on it). */
NBI_INLINE vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
NBI_INLINE vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
NBI_INLINE vf vabs(vf a) {
    return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)));
}
NBI_INLINE vf vneg(vf a) {
    return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u)));
}
NBI_INLINE vf vcopysign(vf a, vf s) {
    __m256 m = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    return _mm256_or_ps(_mm256_andnot_ps(m, a), _mm256_and_ps(m, s));
}

typedef __m256 vcmp;
NBI_INLINE vcmp vgt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
NBI_INLINE vcmp vlt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
NBI_INLINE vcmp vge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
NBI_INLINE vcmp vle(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
NBI_INLINE vcmp vand_c(vcmp a, vcmp b) { return _mm256_and_ps(a, b); }
NBI_INLINE vf vsel(vcmp m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }

NBI_INLINE vf vround(vf a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* a * 2^n for integral n in [-150, 128] (as a float): two exact power-of-two factors
 * 2^(n/2) and 2^(n - n/2), each a normal float, so the product rounds once (into the
 * subnormals when it must) and overflows to inf when it must. */
NBI_INLINE vf vldexp(vf a, vf n) {
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(a, s1), s2);
}

NBI_INLINE float vhsum(vf a) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
NBI_INLINE float vhmax(vf a) {
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}

/* m ? a : b by a tail mask; masked load with `fill` in the lanes outside the mask */
NBI_INLINE vf vsel_mask(vmask m, vf a, vf b) { return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m)); }
NBI_INLINE vf vload_mf(const float *p, vmask m, vf fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
/* non-temporal store of a full vector (p 32-byte aligned) */
NBI_INLINE void vstream(float *p, vf v) { _mm256_stream_ps(p, v); }

NBI_INLINE void vprefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#endif
