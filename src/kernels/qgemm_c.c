/* kernels/qgemm_c.c — the portable int8 loops (kernels/qgemm.h): the packing of weights, the
 * product as a 4 x 16 register tile in plain C (compilers vectorise its 16 columns for
 * whatever the target has; it runs where no x86 kernel does), and the u8 feature-map loops
 * every kernel set shares: im2col and max pooling, channels last. */
#include "kernels/qgemm.h"

#include <string.h>

void nbi_q_pack(int64_t K, int64_t N, const int8_t *W, int64_t ldw, int8_t *dst) {
    int64_t K4 = nbi_q_k4(K), N16 = nbi_q_n16(N);
    memset(dst, 0, (size_t)(K4 * N16));
    for (int64_t j = 0; j < N; j++)
        for (int64_t k = 0; k < K; k++) dst[nbi_q_packed_at(K4, k, j)] = W[j * ldw + k];
}

#define MR 4

/* One tile: m <= MR rows from A, the 16 columns of one packed panel (n of them stored). */
static void tile_c(int m, int n, int64_t K4, const uint8_t *A, int64_t lda, const int8_t *panel,
                   const nbi_qepi *e, int64_t j0, void *C, int64_t ldc) {
    int32_t acc[MR][NBI_Q_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t g = 0; g < K4 / 4; g++) {
        const int8_t *b = panel + g * 64;
        for (int r = 0; r < m; r++) {
            const uint8_t *a = A + r * lda + 4 * g;
            int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
            for (int j = 0; j < NBI_Q_NR; j++)
                acc[r][j] +=
                    a0 * b[4 * j] + a1 * b[4 * j + 1] + a2 * b[4 * j + 2] + a3 * b[4 * j + 3];
        }
    }
    for (int r = 0; r < m; r++) {
        for (int j = 0; j < n; j++) {
            int32_t s = acc[r][j] + e->bias[j0 + j];
            if (e->out_f32)
                ((float *)C)[r * ldc + j0 + j] = (float)s * e->m[j0 + j];
            else
                ((uint8_t *)C)[r * ldc + j0 + j] =
                    nbi_q_requant(s, e->m[j0 + j], e->zero, e->lo, e->hi);
        }
    }
}

void nbi_qgemm_c(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda, const int8_t *Bp,
                 const nbi_qepi *e, void *C, int64_t ldc) {
    size_t es = e->out_f32 ? sizeof(float) : 1;
    for (int64_t j0 = 0; j0 < N; j0 += NBI_Q_NR) {
        int n = N - j0 < NBI_Q_NR ? (int)(N - j0) : NBI_Q_NR;
        const int8_t *panel = Bp + (j0 / NBI_Q_NR) * K4 * NBI_Q_NR;
        for (int64_t i0 = 0; i0 < M; i0 += MR) {
            int m = M - i0 < MR ? (int)(M - i0) : MR;
            tile_c(m, n, K4, A + i0 * lda, lda, panel, e, j0, (char *)C + (size_t)(i0 * ldc) * es,
                   ldc);
        }
    }
}

/* ---- u8 feature maps, channels last ---------------------------------------------------- */

void nbi_q_im2col(const nbi_q_geom *g, const uint8_t *x, uint8_t pad, int64_t K4, uint8_t *col) {
    const int64_t C = g->C, K = g->KH * g->KW * C;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        for (int64_t ow = 0; ow < g->OW; ow++) {
            uint8_t *row = col + (oh * g->OW + ow) * K4;
            for (int64_t kh = 0; kh < g->KH; kh++) {
                int64_t ih = oh * g->sh + kh * g->dh - g->pt;
                for (int64_t kw = 0; kw < g->KW; kw++) {
                    int64_t iw = ow * g->sw + kw * g->dw - g->pl;
                    uint8_t *dst = row + (kh * g->KW + kw) * C;
                    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                        memset(dst, pad, (size_t)C);
                    else if (C == 1)
                        *dst = x[ih * g->W + iw];
                    else
                        memcpy(dst, x + (ih * g->W + iw) * C, (size_t)C);
                }
            }
            if (K4 > K) memset(row + K, 0, (size_t)(K4 - K));
        }
    }
}

void nbi_q_maxpool(const nbi_q_geom *g, const uint8_t *x, uint8_t *y) {
    const int64_t C = g->C;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        for (int64_t ow = 0; ow < g->OW; ow++) {
            uint8_t *out = y + (oh * g->OW + ow) * C;
            int first = 1;
            for (int64_t kh = 0; kh < g->KH; kh++) {
                int64_t ih = oh * g->sh + kh * g->dh - g->pt;
                if (ih < 0 || ih >= g->H) continue;
                for (int64_t kw = 0; kw < g->KW; kw++) {
                    int64_t iw = ow * g->sw + kw * g->dw - g->pl;
                    if (iw < 0 || iw >= g->W) continue;
                    const uint8_t *in = x + (ih * g->W + iw) * C;
                    if (first) {
                        memcpy(out, in, (size_t)C);
                        first = 0;
                    } else {
                        for (int64_t c = 0; c < C; c++) out[c] = in[c] > out[c] ? in[c] : out[c];
                    }
                }
            }
            if (first) memset(out, 0, (size_t)C); /* a window wholly in the padding */
        }
    }
}
