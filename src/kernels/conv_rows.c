/* kernels/conv_rows.c — the scalar twin of the row kernels and the weights' packer
 * (kernels/conv_rows.h says what they compute). */
#include "kernels/conv_rows.h"

#include <math.h>

void nbi_conv_rows_ref(int nr, const float *x, const int32_t *koff, int64_t K, const float *wp,
                       int64_t ncols, int rows, float *y, int64_t ldy) {
    for (int r = 0; r < rows; r++)
        for (int64_t c = 0; c < ncols; c++) {
            float acc = 0.0f;
            for (int64_t t = 0; t < K; t++) acc = fmaf(x[koff[t] + r], wp[t * nr + c], acc);
            y[c * ldy + r] = acc;
        }
}

void nbi_conv_rows_pack(const float *w, int64_t Og, int64_t K, int nr, float *wp) {
    /* TB taps a block: the panel's TB rows stay in L1 while its nr rows of W are read along,
     * so neither side strides through memory */
    const int64_t TB = 64;
    for (int64_t o0 = 0; o0 < Og; o0 += nr, wp += K * nr)
        for (int64_t t0 = 0; t0 < K; t0 += TB) {
            const int64_t t1 = t0 + TB < K ? t0 + TB : K;
            for (int c = 0; c < nr; c++) {
                float *d = wp + c;
                if (o0 + c >= Og) {
                    for (int64_t t = t0; t < t1; t++) d[t * nr] = 0.0f;
                    continue;
                }
                const float *s = w + (o0 + c) * K;
                for (int64_t t = t0; t < t1; t++) d[t * nr] = s[t];
            }
        }
}
