/* kernels/parallel.c — spreads the elementwise kernels over the thread pool.
 *
 * nbi_k's unary, binary and softmax entries point here; each front cuts a large array into
 * pieces (at multiples of 16 elements, so that no two threads write one cache line) and runs
 * the chosen instruction set's kernel on each piece via nbi_parallel_for. Small arrays go
 * straight to the kernel: below PAR_MIN elements a wake-up costs more than it saves. The
 * kernels compute every element the same way wherever a piece starts or ends (tails are
 * masked vector code), so results do not depend on the thread count. */
#include "kernels/kernels.h"
#include "kernels/pool.h"

#define PAR_MIN ((int64_t)1 << 16) /* elements */
#define PIECE_MIN ((int64_t)1 << 14)

/* The kernels the fronts call: the chosen ISA's, set once by nbi_parallel_kernels. */
static nbi_kernels raw;

/* Pieces of at least PIECE_MIN elements, about four per thread so that a fast thread can
 * take more of them. Returns the piece length (a multiple of 16). */
static int64_t piece_len(int64_t n) {
    int nt = nbi_pool_threads();
    int64_t len = (n + 4 * nt - 1) / (4 * nt);
    if (len < PIECE_MIN) len = PIECE_MIN;
    return (len + 15) & ~(int64_t)15;
}

/* ---- unary -------------------------------------------------------------------------------- */

typedef struct unary_job {
    int id;
    int64_t n, len;
    const float *x, *y, *gy, *p;
    float *out;
} unary_job;

static void unary_fwd_task(void *arg, int64_t t) {
    const unary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    raw.unary[j->id](hi - lo, j->x + lo, j->out + lo, j->p);
}

static void unary_bwd_task(void *arg, int64_t t) {
    const unary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    raw.unary_bwd[j->id](hi - lo, j->x ? j->x + lo : NULL, j->y ? j->y + lo : NULL, j->gy + lo,
                         j->out + lo, j->p);
}

static void unary_fwd(int id, int64_t n, const float *x, float *y, const float *p) {
    if (n < PAR_MIN || nbi_pool_threads() == 1) {
        raw.unary[id](n, x, y, p);
        return;
    }
    unary_job j = {id, n, piece_len(n), x, NULL, NULL, p, y};
    nbi_parallel_for((n + j.len - 1) / j.len, unary_fwd_task, &j);
}

static void unary_bwd(int id, int64_t n, const float *x, const float *y, const float *gy,
                      float *gx, const float *p) {
    if (n < PAR_MIN || nbi_pool_threads() == 1) {
        raw.unary_bwd[id](n, x, y, gy, gx, p);
        return;
    }
    unary_job j = {id, n, piece_len(n), x, y, gy, p, gx};
    nbi_parallel_for((n + j.len - 1) / j.len, unary_bwd_task, &j);
}

#define X(ID, name, np)                                                                     \
    static void par_fwd_##name(int64_t n, const float *x, float *y, const float *p) {       \
        unary_fwd(NBI_U_##ID, n, x, y, p);                                                  \
    }                                                                                       \
    static void par_bwd_##name(int64_t n, const float *x, const float *y, const float *gy,  \
                               float *gx, const float *p) {                                 \
        unary_bwd(NBI_U_##ID, n, x, y, gy, gx, p);                                          \
    }
NBI_UNARY_LIST(X)
#undef X

/* ---- binary ------------------------------------------------------------------------------- */

typedef struct binary_job {
    int id;
    int64_t n, len, sa, sb;
    const float *a, *b;
    float *y;
} binary_job;

static void binary_task(void *arg, int64_t t) {
    const binary_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    raw.binary[j->id](hi - lo, j->a + lo * j->sa, j->sa, j->b + lo * j->sb, j->sb, j->y + lo);
}

static void binary(int id, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                   float *y) {
    if (n < PAR_MIN || nbi_pool_threads() == 1) {
        raw.binary[id](n, a, sa, b, sb, y);
        return;
    }
    binary_job j = {id, n, piece_len(n), sa, sb, a, b, y};
    nbi_parallel_for((n + j.len - 1) / j.len, binary_task, &j);
}

#define X(ID, name)                                                                         \
    static void par_bin_##name(int64_t n, const float *a, int64_t sa, const float *b,       \
                               int64_t sb, float *y) {                                      \
        binary(NBI_B_##ID, n, a, sa, b, sb, y);                                             \
    }
NBI_BINARY_LIST(X)
#undef X

/* ---- softmax rows ------------------------------------------------------------------------- */

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

static void rows(nbi_rows_fn fn, int64_t r, int64_t cols, const float *x, float *y) {
    if (r < 2 || r * cols < PAR_MIN || nbi_pool_threads() == 1) {
        fn(r, cols, x, y);
        return;
    }
    int64_t per = piece_len(r * cols) / (cols > 0 ? cols : 1);
    if (per < 1) per = 1;
    rows_job j = {fn, r, cols, per, x, y};
    nbi_parallel_for((r + per - 1) / per, rows_task, &j);
}

static void par_softmax(int64_t r, int64_t cols, const float *x, float *y) {
    rows(raw.softmax, r, cols, x, y);
}

static void par_log_softmax(int64_t r, int64_t cols, const float *x, float *y) {
    rows(raw.log_softmax, r, cols, x, y);
}

void nbi_parallel_kernels(nbi_kernels *k, const nbi_kernels *r) {
    raw = *r;
#define X(ID, name, np)                                                                     \
    k->unary[NBI_U_##ID] = par_fwd_##name;                                                  \
    k->unary_bwd[NBI_U_##ID] = par_bwd_##name;
    NBI_UNARY_LIST(X)
#undef X
#define X(ID, name) k->binary[NBI_B_##ID] = par_bin_##name;
    NBI_BINARY_LIST(X)
#undef X
    k->softmax = par_softmax;
    k->log_softmax = par_log_softmax;
}
