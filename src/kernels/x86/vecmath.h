/* kernels/x86/vecmath.h — exp, sigmoid and tanh on vectors, for either vector layer
 * (include simd_avx2.h or simd_avx512.h first). No -ffast-math anywhere: NaN and ±inf pass
 * through as expf/tanhf pass them, underflow is gradual, overflow gives inf.
 *
 * exp(x) = 2^n exp(r),  n = round(x / ln 2),  r = x - n ln 2,  |r| <= ln 2 / 2.
 *   r is formed in two steps with ln 2 = LN2_HI + LN2_LO, where LN2_HI has 15 significant
 *   bits, so n LN2_HI is exact and x - n LN2_HI is exact (Sterbenz: both are close); only
 *   the small correction -n LN2_LO rounds. exp(r) is its Taylor polynomial of degree 7
 *   (truncation error r^8/8! < 5.3e-9 relative at |r| = ln 2 / 2, under 0.1 ulp), evaluated
 *   by Horner's rule with fused multiply-adds. The power of two is applied with one rounding
 *   (vldexp), into the subnormals when the result is below 2^-126. x is clamped to
 *   [-104, 89] first: beyond, expf is 0 (below -103.97) or inf (above 88.73) anyway, and the
 *   clamp keeps n in [-150, 128]. Measured against glibc's expf over every float: at most
 *   1 ulp apart (see tests/test_kernels.c and bench_elementwise's sweep).
 *
 * tanh(x) = x + x^3 P(x^2) for |x| < 0.625, P fitted for relative error by
 *   tests/ref/gen_tanh_poly.py (1.2 x 2^-24 worst); otherwise sign(x) (1 - 2 / (exp(2|x|) + 1)),
 *   whose cancellation is mild at |x| >= 0.625 (1 - q with q <= 0.47).
 * sigmoid(x) = 1 / (1 + exp(-x)), exactly the reference's formula. */
#ifndef NBI_VECMATH_H
#define NBI_VECMATH_H

NBI_INLINE vf vexp(vf x) {
    const vf log2e = vset1(1.44269504088896341f);
    const vf ln2_hi = vset1(6.93145751953125e-1f);  /* 0x3F317200 */
    const vf ln2_lo = vset1(1.42860682030941723e-6f);
    /* max(lo, x) and min(hi, x) return x when x is NaN (x86 returns the second operand) */
    x = vmin(vset1(89.0f), vmax(vset1(-104.0f), x));
    vf n = vround(vmul(x, log2e));
    vf r = vfma(vneg(n), ln2_hi, x);
    r = vfma(vneg(n), ln2_lo, r);
    vf p = vset1(1.0f / 5040.0f);
    p = vfma(p, r, vset1(1.0f / 720.0f));
    p = vfma(p, r, vset1(1.0f / 120.0f));
    p = vfma(p, r, vset1(1.0f / 24.0f));
    p = vfma(p, r, vset1(1.0f / 6.0f));
    p = vfma(p, r, vset1(0.5f));
    p = vfma(p, r, vset1(1.0f));
    p = vfma(p, r, vset1(1.0f));
    return vldexp(p, n);
}

/* 1 / (1 + exp(-x)) */
NBI_INLINE vf vsigmoid(vf x) {
    const vf one = vset1(1.0f);
    return vdiv(one, vadd(one, vexp(vneg(x))));
}

NBI_INLINE vf vtanh(vf x) {
    const vf one = vset1(1.0f);
    vf a = vabs(x);
    /* small |x|: x + x^3 P(x^2) */
    vf u = vmul(x, x);
    vf p = vset1(2.142957179e-03f);
    p = vfma(p, u, vset1(-8.177393116e-03f));
    p = vfma(p, u, vset1(2.170070074e-02f));
    p = vfma(p, u, vset1(-5.394676328e-02f));
    p = vfma(p, u, vset1(1.333320588e-01f));
    p = vfma(p, u, vset1(-3.333333135e-01f));
    vf small = vfma(vmul(x, u), p, x);
    /* large |x|: 1 - 2 / (exp(2|x|) + 1), with x's sign */
    vf q = vdiv(vset1(2.0f), vadd(vexp(vadd(a, a)), one));
    vf big = vcopysign(vsub(one, q), x);
    return vsel(vlt(a, vset1(0.625f)), small, big);
}

#endif
