/* kernels/conv_lower.c — convolution as matrix products (implicit GEMM, or im2col + GEMM),
 * forward and backward, one piece of the batch at a time.
 *
 * For a piece of nb samples and one group g (Og = O/groups outputs, Kc = Cg·KH·KW taps,
 * P = OH·OW positions per sample):
 *
 *   col   = im2col(x)                       [Kc, nb·P]
 *   Y_g   = W_g · col                       [Og, Kc]·[Kc, nb·P]           forward
 *   dW_g += δ_g · colᵀ                      [Og, nb·P]·[nb·P, Kc]         weight gradient
 *   dcol  = W_gᵀ · δ_g,  dx += col2im(dcol)                               input gradient
 *
 * The first two never write col: the GEMM's B panels of col and colᵀ are packed straight
 * from the image by nbi_conv_pack_col and nbi_conv_pack_colt (kernels/conv.c) through the
 * kernel set's sgemm_src — the same numbers as im2col and the matrix packer, so the same
 * bits. The reference set has no sgemm_src and lowers through im2col. The input gradient
 * keeps dcol and col2im (docs/conv.md has the measurements). Where the kernel set has
 * conv_rows and the shape suits it (rows_room, rows_prepare), the forward skips the panels of
 * col too: Yᵀ by output rows with A broadcast straight from the image and Wᵀ packed once per
 * call (forward_rows, kernels/conv_rows.h), one FMA chain per element over all Kc taps.
 *
 * Y and δ are channel-major [O, nb·P] here and NCHW outside; the layout change is fused with
 * the work that must touch every element anyway: the bias and the ReLU on the way out
 * (forward), the ReLU mask and the bias gradient on the way in (backward); a fused max
 * pooling is applied to each output plane while it is in cache, so the conv output is never
 * written (nbi_conv_pool in kernels/conv.h). A piece holds
 * enough samples for about 512 GEMM columns (one GEMM per piece packs W once per piece, not
 * once per sample) and its column matrix is made just before the GEMM reads it. The GEMMs
 * are the kernel set's. This is the CPU back end's conv_forward and conv_backward
 * (kernels/cpu.c); scratch memory is the caller's (nbi_conv_scratch floats of it). docs/conv.md has
 * the measurements behind these choices, and the alternatives that lost (a lowering through NHWC
 * images, keeping the column matrices from forward for backward).
 *
 * Pieces are claimed one by one from a counter by the members of a job
 * (nbi_conv_run_pieces in kernels/conv.c), each member with its own scratch; the weight and
 * bias gradients of piece p go to partial sums of their own, added in piece order at the end,
 * so the result is the same whoever ran which piece. */
#include "kernels/conv.h"
#include "kernels/kernels.h"

#include <string.h>

typedef struct job {
    const nbi_kernels *k;
    int gemm_nt; /* threads each GEMM may use: all of the budget with one member, else 1 */
    const nbi_conv_geom *g;
    int64_t nb, pieces; /* samples per piece, number of pieces */
    const float *in, *w, *bias, *dout, *y;
    float *out, *din;
    nbi_conv_parts parts; /* the partial gradients, per piece or running (nbi_conv_parts_at) */
    int flags;
    int pooled; /* max pooling fused: pg is its geometry over an output plane */
    nbi_conv_geom pg;
    int32_t *arg;
    int is_forward;
    int implicit_fwd, implicit_dw; /* pack B from the image (k->sgemm_src), no col */
    int rows_fwd;                  /* forward by output rows from the image (k->conv_rows) */
    const float *wp;               /* then: each group's W_gᵀ panels (Kc·ceil(Og/nr)·nr) */
    const int32_t *koff;           /* and the taps' offsets in the image [Kc] */
} job;

/* ---- the element-wise passes ------------------------------------------------------------------
 * Written in blocks of 16 with restrict pointers so that the compiler vectorises them (and
 * turns the ReLU's choice into a mask rather than a branch, which random signs mispredict). */

/* d = act(s + b), or d += s + b */
static void epilogue(const float *restrict s, float *restrict d, int64_t n, float b, int relu,
                     int acc) {
    int64_t i = 0;
    if (acc) {
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) d[i + k] += s[i + k] + b;
        for (; i < n; i++) d[i] += s[i] + b;
    } else if (relu) {
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) {
                float v = s[i + k] + b;
                d[i + k] = v < 0.0f ? 0.0f : v; /* relu: NaN and -0 pass, as nb_relu */
            }
        for (; i < n; i++) {
            float v = s[i] + b;
            d[i] = v < 0.0f ? 0.0f : v;
        }
    } else {
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) d[i + k] = s[i + k] + b;
        for (; i < n; i++) d[i] = s[i] + b;
    }
}

/* d = s where y > 0 or y is NaN, else 0: the ReLU's backward from its output y, PyTorch's
 * threshold_backward (0 at 0); s is read unconditionally so that the choice is a select, not
 * a conditional load */
void nbi_relu_mask(const float *restrict s, const float *restrict y, float *restrict d, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) {
            float v = s[i + k];
            d[i + k] = y[i + k] <= 0.0f ? 0.0f : v;
        }
    for (; i < n; i++) {
        float v = s[i];
        d[i] = y[i] <= 0.0f ? 0.0f : v;
    }
}

/* Σ v[0..n) in eight interleaved partial sums (lane k takes v[k], v[k+8], ...), added in a
 * fixed order: a short dependency chain the compiler can vectorise without reassociating. */
static float sum8(const float *restrict v, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += v[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += v[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Blocks of q, pieces in order within a block: each q's sum is the same chain of adds as
 * a loop over the pieces for one q at a time, but the inner loop runs along q (contiguous,
 * vectorised) instead of striding n floats per add (a scalar chain per q: 51 200 of them
 * for conv2d_2's weight gradient) */
void nbi_conv_add_pieces(const float *parts, int64_t pieces, int64_t n, float *dst) {
    enum { BLK = 256 };
    int64_t q0 = 0;
    for (; q0 + BLK <= n; q0 += BLK) { /* constant trip counts: GCC's -O2 vectorises these */
        float acc[BLK];
        for (int q = 0; q < BLK; q++) acc[q] = 0.0f;
        for (int64_t p = 0; p < pieces; p++) {
            const float *restrict s = parts + p * n + q0;
            for (int q = 0; q < BLK; q++) acc[q] += s[q];
        }
        float *restrict d = dst + q0;
        for (int q = 0; q < BLK; q++) d[q] += acc[q];
    }
    for (; q0 < n; q0++) {
        float acc = 0.0f;
        for (int64_t p = 0; p < pieces; p++) acc += parts[p * n + q0];
        dst[q0] += acc;
    }
}

void nbi_conv_add_into(float *restrict s, const float *restrict d, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) s[i + k] += d[i + k];
    for (; i < n; i++) s[i] += d[i];
}

nbi_conv_parts nbi_conv_parts_at(float *scratch, int64_t pieces, int serial, int64_t nw,
                                 int64_t nb) {
    nbi_conv_parts pt = {NULL, NULL, NULL, NULL};
    const int64_t slots = serial ? 1 : pieces;
    if (nw) pt.dwp = scratch, scratch += slots * nw;
    if (nb) pt.dbp = scratch, scratch += slots * nb;
    if (!serial) return pt;
    NBI_ASSERT(pieces >= 2); /* the sums fit in the second piece's room */
    if (nw) pt.dws = scratch, scratch += nw;
    if (nb) pt.dbs = scratch;
    if (nw) memset(pt.dws, 0, sizeof(float) * (size_t)nw);
    if (nb) memset(pt.dbs, 0, sizeof(float) * (size_t)nb);
    return pt;
}

void nbi_conv_parts_finish(const nbi_conv_parts *pt, int64_t pieces, int64_t nw, int64_t nb,
                           float *dw, float *db) {
    /* dst += Σ: the running sum as a single part, 0 + Σ being Σ (never −0) */
    if (dw) nbi_conv_add_pieces(pt->dws ? pt->dws : pt->dwp, pt->dws ? 1 : pieces, nw, dw);
    if (db) nbi_conv_add_pieces(pt->dbs ? pt->dbs : pt->dbp, pt->dbs ? 1 : pieces, nb, db);
}

void nbi_plane_sums(int64_t N, int64_t C, int64_t P, const float *d, float *db) {
    for (int64_t i = 0; i < N * C; i++) {
        float acc = 0.0f;
        for (int64_t p = 0; p < P; p++) acc += d[i * P + p];
        db[i % C] += acc;
    }
}

/* δ of one (sample, channel): dout, masked by y > 0 after a ReLU, into d; Σδ added to *db */
static void delta_row(const job *j, int64_t at, int64_t P, float *d, float *db) {
    if (j->flags & NBI_CONV_RELU)
        nbi_relu_mask(j->dout + at, j->y + at, d, P);
    else
        memcpy(d, j->dout + at, sizeof(float) * (size_t)P);
    if (db) *db += sum8(d, P);
}

/* ---- a piece ------------------------------------------------------------------------------- */

typedef struct piece_scratch {
    float *col, *yt, *row; /* row: one output plane [P] (fused pooling) */
} piece_scratch;

/* Y_g [Og, nb·P] of group grp by output rows (kernels/conv_rows.h), from W_gᵀ's panels and the
 * taps' offsets made once for the call (rows_prepare): each output row cut into as few blocks
 * of at most mr positions as it takes, as even as they go (13 = 7 + 6, not 12 + 1), each block
 * run against every panel of nr channels while its image (one sample's group) is in cache */
static void forward_rows(const job *j, int64_t grp, const float *x_g, int64_t nb, float *y_g,
                         int64_t ld) {
    const nbi_conv_geom *g = j->g;
    const int64_t Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t P = g->OH * g->OW, img = g->C * g->H * g->W;
    const int nr = j->k->conv_rows_nr, mr = j->k->conv_rows_mr;
    const int64_t panels = (Og + nr - 1) / nr;
    const float *wp = j->wp + grp * panels * nr * Kc;
    const int32_t *koff = j->koff;
    const int64_t blocks = (g->OW + mr - 1) / mr;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t i = 0; i < g->OH; i++) {
            const float *xr = x_g + n * img + i * g->sh * g->W;
            float *yr = y_g + n * P + i * g->OW;
            for (int64_t q = 0, j0 = 0; q < blocks; q++) {
                const int64_t j1 = (q + 1) * g->OW / blocks; /* blocks of equal-ish width */
                for (int64_t p = 0; p < panels; p++) {
                    const int64_t c0 = p * nr, nc = Og - c0 < nr ? Og - c0 : nr;
                    j->k->conv_rows(nr, xr + j0, koff, Kc, wp + c0 * Kc, nc, (int)(j1 - j0),
                                    yr + c0 * ld + j0, ld);
                }
                j0 = j1;
            }
        }
}

static nb_status forward_piece(const job *j, int64_t piece, const piece_scratch *sc) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t P = g->OH * g->OW, img = g->C * g->H * g->W;
    const int64_t n0 = piece * j->nb, nb = g->N - n0 < j->nb ? g->N - n0 : j->nb, ld = nb * P;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *x_g = j->in + n0 * img + grp * Cg * g->H * g->W, *w_g = j->w + grp * Og * Kc;
        float *y_g = sc->yt + grp * Og * ld;
        nb_status s = NB_OK;
        /* Y_g [Og, nb·P] = W_g [Og, Kc] · col [Kc, nb·P] */
        if (j->rows_fwd) /* no col at all */
            forward_rows(j, grp, x_g, nb, y_g, ld);
        else if (j->implicit_fwd) { /* col's panels packed from the image */
            const nbi_conv_src cs = {g, x_g, nb};
            const nbi_gemm_bsrc bs = {j->k->conv_pack_col ? j->k->conv_pack_col : nbi_conv_pack_col,
                                      &cs, 0};
            s = j->k->sgemm_src(j->gemm_nt, 0, Og, ld, Kc, 1.0f, w_g, Kc, &bs, 0.0f, y_g, ld);
        } else {
            nbi_im2col(g, x_g, nb, sc->col);
            s = j->k->sgemm(j->gemm_nt, 0, 0, Og, ld, Kc, 1.0f, w_g, Kc, sc->col, ld, 0.0f, y_g,
                            ld);
        }
        if (s != NB_OK) return s;
    }
    /* out[n, o, p] (+)= act(yt[o, n·P + p] + bias[o]); pooled: the same into a row, then its
     * windows' maxima */
    const int relu = (j->flags & NBI_CONV_RELU) != 0, acc = (j->flags & NBI_CONV_ACCUMULATE) != 0;
    const int64_t PP = j->pg.OH * j->pg.OW;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t o = 0; o < g->O; o++) {
            const float *src = sc->yt + o * ld + n * P, b = j->bias ? j->bias[o] : 0.0f;
            if (!j->pooled) {
                epilogue(src, j->out + ((n0 + n) * g->O + o) * P, P, b, relu, acc);
                continue;
            }
            epilogue(src, sc->row, P, b, relu, 0);
            const int64_t at = ((n0 + n) * g->O + o) * PP;
            nbi_maxpool_forward(&j->pg, 1, sc->row, j->out + at, j->arg + at);
        }
    return NB_OK;
}

static nb_status backward_piece(const job *j, int64_t piece, const piece_scratch *sc) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t P = g->OH * g->OW, img = g->C * g->H * g->W;
    const int64_t n0 = piece * j->nb, nb = g->N - n0 < j->nb ? g->N - n0 : j->nb, ld = nb * P;
    /* δ [O, nb·P] from dout [nb, O, P]; Σδ per channel */
    const int64_t slot = j->parts.dws || j->parts.dbs ? 0 : piece;
    float *db = j->parts.dbp ? j->parts.dbp + slot * g->O : NULL, *dyt = sc->yt;
    if (db) memset(db, 0, sizeof(float) * (size_t)g->O);
    if (!j->pooled) {
        for (int64_t n = 0; n < nb; n++)
            for (int64_t o = 0; o < g->O; o++)
                delta_row(j, ((n0 + n) * g->O + o) * P, P, dyt + o * ld + n * P,
                          db ? db + o : NULL);
    } else { /* the pooled δ (masked by pooled y > 0), scattered to each window's maximum */
        const int64_t PP = j->pg.OH * j->pg.OW;
        for (int64_t n = 0; n < nb; n++)
            for (int64_t o = 0; o < g->O; o++) {
                const int64_t at = ((n0 + n) * g->O + o) * PP;
                float *d = dyt + o * ld + n * P;
                /* one pass: 0 + dy (masked by y > 0) at the arg, +0 elsewhere; the bits of
                 * the mask, a zeroed plane and nbi_maxpool_backward's scatter */
                nbi_pool_delta(j->k, &j->pg, 1, j->dout + at,
                               j->flags & NBI_CONV_RELU ? j->y + at : NULL, j->arg + at, d);
                if (db) db[o] += sum8(d, P); /* over the whole plane, as unfused */
            }
    }
    if (j->parts.dbs) nbi_conv_add_into(j->parts.dbs, db, g->O);
    /* the weight gradient with the image broadcast (kernels/conv_dw.h) where the set has it
     * and the shape suits, its workspace in col (free until dcol); its K blocks are the GEMM's
     * (ld split as evenly as the set's KC allows, as blocked_path does) */
    const int img_dw = j->implicit_dw && j->k->conv_dw_img && nbi_conv_dw_img_fits(g) &&
                       j->k->conv_dw_kc <= NBI_CONV_DW_KBLK && nb * img <= NBI_CONV_DW_MAX_IMG &&
                       nbi_conv_dw_ws(Og, ld, Kc) <= Kc * j->nb * P;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *dy_g = dyt + grp * Og * ld, *w_g = j->w + grp * Og * Kc;
        const int64_t at = n0 * img + grp * Cg * g->H * g->W;
        nb_status s = NB_OK;
        if (j->parts.dwp) {
            /* dW_g [Og, Kc] (this piece's part) = δ_g [Og, nb·P] · colᵀ [nb·P, Kc] */
            float *dw_g = j->parts.dwp + slot * g->O * Kc + grp * Og * Kc;
            if (img_dw) { /* the image broadcast where it lies, δᵀ loaded: no colᵀ */
                const int64_t blocks = (ld + j->k->conv_dw_kc - 1) / j->k->conv_dw_kc;
                j->k->conv_dw_img(g, j->in + at, nb, dy_g, Og, (ld + blocks - 1) / blocks,
                                  sc->col, dw_g);
            } else if (j->implicit_dw) { /* colᵀ's panels packed from the image */
                const nbi_conv_src cs = {g, j->in + at, nb};
                const nbi_gemm_bsrc bs = {
                    j->k->conv_pack_colt ? j->k->conv_pack_colt : nbi_conv_pack_colt, &cs, 1};
                s = j->k->sgemm_src(j->gemm_nt, 0, Og, Kc, ld, 1.0f, dy_g, ld, &bs, 0.0f, dw_g, Kc);
            } else {
                nbi_im2col(g, j->in + at, nb, sc->col);
                s = j->k->sgemm(j->gemm_nt, 0, 1, Og, Kc, ld, 1.0f, dy_g, ld, sc->col, ld, 0.0f,
                                dw_g, Kc);
            }
            /* into the running sum while in cache (dcol, next, is larger than the L2) */
            if (j->parts.dws && s == NB_OK)
                nbi_conv_add_into(j->parts.dws + grp * Og * Kc, dw_g, Og * Kc);
        }
        if (j->din && s == NB_OK) {
            /* dcol [Kc, nb·P] = W_gᵀ [Kc, Og] · δ_g [Og, nb·P], reusing col */
            s = j->k->sgemm(j->gemm_nt, 1, 0, Kc, ld, Og, 1.0f, w_g, Kc, dy_g, ld, 0.0f, sc->col,
                            ld);
            if (s == NB_OK)
                (j->k->conv_col2im ? j->k->conv_col2im : nbi_col2im)(g, sc->col, nb, j->din + at);
        }
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

/* ---- running a job ------------------------------------------------------------------------- */

/* Per member: col [Kc·nb·P], yt [O·nb·P], row [P]. */
static int64_t scratch_size(const job *j) {
    int64_t P = j->g->OH * j->g->OW;
    return (nbi_conv_kc(j->g) + j->g->O) * j->nb * P + P;
}

static piece_scratch scratch_layout(const job *j, float *base) {
    int64_t P = j->g->OH * j->g->OW;
    piece_scratch sc = {base, base + nbi_conv_kc(j->g) * j->nb * P, NULL};
    sc.row = sc.yt + j->g->O * j->nb * P;
    return sc;
}

/* One piece, in the scratch slot of the member that claimed it (nbi_conv_run_pieces). */
static nb_status piece(const void *arg, int64_t p, float *base) {
    const job *j = arg;
    const piece_scratch sc = scratch_layout(j, base);
    return j->is_forward ? forward_piece(j, p, &sc) : backward_piece(j, p, &sc);
}

/* The forward by output rows where the kernel set has it (k->conv_rows) and the image's rows
 * are read as they lie: unit column stride, no padding (row stride and dilation go into the
 * offsets). Where it loses to the implicit GEMM (bench_conv_algo, docs/conv.md "The forward
 * by rows"): rows under NBI_CONV_ROWS_MIN_OW wide, filters under NBI_CONV_ROWS_MIN_KC taps
 * (the transposed stores weigh on short sums), and groups whose channels fill less than 3/4
 * of the set's panels (16 channels in panels of 32: 14% slower). rows_room: the floats it
 * takes ahead of the members' scratch, for panels of up to NBI_CONV_ROWS_NR_MAX channels (any
 * set's conv_rows_nr); 0 where the geometry alone rules it out. */
#define NBI_CONV_ROWS_MIN_OW 8
#define NBI_CONV_ROWS_MIN_KC 48
#define NBI_CONV_ROWS_MIN_OG 8
#define NBI_CONV_ROWS_NR_MAX 64
static int64_t rows_room(const nbi_conv_geom *g) {
    const int64_t Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    if (g->sw != 1 || g->pt || g->pb || g->pl || g->pr || g->OW < NBI_CONV_ROWS_MIN_OW ||
        Og < NBI_CONV_ROWS_MIN_OG || Kc < NBI_CONV_ROWS_MIN_KC || g->C * g->H * g->W > INT32_MAX)
        return 0;
    const int64_t panels = (Og + NBI_CONV_ROWS_NR_MAX - 1) / NBI_CONV_ROWS_NR_MAX;
    /* panels, offsets; a whole number of cache lines, so the members' scratch starts on one */
    return ((g->groups * panels * NBI_CONV_ROWS_NR_MAX + 1) * Kc + 15) / 16 * 16;
}

/* W_gᵀ's panels and the taps' offsets into the front of the scratch, once for the call, where
 * the forward by rows applies and the caller's room has them beside one member's scratch; the
 * floats taken (0: the lowering's GEMM runs) */
static int64_t rows_prepare(job *j, float *scratch, int64_t room) {
    const nbi_conv_geom *g = j->g;
    const int64_t need = rows_room(g);
    if (!j->k->conv_rows || !need || room - need < scratch_size(j)) return 0;
    const int64_t Og = g->O / g->groups, Kc = nbi_conv_kc(g), Cg = g->C / g->groups;
    const int nr = j->k->conv_rows_nr;
    const int64_t panels = (Og + nr - 1) / nr;
    NBI_ASSERT(nr <= NBI_CONV_ROWS_NR_MAX);
    if (4 * Og < 3 * panels * nr) return 0; /* panels under 3/4 full */
    for (int64_t grp = 0; grp < g->groups; grp++)
        nbi_conv_rows_pack(j->w + grp * Og * Kc, Og, Kc, nr, scratch + grp * panels * nr * Kc);
    int32_t *koff = (int32_t *)(scratch + g->groups * panels * nr * Kc);
    for (int64_t c = 0, t = 0; c < Cg; c++)
        for (int64_t a = 0; a < g->KH; a++)
            for (int64_t b = 0; b < g->KW; b++)
                koff[t++] = (int32_t)(c * g->H * g->W + a * g->dh * g->W + b * g->dw);
    j->wp = scratch;
    j->koff = koff;
    return need;
}

/* Runs the job on up to one member per piece (at most nt threads, and as many as the
 * scratch has room for), each with its own scratch: col [Kc·nb·P], yt [O·nb·P], row [P]. A
 * GEMM called from a member runs on that member's thread alone; with a single member it may
 * use all nt threads. */
static nb_status run(job *j, int nt, float *scratch, int64_t room, int is_forward) {
    const int64_t per = scratch_size(j);
    const int members = nbi_conv_members(nt, j->pieces, per, room);
    j->gemm_nt = members > 1 ? 1 : nt;
    /* implicit GEMM wherever the kernel set can take B from a packer (all but "ref"): the
     * same bits as im2col + GEMM, without writing and re-reading the column matrix */
    j->implicit_fwd = j->implicit_dw = j->k->sgemm_src != NULL;
    j->rows_fwd = is_forward && j->wp != NULL;
    j->is_forward = is_forward;
    return nbi_conv_run_pieces(members, j->pieces, piece, j, scratch, per);
}

/* ---- setting a job up ---------------------------------------------------------------------- */

/* Samples per piece: enough for a GEMM dimension of about 512 (nb·P), as long as the column
 * matrix stays within NBI_CONV_PIECE_BYTES; at least one. */
static int64_t piece_samples(const nbi_conv_geom *g, int64_t chunk) {
    if (chunk > 0) return chunk < g->N ? chunk : g->N;
    int64_t P = g->OH * g->OW, per = nbi_conv_kc(g) * P * (int64_t)sizeof(float);
    int64_t nb = (512 + P - 1) / P;
    if (per > 0 && nb * per > NBI_CONV_PIECE_BYTES) nb = NBI_CONV_PIECE_BYTES / per;
    if (nb < 1) nb = 1;
    return nb < g->N ? nb : g->N;
}

static void job_init(job *j, const nbi_conv_geom *g, int flags, const float *w,
                     const nbi_conv_pool *pool, int64_t chunk) {
    memset(j, 0, sizeof *j);
    j->g = g;
    j->nb = piece_samples(g, chunk);
    j->pieces = (g->N + j->nb - 1) / j->nb;
    j->flags = flags;
    j->w = w;
    if (!pool) return;
    /* the pooling windows over one output plane: stride = window, no padding */
    nbi_conv_geom *pg = &j->pg;
    pg->N = pg->C = pg->O = pg->groups = 1;
    pg->H = g->OH;
    pg->W = g->OW;
    pg->KH = pg->sh = pool->kh;
    pg->KW = pg->sw = pool->kw;
    pg->dh = pg->dw = 1;
    pg->OH = g->OH / pool->kh;
    pg->OW = g->OW / pool->kw;
    j->pooled = 1;
    j->arg = pool->arg;
}

int64_t nbi_conv_scratch(const nbi_conv_geom *g, int nt, int forward, int has_dw, int has_db,
                         const nbi_conv_pool *pool, int64_t chunk) {
    if (g->N == 0 || g->OH * g->OW == 0 || g->O == 0) return 0;
    job j;
    job_init(&j, g, 0, NULL, pool, chunk);
    int64_t want = nt < j.pieces ? nt : j.pieces;
    if (want < 1) want = 1;
    int64_t n = scratch_size(&j) * want;
    if (forward) n += rows_room(g);
    if (!forward && has_dw) n += j.pieces * g->O * nbi_conv_kc(g);
    if (!forward && has_db) n += j.pieces * g->O;
    return n;
}

nb_status nbi_conv_lower_forward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                 const float *in, const float *w, const float *bias, int flags,
                                 float *out, const nbi_conv_pool *pool, int64_t chunk,
                                 float *scratch, int64_t room) {
    if (g->N == 0 || g->OH * g->OW == 0 || g->O == 0) return NB_OK;
    job j;
    NBI_ASSERT(!pool || !(flags & NBI_CONV_ACCUMULATE));
    job_init(&j, g, flags, w, pool, chunk);
    j.k = k;
    j.in = in;
    j.bias = bias;
    j.out = out;
    const int64_t taken = rows_prepare(&j, scratch, room);
    return run(&j, nt, scratch + taken, room - taken, 1);
}

nb_status nbi_conv_lower_backward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                  const float *in, const float *dout, const float *y, int flags,
                                  const float *w, float *din, float *dw, float *dbias,
                                  const nbi_conv_pool *pool, int64_t chunk, float *scratch,
                                  int64_t room) {
    if ((!din && !dw && !dbias) || g->N == 0 || g->OH * g->OW == 0 || g->O == 0) return NB_OK;
    job j;
    job_init(&j, g, flags & ~NBI_CONV_ACCUMULATE, w, pool, chunk);
    j.k = k;
    j.in = in;
    j.dout = dout;
    j.y = y;
    j.din = din;
    /* the per-piece partial sums first (running sums with a single member), then the
     * members' scratch */
    const int64_t nw = dw ? g->O * nbi_conv_kc(g) : 0, nbs = dbias ? g->O : 0;
    room -= j.pieces * (nw + nbs);
    const int serial = j.pieces > 1 && nbi_conv_members(nt, j.pieces, scratch_size(&j), room) == 1;
    j.parts = nbi_conv_parts_at(scratch, j.pieces, serial, nw, nbs);
    scratch += j.pieces * (nw + nbs);
    nb_status s = run(&j, nt, scratch, room, 0);
    if (s == NB_OK) nbi_conv_parts_finish(&j.parts, j.pieces, nw, nbs, dw, dbias);
    return s;
}
