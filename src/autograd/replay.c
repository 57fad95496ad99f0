/* autograd/replay.c — a recording back end that keeps every kernel call of a pass, and the
 * replay of those calls (see replay.h for when that is exact).
 *
 * The recording table is a copy of the context's back end (so that an op reading a setting
 * such as the thread budget sees the same value) whose entries that ops and the tape call
 * are wrappers: each keeps its arguments in one record and passes the call to the real back
 * end, with the real back end as `be`. Arguments that point to memory the caller owns only for
 * the call (a unary kernel's parameters, an iterator) are copied into the record. Entries
 * that return a value either validate (find_outside, find_bad_label: the replay checks the
 * answer is the recorded one) or report a GEMM's status. Entries no replayable op calls are
 * left as they are; the ops themselves are checked against a list (replayable_op), noted by
 * nbi_apply through ctx->op_seen.
 *
 * nbi_rec_end resolves each call into the function the replay will call (resolve): the real
 * entry again, or for a small call on the CPU back end the kernel that entry would run, and
 * some neighbouring calls of a dense layer fused into one kernel call (fuse). */
#include "autograd/replay.h"
#include "autograd/autograd.h"
#include "kernels/gemm/tiny.h"
#include "kernels/iter.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

typedef enum rec_kind {
    R_UNARY,
    R_UNARY_BWD,
    R_UNARY_DX,
    R_BINARY,
    R_BINARY_BWD,
    R_COPY_STRIDED,
    R_ACC_STRIDED,
    R_ACC_DIV_STRIDED,
    R_SUM_STRIDED,
    R_MAX_STRIDED,
    R_SCATTER_ADD,
    R_INDEX_NARROW,
    R_FILL,
    R_ADD_INTO,
    R_SOFTMAX,
    R_LOG_SOFTMAX,
    R_SOFTMAX_BWD,
    R_LOG_SOFTMAX_BWD,
    R_PAIR_LOSS,
    R_PAIR_LOSS_BWD,
    R_NLL,
    R_NLL_BWD,
    R_XENT_BWD,
    R_FIND_OUTSIDE,
    R_FIND_BAD_LABEL,
    R_SGEMM,
    R_BIAS_ROWS,
    R_ACC_ROWS
} rec_kind;

/* One call: small ints (ids, kinds, flags), sizes and strides, pointers read and written,
 * float arguments, and for the validating entries the answer given while recording.
 * nbi_rec_end adds how the replay makes it: fn, a function of the call's kind (or a direct
 * one, see resolve), and what fn needs besides the arguments. */
typedef struct rec_call rec_call;
typedef nb_status (*rec_fn)(const nbi_backend *be, const rec_call *c);
struct rec_call {
    rec_fn fn;
    union {
        const float *p;       /* the unary entries: the parameters (f) or NULL */
        const nbi_iter *it;   /* the strided entries: the kept iterator */
        nbi_gemm_tiny *plan;  /* a GEMM of one tile: its plan */
    } x;
    union { /* a direct call's kernel */
        nbi_unary_fn unary;
        nbi_unary_bwd_fn unary_bwd;
        nbi_binary_fn binary;
    } k;
    rec_fn solo; /* pair != 0: how the call is made without its partner */
    int pair;    /* 1, 2: the first or the second call of a fused pair (fuse) */
    int kind, a, b, has_p;
    int64_t n[6];
    const void *in[4];
    void *out[2];
    float f[4];
    int64_t ret;
};

/* A call that does work, as the replay makes it (nbi_rec_end: the calls less fuse's pairs'
 * members that do nothing). */
typedef struct rec_prog {
    rec_fn fn;
    const rec_call *c;
} rec_prog;

struct nbi_rec {
    nbi_backend tab; /* first: the table installed in the context; wrappers cast back */
    const nbi_backend *real;
    nb_ctx *ctx;
    rec_call *calls;
    int64_t n, cap;
    nbi_gemm_tiny *plans; /* the one-tile GEMMs' plans (resolve) */
    int64_t cap_plans;
    /* the calls that do work, in order, and for each call i the first of them at or after
     * it (prog_at[n]: their count); NULL when memory ran out (the calls are made in turn) */
    rec_prog *prog;
    int64_t *prog_at, cap_prog;
    nbi_iter *iters; /* the strided entries' iterators, by value */
    int64_t n_it, cap_it;
    int nomem;
    const char *bad_entry; /* an entry that cannot be replayed was called */
    unsigned char seen[NBI_OP_COUNT];
};

/* The number of parameters p of each unary kernel (nabla/ops.def's NP). */
static const unsigned char unary_np[NBI_U_COUNT] = {
#define NB_UNARY(ID, name, NP, CHECK) NP,
#include "nabla/ops.def"
};

/* A tripwire for whoever adds a back-end entry: an entry that a replayable op calls must be
 * wrapped below (and replayed in nbi_rec_replay), or the recording would miss its writes and a
 * replay would skip them. The table is the name, the thread count, the kernel set and the
 * state, then 87 entries (a pointer each, on 64- and 32-bit targets alike). */
_Static_assert(sizeof(nbi_backend) == 91 * sizeof(void *),
               "nbi_backend changed: decide whether autograd/replay.c records the new entry");

static inline nbi_rec *rec_of(const nbi_backend *be) {
    return (nbi_rec *)(void *)be;
}

static rec_call *push(const nbi_backend *be, int kind) {
    nbi_rec *r = rec_of(be);
    static rec_call sink; /* where a call goes once memory ran out (r->nomem reports it) */
    if (r->n == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 64;
        rec_call *c = r->nomem ? NULL : nbi_malloc((size_t)cap * sizeof *c);
        if (!c) {
            r->nomem = 1;
            return &sink;
        }
        if (r->n) memcpy(c, r->calls, (size_t)r->n * sizeof *c);
        nbi_free(r->calls);
        r->calls = c;
        r->cap = cap;
    }
    rec_call *c = &r->calls[r->n++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    return c;
}

static int64_t keep_iter(const nbi_backend *be, const nbi_iter *it) {
    nbi_rec *r = rec_of(be);
    if (r->n_it == r->cap_it) {
        int64_t cap = r->cap_it ? 2 * r->cap_it : 16;
        nbi_iter *p = r->nomem ? NULL : nbi_malloc((size_t)cap * sizeof *p);
        if (!p) {
            r->nomem = 1;
            return 0;
        }
        if (r->n_it) memcpy(p, r->iters, (size_t)r->n_it * sizeof *p);
        nbi_free(r->iters);
        r->iters = p;
        r->cap_it = cap;
    }
    r->iters[r->n_it] = *it;
    return r->n_it++;
}

static void keep_p(rec_call *c, int id, const float *p) {
    if (!p) return;
    c->has_p = 1;
    for (int i = 0; i < unary_np[id] && i < 4; i++) c->f[i] = p[i];
}

#define REAL(be) (rec_of(be)->real)

/* ---- the recording wrappers ---------------------------------------------------------------- */
static void w_unary(const nbi_backend *be, int id, int64_t n, const float *x, float *y,
                    const float *p) {
    rec_call *c = push(be, R_UNARY);
    c->a = id, c->n[0] = n, c->in[0] = x, c->out[0] = y;
    keep_p(c, id, p);
    REAL(be)->unary(REAL(be), id, n, x, y, p);
}
static void w_unary_bwd(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                        const float *gy, float *gx, const float *p) {
    rec_call *c = push(be, R_UNARY_BWD);
    c->a = id, c->n[0] = n, c->in[0] = x, c->in[1] = y, c->in[2] = gy, c->out[0] = gx;
    keep_p(c, id, p);
    REAL(be)->unary_bwd(REAL(be), id, n, x, y, gy, gx, p);
}
static void w_unary_dx(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                       const float *gy, float *gx, const float *p) {
    rec_call *c = push(be, R_UNARY_DX);
    c->a = id, c->n[0] = n, c->in[0] = x, c->in[1] = y, c->in[2] = gy, c->out[0] = gx;
    keep_p(c, id, p);
    REAL(be)->unary_dx(REAL(be), id, n, x, y, gy, gx, p);
}
static void w_binary(const nbi_backend *be, int id, int64_t n, const float *a, int64_t sa,
                     const float *b, int64_t sb, float *y) {
    rec_call *c = push(be, R_BINARY);
    c->a = id, c->n[0] = n, c->n[1] = sa, c->n[2] = sb, c->in[0] = a, c->in[1] = b;
    c->out[0] = y;
    REAL(be)->binary(REAL(be), id, n, a, sa, b, sb, y);
}
static void w_binary_bwd(const nbi_backend *be, int id, int which, int64_t len, const float *gy,
                         int64_t so, const float *y, const float *a, int64_t sa, const float *b,
                         int64_t sb, float *g, int64_t sg) {
    rec_call *c = push(be, R_BINARY_BWD);
    c->a = id, c->b = which, c->n[0] = len, c->n[1] = so, c->n[2] = sa, c->n[3] = sb;
    c->n[4] = sg, c->in[0] = gy, c->in[1] = y, c->in[2] = a, c->in[3] = b, c->out[0] = g;
    REAL(be)->binary_bwd(REAL(be), id, which, len, gy, so, y, a, sa, b, sb, g, sg);
}
static void w_copy_strided(const nbi_backend *be, const nbi_iter *it, void *dst, const void *src) {
    rec_call *c = push(be, R_COPY_STRIDED);
    c->n[0] = keep_iter(be, it), c->out[0] = dst, c->in[0] = src;
    REAL(be)->copy_strided(REAL(be), it, dst, src);
}
static void w_acc_strided(const nbi_backend *be, const nbi_iter *it, float *dst, const float *src) {
    rec_call *c = push(be, R_ACC_STRIDED);
    c->n[0] = keep_iter(be, it), c->out[0] = dst, c->in[0] = src;
    REAL(be)->acc_strided(REAL(be), it, dst, src);
}
static void w_acc_div_strided(const nbi_backend *be, const nbi_iter *it, float *dst,
                              const float *src, float div) {
    rec_call *c = push(be, R_ACC_DIV_STRIDED);
    c->n[0] = keep_iter(be, it), c->out[0] = dst, c->in[0] = src, c->f[0] = div;
    REAL(be)->acc_div_strided(REAL(be), it, dst, src, div);
}
static void w_sum_strided(const nbi_backend *be, const nbi_iter *it, const float *x, double *acc,
                          int64_t ngroups, int64_t count, int mean, float *y) {
    rec_call *c = push(be, R_SUM_STRIDED);
    c->n[0] = keep_iter(be, it), c->in[0] = x, c->out[0] = acc, c->n[1] = ngroups;
    c->n[2] = count, c->a = mean, c->out[1] = y;
    REAL(be)->sum_strided(REAL(be), it, x, acc, ngroups, count, mean, y);
}
static void w_max_strided(const nbi_backend *be, const nbi_iter *it, const float *x, float *best,
                          int64_t *pos, int64_t ngroups) {
    rec_call *c = push(be, R_MAX_STRIDED);
    c->n[0] = keep_iter(be, it), c->in[0] = x, c->out[0] = best, c->out[1] = pos;
    c->n[1] = ngroups;
    REAL(be)->max_strided(REAL(be), it, x, best, pos, ngroups);
}
static void w_scatter_add(const nbi_backend *be, int64_t n, const int64_t *pos, const float *gy,
                          float *gx) {
    rec_call *c = push(be, R_SCATTER_ADD);
    c->n[0] = n, c->in[0] = pos, c->in[1] = gy, c->out[0] = gx;
    REAL(be)->scatter_add(REAL(be), n, pos, gy, gx);
}
static void w_index_narrow(const nbi_backend *be, int64_t n, const int64_t *pos, int32_t *y) {
    rec_call *c = push(be, R_INDEX_NARROW);
    c->n[0] = n, c->in[0] = pos, c->out[0] = y;
    REAL(be)->index_narrow(REAL(be), n, pos, y);
}
static void w_fill(const nbi_backend *be, int64_t n, float *y, float v) {
    rec_call *c = push(be, R_FILL);
    c->n[0] = n, c->out[0] = y, c->f[0] = v;
    REAL(be)->fill(REAL(be), n, y, v);
}
static void w_add_into(const nbi_backend *be, int64_t n, const float *x, float *y) {
    rec_call *c = push(be, R_ADD_INTO);
    c->n[0] = n, c->in[0] = x, c->out[0] = y;
    REAL(be)->add_into(REAL(be), n, x, y);
}
static void w_softmax(const nbi_backend *be, int64_t rows, int64_t cols, const float *x, float *y) {
    rec_call *c = push(be, R_SOFTMAX);
    c->n[0] = rows, c->n[1] = cols, c->in[0] = x, c->out[0] = y;
    REAL(be)->softmax(REAL(be), rows, cols, x, y);
}
static void w_log_softmax(const nbi_backend *be, int64_t rows, int64_t cols, const float *x,
                          float *y) {
    rec_call *c = push(be, R_LOG_SOFTMAX);
    c->n[0] = rows, c->n[1] = cols, c->in[0] = x, c->out[0] = y;
    REAL(be)->log_softmax(REAL(be), rows, cols, x, y);
}
static void w_softmax_bwd(const nbi_backend *be, int64_t rows, int64_t cols, const float *y,
                          const float *gy, float *gx) {
    rec_call *c = push(be, R_SOFTMAX_BWD);
    c->n[0] = rows, c->n[1] = cols, c->in[0] = y, c->in[1] = gy, c->out[0] = gx;
    REAL(be)->softmax_bwd(REAL(be), rows, cols, y, gy, gx);
}
static void w_log_softmax_bwd(const nbi_backend *be, int64_t rows, int64_t cols, const float *y,
                              const float *gy, float *gx) {
    rec_call *c = push(be, R_LOG_SOFTMAX_BWD);
    c->n[0] = rows, c->n[1] = cols, c->in[0] = y, c->in[1] = gy, c->out[0] = gx;
    REAL(be)->log_softmax_bwd(REAL(be), rows, cols, y, gy, gx);
}
static void w_pair_loss(const nbi_backend *be, int kind, int reduction, int64_t n, const float *p,
                        const float *t, float *y) {
    rec_call *c = push(be, R_PAIR_LOSS);
    c->a = kind, c->b = reduction, c->n[0] = n, c->in[0] = p, c->in[1] = t, c->out[0] = y;
    REAL(be)->pair_loss(REAL(be), kind, reduction, n, p, t, y);
}
static void w_pair_loss_bwd(const nbi_backend *be, int kind, int reduction, int64_t n,
                            const float *p, const float *t, const float *gy, float *gp, float *gt) {
    rec_call *c = push(be, R_PAIR_LOSS_BWD);
    c->a = kind, c->b = reduction, c->n[0] = n, c->in[0] = p, c->in[1] = t, c->in[2] = gy;
    c->out[0] = gp, c->out[1] = gt;
    REAL(be)->pair_loss_bwd(REAL(be), kind, reduction, n, p, t, gy, gp, gt);
}
static void w_nll(const nbi_backend *be, int reduction, int64_t N, const float *x, int64_t rs,
                  int64_t cs, const int32_t *labels, int64_t ls, float *out) {
    rec_call *c = push(be, R_NLL);
    c->a = reduction, c->n[0] = N, c->n[1] = rs, c->n[2] = cs, c->n[3] = ls, c->in[0] = x;
    c->in[1] = labels, c->out[0] = out;
    REAL(be)->nll(REAL(be), reduction, N, x, rs, cs, labels, ls, out);
}
static void w_nll_bwd(const nbi_backend *be, int reduction, int64_t N, int64_t C, const float *gy,
                      const int32_t *labels, int64_t ls, float *gx) {
    rec_call *c = push(be, R_NLL_BWD);
    c->a = reduction, c->n[0] = N, c->n[1] = C, c->n[2] = ls, c->in[0] = gy, c->in[1] = labels;
    c->out[0] = gx;
    REAL(be)->nll_bwd(REAL(be), reduction, N, C, gy, labels, ls, gx);
}
static void w_xent_bwd(const nbi_backend *be, int reduction, int64_t N, int64_t C, const float *gy,
                       const float *lp, const int32_t *labels, int64_t ls, float *gx) {
    rec_call *c = push(be, R_XENT_BWD);
    c->a = reduction, c->n[0] = N, c->n[1] = C, c->n[2] = ls, c->in[0] = gy, c->in[1] = lp;
    c->in[2] = labels, c->out[0] = gx;
    REAL(be)->cross_entropy_bwd(REAL(be), reduction, N, C, gy, lp, labels, ls, gx);
}
static int64_t w_find_outside(const nbi_backend *be, int64_t n, const float *x, float lo,
                              float hi) {
    rec_call *c = push(be, R_FIND_OUTSIDE);
    c->n[0] = n, c->in[0] = x, c->f[0] = lo, c->f[1] = hi;
    return c->ret = REAL(be)->find_outside(REAL(be), n, x, lo, hi);
}
static int64_t w_find_bad_label(const nbi_backend *be, int64_t N, const int32_t *labels, int64_t ls,
                                int64_t C) {
    rec_call *c = push(be, R_FIND_BAD_LABEL);
    c->n[0] = N, c->in[0] = labels, c->n[1] = ls, c->n[2] = C;
    return c->ret = REAL(be)->find_bad_label(REAL(be), N, labels, ls, C);
}
static nb_status w_sgemm(const nbi_backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc) {
    rec_call *c = push(be, R_SGEMM);
    c->a = ta, c->b = tb, c->n[0] = M, c->n[1] = N, c->n[2] = K, c->n[3] = lda, c->n[4] = ldb;
    c->n[5] = ldc, c->f[0] = alpha, c->f[1] = beta, c->in[0] = A, c->in[1] = B, c->out[0] = C;
    return (nb_status)(c->ret = REAL(be)->sgemm(REAL(be), ta, tb, M, N, K, alpha, A, lda, B, ldb,
                                                beta, C, ldc));
}
static void w_bias_rows(const nbi_backend *be, int64_t M, int64_t N, const float *b, float *y) {
    rec_call *c = push(be, R_BIAS_ROWS);
    c->n[0] = M, c->n[1] = N, c->in[0] = b, c->out[0] = y;
    REAL(be)->bias_rows(REAL(be), M, N, b, y);
}
static void w_acc_rows(const nbi_backend *be, int64_t M, int64_t N, const float *x, float *g) {
    rec_call *c = push(be, R_ACC_ROWS);
    c->n[0] = M, c->n[1] = N, c->in[0] = x, c->out[0] = g;
    REAL(be)->acc_rows(REAL(be), M, N, x, g);
}

/* Entries a replayable op never calls, whose effect a replay could not repeat: memory the
 * back end hands out, host copies, check mode's scan. They are noted and passed on. */
static void *w_alloc(const nbi_backend *be, size_t bytes) {
    rec_of(be)->bad_entry = "alloc";
    return REAL(be)->alloc(REAL(be), bytes);
}
static void w_free(const nbi_backend *be, void *p) {
    rec_of(be)->bad_entry = "free";
    REAL(be)->free(REAL(be), p);
}
static void w_copy(const nbi_backend *be, void *dst, const void *src, size_t bytes) {
    rec_of(be)->bad_entry = "copy";
    REAL(be)->copy(REAL(be), dst, src, bytes);
}
static void w_from_host(const nbi_backend *be, void *dst, const void *host, size_t bytes) {
    rec_of(be)->bad_entry = "from_host";
    REAL(be)->from_host(REAL(be), dst, host, bytes);
}
static int64_t w_find_nonfinite(const nbi_backend *be, int64_t n, const float *x) {
    rec_of(be)->bad_entry = "find_nonfinite";
    return REAL(be)->find_nonfinite(REAL(be), n, x);
}

/* ---- which ops a recording may contain --------------------------------------------------------
 * Those whose forward and backward write memory only through the wrapped entries above and
 * take no random draw: the elementwise ops, softmax, products and the dense layer's ops,
 * views and copies, reductions, and the losses. Not: dropout (a new mask every step), batch
 * norm (running statistics, reductions through other entries), convolutions and pooling,
 * the sequence ops, linear algebra, moments, the spectral ops. */
static int replayable_op(int op) {
    switch (op) {
#define NB_UNARY(ID, name, NP, CHECK) case NBI_OP_##ID:
#define NB_BINARY(ID, name) case NBI_OP_##ID:
#define NB_OP(ID, name)
#include "nabla/ops.def"
    case NBI_OP_SOFTMAX:
    case NBI_OP_LOG_SOFTMAX:
    case NBI_OP_MATMUL:
    case NBI_OP_LINEAR:
    case NBI_OP_LINEAR_ACT:
    case NBI_OP_RESHAPE:
    case NBI_OP_PERMUTE:
    case NBI_OP_SLICE:
    case NBI_OP_CONCAT:
    case NBI_OP_CONTIGUOUS:
    case NBI_OP_SUM:
    case NBI_OP_MEAN:
    case NBI_OP_MAX:
    case NBI_OP_ARGMAX:
    case NBI_OP_MSE_LOSS:
    case NBI_OP_L1_LOSS:
    case NBI_OP_BCE_LOSS:
    case NBI_OP_BCE_LOGITS_LOSS:
    case NBI_OP_CROSS_ENTROPY:
    case NBI_OP_NLL_LOSS:
        return 1;
    default:
        return 0;
    }
}

nb_status nbi_rec_begin(nb_ctx *ctx, nbi_rec **io) {
    if (ctx->check)
        return nbi_error(NB_ERR_UNSUPPORTED, "recording a step: check mode is on (its scans "
                                             "stop on data, which a replay cannot repeat)");
    if (ctx->grad_ready)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "recording a step: a gradient-ready hook is set (data-parallel)");
    if (ctx->op_seen)
        return nbi_error(NB_ERR_UNSUPPORTED, "recording a step: a recording is already on");
    nbi_rec *r = *io;
    if (!r) {
        if (!(r = nbi_malloc(sizeof *r)))
            return nbi_error(NB_ERR_NOMEM, "recording a step: out of memory");
        memset(r, 0, sizeof *r);
        *io = r;
    } else { /* a recording's storage again: its arrays are kept (no allocation) */
        r->n = r->n_it = 0;
        r->nomem = 0;
        r->bad_entry = NULL;
        memset(r->seen, 0, sizeof r->seen);
    }
    r->real = ctx->be;
    r->ctx = ctx;
    r->tab = *ctx->be;
    nbi_backend *t = &r->tab;
    t->unary = w_unary, t->unary_bwd = w_unary_bwd, t->unary_dx = w_unary_dx;
    t->binary = w_binary;
    t->binary_bwd = w_binary_bwd, t->copy_strided = w_copy_strided;
    t->acc_strided = w_acc_strided, t->acc_div_strided = w_acc_div_strided;
    t->sum_strided = w_sum_strided, t->max_strided = w_max_strided;
    t->scatter_add = w_scatter_add, t->index_narrow = w_index_narrow, t->fill = w_fill;
    t->add_into = w_add_into, t->softmax = w_softmax, t->log_softmax = w_log_softmax;
    t->softmax_bwd = w_softmax_bwd, t->log_softmax_bwd = w_log_softmax_bwd;
    t->pair_loss = w_pair_loss, t->pair_loss_bwd = w_pair_loss_bwd, t->nll = w_nll;
    t->nll_bwd = w_nll_bwd, t->cross_entropy_bwd = w_xent_bwd;
    t->find_outside = w_find_outside, t->find_bad_label = w_find_bad_label;
    t->sgemm = w_sgemm, t->bias_rows = w_bias_rows, t->acc_rows = w_acc_rows;
    t->alloc = w_alloc, t->free = w_free, t->copy = w_copy, t->from_host = w_from_host;
    t->find_nonfinite = w_find_nonfinite;
    ctx->be = &r->tab;
    ctx->op_seen = r->seen;
    return NB_OK;
}

static void resolve(nbi_rec *r);

nb_status nbi_rec_end(nb_ctx *ctx, nbi_rec *r) {
    NBI_ASSERT(ctx->be == &r->tab && ctx->op_seen == r->seen);
    ctx->be = r->real;
    ctx->op_seen = NULL;
    if (r->nomem) return nbi_error(NB_ERR_NOMEM, "recording a step: out of memory");
    for (int op = 0; op < NBI_OP_COUNT; op++)
        if (r->seen[op] && !replayable_op(op))
            return nbi_error(NB_ERR_UNSUPPORTED,
                             "recording a step: op '%s' cannot be replayed (only elementwise "
                             "ops, softmax, matmul and the dense layer's ops, views, "
                             "reductions and the losses can)",
                             nbi_ops[op]->name);
    if (r->bad_entry)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "recording a step: the back end's '%s' was called, which a replay "
                         "cannot repeat",
                         r->bad_entry);
    resolve(r);
    return NB_OK;
}

/* ---- replaying ------------------------------------------------------------------------------
 * Each call is made by its fn, which the replay calls in turn: a function of the call's kind
 * that calls the back end's entry again, or (resolve) a direct call of the kernel that entry
 * would run, for the small calls of a tiny network whose entries cost more than their work. */

static nb_status x_unary(const nbi_backend *be, const rec_call *c) {
    be->unary(be, c->a, c->n[0], c->in[0], c->out[0], c->x.p);
    return NB_OK;
}
static nb_status x_unary_bwd(const nbi_backend *be, const rec_call *c) {
    be->unary_bwd(be, c->a, c->n[0], c->in[0], c->in[1], c->in[2], c->out[0], c->x.p);
    return NB_OK;
}
static nb_status x_unary_dx(const nbi_backend *be, const rec_call *c) {
    be->unary_dx(be, c->a, c->n[0], c->in[0], c->in[1], c->in[2], c->out[0], c->x.p);
    return NB_OK;
}
static nb_status x_binary(const nbi_backend *be, const rec_call *c) {
    be->binary(be, c->a, c->n[0], c->in[0], c->n[1], c->in[1], c->n[2], c->out[0]);
    return NB_OK;
}
static nb_status x_binary_bwd(const nbi_backend *be, const rec_call *c) {
    be->binary_bwd(be, c->a, c->b, c->n[0], c->in[0], c->n[1], c->in[1], c->in[2], c->n[2],
                   c->in[3], c->n[3], c->out[0], c->n[4]);
    return NB_OK;
}
static nb_status x_copy_strided(const nbi_backend *be, const rec_call *c) {
    be->copy_strided(be, c->x.it, c->out[0], c->in[0]);
    return NB_OK;
}
static nb_status x_acc_strided(const nbi_backend *be, const rec_call *c) {
    be->acc_strided(be, c->x.it, c->out[0], c->in[0]);
    return NB_OK;
}
static nb_status x_acc_div_strided(const nbi_backend *be, const rec_call *c) {
    be->acc_div_strided(be, c->x.it, c->out[0], c->in[0], c->f[0]);
    return NB_OK;
}
static nb_status x_sum_strided(const nbi_backend *be, const rec_call *c) {
    be->sum_strided(be, c->x.it, c->in[0], c->out[0], c->n[1], c->n[2], c->a, c->out[1]);
    return NB_OK;
}
static nb_status x_max_strided(const nbi_backend *be, const rec_call *c) {
    be->max_strided(be, c->x.it, c->in[0], c->out[0], c->out[1], c->n[1]);
    return NB_OK;
}
static nb_status x_scatter_add(const nbi_backend *be, const rec_call *c) {
    be->scatter_add(be, c->n[0], c->in[0], c->in[1], c->out[0]);
    return NB_OK;
}
static nb_status x_index_narrow(const nbi_backend *be, const rec_call *c) {
    be->index_narrow(be, c->n[0], c->in[0], c->out[0]);
    return NB_OK;
}
static nb_status x_fill(const nbi_backend *be, const rec_call *c) {
    be->fill(be, c->n[0], c->out[0], c->f[0]);
    return NB_OK;
}
static nb_status x_add_into(const nbi_backend *be, const rec_call *c) {
    be->add_into(be, c->n[0], c->in[0], c->out[0]);
    return NB_OK;
}
static nb_status x_softmax(const nbi_backend *be, const rec_call *c) {
    be->softmax(be, c->n[0], c->n[1], c->in[0], c->out[0]);
    return NB_OK;
}
static nb_status x_log_softmax(const nbi_backend *be, const rec_call *c) {
    be->log_softmax(be, c->n[0], c->n[1], c->in[0], c->out[0]);
    return NB_OK;
}
static nb_status x_softmax_bwd(const nbi_backend *be, const rec_call *c) {
    be->softmax_bwd(be, c->n[0], c->n[1], c->in[0], c->in[1], c->out[0]);
    return NB_OK;
}
static nb_status x_log_softmax_bwd(const nbi_backend *be, const rec_call *c) {
    be->log_softmax_bwd(be, c->n[0], c->n[1], c->in[0], c->in[1], c->out[0]);
    return NB_OK;
}
static nb_status x_pair_loss(const nbi_backend *be, const rec_call *c) {
    be->pair_loss(be, c->a, c->b, c->n[0], c->in[0], c->in[1], c->out[0]);
    return NB_OK;
}
static nb_status x_pair_loss_bwd(const nbi_backend *be, const rec_call *c) {
    be->pair_loss_bwd(be, c->a, c->b, c->n[0], c->in[0], c->in[1], c->in[2], c->out[0],
                      c->out[1]);
    return NB_OK;
}
static nb_status x_nll(const nbi_backend *be, const rec_call *c) {
    be->nll(be, c->a, c->n[0], c->in[0], c->n[1], c->n[2], c->in[1], c->n[3], c->out[0]);
    return NB_OK;
}
static nb_status x_nll_bwd(const nbi_backend *be, const rec_call *c) {
    be->nll_bwd(be, c->a, c->n[0], c->n[1], c->in[0], c->in[1], c->n[2], c->out[0]);
    return NB_OK;
}
static nb_status x_xent_bwd(const nbi_backend *be, const rec_call *c) {
    be->cross_entropy_bwd(be, c->a, c->n[0], c->n[1], c->in[0], c->in[1], c->in[2], c->n[2],
                          c->out[0]);
    return NB_OK;
}
static nb_status x_find_outside(const nbi_backend *be, const rec_call *c) {
    return be->find_outside(be, c->n[0], c->in[0], c->f[0], c->f[1]) != c->ret ? NB_ERR_STATE
                                                                                : NB_OK;
}
static nb_status x_find_bad_label(const nbi_backend *be, const rec_call *c) {
    return be->find_bad_label(be, c->n[0], c->in[0], c->n[1], c->n[2]) != c->ret ? NB_ERR_STATE
                                                                                  : NB_OK;
}
static nb_status x_sgemm(const nbi_backend *be, const rec_call *c) {
    return be->sgemm(be, c->a, c->b, c->n[0], c->n[1], c->n[2], c->f[0], c->in[0], c->n[3],
                     c->in[1], c->n[4], c->f[1], c->out[0], c->n[5]);
}
static nb_status x_bias_rows(const nbi_backend *be, const rec_call *c) {
    be->bias_rows(be, c->n[0], c->n[1], c->in[0], c->out[0]);
    return NB_OK;
}
static nb_status x_acc_rows(const nbi_backend *be, const rec_call *c) {
    be->acc_rows(be, c->n[0], c->n[1], c->in[0], c->out[0]);
    return NB_OK;
}

/* by kind */
static const rec_fn replay_fn[] = {
    [R_UNARY] = x_unary,
    [R_UNARY_BWD] = x_unary_bwd,
    [R_UNARY_DX] = x_unary_dx,
    [R_BINARY] = x_binary,
    [R_BINARY_BWD] = x_binary_bwd,
    [R_COPY_STRIDED] = x_copy_strided,
    [R_ACC_STRIDED] = x_acc_strided,
    [R_ACC_DIV_STRIDED] = x_acc_div_strided,
    [R_SUM_STRIDED] = x_sum_strided,
    [R_MAX_STRIDED] = x_max_strided,
    [R_SCATTER_ADD] = x_scatter_add,
    [R_INDEX_NARROW] = x_index_narrow,
    [R_FILL] = x_fill,
    [R_ADD_INTO] = x_add_into,
    [R_SOFTMAX] = x_softmax,
    [R_LOG_SOFTMAX] = x_log_softmax,
    [R_SOFTMAX_BWD] = x_softmax_bwd,
    [R_LOG_SOFTMAX_BWD] = x_log_softmax_bwd,
    [R_PAIR_LOSS] = x_pair_loss,
    [R_PAIR_LOSS_BWD] = x_pair_loss_bwd,
    [R_NLL] = x_nll,
    [R_NLL_BWD] = x_nll_bwd,
    [R_XENT_BWD] = x_xent_bwd,
    [R_FIND_OUTSIDE] = x_find_outside,
    [R_FIND_BAD_LABEL] = x_find_bad_label,
    [R_SGEMM] = x_sgemm,
    [R_BIAS_ROWS] = x_bias_rows,
    [R_ACC_ROWS] = x_acc_rows,
};
_Static_assert(sizeof replay_fn / sizeof *replay_fn == R_ACC_ROWS + 1,
               "replay_fn: one function per rec_kind");

/* Direct calls: what the CPU back end's entry does for a small call (kernels/cpu.c: below
 * its pool threshold an entry runs its kernel set's kernel on the whole array, on the
 * calling thread), made without the entry. The kernels compute each element the same way
 * wherever a piece starts (kernels/cpu.c), so the bits do not depend on this choice; it is
 * made only for calls below DIRECT_N elements, far below the pool's threshold, so that large
 * calls keep their threads. */
#define DIRECT_N 2048

static nb_status d_unary(const nbi_backend *be, const rec_call *c) {
    (void)be;
    c->k.unary(c->n[0], c->in[0], c->out[0], c->x.p);
    return NB_OK;
}
static nb_status d_unary_bwd(const nbi_backend *be, const rec_call *c) {
    (void)be;
    c->k.unary_bwd(c->n[0], c->in[0], c->in[1], c->in[2], c->out[0], c->x.p);
    return NB_OK;
}
/* gx = gy f'(x, y): the accumulating kernel into zeros, as cpu.c's unary_dx (zeros first:
 * 0 + t is not t for t = -0) */
static nb_status d_unary_dx(const nbi_backend *be, const rec_call *c) {
    (void)be;
    float *gx = c->out[0];
    if (c->n[0] <= 64)
        nbi_tiny_fill(c->n[0], gx, 0.0f);
    else
        memset(gx, 0, (size_t)c->n[0] * sizeof *gx);
    c->k.unary_bwd(c->n[0], c->in[0], c->in[1], c->in[2], gx, c->x.p);
    return NB_OK;
}
static nb_status d_binary(const nbi_backend *be, const rec_call *c) {
    (void)be;
    c->k.binary(c->n[0], c->in[0], c->n[1], c->in[1], c->n[2], c->out[0]);
    return NB_OK;
}
/* y += x: the set's add in place (cpu.c's add_into) */
static nb_status d_add_into(const nbi_backend *be, const rec_call *c) {
    (void)be;
    c->k.binary(c->n[0], c->out[0], 1, c->in[0], 1, c->out[0]);
    return NB_OK;
}
static nb_status d_fill(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_fill(c->n[0], c->out[0], c->f[0]);
    return NB_OK;
}
static nb_status d_gemm_tile(const nbi_backend *be, const rec_call *c) {
    (void)be;
    c->x.plan->tile(&c->x.plan->c);
    return NB_OK;
}
static nb_status d_gemm_ukr(const nbi_backend *be, const rec_call *c) {
    (void)be;
    const nbi_gemm_tiny *t = c->x.plan;
    t->ukr(t, t->c.B);
    return NB_OK;
}
static nb_status d_gemm_tile_bt(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_gemm_tiny_run(c->x.plan);
    return NB_OK;
}
/* y = x p, gx = 0 + gy p: one float by mul_scalar's one IEEE operation (every kernel set's
 * v * p0, and its derivative's gx + gy p0 into zeros), for a loss's scale of one element,
 * where the kernel's masked vector code and its call are the cost */
static nb_status d_mul_scalar1(const nbi_backend *be, const rec_call *c) {
    (void)be;
    *(float *)c->out[0] = *(const float *)c->in[0] * c->f[0];
    return NB_OK;
}
static nb_status d_mul_scalar_dx1(const nbi_backend *be, const rec_call *c) {
    (void)be;
    *(float *)c->out[0] = 0.0f + *(const float *)c->in[2] * c->f[0];
    return NB_OK;
}
/* a fill and the elementwise function of it in place (fuse): the function's value of the
 * filled value, worked out once, filled */
static nb_status d_fill_f(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_fill(c->n[0], c->out[0], c->f[1]);
    return NB_OK;
}
/* zeros and the squared error's gradient added to them (fuse) */
static nb_status d_mse_dx(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_mse_dx(c->b, c->n[0], c->in[0], c->in[1], c->in[2], c->out[0]);
    return NB_OK;
}
/* the other call of a fused pair does this one's work */
static nb_status d_none(const nbi_backend *be, const rec_call *c) {
    (void)be, (void)c;
    return NB_OK;
}
static nb_status d_bias_rows(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_bias_rows(c->n[0], c->n[1], c->in[0], c->out[0]);
    return NB_OK;
}
static nb_status d_acc_rows(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_acc_rows(c->n[0], c->n[1], c->in[0], c->out[0]);
    return NB_OK;
}

/* the losses: cpu.c's entries call the reference's kernels, on the calling thread */
static nb_status d_pair_loss(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_ref_pair_loss(c->a, c->b, c->n[0], c->in[0], c->in[1], c->out[0]);
    return NB_OK;
}
static nb_status d_pair_loss_bwd(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_ref_pair_loss_bwd(c->a, c->b, c->n[0], c->in[0], c->in[1], c->in[2], c->out[0], c->out[1]);
    return NB_OK;
}
static nb_status d_mse(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_mse(c->b, c->n[0], c->in[0], c->in[1], c->out[0]);
    return NB_OK;
}
static nb_status d_mse_bwd(const nbi_backend *be, const rec_call *c) {
    (void)be;
    nbi_tiny_mse_bwd(c->b, c->n[0], c->in[0], c->in[1], c->in[2], c->out[0], c->out[1]);
    return NB_OK;
}

/* Sets each call's fn and its extra arguments. Where the back end's entry is the CPU back
 * end's own (compared with a table nbi_backend_cpu fills for the same kernel set), a small
 * call is made directly: the kernel set's elementwise kernel, a one-tile GEMM's tile kernel
 * (nbi_gemm_tiny_plan: BLAS=openblas's GEMM is not the CPU entry and is left alone), the
 * short-row bias kernels (the reference's sums, kernels/gemm/tiny.h), the pointwise losses'
 * reference kernels (cpu.c's entries call nothing else; the squared error's without the
 * test of the kind at each element, nbi_tiny_mse). */
static void fuse(nbi_rec *r);
static void build_prog(nbi_rec *r);

static void resolve(nbi_rec *r) {
    const nbi_backend *be = r->real;
    nbi_backend cpu;
    const int is_cpu = be->k != NULL;
    if (is_cpu) nbi_backend_cpu(&cpu, be->k, be->threads);
    const nbi_kernels *k = be->k;
    int64_t nplans = 0;
    for (int64_t i = 0; i < r->n; i++) nplans += r->calls[i].kind == R_SGEMM;
    if (nplans > r->cap_plans) {
        nbi_free(r->plans);
        r->plans = nbi_malloc((size_t)nplans * sizeof *r->plans);
        r->cap_plans = r->plans ? nplans : 0; /* out of memory: the GEMMs through the entry */
    }
    nplans = 0;
    for (int64_t i = 0; i < r->n; i++) {
        rec_call *c = &r->calls[i];
        c->fn = replay_fn[c->kind];
        const int64_t n = c->n[0];
        const int small = n <= DIRECT_N;
        switch ((rec_kind)c->kind) {
        case R_UNARY:
            c->x.p = c->has_p ? c->f : NULL;
            if (is_cpu && small && be->unary == cpu.unary)
                c->k.unary = k->unary[c->a], c->fn = d_unary;
            if (c->fn == d_unary && n == 1 && c->a == NBI_U_MUL_SCALAR && c->has_p)
                c->fn = d_mul_scalar1;
            break;
        case R_UNARY_BWD:
        case R_UNARY_DX:
            c->x.p = c->has_p ? c->f : NULL;
            if (!is_cpu || !small) break;
            c->k.unary_bwd = k->unary_bwd[c->a];
            if (c->kind == R_UNARY_BWD && be->unary_bwd == cpu.unary_bwd) c->fn = d_unary_bwd;
            if (c->kind == R_UNARY_DX && be->unary_dx == cpu.unary_dx) c->fn = d_unary_dx;
            if (c->fn == d_unary_dx && n == 1 && c->a == NBI_U_MUL_SCALAR && c->has_p)
                c->fn = d_mul_scalar_dx1;
            break;
        case R_BINARY:
            if (is_cpu && small && be->binary == cpu.binary)
                c->k.binary = k->binary[c->a], c->fn = d_binary;
            break;
        case R_ADD_INTO:
            if (is_cpu && small && be->add_into == cpu.add_into)
                c->k.binary = k->binary[NBI_B_ADD], c->fn = d_add_into;
            break;
        case R_FILL:
            if (is_cpu && n <= 64 && be->fill == cpu.fill) c->fn = d_fill;
            break;
        case R_COPY_STRIDED:
        case R_ACC_STRIDED:
        case R_ACC_DIV_STRIDED:
        case R_SUM_STRIDED:
        case R_MAX_STRIDED:
            c->x.it = &r->iters[c->n[0]];
            break;
        case R_SGEMM:
            if (is_cpu && be->sgemm == cpu.sgemm && nplans < r->cap_plans && c->ret == NB_OK) {
                nbi_gemm_tiny *t = &r->plans[nplans];
                if (nbi_gemm_tiny_plan(k->sgemm, c->a, c->b, c->n[0], c->n[1], c->n[2], c->f[0],
                                       c->in[0], c->n[3], c->in[1], c->n[4], c->f[1], c->out[0],
                                       c->n[5], t)) {
                    nplans++;
                    c->x.plan = t;
                    c->fn = t->bt ? d_gemm_tile_bt : t->ukr ? d_gemm_ukr : d_gemm_tile;
                }
            }
            break;
        case R_PAIR_LOSS:
            if (is_cpu && be->pair_loss == cpu.pair_loss)
                c->fn = c->a == NBI_LOSS_MSE ? d_mse : d_pair_loss;
            break;
        case R_PAIR_LOSS_BWD:
            if (is_cpu && be->pair_loss_bwd == cpu.pair_loss_bwd)
                c->fn = c->a == NBI_LOSS_MSE ? d_mse_bwd : d_pair_loss_bwd;
            break;
        case R_BIAS_ROWS:
            if (is_cpu && c->n[0] * c->n[1] <= DIRECT_N && be->bias_rows == cpu.bias_rows)
                c->fn = d_bias_rows;
            break;
        case R_ACC_ROWS:
            if (is_cpu && c->n[0] * c->n[1] <= DIRECT_N && be->acc_rows == cpu.acc_rows)
                c->fn = d_acc_rows;
            break;
        default:
            break;
        }
        c->solo = NULL;
        c->pair = 0;
    }
    fuse(r);
    build_prog(r);
}

/* Do n floats at a and m floats at b not overlap? */
static int apart(const void *a, int64_t n, const void *b, int64_t m) {
    const float *x = a, *y = b;
    return !x || !y || x + n <= y || y + m <= x;
}

/* Pairs of neighbouring calls that one kernel call makes together (nbi_gemm_tiny_fuse_*): a
 * dense layer's bias copied into its output, then the product added to it; the weight
 * gradient's product, then the bias gradient's column sums of the same B. And two of the
 * loss's backward: a fill and a function of it in place (the seed of the backward, 0 then
 * + 1: one fill of the function's value, which an elementwise kernel computes the same for
 * any element), zeros and the squared error's gradient added to them. The pair's other
 * call does nothing. */
static void fuse(nbi_rec *r) {
    for (int64_t i = 0; i + 1 < r->n; i++) {
        rec_call *c = &r->calls[i], *d = c + 1;
        if (c->pair || d->pair) continue;
        if (c->fn == d_fill && (d->fn == d_unary || d->fn == d_mul_scalar1) && d->n[0] == c->n[0] &&
            d->in[0] == c->out[0] && d->out[0] == c->out[0]) {
            d->k.unary(1, &c->f[0], &c->f[1], d->x.p);
            c->solo = c->fn, c->fn = d_fill_f, c->pair = 1;
            d->solo = d->fn, d->fn = d_none, d->pair = 2;
        } else if (c->fn == d_fill && c->f[0] == 0.0f && !signbit(c->f[0]) && d->fn == d_mse_bwd &&
                   d->out[0] == c->out[0] && !d->out[1] && d->n[0] == c->n[0] &&
                   apart(c->out[0], c->n[0], d->in[0], c->n[0]) &&
                   apart(c->out[0], c->n[0], d->in[1], c->n[0]) &&
                   apart(c->out[0], c->n[0], d->in[2], d->b == 2 ? c->n[0] : 1)) {
            c->solo = c->fn, c->fn = d_none, c->pair = 1;
            d->solo = d->fn, d->fn = d_mse_dx, d->pair = 2;
        } else if (c->fn == d_bias_rows && d->kind == R_SGEMM && d->fn != x_sgemm &&
                   d->out[0] == c->out[0] && d->n[5] == c->n[1] &&
                   nbi_gemm_tiny_fuse_bias(d->x.plan, c->n[0], c->n[1], c->in[0])) {
            c->solo = c->fn, c->fn = d_none, c->pair = 1;
            d->solo = x_sgemm, d->pair = 2; /* its plan now reads the bias */
        } else if (c->fn == d_gemm_ukr && d->fn == d_acc_rows && d->in[0] == c->in[1] &&
                   nbi_gemm_tiny_fuse_colsum(c->x.plan, d->n[0], d->n[1], d->in[0], d->out[0])) {
            c->solo = x_sgemm, c->pair = 1; /* its plan now sums the columns */
            d->solo = d->fn, d->fn = d_none, d->pair = 2;
        }
    }
}

/* The calls that do work, apart from the do-nothing members of fused pairs (a loop of
 * indirect calls: each one left out is a call and a return fewer a step). */
static void build_prog(nbi_rec *r) {
    if (r->n + 1 > r->cap_prog) {
        nbi_free(r->prog);
        nbi_free(r->prog_at);
        r->prog = nbi_malloc((size_t)(r->n + 1) * sizeof *r->prog);
        r->prog_at = nbi_malloc((size_t)(r->n + 1) * sizeof *r->prog_at);
        r->cap_prog = r->n + 1;
        if (!r->prog || !r->prog_at) { /* the replay makes the calls in turn */
            nbi_free(r->prog);
            nbi_free(r->prog_at);
            r->prog = NULL, r->prog_at = NULL, r->cap_prog = 0;
            return;
        }
    }
    int64_t m = 0;
    for (int64_t i = 0; i < r->n; i++) {
        r->prog_at[i] = m;
        const rec_call *c = &r->calls[i];
        if (c->fn != d_none) r->prog[m++] = (rec_prog){c->fn, c};
    }
    r->prog_at[r->n] = m;
}

nb_status nbi_rec_replay(const nbi_rec *r, int64_t from, int64_t to) {
    const nbi_backend *be = r->real;
    NBI_ASSERT(0 <= from && from <= to && to <= r->n);
    if (from == to) return NB_OK;
    const rec_call *c = r->calls + from;
    nb_status s;
    /* a fused pair cut by the range: its call in the range is made alone */
    if (c->pair == 2) {
        if ((s = c->solo(be, c)) != NB_OK) return s;
        from++;
    }
    const rec_call *last = r->calls[to - 1].pair == 1 && from < to ? &r->calls[--to] : NULL;
    if (r->prog) { /* the pairs in [from, to) are whole: their members that work */
        const rec_prog *p = r->prog + r->prog_at[from], *pe = r->prog + r->prog_at[to];
        for (; p < pe; p++)
            if (NBI_UNLIKELY((s = p->fn(be, p->c)) != NB_OK)) return s;
    } else {
        for (c = r->calls + from; c < r->calls + to; c++)
            if (NBI_UNLIKELY((s = c->fn(be, c)) != NB_OK)) return s;
    }
    return last ? last->solo(be, last) : NB_OK;
}

int64_t nbi_rec_calls(const nbi_rec *r) {
    return r ? r->n : 0;
}

void nbi_rec_free(nbi_rec *r) {
    if (!r) return;
    nbi_free(r->calls);
    nbi_free(r->iters);
    nbi_free(r->plans);
    nbi_free(r->prog);
    nbi_free(r->prog_at);
    nbi_free(r);
}
