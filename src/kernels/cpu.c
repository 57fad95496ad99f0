/* kernels/cpu.c — the CPU back end: host memory, and entries that spread a kernel set's
 * single-threaded kernels over the thread pool (the devices by name, and the default back end,
 * are in kernels/cpu_devices.c).
 *
 * Each entry cuts a large array into pieces (at multiples of 16 elements, so that no two
 * threads write one cache line; whole rows for the row kernels) and runs the back end's
 * kernel set on each piece via nbi_parallel_for, on at most the back end's thread budget.
 * Small arrays go straight to the kernel: below PAR_MIN elements a wake-up costs more than it
 * saves. The kernels compute every element the same way wherever a piece starts or ends
 * (tails are masked vector code), so results do not depend on the thread count. */
#include "kernels/backend.h"

#include <string.h>

#include "kernels/gemm/gemm.h"


/* 2^14, not 2^16: the MLP step's 64 x 256 activations (relu, its backward, the bias rows and
 * sums) went to the pool, about 4 us of a 365 us two-thread step (per-step times, 2nd
 * percentile of 1500 steps, interleaved); a spinning worker joins in well under a us */
#define PAR_MIN ((int64_t)1 << 14) /* elements */

/* The threaded half of an entry, kept out of line: the entry itself is then a compare and a
 * tail call into the kernel, with no stack frame for the job (a tiny network's step makes a
 * few dozen such calls; cpu_unary: 29 instructions before, 12 after). */
#if defined(__GNUC__)
#define THREADED __attribute__((noinline))
#else
#define THREADED
#endif
#define PIECE_MIN ((int64_t)1 << 13) /* so that PAR_MIN elements make two pieces */

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
    int write; /* backward: gx written, not accumulated (unary_dx) */
} unary_job;

static void unary_fwd_task(void *arg, int64_t t) {
    const unary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    j->k->unary[j->id](hi - lo, j->x + lo, j->out + lo, j->p);
}

static THREADED void unary_threaded(const nbi_backend *be, int id, int64_t n, const float *x,
                                    float *y, const float *p) {
    int nt = nbi_backend_threads(be);
    if (nt == 1) {
        be->k->unary[id](n, x, y, p);
        return;
    }
    unary_job j = {be->k, id, n, piece_len(n, nt), x, NULL, NULL, p, y, 0};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, unary_fwd_task, &j);
}

static void cpu_unary(const nbi_backend *be, int id, int64_t n, const float *x, float *y,
                      const float *p) {
    if (n < PAR_MIN)
        be->k->unary[id](n, x, y, p);
    else
        unary_threaded(be, id, n, x, y, p);
}

/* gx += gy f'(x, y), or with `write` gx = gy f'(x, y): then the accumulating kernel on runs of
 * DX_RUN elements, each zeroed just before (in L1, where the kernel finds it), instead of a
 * fill pass over all of gx first */
#define DX_RUN 2048
static void unary_bwd_run(const nbi_kernels *k, int id, int64_t n, const float *x, const float *y,
                          const float *gy, float *gx, const float *p, int write) {
    if (!write) {
        k->unary_bwd[id](n, x, y, gy, gx, p);
        return;
    }
    for (int64_t lo = 0; lo < n; lo += DX_RUN) {
        const int64_t len = n - lo < DX_RUN ? n - lo : DX_RUN;
        memset(gx + lo, 0, (size_t)len * sizeof *gx);
        k->unary_bwd[id](len, x ? x + lo : NULL, y ? y + lo : NULL, gy + lo, gx + lo, p);
    }
}

static void unary_bwd_task(void *arg, int64_t t) {
    const unary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    unary_bwd_run(j->k, j->id, hi - lo, j->x ? j->x + lo : NULL, j->y ? j->y + lo : NULL,
                  j->gy + lo, j->out + lo, j->p, j->write);
}

static THREADED void unary_bwd_threaded(const nbi_backend *be, int id, int64_t n, const float *x,
                                        const float *y, const float *gy, float *gx, const float *p,
                                        int write) {
    int nt = nbi_backend_threads(be);
    if (nt == 1) {
        unary_bwd_run(be->k, id, n, x, y, gy, gx, p, write);
        return;
    }
    unary_job j = {be->k, id, n, piece_len(n, nt), x, y, gy, p, gx, write};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, unary_bwd_task, &j);
}

static void cpu_unary_bwd(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                          const float *gy, float *gx, const float *p) {
    if (n < PAR_MIN)
        be->k->unary_bwd[id](n, x, y, gy, gx, p);
    else
        unary_bwd_threaded(be, id, n, x, y, gy, gx, p, 0);
}

static void cpu_unary_dx(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                         const float *gy, float *gx, const float *p) {
    if (n < PAR_MIN)
        unary_bwd_run(be->k, id, n, x, y, gy, gx, p, 1);
    else
        unary_bwd_threaded(be, id, n, x, y, gy, gx, p, 1);
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

static THREADED void binary_threaded(const nbi_backend *be, int id, int64_t n, const float *a,
                                     int64_t sa, const float *b, int64_t sb, float *y) {
    int nt = nbi_backend_threads(be);
    if (nt == 1) {
        be->k->binary[id](n, a, sa, b, sb, y);
        return;
    }
    binary_job j = {be->k, id, n, piece_len(n, nt), sa, sb, a, b, y};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, binary_task, &j);
}

static void cpu_binary(const nbi_backend *be, int id, int64_t n, const float *a, int64_t sa,
                       const float *b, int64_t sb, float *y) {
    if (n < PAR_MIN)
        be->k->binary[id](n, a, sa, b, sb, y);
    else
        binary_threaded(be, id, n, a, sa, b, sb, y);
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

/* ---- strided operands, reductions, dense steps: the reference kernels, on one thread ---- */

static void cpu_binary_bwd(const nbi_backend *be, int id, int which, int64_t len, const float *gy,
                           int64_t so, const float *y, const float *a, int64_t sa, const float *b,
                           int64_t sb, float *g, int64_t sg) {
    /* g ± gy at unit stride (the residual adds of a network, their biggest users) is the
     * set's vector binary kernel in place, g = g ± gy: the reference's values bit for bit
     * (one IEEE add per element); other cases run the reference */
    const int add = id == NBI_B_ADD || (id == NBI_B_SUB && which == 0);
    if (sg == 1 && (so == 0 || so == 1) && (add || (id == NBI_B_SUB && which == 1))) {
        cpu_binary(be, add ? NBI_B_ADD : NBI_B_SUB, len, g, 1, gy, so, g);
        return;
    }
    nbi_ref_binary_bwd(id, which, len, gy, so, y, a, sa, b, sb, g, sg);
}

static void cpu_copy_strided(const nbi_backend *be, const nbi_iter *it, void *dst,
                             const void *src) {
    (void)be;
    nbi_ref_copy_strided(it, dst, src);
}

static void cpu_acc_strided(const nbi_backend *be, const nbi_iter *it, float *dst,
                            const float *src) {
    (void)be;
    nbi_ref_acc_strided(it, dst, src);
}

static void cpu_acc_div_strided(const nbi_backend *be, const nbi_iter *it, float *dst,
                                const float *src, float div) {
    (void)be;
    nbi_ref_acc_div_strided(it, dst, src, div);
}

static void cpu_sum_strided(const nbi_backend *be, const nbi_iter *it, const float *x, double *acc,
                            int64_t ngroups, int64_t count, int mean, float *y) {
    (void)be;
    nbi_ref_sum_strided(it, x, acc, ngroups, count, mean, y);
}

static void cpu_max_strided(const nbi_backend *be, const nbi_iter *it, const float *x, float *best,
                            int64_t *pos, int64_t ngroups) {
    (void)be;
    nbi_ref_max_strided(it, x, best, pos, ngroups);
}

static void cpu_scatter_add(const nbi_backend *be, int64_t n, const int64_t *pos, const float *gy,
                            float *gx) {
    (void)be;
    nbi_ref_scatter_add(n, pos, gy, gx);
}

static void cpu_index_narrow(const nbi_backend *be, int64_t n, const int64_t *pos, int32_t *y) {
    (void)be;
    nbi_ref_index_narrow(n, pos, y);
}

typedef struct fill_job {
    int64_t n, len;
    float *y;
    float v;
} fill_job;

static void fill_task(void *arg, int64_t t) {
    const fill_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    nbi_ref_fill(hi - lo, j->y + lo, j->v);
}

/* zeroing gradients is a pass over every activation of a step: on the pool when large */
static void cpu_fill(const nbi_backend *be, int64_t n, float *y, float v) {
    if (n <= 8) { /* a few elements (a small layer's gradient): stores, not a memset call */
        for (int64_t i = 0; i < n; i++) y[i] = v;
        return;
    }
    int nt = n < PAR_MIN ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        nbi_ref_fill(n, y, v);
        return;
    }
    fill_job j = {n, piece_len(n, nt), y, v};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, fill_task, &j);
}

/* y += x: the set's vector add in place (y = y + x, one IEEE add an element: the
 * reference's bits), on the pool when large */
static void cpu_add_into(const nbi_backend *be, int64_t n, const float *x, float *y) {
    cpu_binary(be, NBI_B_ADD, n, y, 1, x, 1, y);
}

/* speed: the kernel set's scan (a vector pass where the set has one, the same index) */
static int64_t cpu_find_nonfinite(const nbi_backend *be, int64_t n, const float *x) {
    return be->k->find_nonfinite(n, x);
}

static void cpu_pair_loss(const nbi_backend *be, int kind, int reduction, int64_t n, const float *p,
                          const float *t, float *y) {
    (void)be;
    nbi_ref_pair_loss(kind, reduction, n, p, t, y);
}

static void cpu_pair_loss_bwd(const nbi_backend *be, int kind, int reduction, int64_t n,
                              const float *p, const float *t, const float *gy, float *gp,
                              float *gt) {
    (void)be;
    nbi_ref_pair_loss_bwd(kind, reduction, n, p, t, gy, gp, gt);
}

static void cpu_nll(const nbi_backend *be, int reduction, int64_t N, const float *x, int64_t rs,
                    int64_t cs, const int32_t *labels, int64_t ls, float *out) {
    (void)be;
    nbi_ref_nll(reduction, N, x, rs, cs, labels, ls, out);
}

static void cpu_nll_bwd(const nbi_backend *be, int reduction, int64_t N, int64_t C, const float *gy,
                        const int32_t *labels, int64_t ls, float *gx) {
    (void)be;
    nbi_ref_nll_bwd(reduction, N, C, gy, labels, ls, gx);
}

static void cpu_cross_entropy_bwd(const nbi_backend *be, int reduction, int64_t N, int64_t C,
                                  const float *gy, const float *lp, const int32_t *labels,
                                  int64_t ls, float *gx) {
    (void)be;
    nbi_ref_cross_entropy_bwd(reduction, N, C, gy, lp, labels, ls, gx);
}

static int64_t cpu_find_outside(const nbi_backend *be, int64_t n, const float *x, float lo,
                                float hi) {
    (void)be;
    return nbi_ref_find_outside(n, x, lo, hi);
}

static int64_t cpu_find_bad_label(const nbi_backend *be, int64_t N, const int32_t *labels,
                                  int64_t ls, int64_t C) {
    (void)be;
    return nbi_ref_find_bad_label(N, labels, ls, C);
}

/* ---- pooling: the planes (N·C of them) cut into tasks; each plane is pooled by one task,
 * so the result does not depend on the number of threads ------------------------------------ */

#define PLANES_PER_TASK 32

typedef struct pool_job {
    const nbi_conv_geom *g;
    int kind, count_pad;
    const float *in;
    float *out;
    int32_t *arg;
} pool_job;

static void pool_task(void *p, int64_t t) {
    const pool_job *k = p;
    const nbi_conv_geom *g = k->g;
    int64_t p0 = t * PLANES_PER_TASK, np = g->N * g->C - p0;
    if (np > PLANES_PER_TASK) np = PLANES_PER_TASK;
    const int64_t HW = g->H * g->W, P = g->OH * g->OW;
    switch (k->kind) {
    case NBI_POOL_MAX:
        nbi_maxpool_forward(g, np, k->in + p0 * HW, k->out + p0 * P, k->arg + p0 * P);
        break;
    case NBI_POOL_MAX_BWD:
        nbi_maxpool_backward(g, np, k->in + p0 * P, k->arg + p0 * P, k->out + p0 * HW);
        break;
    case NBI_POOL_AVG:
        nbi_avgpool_forward(g, np, k->count_pad, k->in + p0 * HW, k->out + p0 * P);
        break;
    default:
        nbi_avgpool_backward(g, np, k->count_pad, k->in + p0 * P, k->out + p0 * HW);
        break;
    }
}

static void cpu_pool(const nbi_backend *be, int kind, const nbi_conv_geom *g, int count_pad,
                     const float *in, float *out, int32_t *arg) {
    pool_job j = {g, kind, count_pad, in, out, arg};
    int64_t tasks = (g->N * g->C + PLANES_PER_TASK - 1) / PLANES_PER_TASK;
    nbi_parallel_for(nbi_backend_threads(be), tasks, pool_task, &j);
}

/* ---- convolution: the algorithm for each shape ------------------------------------------
 * The direct kernels (kernels/conv_direct.c) for few input channels per group, the lowering
 * onto the kernel set's GEMM (kernels/conv_lower.c) otherwise: the one place that chooses,
 * by the rule measured in docs/conv.md ("The algorithm for each convolution shape"). The
 * choice depends on the geometry and the kernel set only, so scratch size and pass agree. */

/* Direct when the set has the vector kernels, a group has at most 4 input channels with
 * AVX-512's kernels (1 with AVX2's, whose 16 registers hold fewer accumulators: with 2 to 4
 * channels they tie or lose) and at least 8 output channels (the forward kernel computes
 * them in blocks of 8 weights: fewer waste its multiply-adds, and many small groups lost to
 * the lowering), and the output rows are more than 8 wide (a vector runs along a row:
 * narrower rows leave most lanes idle). Measured with bench/bench_conv_algo; the table is in
 * docs/conv.md. (The plane below 2^24 elements keeps the pooling's flat indices exact in
 * floats.) */
#define NBI_DIRECT_MIN_OG 8
#define NBI_DIRECT_MIN_OW 9

static int conv_algorithm_direct(const nbi_backend *be, const nbi_conv_geom *g) {
    const int64_t Cg = g->C / g->groups, Og = g->O / g->groups;
    const int64_t max_cg = be->k->conv_direct_lanes >= 16 ? 4 : 1;
    return be->k->conv_direct_fwd != NULL && Cg <= max_cg && Og >= NBI_DIRECT_MIN_OG &&
           g->OW >= NBI_DIRECT_MIN_OW && g->OH * g->OW < ((int64_t)1 << 24);
}

static int64_t cpu_conv_scratch(const nbi_backend *be, const nbi_conv_geom *g, int forward,
                                int has_dw, int has_db, const nbi_conv_pool *pool, int64_t chunk) {
    if (conv_algorithm_direct(be, g))
        return nbi_conv_direct_scratch(g, nbi_backend_threads(be), forward, has_dw, has_db, pool,
                                       chunk);
    return nbi_conv_scratch(g, nbi_backend_threads(be), forward, has_dw, has_db, pool, chunk);
}

static nb_status cpu_conv_forward(const nbi_backend *be, const nbi_conv_geom *g, const float *in,
                                  const float *w, const float *bias, int flags, float *out,
                                  const nbi_conv_pool *pool, int64_t chunk, float *scratch,
                                  int64_t room) {
    if (conv_algorithm_direct(be, g))
        return nbi_conv_direct_forward(be->k, nbi_backend_threads(be), g, in, w, bias, flags, out,
                                       pool, chunk, scratch, room);
    return nbi_conv_lower_forward(be->k, nbi_backend_threads(be), g, in, w, bias, flags, out, pool,
                                  chunk, scratch, room);
}

static nb_status cpu_conv_backward(const nbi_backend *be, const nbi_conv_geom *g, const float *in,
                                   const float *dout, const float *y, int flags, const float *w,
                                   float *din, float *dw, float *dbias, const nbi_conv_pool *pool,
                                   int64_t chunk, float *scratch, int64_t room) {
    if (conv_algorithm_direct(be, g))
        return nbi_conv_direct_backward(be->k, nbi_backend_threads(be), g, in, dout, y, flags, w,
                                        din, dw, dbias, pool, chunk, scratch, room);
    return nbi_conv_lower_backward(be->k, nbi_backend_threads(be), g, in, dout, y, flags, w, din,
                                   dw, dbias, pool, chunk, scratch, room);
}

static void cpu_relu_mask(const nbi_backend *be, int64_t n, const float *gy, const float *y,
                          float *d) {
    (void)be;
    nbi_relu_mask(gy, y, d, n);
}

static void cpu_plane_sums(const nbi_backend *be, int64_t N, int64_t C, int64_t P, const float *d,
                           float *db) {
    (void)be;
    nbi_plane_sums(N, C, P, d, db);
}

/* ---- batch normalisation: channels spread over the pool (each channel's sums in one fixed
 * order, whoever computes them) ------------------------------------------------------------ */

enum { BN_STATS, BN_APPLY, BN_BACKWARD, BN_SUM_X, BN_SUM_SQ, BN_GRAD_SUMS, BN_GRAD_X };

typedef struct bn_job {
    int kind; /* BN_... */
    const nbi_bn *g;
    int64_t per; /* channels per task */
    const float *x, *gy, *mean, *invstd, *w, *b;
    float *mean_out, *invstd_out, *y, *dx, *dw, *db;
    const double *sums_in; /* Σx (BN_SUM_SQ); Σdy, Σdy x̂ (BN_GRAD_X) */
    double *sums_out;      /* BN_SUM_X, BN_SUM_SQ, BN_GRAD_SUMS */
    double M;              /* the values per channel over every replica (the phases) */
} bn_job;

static void bn_task(void *arg, int64_t t) {
    const bn_job *j = arg;
    int64_t c0 = t * j->per, c1 = c0 + j->per < j->g->C ? c0 + j->per : j->g->C;
    switch (j->kind) {
    case BN_STATS:
        nbi_ref_bn_stats(j->g, c0, c1, j->x, j->mean_out, j->invstd_out);
        break;
    case BN_APPLY:
        nbi_ref_bn_apply(j->g, c0, c1, j->x, j->mean, j->invstd, j->w, j->b, j->y);
        break;
    case BN_BACKWARD:
        nbi_ref_bn_backward(j->g, c0, c1, j->x, j->gy, j->mean, j->invstd, j->w, j->dx, j->dw,
                            j->db);
        break;
    case BN_SUM_X:
        nbi_ref_bn_sum_x(j->g, c0, c1, j->x, j->sums_out);
        break;
    case BN_SUM_SQ:
        nbi_ref_bn_sum_sq(j->g, c0, c1, j->x, j->sums_in, j->M, j->mean_out, j->sums_out);
        break;
    case BN_GRAD_SUMS:
        nbi_ref_bn_grad_sums(j->g, c0, c1, j->x, j->gy, j->mean, j->invstd, j->dw, j->db,
                             j->sums_out);
        break;
    default:
        nbi_ref_bn_grad_x(j->g, c0, c1, j->x, j->gy, j->mean, j->invstd, j->w, j->sums_in, j->M,
                          j->dx);
        break;
    }
}

static void bn_run(const nbi_backend *be, bn_job *j) {
    const int64_t C = j->g->C, total = j->g->N * C * j->g->S;
    int nt = total < PAR_MIN || C < 2 ? 1 : nbi_backend_threads(be);
    j->per = nt == 1 ? (C ? C : 1) : (C + 4 * nt - 1) / (4 * nt);
    nbi_parallel_for(nt, C ? (C + j->per - 1) / j->per : 0, bn_task, j);
}

static void cpu_bn_stats(const nbi_backend *be, const nbi_bn *g, const float *x, float *mean,
                         float *invstd) {
    bn_job j = {.kind = BN_STATS, .g = g, .x = x, .mean_out = mean, .invstd_out = invstd};
    bn_run(be, &j);
}

static void cpu_bn_apply(const nbi_backend *be, const nbi_bn *g, const float *x, const float *mean,
                         const float *invstd, const float *w, const float *b, float *y) {
    bn_job j = {
        .kind = BN_APPLY, .g = g, .x = x, .mean = mean, .invstd = invstd, .w = w, .b = b, .y = y};
    bn_run(be, &j);
}

static void cpu_bn_backward(const nbi_backend *be, const nbi_bn *g, const float *x, const float *gy,
                            const float *mean, const float *invstd, const float *w, float *dx,
                            float *dw, float *db) {
    bn_job j = {.kind = BN_BACKWARD,
                .g = g,
                .x = x,
                .gy = gy,
                .mean = mean,
                .invstd = invstd,
                .w = w,
                .dx = dx,
                .dw = dw,
                .db = db};
    bn_run(be, &j);
}

/* the phases of synchronised batch norm: threaded as the entries above, but bn_var, a few
 * operations per channel */
static void cpu_bn_sum_x(const nbi_backend *be, const nbi_bn *g, const float *x, double *sx) {
    bn_job j = {.kind = BN_SUM_X, .g = g, .x = x, .sums_out = sx};
    bn_run(be, &j);
}

static void cpu_bn_sum_sq(const nbi_backend *be, const nbi_bn *g, const float *x, const double *sx,
                          double M, float *mean, double *sq) {
    bn_job j = {
        .kind = BN_SUM_SQ, .g = g, .x = x, .sums_in = sx, .M = M, .mean_out = mean, .sums_out = sq};
    bn_run(be, &j);
}

static void cpu_bn_var(const nbi_backend *be, const nbi_bn *g, const double *sq, double M,
                       const float *mean, float *invstd) {
    (void)be;
    nbi_ref_bn_var(g, 0, g->C, sq, M, mean, invstd);
}

static void cpu_bn_grad_sums(const nbi_backend *be, const nbi_bn *g, const float *x,
                             const float *gy, const float *mean, const float *invstd, float *dw,
                             float *db, double *sums) {
    bn_job j = {.kind = BN_GRAD_SUMS,
                .g = g,
                .x = x,
                .gy = gy,
                .mean = mean,
                .invstd = invstd,
                .dw = dw,
                .db = db,
                .sums_out = sums};
    bn_run(be, &j);
}

static void cpu_bn_grad_x(const nbi_backend *be, const nbi_bn *g, const float *x, const float *gy,
                          const float *mean, const float *invstd, const float *w,
                          const double *sums, double M, float *dx) {
    bn_job j = {.kind = BN_GRAD_X,
                .g = g,
                .x = x,
                .gy = gy,
                .mean = mean,
                .invstd = invstd,
                .w = w,
                .sums_in = sums,
                .M = M,
                .dx = dx};
    bn_run(be, &j);
}

static void cpu_dropout(const nbi_backend *be, uint64_t seed, float p, int64_t n, const float *x,
                        float *y, int acc) {
    be->k->dropout(seed, p, n, x, y, acc);
}

static void cpu_moments_var(const nbi_backend *be, const nbi_groups *g, const float *x, double dof,
                            int is_std, float *y) {
    (void)be;
    nbi_ref_moments_var(g, x, dof, is_std, y);
}

static void cpu_moments_var_bwd(const nbi_backend *be, const nbi_groups *g, const float *x,
                                const float *gy, double dof, int is_std, float *gx) {
    (void)be;
    nbi_ref_moments_var_bwd(g, x, gy, dof, is_std, gx);
}

static int64_t cpu_cov(const nbi_backend *be, int corr, int64_t N, int64_t V, const float *x,
                       int64_t rs, int64_t cs, double dof, double *scratch, float *y) {
    (void)be;
    return nbi_ref_cov(corr, N, V, x, rs, cs, dof, scratch, y);
}

static void cpu_cov_bwd(const nbi_backend *be, int64_t N, int64_t V, const float *x, int64_t rs,
                        int64_t cs, const float *G, double dof, double *scratch, float *gx) {
    (void)be;
    nbi_ref_cov_bwd(N, V, x, rs, cs, G, dof, scratch, gx);
}

/* ---- optimizers: the kernel set's fused update (vector where the set has one, bitwise equal
 * to the reference); every element on its own, so pieces over the pool give the same bits --- */

typedef struct update_job {
    nbi_optim_fn fn;
    const nbi_update *u;
    int64_t n, len;
    float *p, *s0, *s1, *s2;
    const float *g;
} update_job;

static void update_task(void *arg, int64_t t) {
    const update_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
#define AT(q) ((q) ? (q) + lo : NULL)
    j->fn(j->u, hi - lo, j->p + lo, j->g + lo, AT(j->s0), AT(j->s1), AT(j->s2));
#undef AT
}

static THREADED void optim_update_threaded(const nbi_backend *be, const nbi_update *u, int64_t n,
                                           float *p, const float *g, float *s0, float *s1,
                                           float *s2) {
    int nt = nbi_backend_threads(be);
    if (nt == 1) {
        be->k->optim_update(u, n, p, g, s0, s1, s2);
        return;
    }
    update_job j = {be->k->optim_update, u, n, piece_len(n, nt), p, s0, s1, s2, g};
    nbi_parallel_for(nt, (n + j.len - 1) / j.len, update_task, &j);
}

static void cpu_optim_update(const nbi_backend *be, const nbi_update *u, int64_t n, float *p,
                             const float *g, float *s0, float *s1, float *s2) {
    if (n < PAR_MIN)
        be->k->optim_update(u, n, p, g, s0, s1, s2);
    else
        optim_update_threaded(be, u, n, p, g, s0, s1, s2);
}

static double cpu_sum_squares(const nbi_backend *be, int64_t n, const float *x) {
    (void)be;
    return nbi_ref_sum_squares(n, x);
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

/* ---- speed: a dense layer's bias rows (one pass; small next to the GEMMs around them) --- */

typedef struct rowsum_job {
    const nbi_kernels *k;
    int64_t M, N, per; /* rows (bias_rows) or columns (acc_rows) per task */
    const float *x;
    float *g;
} rowsum_job;

static void bias_rows_task(void *arg, int64_t t) {
    const rowsum_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->M ? lo + j->per : j->M;
    nbi_ref_bias_rows(hi - lo, j->N, j->x, j->g + lo * j->N);
}

static void cpu_bias_rows(const nbi_backend *be, int64_t M, int64_t N, const float *b, float *y) {
    int nt = M * N < PAR_MIN || M < 2 ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        nbi_ref_bias_rows(M, N, b, y);
        return;
    }
    rowsum_job j = {be->k, M, N, (M + 4 * nt - 1) / (4 * nt), b, y};
    nbi_parallel_for(nt, (M + j.per - 1) / j.per, bias_rows_task, &j);
}

/* columns [lo, hi) of g += each row of x in turn */
static void acc_cols(const nbi_kernels *k, int64_t M, int64_t N, int64_t lo, int64_t hi,
                     const float *x, float *g) {
    for (int64_t r = 0; r < M; r++)
        k->binary[NBI_B_ADD](hi - lo, g + lo, 1, x + r * N + lo, 1, g + lo);
}

static void acc_rows_task(void *arg, int64_t t) {
    const rowsum_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->N ? lo + j->per : j->N;
    acc_cols(j->k, j->M, j->N, lo, hi, j->x, j->g);
}

/* g += each row of x in turn: the set's vector add in place, row by row, so every g[j] is
 * summed in the reference's order (bit for bit); on the pool the columns are split (in
 * pieces of 16), each still summed over the rows in order */
static void cpu_acc_rows(const nbi_backend *be, int64_t M, int64_t N, const float *x, float *g) {
    int nt = M * N < PAR_MIN || N < 32 ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        if (N < 16) /* short rows (a layer of a few units): the reference's register loop, the
                       same sums in the same order, without a kernel call per row */
            nbi_ref_acc_rows(M, N, x, g);
        else
            acc_cols(be->k, M, N, 0, N, x, g);
        return;
    }
    int64_t per = ((N + nt - 1) / nt + 15) & ~(int64_t)15;
    rowsum_job j = {be->k, M, N, per, x, g};
    nbi_parallel_for(nt, (N + per - 1) / per, acc_rows_task, &j);
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
    be->unary_dx = cpu_unary_dx;
    be->binary = cpu_binary;
    be->softmax = cpu_softmax;
    be->log_softmax = cpu_log_softmax;
    be->softmax_bwd = cpu_softmax_bwd;
    be->log_softmax_bwd = cpu_log_softmax_bwd;
    be->binary_bwd = cpu_binary_bwd;
    be->copy_strided = cpu_copy_strided;
    be->acc_strided = cpu_acc_strided;
    be->acc_div_strided = cpu_acc_div_strided;
    be->sum_strided = cpu_sum_strided;
    be->max_strided = cpu_max_strided;
    be->scatter_add = cpu_scatter_add;
    be->index_narrow = cpu_index_narrow;
    be->fill = cpu_fill;
    be->add_into = cpu_add_into;
    be->find_nonfinite = cpu_find_nonfinite;
    be->pair_loss = cpu_pair_loss;
    be->pair_loss_bwd = cpu_pair_loss_bwd;
    be->nll = cpu_nll;
    be->nll_bwd = cpu_nll_bwd;
    be->cross_entropy_bwd = cpu_cross_entropy_bwd;
    be->find_outside = cpu_find_outside;
    be->find_bad_label = cpu_find_bad_label;
    be->pool = cpu_pool;
    be->conv_scratch = cpu_conv_scratch;
    be->conv_forward = cpu_conv_forward;
    be->conv_backward = cpu_conv_backward;
    be->relu_mask = cpu_relu_mask;
    be->plane_sums = cpu_plane_sums;
    be->bn_stats = cpu_bn_stats;
    be->bn_apply = cpu_bn_apply;
    be->bn_backward = cpu_bn_backward;
    be->bn_sum_x = cpu_bn_sum_x;
    be->bn_sum_sq = cpu_bn_sum_sq;
    be->bn_var = cpu_bn_var;
    be->bn_grad_sums = cpu_bn_grad_sums;
    be->bn_grad_x = cpu_bn_grad_x;
    be->dropout = cpu_dropout;
    be->moments_var = cpu_moments_var;
    be->moments_var_bwd = cpu_moments_var_bwd;
    be->cov = cpu_cov;
    be->cov_bwd = cpu_cov_bwd;
    be->optim_update = cpu_optim_update;
    be->sum_squares = cpu_sum_squares;
    be->sgemm = cpu_sgemm;
    be->sgemm_batched = cpu_sgemm_batched;
    nbi_backend_cpu_seq(be); /* seqops: the sequence ops' entries */
    nbi_backend_cpu_linalg(be);
    /* speed */
    be->bias_rows = cpu_bias_rows;
    be->acc_rows = cpu_acc_rows;
    nbi_backend_cpu_spectral(be);
    /* int8: quantized inference's entries */
    nbi_backend_cpu_int8(be);
}
