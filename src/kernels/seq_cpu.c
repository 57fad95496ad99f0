/* kernels/seq_cpu.c — the CPU back end's entries for the sequence ops: embedding, layer and
 * RMS norm, token cross-entropy and attention (the recurrence is in rnn_cpu.c).
 *
 * Each entry checks what only it can check cheaply (ids and targets in range), then runs its
 * kernel set's single-threaded kernel on pieces over the pool. A piece owns whole output rows
 * (tokens, rows, heads) or, for the embedding's scatter-add, a range of vocabulary rows, so
 * every output element is computed by one piece in a fixed order. Reductions across rows (the
 * norm's weight gradient, the loss total) sum fixed chunks and add them in order. Results
 * therefore do not depend on the thread count. */
#include "kernels/backend.h"

#include <math.h>
#include <string.h>

/* Below this many floats touched (or multiply-adds, for attention) one thread does it all:
 * waking the pool costs more. */
#define SEQ_PAR_MIN ((int64_t)1 << 15)

static int threads_for(const nbi_backend *be, int64_t work, int64_t items) {
    if (work < SEQ_PAR_MIN || items < 2) return 1;
    int nt = nbi_backend_threads(be);
    return items < nt ? (int)items : nt;
}

/* `items` cut into about four pieces a thread (at least `grain` items each) */
static int64_t per_piece(int64_t items, int nt, int64_t grain) {
    int64_t per = (items + 4 * nt - 1) / (4 * nt);
    return per < grain ? grain : per;
}

/* ---- embedding ------------------------------------------------------------------------------ */

typedef struct embed_job {
    const nbi_kernels *k;
    int64_t n, D, per, pad, V;
    const int32_t *ids;
    const float *src;
    float *dst;
} embed_job;

static void embed_task(void *arg, int64_t t) {
    const embed_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->n ? lo + j->per : j->n;
    j->k->embed(hi - lo, j->ids + lo, j->D, j->src, j->dst + lo * j->D);
}

static int64_t cpu_embedding(const nbi_backend *be, int64_t n, const int32_t *ids, int64_t V,
                             int64_t D, const float *W, float *y) {
    for (int64_t t = 0; t < n; t++)
        if (ids[t] < 0 || ids[t] >= V) return t;
    int nt = threads_for(be, n * D, n);
    if (nt == 1) {
        be->k->embed(n, ids, D, W, y);
        return -1;
    }
    embed_job j = {be->k, n, D, per_piece(n, nt, 16), -1, V, ids, W, y};
    nbi_parallel_for(nt, (n + j.per - 1) / j.per, embed_task, &j);
    return -1;
}

/* piece t owns vocabulary rows [t·per, (t+1)·per) and scans every token */
static void embed_bwd_task(void *arg, int64_t t) {
    const embed_job *j = arg;
    int64_t v0 = t * j->per, v1 = v0 + j->per < j->V ? v0 + j->per : j->V;
    j->k->embed_bwd(j->n, j->ids, j->pad, j->D, j->src, j->dst, v0, v1);
}

static void cpu_embedding_bwd(const nbi_backend *be, int64_t n, const int32_t *ids, int64_t pad,
                              int64_t V, int64_t D, const float *gy, float *gW) {
    int nt = threads_for(be, n * D, V);
    if (nt == 1) {
        be->k->embed_bwd(n, ids, pad, D, gy, gW, 0, V);
        return;
    }
    /* one piece a thread: each piece reads all the ids, so more pieces only add scans */
    embed_job j = {be->k, n, D, (V + nt - 1) / nt, pad, V, ids, gy, gW};
    nbi_parallel_for(nt, (V + j.per - 1) / j.per, embed_bwd_task, &j);
}

/* ---- layer norm and RMS norm ---------------------------------------------------------------- */

typedef struct norm_job {
    const nbi_kernels *k;
    int rms;
    int64_t rows, D, per;
    float eps;
    const float *x, *w, *b, *gy;
    float *y, *mean, *rstd, *gx, *ws;
    int want_w, want_b;
} norm_job;

static void norm_task(void *arg, int64_t t) {
    const norm_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->rows ? lo + j->per : j->rows;
    j->k->norm(j->rms, hi - lo, j->D, j->x + lo * j->D, j->w, j->b, j->eps, j->y + lo * j->D,
               j->mean + lo, j->rstd + lo);
}

static void cpu_norm(const nbi_backend *be, int rms, int64_t rows, int64_t D, const float *x,
                     const float *w, const float *b, float eps, float *y, float *mean,
                     float *rstd) {
    int nt = threads_for(be, rows * D, rows);
    if (nt == 1) {
        be->k->norm(rms, rows, D, x, w, b, eps, y, mean, rstd);
        return;
    }
    norm_job j = {be->k, rms,  rows, D, per_piece(rows, nt, 1), eps, x, w, b, NULL, y, mean, rstd,
                  NULL,  NULL, 0,    0};
    nbi_parallel_for(nt, (rows + j.per - 1) / j.per, norm_task, &j);
}

/* chunk t: rows [t·NBI_NORM_CHUNK, ...): gx for its rows, and its own partial sums of the
 * weight and bias gradients in ws (2·D floats a chunk) */
static void norm_bwd_task(void *arg, int64_t t) {
    const norm_job *j = arg;
    int64_t lo = t * NBI_NORM_CHUNK;
    int64_t hi = lo + NBI_NORM_CHUNK < j->rows ? lo + NBI_NORM_CHUNK : j->rows;
    float *pw = j->ws + t * 2 * j->D, *pb = pw + j->D;
    memset(pw, 0, 2 * (size_t)j->D * sizeof *pw);
    j->k->norm_bwd(j->rms, hi - lo, j->D, j->x + lo * j->D, j->w, j->mean + lo, j->rstd + lo,
                   j->gy + lo * j->D, j->gx ? j->gx + lo * j->D : NULL, j->want_w ? pw : NULL,
                   j->want_b ? pb : NULL);
}

static void cpu_norm_bwd(const nbi_backend *be, int rms, int64_t rows, int64_t D, const float *x,
                         const float *w, const float *mean, const float *rstd, const float *gy,
                         float *gx, float *gw, float *gb, float *ws) {
    int64_t chunks = (rows + NBI_NORM_CHUNK - 1) / NBI_NORM_CHUNK;
    norm_job j = {be->k, rms,        rows,      D,    NBI_NORM_CHUNK, 0.0f,          x,
                  w,     NULL,       gy,        NULL, (float *)mean,  (float *)rstd, gx,
                  ws,    gw != NULL, gb != NULL};
    nbi_parallel_for(threads_for(be, rows * D, chunks), chunks, norm_bwd_task, &j);
    /* the chunks' partial sums, added in chunk order */
    for (int64_t c = 0; c < chunks && (gw || gb); c++) {
        const float *pw = ws + c * 2 * D, *pb = pw + D;
        for (int64_t i = 0; gw && i < D; i++) gw[i] += pw[i];
        for (int64_t i = 0; gb && i < D; i++) gb[i] += pb[i];
    }
}

/* ---- token cross-entropy ----------------------------------------------------------------------
 */

typedef struct xent_job {
    const nbi_kernels *k;
    int64_t rows, V, per, ignore, sst;
    float eps;
    const float *x, *lse, *scale;
    const int32_t *tgt;
    float *loss, *out;
} xent_job;

static void xent_task(void *arg, int64_t t) {
    const xent_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->rows ? lo + j->per : j->rows;
    j->k->xent(hi - lo, j->V, j->x + lo * j->V, j->tgt + lo, j->ignore, j->eps, j->loss + lo,
               j->out + lo);
}

static int64_t cpu_xent(const nbi_backend *be, int64_t rows, int64_t V, const float *x,
                        const int32_t *tgt, int64_t ignore, float eps, float *loss, float *lse,
                        double *total, int64_t *count) {
    int64_t kept = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (tgt[r] == ignore) continue;
        if (tgt[r] < 0 || tgt[r] >= V) return r;
        kept++;
    }
    int nt = threads_for(be, rows * V, rows);
    if (nt == 1) {
        be->k->xent(rows, V, x, tgt, ignore, eps, loss, lse);
    } else {
        xent_job j = {be->k, rows, V,  per_piece(rows, nt, 1), ignore, 0, eps, x, NULL, NULL,
                      tgt,   loss, lse};
        nbi_parallel_for(nt, (rows + j.per - 1) / j.per, xent_task, &j);
    }
    double s = 0.0;
    for (int64_t r = 0; r < rows; r++) s += (double)loss[r];
    *total = s;
    *count = kept;
    return -1;
}

static void xent_bwd_task(void *arg, int64_t t) {
    const xent_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->rows ? lo + j->per : j->rows;
    j->k->xent_bwd(hi - lo, j->V, j->x + lo * j->V, j->tgt + lo, j->ignore, j->eps, j->lse + lo,
                   j->scale + lo * j->sst, j->sst, j->out + lo * j->V);
}

static void cpu_xent_bwd(const nbi_backend *be, int64_t rows, int64_t V, const float *x,
                         const int32_t *tgt, int64_t ignore, float eps, const float *lse,
                         const float *scale, int64_t scale_stride, float *gx) {
    int nt = threads_for(be, rows * V, rows);
    if (nt == 1) {
        be->k->xent_bwd(rows, V, x, tgt, ignore, eps, lse, scale, scale_stride, gx);
        return;
    }
    xent_job j = {be->k, rows, V, per_piece(rows, nt, 1), ignore, scale_stride, eps, x, lse, scale,
                  tgt,   NULL, gx};
    nbi_parallel_for(nt, (rows + j.per - 1) / j.per, xent_bwd_task, &j);
}

/* ---- attention: heads are independent; a piece owns whole heads -------------------------------
 */

typedef struct attn_job {
    const nbi_kernels *k;
    const nbi_attn_geom *g;
    const float *q, *kk, *v, *o, *lse, *go;
    float *out, *out_lse, *gq, *gk, *gv;
} attn_job;

static void attn_task(void *arg, int64_t t) {
    const attn_job *j = arg;
    j->k->attn(j->g, t, t + 1, j->q, j->kk, j->v, j->out, j->out_lse);
}

static void attn_bwd_task(void *arg, int64_t t) {
    const attn_job *j = arg;
    j->k->attn_bwd(j->g, t, t + 1, j->q, j->kk, j->v, j->o, j->lse, j->go, j->gq, j->gk, j->gv);
}

static int attn_threads(const nbi_backend *be, const nbi_attn_geom *g) {
    int64_t heads = g->B * g->H;
    return threads_for(be, heads * g->Tq * g->Tk * (g->d + g->dv), heads);
}

static void cpu_attention(const nbi_backend *be, const nbi_attn_geom *g, const float *q,
                          const float *k, const float *v, float *o, float *lse) {
    int nt = attn_threads(be, g);
    if (nt == 1) {
        be->k->attn(g, 0, g->B * g->H, q, k, v, o, lse);
        return;
    }
    attn_job j = {be->k, g, q, k, v, NULL, NULL, NULL, o, lse, NULL, NULL, NULL};
    nbi_parallel_for(nt, g->B * g->H, attn_task, &j);
}

static void cpu_attention_bwd(const nbi_backend *be, const nbi_attn_geom *g, const float *q,
                              const float *k, const float *v, const float *o, const float *lse,
                              const float *go, float *gq, float *gk, float *gv) {
    int nt = attn_threads(be, g);
    if (nt == 1) {
        be->k->attn_bwd(g, 0, g->B * g->H, q, k, v, o, lse, go, gq, gk, gv);
        return;
    }
    attn_job j = {be->k, g, q, k, v, o, lse, go, NULL, NULL, gq, gk, gv};
    nbi_parallel_for(nt, g->B * g->H, attn_bwd_task, &j);
}

/* ---- installation -----------------------------------------------------------------------------
 */

void nbi_backend_cpu_seq(nbi_backend *be) {
    be->embedding = cpu_embedding;
    be->embedding_bwd = cpu_embedding_bwd;
    be->norm = cpu_norm;
    be->norm_bwd = cpu_norm_bwd;
    be->xent = cpu_xent;
    be->xent_bwd = cpu_xent_bwd;
    be->attention = cpu_attention;
    be->attention_bwd = cpu_attention_bwd;
    be->rnn = nbi_cpu_rnn;
    be->rnn_bwd = nbi_cpu_rnn_bwd;
}
