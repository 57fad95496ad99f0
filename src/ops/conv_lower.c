/* ops/conv_lower.c — convolution as matrix products (im2col + GEMM), forward and backward.
 *
 * For a chunk of nb samples and one group g (Og = O/groups outputs, Kc = Cg·KH·KW taps,
 * P = OH·OW positions per sample):
 *
 *   col   = im2col(x)                       [Kc, nb·P]
 *   Y_g   = W_g · col                       [Og, Kc]·[Kc, nb·P]           forward
 *   dW_g += dY_g · colᵀ                     [Og, nb·P]·[nb·P, Kc]         weight gradient
 *   dcol  = W_gᵀ · dY_g,  dx += col2im(dcol)                              input gradient
 *
 * Y and dY are channel-major [O, nb·P] here and NCHW ([nb, O, P]) outside, so each chunk
 * changes layout once each way (nbi_rows_to_nrp / nbi_nrp_to_rows), fusing the bias into the
 * forward change. Putting the whole chunk's positions in one GEMM (rather than one GEMM per
 * sample) gives the GEMM long rows to split over threads and packs W once per chunk. Every
 * GEMM goes through the kernel table (nbi_k.sgemm), so it runs on the fastest one the CPU has.
 * Scratch (col, the channel-major Y/dY) comes from the context's arena and is given back
 * before returning. */
#include "ops/conv.h"
#include "kernels/kernels.h"

/* Samples per chunk: as many as keep the column matrix within the budget, at least one. */
static int64_t chunk_of(const nbi_conv_geom *g, int64_t chunk) {
    if (chunk > 0) return chunk < g->N ? chunk : g->N;
    int64_t per = nbi_conv_kc(g) * g->OH * g->OW * (int64_t)sizeof(float);
    int64_t nb = per > 0 ? (int64_t)NBI_CONV_COL_BYTES / per : g->N;
    if (nb < 1) nb = 1;
    return nb < g->N ? nb : g->N;
}

/* Scratch of `count` floats from the arena; the caller releases to its mark. */
static float *scratch(nb_ctx *ctx, int64_t count) {
    return nbi_ctx_alloc(ctx, (size_t)(count > 0 ? count : 1) * sizeof(float), "conv scratch");
}

nb_status nbi_conv_forward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in,
                           const float *w, const float *bias, int accumulate, float *out,
                           int64_t chunk) {
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t P = g->OH * g->OW, img = g->C * g->H * g->W, nb_max = chunk_of(g, chunk);
    if (g->N == 0 || P == 0 || g->O == 0) return NB_OK;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    float *col = scratch(ctx, Kc * nb_max * P), *yt = scratch(ctx, g->O * nb_max * P);
    nb_status s = col && yt ? NB_OK : ctx->status;
    for (int64_t n0 = 0; s == NB_OK && n0 < g->N; n0 += nb_max) {
        int64_t nb = g->N - n0 < nb_max ? g->N - n0 : nb_max, ld = nb * P;
        for (int64_t grp = 0; s == NB_OK && grp < g->groups; grp++) {
            nbi_im2col(g, in + n0 * img + grp * Cg * g->H * g->W, nb, col);
            /* Y_g [Og, nb·P] = W_g [Og, Kc] · col [Kc, nb·P] */
            s = nbi_k.sgemm(0, 0, Og, ld, Kc, 1.0f, w + grp * Og * Kc, Kc, col, ld, 0.0f,
                            yt + grp * Og * ld, ld);
        }
        if (s == NB_OK)
            nbi_rows_to_nrp(yt, g->O, P, nb, accumulate ? NULL : bias, accumulate,
                            out + n0 * g->O * P);
    }
    nbi_arena_release(&ctx->arena, m);
    if (s == NB_OK && accumulate && bias) { /* out += bias, per channel */
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t o = 0; o < g->O; o++) {
                float *d = out + (n * g->O + o) * P;
                for (int64_t p = 0; p < P; p++) d[p] += bias[o];
            }
    }
    return s;
}

nb_status nbi_conv_backward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in,
                            const float *dout, const float *w, float *din, float *dw,
                            int64_t chunk) {
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = nbi_conv_kc(g);
    const int64_t P = g->OH * g->OW, img = g->C * g->H * g->W, nb_max = chunk_of(g, chunk);
    if ((!din && !dw) || g->N == 0 || P == 0 || g->O == 0) return NB_OK;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    float *col = scratch(ctx, Kc * nb_max * P), *dyt = scratch(ctx, g->O * nb_max * P);
    nb_status s = col && dyt ? NB_OK : ctx->status;
    for (int64_t n0 = 0; s == NB_OK && n0 < g->N; n0 += nb_max) {
        int64_t nb = g->N - n0 < nb_max ? g->N - n0 : nb_max, ld = nb * P;
        nbi_nrp_to_rows(dout + n0 * g->O * P, g->O, P, nb, dyt);
        for (int64_t grp = 0; s == NB_OK && grp < g->groups; grp++) {
            const float *dy_g = dyt + grp * Og * ld, *w_g = w + grp * Og * Kc;
            int64_t at = n0 * img + grp * Cg * g->H * g->W;
            if (dw) {
                nbi_im2col(g, in + at, nb, col);
                /* dW_g [Og, Kc] += dY_g [Og, nb·P] · colᵀ [nb·P, Kc] */
                s = nbi_k.sgemm(0, 1, Og, Kc, ld, 1.0f, dy_g, ld, col, ld, 1.0f,
                                dw + grp * Og * Kc, Kc);
            }
            if (din && s == NB_OK) {
                /* dcol [Kc, nb·P] = W_gᵀ [Kc, Og] · dY_g [Og, nb·P], reusing col */
                s = nbi_k.sgemm(1, 0, Kc, ld, Og, 1.0f, w_g, Kc, dy_g, ld, 0.0f, col, ld);
                if (s == NB_OK) nbi_col2im(g, col, nb, din + at);
            }
        }
    }
    nbi_arena_release(&ctx->arena, m);
    return s;
}
