/* kernels/kernels.c — the kernel table: reference kernels first, then whatever the CPU runs
 * faster (BLIS's order: install the reference, override per CPU). */
#include "kernels/kernels.h"

#include <pthread.h>

nbi_kernels nbi_k;
nbi_kernels nbi_k_ref;

static void fill_ref(nbi_kernels *k) {
    k->isa = "ref";
    for (int i = 0; i < NBI_U_COUNT; i++) {
        k->unary[i] = nbi_ref_unary[i];
        k->unary_bwd[i] = nbi_ref_unary_bwd[i];
    }
    for (int i = 0; i < NBI_B_COUNT; i++) k->binary[i] = nbi_ref_binary[i];
    k->sgemm = nbi_sgemm_ref;
    k->softmax = nbi_ref_softmax;
    k->log_softmax = nbi_ref_log_softmax;
    k->softmax_bwd = nbi_ref_softmax_bwd;
    k->log_softmax_bwd = nbi_ref_log_softmax_bwd;
}

static void init_once(void) {
    fill_ref(&nbi_k_ref);
    nbi_k = nbi_k_ref;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

void nbi_kernels_init(void) { pthread_once(&once, init_once); }

const char *nb_kernel_isa(void) {
    nbi_kernels_init();
    return nbi_k.isa;
}

nb_status nb_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc) {
    nbi_kernels_init();
    return nbi_k.sgemm(trans_a != 0, trans_b != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
