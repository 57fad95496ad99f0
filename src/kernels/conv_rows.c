/* kernels/conv_rows.c — the scalar twin of the row kernels and the weights' packer
 * (kernels/conv_rows.h says what they compute). */
#include "kernels/conv_rows.h"

#include <math.h>
#include <string.h>

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
    const int64_t panels = (Og + nr - 1) / nr;
    if (Og % nr) memset(wp + (panels - 1) * K * nr, 0, sizeof(float) * (size_t)(K * nr));
    for (int64_t o = 0; o < Og; o++) { /* W's rows read in order, written nr apart */
        float *d = wp + (o / nr) * K * nr + o % nr;
        const float *s = w + o * K;
        for (int64_t t = 0; t < K; t++) d[t * nr] = s[t];
    }
}
