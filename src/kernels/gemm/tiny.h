/* kernels/gemm/tiny.h — a tiny network's kernel calls resolved once and made many times: a
 * one-tile GEMM with its arguments laid out for the tile kernel, and the dense layer's bias
 * rows and bias-gradient sums for short rows.
 *
 * A replayed step (autograd/replay.c) makes the same calls with the same arguments every
 * time. For a product of one micro-tile (M <= MR, N <= NR: every product of a 2-4-1 network)
 * the GEMM entry spends more instructions on its checks and choices than the tile kernel on
 * the arithmetic; nbi_gemm_tiny_plan makes those choices once, as the entry would, and
 * nbi_gemm_tiny_run calls the very tile kernel the entry calls, with the same arguments: the
 * same bits. The row kernels are the reference's sums in the reference's order (the bits of
 * nbi_ref_bias_rows and nbi_ref_acc_rows), four columns to a vector where rows are short. */
#ifndef NBI_GEMM_TINY_H
#define NBI_GEMM_TINY_H

#include "kernels/gemm/gemm.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct nbi_gemm_tiny nbi_gemm_tiny;

/* C = alpha op(A) op(B) + beta C for t's call with op(B) at b (K x N, row p at b + p*t->c.ldb):
 * the AVX2 kernels below, one per row count. */
typedef void (*nbi_tiny_ukr_fn)(const nbi_gemm_tiny *t, const float *b);

/* One GEMM call as the one-tile path of a kernel set's entry makes it. */
struct nbi_gemm_tiny {
    nbi_tile_fn tile;
    nbi_gemm_call c; /* the tile kernel's arguments (c.tb is 0) */
    const float *bt; /* NULL, or a Bᵀ [N, K] as stored (row j at bt + j*ldbt), transposed
                        into op(B) before each call, as the entry does */
    int64_t ldbt;
    /* NULL, or an AVX2 kernel of the tile kernel's arithmetic for this shape (at most 8 rows
     * and 8 columns: x86/tiny_avx2.c), with what it would otherwise work out every call */
    nbi_tiny_ukr_fn ukr;
    int64_t a_rs, a_cs; /* op(A)[i, p] at A + i*a_rs + p*a_cs */
    int32_t mask[8];    /* lane j < N: all ones */
    /* with ukr only, set by nbi_gemm_tiny_fuse: NULL, or the N floats C's rows hold (beta
     * 1), read from here; NULL, or N floats that op(B)'s rows are added to, in order */
    const float *bias;
    float *colsum;
};

#if NBI_X86
/* [w][colsum][m - 1]: the kernel for m rows, summing B's rows into t->colsum or not, for
 * rows of any width up to 8 (w 0: masked moves) or of exactly 1, 4 or 8 columns (w 1, 2, 3:
 * plain moves of that width; nbi_tiny_width) (x86/tiny_avx2.c; run only where AVX2 and FMA
 * are). */
extern const nbi_tiny_ukr_fn nbi_tiny_ukr_avx2[4][2][8];
static inline int nbi_tiny_width(int64_t N) {
    return N == 1 ? 1 : N == 4 ? 2 : N == 8 ? 3 : 0;
}
#endif

/* Does the GEMM `entry` (a kernel set's sgemm: nbi_sgemm_c, _avx2, _avx512) run this call as
 * one tile? Then *t is filled and 1 returned; else 0 (a call the entry rejects, an empty or
 * BLAS special case, a larger product, another entry). */
int nbi_gemm_tiny_plan(nbi_sgemm_fn entry, int ta, int tb, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc, nbi_gemm_tiny *t);

/* The planned call: the entry's result, bit for bit. */
void nbi_gemm_tiny_run(const nbi_gemm_tiny *t);

/* Folds a neighbouring call into t's, when its kernel can take it (1; else 0, t unchanged),
 * the same bits written as by the two calls:
 *   bias_rows(M, N, b, C) just before it, the product adding to C (beta 1): C's rows are
 *   then read from b;
 *   acc_rows(K, N, x, g) just after it, x being op(B) in place (rows N apart): g += each
 *   row of op(B), in order, as the kernel loads them.
 * b and g must be apart from A, B and C. */
int nbi_gemm_tiny_fuse_bias(nbi_gemm_tiny *t, int64_t M, int64_t N, const float *b);
int nbi_gemm_tiny_fuse_colsum(nbi_gemm_tiny *t, int64_t K, int64_t N, const float *x, float *g);

/* y[0 : n) = v, a few floats: vector stores where n allows (a loop the compiler would make a
 * call to memset, dearer than the stores for a tiny layer's gradient). */
static inline void nbi_tiny_fill(int64_t n, float *y, float v) {
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128 vv = _mm_set1_ps(v);
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, vv);
    if (i + 2 <= n) {
        _mm_storel_pi((__m64 *)(void *)(y + i), vv);
        i += 2;
    }
    if (i < n) _mm_store_ss(y + i, vv);
#else
    for (; i < n; i++) y[i] = v;
#endif
}

/* y[r, :] = b for M rows of N (nbi_ref_bias_rows). */
void nbi_tiny_bias_rows(int64_t M, int64_t N, const float *b, float *y);

/* g[j] += x[0, j] + x[1, j] + ... in that order (nbi_ref_acc_rows' sums, the same bits). */
void nbi_tiny_acc_rows(int64_t M, int64_t N, const float *x, float *g);

/* The squared error of n pairs and its gradient: nbi_ref_pair_loss and nbi_ref_pair_loss_bwd
 * for NBI_LOSS_MSE (reduction 0 mean, 1 sum, 2 none), the same operations in the same order,
 * the same bits, without the reference's test of the loss kind at every element (a tiny
 * network's loss costs more in those tests than in its arithmetic). */
void nbi_tiny_mse(int reduction, int64_t n, const float *p, const float *t, float *y);
void nbi_tiny_mse_bwd(int reduction, int64_t n, const float *p, const float *t, const float *gy,
                      float *gp, float *gt);
/* nbi_tiny_mse_bwd into zeros, no target gradient: gp[i] = 0 + s_i ∂ℓ_i/∂p_i, the bits of
 * zeros filled and then accumulated into (0 + -0 is +0), gp apart from p, t and gy. */
void nbi_tiny_mse_dx(int reduction, int64_t n, const float *p, const float *t, const float *gy,
                     float *gp);

#endif
