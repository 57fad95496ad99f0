/* kernels/ref/half.c — binary16 ⇄ binary32 over arrays, the scalar twins of the F16C kernels
 * (kernels/x86/half_f16c.c): base/half.c's conversions value by value, with one difference
 * that makes the twins agree on every input: a NaN half comes out as a quiet NaN (its top
 * payload bit set), as VCVTPH2PS makes it. */
#include "base/half.h"
#include "kernels/kernels.h"

#include <string.h>

void nbi_ref_half_to_f32(int64_t n, const uint16_t *h, float *y) {
    for (int64_t i = 0; i < n; i++) {
        float f = nbi_half_to_float(h[i]);
        if ((h[i] & 0x7C00u) == 0x7C00u && (h[i] & 0x3FFu)) { /* NaN: quiet */
            uint32_t b;
            memcpy(&b, &f, sizeof b);
            b |= 0x400000u;
            memcpy(&f, &b, sizeof f);
        }
        y[i] = f;
    }
}

void nbi_ref_f32_to_half(int64_t n, const float *x, uint16_t *h) {
    for (int64_t i = 0; i < n; i++) h[i] = nbi_half_from_float(x[i]);
}
