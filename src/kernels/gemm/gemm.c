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
 * Threads: the loop nest becomes a numbered stream of pack and compute tasks that the
 * caller and any pool workers that arrive claim in order (see "tasks" below); packing
 * buffers alternate between two halves so that the next block is packed while the last one
 * is still being multiplied. Nobody waits for a thread that has not started.
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

/* ---- the blocked GEMM as a stream of claimed tasks -------------------------------------------
 *
 * The loop nest is cut into block iterations s = 0, 1, ... (one per (jc, pc, ic)), each with
 * pack tasks (panels of the B block when ic = 0, panels of the A block) followed by compute
 * tasks (rectangles of micro-tiles). All tasks of all iterations are numbered in that order
 * and claimed from one counter, so every member walks the same sequence and a task's
 * dependencies always lie at lower numbers, claimed by running threads: no deadlock, and no
 * wait for a thread that has not started.
 *   compute task of s  needs every pack task of s done;
 *   pack task of s     overwrites the buffer half that iteration s-2 read (A) or that the
 *                      previous B block's iterations read, so it needs every compute task of
 *                      iterations <= s-2 done. Waiting for s-2 and s-3 suffices: by
 *                      induction each of those waited for the ones before.
 *   compute task of s  also updates the C tiles that the previous K block of the same
 *                      (jc, ic) updated; that iteration is <= s-2 (done, see above) unless M
 *                      fits one MC block, when it is s-1: then it waits for s-1 too.
 * Completion is counted per iteration in a ring of RING counters, each accumulating the
 * iterations congruent to it; the target for iteration s is the sum of those counts up to s
 * (each member tracks it while walking). No task of s + RING can finish before all of s, so a
 * counter reaching its target means exactly "all of s done". */
#define RING 8

typedef struct padded_counter {
    _Alignas(64) _Atomic int64_t v;
} padded_counter;

/* The default B provider: the arch's packer over a stored matrix. */
typedef struct matrix_src {
    const nbi_gemm_arch *g;
    int tb;
    const float *B;
    int64_t ldb;
} matrix_src;

static void pack_matrix(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n, int nr,
                        float *dst) {
    const matrix_src *m = ctx;
    (void)nr; /* the arch's own NR */
    m->g->pack_b(m->tb, m->B, m->ldb, p0, k, j0, n, dst);
}

typedef struct gemm_job {
    const nbi_gemm_arch *g;
    int ta;
    int64_t M, N, K;
    float alpha, beta;
    const float *A;
    float *C;
    int64_t lda, ldc;
    nbi_gemm_bsrc src; /* packs B's panels */
    matrix_src mat;    /* src's context when B is a matrix */
    int64_t mc, kc, nc;
    float *ap[2], *bp[2];
    int64_t ga, gb;   /* panels per A / B pack task */
    int64_t ctasks;   /* compute tasks wanted per iteration */
    int64_t total;    /* tasks in all */
    int a_in_place;   /* alpha 1: the kernel reads A where it lies (at_in_place) */
    padded_counter next, pdone[RING], cdone[RING];
} gemm_job;

/* One block iteration and its task counts. */
typedef struct blk {
    int64_t s, jc, pc, ic, bt;
    int64_t ncur, kcur, mcur, np, ma;
    int64_t nbp, nap, nct, nrt; /* B pack, A pack tasks; compute grid nrt x nct */
} blk;

static void blk_counts(const gemm_job *j, blk *b) {
    b->ncur = min64(j->nc, j->N - b->jc);
    b->kcur = min64(j->kc, j->K - b->pc);
    b->mcur = min64(j->mc, j->M - b->ic);
    b->np = ceil_div(b->ncur, j->g->nr);
    b->ma = ceil_div(b->mcur, j->g->mr);
    b->nbp = b->ic == 0 ? ceil_div(b->np, j->gb) : 0;
    b->nap = ceil_div(b->ma, j->ga);
    /* split columns first: a member then streams only part of the B block */
    b->nct = min64(b->np, j->ctasks);
    b->nrt = min64(b->ma, ceil_div(j->ctasks, b->nct));
}

static void blk_first(const gemm_job *j, blk *b) {
    memset(b, 0, sizeof *b);
    blk_counts(j, b);
}

static int blk_next(const gemm_job *j, blk *b) {
    b->s++;
    b->ic += j->mc;
    if (b->ic >= j->M) {
        b->ic = 0;
        b->pc += j->kc;
        b->bt++;
        if (b->pc >= j->K) {
            b->pc = 0;
            b->jc += j->nc;
            if (b->jc >= j->N) return 0;
        }
    }
    blk_counts(j, b);
    return 1;
}

static void pack_task(const gemm_job *j, const blk *b, int64_t k) {
    const nbi_gemm_arch *g = j->g;
    int64_t lo, hi;
    if (k < b->nbp) {
        lo = k * j->gb;
        hi = min64(b->np, lo + j->gb);
        j->src.pack(j->src.ctx, b->pc, b->kcur, b->jc + lo * g->nr,
                    min64(b->ncur, hi * g->nr) - lo * g->nr, g->nr,
                    j->bp[b->bt & 1] + lo * g->nr * b->kcur);
    } else if (!j->a_in_place) {
        lo = (k - b->nbp) * j->ga;
        hi = min64(b->ma, lo + j->ga);
        g->pack_a(j->ta, j->A, j->lda, b->ic + lo * g->mr, min64(b->mcur, hi * g->mr) - lo * g->mr,
                  b->pc, b->kcur, j->alpha, j->ap[b->s & 1] + lo * g->mr * b->kcur);
    }
}

/* With alpha 1 the packed panel would hold A's own floats (x * 1.0f is x), so the kernel
 * reads them where they lie and A is not packed: op(A) = Aᵀ, MR per step lda apart (ukr_at,
 * A_AT); op(A) = A, row i at lda apart, step p at column p (ukr_an, A_AN). Returns A_PACKED,
 * A_AT or A_AN. */
enum { A_PACKED, A_AT, A_AN };
static int at_in_place(const nbi_gemm_arch *g, int ta, float alpha) {
    if (alpha != 1.0f) return A_PACKED;
    if (ta) return g->ukr_at ? A_AT : A_PACKED;
    return g->ukr_an ? A_AN : A_PACKED;
}

/* One row panel of C (m rows from row i of op(A), crow) times B's packed column panels
 * [c0, c1) of a block n columns wide, K block pc of depth kc: the packed kernel on panel a,
 * or A where it lies (at: A_AT or A_AN, see at_in_place). With A_AN, the next row panel's
 * lines of this K block are first prefetched into L2: pack_a prefetches them a panel ahead
 * (transpose_panel), and without it the first column panel took 12 rows from memory as
 * misses (2048 x 128 x 128 from memory: ukr_an 1.11x the time of pack_a + ukr, 1.00x with). */
static inline void row_panel(const gemm_job *j, int64_t kc, const float *a, int at, int64_t pc,
                             int64_t i, const float *bp, int64_t c0, int64_t c1, int64_t n,
                             float beta, float *crow, int m) {
    const nbi_gemm_arch *g = j->g;
    const int64_t NR = g->nr, MR = g->mr;
    const float *ai = at == A_AN ? j->A + i * j->lda + pc : j->A + pc * j->lda + i;
    if (at == A_AN)
        for (int64_t r = i + MR; r < i + 2 * MR && r < j->M; r++)
            for (int64_t p = 0; p < kc; p += 16)
                __builtin_prefetch(ai + (r - i) * j->lda + p, 0, 2);
    for (int64_t jr = c0; jr < c1; jr++) {
        const int nn = (int)min64(NR, n - jr * NR);
        if (at == A_AT)
            g->ukr_at(kc, ai, j->lda, bp + jr * NR * kc, beta, crow + jr * NR, j->ldc, m, nn);
        else if (at == A_AN)
            g->ukr_an(kc, ai, j->lda, bp + jr * NR * kc, beta, crow + jr * NR, j->ldc, m, nn);
        else
            g->ukr(kc, a, bp + jr * NR * kc, beta, crow + jr * NR, j->ldc, m, nn);
    }
}

static void compute_task(const gemm_job *j, const blk *b, int64_t k) {
    const nbi_gemm_arch *g = j->g;
    const int64_t MR = g->mr, kc = b->kcur;
    float beta = b->pc == 0 ? j->beta : 1.0f; /* beta scales C once, in the first K block */
    const float *ap = j->ap[b->s & 1], *bp = j->bp[b->bt & 1];
    int64_t r0, r1, c0, c1;
    nbi_split_range(b->ma, 1, (int)(k / b->nct), (int)b->nrt, &r0, &r1);
    nbi_split_range(b->np, 1, (int)(k % b->nct), (int)b->nct, &c0, &c1);
    for (int64_t ir = r0; ir < r1; ir++)
        row_panel(j, kc, ap + ir * MR * kc, j->a_in_place, b->pc, b->ic + ir * MR, bp, c0, c1,
                  b->ncur, beta, j->C + (b->ic + ir * MR) * j->ldc + b->jc,
                  (int)min64(MR, b->mcur - ir * MR));
}

static void gemm_member(void *arg) {
    gemm_job *j = arg;
    int64_t ptarget[RING] = {0}, ctarget[RING] = {0};
    int64_t claim = atomic_fetch_add(&j->next.v, 1), base = 0;
    blk b;
    blk_first(j, &b);
    while (claim < j->total) {
        int r = (int)(b.s % RING);
        int64_t npk = b.nbp + b.nap, end = base + npk + b.nct * b.nrt;
        ptarget[r] += npk;
        ctarget[r] += b.nct * b.nrt;
        while (claim < end) {
            int64_t k = claim - base;
            if (k < npk) {
                if (b.s >= 2) nbi_wait_count(&j->cdone[(b.s - 2) % RING].v, ctarget[(b.s - 2) % RING]);
                if (b.s >= 3) nbi_wait_count(&j->cdone[(b.s - 3) % RING].v, ctarget[(b.s - 3) % RING]);
                pack_task(j, &b, k);
                atomic_fetch_add(&j->pdone[r].v, 1);
            } else {
                nbi_wait_count(&j->pdone[r].v, ptarget[r]);
                /* C's tiles were last updated by the previous K block of this (jc, ic);
                 * when that is iteration s-1 (a single ic block) it may still run. */
                if (b.pc > 0 && j->mc >= j->M)
                    nbi_wait_count(&j->cdone[(b.s - 1) % RING].v, ctarget[(b.s - 1) % RING]);
                compute_task(j, &b, k - npk);
                atomic_fetch_add(&j->cdone[r].v, 1);
            }
            claim = atomic_fetch_add(&j->next.v, 1);
        }
        base = end;
        if (!blk_next(j, &b)) break;
    }
}

/* ---- short shapes on several threads: C split, each member packing its own panels -------
 *
 * When M fits one MC block, every K block of the task stream above updates the same C tiles
 * as the one before, so its compute tasks wait for all of the previous block's: a barrier
 * per K block, with whatever imbalance the tasks leave (64 x 784 x 256 on two threads: three
 * of them in 0.2 ms). Such shapes, and those whose N fits one NC block, run instead as
 * pieces of C claimed from one counter, each piece a whole product over all of K:
 *   by columns (M <= MC): a piece is a range of B's column panels; each member packs all of
 *     alpha op(A) once (its first piece; nothing where A is read in place, at_in_place), then
 *     for each K block packs the piece's B panels and multiplies;
 *   by rows (N <= NC): a piece is a range of A's row panels; each member packs all of op(B)
 *     once, then for each K block packs the piece's A panels and multiplies.
 * The duplicated operand (the smaller of M x K and K x N, at most SPLIT_DUP floats) is the
 * price of having no waits at all: a member only claims, packs and multiplies, and nobody
 * waits for a thread that has not started (the caller takes every piece if need be).
 * Few rows (M <= IN_PLACE_M) with B as stored go by columns on any number of threads, one
 * included, with B not packed at all: the kernel reads each kc x NR panel of B where it
 * lies (ukr_b), column panel by column panel, so that the panel stays in cache while the
 * few row panels of A pass over it. Packing B would copy the whole matrix for at most eight
 * uses of each element (the char-LSTM's backward step, 32 x 1024 x 256: its 1 MB weight
 * copied for 17 MFLOP). Only a B that the caches hold (IN_PLACE_KN, below).
 * Bits: the K blocking, the packers and the micro-kernel's arithmetic are the stream's
 * (ukr_b is the packed kernel reading B elsewhere), beta applies in the first K block, and
 * the tiles' in-order sums do not depend on the tile's place — the same C as the stream
 * path, on any number of threads. */
typedef struct split_job {
    const gemm_job *j; /* the problem and its blocking (its buffers unused) */
    int by_cols;
    int64_t panels, pieces; /* pieces of q or q + 1 panels (split_bounds) */
    int64_t per;            /* panels of the widest piece */
    int64_t mpad, npad; /* M and N rounded up to MR and NR */
    const float *b;     /* by columns: op(B) as stored, read in place (NULL: packed) */
    int at;             /* alpha 1, B packed: A read in place (at_in_place), not packed */
    int64_t ldb;
    size_t work;        /* floats of each member's buffer: the whole operand, then one piece's */
    _Alignas(64) _Atomic uint64_t claims; /* nbi_claim's */
} split_job;

#define SPLIT_DUP(g) (4 * (g)->mc * (g)->kc)
/* On several threads, pieces only when the operand each member packs whole is at most one A
 * block (MC·KC floats, what L2 holds beside the pieces' panels): 512 x 512 x 512 (B whole,
 * 1 MB a member) ran slower by pieces than on the task stream, whose members share B's panels */
#define SPLIT_DUP_THREADS(g) ((g)->mc * (g)->kc)
/* B read in place for M up to this, and for B of at most this many floats: a B that must
 * come from memory is faster packed (the packer's loads, with no arithmetic between them,
 * keep more misses in flight than the kernel's; 64 x 4096 x 512 took 18% longer in place,
 * 25 x 32 x 50176 67%), one that cache holds is faster in place */
#define IN_PLACE_M(g) (8 * (g)->mr)
#define IN_PLACE_KN(g) (2 * (g)->kc * (g)->nc)

/* The whole of the shared operand, K block by K block (block pc at pad x pc). */
static void split_pack_whole(const split_job *s, float *dst) {
    const gemm_job *j = s->j;
    for (int64_t pc = 0; pc < j->K; pc += j->kc) {
        int64_t kcur = min64(j->kc, j->K - pc);
        if (s->by_cols)
            j->g->pack_a(j->ta, j->A, j->lda, 0, j->M, pc, kcur, j->alpha, dst + s->mpad * pc);
        else
            j->src.pack(j->src.ctx, pc, kcur, 0, j->N, j->g->nr, dst + s->npad * pc);
    }
}

/* Piece t's panels [*lo, *hi): q = panels / pieces each, and the r = panels % pieces wider
 * ones (q + 1) at both ends, alternately (0, p-1, 1, p-2, ...): the caller claims from the
 * front and workers from the back (nbi_claim), so both start on wide pieces and meet on
 * narrow ones. */
static void split_bounds(const split_job *s, int64_t t, int64_t *lo, int64_t *hi) {
    const int64_t p = s->pieces, q = s->panels / p, r = s->panels % p;
    const int64_t front = (r + 1) / 2, back = p - r / 2; /* wide: t < front or t >= back */
    *lo = t * q + min64(t, front) + (t > back ? t - back : 0);
    *hi = *lo + q + (t < front || t >= back);
}

static void split_piece(const split_job *s, const float *whole, float *piece, int64_t t) {
    const gemm_job *j = s->j;
    const nbi_gemm_arch *g = j->g;
    const int64_t MR = g->mr, NR = g->nr;
    int64_t lo, hi;
    split_bounds(s, t, &lo, &hi);
    /* the piece's rows [i0, i0 + m) and columns [j0, j0 + n) of C */
    int64_t i0 = 0, m = j->M, j0 = 0, n = j->N;
    if (s->by_cols) {
        j0 = lo * NR;
        n = min64(j->N, hi * NR) - j0;
    } else {
        i0 = lo * MR;
        m = min64(j->M, hi * MR) - i0;
    }
    for (int64_t pc = 0; pc < j->K; pc += j->kc) {
        int64_t kc = min64(j->kc, j->K - pc);
        float beta = pc == 0 ? j->beta : 1.0f;
        if (s->b) { /* B in place: each panel's kc x NR block stays in cache over all rows */
            const float *ap = whole + s->mpad * pc, *bp = s->b + pc * s->ldb + j0;
            for (int64_t jr = 0; jr * NR < n; jr++) {
                int nn = (int)min64(NR, n - jr * NR);
                for (int64_t ir = 0; ir * MR < m; ir++)
                    g->ukr_b(kc, ap + ir * MR * kc, bp + jr * NR, s->ldb, beta,
                             j->C + ir * MR * j->ldc + j0 + jr * NR, j->ldc,
                             (int)min64(MR, m - ir * MR), nn);
            }
            continue;
        }
        const float *ap = NULL, *bp;
        if (s->by_cols) {
            j->src.pack(j->src.ctx, pc, kc, j0, n, (int)NR, piece);
            if (!s->at) ap = whole + s->mpad * pc;
            bp = piece;
        } else {
            if (!s->at) g->pack_a(j->ta, j->A, j->lda, i0, m, pc, kc, j->alpha, piece);
            ap = piece;
            bp = whole + s->npad * pc;
        }
        for (int64_t ir = 0; ir * MR < m; ir++)
            row_panel(j, kc, s->at ? NULL : ap + ir * MR * kc, s->at, pc, i0 + ir * MR, bp, 0,
                      (n + NR - 1) / NR, n, beta, j->C + (i0 + ir * MR) * j->ldc + j0,
                      (int)min64(MR, m - ir * MR));
    }
}

static void split_member(void *arg) {
    split_job *s = arg;
    /* the caller's buffer was made large enough before the job started; a worker that
     * cannot have one leaves the pieces to the others */
    float *buf = thread_buffer(s->work);
    if (!buf) return;
    size_t whole = (size_t)(s->by_cols ? s->mpad : s->npad) * (size_t)s->j->K;
    int packed = 0;
    for (int64_t t; (t = nbi_claim(&s->claims, s->pieces)) >= 0;) {
        if (!packed) { /* by columns with A in place there is nothing to share */
            if (!s->by_cols || !s->at) split_pack_whole(s, buf);
            packed = 1;
        }
        split_piece(s, buf, buf + ((whole + 15) & ~(size_t)15), t);
    }
}

/* Runs j on up to `want` threads by pieces when its shape suits (see above); returns 0 to
 * leave it to the task stream. `b` (with ldb): op(B) as stored, to be read in place. */
static int split_path(const gemm_job *j, int64_t want, const float *b, int64_t ldb, nb_status *st) {
    const nbi_gemm_arch *g = j->g;
    const int64_t MR = g->mr, NR = g->nr;
    int64_t mpad = round_up(j->M, MR), npad = round_up(j->N, NR);
    int64_t dup_a = j->M <= j->mc ? mpad * j->K : INT64_MAX;
    int64_t dup_b = j->N <= j->nc ? npad * j->K : INT64_MAX;
    int64_t dup = min64(dup_a, dup_b);
    split_job s = {.j = j, .by_cols = dup_a <= dup_b, .mpad = mpad, .npad = npad};
    if (b && dup_a <= SPLIT_DUP(g) && mpad <= IN_PLACE_M(g)) { /* B in place, any threads */
        s.by_cols = 1;
        s.b = b;
        s.ldb = ldb;
        dup = dup_a;
    } else if (want < 2 || dup > SPLIT_DUP_THREADS(g)) {
        return 0;
    } else {
        s.at = at_in_place(g, j->ta, j->alpha); /* as the stream (blocked_path) */
    }
    /* a few pieces per member, none wider than a block, as even as the panels allow (widths
     * differ by one at most: split_bounds) and a multiple of the members where a block
     * forces more: 66 row panels (784 x 256 x 64, the MLP's dW) went as 7 x 9 + 3, 36 + 30
     * on two threads, now as 2 x 9 + 6 x 8, 33 + 33 */
    int64_t panels = s.by_cols ? npad / NR : mpad / MR;
    int64_t maxper = s.by_cols ? j->nc / NR : j->mc / MR;
    int64_t pieces = min64(panels, 4 * want);
    if (pieces * maxper < panels) pieces = min64(panels, round_up(ceil_div(panels, maxper), want));
    s.panels = panels;
    s.pieces = pieces;
    s.per = ceil_div(panels, pieces);
    size_t whole = (size_t)dup;
    size_t piece = s.b ? 0 : (size_t)(j->kc * s.per * (s.by_cols ? NR : MR));
    s.work = ((whole + 15) & ~(size_t)15) + piece;
    atomic_init(&s.claims, 0);
    if (!thread_buffer(s.work)) {
        *st = NB_ERR_NOMEM;
        return 1;
    }
    nbi_parallel_run((int)min64(want, s.pieces), split_member, &s);
    *st = NB_OK;
    return 1;
}

/* ---- the direct path ---------------------------------------------------------------------- */

/* Chosen by shape alone, never by thread count (so results do not depend on it):
 *   tiny problems, where packing costs more than the multiplication;
 *   a single column of micro-tiles (N <= NR), where each packed A panel would be read once;
 *   a single row of micro-tiles (M <= MR) with B as stored, where each packed B panel would.
 * A Bᵀ is transposed into a buffer of at most NBI_DIRECT_KN floats first. */
static inline int use_direct(const nbi_gemm_arch *g, int tb, int64_t M, int64_t N, int64_t K) {
    /* sizes below 2^20 cannot overflow the products (and need no division: this runs on
     * every call, and calls of a few nanoseconds matter for tiny networks) */
    int small_dims = (M | N | K) < ((int64_t)1 << 20);
    if (tb && (!small_dims || K * N > NBI_DIRECT_KN)) return 0;
    if (small_dims ? M * N * K <= g->small_mnk : M <= g->small_mnk / N / K) return 1;
    return N <= g->nr || (M <= g->mr && !tb);
}

typedef struct direct_job {
    const nbi_gemm_arch *g;
    const nbi_gemm_call *c;
    int64_t rows; /* per task, a multiple of MR */
} direct_job;

static void direct_task(void *arg, int64_t t) {
    const direct_job *j = arg;
    int64_t i0 = t * j->rows;
    j->g->direct(j->c, i0, min64(j->c->M, i0 + j->rows));
}

static nb_status direct_path(const nbi_gemm_arch *g, const nbi_gemm_call *call) {
    nbi_gemm_call c = *call;
    float bt[NBI_DIRECT_KN];
    if (c.tb) { /* op(B) = Bᵀ, K x N: make its rows contiguous */
        for (int64_t p = 0; p < c.K; p++)
            for (int64_t j = 0; j < c.N; j++) bt[p * c.N + j] = c.B[j * c.ldb + p];
        c.B = bt;
        c.ldb = c.N;
        c.tb = 0;
    }
    int64_t panels = ceil_div(c.M, g->mr);
    if (panels < 2) { /* one row of micro-panels: nothing to share (tiny networks' case) */
        g->direct(&c, 0, c.M);
        return NB_OK;
    }
    double flops = 2.0 * (double)c.M * (double)c.N * (double)c.K;
    int64_t want = (int64_t)(flops / (double)g->par_flops);
    int nt = nbi_threads_for(c.nt);
    if (want > nt) want = nt;
    if (want <= 1) {
        g->direct(&c, 0, c.M);
        return NB_OK;
    }
    /* a few row blocks per thread, whole micro-panels each */
    int64_t tasks = min64(panels, 4 * want);
    direct_job j = {g, &c, ceil_div(panels, tasks) * g->mr};
    nbi_parallel_for((int)want, ceil_div(c.M, j.rows), direct_task, &j);
    return NB_OK;
}

/* ---- the blocked path --------------------------------------------------------------------- */

/* The job's problem and blocking; B is c's matrix when src is NULL, else src's panels. */
static void job_init(gemm_job *j, const nbi_gemm_arch *g, const nbi_gemm_call *c,
                     const nbi_gemm_bsrc *src, int64_t mc, int64_t kc, int64_t nc) {
    memset(j, 0, sizeof *j);
    *j = (gemm_job){.g = g,
                    .ta = c->ta,
                    .M = c->M,
                    .N = c->N,
                    .K = c->K,
                    .alpha = c->alpha,
                    .beta = c->beta,
                    .A = c->A,
                    .C = c->C,
                    .lda = c->lda,
                    .ldc = c->ldc,
                    .mc = mc,
                    .kc = kc,
                    .nc = nc};
    if (src) {
        j->src = *src;
    } else {
        j->mat = (matrix_src){g, c->tb, c->B, c->ldb};
        j->src = (nbi_gemm_bsrc){pack_matrix, &j->mat, c->tb};
    }
}

/* B is c's matrix when src is NULL, else src's panels. */
static nb_status blocked_path(const nbi_gemm_arch *g, const nbi_gemm_call *c,
                              const nbi_gemm_bsrc *src) {
    const int64_t M = c->M, N = c->N, K = c->K;
    /* Blocks as even as the largest sizes allow: K = 784 with KC = 384 gives 3 x 262, not
     * 384 + 384 + 16 (a thin last block wastes a pass over C). */
    int64_t kc = ceil_div(K, ceil_div(K, g->kc));
    int64_t nc = round_up(ceil_div(N, ceil_div(N, g->nc)), g->nr);
    int64_t mc = round_up(ceil_div(M, ceil_div(M, g->mc)), g->mr);
    /* Threads: as many as the work feeds (par_flops each), at most the call's budget. */
    double flops = 2.0 * (double)M * (double)N * (double)K;
    int64_t want = (int64_t)(flops / (double)g->par_flops);
    int pool = nbi_threads_for(c->nt);
    if (want > pool) want = pool;
    if (want < 1) want = 1;
    /* by pieces when the shape suits: on several threads, or for B read in place */
    int in_place = !src && !c->tb && g->ukr_b && M <= IN_PLACE_M(g) && K * N <= IN_PLACE_KN(g);
    if (want >= 2 || in_place) {
        gemm_job proto;
        job_init(&proto, g, c, src, mc, kc, nc);
        nb_status st;
        if (split_path(&proto, want, in_place ? c->B : NULL, c->ldb, &st)) return st;
    }

    /* The job is large (counters on their own cache lines): keep it with the buffers. */
    size_t a_sz = (size_t)(mc * kc), b_sz = (size_t)(kc * nc);
    a_sz = (a_sz + 15) & ~(size_t)15; /* each half starts on a cache line */
    b_sz = (b_sz + 15) & ~(size_t)15;
    size_t job_sz = (sizeof(gemm_job) + 63) / sizeof(float) & ~(size_t)15;
    float *buf = thread_buffer(job_sz + 2 * (a_sz + b_sz));
    if (!buf) return NB_ERR_NOMEM;
    gemm_job *j = (gemm_job *)(void *)buf;
    job_init(j, g, c, src, mc, kc, nc);
    j->ap[0] = buf + job_sz;
    j->ap[1] = j->ap[0] + a_sz;
    j->bp[0] = j->ap[1] + a_sz;
    j->bp[1] = j->bp[0] + b_sz;

    /* Pieces: one of each per iteration alone; with helpers, a few per member so that
     * whoever is fastest takes more. */
    int64_t maxp = ceil_div(min64(N, nc), g->nr), maxa = ceil_div(min64(M, mc), g->mr);
    j->gb = want == 1 ? maxp : ceil_div(maxp, want);
    j->ga = want == 1 ? maxa : ceil_div(maxa, want);
    j->ctasks = want == 1 ? 1 : 3 * want;
    /* alpha 1 (packed A folds alpha in): the packed panel would be A's own floats, so the
     * kernel reads them in place (Aᵀ: ukr_at; A: ukr_an), on any number of threads. The A pack
     * tasks stay in the stream, empty: their waits for s-2 and s-3 carry the induction that makes a
     * B pack task's two waits enough. */
    j->a_in_place = at_in_place(g, c->ta, c->alpha);
    blk b;
    blk_first(j, &b);
    do j->total += b.nbp + b.nap + b.nct * b.nrt;
    while (blk_next(j, &b));
    nbi_parallel_run((int)want, gemm_member, j);
    return NB_OK;
}

/* ---- entry points ------------------------------------------------------------------------- */

/* The whole entry, inlined into each arch's table function: argument checks (the detailed
 * message comes from nbi_sgemm_check only when one fails), the BLAS special cases, then the
 * direct or the blocked path. */
static inline __attribute__((always_inline)) nb_status
sgemm_entry(const nbi_gemm_arch *g, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
            float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
            float *C, int64_t ldc) {
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    if (NBI_UNLIKELY((M | N | K) < 0 || lda < acols || lda < 1 || ldb < bcols || ldb < 1 ||
                     ldc < N || ldc < 1 || ((M && N) && !C) || ((M && N && K) && (!A || !B))))
        return nbi_sgemm_check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
    if (M == 0 || N == 0) return NB_OK;
    if (K == 0 || alpha == 0.0f) { /* BLAS: A and B are not read, C = beta C */
        nbi_gemm_scale_c(M, N, beta, C, ldc);
        return NB_OK;
    }
    nbi_gemm_call c = {nt, ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
    if (M <= g->mr && N <= g->nr && (!tb || (K <= NBI_TINY_KN && K * N <= NBI_TINY_KN))) {
        /* One tile (a tiny network's every product): straight to the direct kernel, a small
         * Bᵀ transposed here first. use_direct takes these shapes and direct_path runs this
         * very kernel call on them, so the bits are the same; this skips its choices and its
         * 16 KiB stack buffer. */
        float bt[NBI_TINY_KN];
        if (tb) {
            for (int64_t p = 0; p < K; p++)
                for (int64_t j = 0; j < N; j++) bt[p * N + j] = B[j * ldb + p];
            c.B = bt;
            c.ldb = N;
            c.tb = 0;
        }
        g->tile(&c);
        return NB_OK;
    }
    if (use_direct(g, tb, M, N, K)) return direct_path(g, &c);
    return blocked_path(g, &c, NULL);
}

#define SGEMM_ENTRY(NAME, ARCH)                                                               \
    nb_status NAME(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,     \
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta,     \
                   float *C, int64_t ldc) {                                                  \
        return sgemm_entry(&ARCH, nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); \
    }
SGEMM_ENTRY(nbi_sgemm_c, nbi_gemm_arch_c)
#if NBI_X86
SGEMM_ENTRY(nbi_sgemm_avx2, nbi_gemm_arch_avx2)
SGEMM_ENTRY(nbi_sgemm_avx512, nbi_gemm_arch_avx512)
#endif

/* ---- B from a provider ---------------------------------------------------------------------
 *
 * The blocked path packs B's panels through the provider instead of the matrix packer; the
 * micro-kernel, the blocking and the task stream are the matrix call's, so a provider that
 * yields the same op(B) gives the same bits. Where the matrix call would take the direct
 * path (chosen by shape and src->tb as there), each NR-wide column panel of op(B) is packed
 * whole (K x NR, a row-major matrix with ldb = NR) and the direct path runs on it: the direct
 * path's tiles start at multiples of NR and sum all of K each, so panel by panel is the same
 * arithmetic as over the whole matrix. */
static nb_status direct_from_src(const nbi_gemm_arch *g, const nbi_gemm_call *call,
                                 const nbi_gemm_bsrc *src) {
    const int64_t NR = g->nr;
    float *panel = thread_buffer((size_t)call->K * (size_t)NR);
    if (!panel) return NB_ERR_NOMEM;
    for (int64_t j0 = 0; j0 < call->N; j0 += NR) {
        nbi_gemm_call c = *call;
        c.N = min64(NR, call->N - j0);
        src->pack(src->ctx, 0, c.K, j0, c.N, (int)NR, panel);
        c.tb = 0;
        c.B = panel;
        c.ldb = NR;
        c.C = call->C + j0;
        if (c.M <= g->mr) {
            g->tile(&c); /* one tile: as the matrix call's tile or direct row */
        } else {
            nb_status s = direct_path(g, &c);
            if (s != NB_OK) return s;
        }
    }
    return NB_OK;
}

static inline __attribute__((always_inline)) nb_status
sgemm_src_entry(const nbi_gemm_arch *g, int nt, int ta, int64_t M, int64_t N, int64_t K,
                float alpha, const float *A, int64_t lda, const nbi_gemm_bsrc *B, float beta,
                float *C, int64_t ldc) {
    int64_t acols = ta ? M : K;
    if ((M | N | K) < 0 || lda < acols || lda < 1 || ldc < N || ldc < 1 || ((M && N) && !C) ||
        ((M && N && K) && (!A || !B || !B->pack)))
        return nbi_error(NB_ERR_ARG,
                         "nb_sgemm (B from a packer): M=%lld N=%lld K=%lld lda=%lld ldc=%lld "
                         "with A %s, B's packer %s and C %s: sizes must not be negative, "
                         "lda >= %lld, ldc >= N, and the operands must be given",
                         (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldc,
                         A ? "given" : "NULL", B && B->pack ? "given" : "NULL",
                         C ? "given" : "NULL", (long long)acols);
    if (M == 0 || N == 0) return NB_OK;
    if (K == 0 || alpha == 0.0f) {
        nbi_gemm_scale_c(M, N, beta, C, ldc);
        return NB_OK;
    }
    /* the matrix call's B would have ldb = its own column count; only the shape matters */
    nbi_gemm_call c = {nt, ta, B->tb != 0, M, N, K, alpha, beta, A, NULL, C, lda, 1, ldc};
    if (use_direct(g, c.tb, M, N, K)) return direct_from_src(g, &c, B);
    return blocked_path(g, &c, B);
}

#define SGEMM_SRC_ENTRY(NAME, ARCH)                                                                \
    nb_status NAME(int nt, int ta, int64_t M, int64_t N, int64_t K, float alpha, const float *A,   \
                   int64_t lda, const nbi_gemm_bsrc *B, float beta, float *C, int64_t ldc) {       \
        return sgemm_src_entry(&ARCH, nt, ta, M, N, K, alpha, A, lda, B, beta, C, ldc);            \
    }
SGEMM_SRC_ENTRY(nbi_sgemm_src_c, nbi_gemm_arch_c)
#if NBI_X86
SGEMM_SRC_ENTRY(nbi_sgemm_src_avx2, nbi_gemm_arch_avx2)
SGEMM_SRC_ENTRY(nbi_sgemm_src_avx512, nbi_gemm_arch_avx512)
#endif

/* ---- B packed once, for several products ----------------------------------------------------
 *
 * A recurrence multiplies by the same W_hh at every time step; packing it at every step cost
 * the char-LSTM's step a tenth of its time (W_hhᵀ, 1 MB, gathered for a 32-row product).
 * pack_b lays op(B) [K, N] out once as ceil(N/NR) column panels of K x NR floats (panel c at
 * Bp + c*NR*K), and the packed entry multiplies by it. One layout serves every path: rows
 * pc .. pc+kc of a panel are a packed micro-panel as the blocked path packs it (kc groups of
 * NR floats), and a whole panel is a row-major K x NR matrix for the direct path (as in
 * direct_from_src). The path (tile, direct or blocked) and the K blocking are chosen from the
 * shape and tb as the matrix call chooses them, and the blocked loops here run the same
 * micro-kernel on the same A panels, beta in the first K block: the matrix call's bits, on
 * any number of threads. */
static int64_t packed_b_floats(const nbi_gemm_arch *g, int64_t K, int64_t N) {
    return ceil_div(N, g->nr) * g->nr * K;
}

typedef struct packed_job {
    const nbi_gemm_arch *g;
    const float *ap, *bp; /* the A block's panels; the B panels at row pc */
    int64_t K, kc, mcur, N, per;
    float beta;
    float *C; /* row ic */
    int64_t ldc;
} packed_job;

/* Column panels [t per, (t+1) per) of the current block: each B panel stays in L1 while the
 * A block's row panels pass over it. */
static void packed_task(void *arg, int64_t t) {
    const packed_job *j = arg;
    const int64_t MR = j->g->mr, NR = j->g->nr;
    int64_t c1 = min64(ceil_div(j->N, NR), (t + 1) * j->per);
    for (int64_t jr = t * j->per; jr < c1; jr++) {
        int n = (int)min64(NR, j->N - jr * NR);
        for (int64_t ir = 0; ir * MR < j->mcur; ir++)
            j->g->ukr(j->kc, j->ap + ir * MR * j->kc, j->bp + jr * NR * j->K, j->beta,
                      j->C + ir * MR * j->ldc + jr * NR, j->ldc, (int)min64(MR, j->mcur - ir * MR),
                      n);
    }
}

static nb_status packed_blocked(const nbi_gemm_arch *g, const nbi_gemm_call *c, const float *Bp) {
    const int64_t M = c->M, N = c->N, K = c->K, NR = g->nr;
    /* the blocking of blocked_path: the same K blocks, so the same sums */
    int64_t kc = ceil_div(K, ceil_div(K, g->kc));
    int64_t mc = round_up(ceil_div(M, ceil_div(M, g->mc)), g->mr);
    int64_t want = (int64_t)(2.0 * (double)M * (double)N * (double)K / (double)g->par_flops);
    int pool = nbi_threads_for(c->nt);
    if (want > pool) want = pool;
    int64_t panels = ceil_div(N, NR);
    if (want > panels) want = panels;
    if (want < 1) want = 1;
    float *ap = thread_buffer((size_t)(mc * kc));
    if (!ap) return NB_ERR_NOMEM;
    packed_job j = {g, ap, NULL, K, 0, 0, N, 0, 0.0f, NULL, c->ldc};
    /* a few pieces per thread, whole panels each */
    j.per = want == 1 ? panels : ceil_div(panels, 4 * want);
    int64_t pieces = ceil_div(panels, j.per);
    for (int64_t ic = 0; ic < M; ic += mc)
        for (int64_t pc = 0; pc < K; pc += kc) {
            j.kc = min64(kc, K - pc);
            j.mcur = min64(mc, M - ic);
            j.beta = pc == 0 ? c->beta : 1.0f;
            j.bp = Bp + pc * NR;
            j.C = c->C + ic * c->ldc;
            g->pack_a(c->ta, c->A, c->lda, ic, j.mcur, pc, j.kc, c->alpha, ap);
            if (want == 1)
                packed_task(&j, 0);
            else
                nbi_parallel_for((int)want, pieces, packed_task, &j);
        }
    return NB_OK;
}

static inline __attribute__((always_inline)) nb_status
sgemm_packed_entry(const nbi_gemm_arch *g, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                   float alpha, const float *A, int64_t lda, const float *Bp, float beta, float *C,
                   int64_t ldc) {
    int64_t acols = ta ? M : K;
    if ((M | N | K) < 0 || lda < acols || lda < 1 || ldc < N || ldc < 1 || ((M && N) && !C) ||
        ((M && N && K) && (!A || !Bp)))
        return nbi_error(NB_ERR_ARG,
                         "nb_sgemm (B packed): M=%lld N=%lld K=%lld lda=%lld ldc=%lld with A "
                         "%s, the packed B %s and C %s: sizes must not be negative, lda >= "
                         "%lld, ldc >= N, and the operands must be given",
                         (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldc,
                         A ? "given" : "NULL", Bp ? "given" : "NULL", C ? "given" : "NULL",
                         (long long)acols);
    if (M == 0 || N == 0) return NB_OK;
    if (K == 0 || alpha == 0.0f) {
        nbi_gemm_scale_c(M, N, beta, C, ldc);
        return NB_OK;
    }
    nbi_gemm_call c = {nt, ta, tb != 0, M, N, K, alpha, beta, A, NULL, C, lda, 1, ldc};
    if (!use_direct(g, c.tb, M, N, K)) return packed_blocked(g, &c, Bp);
    /* panel by panel, each a row-major K x NR matrix (see direct_from_src) */
    for (int64_t j0 = 0; j0 < N; j0 += g->nr) {
        nbi_gemm_call d = c;
        d.N = min64(g->nr, N - j0);
        d.tb = 0;
        d.B = Bp + j0 * K;
        d.ldb = g->nr;
        d.C = C + j0;
        if (d.M <= g->mr) {
            g->tile(&d);
        } else {
            nb_status s = direct_path(g, &d);
            if (s != NB_OK) return s;
        }
    }
    return NB_OK;
}

#define SGEMM_PACKED_ENTRY(NAME, ARCH)                                                             \
    int64_t NAME##_floats(int64_t K, int64_t N) {                                                  \
        return packed_b_floats(&ARCH, K, N);                                                       \
    }                                                                                              \
    void NAME##_pack(int tb, const float *B, int64_t ldb, int64_t K, int64_t N, float *dst) {      \
        if (K > 0 && N > 0) ARCH.pack_b(tb != 0, B, ldb, 0, K, 0, N, dst);                         \
    }                                                                                              \
    nb_status NAME(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,           \
                   const float *A, int64_t lda, const float *Bp, float beta, float *C,             \
                   int64_t ldc) {                                                                  \
        return sgemm_packed_entry(&ARCH, nt, ta, tb, M, N, K, alpha, A, lda, Bp, beta, C, ldc);    \
    }
SGEMM_PACKED_ENTRY(nbi_sgemm_packed_c, nbi_gemm_arch_c)
#if NBI_X86
SGEMM_PACKED_ENTRY(nbi_sgemm_packed_avx2, nbi_gemm_arch_avx2)
SGEMM_PACKED_ENTRY(nbi_sgemm_packed_avx512, nbi_gemm_arch_avx512)
#endif

/* ---- strided-batched GEMM ----------------------------------------------------------------- */

typedef struct batch_job {
    nbi_sgemm_fn gemm;
    int nt; /* threads each GEMM may use */
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
    nb_status s = j->gemm(j->nt, j->ta, j->tb, j->M, j->N, j->K, j->alpha, j->A + b * j->sa,
                          j->lda, j->B + b * j->sb, j->ldb, j->beta, j->C + b * j->sc, j->ldc);
    if (s != NB_OK) atomic_store(&j->status, (int)s);
}

nb_status nbi_sgemm_batched_with(nbi_sgemm_fn gemm, int nt, int trans_a, int trans_b, int64_t M,
                                 int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                 int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                                 float beta, float *C, int64_t ldc, int64_t stride_c,
                                 int64_t batch) {
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
    nt = nbi_threads_for(nt);
    batch_job j = {gemm, nt, ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc,
                   stride_a, stride_b, stride_c, NB_OK};
    /* Many or small matrices: one thread per matrix (the GEMMs then run single-threaded,
     * nested calls never fan out). Few large ones: one after another, each on all threads.
     * Either way each C element is computed the same way. */
    double flops = 2.0 * (double)M * (double)N * (double)K;
    if (nt > 1 && (batch >= 4 * (int64_t)nt || flops < 4e6)) {
        j.nt = 1; /* one thread per matrix */
        nbi_parallel_for(nt, batch, batch_task, &j);
    } else {
        for (int64_t b = 0; b < batch; b++) batch_task(&j, b);
    }
    s = (nb_status)atomic_load(&j.status);
    if (s != NB_OK)
        return nbi_error(s, "nb_sgemm_batched: %s while multiplying %lld x %lld x %lld matrices",
                         nb_status_str(s), (long long)M, (long long)K, (long long)N);
    return NB_OK;
}
