/* kernels/conv.c — lowering a convolution to a matrix product: im2col and its adjoint
 * col2im (see kernels/conv.h for the formulas).
 *
 * Both lowering loops walk one column-matrix row (c, a, b) at a time: for a fixed tap (a, b)
 * the input column read by output column j is iw = j·sw + (b·dw − pl), so the output columns
 * whose taps land inside the image form one range [lo, hi) computed once per row; within it a
 * unit stride is a straight copy, and outside it the entries are padding. */
#include "kernels/conv.h"

#include <string.h>

/* [lo, hi): the output positions j in [0, out) with 0 <= j·s + off < in */
static void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
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
    case 3:
        d[i + 2] = s[i + 2]; /* fall through */
    case 2:
        d[i + 1] = s[i + 1]; /* fall through */
    case 1:
        d[i] = s[i]; /* fall through */
    default:
        break;
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
