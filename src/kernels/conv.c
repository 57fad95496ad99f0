/* kernels/conv.c — lowering a convolution to a matrix product: im2col, its adjoint col2im,
 * and the layout changes between NCHW activations and the GEMM's channel-major matrices
 * (see kernels/conv.h for the formulas).
 *
 * Both lowering loops walk one column-matrix row (c, a, b) at a time: for a fixed tap (a, b)
 * the input column read by output column j is iw = j·sw + (b·dw − pl), so the output columns
 * whose taps land inside the image form one range [lo, hi) computed once per row; within it a
 * unit stride is a straight copy (memcpy), and outside it the entries are padding. */
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
 * floats): fixed blocks of 8 the compiler vectorises, no call per run. */
static inline void copy_run(float *restrict d, const float *restrict s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) d[i + k] = s[i + k];
    for (; i < n; i++) d[i] = s[i];
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

void nbi_nrp_to_rows(const float *src, int64_t R, int64_t P, int64_t nb, float *dst) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t n = 0; n < nb; n++)
            memcpy(dst + r * nb * P + n * P, src + (n * R + r) * P, sizeof(float) * (size_t)P);
}

void nbi_rows_to_nrp(const float *src, int64_t R, int64_t P, int64_t nb, const float *bias,
                     int accumulate, float *dst) {
    for (int64_t n = 0; n < nb; n++) {
        for (int64_t r = 0; r < R; r++) {
            const float *s = src + r * nb * P + n * P;
            float *d = dst + (n * R + r) * P;
            if (accumulate) {
                for (int64_t p = 0; p < P; p++) d[p] += s[p];
            } else if (bias) {
                const float bv = bias[r];
                for (int64_t p = 0; p < P; p++) d[p] = s[p] + bv;
            } else {
                memcpy(d, s, sizeof(float) * (size_t)P);
            }
        }
    }
}
