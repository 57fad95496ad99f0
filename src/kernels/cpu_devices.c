/* kernels/cpu_devices.c — the CPU devices by name ("cpu", "cpu:avx2", ...): the kernel set
 * each runs (nbi_backend_init over nbi_backend_cpu), BLAS=openblas's route of the default
 * device's GEMM through CBLAS, and the default back end behind the context-free calls
 * (nb_sgemm, nb_kernel_isa). The entries themselves are in kernels/cpu.c. */
#include "kernels/backend.h"

#include <pthread.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

#ifdef NB_USE_CBLAS
#include <cblas.h>
#endif

/* ---- BLAS=openblas: GEMM through CBLAS ---------------------------------------------------- */

#ifdef NB_USE_CBLAS
/* Row-major CBLAS after nabla's own argument checks; the thread budget is OpenBLAS's own. */
static nb_status sgemm_cblas(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                             float *C, int64_t ldc) {
    (void)nt;
    nb_status s = nbi_sgemm_check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
    if (s != NB_OK) return s;
    if (M == 0 || N == 0) return NB_OK;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
        ldc > INT32_MAX)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_sgemm: %lld x %lld x %lld is beyond CBLAS's 32-bit sizes",
                         (long long)M, (long long)K, (long long)N);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return NB_OK;
}

static nb_status cpu_sgemm_cblas(const nbi_backend *be, int ta, int tb, int64_t M, int64_t N,
                                 int64_t K, float alpha, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    return sgemm_cblas(be->threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static nb_status cpu_sgemm_batched_cblas(const nbi_backend *be, int ta, int tb, int64_t M,
                                         int64_t N, int64_t K, float alpha, const float *A,
                                         int64_t lda, int64_t stride_a, const float *B, int64_t ldb,
                                         int64_t stride_b, float beta, float *C, int64_t ldc,
                                         int64_t stride_c, int64_t batch) {
    return nbi_sgemm_batched_with(sgemm_cblas, be->threads, ta, tb, M, N, K, alpha, A, lda,
                                  stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
}
#endif

/* ---- devices ------------------------------------------------------------------------------ */

static const char *const isas[] = {"ref", "c", "avx2", "avx512"};
static const char *const names[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512"};
static const char *const needs[] = {"", "", "AVX2 and FMA", "AVX-512F"};

const char *nbi_backend_devices(void) {
    return "cpu, cpu:ref, cpu:c, cpu:avx2, cpu:avx512";
}

nb_status nbi_backend_init(nbi_backend *be, const char *device, int threads, const char *what) {
    if (threads < 0)
        return nbi_error(NB_ERR_ARG, "%s: threads=%d must be >= 0 (0 = the whole pool)", what,
                         threads);
    int plain = !device || !*device || !strcmp(device, "cpu");
    const char *isa = NULL;
    int at = -1;
    if (plain) {
        isa = nbi_best_isa();
        for (int i = 0; i < 4; i++)
            if (!strcmp(isa, isas[i])) at = i;
    } else {
        for (int i = 0; i < 4; i++)
            if (!strcmp(device, names[i])) at = i;
        if (at < 0)
            return nbi_error(NB_ERR_ARG, "%s: unknown device '%s' (this build knows: %s)", what,
                             device, nbi_backend_devices());
        isa = isas[at];
    }
    const nbi_kernels *k = nbi_kernel_set(isa);
    if (!k) {
#if NBI_X86
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: device '%s' needs %s, which this CPU lacks", what,
                         device, needs[at]);
#else
        (void)needs;
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: device '%s' is x86-only and this build is not for x86 (or was "
                         "built with -DNB_PORTABLE)",
                         what, device);
#endif
    }
    nbi_backend_cpu(be, k, threads);
    be->name = names[at];
#ifdef NB_USE_CBLAS
    if (plain) { /* BLAS=openblas routes the default device's GEMM to OpenBLAS */
        static const char *const blas_names[] = {"cpu:ref+openblas", "cpu:c+openblas",
                                                 "cpu:avx2+openblas", "cpu:avx512+openblas"};
        be->name = blas_names[at];
        be->sgemm = cpu_sgemm_cblas;
        be->sgemm_batched = cpu_sgemm_batched_cblas;
    }
#endif
    return NB_OK;
}

/* ---- the context-free calls ----------------------------------------------------------------- */

static nbi_backend default_be;

static void default_once(void) {
    nb_status s = nbi_backend_init(&default_be, "cpu", 0, "nabla");
    NBI_ASSERT(s == NB_OK); /* "cpu" always has a kernel set: ref at least */
}

const nbi_backend *nbi_backend_default(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, default_once);
    return &default_be;
}

const char *nb_kernel_isa(void) {
    const char *n = nbi_backend_default()->name;
    return n + 4; /* after "cpu:" */
}

nb_status nb_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc) {
    const nbi_backend *be = nbi_backend_default();
    return be->sgemm(be, trans_a != 0, trans_b != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

nb_status nb_sgemm_batched(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, int64_t stride_a, const float *B,
                           int64_t ldb, int64_t stride_b, float beta, float *C, int64_t ldc,
                           int64_t stride_c, int64_t batch) {
    const nbi_backend *be = nbi_backend_default();
    return be->sgemm_batched(be, trans_a != 0, trans_b != 0, M, N, K, alpha, A, lda, stride_a, B,
                             ldb, stride_b, beta, C, ldc, stride_c, batch);
}
