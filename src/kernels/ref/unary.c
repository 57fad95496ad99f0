/* kernels/ref/unary.c — scalar reference kernels for elementwise functions and their
 * derivatives: one line per NB_UNARY / NB_ACT entry of nabla/ops.def, the forward formula
 * and the derivative. Backward kernels accumulate: gx += gy * f'(x). The conventions at kinks
 * follow PyTorch: relu'(0) = 0, |x|'(0) = 0, clamp passes the gradient on the closed
 * interval; NaN in gives NaN out wherever PyTorch's does. The table at the end is made from
 * ops.def, so an entry without its formula does not compile. */
#include "kernels/kernels.h"

#include <math.h>

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_C 0.044715f

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* d/dx of 0.5 x (1 + tanh(u)), u = √(2/π)(x + c x³) */
static inline float gelu_tanh_deriv(float x) {
    float u = (float)SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
    float t = tanhf(u);
    float du = (float)SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

/* A forward and a backward kernel from an expression of x (forward) and of x, y (derivative).
 * p[] holds the op's scalar parameters. */
#define UNARY(name, FWD, DERIV)                                                              \
    static void name##_fwd(int64_t n, const float *x, float *y, const float *p) {            \
        (void)p;                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                    \
            float v = x[i];                                                                  \
            (void)v;                                                                         \
            y[i] = (FWD);                                                                    \
        }                                                                                    \
    }                                                                                        \
    static void name##_bwd(int64_t n, const float *x, const float *y, const float *gy,       \
                           float *gx, const float *p) {                                      \
        (void)p;                                                                             \
        (void)x;                                                                             \
        (void)y;                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                    \
            float v = x ? x[i] : 0.0f, o = y ? y[i] : 0.0f;                                  \
            (void)v;                                                                         \
            (void)o;                                                                         \
            gx[i] += gy[i] * (DERIV);                                                        \
        }                                                                                    \
    }

UNARY(exp, expf(v), o)
UNARY(log, logf(v), 1.0f / v)
UNARY(sqrt, sqrtf(v), 0.5f / o)
UNARY(abs, fabsf(v), (v > 0.0f) ? 1.0f : (v < 0.0f ? -1.0f : 0.0f))
UNARY(neg, -v, -1.0f)
UNARY(sigmoid, sigmoidf(v), o * (1.0f - o))
UNARY(tanh, tanhf(v), 1.0f - o * o)
/* relu(x) = x < 0 ? 0 : x, PyTorch's clamp_min: NaN and -0 pass through; the derivative is 0
 * where relu(x) <= 0 and 1 elsewhere (NaN included), as PyTorch's threshold_backward */
UNARY(relu, v < 0.0f ? 0.0f : v, v <= 0.0f ? 0.0f : 1.0f)
UNARY(leaky_relu, v > 0.0f ? v : p[0] * v, v > 0.0f ? 1.0f : p[0])
UNARY(elu, v > 0.0f ? v : p[0] * expm1f(v), v > 0.0f ? 1.0f : p[0] * expf(v))
UNARY(gelu, (float)(0.5 * v * (1.0 + erf(v * SQRT1_2))),
      (float)(0.5 * (1.0 + erf(v * SQRT1_2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v)))
UNARY(gelu_tanh, 0.5f * v * (1.0f + tanhf((float)SQRT_2_OVER_PI * (v + GELU_C * v * v * v))),
      gelu_tanh_deriv(v))
UNARY(silu, v * sigmoidf(v), sigmoidf(v) * (1.0f + v * (1.0f - sigmoidf(v))))
UNARY(softplus, p[0] * v > p[1] ? v : log1pf(expf(p[0] * v)) / p[0],
      p[0] * v > p[1] ? 1.0f : sigmoidf(p[0] * v))
/* mish(x) = x tanh(softplus(x)); with n = e^x, tanh(log(1 + n)) = n (n + 2) / (n (n + 2) + 2),
 * which needs no log and no tanh. Above 20 it is 1 in f32 (and n (n + 2) would overflow).
 * mish'(x) = t + x σ(x) (1 - t²), t = tanh(softplus(x)), σ(x) = n / (1 + n). */
static inline float mish_t(float x, float n) {
    float q = n * (n + 2.0f);
    return x > 20.0f ? 1.0f : q / (q + 2.0f);
}
static inline float mish_deriv(float x) {
    float n = expf(x), t = mish_t(x, n);
    return x > 20.0f ? 1.0f : t + x * (n / (1.0f + n)) * (1.0f - t * t);
}
UNARY(mish, v * mish_t(v, expf(v)), mish_deriv(v))
UNARY(clamp, v < p[0] ? p[0] : (v > p[1] ? p[1] : v), (v >= p[0] && v <= p[1]) ? 1.0f : 0.0f)
UNARY(add_scalar, v + p[0], 1.0f)
UNARY(mul_scalar, v * p[0], p[0])
UNARY(div_scalar, v / p[0], 1.0f / p[0])
UNARY(rsub_scalar, p[0] - v, -1.0f)
UNARY(rdiv_scalar, p[0] / v, -p[0] / (v * v))
UNARY(pow_scalar, powf(v, p[0]), p[0] == 0.0f ? 0.0f : p[0] * powf(v, p[0] - 1.0f))

nbi_unary_fn const nbi_ref_unary[NBI_U_COUNT] = {
#define NB_UNARY(ID, name, NP, CHECK) [NBI_U_##ID] = name##_fwd,
#include "nabla/ops.def"
};
nbi_unary_bwd_fn const nbi_ref_unary_bwd[NBI_U_COUNT] = {
#define NB_UNARY(ID, name, NP, CHECK) [NBI_U_##ID] = name##_bwd,
#include "nabla/ops.def"
};
