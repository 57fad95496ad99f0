/* kernels/conv.h — the loops under convolution and pooling, on raw float pointers.
 *
 * One geometry describes a 2-D convolution (a 1-D one is the case H = KH = 1):
 *
 *   input  x [N, C, H, W]            weight w [O, C/groups, KH, KW]      output y [N, O, OH, OW]
 *   y[n,o,i,j] = Σ_{c,a,b} w[o,c,a,b] · x[n, g·C/groups + c, i·sh − pt + a·dh, j·sw − pl + b·dw]
 *
 * with g = o / (O/groups) the group of o and x read as 0 outside the image (zero padding).
 * The production path lowers it to a matrix product (im2col): for one group and a chunk of
 * nb samples, the column matrix
 *
 *   col[(c,a,b), (n,i,j)] = x[n, c, i·sh − pt + a·dh, j·sw − pl + b·dw]        [Cg·KH·KW, nb·OH·OW]
 *
 * turns the convolution into Y_g[Og, nb·P] = W_g[Og, Cg·KH·KW] · col (P = OH·OW), and its
 * adjoint col2im scatters a column matrix back onto an image (accumulating), which gives the
 * gradient with respect to x from dcol = W_gᵀ · dY_g. The reference kernels (ref/conv.c) are
 * the definition written as plain loops: the oracle the lowered path is tested against. */
#ifndef NBI_CONV_KERNELS_H
#define NBI_CONV_KERNELS_H

#include "base/base.h"

typedef struct nbi_conv_geom {
    int64_t N, C, H, W;     /* input: batch, channels, height, width */
    int64_t O, KH, KW;      /* output channels, kernel height and width */
    int64_t OH, OW;         /* output height and width */
    int64_t sh, sw;         /* stride */
    int64_t pt, pb, pl, pr; /* padding: top, bottom, left, right (the far sides only
                               bound OH, OW and average pooling's windows) */
    int64_t dh, dw;         /* dilation */
    int64_t groups;
} nbi_conv_geom;

/* Cg·KH·KW: the rows of a group's column matrix (the length of one filter). */
static inline int64_t nbi_conv_kc(const nbi_conv_geom *g) {
    return g->C / g->groups * g->KH * g->KW;
}

/* ---- lowering (kernels/conv.c) ------------------------------------------------------------ */

/* col [Cg·KH·KW, nb·OH·OW] from nb samples starting at x (which points at the group's first
 * channel of the chunk's first sample; samples are C·H·W apart). */
void nbi_im2col(const nbi_conv_geom *g, const float *x, int64_t nb, float *col);
/* x += the adjoint of im2col applied to col: every column entry is added to the input
 * element it was read from (entries that fell in the padding are dropped). */
void nbi_col2im(const nbi_conv_geom *g, const float *col, int64_t nb, float *x);

/* ---- pieces of a batch, claimed by the members of a job (kernels/conv.c) --------------------
 * Both CPU algorithms (conv_lower.c, conv_direct.c) cut the batch into pieces: each member
 * (the caller and the pool workers that join) takes a scratch slot of its own, then claims
 * pieces one by one from a counter until none is left or one has failed; the first failure
 * is the result. Per-piece partial sums added in piece order keep results independent of
 * who ran which piece. */
typedef nb_status (*nbi_conv_piece_fn)(const void *job, int64_t piece, float *scratch);
/* Members for a job: at most nt, one per piece, and as many slots of `per` floats as room
 * holds; the caller sized the scratch for at least one (asserted). */
int nbi_conv_members(int nt, int64_t pieces, int64_t per, int64_t room);
/* Runs fn over pieces [0, pieces) on `members` members, member m's slot at scratch + m·per. */
nb_status nbi_conv_run_pieces(int members, int64_t pieces, nbi_conv_piece_fn fn, const void *job,
                              float *scratch, int64_t per);

/* ---- implicit GEMM (kernels/conv.c) --------------------------------------------------------
 * B providers (nbi_bpack_fn in kernels/kernels.h) that pack the GEMM's panels of col
 * (forward: op(B) = col [Cg·KH·KW, nb·P]) or of colᵀ (weight gradient: op(B) = colᵀ
 * [nb·P, Cg·KH·KW]) straight from the image: the same numbers as im2col then the matrix
 * packer, with no column matrix. ctx is an nbi_conv_src; panels at most NBI_CONV_MAX_NR
 * wide. */
#define NBI_CONV_MAX_NR 64
typedef struct nbi_conv_src {
    const nbi_conv_geom *g;
    const float *x; /* as nbi_im2col's x: the group's first channel of the first sample */
    int64_t nb;     /* samples */
} nbi_conv_src;
void nbi_conv_pack_col(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n, int nr,
                       float *dst);
void nbi_conv_pack_colt(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n, int nr,
                        float *dst);

/* ---- reference convolution (kernels/ref/conv.c): the definition, loop by loop ----------- */

/* y = conv(x, w) + b (b may be NULL); y is written, not accumulated. */
void nbi_conv_ref_forward(const nbi_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y);
/* dx += convᵀ(dy, w):  dx[n,c,ih,iw] += Σ w[o,c',a,b] dy[n,o,i,j] over the taps reading it. */
void nbi_conv_ref_backward_data(const nbi_conv_geom *g, const float *dy, const float *w, float *dx);
/* dw += Σ_{n,i,j} dy[n,o,i,j] · x[n, c, i·sh − pt + a·dh, j·sw − pl + b·dw]. */
void nbi_conv_ref_backward_weight(const nbi_conv_geom *g, const float *x, const float *dy,
                                  float *dw);

/* ---- pooling (kernels/pooling.c) ----------------------------------------------------------------
 * Over planes: x [planes, H, W] → y [planes, OH, OW] with window KH×KW, stride, padding
 * (pt, pl) as in the convolution geometry (C = O = planes, groups and dilation unused). */

/* y = max over the window (padding never wins: it is −∞); arg[k] = the flat index in the
 * plane (ih·W + iw) of the first maximal element, for backward. NaN wins, as in PyTorch. */
void nbi_maxpool_forward(const nbi_conv_geom *g, int64_t planes, const float *x, float *y,
                         int32_t *arg);
/* dx[arg] += dy */
void nbi_maxpool_backward(const nbi_conv_geom *g, int64_t planes, const float *dy,
                          const int32_t *arg, float *dx);
/* y = mean over the window: divided by KH·KW when count_pad (PyTorch's count_include_pad,
 * counting padding inside the padded image but not beyond it), else by the number of image
 * elements in the window. */
void nbi_avgpool_forward(const nbi_conv_geom *g, int64_t planes, int count_pad, const float *x,
                         float *y);
/* dx += dy / divisor over each window */
void nbi_avgpool_backward(const nbi_conv_geom *g, int64_t planes, int count_pad, const float *dy,
                          float *dx);

/* ---- convolution lowered onto GEMM (kernels/conv_lower.c) --------------------------------
 * Two passes of one geometry g cover every conv op:
 *   forward    out (+)= act(conv(in, w) + bias)                        conv's forward
 *   backward   din += convᵀ(δ, w),  dw += Σ δ ⊗ in,  dbias += Σ δ      conv's gradients; the
 *              adjoint alone is conv_transpose's forward
 * with δ = dout, or dout where y > 0 when the forward fused a ReLU (y its output).
 *
 * The batch is cut into pieces of `chunk` samples (0: enough for about 512 GEMM columns,
 * within NBI_CONV_PIECE_BYTES of column matrix); pieces are independent and run on up to nt
 * threads. Weight and bias gradients are summed per piece and the pieces' sums added in piece
 * order, so the result does not depend on how pieces were shared out. */
#define NBI_CONV_PIECE_BYTES ((int64_t)4 << 20)

enum {
    NBI_CONV_ACCUMULATE = 1, /* forward adds to out instead of writing it */
    NBI_CONV_RELU = 2,       /* forward applies relu; backward masks with y > 0 */
};

/* Max pooling fused after the convolution (and its ReLU): windows kh x kw with stride kh, kw
 * and no padding over each output plane. The conv output itself is never written: forward
 * writes the pooled output [N, O, OH/kh, OW/kw] and arg (the flat index within the conv
 * output plane of each window's first maximum, as nbi_maxpool_forward), and backward takes
 * the pooled dout and y with that arg. Because ReLU is monotone, pool(relu(z)) = relu(pool(z))
 * and the gradient reaches z only at a window's maximum, and only if the pooled value is > 0:
 * the composition's values and gradients exactly. */
typedef struct nbi_conv_pool {
    int64_t kh, kw;
    int32_t *arg;
} nbi_conv_pool;

typedef struct nbi_kernels nbi_kernels;

/* Floats of scratch a pass needs on nt threads (backward: with the weight and bias gradients
 * wanted or not). */
int64_t nbi_conv_scratch(const nbi_conv_geom *g, int nt, int forward, int has_dw, int has_db,
                         const nbi_conv_pool *pool, int64_t chunk);
/* pool may be NULL (no pooling; it excludes NBI_CONV_ACCUMULATE). scratch holds `room`
 * floats, at least nbi_conv_scratch's (fewer threads run when it holds less). */
nb_status nbi_conv_lower_forward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                 const float *in, const float *w, const float *bias, int flags,
                                 float *out, const nbi_conv_pool *pool, int64_t chunk,
                                 float *scratch, int64_t room);
/* Any of din, dw, dbias may be NULL (in is read only for dw; y only with NBI_CONV_RELU);
 * flags: NBI_CONV_RELU or 0; pool as in forward (dout and y are then pooled). */
nb_status nbi_conv_lower_backward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                  const float *in, const float *dout, const float *y, int flags,
                                  const float *w, float *din, float *dw, float *dbias,
                                  const nbi_conv_pool *pool, int64_t chunk, float *scratch,
                                  int64_t room);

/* d = s where y > 0 (or y is NaN), else 0: a ReLU's backward from its output */
void nbi_relu_mask(const float *s, const float *y, float *d, int64_t n);
/* db[c] += Σ_{n,p} d[n, c, p] over d [N, C, P], plane by plane in order */
void nbi_plane_sums(int64_t N, int64_t C, int64_t P, const float *d, float *db);
/* dst[q] += ((0 + part[0][q]) + part[1][q]) + ... + part[pieces-1][q] for q < n, part[p] at
 * parts + p·n: the per-piece gradient sums added in piece order */
void nbi_conv_add_pieces(const float *parts, int64_t pieces, int64_t n, float *dst);
/* A backward job's partial gradients in scratch (pieces·(nw + nb) floats; nw, nb 0 where not
 * wanted): dwp [pieces][nw] and dbp [pieces][nb], every piece's; or, with serial (a single
 * member, which runs the pieces in order), dwp [nw] and dbp [nb] for the piece being run and
 * the running sums dws [nw], dbs [nb], zeroed, to which each piece adds its own at its end
 * (nbi_conv_add_into) while they are in cache: Σ = ((0 + part₀) + part₁) + ..., the same
 * adds as nbi_conv_add_pieces makes afterwards. dws and dbs are NULL when not serial. */
typedef struct nbi_conv_parts {
    float *dwp, *dbp, *dws, *dbs;
} nbi_conv_parts;
nbi_conv_parts nbi_conv_parts_at(float *scratch, int64_t pieces, int serial, int64_t nw,
                                 int64_t nb);
/* s[i] += d[i] for i < n */
void nbi_conv_add_into(float *s, const float *d, int64_t n);
/* dst += the pieces' sums, in piece order (from the running sums when serial) */
void nbi_conv_parts_finish(const nbi_conv_parts *pt, int64_t pieces, int64_t nw, int64_t nb,
                           float *dw, float *db);

/* The back end's pool entry runs one of these over all N·C planes. */
enum { NBI_POOL_MAX, NBI_POOL_MAX_BWD, NBI_POOL_AVG, NBI_POOL_AVG_BWD };

#endif
