/* kernels/gemm/gemm.h — the blocked GEMM's moving parts, shared by the driver (gemm.c) and
 * the per-ISA micro-kernels (gemm_c.c, x86/gemm_avx2.c, x86/gemm_avx512.c).
 *
 * Row-major C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C. An ISA supplies an MR x NR
 * micro-kernel (MR rows of C broadcast from A, NR columns loaded as vectors from B), the two
 * packing routines that lay panels out for it, a direct path for small problems, and the
 * cache block sizes MC, KC, NC that suit the CPU — all as data in one nbi_gemm_arch. See
 * docs/KERNELS.md for the loops and the reasons behind the numbers. */
#ifndef NBI_GEMM_H
#define NBI_GEMM_H

#include "kernels/kernels.h"

/* C[0:m, 0:n] = Ap Bp + (beta == 0 ? 0 : beta C) over k steps, for m <= MR, n <= NR.
 * Ap holds k groups of MR floats (column p of the row panel, alpha folded in), Bp holds k
 * groups of NR floats (row p of the column panel), both zero-padded to full width. beta == 0
 * never reads C (NaN there does not leak). Every element's sum runs p = 0..k-1 in order, one
 * fused multiply-add each, whatever m and n are: edge tiles round exactly as full ones. */
typedef void (*nbi_ukr_fn)(int64_t k, const float *ap, const float *bp, float beta, float *c,
                           int64_t ldc, int m, int n);

/* The same sum with B read in place: row p of the column panel at b + p*ldb (n columns,
 * the lanes past n not read). Bitwise the packed kernel's result for the same Ap. */
typedef void (*nbi_ukr_b_fn)(int64_t k, const float *ap, const float *b, int64_t ldb, float beta,
                             float *c, int64_t ldc, int m, int n);

/* The same sum with op(A) = Aᵀ read in place (alpha 1): step p's m floats at a + p*lda,
 * where the packed panel holds them MR apart (rows past m are not read). Bitwise the packed
 * kernel's result for the panel that pack_a makes of them with alpha = 1. */
typedef void (*nbi_ukr_at_fn)(int64_t k, const float *a, int64_t lda, const float *bp, float beta,
                              float *c, int64_t ldc, int m, int n);

/* Packs alpha op(A)[i0 : i0+m, p0 : p0+k] into ceil(m/MR) row panels, panel r at
 * dst + r*MR*k, laid out as the micro-kernel reads it. */
typedef void (*nbi_pack_a_fn)(int ta, const float *A, int64_t lda, int64_t i0, int64_t m,
                              int64_t p0, int64_t k, float alpha, float *dst);
/* Packs op(B)[p0 : p0+k, j0 : j0+n] into ceil(n/NR) column panels, panel c at
 * dst + c*NR*k. */
typedef void (*nbi_pack_b_fn)(int tb, const float *B, int64_t ldb, int64_t p0, int64_t k,
                              int64_t j0, int64_t n, float *dst);

/* One GEMM call's arguments, passed by address below the entry point (thirteen arguments
 * copied through every level cost more than a tiny product). */
typedef struct nbi_gemm_call {
    int nt; /* the most threads of the pool this call may use */
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
} nbi_gemm_call;

/* The direct path: rows [i0, i1) of C = alpha op(A) B + beta C computed straight from A and
 * from B, which here is op(B) itself, K x N row-major (c->tb is 0: the driver transposes a
 * Bᵀ first, at most NBI_DIRECT_KN floats of it). No packing: for problems too small to
 * repay it, and for a single column (or row) of micro-tiles, where packed panels would be
 * read only once. M, N, K > 0 and alpha != 0. */
typedef void (*nbi_direct_fn)(const nbi_gemm_call *c, int64_t i0, int64_t i1);
/* The direct path for a problem of one micro-tile (M <= MR, N <= NR, B as stored). */
typedef void (*nbi_tile_fn)(const nbi_gemm_call *c);
#define NBI_DIRECT_KN 4096
/* The most floats of a Bᵀ that the one-tile entry (M <= MR, N <= NR) transposes itself. */
#define NBI_TINY_KN 64

typedef struct nbi_gemm_arch {
    const char *name;
    int mr, nr;            /* micro-tile */
    int64_t mc, kc, nc;    /* largest blocks: A block mc x kc, B block kc x nc */
    int64_t small_mnk;     /* M*N*K at or below which the direct path runs */
    int64_t par_flops;     /* 2MNK per thread below which extra threads do not pay */
    nbi_ukr_fn ukr;
    nbi_ukr_b_fn ukr_b; /* NULL: B is always packed */
    nbi_ukr_at_fn ukr_at; /* NULL: A is always packed */
    nbi_ukr_at_fn ukr_an; /* op(A) = A in place, row i at a + i*lda; NULL: A packed */
    nbi_pack_a_fn pack_a;
    nbi_pack_b_fn pack_b;
    nbi_direct_fn direct;
    nbi_tile_fn tile;
} nbi_gemm_arch;

extern const nbi_gemm_arch nbi_gemm_arch_c;
#if NBI_X86
extern const nbi_gemm_arch nbi_gemm_arch_avx2;
extern const nbi_gemm_arch nbi_gemm_arch_avx512;
#endif

/* The GEMM entry points of the kernel table, one per arch (gemm.c). */
nb_status nbi_sgemm_c(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc);
#if NBI_X86
nb_status nbi_sgemm_avx2(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc);
nb_status nbi_sgemm_avx512(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc);
#endif

/* The same with op(B) from a provider (nbi_sgemm_src_fn in kernels/kernels.h). */
nb_status nbi_sgemm_src_c(int nt, int ta, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const nbi_gemm_bsrc *B, float beta,
                          float *C, int64_t ldc);
#if NBI_X86
nb_status nbi_sgemm_src_avx2(int nt, int ta, int64_t M, int64_t N, int64_t K, float alpha,
                             const float *A, int64_t lda, const nbi_gemm_bsrc *B, float beta,
                             float *C, int64_t ldc);
nb_status nbi_sgemm_src_avx512(int nt, int ta, int64_t M, int64_t N, int64_t K, float alpha,
                               const float *A, int64_t lda, const nbi_gemm_bsrc *B, float beta,
                               float *C, int64_t ldc);
#endif

/* The same with op(B) packed once by the matching _pack (nbi_sgemm_packed_fn in
 * kernels/kernels.h); _floats is the packed size. */
#define NBI_SGEMM_PACKED_DECL(NAME)                                                                \
    int64_t NAME##_floats(int64_t K, int64_t N);                                                   \
    void NAME##_pack(int tb, const float *B, int64_t ldb, int64_t K, int64_t N, float *dst);       \
    nb_status NAME(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,           \
                   const float *A, int64_t lda, const float *Bp, float beta, float *C,             \
                   int64_t ldc);
NBI_SGEMM_PACKED_DECL(nbi_sgemm_packed_c)
#if NBI_X86
NBI_SGEMM_PACKED_DECL(nbi_sgemm_packed_avx2)
NBI_SGEMM_PACKED_DECL(nbi_sgemm_packed_avx512)
#endif

/* Strided-batched GEMM with one kernel set's GEMM on at most nt threads (nb_sgemm_batched
 * and the back ends' sgemm_batched entry). */
nb_status nbi_sgemm_batched_with(nbi_sgemm_fn gemm, int nt, int ta, int tb, int64_t M,
                                 int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                 int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                                 float beta, float *C, int64_t ldc, int64_t stride_c,
                                 int64_t batch);

/* C = beta C over an M x N block (beta == 0 writes zeros, NaN in C included). */
void nbi_gemm_scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc);

#endif
