/* kernels/kernels.c — the kernel table: reference kernels first, then whatever the CPU runs
 * faster (BLIS's order: install the reference, override per CPU).
 *
 * One binary runs on any x86-64: the AVX2 and AVX-512 files are compiled with their own
 * -m flags and called only after cpuid says the CPU (and, for AVX-512's wider registers, the
 * operating system's XSAVE state — __builtin_cpu_supports checks both) has the instructions.
 * Elsewhere the portable C GEMM and the reference elementwise kernels run. */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/pool.h"

#ifdef NB_USE_CBLAS
#include <cblas.h>
#endif

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

#ifdef NB_USE_CBLAS
/* BLAS=openblas: GEMM through CBLAS, row-major, after nabla's own argument checks. */
static nb_status sgemm_cblas(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float *A, int64_t lda, const float *B, int64_t ldb,
                             float beta, float *C, int64_t ldc) {
    nb_status s = nbi_sgemm_check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
    if (s != NB_OK) return s;
    if (M == 0 || N == 0) return NB_OK;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX ||
        ldb > INT32_MAX || ldc > INT32_MAX)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_sgemm: %lld x %lld x %lld is beyond CBLAS's 32-bit sizes",
                         (long long)M, (long long)K, (long long)N);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return NB_OK;
}
#endif

/* Does this CPU (and OS) run `isa`? */
static bool cpu_runs(const char *isa) {
    if (!strcmp(isa, "ref") || !strcmp(isa, "c")) return true;
#if NBI_X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(isa, "avx2")) return avx2;
    if (!strcmp(isa, "avx512")) return avx2 && __builtin_cpu_supports("avx512f");
#endif
    return false;
}

bool nbi_kernels_for(const char *isa, nbi_kernels *k) {
    if (!cpu_runs(isa)) return false;
    fill_ref(k);
    if (!strcmp(isa, "ref")) return true;
    k->isa = "c"; /* the portable blocked GEMM; elementwise stays the reference */
    k->sgemm = nbi_sgemm_c;
#if NBI_X86
    if (!strcmp(isa, "avx2")) {
        k->isa = "avx2";
        k->sgemm = nbi_sgemm_avx2;
        nbi_elementwise_avx2(k);
    } else if (!strcmp(isa, "avx512")) {
        k->isa = "avx512";
        k->sgemm = nbi_sgemm_avx512;
        nbi_elementwise_avx512(k);
    }
#endif
    return true;
}

/* The best instruction set this CPU runs, or a lower one named by NB_ISA; then the
 * elementwise entries go through the thread-splitting fronts. */
static void init_once(void) {
    fill_ref(&nbi_k_ref);
    static const char *const order[] = {"avx512", "avx2", "c", "ref"};
    const char *want = getenv("NB_ISA");
    int start = 0;
    for (int i = 0; i < 4; i++)
        if (want && !strcmp(want, order[i])) start = i;
    nbi_kernels raw = nbi_k_ref;
    for (int i = start; i < 4; i++)
        if (nbi_kernels_for(order[i], &raw)) break;
    nbi_k = raw;
    nbi_parallel_kernels(&nbi_k, &raw);
#ifdef NB_USE_CBLAS
    static char name[32];
    strcpy(name, nbi_k.isa);
    strcat(name, "+openblas");
    nbi_k.isa = name;
    nbi_k.sgemm = sgemm_cblas;
#endif
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
