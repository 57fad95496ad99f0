/* kernels/ref/bytes.c — bytes to floats under one (shift, div), the scalar twin of the AVX2
 * kernel (kernels/x86/bytes_avx2.c): a byte converts exactly, then one float subtraction and
 * one float division, each rounded once. */
#include "kernels/kernels.h"

void nbi_ref_u8_to_f32(int64_t n, const uint8_t *x, float shift, float div, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = ((float)x[i] - shift) / div;
}
