/* kernels/rnn_cpu.c — the CPU back end's recurrence: one recurrent layer (rnn, lstm, gru) in
 * one direction over a batch-first sequence, and its backpropagation through time.
 *
 * Forward (G gates of H units, x [B, T, I]):
 *   a  = x W_ihᵀ + b_ih (+ b_hh, except GRU's n part)   one GEMM [B·T, I] × [I, G·H]
 *   for each step t (T − 1 down to 0 when reversed):
 *       hw = h_t W_hhᵀ                                   one GEMM [B, H] × [H, G·H]
 *       the step kernel: gates, states, output           one fused pass (kernels/ref/rnn.c)
 * The activations overwrite a in place; hp and cp keep the state before each time t. They are
 * what backward needs: nothing else is stored.
 *
 * Backward, steps in reverse order of processing, with dh, dc the gradient of the state:
 *       the step kernel's backward: da (in a) and the direct parts of dh_prev, dc_prev
 *       dh_prev += da_h W_hh                             one GEMM [B, G·H] × [G·H, H]
 *   then, over every step at once:
 *       ∂x += da W_ih,  ∂W_ih += daᵀ x,  ∂W_hh += da_hᵀ hp  three GEMMs over B·T rows
 *       ∂b_ih += Σ da,  ∂b_hh += Σ da_h                  column sums
 * where da_h is da except for GRU's n part, r ⊙ dn (kept in the workspace).
 *
 * The step kernels run on pieces of whole batch rows over the pool; the GEMMs split as GEMM
 * does. Every element is computed by one piece in a fixed order: results do not depend on
 * the thread count. */
#include "kernels/backend.h"

#include <string.h>

static inline int64_t ld(int64_t n) {
    return n > 1 ? n : 1;
}

/* A step's rows in pieces once the step is large enough to repay waking the pool. */
#define STEP_PAR_MIN ((int64_t)1 << 13) /* gate values a step */

typedef struct step_job {
    const nbi_kernels *k;
    const nbi_rnn_step *f;
    const nbi_rnn_step_bwd *b;
    int64_t rows, per;
} step_job;

static void step_task(void *arg, int64_t t) {
    const step_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->rows ? lo + j->per : j->rows;
    if (j->f)
        j->k->rnn_step(j->f, lo, hi);
    else
        j->k->rnn_step_bwd(j->b, lo, hi);
}

static void run_step(const nbi_backend *be, int64_t B, int64_t GH, const nbi_rnn_step *f,
                     const nbi_rnn_step_bwd *b) {
    int nt = B * GH < STEP_PAR_MIN || B < 2 ? 1 : nbi_backend_threads(be);
    if (nt > B) nt = (int)B;
    if (nt <= 1) {
        if (f)
            be->k->rnn_step(f, 0, B);
        else
            be->k->rnn_step_bwd(b, 0, B);
        return;
    }
    step_job j = {be->k, f, b, B, (B + nt - 1) / nt};
    nbi_parallel_for(nt, (B + j.per - 1) / j.per, step_task, &j);
}

/* W_hh as the step products' B, packed once into wp for every step of a pass when the
 * kernel set can (its panels fit the op's nbi_rnn_wp_floats room): the steps then only pack
 * their few rows of A. The packed product is bitwise the matrix one. */
typedef struct whh_op {
    const nbi_backend *be;
    int tb;
    const float *W; /* as stored, when not packed */
    int64_t ldw;
    const float *packed; /* or NULL */
} whh_op;

static whh_op whh_prepare(const nbi_backend *be, const nbi_rnn_geom *g, const float *W_hh, int tb,
                          int64_t K, int64_t N, float *wp) {
    whh_op w = {be, tb, W_hh, tb ? K : N, NULL};
    const nbi_kernels *k = be->k;
    /* not where the device's GEMM is OpenBLAS (cpu_devices.c): the steps keep it */
    if (wp && k->sgemm_packed && !(be->name && strstr(be->name, "openblas")) &&
        k->gemm_packed_floats(K, N) <= nbi_rnn_wp_floats(g)) {
        k->gemm_pack(tb, W_hh, w.ldw, K, N, wp);
        w.packed = wp;
    }
    return w;
}

/* C [M, N] = A [M, K] op(W_hh) + beta C */
static nb_status whh_mul(const whh_op *w, int64_t M, int64_t N, int64_t K, const float *A,
                         int64_t lda, float beta, float *C, int64_t ldc) {
    if (w->packed)
        return w->be->k->sgemm_packed(w->be->threads, 0, w->tb, M, N, K, 1.0f, A, lda, w->packed,
                                      beta, C, ldc);
    return w->be->sgemm(w->be, 0, w->tb, M, N, K, 1.0f, A, lda, w->W, w->ldw, beta, C, ldc);
}

/* rows of `cols` at stride ld: dst = src, or 0 when src is NULL */
static void copy_rows(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst,
                      int64_t ldd) {
    for (int64_t r = 0; r < rows; r++) {
        if (src)
            memcpy(dst + r * ldd, src + r * lds, (size_t)cols * sizeof *dst);
        else
            memset(dst + r * ldd, 0, (size_t)cols * sizeof *dst);
    }
}

nb_status nbi_cpu_rnn(const nbi_backend *be, const nbi_rnn_geom *g, const nbi_rnn_bufs *p) {
    const int kind = g->kind, lstm = kind == NBI_RNN_LSTM, gru = kind == NBI_RNN_GRU;
    const int64_t B = g->B, T = g->T, I = g->I, H = g->H, GH = nbi_rnn_gates(kind) * H;
    for (int64_t b = 0; p->len && b < B; b++)
        if (p->len[b] < 0 || p->len[b] > T)
            return nbi_error(NB_ERR_ARG,
                             "%s: the length of sample %lld is %d, outside [0, %lld] (T, the "
                             "steps of x)",
                             g->what ? g->what : "rnn", (long long)b, (int)p->len[b], (long long)T);
    if (B == 0 || H == 0) return NB_OK;
    if (T == 0) { /* no step: the final state is the initial one */
        copy_rows(B, H, p->h0, H, p->hn, H);
        if (lstm) copy_rows(B, H, p->c0, H, p->cn, H);
        return NB_OK;
    }
    /* a = the summed biases in every row (GRU's b_hn stays apart: r multiplies it) ... */
    float beta = 0.0f;
    if (p->b_ih || p->b_hh) {
        for (int64_t j = 0; j < GH; j++)
            p->a[j] = (p->b_ih ? p->b_ih[j] : 0.0f) +
                      (p->b_hh && !(gru && j >= 2 * H) ? p->b_hh[j] : 0.0f);
        for (int64_t r = 1; r < B * T; r++) memcpy(p->a + r * GH, p->a, (size_t)GH * sizeof *p->a);
        beta = 1.0f;
    }
    /* ... plus x W_ihᵀ for every step at once */
    nb_status s =
        be->sgemm(be, 0, 1, B * T, GH, I, 1.0f, p->x, ld(I), p->W_ih, ld(I), beta, p->a, GH);
    if (s != NB_OK) return s;
    const int64_t t0 = g->reverse ? T - 1 : 0, dt = g->reverse ? -1 : 1;
    copy_rows(B, H, p->h0, H, p->hp + t0 * H, T * H);
    if (lstm) copy_rows(B, H, p->c0, H, p->cp + t0 * H, T * H);
    const whh_op w = whh_prepare(be, g, p->W_hh, 1, H, GH, p->wp); /* W_hhᵀ [H, G·H] */
    for (int64_t n = 0, t = t0; n < T; n++, t += dt) {
        const int last = n == T - 1;
        const float *hp = p->hp + t * H;
        s = whh_mul(&w, B, GH, H, hp, T * H, 0.0f, p->ws, GH);
        if (s != NB_OK) return s;
        nbi_rnn_step st = {
            .kind = kind,
            .H = H,
            .a = p->a + t * GH,
            .lda = T * GH,
            .hw = p->ws,
            .bhn = gru && p->b_hh ? p->b_hh + 2 * H : NULL,
            .hnw = gru ? p->hnw + t * H : NULL,
            .hp = hp,
            .cp = lstm ? p->cp + t * H : NULL,
            .ldp = T * H,
            .h = last ? p->hn : p->hp + (t + dt) * H,
            .c = !lstm  ? NULL
                 : last ? p->cn
                        : p->cp + (t + dt) * H,
            .ldh = last ? H : T * H,
            .y = p->y + t * H,
            .ldy = T * H,
            .len = p->len,
            .t = t,
        };
        run_step(be, B, GH, &st, NULL);
    }
    return NB_OK;
}

/* ---- backward -------------------------------------------------------------------------------- */

typedef struct colsum_job {
    const nbi_kernels *k;
    int64_t rows, cols, ld, per;
    const float *x;
    float *y;
} colsum_job;

static void colsum_task(void *arg, int64_t t) {
    const colsum_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->cols ? lo + j->per : j->cols;
    j->k->colsum(j->rows, hi - lo, j->x + lo, j->ld, j->y + lo);
}

/* y += the column sums of x [rows, cols], over pieces of whole columns */
static void colsum(const nbi_backend *be, int64_t rows, int64_t cols, const float *x, float *y) {
    int nt = rows * cols < ((int64_t)1 << 15) || cols < 32 ? 1 : nbi_backend_threads(be);
    if (nt == 1) {
        be->k->colsum(rows, cols, x, cols, y);
        return;
    }
    colsum_job j = {be->k, rows, cols, cols, ((cols + nt - 1) / nt + 15) & ~(int64_t)15, x, y};
    nbi_parallel_for(nt, (cols + j.per - 1) / j.per, colsum_task, &j);
}

nb_status nbi_cpu_rnn_bwd(const nbi_backend *be, const nbi_rnn_geom *g, const nbi_rnn_bufs *p,
                          const nbi_rnn_grads *gr) {
    const int kind = g->kind, lstm = kind == NBI_RNN_LSTM, gru = kind == NBI_RNN_GRU;
    const int64_t B = g->B, T = g->T, I = g->I, H = g->H, GH = nbi_rnn_gates(kind) * H;
    if (B == 0 || H == 0) return NB_OK;
    float *dh = gr->ws, *dhn = dh + B * H, *dc = dhn + B * H, *dcn = dc + B * H;
    float *dph = gru ? dcn + B * H : NULL; /* [B, T, G·H] */
    copy_rows(B, H, gr->ghn, H, dh, H);
    if (lstm) copy_rows(B, H, gr->gcn, H, dc, H);
    const int64_t tl = g->reverse ? 0 : T - 1, dt = g->reverse ? 1 : -1;
    nb_status s;
    const whh_op w = whh_prepare(be, g, p->W_hh, 0, GH, H, gr->wp); /* W_hh [G·H, H] */
    for (int64_t n = 0, t = tl; n < T; n++, t += dt) {
        nbi_rnn_step_bwd st = {
            .kind = kind,
            .H = H,
            .a = p->a + t * GH,
            .lda = T * GH,
            .dph = gru ? dph + t * GH : NULL,
            .hnw = gru ? p->hnw + t * H : NULL,
            .hp = p->hp + t * H,
            .cp = lstm ? p->cp + t * H : NULL,
            .ldp = T * H,
            .gy = gr->gy ? gr->gy + t * H : NULL,
            .ldy = T * H,
            .dh = dh,
            .dc = lstm ? dc : NULL,
            .dhp = dhn,
            .dcp = lstm ? dcn : NULL,
            .len = p->len,
            .t = t,
        };
        run_step(be, B, GH, NULL, &st);
        /* dh_prev += da_h W_hh */
        s = whh_mul(&w, B, H, GH, gru ? dph + t * GH : p->a + t * GH, T * GH, 1.0f, dhn, H);
        if (s != NB_OK) return s;
        float *sw = dh;
        dh = dhn, dhn = sw;
        sw = dc, dc = dcn, dcn = sw;
    }
    for (int64_t i = 0; gr->gh0 && i < B * H; i++) gr->gh0[i] += dh[i];
    for (int64_t i = 0; lstm && gr->gc0 && i < B * H; i++) gr->gc0[i] += dc[i];
    if (T == 0) return NB_OK;
    const int64_t BT = B * T;
    const float *dph_all = gru ? dph : p->a;
    if (gr->gx && I > 0) { /* ∂x += da W_ih */
        s = be->sgemm(be, 0, 0, BT, I, GH, 1.0f, p->a, GH, p->W_ih, I, 1.0f, gr->gx, I);
        if (s != NB_OK) return s;
    }
    if (gr->gW_ih && I > 0) { /* ∂W_ih += daᵀ x */
        s = be->sgemm(be, 1, 0, GH, I, BT, 1.0f, p->a, GH, p->x, I, 1.0f, gr->gW_ih, I);
        if (s != NB_OK) return s;
    }
    if (gr->gW_hh) { /* ∂W_hh += da_hᵀ hp */
        s = be->sgemm(be, 1, 0, GH, H, BT, 1.0f, dph_all, GH, p->hp, H, 1.0f, gr->gW_hh, H);
        if (s != NB_OK) return s;
    }
    if (gr->gb_ih) colsum(be, BT, GH, p->a, gr->gb_ih);
    if (gr->gb_hh) colsum(be, BT, GH, dph_all, gr->gb_hh);
    return NB_OK;
}
