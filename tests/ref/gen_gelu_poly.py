#!/usr/bin/python3
"""Fits the polynomial behind the vectorised exact GELU (src/kernels/x86/unary_simd.def).

GELU(x) = x Φ(x), Φ(x) = (1 + erf(x / √2)) / 2. With a = |x| / √2 the vector code computes
erfc(a) = exp(-a²) · t · P(t),  t = 2 / (2 + a),
and Φ(x) = 1 - erfc(a) / 2 for x >= 0, erfc(a) / 2 for x < 0 (so the negative tail keeps its
relative accuracy: no 1 + erf cancellation). exp(-a²) = exp(-x²/2) is also the Gaussian of
GELU's derivative Φ(x) + x φ(x), so one exp serves both. P, of degree 9, is fitted for
relative error to erfcx(a) / t = erfc(a) exp(a²) / t on a in [0, A_MAX] by iteratively
reweighted least squares on Chebyshev nodes (Lawson steps towards minimax), in mpmath's
precision. The vector code clamps |x| to X_MAX = 14.5 (a = 10.25), where exp(-a²) is below
half the smallest float subnormal, so erfc(a) rounds to 0 beyond.

The script then evaluates the kernel's float32 arithmetic (fused multiply-adds emulated in
float64: exact for one product plus one addend, then rounded; x² split into x*x and its fma
remainder) over [-24, 24], the range tests/test_kernels.c draws from, and prints the worst
error against mpmath's GELU (relative) and its derivative (absolute: it crosses 0), in
units of 2^-24.
Run with Debian's python3 (numpy, mpmath): /usr/bin/python3 tests/ref/gen_gelu_poly.py
"""
import mpmath as mp
import numpy as np

X_MAX = 14.5
A_MAX = X_MAX / np.sqrt(2.0) + 1e-3
DEG = 9
mp.mp.dps = 30

t0 = 2 / (2 + A_MAX)
t = (np.cos(np.linspace(0, np.pi, 3001)) + 1) / 2 * (1 - t0) + t0
a = 2 / t - 2
target = np.array([float(mp.erfc(v) * mp.exp(v * v)) for v in a]) / t
V = np.vander(t, DEG + 1, increasing=True)
w = np.ones_like(t)
for _ in range(60):
    sw = np.sqrt(w) / target
    c, *_ = np.linalg.lstsq(V * sw[:, None], target * sw, rcond=None)
    err = np.abs(V @ c - target) / target
    w = w * err / err.sum() * len(err)  # Lawson's update
c32 = c.astype(np.float32)
f32 = np.float32


def fma32(a, b, d):
    return (np.float64(a) * np.float64(b) + np.float64(d)).astype(np.float32)


x = np.linspace(-24, 24, 48001).astype(np.float32)
xa = np.minimum(np.abs(x), f32(X_MAX))
at = (xa * f32(0.70710678118654752440)).astype(np.float32)
tt = (f32(2) / (f32(2) + at)).astype(np.float32)
p = np.full_like(tt, c32[DEG])
for k in range(DEG - 1, -1, -1):
    p = fma32(p, tt, c32[k])
h = (xa * xa).astype(np.float32)
lo = fma32(xa, xa, -h)  # x² = h + lo exactly
g = np.exp(-(h * f32(0.5))).astype(np.float32)  # vexp: within 1 ulp of expf
g = fma32(g, -(lo * f32(0.5)), g)  # exp(-(h + lo)/2) = exp(-h/2) (1 - lo/2)
e = ((g * tt).astype(np.float32) * p).astype(np.float32)  # erfc(|x| / √2)
phi = np.where(x >= 0, fma32(f32(-0.5), e, f32(1)), (f32(0.5) * e).astype(np.float32))
y = (x * phi).astype(np.float32)
dy = fma32((x * f32(0.39894228040143267794)).astype(np.float32), g, phi)

xs = [mp.mpf(float(v)) for v in x]
Phi = [mp.ncdf(v) for v in xs]
ref = np.array([float(v * P) for v, P in zip(xs, Phi)])
dref = np.array([float(P + v * mp.npdf(v)) for v, P in zip(xs, Phi)])
nz = np.abs(ref) >= 2.0**-100  # away from the subnormals, where relative error means little
rel = np.abs(y[nz] - ref[nz]) / np.abs(ref[nz]) / 2.0**-24
dabs = np.abs(dy - dref) / 2.0**-24  # GELU' crosses 0 near x = -0.75: absolute error
print("coefficients of P(t), t = 2 / (2 + a) (float32):")
for k, v in enumerate(c32):
    print(f"  c{k} = {float(v):.9e}f")
print(f"fit: worst relative error of erfcx {err.max() / 2.0**-24:.3f} x 2^-24")
print(f"GELU on [-24, 24] where |GELU| >= 2^-100, float32 arithmetic: worst {rel.max():.2f}"
      " x 2^-24 relative")
print(f"GELU' on [-24, 24]: worst {dabs.max():.2f} x 2^-24 absolute")
