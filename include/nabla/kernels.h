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

/* The instruction set the kernels were chosen for on this CPU: "ref", "avx2", "avx512". */
const char *nb_kernel_isa(void);

#ifdef __cplusplus
}
#endif
#endif
