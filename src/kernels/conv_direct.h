/* kernels/conv_direct.h — the direct convolution for few input channels per group: the
 * micro-kernels' plan and entries (their scalar twins declared here, vector versions in
 * kernels/x86/conv_direct.inc) and the driver (kernels/conv_direct.c) that the CPU back end
 * chooses for some shapes instead of the lowering (kernels/cpu.c, conv_algorithm_direct).
 *
 * The driver copies each sample's group of Cg input planes into a *prepared image*: zero
 * padding added on every side, and every padded row split into F phases (column q·F + r
 * stored at r·Wq + q, Wq = ceil(Wp / F)), so that the columns one tap reads for consecutive
 * outputs of one phase are consecutive floats. F is the column stride sw, times the pooling
 * window's width kw when forward pools: output column j = kw·q + r (phase r) then reads
 * padded column q·F + r·sw + b·dw. With c, a, b the tap t's channel, row and column:
 *
 *   y[o, i, r, q] = Σ_t w[o, t] · xp[i·row_step + off[r][t] + q]
 *   off[r][t] = c·plane + a·dh·pitch + ((r·sw + b·dw) mod F)·Wq + (r·sw + b·dw) div F
 *
 * with pitch = F·Wq and row_step = sh·pitch. The kernels work on that form only. Forward
 * runs vectors along q (VL outputs of one row and phase, the last vector under a lane mask)
 * for several output channels at once; with the pooling fused it writes the phases as separate
 * rows, so that a window's kw columns are kw vectors and the pooling kernel takes their
 * maxima lane by lane. The weight gradient dw[o, t] = Σ δ[o, i, j] · xp[i·row_step + off[t]
 * + j] (one phase: F = sw) runs the same vectors, each lane summing its own positions (j mod
 * VL) and the lanes added in order at the end; the input gradient scatters Σ_o w[o, t] δ[o, ·]
 * back onto a prepared-layout image. With sh = 1 the driver runs forward and the weight
 * gradient over *flat planes*: plans of one row of OH·OW whose offsets point into shifted
 * copies of the image (kernels/conv_direct.c, shift), so a vector spans output rows and lane
 * l of the weight gradient sums the plane's positions p ≡ l mod VL. The scalar twins below
 * compute the same sums in the same order (lanes given as a parameter), so the vector kernels
 * give their bits exactly. */
#ifndef NBI_CONV_DIRECT_H
#define NBI_CONV_DIRECT_H

#include "kernels/conv.h"

/* Output channels per block of the forward kernel: the transposed weights are stored
 * [Og/8 rounded up][taps][8], zeros past Og. */
#define NBI_DIRECT_OB 8
/* Floats readable past the end of a prepared image (the forward kernel's last vector of a row
 * reads up to a vector past the row's last output; its lanes are discarded). */
#define NBI_DIRECT_MARGIN 16

typedef struct nbi_direct_plan {
    int64_t taps;        /* Cg·KH·KW */
    const int64_t *off;  /* [phases][taps]: where tap t reads for phase r, from a row's base */
    int64_t OH, OW;      /* outputs computed: rows, and columns per phase */
    int64_t phases;      /* forward's column phases (the pooling window's width, else 1) */
    int64_t row_step;    /* prepared-image floats between consecutive output rows */
    int64_t og;          /* output channels */
    int64_t kh, conv_ow; /* pooling: window height, and the conv output's width (for arg) */
    int64_t yplane;      /* forward: floats between output channels in y (0: OH·phases·OW) */
    int phase_major;     /* pooling: yd's rows stored phase by phase ([r][i][q], not [i][r][q]) */
} nbi_direct_plan;

/* y[o][i][r][q] (planes of OH·phases·OW floats, or yplane) = act(Σ_t wt[o/8][t][o%8] ·
 * xp[i·row_step + off[r][t] + q] + bias[o]) for o < og, the sum a chain of fused multiply-adds over
 * t in order from 0; mode 0 writes, NBI_CONV_RELU writes max(·, 0) (NaN and −0 pass),
 * NBI_CONV_ACCUMULATE adds (no activation). bias may be NULL. */
typedef void (*nbi_direct_fwd_fn)(const nbi_direct_plan *p, const float *xp, const float *wt,
                                  const float *bias, int mode, float *y);
/* Max pooling of `planes` forward outputs yd (as above, or [r][i][q] within a plane with
 * phase_major; windows kh x phases, stride = window):
 * out[pl][ip·OW + q] = the first maximum of the window in row-major order, NaN winning,
 * arg = its flat index in the conv output plane ((ip·kh + dr)·conv_ow + q·phases + r): the
 * values and arg of nbi_maxpool_forward. out and arg are [planes][(OH/kh)·OW]. */
typedef void (*nbi_direct_pool_fn)(const nbi_direct_plan *p, int64_t planes, const float *yd,
                                   float *out, int32_t *arg);
/* dw[o·taps + t] = Σ over ns samples s, rows i, columns j of δ[s][o][i·OW + j] ·
 * xp[s·xs + i·row_step + off[t] + j]: lane l = j mod lanes sums its positions in order (s, i,
 * j), then the lanes are added from lane 0 up. δ is [ns][og][OH·OW] with samples ds apart;
 * one phase. */
typedef void (*nbi_direct_dw_fn)(const nbi_direct_plan *p, int64_t ns, const float *xp, int64_t xs,
                                 const float *delta, int64_t ds, float *dw);
/* The pooled weight gradient's patches: floats per conv output position (the taps, then
 * lanes never read; at most this many taps), and floats a patch buffer needs past its last
 * patch. */
#define NBI_DIRECT_PATCH 32
#define NBI_DIRECT_PATCH_SLACK 8
/* The weight gradient behind a fused 2x2 max pooling of stride 2 whose windows tile the conv
 * output planes (OH x OW = 2·PH x 2·PW), taken from the pooled gradient itself: window k of
 * plane o of sample s adds g · xp[s·xs + i·row_step + off[t] + j] at its arg (i, j), with
 * g = dy, or +0 where y <= 0 (the fused ReLU's mask, y may be NULL); the window's three other
 * positions, whose δ is zero, are never visited (a quarter of the dense sums' work, and no δ
 * planes written). dw[o·taps + t] is two chains, the windows taken in order (s, k) alternately
 * into the first and the second (each starting at +0), added at the end. dy, y, arg are
 * [ns][og][PH·PW], samples ds apart; one phase. Equal to nbi_direct_dw_twin on the unpooled δ
 * up to the order of the sums, wherever the image is finite (the dense sums also multiply
 * the zeros by the image). The vector kernel first copies the ns images into `patches`
 * (ns·OH·OW·NBI_DIRECT_PATCH + NBI_DIRECT_PATCH_SLACK floats; the twin does not use them) and
 * needs at most NBI_DIRECT_PATCH taps, in rows of kw <= 8 consecutive offsets
 * (off[r·kw + b] = off[r·kw] + b), reading 8 floats from a row's first (NBI_DIRECT_MARGIN). */
typedef void (*nbi_direct_dw_pooled_fn)(const nbi_direct_plan *p, int64_t kw, int64_t ns,
                                        const float *xp, int64_t xs, const float *dy,
                                        const float *y, const int32_t *arg, int64_t ds,
                                        float *patches, float *dw);
/* dxp[i·row_step + off[t] + j] += Σ_o w[o·taps + t] · δ[o][i·OW + j] (a chain over o from 0),
 * for each output row i, each block of `lanes` columns, each tap t, in that order; one phase. */
typedef void (*nbi_direct_dx_fn)(const nbi_direct_plan *p, const float *w, const float *delta,
                                 float *dxp);

/* The δ planes behind a fused 2x2 max pooling with stride 2 whose windows tile the conv
 * output planes (2·PH x 2·PW), written in one pass: for `planes` planes,
 *   d[pl][i][j] = 0 + g[pl][k] where arg[pl][k] = i·2PW + j (k = (i/2)·PW + j/2), else +0,
 *   g = dy, or (y <= 0 ? 0 : dy) where y (the pooled output after a fused ReLU) is not NULL.
 * That is nbi_relu_mask, a zeroed plane and nbi_maxpool_backward's scatter, bit for bit,
 * when each arg lies in its own window (as nbi_maxpool_forward's do). dy, y, arg are
 * [planes][PH·PW], d [planes][4·PH·PW]. */
typedef void (*nbi_unpool2x2_fn)(int64_t planes, int64_t PH, int64_t PW, const float *dy,
                                 const float *y, const int32_t *arg, float *d);

/* The scalar twins: the definitions the vector kernels are tested against (bit for bit, with
 * the vector kernels' lane count). */
void nbi_direct_fwd_twin(const nbi_direct_plan *p, const float *xp, const float *wt,
                         const float *bias, int mode, float *y);
void nbi_direct_pool_twin(const nbi_direct_plan *p, int64_t planes, const float *yd, float *out,
                          int32_t *arg);
void nbi_direct_dw_twin(const nbi_direct_plan *p, int64_t ns, const float *xp, int64_t xs,
                        const float *delta, int64_t ds, float *dw, int lanes);
void nbi_unpool2x2_twin(int64_t planes, int64_t PH, int64_t PW, const float *dy, const float *y,
                        const int32_t *arg, float *d);
void nbi_direct_dw_pooled_twin(const nbi_direct_plan *p, int64_t kw, int64_t ns, const float *xp,
                               int64_t xs, const float *dy, const float *y, const int32_t *arg,
                               int64_t ds, float *patches, float *dw);
void nbi_direct_dx_twin(const nbi_direct_plan *p, const float *w, const float *delta, float *dxp,
                        int lanes);

/* ---- the driver (kernels/conv_direct.c) ----------------------------------------------------
 * The same two passes, arguments and scratch contract as the lowering (kernels/conv.h:
 * nbi_conv_scratch, nbi_conv_lower_forward, nbi_conv_lower_backward), with the same
 * semantics: pieces of `chunk` samples (0: about 512 output positions) claimed by up to nt
 * threads, weight and bias gradients summed per piece and added in piece order, the fused
 * ReLU and max pooling (arg layout and NaN rules of nbi_maxpool_forward). k must have the
 * direct kernels (k->conv_direct_fwd not NULL). */
typedef struct nbi_kernels nbi_kernels;

int64_t nbi_conv_direct_scratch(const nbi_conv_geom *g, int nt, int forward, int has_dw, int has_db,
                                const nbi_conv_pool *pool, int64_t chunk);
nb_status nbi_conv_direct_forward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                  const float *in, const float *w, const float *bias, int flags,
                                  float *out, const nbi_conv_pool *pool, int64_t chunk,
                                  float *scratch, int64_t room);
nb_status nbi_conv_direct_backward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                   const float *in, const float *dout, const float *y, int flags,
                                   const float *w, float *din, float *dw, float *dbias,
                                   const nbi_conv_pool *pool, int64_t chunk, float *scratch,
                                   int64_t room);

/* The δ planes behind a fused max pooling (pg: its windows over one conv output plane, as
 * the drivers' pg), y as in nbi_unpool2x2_fn: k->conv_unpool2x2 where the windows are 2x2,
 * stride 2, tiling the plane; elsewhere the general loop (zeroed planes, dy masked by y
 * scattered to each arg). The same bits either way. */
void nbi_pool_delta(const nbi_kernels *k, const nbi_conv_geom *pg, int64_t planes, const float *dy,
                    const float *y, const int32_t *arg, float *d);

#endif
