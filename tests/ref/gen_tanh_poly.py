#!/usr/bin/python3
"""Fits the polynomial behind the vectorised tanh for small |x| (src/kernels/x86/vecmath.h).

tanh(x) = x + x^3 P(x^2) on |x| <= 0.625, P of degree 5, fitted for relative error by
iteratively reweighted least squares on Chebyshev nodes (a few Lawson steps towards minimax),
then rounded to float32 and checked by evaluating Horner's rule in float32 with fused
multiply-adds emulated in float64 (exact for one product plus one addend, then rounded).
Prints the coefficients and the worst error in units of 2^-24 relative.
Run with Debian's python3 (numpy): /usr/bin/python3 tests/ref/gen_tanh_poly.py
"""
import numpy as np

X_MAX = 0.625
DEG = 5

u = (np.cos(np.linspace(0, np.pi, 4001)) + 1) / 2 * X_MAX**2  # nodes in x^2
x = np.sqrt(u[u > 0])
u = x * x
target = (np.tanh(x) - x) / x**3  # P(u)
V = np.vander(u, DEG + 1, increasing=True)
w = np.ones_like(u)
# relative error of tanh: (x^3 (P - target)) / tanh(x) -> weight x^3 / tanh(x)
base = x**3 / np.tanh(x)
for _ in range(60):
    sw = np.sqrt(w) * base
    c, *_ = np.linalg.lstsq(V * sw[:, None], target * sw, rcond=None)
    err = np.abs(V @ c - target) * base
    w = w * err / err.sum() * len(err)  # Lawson's update
c32 = c.astype(np.float32)


def fma32(a, b, d):
    return np.float32(np.float64(a) * np.float64(b) + np.float64(d))


xs = np.linspace(0, X_MAX, 2000001, dtype=np.float64).astype(np.float32)[1:]
us = (xs * xs).astype(np.float32)
p = np.full_like(us, c32[DEG])
for k in range(DEG - 1, -1, -1):
    p = fma32(p, us, c32[k])
x3 = (xs * us).astype(np.float32)
y = fma32(x3, p, xs)
exact = np.tanh(xs.astype(np.float64))
ulp = np.abs(y.astype(np.float64) - exact) / exact / 2.0**-24
print("coefficients of P(u), u = x^2 (float32):")
for k, v in enumerate(c32):
    print(f"  c{k} = {float(v):.9e}f")
print(f"worst error on (0, {X_MAX}]: {ulp.max():.3f} x 2^-24 relative")
