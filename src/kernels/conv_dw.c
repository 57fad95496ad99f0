/* kernels/conv_dw.c — the scalar twin of the image-broadcast weight gradient (kernels/conv_dw.h):
 * the plain loop nest whose order every vector version keeps. */
#include "kernels/conv_dw.h"

#include "kernels/conv.h"

#include <math.h>

int nbi_conv_dw_img_fits(const nbi_conv_geom *g) {
    return g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->pt == 0 && g->pb == 0 &&
           g->pl == 0 && g->pr == 0;
}

void nbi_conv_dw_img_ref(const nbi_conv_geom *g, const float *x, int64_t nb, const float *dy,
                         int64_t Og, int64_t kblk, float *ws, float *dw) {
    (void)ws;
    const int64_t Cg = g->C / g->groups, Kc = nbi_conv_kc(g), P = g->OH * g->OW;
    const int64_t img = g->C * g->H * g->W, ld = nb * P;
    for (int64_t o = 0; o < Og; o++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t a = 0; a < g->KH; a++)
                for (int64_t b = 0; b < g->KW; b++) {
                    const float *xt = x + c * g->H * g->W + a * g->W + b, *d = dy + o * ld;
                    float total = 0.0f;
                    for (int64_t p0 = 0; p0 < ld; p0 += kblk) {
                        const int64_t p1 = p0 + kblk < ld ? p0 + kblk : ld;
                        float s = 0.0f;
                        for (int64_t p = p0; p < p1; p++) {
                            const int64_t n = p / P, oh = p % P / g->OW, ow = p % g->OW;
                            s = fmaf(xt[n * img + oh * g->W + ow], d[p], s);
                        }
                        total = p0 == 0 ? s : s + total;
                    }
                    dw[o * Kc + (c * g->KH + a) * g->KW + b] = total;
                }
}
