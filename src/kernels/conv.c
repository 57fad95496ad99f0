/* kernels/conv.c — lowering a convolution to a matrix product: im2col and its adjoint
 * col2im, from NCHW images and from NHWC ones (see kernels/conv.h for the formulas).
 *
 * Both lowering loops walk one column-matrix row (c, a, b) at a time: for a fixed tap (a, b)
 * the input column read by output column j is iw = j·sw + (b·dw − pl), so the output columns
 * whose taps land inside the image form one range [lo, hi) computed once per row; within it a
 * unit stride is a straight copy, and outside it the entries are padding. */
#include "kernels/conv.h"

#include <string.h>

/* [lo, hi): the output positions j in [0, out) with 0 <= j·s + off < in */
static void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo,
                        int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = in - 1 - off < 0 ? 0 : (in - 1 - off) / s + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* d[0..n) = s[0..n) and d[0..n) += s[0..n) for the short runs of a row (often 8 to 30
 * floats), without a library call per run: constant-size copies the compiler inlines as
 * vector moves (a plain copy loop would be turned back into a call to memmove). */
static inline void copy_run(float *restrict d, const float *restrict s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(d + i, s + i, 8 * sizeof(float));
    if (n - i >= 4) {
        memcpy(d + i, s + i, 4 * sizeof(float));
        i += 4;
    }
    switch (n - i) {
    case 3: d[i + 2] = s[i + 2]; /* fall through */
    case 2: d[i + 1] = s[i + 1]; /* fall through */
    case 1: d[i] = s[i]; /* fall through */
    default: break;
    }
}

static inline void add_run(float *restrict d, const float *restrict s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) d[i + k] += s[i + k];
    for (; i < n; i++) d[i] += s[i];
}

void nbi_im2col(const nbi_conv_geom *g, const float *x, int64_t nb, float *col) {
    const int64_t Cg = g->C / g->groups, P = g->OH * g->OW, ld = nb * P;
    const int64_t img = g->C * g->H * g->W, plane = g->H * g->W;
    float *dst = col;
    for (int64_t c = 0; c < Cg; c++) {
        for (int64_t a = 0; a < g->KH; a++) {
            int64_t ilo, ihi; /* output rows whose tap a lands inside the image */
            valid_range(a * g->dh - g->pt, g->sh, g->H, g->OH, &ilo, &ihi);
            for (int64_t b = 0; b < g->KW; b++, dst += ld) {
                const int64_t off = b * g->dw - g->pl;
                int64_t lo, hi;
                valid_range(off, g->sw, g->W, g->OW, &lo, &hi);
                for (int64_t n = 0; n < nb; n++) {
                    const float *xs = x + n * img + c * plane;
                    float *d = dst + n * P;
                    if (ilo > 0) memset(d, 0, sizeof(float) * (size_t)(ilo * g->OW));
                    for (int64_t i = ilo; i < ihi; i++) {
                        const float *row = xs + (i * g->sh - g->pt + a * g->dh) * g->W;
                        float *di = d + i * g->OW;
                        for (int64_t j = 0; j < lo; j++) di[j] = 0.0f;
                        if (g->sw == 1) {
                            copy_run(di + lo, row + lo + off, hi - lo);
                        } else {
                            for (int64_t j = lo; j < hi; j++) di[j] = row[j * g->sw + off];
                        }
                        for (int64_t j = hi; j < g->OW; j++) di[j] = 0.0f;
                    }
                    if (ihi < g->OH)
                        memset(d + ihi * g->OW, 0, sizeof(float) * (size_t)((g->OH - ihi) * g->OW));
                }
            }
        }
    }
}

void nbi_col2im(const nbi_conv_geom *g, const float *col, int64_t nb, float *x) {
    const int64_t Cg = g->C / g->groups, P = g->OH * g->OW, ld = nb * P;
    const int64_t img = g->C * g->H * g->W, plane = g->H * g->W;
    const float *src = col;
    for (int64_t c = 0; c < Cg; c++) {
        for (int64_t a = 0; a < g->KH; a++) {
            int64_t ilo, ihi;
            valid_range(a * g->dh - g->pt, g->sh, g->H, g->OH, &ilo, &ihi);
            for (int64_t b = 0; b < g->KW; b++, src += ld) {
                const int64_t off = b * g->dw - g->pl;
                int64_t lo, hi;
                valid_range(off, g->sw, g->W, g->OW, &lo, &hi);
                for (int64_t n = 0; n < nb; n++) {
                    float *xs = x + n * img + c * plane;
                    const float *s = src + n * P;
                    for (int64_t i = ilo; i < ihi; i++) {
                        float *row = xs + (i * g->sh - g->pt + a * g->dh) * g->W;
                        const float *si = s + i * g->OW;
                        if (g->sw == 1) {
                            add_run(row + lo + off, si + lo, hi - lo);
                        } else {
                            for (int64_t j = lo; j < hi; j++) row[j * g->sw + off] += si[j];
                        }
                    }
                }
            }
        }
    }
}

/* ---- NHWC lowering ------------------------------------------------------------------------ */

void nbi_im2col_nhwc(const nbi_conv_geom *g, const float *xt, int64_t grp, int64_t nb,
                     float *col) {
    const int64_t C = g->C, Cg = C / g->groups, Kc = nbi_conv_kc(g), row_k = g->KW * Cg;
    const int64_t img = g->H * g->W * C;
    /* one copy of KW·C floats per kernel row when the taps of a row are adjacent pixels
     * whose channels are all wanted */
    const int whole = g->dw == 1 && g->groups == 1;
    float *d = col;
    for (int64_t n = 0; n < nb; n++) {
        const float *xs = xt + n * img + grp * Cg;
        for (int64_t i = 0; i < g->OH; i++) {
            for (int64_t j = 0; j < g->OW; j++, d += Kc) {
                const int64_t iw0 = j * g->sw - g->pl;
                for (int64_t a = 0; a < g->KH; a++) {
                    const int64_t ih = i * g->sh - g->pt + a * g->dh;
                    float *da = d + a * row_k;
                    if (ih < 0 || ih >= g->H) {
                        memset(da, 0, sizeof(float) * (size_t)row_k);
                        continue;
                    }
                    const float *row = xs + ih * g->W * C;
                    if (whole && iw0 >= 0 && iw0 + g->KW <= g->W) {
                        memcpy(da, row + iw0 * C, sizeof(float) * (size_t)row_k);
                        continue;
                    }
                    for (int64_t b = 0; b < g->KW; b++) {
                        const int64_t iw = iw0 + b * g->dw;
                        if (iw < 0 || iw >= g->W)
                            memset(da + b * Cg, 0, sizeof(float) * (size_t)Cg);
                        else
                            memcpy(da + b * Cg, row + iw * C, sizeof(float) * (size_t)Cg);
                    }
                }
            }
        }
    }
}

void nbi_col2im_nhwc(const nbi_conv_geom *g, const float *col, int64_t grp, int64_t nb,
                     float *xt) {
    const int64_t C = g->C, Cg = C / g->groups, Kc = nbi_conv_kc(g), row_k = g->KW * Cg;
    const int64_t img = g->H * g->W * C;
    const int whole = g->dw == 1 && g->groups == 1;
    const float *s = col;
    for (int64_t n = 0; n < nb; n++) {
        float *xs = xt + n * img + grp * Cg;
        for (int64_t i = 0; i < g->OH; i++) {
            for (int64_t j = 0; j < g->OW; j++, s += Kc) {
                const int64_t iw0 = j * g->sw - g->pl;
                for (int64_t a = 0; a < g->KH; a++) {
                    const int64_t ih = i * g->sh - g->pt + a * g->dh;
                    if (ih < 0 || ih >= g->H) continue;
                    const float *sa = s + a * row_k;
                    float *row = xs + ih * g->W * C;
                    if (whole && iw0 >= 0 && iw0 + g->KW <= g->W) {
                        add_run(row + iw0 * C, sa, row_k);
                        continue;
                    }
                    for (int64_t b = 0; b < g->KW; b++) {
                        const int64_t iw = iw0 + b * g->dw;
                        if (iw >= 0 && iw < g->W) add_run(row + iw * C, sa + b * Cg, Cg);
                    }
                }
            }
        }
    }
}

void nbi_to_nhwc(const float *x, int64_t nb, int64_t C, int64_t HW, float *xt) {
    for (int64_t n = 0; n < nb; n++) {
        const float *xs = x + n * C * HW;
        float *ts = xt + n * C * HW;
        for (int64_t p = 0; p < HW; p++)
            for (int64_t c = 0; c < C; c++) ts[p * C + c] = xs[c * HW + p];
    }
}

void nbi_add_from_nhwc(const float *xt, int64_t nb, int64_t C, int64_t HW, float *x) {
    for (int64_t n = 0; n < nb; n++) {
        const float *ts = xt + n * C * HW;
        float *xs = x + n * C * HW;
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++) xs[c * HW + p] += ts[p * C + c];
    }
}
