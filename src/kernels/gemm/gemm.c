/* kernels/gemm/gemm.c — the BLIS-style GEMM driver: five loops around a micro-kernel.
 *
 *   for jc in N step NC:                      B block  kc x nc   (lives in L2)
 *     for pc in K step KC:                    pack B block; beta applies at pc = 0 only
 *       for ic in M step MC:                  pack A block mc x kc (alpha folded in)
 *         for ir in mc step MR:               A micro-panel MR x kc (lives in L1)
 *           for jr in nc step NR:             B micro-panel kc x NR (streams from L2)
 *             C[ir:ir+MR, jr:jr+NR] (+)= Ap[ir] Bp[jr]       the micro-kernel
 *
 * The order of the two inner loops follows BLIS with the roles of A and B swapped: our
 * micro-kernel loads B as vectors and broadcasts A, so the broadcast operand (A) is the one
 * kept in L1 and the vector operand (B) streams, as in BLIS's column-major kernels.
 *
 * Threads: one team per call. Every member packs a share of the panels into shared buffers,
 * meets the others at one barrier, then computes its own rectangle of micro-tiles. Packing
 * buffers alternate between two halves, so the next block can be packed while a slower
 * member still computes on the last one: one barrier per block, not two.
 *
 * Determinism: a C element's value depends only on the K blocking (fixed by the shape) and
 * on the micro-kernel's in-order sum, never on which thread computed it or on the tile
 * position. Which path runs (direct or blocked) also depends only on the shape. So results
 * are bitwise identical for any thread count. */
#define _POSIX_C_SOURCE 200809L
#include "kernels/gemm/gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "kernels/pool.h"

/* ---- packing buffers: one per calling thread, kept and grown ---------------------------- */

/* A training step calls GEMM many times with the same shapes; allocating its buffers each
 * time would cost more than a small GEMM. Each calling thread keeps one buffer, grown when a
 * larger problem comes and freed when the thread exits. */
typedef struct gemm_buf {
    size_t cap; /* floats */
    float *data;
} gemm_buf;

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_ok;

static void buf_destroy(void *p) {
    gemm_buf *b = p;
    nbi_free(b->data);
    nbi_free(b);
}

static void buf_key_init(void) { buf_key_ok = pthread_key_create(&buf_key, buf_destroy) == 0; }

static float *thread_buffer(size_t floats) {
    pthread_once(&buf_once, buf_key_init);
    if (!buf_key_ok) {
        nbi_error(NB_ERR_NOMEM, "nb_sgemm: no thread-specific key for the packing buffer");
        return NULL;
    }
    gemm_buf *b = pthread_getspecific(buf_key);
    if (b && b->cap >= floats) return b->data;
    size_t bytes;
    if (!nbi_mul_size(floats, sizeof(float), &bytes)) {
        nbi_error(NB_ERR_NOMEM, "nb_sgemm: packing buffer of %zu floats overflows", floats);
        return NULL;
    }
    float *d = nbi_malloc_for("nb_sgemm packing buffer", bytes);
    if (!d) return NULL;
    if (!b) {
        b = nbi_malloc_for("nb_sgemm packing buffer", sizeof *b);
        if (!b) {
            nbi_free(d);
            return NULL;
        }
        b->data = NULL;
        if (pthread_setspecific(buf_key, b) != 0) {
            nbi_free(d);
            nbi_free(b);
            nbi_error(NB_ERR_NOMEM, "nb_sgemm: cannot keep the packing buffer");
            return NULL;
        }
    }
    nbi_free(b->data);
    b->data = d;
    b->cap = floats;
    return d;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void nbi_gemm_scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

/* Splits a ma x np grid of micro-tiles over nt threads as tm x tn rectangles: the shape that
 * gives the busiest thread the fewest tiles, preferring column splits (each thread then
 * streams only its own part of the B block, which stays in its own L2). */
static void tile_grid(int64_t ma, int64_t np, int nt, int *tm, int *tn) {
    int64_t best = INT64_MAX;
    *tm = nt;
    *tn = 1;
    for (int d = nt; d >= 1; d--) {
        if (nt % d) continue;
        int64_t cost = ceil_div(ma, nt / d) * ceil_div(np, d);
        if (cost < best) {
            best = cost;
            *tn = d;
            *tm = nt / d;
        }
    }
}

typedef struct gemm_job {
    const nbi_gemm_arch *g;
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    int64_t mc, kc, nc;
    float *ap[2], *bp[2];
} gemm_job;

static void gemm_team(void *arg, const nbi_team *t) {
    const gemm_job *j = arg;
    const nbi_gemm_arch *g = j->g;
    const int64_t MR = g->mr, NR = g->nr;
    int64_t it = 0, bt = 0;
    for (int64_t jc = 0; jc < j->N; jc += j->nc) {
        int64_t ncur = min64(j->nc, j->N - jc), np = ceil_div(ncur, NR);
        for (int64_t pc = 0; pc < j->K; pc += j->kc, bt++) {
            int64_t kcur = min64(j->kc, j->K - pc);
            float beta = pc == 0 ? j->beta : 1.0f;
            float *bp = j->bp[bt & 1];
            for (int64_t ic = 0; ic < j->M; ic += j->mc, it++) {
                int64_t mcur = min64(j->mc, j->M - ic), ma = ceil_div(mcur, MR);
                float *ap = j->ap[it & 1];
                int64_t lo, hi;
                if (ic == 0) {
                    nbi_split_range(np, 1, t->tid, t->nt, &lo, &hi);
                    if (hi > lo)
                        g->pack_b(j->tb, j->B, j->ldb, pc, kcur, jc + lo * NR,
                                  min64(ncur, hi * NR) - lo * NR, bp + lo * NR * kcur);
                }
                nbi_split_range(ma, 1, t->tid, t->nt, &lo, &hi);
                if (hi > lo)
                    g->pack_a(j->ta, j->A, j->lda, ic + lo * MR, min64(mcur, hi * MR) - lo * MR,
                              pc, kcur, j->alpha, ap + lo * MR * kcur);
                nbi_team_barrier(t);

                int tm, tn;
                tile_grid(ma, np, t->nt, &tm, &tn);
                int64_t r0, r1, c0, c1;
                nbi_split_range(ma, 1, t->tid / tn, tm, &r0, &r1);
                nbi_split_range(np, 1, t->tid % tn, tn, &c0, &c1);
                for (int64_t ir = r0; ir < r1; ir++) {
                    int m = (int)min64(MR, mcur - ir * MR);
                    const float *a = ap + ir * MR * kcur;
                    float *crow = j->C + (ic + ir * MR) * j->ldc + jc;
                    for (int64_t jr = c0; jr < c1; jr++) {
                        int n = (int)min64(NR, ncur - jr * NR);
                        g->ukr(kcur, a, bp + jr * NR * kcur, beta, crow + jr * NR, j->ldc, m, n);
                    }
                }
            }
        }
    }
}

nb_status nbi_sgemm_arch(const nbi_gemm_arch *g, int ta, int tb, int64_t M, int64_t N,
                         int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                         int64_t ldb, float beta, float *C, int64_t ldc) {
    nb_status s = nbi_sgemm_check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
    if (s != NB_OK) return s;
    if (M == 0 || N == 0) return NB_OK;
    if (K == 0 || alpha == 0.0f) { /* BLAS: A and B are not read, C = beta C */
        nbi_gemm_scale_c(M, N, beta, C, ldc);
        return NB_OK;
    }
    /* The direct path, chosen by shape alone (never by thread count). */
    if (M <= g->small_mnk / N / K && K * N <= g->small_kn) {
        g->small(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return NB_OK;
    }

    gemm_job j = {g, ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, 0, 0, 0, {0}, {0}};
    /* Blocks as even as the largest sizes allow: K = 784 with KC = 384 gives 3 x 262, not
     * 384 + 384 + 16 (a thin last block wastes a pass over C). */
    j.kc = ceil_div(K, ceil_div(K, g->kc));
    j.nc = round_up(ceil_div(N, ceil_div(N, g->nc)), g->nr);
    j.mc = round_up(ceil_div(M, ceil_div(M, g->mc)), g->mr);
    size_t a_sz = (size_t)(j.mc * j.kc), b_sz = (size_t)(j.kc * j.nc);
    /* two halves of each, each half rounded to a cache line */
    a_sz = (a_sz + 15) & ~(size_t)15;
    b_sz = (b_sz + 15) & ~(size_t)15;
    float *buf = thread_buffer(2 * (a_sz + b_sz));
    if (!buf) return NB_ERR_NOMEM;
    j.ap[0] = buf;
    j.ap[1] = buf + a_sz;
    j.bp[0] = buf + 2 * a_sz;
    j.bp[1] = buf + 2 * a_sz + b_sz;

    double flops = 2.0 * (double)M * (double)N * (double)K;
    int64_t want = (int64_t)(flops / (double)g->par_flops);
    int64_t tiles = ceil_div(min64(M, j.mc), g->mr) * ceil_div(min64(N, j.nc), g->nr);
    if (want > tiles) want = tiles;
    if (want < 1) want = 1;
    if (want > NBI_MAX_THREADS) want = NBI_MAX_THREADS;
    nbi_parallel_team((int)want, gemm_team, &j);
    return NB_OK;
}

/* ---- strided-batched GEMM ----------------------------------------------------------------- */

typedef struct batch_job {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc, sa, sb, sc;
    atomic_int status;
} batch_job;

static void batch_task(void *arg, int64_t b) {
    batch_job *j = arg;
    nb_status s = nbi_k.sgemm(j->ta, j->tb, j->M, j->N, j->K, j->alpha, j->A + b * j->sa, j->lda,
                              j->B + b * j->sb, j->ldb, j->beta, j->C + b * j->sc, j->ldc);
    if (s != NB_OK) atomic_store(&j->status, (int)s);
}

nb_status nb_sgemm_batched(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, int64_t stride_a, const float *B,
                           int64_t ldb, int64_t stride_b, float beta, float *C, int64_t ldc,
                           int64_t stride_c, int64_t batch) {
    nbi_kernels_init();
    int ta = trans_a != 0, tb = trans_b != 0;
    if (batch < 0 || stride_a < 0 || stride_b < 0 || stride_c < 0)
        return nbi_error(NB_ERR_ARG,
                         "nb_sgemm_batched: batch=%lld and the strides (%lld, %lld, %lld) must "
                         "not be negative",
                         (long long)batch, (long long)stride_a, (long long)stride_b,
                         (long long)stride_c);
    nb_status s = nbi_sgemm_check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
    if (s != NB_OK) return s;
    if (batch == 0 || M == 0 || N == 0) return NB_OK;
    if (batch > 1 && stride_c < (M - 1) * ldc + N)
        return nbi_error(NB_ERR_ARG,
                         "nb_sgemm_batched: stride_c=%lld makes the %lld x %lld C matrices "
                         "overlap (ldc=%lld); it must be at least %lld",
                         (long long)stride_c, (long long)M, (long long)N, (long long)ldc,
                         (long long)((M - 1) * ldc + N));
    batch_job j = {ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, stride_a, stride_b,
                   stride_c, NB_OK};
    /* Many or small matrices: one thread per matrix (the GEMMs then run single-threaded,
     * nested calls never fan out). Few large ones: one after another, each on all threads.
     * Either way each C element is computed the same way. */
    double flops = 2.0 * (double)M * (double)N * (double)K;
    int nt = nbi_pool_threads();
    if (nt > 1 && (batch >= 4 * (int64_t)nt || flops < 4e6)) {
        nbi_parallel_for(batch, batch_task, &j);
    } else {
        for (int64_t b = 0; b < batch; b++) batch_task(&j, b);
    }
    s = (nb_status)atomic_load(&j.status);
    if (s != NB_OK)
        return nbi_error(s, "nb_sgemm_batched: %s while multiplying %lld x %lld x %lld matrices",
                         nb_status_str(s), (long long)M, (long long)K, (long long)N);
    return NB_OK;
}
