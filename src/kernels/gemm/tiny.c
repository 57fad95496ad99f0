/* kernels/gemm/tiny.c — one-tile GEMM calls planned once, and short-row bias kernels (see
 * tiny.h). */
#include "kernels/gemm/tiny.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The arch behind a kernel set's GEMM entry, or NULL (the reference's, CBLAS, ...). */
static const nbi_gemm_arch *arch_of(nbi_sgemm_fn entry) {
    if (entry == nbi_sgemm_c) return &nbi_gemm_arch_c;
#if NBI_X86
    if (entry == nbi_sgemm_avx2) return &nbi_gemm_arch_avx2;
    if (entry == nbi_sgemm_avx512) return &nbi_gemm_arch_avx512;
#endif
    return NULL;
}

int nbi_gemm_tiny_plan(nbi_sgemm_fn entry, int ta, int tb, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc, nbi_gemm_tiny *t) {
    const nbi_gemm_arch *g = arch_of(entry);
    if (!g) return 0;
    /* what sgemm_entry (gemm.c) checks and treats apart: left to the entry */
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    if (M < 1 || N < 1 || K < 1 || lda < acols || ldb < bcols || ldc < N || !A || !B || !C ||
        alpha == 0.0f)
        return 0;
    /* its one-tile case, the condition as there */
    if (M > g->mr || N > g->nr || (tb && (K > NBI_TINY_KN || K * N > NBI_TINY_KN))) return 0;
    t->tile = g->tile;
    t->c = (nbi_gemm_call){1, ta != 0, 0, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
    t->bt = NULL;
    t->ldbt = 0;
    t->ukr = NULL;
    t->bias = NULL;
    t->colsum = NULL;
    t->a_rs = ta ? 1 : lda;
    t->a_cs = ta ? lda : 1;
    for (int j = 0; j < 8; j++) t->mask[j] = j < N ? -1 : 0;
#if NBI_X86
    /* the AVX2 and AVX-512 tiles' arithmetic, on a CPU that has AVX2 and FMA */
    if ((g == &nbi_gemm_arch_avx2 || g == &nbi_gemm_arch_avx512) && M <= 8 && N <= 8 &&
        nbi_kernel_set("avx2"))
        t->ukr = nbi_tiny_ukr_avx2[nbi_tiny_width(N)][0][M - 1];
#endif
    if (tb) {
        /* The entry copies Bᵀ into op(B) (K x N, ldb = N) and runs the tile on the copy.
         * Where the copy would hold B's elements in B's own order the tile reads them in
         * place: the same values, the same arithmetic. */
        if (N == 1) /* op(B)[p, 0] = B[p] */
            t->c.ldb = 1;
        else if (K == 1 && ldb == 1) /* op(B)[0, j] = B[j] */
            t->c.ldb = N;
        else {
            t->bt = B;
            t->ldbt = ldb;
            t->c.ldb = N;
        }
    }
    return 1;
}

void nbi_gemm_tiny_run(const nbi_gemm_tiny *t) {
    if (!t->bt) {
        if (t->ukr)
            t->ukr(t, t->c.B);
        else
            t->tile(&t->c);
        return;
    }
    float bt[NBI_TINY_KN];
    const int64_t K = t->c.K, N = t->c.N;
    for (int64_t p = 0; p < K; p++)
        for (int64_t j = 0; j < N; j++) bt[p * N + j] = t->bt[j * t->ldbt + p];
    if (t->ukr) {
        t->ukr(t, bt);
        return;
    }
    nbi_gemm_call c = t->c;
    c.B = bt;
    t->tile(&c);
}

/* Do [p, p + n) and [q, q + m) floats overlap? */
static int overlap(const float *p, int64_t n, const float *q, int64_t m) {
    return p < q + m && q < p + n;
}

/* Can t's kernel take a neighbour writing or reading N floats at v, apart from A, B, C? */
static int can_fuse(const nbi_gemm_tiny *t, int64_t N, const float *v) {
    const nbi_gemm_call *c = &t->c;
    if (!t->ukr || t->bias || t->colsum || N != c->N || !v) return 0;
    const int64_t na = (c->ta ? c->K - 1 : c->M - 1) * c->lda + (c->ta ? c->M : c->K);
    const int64_t nb = t->bt ? (N - 1) * t->ldbt + c->K : (c->K - 1) * c->ldb + N;
    const int64_t nc = (c->M - 1) * c->ldc + N;
    return !overlap(v, N, c->A, na) && !overlap(v, N, t->bt ? t->bt : c->B, nb) &&
           !overlap(v, N, c->C, nc);
}

int nbi_gemm_tiny_fuse_bias(nbi_gemm_tiny *t, int64_t M, int64_t N, const float *b) {
    if (!can_fuse(t, N, b) || M != t->c.M || t->c.beta != 1.0f) return 0;
    t->bias = b;
    return 1;
}

int nbi_gemm_tiny_fuse_colsum(nbi_gemm_tiny *t, int64_t K, int64_t N, const float *x, float *g) {
    if (!can_fuse(t, N, g) || t->bt || K != t->c.K || x != t->c.B || t->c.ldb != N) return 0;
#if NBI_X86
    for (int i = 0; i < 8; i++)
        if (t->ukr == nbi_tiny_ukr_avx2[nbi_tiny_width(t->c.N)][0][i]) {
            t->ukr = nbi_tiny_ukr_avx2[nbi_tiny_width(t->c.N)][1][i];
            t->colsum = g;
            return 1;
        }
#endif
    return 0;
}

/* Four columns to an SSE vector (plain IEEE adds and moves: the scalar code's bits), the
 * rest a column at a time; no loop over rows per column of four as the reference's. */
void nbi_tiny_bias_rows(int64_t M, int64_t N, const float *b, float *y) {
    int64_t j = 0;
#if defined(__SSE2__)
    for (; j + 4 <= N; j += 4) {
        const __m128 v = _mm_loadu_ps(b + j);
        for (int64_t r = 0; r < M; r++) _mm_storeu_ps(y + r * N + j, v);
    }
#endif
    for (; j < N; j++) {
        const float v = b[j];
        for (int64_t r = 0; r < M; r++) y[r * N + j] = v;
    }
}

void nbi_tiny_acc_rows(int64_t M, int64_t N, const float *x, float *g) {
    int64_t j = 0;
#if defined(__SSE2__)
    for (; j + 4 <= N; j += 4) {
        __m128 s = _mm_loadu_ps(g + j);
        for (int64_t r = 0; r < M; r++) s = _mm_add_ps(s, _mm_loadu_ps(x + r * N + j));
        _mm_storeu_ps(g + j, s);
    }
#endif
    for (; j < N; j++) {
        float s = g[j];
        for (int64_t r = 0; r < M; r++) s += x[r * N + j];
        g[j] = s;
    }
}

/* the reference's (kernels/ref/loss.c): the float square, summed in double in order */
void nbi_tiny_mse(int reduction, int64_t n, const float *p, const float *t, float *y) {
    if (reduction == 2) {
        for (int64_t i = 0; i < n; i++) {
            const float d = p[i] - t[i];
            y[i] = d * d;
        }
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float d = p[i] - t[i];
        s += (double)(d * d);
    }
    if (reduction == 0) s /= (double)n;
    y[0] = (float)s;
}

/* gp += s_i 2 (p - t), gt += s_i (-(2 (p - t))), s_i = gy[0] (sum), gy[0] / n (mean), gy[i] */
void nbi_tiny_mse_bwd(int reduction, int64_t n, const float *p, const float *t, const float *gy,
                      float *gp, float *gt) {
    if (reduction == 2) {
        for (int64_t i = 0; i < n; i++) {
            const float dp = 2.0f * (p[i] - t[i]);
            if (gp) gp[i] += gy[i] * dp;
            if (gt) gt[i] += gy[i] * -dp;
        }
        return;
    }
    const float s = reduction == 0 ? gy[0] / (float)n : gy[0];
    if (gp && !gt) { /* the usual case: targets need no gradient */
        for (int64_t i = 0; i < n; i++) gp[i] += s * (2.0f * (p[i] - t[i]));
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const float dp = 2.0f * (p[i] - t[i]);
        if (gp) gp[i] += s * dp;
        if (gt) gt[i] += s * -dp;
    }
}

void nbi_tiny_mse_dx(int reduction, int64_t n, const float *p, const float *t, const float *gy,
                     float *gp) {
    if (reduction == 2) {
        for (int64_t i = 0; i < n; i++) gp[i] = 0.0f + gy[i] * (2.0f * (p[i] - t[i]));
        return;
    }
    const float s = reduction == 0 ? gy[0] / (float)n : gy[0];
    for (int64_t i = 0; i < n; i++) gp[i] = 0.0f + s * (2.0f * (p[i] - t[i]));
}
