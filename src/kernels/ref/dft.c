/* kernels/ref/dft.c — the discrete Fourier transform as its definition, the oracle the FFT is
 * tested against:
 *
 *   y[k] = Σ_{t<n} x[t] · e^{∓2πi·kt/n}       (− forward, + inverse, no 1/n)
 *
 * O(n²), summed in double with the angle's argument kt reduced modulo n in integers, so the
 * result is accurate to double rounding before the final conversion to float. */
#include "kernels/fft.h"

#include <math.h>

static const double TWO_PI = 6.283185307179586476925286766559;

void nbi_dft_ref(int64_t n, int inverse, const float *x, float *y) {
    const double sg = inverse ? 1.0 : -1.0;
    for (int64_t k = 0; k < n; k++) {
        double re = 0.0, im = 0.0;
        for (int64_t t = 0; t < n; t++) {
            double a = sg * TWO_PI * (double)((k * t) % n) / (double)n;
            double c = cos(a), s = sin(a);
            re += x[2 * t] * c - x[2 * t + 1] * s;
            im += x[2 * t] * s + x[2 * t + 1] * c;
        }
        y[2 * k] = (float)re;
        y[2 * k + 1] = (float)im;
    }
}

void nbi_rdft_ref(int64_t n, const float *x, float *X) {
    for (int64_t k = 0; k <= n / 2; k++) {
        double re = 0.0, im = 0.0;
        for (int64_t t = 0; t < n; t++) {
            double a = -TWO_PI * (double)((k * t) % n) / (double)n;
            re += x[t] * cos(a);
            im += x[t] * sin(a);
        }
        X[2 * k] = (float)re;
        X[2 * k + 1] = (float)im;
    }
}
