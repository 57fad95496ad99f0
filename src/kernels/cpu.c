/* kernels/cpu.c — the CPU back end: host memory, and entries that spread a kernel set's
 * single-threaded kernels over the thread pool.
 *
 * Each entry cuts a large array into pieces (at multiples of 16 elements, so that no two
 * threads write one cache line; whole rows for the row kernels) and runs the back end's
 * kernel set on each piece via nbi_parallel_for, on at most the back end's thread budget.
 * Small arrays go straight to the kernel: below PAR_MIN elements a wake-up costs more than it
 * saves. The kernels compute every element the same way wherever a piece starts or ends
 * (tails are masked vector code), so results do not depend on the thread count. */
#include "kernels/backend.h"

#include <pthread.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

#ifdef NB_USE_CBLAS
#include <cblas.h>
#endif

#define PAR_MIN ((int64_t)1 << 16) /* elements */
#define PIECE_MIN ((int64_t)1 << 14)

/* Pieces of at least PIECE_MIN elements, about four per thread so that a fast thread can
 * take more of them. Returns the piece length (a multiple of 16). */
static int64_t piece_len(int64_t n, int nt) {
    int64_t len = (n + 4 * nt - 1) / (4 * nt);
    if (len < PIECE_MIN) len = PIECE_MIN;
    return (len + 15) & ~(int64_t)15;
}

/* ---- memory ------------------------------------------------------------------------------- */

static void *cpu_alloc(const nbi_backend *be, size_t bytes) {
    (void)be;
    return nbi_malloc_for("cpu", bytes);
}

static void cpu_free(const nbi_backend *be, void *p) {
    (void)be;
    nbi_free(p);
}

static void cpu_copy(const nbi_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

/* ---- unary -------------------------------------------------------------------------------- */

typedef struct unary_job {
    const nbi_kernels *k;
    int id;
    int64_t n, len;
    const float *x, *y, *gy, *p;
    float *out;
} unary_job;

static void unary_fwd_task(void *arg, int64_t t) {
    const unary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    j->k->unary[j->id](hi - lo, j->x + lo, j->out + lo, j->p);
}

static void unary_bwd_task(void *arg, int64_t t) {
    const unary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    j->k->unary_bwd[j->id](hi - lo, j->x ? j->x + lo : NULL, j->y ? j->y + lo : NULL, j->gy + lo,
                           j->out + lo, j->p);
}

static void cpu_unary(const nbi_backend *be, int id, int64_t n, const float *x, float *y,
                      const float *p) {
    int nt = n < PAR_MIN ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        be->k->unary[id](n, x, y, p);
        return;
    }
    unary_job j = {be->k, id, n, piece_len(n, nt), x, NULL, NULL, p, y};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, unary_fwd_task, &j);
}

static void cpu_unary_bwd(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                          const float *gy, float *gx, const float *p) {
    int nt = n < PAR_MIN ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        be->k->unary_bwd[id](n, x, y, gy, gx, p);
        return;
    }
    unary_job j = {be->k, id, n, piece_len(n, nt), x, y, gy, p, gx};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, unary_bwd_task, &j);
}

/* ---- binary ------------------------------------------------------------------------------- */

typedef struct binary_job {
    const nbi_kernels *k;
    int id;
    int64_t n, len, sa, sb;
    const float *a, *b;
    float *y;
} binary_job;

static void binary_task(void *arg, int64_t t) {
    const binary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    j->k->binary[j->id](hi - lo, j->a + lo * j->sa, j->sa, j->b + lo * j->sb, j->sb, j->y + lo);
}

static void cpu_binary(const nbi_backend *be, int id, int64_t n, const float *a, int64_t sa,
                       const float *b, int64_t sb, float *y) {
    int nt = n < PAR_MIN ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        be->k->binary[id](n, a, sa, b, sb, y);
        return;
    }
    binary_job j = {be->k, id, n, piece_len(n, nt), sa, sb, a, b, y};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, binary_task, &j);
}

/* ---- rows: softmax and log-softmax -------------------------------------------------------- */

typedef struct rows_job {
    nbi_rows_fn fn;
    int64_t rows, cols, per;
    const float *x;
    float *y;
} rows_job;

static void rows_task(void *arg, int64_t t) {
    const rows_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->rows ? lo + j->per : j->rows;
    j->fn(hi - lo, j->cols, j->x + lo * j->cols, j->y + lo * j->cols);
}

static void rows(const nbi_backend *be, nbi_rows_fn fn, int64_t r, int64_t cols, const float *x,
                 float *y) {
    int nt = r < 2 || r * cols < PAR_MIN ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        fn(r, cols, x, y);
        return;
    }
    int64_t per = piece_len(r * cols, nt) / (cols > 0 ? cols : 1);
    if (per < 1) per = 1;
    rows_job j = {fn, r, cols, per, x, y};
    nbi_parallel_for(nt, (r + per - 1) / per, rows_task, &j);
}

static void cpu_softmax(const nbi_backend *be, int64_t r, int64_t cols, const float *x, float *y) {
    rows(be, be->k->softmax, r, cols, x, y);
}

static void cpu_log_softmax(const nbi_backend *be, int64_t r, int64_t cols, const float *x,
                            float *y) {
    rows(be, be->k->log_softmax, r, cols, x, y);
}

static void cpu_softmax_bwd(const nbi_backend *be, int64_t r, int64_t cols, const float *y,
                            const float *gy, float *gx) {
    be->k->softmax_bwd(r, cols, y, gy, gx);
}

static void cpu_log_softmax_bwd(const nbi_backend *be, int64_t r, int64_t cols, const float *y,
                                const float *gy, float *gx) {
    be->k->log_softmax_bwd(r, cols, y, gy, gx);
}

/* ---- matrix products ---------------------------------------------------------------------- */

static nb_status cpu_sgemm(const nbi_backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K,
                           float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                           float beta, float *C, int64_t ldc) {
    return be->k->sgemm(be->threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static nb_status cpu_sgemm_batched(const nbi_backend *be, int ta, int tb, int64_t M, int64_t N,
                                   int64_t K, float alpha, const float *A, int64_t lda,
                                   int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                                   float beta, float *C, int64_t ldc, int64_t stride_c,
                                   int64_t batch) {
    return nbi_sgemm_batched_with(be->k->sgemm, be->threads, ta, tb, M, N, K, alpha, A, lda,
                                  stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
}

void nbi_backend_cpu(nbi_backend *be, const nbi_kernels *k, int threads) {
    memset(be, 0, sizeof *be);
    be->threads = threads;
    be->k = k;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->copy = cpu_copy;
    be->to_host = cpu_copy;
    be->from_host = cpu_copy;
    be->unary = cpu_unary;
    be->unary_bwd = cpu_unary_bwd;
    be->binary = cpu_binary;
    be->softmax = cpu_softmax;
    be->log_softmax = cpu_log_softmax;
    be->softmax_bwd = cpu_softmax_bwd;
    be->log_softmax_bwd = cpu_log_softmax_bwd;
    be->sgemm = cpu_sgemm;
    be->sgemm_batched = cpu_sgemm_batched;
    nbi_backend_cpu_seq(be); /* seqops: the sequence ops' entries */
    /* int8: quantized inference's entries */
    nbi_backend_cpu_int8(be);
}

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
