/* kernels/pooling.c — max and average pooling over [planes, H, W] (see kernels/conv.h).
 *
 *   max:  y[p,i,j] = max_{a<KH, b<KW} x[p, i·sh − pt + a·dh, j·sw − pl + b·dw]    (image only)
 *         dx[p, arg[p,i,j]] += dy[p,i,j]
 *   avg:  y[p,i,j] = (1/D) Σ_{window ∩ image} x,   dx += dy / D over the window ∩ image
 *
 * D is KH·KW clipped to the padded image (PyTorch's count_include_pad = True) or the number
 * of image elements in the window (False). A window always overlaps the image when the
 * padding is at most half the kernel, which the ops require (as PyTorch does). */
#include "kernels/conv.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static inline int64_t imax(int64_t a, int64_t b) {
    return a > b ? a : b;
}
static inline int64_t imin(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* v replaces the running maximum m: strictly greater keeps the first maximum, and a NaN
 * beats any number (once). */
static inline int beats(float v, float m) {
    return v > m || (v != v && m == m);
}

/* One output of the 2x2 window at column q of rows r0, r1 (flat index of r0[0] is base),
 * written with selects rather than branches: random signs would mispredict them. */
#define MAX2X2(OUT, AT, q)                                                                         \
    do {                                                                                           \
        float a_ = r0[q], b_ = r0[q + 1], c_ = r1[q], d_ = r1[q + 1], m_ = a_;                     \
        int32_t at_ = base + (int32_t)(q);                                                         \
        int t_ = beats(b_, m_);                                                                    \
        m_ = t_ ? b_ : m_;                                                                         \
        at_ = t_ ? base + (int32_t)(q) + 1 : at_;                                                  \
        t_ = beats(c_, m_);                                                                        \
        m_ = t_ ? c_ : m_;                                                                         \
        at_ = t_ ? base + W + (int32_t)(q) : at_;                                                  \
        t_ = beats(d_, m_);                                                                        \
        m_ = t_ ? d_ : m_;                                                                         \
        at_ = t_ ? base + W + (int32_t)(q) + 1 : at_;                                              \
        OUT = m_;                                                                                  \
        AT = at_;                                                                                  \
    } while (0)

/* A row of outputs of the 2x2 window, stride 2: blocks of 8 the compiler vectorises. */
static void maxpool_2x2_row(const float *restrict r0, const float *restrict r1, float *restrict y,
                            int32_t *restrict as, int64_t OW, int32_t base, int32_t W) {
    int64_t j = 0;
    for (; j + 8 <= OW; j += 8)
        for (int k = 0; k < 8; k++) MAX2X2(y[j + k], as[j + k], 2 * (j + k));
    for (; j < OW; j++) MAX2X2(y[j], as[j], 2 * j);
}

/* Column pairs per block of maxpool_2x2_flat (its scratch; a block is whole output rows). */
#define FLAT_PAIRS 1024

/* beats as a lane mask (all ones or zero), both comparisons evaluated, and a bitwise select:
 * the branch-free forms the compiler turns into vector compares and blends (with `?:` on
 * floats and the short circuit it kept the scalar code; 3.4x slower over 8x8 planes). The
 * selected value's bits are the chosen element's, NaN payloads included. */
static inline int32_t beats_mask(float v, float m) {
    return -((int32_t)(v > m) | ((int32_t)(v != v) & (int32_t)(m == m)));
}

static inline float select_bits(int32_t t, float v, float m) {
    uint32_t vb, mb, r;
    memcpy(&vb, &v, sizeof vb);
    memcpy(&mb, &m, sizeof mb);
    r = (vb & (uint32_t)t) | (mb & ~(uint32_t)t);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* One output row of maxpool_2x2_flat from the pair maxima of its upper and lower rows. */
static inline void vertical_row(const float *restrict up, const float *restrict lo,
                                const int32_t *restrict ur, const int32_t *restrict lr,
                                float *restrict yr, int32_t *restrict ar, int64_t OW, int32_t base,
                                int32_t W) {
    for (int64_t j = 0; j < OW; j++) {
        const int32_t t = beats_mask(lo[j], up[j]);
        yr[j] = select_bits(t, lo[j], up[j]);
        ar[j] = base + 2 * (int32_t)j + (((W + lr[j]) & t) | (ur[j] & ~t));
    }
}

/* The 2x2 window with stride 2 when the windows tile the planes exactly (H = 2·OH, W = 2·OW):
 * the planes are then one sequence of column pairs. First the maximum of each pair (the left
 * one unless the right beats it), in one flat loop over every pair of a block of output rows,
 * which the compiler vectorises whatever the width; then, per output, the upper pair's
 * maximum unless the lower one's beats it. The same choices as MAX2X2's row-major scan: a tie
 * keeps the earlier element (upper before lower, left before right) and the first NaN wins.
 * Taken when maxpool_2x2_row would spend much of a row in its scalar tail: rows of 1-7 and
 * 9-15 outputs (CPU time for 1 024 planes, the row blocks → flat: 8x8 58 → 26 µs, 12x12 466
 * → 152, 24x24 725 → 509, 28x28 1 272 → 703); rows of 16 and more keep the row blocks, equal
 * or faster there (40x40 1.40 ms against 1.47 flat, 64x64 0.30 against 0.95 for 256). */
static void maxpool_2x2_flat(const nbi_conv_geom *g, int64_t planes, const float *x, float *y,
                             int32_t *arg) {
    const int64_t OW = g->OW, W = g->W, OH = g->OH, rows = planes * OH;
    const int64_t per = FLAT_PAIRS / (2 * OW); /* output rows per block, >= 1 */
    float hv[FLAT_PAIRS];
    int32_t hr[FLAT_PAIRS];
    for (int64_t r0 = 0; r0 < rows; r0 += per) {
        const int64_t nr = rows - r0 < per ? rows - r0 : per, np = nr * 2 * OW;
        const float *restrict xs = x + r0 * 2 * W;
        for (int64_t k = 0; k < np; k++) {
            const int32_t t = beats_mask(xs[2 * k + 1], xs[2 * k]);
            hv[k] = select_bits(t, xs[2 * k + 1], xs[2 * k]);
            hr[k] = t & 1;
        }
        for (int64_t rr = 0; rr < nr; rr++) {
            const int64_t r = r0 + rr;
            const int32_t base = (int32_t)(2 * (r % OH) * W);
            const float *restrict up = hv + rr * 2 * OW, *restrict lo = up + OW;
            const int32_t *restrict ur = hr + rr * 2 * OW, *restrict lr = ur + OW;
            float *restrict yr = y + r * OW;
            int32_t *restrict ar = arg + r * OW;
            if (OW == 4) /* the CNN's second pooling: a constant width the compiler unrolls */
                vertical_row(up, lo, ur, lr, yr, ar, 4, base, (int32_t)W);
            else
                vertical_row(up, lo, ur, lr, yr, ar, OW, base, (int32_t)W);
        }
    }
}

/* The 2x2 window with stride 2 and no padding, the common case, without bounds checks. */
static void maxpool_2x2(const nbi_conv_geom *g, int64_t planes, const float *x, float *y,
                        int32_t *arg) {
    const int64_t W = g->W, plane = g->H * W, P = g->OH * g->OW;
    if (g->H == 2 * g->OH && W == 2 * g->OW && g->OW % 8 != 0 && g->OW < 16) {
        maxpool_2x2_flat(g, planes, x, y, arg);
        return;
    }
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < g->OH; i++) {
            const float *r0 = x + p * plane + 2 * i * W;
            maxpool_2x2_row(r0, r0 + W, y + p * P + i * g->OW, arg + p * P + i * g->OW, g->OW,
                            (int32_t)(2 * i * W), (int32_t)W);
        }
}

void nbi_maxpool_forward(const nbi_conv_geom *g, int64_t planes, const float *x, float *y,
                         int32_t *arg) {
    if (g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 &&
        g->pt == 0 && g->pl == 0 && g->pb == 0 && g->pr == 0) {
        maxpool_2x2(g, planes, x, y, arg);
        return;
    }
    const int64_t plane = g->H * g->W, P = g->OH * g->OW;
    for (int64_t p = 0; p < planes; p++) {
        const float *xs = x + p * plane;
        float *ys = y + p * P;
        int32_t *as = arg + p * P;
        for (int64_t i = 0; i < g->OH; i++) {
            for (int64_t j = 0; j < g->OW; j++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t a = 0; a < g->KH; a++) {
                    int64_t ih = i * g->sh - g->pt + a * g->dh;
                    if (ih < 0 || ih >= g->H) continue;
                    for (int64_t b = 0; b < g->KW; b++) {
                        int64_t iw = j * g->sw - g->pl + b * g->dw;
                        if (iw < 0 || iw >= g->W) continue;
                        float v = xs[ih * g->W + iw];
                        if (at < 0 || beats(v, best)) {
                            best = v;
                            at = ih * g->W + iw;
                        }
                    }
                }
                ys[i * g->OW + j] = best;
                as[i * g->OW + j] = (int32_t)at;
            }
        }
    }
}

void nbi_maxpool_backward(const nbi_conv_geom *g, int64_t planes, const float *dy,
                          const int32_t *arg, float *dx) {
    const int64_t plane = g->H * g->W, P = g->OH * g->OW;
    for (int64_t p = 0; p < planes; p++) {
        float *xs = dx + p * plane;
        const float *ds = dy + p * P;
        const int32_t *as = arg + p * P;
        for (int64_t k = 0; k < P; k++)
            if (as[k] >= 0) xs[as[k]] += ds[k];
    }
}

/* ---- the δ planes behind a fused max pooling (kernels/conv_direct.h) ------------------------
 * One pass per plane instead of a zeroed plane and a scatter: each element is 0 + the pooled
 * gradient where it is its window's arg, else +0 (the scatter's `+=` onto the zero, so a −0
 * gradient still lands as +0). */

/* g = dy, or ReLU's mask by the pooled y (nbi_relu_mask's select) */
static inline float masked(const float *dy, const float *y, int64_t k) {
    return y && y[k] <= 0.0f ? 0.0f : dy[k];
}

void nbi_unpool2x2_twin(int64_t planes, int64_t PH, int64_t PW, const float *dy, const float *y,
                        const int32_t *arg, float *d) {
    const int64_t W = 2 * PW, PP = PH * PW;
    for (int64_t pl = 0; pl < planes; pl++, dy += PP, arg += PP, d += 4 * PP) {
        const float *yp = y ? y + pl * PP : NULL;
        for (int64_t i = 0; i < 2 * PH; i++)
            for (int64_t j = 0; j < W; j++) {
                const int64_t k = i / 2 * PW + j / 2;
                d[i * W + j] = arg[k] == i * W + j ? 0.0f + masked(dy, yp, k) : 0.0f;
            }
    }
}

void nbi_pool_delta(const nbi_kernels *k, const nbi_conv_geom *pg, int64_t planes, const float *dy,
                    const float *y, const int32_t *arg, float *d) {
    const int64_t P = pg->H * pg->W, PP = pg->OH * pg->OW;
    if (pg->KH == 2 && pg->KW == 2 && pg->sh == 2 && pg->sw == 2 && pg->H == 2 * pg->OH &&
        pg->W == 2 * pg->OW && pg->pt == 0 && pg->pl == 0) {
        (k->conv_unpool2x2 ? k->conv_unpool2x2 : nbi_unpool2x2_twin)(planes, pg->OH, pg->OW, dy, y,
                                                                     arg, d);
        return;
    }
    for (int64_t p = 0; p < planes; p++, dy += PP, arg += PP, d += P) {
        const float *yp = y ? y + p * PP : NULL;
        memset(d, 0, sizeof(float) * (size_t)P);
        for (int64_t q = 0; q < PP; q++)
            if (arg[q] >= 0) d[arg[q]] += masked(dy, yp, q);
    }
}

/* The window of output (i, j) clipped to the image, [h0, h1) × [w0, w1), and its divisor. */
static float window(const nbi_conv_geom *g, int count_pad, int64_t i, int64_t j, int64_t *h0,
                    int64_t *h1, int64_t *w0, int64_t *w1) {
    int64_t hs = i * g->sh - g->pt, ws = j * g->sw - g->pl;
    int64_t he = imin(hs + g->KH, g->H + g->pb), we = imin(ws + g->KW, g->W + g->pr);
    int64_t padded = (he - hs) * (we - ws);
    *h0 = imax(hs, 0);
    *w0 = imax(ws, 0);
    *h1 = imin(he, g->H);
    *w1 = imin(we, g->W);
    int64_t inside = (*h1 - *h0) * (*w1 - *w0);
    return (float)(count_pad ? padded : inside);
}

void nbi_avgpool_forward(const nbi_conv_geom *g, int64_t planes, int count_pad, const float *x,
                         float *y) {
    const int64_t plane = g->H * g->W, P = g->OH * g->OW;
    for (int64_t p = 0; p < planes; p++) {
        const float *xs = x + p * plane;
        float *ys = y + p * P;
        for (int64_t i = 0; i < g->OH; i++)
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t h0, h1, w0, w1;
                float d = window(g, count_pad, i, j, &h0, &h1, &w0, &w1);
                float s = 0.0f;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xs[ih * g->W + iw];
                ys[i * g->OW + j] = s / d;
            }
    }
}

void nbi_avgpool_backward(const nbi_conv_geom *g, int64_t planes, int count_pad, const float *dy,
                          float *dx) {
    const int64_t plane = g->H * g->W, P = g->OH * g->OW;
    for (int64_t p = 0; p < planes; p++) {
        float *xs = dx + p * plane;
        const float *ds = dy + p * P;
        for (int64_t i = 0; i < g->OH; i++)
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t h0, h1, w0, w1;
                float d = window(g, count_pad, i, j, &h0, &h1, &w0, &w1);
                float v = ds[i * g->OW + j] / d;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) xs[ih * g->W + iw] += v;
            }
    }
}
