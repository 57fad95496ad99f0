/* kernels/conv.c — lowering a convolution to a matrix product: im2col and its adjoint
 * col2im, and the implicit-GEMM packers that write the GEMM's B panels of col (forward) and
 * of colᵀ (weight gradient) straight from the image (see kernels/conv.h for the formulas).
 *
 * Both lowering loops walk one column-matrix row (c, a, b) at a time: for a fixed tap (a, b)
 * the input column read by output column j is iw = j·sw + (b·dw − pl), so the output columns
 * whose taps land inside the image form one range [lo, hi) computed once per row; within it a
 * unit stride is a straight copy, and outside it the entries are padding. */
#include "kernels/conv.h"
#include "kernels/pool.h"

#include <stdatomic.h>

#include <string.h>

/* [lo, hi): the output positions j in [0, out) with 0 <= j·s + off < in */
static inline void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo,
                               int64_t *hi) {
    if (s == 1) { /* no division: the common case, once per packed row */
        int64_t l = off >= 0 ? 0 : -off, h = in - off;
        if (h > out) h = out;
        if (h < 0) h = 0;
        *lo = l > h ? h : l;
        *hi = h;
        return;
    }
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

/* ---- implicit GEMM: B panels straight from the image ----------------------------------------
 *
 * The GEMM asks for op(B)[p0 : p0+k, j0 : j0+n] as column panels nr floats wide (see
 * nbi_bpack_fn in kernels/kernels.h). Forward, op(B) = col: row p is a tap (c, a, b), column
 * q a position (sample, i, j). A panel's nr columns fall into a few runs along output rows
 * (nr = 32 over OW = 8 is four runs); they are found once for a few panels, and each of the
 * k rows is then the same runs copied from the tap's image rows, as im2col does, but into
 * the packed panels instead of a column matrix that the GEMM would read and pack again. */

/* One stretch of a panel's columns along an output row: where the sample's image starts,
 * the output row's first input row (i·sh − pt), the first output column j, the length, and
 * where the stretch goes in the packed panels (row 0). */
typedef struct col_run {
    int64_t x, ih0, j, len, d;
    int64_t at; /* x + ih0·W + j·sw: the run's first input for tap (0, 0, 0) with no padding */
} col_run;

/* Panels packed per round of nbi_conv_pack_col: their runs are found once, then the rows
 * are walked tap by tap (each tap's bounds worked out once for all of them). */
#define PANELS_PER_ROUND 4

/* the runs of columns [q, q + cols), going to dst offset d0 */
static int col_runs(const nbi_conv_geom *g, int64_t q, int64_t cols, int64_t d0, col_run *r) {
    const int64_t P = g->OH * g->OW, img = g->C * g->H * g->W;
    int64_t smp = q / P, i = q % P / g->OW, j = q % g->OW;
    int nrun = 0;
    for (int64_t d = 0; d < cols; nrun++) {
        int64_t len = g->OW - j < cols - d ? g->OW - j : cols - d;
        const int64_t ih0 = i * g->sh - g->pt;
        r[nrun] = (col_run){smp * img, ih0, j, len, d0 + d, smp * img + ih0 * g->W + j * g->sw};
        d += len;
        j += len;
        if (j == g->OW) {
            j = 0;
            if (++i == g->OH) {
                i = 0;
                smp++;
            }
        }
    }
    return nrun;
}

static inline void zero_run(float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] = 0.0f;
}

void nbi_conv_pack_col(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n, int nr,
                       float *dst) {
    const nbi_conv_src *src = ctx;
    const nbi_conv_geom *g = src->g;
    const int64_t plane = g->H * g->W;
    NBI_ASSERT(nr <= NBI_CONV_MAX_NR);
    col_run runs[PANELS_PER_ROUND * NBI_CONV_MAX_NR];
    /* no padding reached: every (tap, position) reads inside the image */
    const int inside = g->pt == 0 && g->pl == 0 &&
                       (g->OH - 1) * g->sh + (g->KH - 1) * g->dh < g->H &&
                       (g->OW - 1) * g->sw + (g->KW - 1) * g->dw < g->W;
    for (int64_t c0 = 0; c0 < n; c0 += PANELS_PER_ROUND * nr) {
        /* this round's panels: columns [c0, c1), the last one cols_last wide */
        const int64_t c1 = n - c0 < PANELS_PER_ROUND * nr ? n : c0 + PANELS_PER_ROUND * nr;
        int nrun = 0;
        for (int64_t c = c0; c < c1; c += nr)
            nrun +=
                col_runs(g, j0 + c, c1 - c < nr ? c1 - c : nr, (c - c0) / nr * nr * k, runs + nrun);
        const int64_t tail = (c1 - c0) % nr, last = (c1 - 1 - c0) / nr * nr * k + tail;
        int64_t ci = p0 / (g->KH * g->KW), a = p0 / g->KW % g->KH, b = p0 % g->KW;
        for (int64_t p = 0; p < k; p++) {
            float *dp = dst + p * nr;
            const float *xc = src->x + ci * plane;
            const int64_t off = b * g->dw - g->pl, ah = a * g->dh; /* iw = j·sw + off */
            if (inside && g->sw == 1) { /* every tap reads inside the image: straight copies */
                const float *xt = xc + ah * g->W + off;
                for (int r = 0; r < nrun; r++)
                    copy_run(dp + runs[r].d, xt + runs[r].at, runs[r].len);
                goto next_tap;
            }
            int64_t lo, hi;
            valid_range(off, g->sw, g->W, g->OW, &lo, &hi);
            for (int r = 0; r < nrun; r++) {
                const col_run *u = &runs[r];
                float *d = dp + u->d;
                const int64_t ih = u->ih0 + ah;
                if (ih < 0 || ih >= g->H) {
                    zero_run(d, u->len);
                    continue;
                }
                const float *row = xc + u->x + ih * g->W;
                const int64_t e = u->j + u->len;
                const int64_t v0 = lo < u->j ? u->j : lo > e ? e : lo;
                const int64_t v1 = hi > e ? e : hi < v0 ? v0 : hi;
                if (v0 > u->j) zero_run(d, v0 - u->j);
                if (g->sw == 1) {
                    copy_run(d + (v0 - u->j), row + v0 + off, v1 - v0);
                } else {
                    for (int64_t jj = v0; jj < v1; jj++) d[jj - u->j] = row[jj * g->sw + off];
                }
                if (e > v1) zero_run(d + (v1 - u->j), e - v1);
            }
        next_tap:
            if (tail) zero_run(dp + last, nr - tail);
            if (++b == g->KW) {
                b = 0;
                if (++a == g->KH) {
                    a = 0;
                    ci++;
                }
            }
        }
        dst += (c1 - c0 + nr - 1) / nr * nr * k;
    }
}

/* Weight gradient, op(B) = colᵀ: row p is a position (sample, i, j), column q a tap
 * (c, a, b). A row of a panel gathers its nr taps around one position: with the window
 * wholly inside the image each is x at the position's corner plus the tap's offset
 * (computed once per panel); near the border each tap is checked against the image. */
void nbi_conv_pack_colt(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n, int nr,
                        float *dst) {
    const nbi_conv_src *src = ctx;
    const nbi_conv_geom *g = src->g;
    const int64_t plane = g->H * g->W, img = g->C * plane, P = g->OH * g->OW;
    const int64_t reach_h = (g->KH - 1) * g->dh, reach_w = (g->KW - 1) * g->dw;
    /* floats readable from src->x: up to the group's last channel of the last sample */
    const int64_t readable = (src->nb - 1) * img + g->C / g->groups * plane;
    NBI_ASSERT(nr <= NBI_CONV_MAX_NR);
    int64_t tc[NBI_CONV_MAX_NR], th[NBI_CONV_MAX_NR], tw[NBI_CONV_MAX_NR];
    int64_t soff[NBI_CONV_MAX_NR], slen[NBI_CONV_MAX_NR], sd[NBI_CONV_MAX_NR];
    for (int64_t c = 0; c < n; c += nr, dst += nr * k) {
        const int64_t cols = n - c < nr ? n - c : nr;
        int nseg = 0; /* runs of taps (c, a, b..) reading consecutive inputs (dw = 1) */
        for (int64_t t = 0; t < cols; t++) {
            const int64_t q = j0 + c + t;
            tc[t] = q / (g->KH * g->KW) * plane;
            th[t] = q / g->KW % g->KH * g->dh;
            tw[t] = q % g->KW * g->dw;
            const int64_t off = tc[t] + th[t] * g->W + tw[t];
            if (nseg && g->dw == 1 && tw[t] > 0 && soff[nseg - 1] + slen[nseg - 1] == off) {
                slen[nseg - 1]++;
            } else {
                soff[nseg] = off;
                slen[nseg] = 1;
                sd[nseg++] = t;
            }
        }
        /* the farthest float a row's segments read past the window's corner when each is
         * copied in whole blocks of 8 */
        int64_t over = 0;
        for (int r = 0; r < nseg; r++)
            if (soff[r] + (slen[r] + 7) / 8 * 8 > over) over = soff[r] + (slen[r] + 7) / 8 * 8;
        int64_t smp = p0 / P, i = p0 % P / g->OW, j = p0 % g->OW;
        for (int64_t p = 0; p < k; p++) {
            float *dp = dst + p * nr;
            const int64_t ih0 = i * g->sh - g->pt, iw0 = j * g->sw - g->pl;
            const float *xs = src->x + smp * img;
            if (ih0 >= 0 && ih0 + reach_h < g->H && iw0 >= 0 && iw0 + reach_w < g->W) {
                const int64_t at = smp * img + ih0 * g->W + iw0; /* the corner, from src->x */
                const float *corner = src->x + at;
                if (p + 1 < k && at + over <= readable) {
                    /* whole blocks of 8: a segment's excess lands where the next segment, the
                     * zeroed tail or the next row (all written after it) goes, and reads
                     * stay within the piece's images; no jump table on lengths of 1-5 */
                    for (int r = 0; r < nseg; r++)
                        for (int64_t u = 0; u < slen[r]; u += 8)
                            memcpy(dp + sd[r] + u, corner + soff[r] + u, 8 * sizeof(float));
                } else {
                    for (int r = 0; r < nseg; r++) copy_run(dp + sd[r], corner + soff[r], slen[r]);
                }
            } else {
                for (int64_t t = 0; t < cols; t++) {
                    const int64_t ih = ih0 + th[t], iw = iw0 + tw[t];
                    dp[t] = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W
                                ? xs[tc[t] + ih * g->W + iw]
                                : 0.0f;
                }
            }
            zero_run(dp + cols, nr - cols);
            if (++j == g->OW) {
                j = 0;
                if (++i == g->OH) {
                    i = 0;
                    smp++;
                }
            }
        }
    }
}

/* ---- pieces claimed by the members of a job ------------------------------------------------ */

typedef struct pieces_run {
    nbi_conv_piece_fn fn;
    const void *job;
    int64_t pieces, per;
    float *scratch;
    _Atomic int64_t next; /* the next piece to claim */
    _Atomic int members;  /* members that joined (each takes its own slot) */
    _Atomic int status;
} pieces_run;

static void pieces_member(void *arg) {
    pieces_run *r = arg;
    int me = atomic_fetch_add(&r->members, 1);
    float *sc = r->scratch + (int64_t)me * r->per;
    for (;;) {
        int64_t piece = atomic_fetch_add(&r->next, 1);
        if (piece >= r->pieces || atomic_load(&r->status) != NB_OK) return;
        nb_status s = r->fn(r->job, piece, sc);
        if (s != NB_OK) atomic_store(&r->status, (int)s);
    }
}

int nbi_conv_members(int nt, int64_t pieces, int64_t per, int64_t room) {
    int64_t want = nt;
    if (want > pieces) want = pieces;
    if (want > room / per) want = room / per;
    NBI_ASSERT(want >= 1); /* the caller sized the scratch (nbi_conv_scratch, ..._direct_scratch) */
    return (int)want;
}

nb_status nbi_conv_run_pieces(int members, int64_t pieces, nbi_conv_piece_fn fn, const void *job,
                              float *scratch, int64_t per) {
    pieces_run r;
    r.fn = fn;
    r.job = job;
    r.pieces = pieces;
    r.per = per;
    r.scratch = scratch;
    atomic_init(&r.next, 0);
    atomic_init(&r.members, 0);
    atomic_init(&r.status, NB_OK);
    if (members > 1)
        nbi_parallel_run(members, pieces_member, &r);
    else
        pieces_member(&r);
    return (nb_status)atomic_load(&r.status);
}
