/* nabla/kernels.h — the raw compute layer that users may call directly: GEMM and threads. */
#ifndef NABLA_KERNELS_H
#define NABLA_KERNELS_H

#include "nabla/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row-major single-precision GEMM, BLAS-like:
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 * op(X) is X when trans is 0 and Xᵀ when 1. lda is the row stride of A as stored (so
 * lda >= K without transpose, >= M with it); likewise ldb, ldc >= N. beta = 0 ignores C's
 * old contents (NaN included). Returns NB_ERR_ARG for a bad dimension or leading dimension. */
nb_status nb_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc);

/* Strided-batched GEMM: for b in [0, batch), the GEMM above on A + b*stride_a,
 * B + b*stride_b, C + b*stride_c (strides in elements; a stride of 0 reuses one matrix for
 * every batch, except for C whose matrices must not overlap). Small matrices are spread over
 * the threads batch-wise, large ones GEMM-wise; the result is the same either way. */
nb_status nb_sgemm_batched(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, int64_t stride_a, const float *B,
                           int64_t ldb, int64_t stride_b, float beta, float *C, int64_t ldc,
                           int64_t stride_c, int64_t batch);

/* Threads: nabla's kernels run on one persistent pool. Its size is fixed on first use by
 * nb_set_threads(n) if called before, else by the environment variable NB_THREADS, else by
 * the number of cores this process may run on. nb_set_threads may be called again at any
 * time from one thread (it waits for work in flight) and returns NB_ERR_ARG for n outside
 * 1..64. Results never depend on the thread count: every output element is computed by one
 * thread in a fixed order. NB_SPIN_US (default 50) sets how long idle workers spin before
 * sleeping. */
nb_status nb_set_threads(int n);
int nb_get_threads(void);

/* The instruction set the kernels were chosen for on this CPU: "ref", "c" (portable C
 * blocked GEMM), "avx2", "avx512". Setting NB_ISA=ref|c|avx2|avx512 in the environment
 * chooses a lower one than the CPU offers (for comparisons). Built with BLAS=openblas,
 * "+openblas" follows the name: GEMM then runs in OpenBLAS. */
const char *nb_kernel_isa(void);

#ifdef __cplusplus
}
#endif
#endif
