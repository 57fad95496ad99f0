/* kernels/gemm/gemm_c.c — the portable blocked GEMM: the same five loops and packing as the
 * SIMD versions, with a 4 x 16 micro-kernel in plain C that compilers vectorise for whatever
 * the target has (SSE2 on any x86-64, NEON on arm64). It runs where no x86 kernel does, and
 * tests the driver on every machine. */
#include "kernels/gemm/gemm.h"

#include <string.h>

#define MR 4
#define NR 16

static void ukr_c(int64_t k, const float *ap, const float *bp, float beta, float *c,
                  int64_t ldc, int m, int n) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < k; p++) {
        const float *a = ap + p * MR, *b = bp + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) cr[j] = acc[i][j];
        else if (beta == 1.0f)
            for (int j = 0; j < n; j++) cr[j] = acc[i][j] + cr[j];
        else
            for (int j = 0; j < n; j++) cr[j] = acc[i][j] + beta * cr[j];
    }
}

static void pack_a_c(int ta, const float *A, int64_t lda, int64_t i0, int64_t m, int64_t p0,
                     int64_t k, float alpha, float *dst) {
    for (int64_t r = 0; r < m; r += MR, dst += MR * k) {
        int64_t rows = m - r < MR ? m - r : MR;
        for (int64_t p = 0; p < k; p++) {
            int64_t i = 0;
            for (; i < rows; i++) {
                int64_t row = i0 + r + i, col = p0 + p;
                dst[p * MR + i] = alpha * (ta ? A[col * lda + row] : A[row * lda + col]);
            }
            for (; i < MR; i++) dst[p * MR + i] = 0.0f;
        }
    }
}

static void pack_b_c(int tb, const float *B, int64_t ldb, int64_t p0, int64_t k, int64_t j0,
                     int64_t n, float *dst) {
    for (int64_t c = 0; c < n; c += NR, dst += NR * k) {
        int64_t cols = n - c < NR ? n - c : NR;
        for (int64_t p = 0; p < k; p++) {
            int64_t j = 0;
            for (; j < cols; j++) {
                int64_t row = p0 + p, col = j0 + c + j;
                dst[p * NR + j] = tb ? B[col * ldb + row] : B[row * ldb + col];
            }
            for (; j < NR; j++) dst[p * NR + j] = 0.0f;
        }
    }
}

/* The direct path: the definition, row by row, with the j loop innermost (vectorisable). */
static void direct_c(const nbi_gemm_call *c, int64_t i0, int64_t i1) {
    const int64_t N = c->N, K = c->K;
    float acc[64];
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j0 = 0; j0 < N; j0 += 64) {
            int64_t nn = N - j0 < 64 ? N - j0 : 64;
            for (int64_t j = 0; j < nn; j++) acc[j] = 0.0f;
            for (int64_t p = 0; p < K; p++) {
                float a = c->ta ? c->A[p * c->lda + i] : c->A[i * c->lda + p];
                const float *b = c->B + p * c->ldb + j0;
                for (int64_t j = 0; j < nn; j++) acc[j] += a * b[j];
            }
            float *cr = c->C + i * c->ldc + j0;
            for (int64_t j = 0; j < nn; j++)
                cr[j] = c->beta == 0.0f ? c->alpha * acc[j] : c->alpha * acc[j] + c->beta * cr[j];
        }
    }
}

static void tile_c(const nbi_gemm_call *c) { direct_c(c, 0, c->M); }

const nbi_gemm_arch nbi_gemm_arch_c = {
    .name = "c",
    .mr = MR,
    .nr = NR,
    .mc = 128,
    .kc = 256,
    .nc = 512,
    .small_mnk = 16 * 16 * 16,
    .par_flops = 1000000,
    .ukr = ukr_c,
    .pack_a = pack_a_c,
    .pack_b = pack_b_c,
    .direct = direct_c,
    .tile = tile_c,
};
