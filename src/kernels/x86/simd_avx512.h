/* kernels/x86/simd_avx512.h — the thin vector layer for AVX-512F: 16 floats a vector.
 *
 * The kernels in the x86 .inc files are written once against these names (vf, VL, vload, vfma, the
 * masked tail forms, ...) and compiled twice, here and against simd_avx2.h; each ISA file
 * includes exactly one layer. Masked loads read no memory outside the mask and masked stores
 * write none, so a tail is handled by the same vector code as the body (one arithmetic for
 * every element, whatever its position). */
#ifndef NBI_SIMD_AVX512_H
#define NBI_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define NBI_SIMD_NAME "avx512"
#define VL 16
typedef __m512 vf;
typedef __mmask16 vmask;
typedef __m512i vi;

#define NBI_INLINE static inline __attribute__((always_inline))

NBI_INLINE vf vzero(void) { return _mm512_setzero_ps(); }
NBI_INLINE vf vset1(float x) { return _mm512_set1_ps(x); }
NBI_INLINE vf vload(const float *p) { return _mm512_loadu_ps(p); }
NBI_INLINE void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
/* lanes [0, n): none for n <= 0, all for n >= VL */
NBI_INLINE vmask vmask_n(int64_t n) {
    return (vmask)(n >= VL ? 0xFFFFu : n <= 0 ? 0u : ((1u << (unsigned)n) - 1u));
}
NBI_INLINE vf vload_m(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
NBI_INLINE void vstore_m(float *p, vmask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }

NBI_INLINE vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
NBI_INLINE vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
NBI_INLINE vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
NBI_INLINE vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
NBI_INLINE vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
/* a*b + c with one rounding */
NBI_INLINE vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
/* x86 max/min return the SECOND operand when either is NaN (callers rely on it). */
NBI_INLINE vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
NBI_INLINE vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
NBI_INLINE vf vabs(vf a) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF)));
}
NBI_INLINE vf vneg(vf a) {
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u)));
}
/* copysign(magnitude of a, sign of s) */
NBI_INLINE vf vcopysign(vf a, vf s) {
    __m512i m = _mm512_set1_epi32((int)0x80000000u);
    return _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_andnot_si512(m, _mm512_castps_si512(a)), _mm512_and_si512(m, _mm512_castps_si512(s))));
}

/* comparisons give a lane mask; vsel(m, a, b) = m ? a : b. Ordered: false on NaN. */
typedef __mmask16 vcmp;
NBI_INLINE vcmp vgt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
NBI_INLINE vcmp vlt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
NBI_INLINE vcmp vge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
NBI_INLINE vcmp vle(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
NBI_INLINE vcmp vand_c(vcmp a, vcmp b) { return (vcmp)(a & b); }
NBI_INLINE vf vsel(vcmp m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }

/* round to nearest integer (ties to even), as a float */
NBI_INLINE vf vround(vf a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* a * 2^n for integral n (as a float), exactly rounded once, with overflow to ±inf and
 * gradual underflow: VSCALEFPS. */
NBI_INLINE vf vldexp(vf a, vf n) { return _mm512_scalef_ps(a, n); }

/* horizontal sum and max (fixed tree order) */
NBI_INLINE float vhsum(vf a) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
NBI_INLINE float vhmax(vf a) {
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}

/* m ? a : b by a tail mask; masked load with `fill` in the lanes outside the mask */
NBI_INLINE vf vsel_mask(vmask m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
NBI_INLINE vf vload_mf(const float *p, vmask m, vf fill) { return _mm512_mask_loadu_ps(fill, m, p); }
/* non-temporal store of a full vector (p 64-byte aligned) */
NBI_INLINE void vstream(float *p, vf v) { _mm512_stream_ps(p, v); }

NBI_INLINE void vprefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#endif
