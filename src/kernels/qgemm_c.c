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

/* n bytes from s to d (not overlapping) in fixed-size pieces that compile to plain loads and
 * stores: a channel run of a feature map is a few to a few hundred bytes, where a call to
 * memcpy costs more than the copy. The pieces overlap at the end; they write the same bytes. */
static inline void copy_n(uint8_t *restrict d, const uint8_t *restrict s, int64_t n) {
    if (n >= 16) {
        int64_t k = 0;
        for (; k + 16 <= n; k += 16) memcpy(d + k, s + k, 16);
        if (k < n) memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else {
        for (int64_t k = 0; k < n; k++) d[k] = s[k];
    }
}

/* o = max(o, a) bytewise; the 16-byte blocks have a trip count the compiler vectorises */
static inline void max_into(uint8_t *restrict o, const uint8_t *restrict a, int64_t n) {
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) o[k + j] = a[k + j] > o[k + j] ? a[k + j] : o[k + j];
    for (; k < n; k++) o[k] = a[k] > o[k] ? a[k] : o[k];
}

/* The geometry is read into locals first: stores through uint8_t pointers may alias anything,
 * and would otherwise make the compiler reload every field after every byte written. */
void nbi_q_im2col(const nbi_q_geom *g, const uint8_t *restrict x, uint8_t pad, int64_t K4,
                  uint8_t *restrict col) {
    const int64_t C = g->C, H = g->H, W = g->W, KH = g->KH, KW = g->KW, sh = g->sh, sw = g->sw;
    const int64_t dh = g->dh, dw = g->dw, pt = g->pt, pl = g->pl, OH = g->OH, OW = g->OW;
    const int64_t K = KH * KW * C, run = KW * C;
    for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t ow = 0; ow < OW; ow++) {
            uint8_t *row = col + (oh * OW + ow) * K4;
            int64_t iw0 = ow * sw - pl;
            /* the window's columns inside the input, without dilation: one run of KW·C bytes */
            bool whole = dw == 1 && iw0 >= 0 && iw0 + KW <= W;
            for (int64_t kh = 0; kh < KH; kh++) {
                int64_t ih = oh * sh + kh * dh - pt;
                uint8_t *dst = row + kh * run;
                if (ih < 0 || ih >= H) {
                    memset(dst, pad, (size_t)run);
                } else if (whole) {
                    copy_n(dst, x + (ih * W + iw0) * C, run);
                } else {
                    for (int64_t kw = 0; kw < KW; kw++) {
                        int64_t iw = iw0 + kw * dw;
                        if (iw < 0 || iw >= W)
                            memset(dst + kw * C, pad, (size_t)C);
                        else
                            copy_n(dst + kw * C, x + (ih * W + iw) * C, C);
                    }
                }
            }
            for (int64_t k = K; k < K4; k++) row[k] = 0;
        }
    }
}

void nbi_q_maxpool(const nbi_q_geom *g, const uint8_t *restrict x, uint8_t *restrict y) {
    const int64_t C = g->C, H = g->H, W = g->W, KH = g->KH, KW = g->KW, sh = g->sh, sw = g->sw;
    const int64_t dh = g->dh, dw = g->dw, pt = g->pt, pl = g->pl, OH = g->OH, OW = g->OW;
    for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t ow = 0; ow < OW; ow++) {
            uint8_t *out = y + (oh * OW + ow) * C;
            int first = 1;
            for (int64_t kh = 0; kh < KH; kh++) {
                int64_t ih = oh * sh + kh * dh - pt;
                if (ih < 0 || ih >= H) continue;
                for (int64_t kw = 0; kw < KW; kw++) {
                    int64_t iw = ow * sw + kw * dw - pl;
                    if (iw < 0 || iw >= W) continue;
                    const uint8_t *in = x + (ih * W + iw) * C;
                    if (first)
                        copy_n(out, in, C);
                    else
                        max_into(out, in, C);
                    first = 0;
                }
            }
            if (first) memset(out, 0, (size_t)C); /* a window wholly in the padding */
        }
    }
}
