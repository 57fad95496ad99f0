/* kernels/ref/conv.c — the convolution written as its definition, one multiply-add per tap:
 * the oracle the lowered (im2col + GEMM) path and every fast path are tested against. Slow
 * on purpose; it sums in double so that its own rounding is far below what it checks.
 *
 *   y[n,o,i,j] = b[o] + Σ_{c<Cg, a<KH, b<KW} w[o,c,a,b] · x[n, g·Cg + c, i·sh − pt + a·dh,
 *                                                          j·sw − pl + b·dw]
 *
 * (g = o / Og the group of output channel o; x is 0 outside the image). The two gradients
 * are the same sum read the other way: dx gathers dy·w over every tap that read an input
 * element, dw gathers dy·x over every output position. */
#include "kernels/conv.h"

/* The input element tap (a, b) of output (i, j) reads, or -1 in the padding. */
static int64_t tap(const nbi_conv_geom *g, int64_t i, int64_t j, int64_t a, int64_t b) {
    int64_t ih = i * g->sh - g->pt + a * g->dh, iw = j * g->sw - g->pl + b * g->dw;
    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) return -1;
    return ih * g->W + iw;
}

#define FOR_TAPS                                                                                   \
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, plane = g->H * g->W;               \
    for (int64_t n = 0; n < g->N; n++)                                                             \
        for (int64_t o = 0; o < g->O; o++)                                                         \
            for (int64_t i = 0; i < g->OH; i++)                                                    \
                for (int64_t j = 0; j < g->OW; j++)

void nbi_conv_ref_forward(const nbi_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y) {
    FOR_TAPS {
        double acc = b ? (double)b[o] : 0.0;
        int64_t grp = o / Og;
        for (int64_t c = 0; c < Cg; c++) {
            const float *xs = x + (n * g->C + grp * Cg + c) * plane;
            const float *ws = w + (o * Cg + c) * g->KH * g->KW;
            for (int64_t a = 0; a < g->KH; a++)
                for (int64_t bb = 0; bb < g->KW; bb++) {
                    int64_t t = tap(g, i, j, a, bb);
                    if (t >= 0) acc += (double)ws[a * g->KW + bb] * (double)xs[t];
                }
        }
        y[((n * g->O + o) * g->OH + i) * g->OW + j] = (float)acc;
    }
}

void nbi_conv_ref_backward_data(const nbi_conv_geom *g, const float *dy, const float *w,
                                float *dx) {
    FOR_TAPS {
        float gy = dy[((n * g->O + o) * g->OH + i) * g->OW + j];
        int64_t grp = o / Og;
        for (int64_t c = 0; c < Cg; c++) {
            float *xs = dx + (n * g->C + grp * Cg + c) * plane;
            const float *ws = w + (o * Cg + c) * g->KH * g->KW;
            for (int64_t a = 0; a < g->KH; a++)
                for (int64_t bb = 0; bb < g->KW; bb++) {
                    int64_t t = tap(g, i, j, a, bb);
                    if (t >= 0) xs[t] += gy * ws[a * g->KW + bb];
                }
        }
    }
}

void nbi_conv_ref_backward_weight(const nbi_conv_geom *g, const float *x, const float *dy,
                                  float *dw) {
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, plane = g->H * g->W;
    for (int64_t o = 0; o < g->O; o++) {
        int64_t grp = o / Og;
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t a = 0; a < g->KH; a++)
                for (int64_t bb = 0; bb < g->KW; bb++) {
                    double acc = 0.0;
                    for (int64_t n = 0; n < g->N; n++) {
                        const float *xs = x + (n * g->C + grp * Cg + c) * plane;
                        const float *ds = dy + (n * g->O + o) * g->OH * g->OW;
                        for (int64_t i = 0; i < g->OH; i++)
                            for (int64_t j = 0; j < g->OW; j++) {
                                int64_t t = tap(g, i, j, a, bb);
                                if (t >= 0) acc += (double)ds[i * g->OW + j] * (double)xs[t];
                            }
                    }
                    dw[((o * Cg + c) * g->KH + a) * g->KW + bb] += (float)acc;
                }
    }
}
