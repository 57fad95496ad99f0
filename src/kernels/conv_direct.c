/* kernels/conv_direct.c — the direct convolution for few input channels per group: the
 * scalar twins of the micro-kernels and the driver that runs the vector ones over the batch.
 *
 * With Cg = C/groups small (the first layer of an image network: 1 or 3 channels), the
 * lowering's GEMMs have a short side of Cg·KH·KW (25 for a 5x5 kernel on one channel) and
 * the lowering's passes (im2col, the layout change, the separate epilogue) cost more than the
 * arithmetic. Here each sample's group is copied once into a prepared image (padding and
 * column phases, kernels/conv_direct.h) and the kernels read it directly:
 *
 *   forward   y[o, i, j]  = act(Σ_t w[o, t] · xp[i·row_step + off[t] + j] + b[o])
 *   dW        dw[o, t]   += Σ_{n,i,j} δ[n, o, i, j] · xp_n[i·row_step + off[t] + j]
 *   dx        dxp[i·row_step + off[t] + j] += Σ_o w[o, t] · δ[o, i, j], then folded onto dx
 *
 * with δ = dout, masked by y > 0 after a fused ReLU, or the pooled gradient scattered to each
 * window's maximum after a fused max pooling (the same rules and arg layout as the lowering,
 * kernels/conv_lower.c). The batch is cut into pieces claimed by the members of a job, the
 * weight and bias gradients of a piece summed into partials of its own and the partials
 * added in piece order: the result does not depend on the number of threads. The CPU back
 * end chooses this path or the lowering per shape (kernels/cpu.c, conv_algorithm_direct; the
 * measurements are in docs/conv.md). */
#include "kernels/conv_direct.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- the scalar twins ------------------------------------------------------------------------ */

void nbi_direct_fwd_twin(const nbi_direct_plan *p, const float *xp, const float *wt,
                         const float *bias, int mode, float *y) {
    const int64_t yrow = p->phases * p->OW, plane = p->yplane ? p->yplane : p->OH * yrow;
    for (int64_t o = 0; o < p->og; o++) {
        const float *w8 = wt + (o / NBI_DIRECT_OB) * NBI_DIRECT_OB * p->taps + o % NBI_DIRECT_OB;
        const float b = bias ? bias[o] : 0.0f;
        for (int64_t i = 0; i < p->OH; i++)
            for (int64_t r = 0; r < p->phases; r++)
                for (int64_t q = 0; q < p->OW; q++) {
                    const float *x = xp + i * p->row_step + q;
                    const int64_t *off = p->off + r * p->taps;
                    float s = 0.0f;
                    for (int64_t t = 0; t < p->taps; t++)
                        s = fmaf(w8[t * NBI_DIRECT_OB], x[off[t]], s);
                    float v = s + b, *d = y + o * plane + i * yrow + r * p->OW + q;
                    if (mode == NBI_CONV_RELU) v = v < 0.0f ? 0.0f : v;
                    *d = mode == NBI_CONV_ACCUMULATE ? *d + v : v;
                }
    }
}

/* v replaces the running maximum m: strictly greater, or a NaN over a number (pooling.c) */
static int beats(float v, float m) {
    return v > m || (v != v && m == m);
}

void nbi_direct_pool_twin(const nbi_direct_plan *p, int64_t planes, const float *yd, float *out,
                          int32_t *arg) {
    const int64_t kw = p->phases, PH = p->OH / p->kh, PW = p->OW;
    const int64_t yrow = p->phase_major ? PW : kw * PW, rstep = p->phase_major ? p->OH * PW : PW;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t ip = 0; ip < PH; ip++)
            for (int64_t q = 0; q < PW; q++) {
                const float *w0 = yd + pl * p->OH * kw * PW + ip * p->kh * yrow + q;
                float m = w0[0];
                int64_t at = ip * p->kh * p->conv_ow + q * kw;
                for (int64_t dr = 0; dr < p->kh; dr++)
                    for (int64_t r = 0; r < kw; r++) {
                        const float v = w0[dr * yrow + r * rstep];
                        if ((dr || r) && beats(v, m)) {
                            m = v;
                            at = (ip * p->kh + dr) * p->conv_ow + q * kw + r;
                        }
                    }
                out[(pl * PH + ip) * PW + q] = m;
                arg[(pl * PH + ip) * PW + q] = (int32_t)at;
            }
}

void nbi_direct_dw_twin(const nbi_direct_plan *p, int64_t ns, const float *xp, int64_t xs,
                        const float *delta, int64_t ds, float *dw, int lanes) {
    const int64_t P = p->OH * p->OW;
    float acc[64];
    NBI_ASSERT(lanes >= 1 && lanes <= 64);
    for (int64_t o = 0; o < p->og; o++)
        for (int64_t t = 0; t < p->taps; t++) {
            for (int l = 0; l < lanes; l++) acc[l] = 0.0f;
            for (int64_t s = 0; s < ns; s++)
                for (int64_t i = 0; i < p->OH; i++) {
                    const float *d = delta + s * ds + o * P + i * p->OW;
                    const float *x = xp + s * xs + i * p->row_step + p->off[t];
                    for (int64_t j = 0; j < p->OW; j++)
                        acc[j % lanes] = fmaf(d[j], x[j], acc[j % lanes]);
                }
            float r = acc[0];
            for (int l = 1; l < lanes; l++) r += acc[l];
            dw[o * p->taps + t] = r;
        }
}

void nbi_direct_dw_pooled_twin(const nbi_direct_plan *p, int64_t kw, int64_t ns, const float *xp,
                               int64_t xs, const float *dy, const float *y, const int32_t *arg,
                               int64_t ds, float *patches, float *dw) {
    (void)kw, (void)patches;
    const int64_t PW = p->OW / 2, PP = p->OH / 2 * PW;
    for (int64_t o = 0; o < p->og; o++)
        for (int64_t t = 0; t < p->taps; t++) {
            float acc[2] = {0.0f, 0.0f};
            int m = 0;
            for (int64_t s = 0; s < ns; s++) {
                const int64_t at = s * ds + o * PP;
                for (int64_t k = 0; k < PP; k++, m ^= 1) {
                    const float g = y && y[at + k] <= 0.0f ? 0.0f : dy[at + k];
                    const int64_t i = arg[at + k] / p->OW, j = arg[at + k] % p->OW;
                    acc[m] = fmaf(g, xp[s * xs + i * p->row_step + p->off[t] + j], acc[m]);
                }
            }
            dw[o * p->taps + t] = acc[0] + acc[1];
        }
}

void nbi_direct_dx_twin(const nbi_direct_plan *p, const float *w, const float *delta, float *dxp,
                        int lanes) {
    const int64_t P = p->OH * p->OW;
    for (int64_t i = 0; i < p->OH; i++)
        for (int64_t j0 = 0; j0 < p->OW; j0 += lanes)
            for (int64_t t = 0; t < p->taps; t++)
                for (int64_t j = j0; j < j0 + lanes && j < p->OW; j++) {
                    float s = 0.0f;
                    for (int64_t o = 0; o < p->og; o++)
                        s = fmaf(w[o * p->taps + t], delta[o * P + i * p->OW + j], s);
                    float *d = dxp + i * p->row_step + p->off[t] + j;
                    *d = *d + s;
                }
}

/* ---- the driver --------------------------------------------------------------------------- */

typedef struct djob {
    const nbi_kernels *k;
    const nbi_conv_geom *g;
    int64_t nb, pieces; /* samples per piece, number of pieces */
    const float *in, *w, *bias, *dout, *y;
    float *out, *din;
    nbi_conv_parts parts; /* the partial gradients, per piece or running (nbi_conv_parts_at) */
    float *wt;        /* forward: the weights as [groups][Og/8 rounded up][taps][8] */
    int64_t *off;     /* [taps] */
    nbi_direct_plan plan;
    /* the kernels over flat planes (see shift): their plan (one row of OH·OW, offsets soff
     * [phases][taps] into the shifted copies), the copies' column offsets and floats per
     * sample */
    int flat;
    nbi_direct_plan fplan;
    int64_t *soff, *cols, ncols, simg;
    int64_t F, Hp, Wp, Wq, pitch, plane, img; /* the prepared image (see prepare) */
    int flags;
    int pooled; /* max pooling fused: pg is its geometry over an output plane */
    int dw_pooled; /* backward: the weight gradient from the pooled δ (backward_pooled) */
    nbi_conv_geom pg;
    int32_t *arg;
    int is_forward;
} djob;

/* The prepared image of one sample's group: Cg planes of Hp rows (the rows the outputs read,
 * padding included) of `pitch` floats — F phases of Wq floats, padded column q·F + r at
 * r·Wq + q — then NBI_DIRECT_MARGIN floats; zero wherever no image element lands. */
static void prepare(const djob *j, const float *x, float *xp) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups;
    memset(xp, 0, sizeof(float) * (size_t)j->img);
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t ih = 0; ih < g->H; ih++) {
            const int64_t iy = ih + g->pt;
            if (iy < 0 || iy >= j->Hp) continue;
            const float *src = x + (c * g->H + ih) * g->W;
            float *dst = xp + c * j->plane + iy * j->pitch;
            /* the image columns that land inside [0, Wp) */
            int64_t w0 = g->pl < 0 ? -g->pl : 0, w1 = j->Wp - g->pl < g->W ? j->Wp - g->pl : g->W;
            if (j->F == 1) {
                if (w1 > w0) memcpy(dst + w0 + g->pl, src + w0, sizeof(float) * (size_t)(w1 - w0));
            } else if (w1 > w0)
                /* phase by phase: padded column ix = q·F + r (no division per element: a
                 * 64-bit idiv each was ~90% of this pass) */
                for (int64_t r = 0; r < j->F; r++) {
                    const int64_t q1 = (w1 + g->pl - r + j->F - 1) / j->F;
                    float *d = dst + r * j->Wq;
                    for (int64_t q = (w0 + g->pl - r + j->F - 1) / j->F; q < q1; q++)
                        d[q] = src[q * j->F + r - g->pl];
                }
        }
}

/* The kernels' input with unit row step (sh = 1): for each column offset k that a tap reads
 * from (off[r][t] mod pitch), the prepared image's rows cut to the plan's OW columns from k,
 * back to back — so tap t of phase r reads position i·OW + j at soff[r][t] + i·OW + j and
 * the kernels run over a plane (a phase's, forward with pooling) as one row of OH·OW: every
 * lane used when that is a whole number of vectors, where rows of OW alone (24, or 12 per
 * phase) leave the last vector part empty. The sums are the same chains, over the same
 * terms: forward's bits do not change; the weight gradient's lanes take positions mod VL
 * of the plane, not of the row. */
static void shift(const djob *j, const float *xp, float *s) {
    const int64_t rows = j->g->C / j->g->groups * j->Hp, OW = j->plan.OW;
    for (int64_t c = 0; c < j->ncols; c++)
        for (int64_t r = 0; r < rows; r++)
            memcpy(s + (c * rows + r) * OW, xp + r * j->pitch + j->cols[c],
                   sizeof(float) * (size_t)OW);
}

/* dx += the image part of a prepared-layout gradient (the adjoint of prepare) */
static void fold(const djob *j, const float *dxp, float *dx) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups;
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t ih = 0; ih < g->H; ih++) {
            const int64_t iy = ih + g->pt;
            if (iy < 0 || iy >= j->Hp) continue;
            const float *src = dxp + c * j->plane + iy * j->pitch;
            float *dst = dx + (c * g->H + ih) * g->W;
            int64_t w0 = g->pl < 0 ? -g->pl : 0, w1 = j->Wp - g->pl < g->W ? j->Wp - g->pl : g->W;
            if (w1 <= w0) continue;
            for (int64_t r = 0; r < j->F; r++) { /* phase by phase, as prepare */
                const int64_t q1 = (w1 + g->pl - r + j->F - 1) / j->F;
                const float *s = src + r * j->Wq;
                for (int64_t q = (w0 + g->pl - r + j->F - 1) / j->F; q < q1; q++)
                    dst[q * j->F + r - g->pl] += s[q];
            }
        }
}

/* Σ v[0..n) in eight interleaved partial sums added in a fixed order (the lowering's order
 * for the bias gradient: with pieces of the same size both paths give it the same bits) */
static float sum8(const float *restrict v, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += v[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += v[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Per member: the prepared images of a piece [nb][img], its δ [nb][O][P] (or, for
 * backward_pooled, the patches [nb][P][NBI_DIRECT_PATCH] on 64 bytes: delta_floats), the
 * pooled δ row [P], the input gradient's prepared image [img], forward's conv output of 8
 * channels before pooling [8][P], the shifted copies of a piece [nb][simg]. */
static int64_t delta_floats(const djob *j) {
    const int64_t P = j->g->OH * j->g->OW;
    const int64_t per = j->g->O > NBI_DIRECT_PATCH ? j->g->O : NBI_DIRECT_PATCH;
    return j->nb * per * P + NBI_DIRECT_PATCH_SLACK + 16; /* + 16: the patches' alignment */
}

static int64_t scratch_size(const djob *j) {
    const int64_t P = j->g->OH * j->g->OW;
    return j->nb * j->img + delta_floats(j) + P + j->img + NBI_DIRECT_OB * P + j->nb * j->simg;
}

/* 8 channels' conv outputs of a plane over flat phases ([r][i][q]) into yt, then pooled */
static void forward_pooled_flat(const djob *j, const float *s, const float *wt, const float *b,
                                int mode, int64_t og, float *out, int32_t *arg, float *yt) {
    const int64_t ph = j->plan.phases, n = j->fplan.OW;
    for (int64_t o0 = 0; o0 < og; o0 += NBI_DIRECT_OB) {
        nbi_direct_plan p = j->fplan, p8 = j->plan;
        p.og = p8.og = og - o0 < NBI_DIRECT_OB ? og - o0 : NBI_DIRECT_OB;
        p.yplane = ph * n;
        p8.phase_major = 1;
        for (int64_t r = 0; r < ph; r++) {
            p.off = j->soff + r * j->plan.taps;
            j->k->conv_direct_fwd(&p, s, wt + o0 * p.taps, b ? b + o0 : NULL, mode, yt + r * n);
        }
        const int64_t PP = j->pg.OH * j->pg.OW;
        j->k->conv_direct_pool(&p8, p8.og, yt, out + o0 * PP, arg + o0 * PP);
    }
}

static nb_status forward_piece(const djob *j, int64_t piece, float *sc) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, P = g->OH * g->OW;
    const int64_t PP = j->pg.OH * j->pg.OW, n0 = piece * j->nb;
    const int64_t nb = g->N - n0 < j->nb ? g->N - n0 : j->nb;
    const int64_t wper = (Og + NBI_DIRECT_OB - 1) / NBI_DIRECT_OB * NBI_DIRECT_OB * j->plan.taps;
    float *xp = sc, *yt = sc + j->nb * j->img + delta_floats(j) + P + j->img;
    float *shifted = yt + NBI_DIRECT_OB * P;
    const int acc = (j->flags & NBI_CONV_ACCUMULATE) != 0;
    const int mode = acc ? NBI_CONV_ACCUMULATE : j->flags & NBI_CONV_RELU ? NBI_CONV_RELU : 0;
    for (int64_t n = n0; n < n0 + nb; n++)
        for (int64_t grp = 0; grp < g->groups; grp++) {
            prepare(j, j->in + (n * g->C + grp * Cg) * g->H * g->W, xp);
            const float *b = j->bias ? j->bias + grp * Og : NULL, *wt = j->wt + grp * wper;
            const int64_t at = n * g->O + grp * Og;
            if (j->flat) {
                shift(j, xp, shifted);
                if (j->pooled)
                    forward_pooled_flat(j, shifted, wt, b, mode, Og, j->out + at * PP,
                                        j->arg + at * PP, yt);
                else
                    j->k->conv_direct_fwd(&j->fplan, shifted, wt, b, mode, j->out + at * P);
                continue;
            }
            if (!j->pooled) {
                j->k->conv_direct_fwd(&j->plan, xp, wt, b, mode, j->out + at * P);
                continue;
            }
            /* 8 channels at a time: their conv outputs (phases apart) stay in cache for the
             * pooling */
            for (int64_t o0 = 0; o0 < Og; o0 += NBI_DIRECT_OB) {
                nbi_direct_plan p8 = j->plan;
                p8.og = Og - o0 < NBI_DIRECT_OB ? Og - o0 : NBI_DIRECT_OB;
                j->k->conv_direct_fwd(&p8, xp, wt + o0 * p8.taps, b ? b + o0 : NULL, mode, yt);
                j->k->conv_direct_pool(&p8, p8.og, yt, j->out + (at + o0) * PP,
                                       j->arg + (at + o0) * PP);
            }
        }
    return NB_OK;
}

/* The weight and bias gradients behind a fused 2x2 pooling with no input gradient wanted
 * (the first layer of an image network), straight from the pooled gradient: no δ planes are
 * written and each window's one position is visited instead of its four
 * (k->conv_direct_dw_pooled). The bias gradient is each plane's masked pooled gradient
 * summed (sum8), sample after sample. */
static nb_status backward_pooled(const djob *j, int64_t piece, float *sc) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t PP = j->pg.OH * j->pg.OW, n0 = piece * j->nb;
    const int64_t nb = g->N - n0 < j->nb ? g->N - n0 : j->nb;
    float *xp = sc, *row = sc + j->nb * j->img + delta_floats(j);
    /* patches on 64 bytes: a patch's vectors then never straddle a cache line */
    float *patches = (float *)(((uintptr_t)(sc + j->nb * j->img) + 63) & ~(uintptr_t)63);
    const int64_t slot = j->parts.dws || j->parts.dbs ? 0 : piece;
    float *db = j->parts.dbp ? j->parts.dbp + slot * g->O : NULL;
    if (db) {
        memset(db, 0, sizeof(float) * (size_t)g->O);
        for (int64_t n = n0; n < n0 + nb; n++)
            for (int64_t o = 0; o < g->O; o++) {
                const int64_t at = (n * g->O + o) * PP;
                if (j->flags & NBI_CONV_RELU)
                    nbi_relu_mask(j->dout + at, j->y + at, row, PP);
                db[o] += sum8(j->flags & NBI_CONV_RELU ? row : j->dout + at, PP);
            }
        if (j->parts.dbs) nbi_conv_add_into(j->parts.dbs, db, g->O);
    }
    if (!j->parts.dwp) return NB_OK;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        float *dwg = j->parts.dwp + slot * g->O * Kc + grp * Og * Kc;
        for (int64_t n = n0; n < n0 + nb; n++)
            prepare(j, j->in + (n * g->C + grp * Cg) * g->H * g->W, xp + (n - n0) * j->img);
        const int64_t at = (n0 * g->O + grp * Og) * PP;
        j->k->conv_direct_dw_pooled(&j->plan, g->KW, nb, xp, j->img, j->dout + at,
                                    j->flags & NBI_CONV_RELU ? j->y + at : NULL, j->arg + at,
                                    g->O * PP, patches, dwg);
        if (j->parts.dws) nbi_conv_add_into(j->parts.dws + grp * Og * Kc, dwg, Og * Kc);
    }
    return NB_OK;
}

static nb_status backward_piece(const djob *j, int64_t piece, float *sc) {
    const nbi_conv_geom *g = j->g;
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t P = g->OH * g->OW, PP = j->pg.OH * j->pg.OW, n0 = piece * j->nb;
    const int64_t nb = g->N - n0 < j->nb ? g->N - n0 : j->nb;
    float *xp = sc, *dbuf = sc + j->nb * j->img;
    float *dxp = dbuf + delta_floats(j) + P; /* after the pooled δ row's room (unused) */
    const int64_t slot = j->parts.dws || j->parts.dbs ? 0 : piece;
    float *db = j->parts.dbp ? j->parts.dbp + slot * g->O : NULL;
    if (db) memset(db, 0, sizeof(float) * (size_t)g->O);
    /* δ [nb][O][P]: dout itself, or masked by y > 0, or the pooled δ at each window's arg (a
     * sample's planes in one pass, nbi_pool_delta); Σδ per plane */
    const float *delta = j->dout + n0 * g->O * P;
    if (j->pooled || (j->flags & NBI_CONV_RELU)) delta = dbuf;
    for (int64_t n = n0; n < n0 + nb; n++) {
        const int64_t an = n * g->O * PP; /* the sample's pooled planes: one pass writes δ */
        if (j->pooled)
            nbi_pool_delta(j->k, &j->pg, g->O, j->dout + an,
                           j->flags & NBI_CONV_RELU ? j->y + an : NULL, j->arg + an,
                           dbuf + (n - n0) * g->O * P);
        for (int64_t o = 0; o < g->O; o++) {
            const int64_t at = n * g->O + o;
            float *d = dbuf + ((n - n0) * g->O + o) * P;
            if (!j->pooled && (j->flags & NBI_CONV_RELU))
                nbi_relu_mask(j->dout + at * P, j->y + at * P, d, P);
            if (db) db[o] += sum8(delta == dbuf ? d : j->dout + at * P, P);
        }
    }
    if (j->parts.dbs) nbi_conv_add_into(j->parts.dbs, db, g->O);
    float *shifted = dxp + j->img + NBI_DIRECT_OB * P;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *dg = delta + grp * Og * P;
        float *dwg = j->parts.dwp ? j->parts.dwp + slot * g->O * Kc + grp * Og * Kc : NULL;
        if (dwg && j->flat) {
            for (int64_t n = n0; n < n0 + nb; n++) {
                prepare(j, j->in + (n * g->C + grp * Cg) * g->H * g->W, xp);
                shift(j, xp, shifted + (n - n0) * j->simg);
            }
            j->k->conv_direct_dw(&j->fplan, nb, shifted, j->simg, dg, g->O * P, dwg);
        } else if (dwg) {
            for (int64_t n = n0; n < n0 + nb; n++)
                prepare(j, j->in + (n * g->C + grp * Cg) * g->H * g->W, xp + (n - n0) * j->img);
            j->k->conv_direct_dw(&j->plan, nb, xp, j->img, dg, g->O * P, dwg);
        }
        if (dwg && j->parts.dws) nbi_conv_add_into(j->parts.dws + grp * Og * Kc, dwg, Og * Kc);
        if (j->din)
            for (int64_t n = n0; n < n0 + nb; n++) {
                memset(dxp, 0, sizeof(float) * (size_t)j->img);
                j->k->conv_direct_dx(&j->plan, j->w + grp * Og * Kc, dg + (n - n0) * g->O * P, dxp);
                fold(j, dxp, j->din + (n * g->C + grp * Cg) * g->H * g->W);
            }
    }
    return NB_OK;
}

/* ---- running a job (as the lowering's: pieces claimed from a counter) ------------------------ */

static nb_status piece(const void *arg, int64_t p, float *sc) {
    const djob *j = arg;
    return j->is_forward    ? forward_piece(j, p, sc)
           : j->dw_pooled ? backward_pooled(j, p, sc)
                          : backward_piece(j, p, sc);
}

static nb_status run(djob *j, int nt, float *scratch, int64_t room, int is_forward) {
    const int64_t per = scratch_size(j);
    j->is_forward = is_forward;
    return nbi_conv_run_pieces(nbi_conv_members(nt, j->pieces, per, room), j->pieces, piece, j,
                               scratch, per);
}

/* ---- setting a job up --------------------------------------------------------------------- */

/* Floats the offsets take (int64 each, 8-byte aligned; phases up to the pooling's width) */
static int64_t off_floats(const nbi_conv_geom *g, int64_t kw) {
    return 2 * nbi_conv_kc(g) * kw + 2;
}

/* and the flat kernels': soff and cols, [phases][taps] each */
static int64_t soff_floats(const nbi_conv_geom *g, int64_t kw) {
    return 4 * nbi_conv_kc(g) * kw + 2;
}

/* soff (see shift) and the flat plan */
static float *flat_tables(djob *j, float *scratch) {
    const nbi_conv_geom *g = j->g;
    const int64_t rows = g->C / g->groups * j->Hp, n = j->plan.phases * j->plan.taps;
    const int64_t OW = j->plan.OW;
    j->soff = (int64_t *)(((uintptr_t)scratch + 7) & ~(uintptr_t)7);
    j->cols = j->soff + n;
    for (int64_t t = 0; t < n; t++) {
        const int64_t k = j->off[t] % j->pitch;
        int64_t c = 0;
        while (c < j->ncols && j->cols[c] != k) c++;
        if (c == j->ncols) j->cols[j->ncols++] = k;
        j->soff[t] = c * rows * OW + j->off[t] / j->pitch * OW;
    }
    NBI_ASSERT(j->ncols * rows * OW + NBI_DIRECT_MARGIN <= j->simg);
    j->fplan = j->plan;
    j->fplan.off = j->soff;
    j->fplan.OH = 1;
    j->fplan.OW = j->plan.OH * OW;
    j->fplan.phases = j->fplan.kh = 1;
    j->fplan.row_step = 0;
    return scratch + soff_floats(g, j->plan.phases);
}

static int64_t wt_floats(const nbi_conv_geom *g) {
    const int64_t Og = g->O / g->groups;
    return g->groups * ((Og + NBI_DIRECT_OB - 1) / NBI_DIRECT_OB * NBI_DIRECT_OB) * nbi_conv_kc(g);
}

static void job_init(djob *j, const nbi_conv_geom *g, int flags, const float *w,
                     const nbi_conv_pool *pool, int64_t chunk, int forward) {
    memset(j, 0, sizeof *j);
    j->g = g;
    j->flags = flags;
    j->w = w;
    const int64_t P = g->OH * g->OW;
    /* samples per piece: about 512 output positions, as the lowering */
    int64_t nb = chunk > 0 ? chunk : (512 + P - 1) / P;
    j->nb = nb < g->N ? nb : g->N;
    if (j->nb < 1) j->nb = 1;
    j->pieces = (g->N + j->nb - 1) / j->nb;
    /* forward with a pooling: column phases of the window's width, rows of whole windows */
    const int pooled_fwd = forward && pool;
    const int64_t OHc = pooled_fwd ? g->OH / pool->kh * pool->kh : g->OH;
    j->F = g->sw * (pooled_fwd ? pool->kw : 1);
    j->Hp = (g->OH - 1) * g->sh + (g->KH - 1) * g->dh + 1;
    j->Wp = (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1;
    j->Wq = (j->Wp + j->F - 1) / j->F;
    j->pitch = j->F * j->Wq;
    j->plane = j->Hp * j->pitch;
    j->img = g->C / g->groups * j->plane + NBI_DIRECT_MARGIN;
    j->plan = (nbi_direct_plan){.taps = nbi_conv_kc(g),
                                .OH = OHc,
                                .OW = pooled_fwd ? g->OW / pool->kw : g->OW,
                                .phases = pooled_fwd ? pool->kw : 1,
                                .row_step = g->sh * j->pitch,
                                .og = g->O / g->groups,
                                .kh = pooled_fwd ? pool->kh : 1,
                                .conv_ow = g->OW};
    /* unit row step: the kernels over flat planes, one shifted copy per column offset (the
     * taps' columns r·sw + b·dw: at most phases·KW of them), the forward kernel's margin */
    j->flat = g->sh == 1;
    if (j->flat)
        j->simg =
            j->plan.phases * g->KW * (g->C / g->groups) * j->Hp * j->plan.OW + NBI_DIRECT_MARGIN;
    if (!pool) return;
    nbi_conv_geom *pg = &j->pg; /* the pooling windows over one output plane */
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

/* The offsets (at the start of the scratch) and, forward, the transposed weights after them;
 * returns the scratch left for the partial sums and the members. */
static float *job_tables(djob *j, float *scratch, int forward) {
    const nbi_conv_geom *g = j->g;
    uintptr_t a = ((uintptr_t)scratch + 7) & ~(uintptr_t)7;
    j->off = (int64_t *)a;
    const int64_t KHW = g->KH * g->KW, taps = j->plan.taps;
    for (int64_t r = 0; r < j->plan.phases; r++)
        for (int64_t t = 0; t < taps; t++) {
            const int64_t c = t / KHW, a_ = t % KHW / g->KW, col = r * g->sw + t % g->KW * g->dw;
            j->off[r * taps + t] =
                c * j->plane + a_ * g->dh * j->pitch + col % j->F * j->Wq + col / j->F;
        }
    j->plan.off = j->off;
    scratch += off_floats(g, j->pooled ? j->pg.KW : 1);
    if (j->flat) scratch = flat_tables(j, scratch);
    if (!forward) return scratch;
    /* wt[grp][o/8][t][o%8] = w[grp·Og + o][t], zeros past Og */
    const int64_t Og = g->O / g->groups;
    const int64_t blocks = (Og + NBI_DIRECT_OB - 1) / NBI_DIRECT_OB;
    j->wt = scratch;
    memset(j->wt, 0, sizeof(float) * (size_t)wt_floats(g));
    for (int64_t grp = 0; grp < g->groups; grp++)
        for (int64_t o = 0; o < Og; o++)
            for (int64_t t = 0; t < taps; t++)
                j->wt[((grp * blocks + o / NBI_DIRECT_OB) * taps + t) * NBI_DIRECT_OB +
                      o % NBI_DIRECT_OB] = j->w[(grp * Og + o) * taps + t];
    return scratch + wt_floats(g);
}

int64_t nbi_conv_direct_scratch(const nbi_conv_geom *g, int nt, int forward, int has_dw, int has_db,
                                const nbi_conv_pool *pool, int64_t chunk) {
    if (g->N == 0 || g->OH * g->OW == 0 || g->O == 0) return 0;
    djob j;
    job_init(&j, g, 0, NULL, pool, chunk, forward);
    int64_t want = nt < j.pieces ? nt : j.pieces;
    if (want < 1) want = 1;
    int64_t n = off_floats(g, pool ? pool->kw : 1) + scratch_size(&j) * want;
    if (forward) n += wt_floats(g);
    if (j.flat) n += soff_floats(g, j.plan.phases);
    if (!forward && has_dw) n += j.pieces * g->O * nbi_conv_kc(g);
    if (!forward && has_db) n += j.pieces * g->O;
    return n;
}

nb_status nbi_conv_direct_forward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                  const float *in, const float *w, const float *bias, int flags,
                                  float *out, const nbi_conv_pool *pool, int64_t chunk,
                                  float *scratch, int64_t room) {
    if (g->N == 0 || g->OH * g->OW == 0 || g->O == 0) return NB_OK;
    NBI_ASSERT(k->conv_direct_fwd && (!pool || !(flags & NBI_CONV_ACCUMULATE)));
    djob j;
    job_init(&j, g, flags, w, pool, chunk, 1);
    j.k = k;
    j.in = in;
    j.bias = bias;
    j.out = out;
    float *rest = job_tables(&j, scratch, 1);
    return run(&j, nt, rest, room - (rest - scratch), 1);
}

nb_status nbi_conv_direct_backward(const nbi_kernels *k, int nt, const nbi_conv_geom *g,
                                   const float *in, const float *dout, const float *y, int flags,
                                   const float *w, float *din, float *dw, float *dbias,
                                   const nbi_conv_pool *pool, int64_t chunk, float *scratch,
                                   int64_t room) {
    if ((!din && !dw && !dbias) || g->N == 0 || g->OH * g->OW == 0 || g->O == 0) return NB_OK;
    NBI_ASSERT(k->conv_direct_dw && k->conv_direct_dx);
    djob j;
    job_init(&j, g, flags & ~NBI_CONV_ACCUMULATE, w, pool, chunk, 0);
    j.k = k;
    j.in = in;
    j.dout = dout;
    j.y = y;
    j.din = din;
    /* the weight gradient from the pooled δ: 2x2 windows of stride 2 tiling the planes, no
     * input gradient, taps in rows of KW consecutive columns of one vector at most */
    const nbi_conv_geom *pg = &j.pg;
    j.dw_pooled = j.pooled && !din && k->conv_direct_dw_pooled && pg->KH == 2 && pg->KW == 2 &&
                  pg->sh == 2 && pg->sw == 2 && g->OH == 2 * pg->OH && g->OW == 2 * pg->OW &&
                  g->sw == 1 && g->dw == 1 && g->KW <= 8 && nbi_conv_kc(g) <= NBI_DIRECT_PATCH;
    float *rest = job_tables(&j, scratch, 0);
    room -= rest - scratch;
    /* the partial sums (running sums with a single member), added in piece order */
    const int64_t nw = dw ? g->O * nbi_conv_kc(g) : 0, nbs = dbias ? g->O : 0;
    room -= j.pieces * (nw + nbs);
    const int serial = j.pieces > 1 && nbi_conv_members(nt, j.pieces, scratch_size(&j), room) == 1;
    j.parts = nbi_conv_parts_at(rest, j.pieces, serial, nw, nbs);
    rest += j.pieces * (nw + nbs);
    nb_status s = run(&j, nt, rest, room, 0);
    if (s == NB_OK) nbi_conv_parts_finish(&j.parts, j.pieces, nw, nbs, dw, dbias);
    return s;
}
