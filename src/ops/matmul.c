/* ops/matmul.c — the matrix product with NumPy's rules, on the GEMM kernel.
 *
 *   C[..., M, N] = A[..., M, K] · B[..., K, N]        batch dimensions broadcast
 *   dA = dC · Bᵀ,  dB = Aᵀ · dC                       summed over broadcast batch dimensions
 *
 * 1-D operands are promoted (A: [K] → [1, K], B: [K] → [K, 1]) and the added dimension is
 * dropped from the result. A matrix operand stored transposed (a transpose view) is passed to
 * GEMM with its transpose flag rather than copied; the backward products call GEMM with
 * beta = 1 so they accumulate straight into the gradients. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <string.h>

/* The matrix view of an operand: logical [rows, cols] with strides, and batch dims. */
typedef struct mat {
    int64_t rows, cols, rs, cs;
    int nb;                    /* batch rank */
    const int64_t *bshape, *bstride;
} mat;

static mat mat_of(const nb_tensor *t, int is_b) {
    mat m;
    if (t->rank == 1) {
        if (is_b) { /* [K] → [K, 1] */
            m.rows = t->shape[0];
            m.cols = 1;
            m.rs = t->stride[0];
            m.cs = 1;
        } else { /* [K] → [1, K] */
            m.rows = 1;
            m.cols = t->shape[0];
            m.rs = t->shape[0];
            m.cs = t->stride[0];
        }
        m.nb = 0;
    } else {
        m.rows = t->shape[t->rank - 2];
        m.cols = t->shape[t->rank - 1];
        m.rs = t->stride[t->rank - 2];
        m.cs = t->stride[t->rank - 1];
        m.nb = t->rank - 2;
    }
    m.bshape = t->shape;
    m.bstride = t->stride;
    return m;
}

/* GEMM's view of a matrix: transposed flag and leading dimension; false if neither fits. */
static bool gemm_desc(const mat *m, int *trans, int64_t *ld) {
    int64_t rows = m->rows, cols = m->cols;
    if ((cols <= 1 || m->cs == 1) && (rows <= 1 || m->rs >= cols)) {
        *trans = 0;
        *ld = rows <= 1 ? (cols > 1 ? cols : 1) : m->rs;
        return true;
    }
    if ((rows <= 1 || m->rs == 1) && (cols <= 1 || m->cs >= rows)) {
        *trans = 1;
        *ld = cols <= 1 ? (rows > 1 ? rows : 1) : m->cs;
        return true;
    }
    return false;
}

static nb_status matmul_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *a = n->in[0], *b = n->in[1];
    if (a->dtype != NB_F32 || b->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (a->rank < 1 || b->rank < 1) return nbi_shape_error(n, "operands must have rank >= 1");
    mat ma = mat_of(a, 0), mb = mat_of(b, 1);
    if (ma.cols != mb.rows) return nbi_shape_error(n, "inner dimensions differ");
    int rank;
    int64_t shape[NB_MAX_RANK];
    if (!nbi_broadcast_shape(ma.nb, a->shape, mb.nb, b->shape, &rank, shape))
        return nbi_shape_error(n, "cannot broadcast the batch dimensions");
    if (a->rank > 1) shape[rank++] = ma.rows;
    if (b->rank > 1) shape[rank++] = mb.cols;
    if (rank > NB_MAX_RANK) return nbi_shape_error(n, "result rank exceeds 8");
    out->dtype = NB_F32;
    out->rank = rank;
    memcpy(out->shape, shape, sizeof shape);
    return NB_OK;
}

/* Batch geometry shared by forward and backward. */
typedef struct batch {
    int r;                                   /* batch rank of the output */
    int64_t shape[NB_MAX_RANK];
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK]; /* element strides of A, B per batch dim */
    int64_t count;
} batch;

static void batch_of(const nb_tensor *a, const nb_tensor *b, batch *bt) {
    int na = a->rank >= 2 ? a->rank - 2 : 0, nbb = b->rank >= 2 ? b->rank - 2 : 0;
    nbi_broadcast_shape(na, a->shape, nbb, b->shape, &bt->r, bt->shape);
    bt->count = 1;
    for (int i = 0; i < bt->r; i++) {
        int ia = na - bt->r + i, ib = nbb - bt->r + i;
        bt->sa[i] = (ia >= 0 && a->shape[ia] != 1) ? a->stride[ia] : 0;
        bt->sb[i] = (ib >= 0 && b->shape[ib] != 1) ? b->stride[ib] : 0;
        bt->count *= bt->shape[i];
    }
}

/* Offsets of batch item k (row-major over the batch shape). */
static void batch_off(const batch *bt, int64_t k, const int64_t *sa, const int64_t *sb,
                      int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = bt->r - 1; d >= 0; d--) {
        int64_t i = k % bt->shape[d];
        k /= bt->shape[d];
        a += i * sa[d];
        b += i * sb[d];
    }
    *oa = a;
    *ob = b;
}

static nb_status matmul_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *a = n->in[0], *b = n->in[1], *c = n->out;
    mat ma = mat_of(a, 0), mb = mat_of(b, 1);
    int ta, tb;
    int64_t lda, ldb;
    if (!gemm_desc(&ma, &ta, &lda)) {
        a = nbi_contig(ctx, a);
        if (!a) return ctx->status;
        ma = mat_of(a, 0);
        gemm_desc(&ma, &ta, &lda);
    }
    if (!gemm_desc(&mb, &tb, &ldb)) {
        b = nbi_contig(ctx, b);
        if (!b) return ctx->status;
        mb = mat_of(b, 1);
        gemm_desc(&mb, &tb, &ldb);
    }
    if (n->recording && (a != n->in[0] || b != n->in[1])) {
        nb_tensor **keep = nbi_ctx_alloc(ctx, 2 * sizeof *keep, "matmul");
        if (!keep) return ctx->status;
        keep[0] = a;
        keep[1] = b;
        n->saved = keep;
    }
    batch bt;
    batch_of(a, b, &bt);
    int64_t M = ma.rows, N = mb.cols, K = ma.cols;
    const float *A = a->data, *B = b->data;
    float *C = c->data;
    for (int64_t k = 0; k < bt.count; k++) {
        int64_t oa, ob;
        batch_off(&bt, k, bt.sa, bt.sb, &oa, &ob);
        nb_status s = ctx->be->sgemm(ctx->be, ta, tb, M, N, K, 1.0f, A + oa, lda, B + ob, ldb, 0.0f,
                                  C + k * M * N, N > 1 ? N : 1);
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

static nb_status matmul_backward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *a = n->in[0], *b = n->in[1];
    if (n->saved) {
        a = ((nb_tensor **)n->saved)[0];
        b = ((nb_tensor **)n->saved)[1];
    }
    mat ma = mat_of(a, 0), mb = mat_of(b, 1);
    int ta, tb;
    int64_t lda, ldb;
    gemm_desc(&ma, &ta, &lda);
    gemm_desc(&mb, &tb, &ldb);
    batch bt;
    batch_of(a, b, &bt);
    int64_t M = ma.rows, N = mb.cols, K = ma.cols;
    const float *G = n->out->grad->data;
    int64_t ldg = N > 1 ? N : 1;

    /* Gradients are contiguous with their input's shape: batch strides from that shape. */
    for (int w = 0; w < 2; w++) {
        if (!nbi_needs_grad(n, w)) continue;
        nb_tensor *g = nbi_grad(ctx, n->in[w]);
        if (!g) return ctx->status;
        batch gb;
        batch_of(w == 0 ? g : a, w == 1 ? g : b, &gb);
        for (int64_t k = 0; k < bt.count; k++) {
            int64_t oa, ob, ga, gbo;
            batch_off(&bt, k, bt.sa, bt.sb, &oa, &ob);
            batch_off(&gb, k, gb.sa, gb.sb, &ga, &gbo);
            const float *Gk = G + k * M * N;
            nb_status s;
            if (w == 0) /* dA[M,K] += dC[M,N] · op(B)ᵀ */
                s = ctx->be->sgemm(ctx->be, 0, !tb, M, K, N, 1.0f, Gk, ldg, (const float *)b->data + ob, ldb,
                                1.0f, (float *)g->data + ga, K > 1 ? K : 1);
            else /* dB[K,N] += op(A)ᵀ · dC[M,N] */
                s = ctx->be->sgemm(ctx->be, !ta, 0, K, N, M, 1.0f, (const float *)a->data + oa, lda, Gk, ldg,
                                1.0f, (float *)g->data + gbo, N > 1 ? N : 1);
            if (s != NB_OK) return s;
        }
    }
    return NB_OK;
}

/* Check cases: plain 2-D, vector·matrix, matrix·vector, batched with broadcast batch. */
static nb_status matmul_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                            nbi_check_case *c) {
    (void)def;
    int64_t M = 1 + (int64_t)nb_rng_below(rng, 4), K = 1 + (int64_t)nb_rng_below(rng, 5),
            N = 1 + (int64_t)nb_rng_below(rng, 4), B = 2 + (int64_t)nb_rng_below(rng, 2);
    static const int ra[] = {2, 1, 2, 3, 2}, rb[] = {2, 2, 1, 3, 3};
    int64_t sa[3], sb[3];
    int i = 0;
    if (ra[k] == 3) sa[i++] = B;
    if (ra[k] >= 2) sa[i++] = M;
    sa[i++] = K;
    int j = 0;
    if (rb[k] == 3) sb[j++] = B;
    sb[j++] = K;
    if (rb[k] >= 2) sb[j++] = N;
    c->n_in = 2;
    c->in[0] = nbi_gen_input(ctx, rng, ra[k], sa, -1.0f, 1.0f, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, rb[k], sb, -1.0f, 1.0f, NULL, 0, 0.0f);
    return (c->in[0] && c->in[1]) ? NB_OK : ctx->status;
}

const nbi_op_def nbi_op_matmul = {
    .name = "matmul",
    .infer = matmul_infer,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .check = {.gen = matmul_gen, .cases = 5, .atol = 1e-4f, .rtol = 1e-4f},
};

nb_tensor *nb_matmul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) {
    nb_tensor *in[2] = {a, b};
    return nbi_apply(ctx, NBI_OP_MATMUL, in, 2, NULL);
}
