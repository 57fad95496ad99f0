/* kernels/ref/gemm.c — the reference GEMM: the definition, written plainly. It is the oracle
 * the optimised GEMM is tested against and the fallback where none is built. */
#include "kernels/kernels.h"

nb_status nbi_sgemm_check(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                          int64_t lda, const float *B, int64_t ldb, const float *C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0)
        return nbi_error(NB_ERR_ARG, "nb_sgemm: negative dimension (M=%lld, N=%lld, K=%lld)",
                         (long long)M, (long long)N, (long long)K);
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    if (lda < (acols > 1 ? acols : 1))
        return nbi_error(NB_ERR_ARG, "nb_sgemm: lda=%lld is less than A's row length %lld",
                         (long long)lda, (long long)acols);
    if (ldb < (bcols > 1 ? bcols : 1))
        return nbi_error(NB_ERR_ARG, "nb_sgemm: ldb=%lld is less than B's row length %lld",
                         (long long)ldb, (long long)bcols);
    if (ldc < (N > 1 ? N : 1))
        return nbi_error(NB_ERR_ARG, "nb_sgemm: ldc=%lld is less than N=%lld", (long long)ldc,
                         (long long)N);
    if ((M && N && !C) || (M && N && K && (!A || !B)))
        return nbi_error(NB_ERR_ARG, "nb_sgemm: NULL matrix");
    return NB_OK;
}

nb_status nbi_sgemm_ref(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc) {
    (void)nt; /* the definition, one element after another */
    nb_status s = nbi_sgemm_check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
    if (s != NB_OK) return s;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < K; p++) {
                float a = ta ? A[p * lda + i] : A[i * lda + p];
                float b = tb ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
            }
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
        }
    }
    return NB_OK;
}
