/* test_gemm — the blocked GEMM of every instruction set this CPU runs (portable C, AVX2,
 * AVX-512) against the definition, computed here in double precision:
 *   all four transpose cases, alpha and beta (beta = 0 over a NaN-filled C), leading
 *   dimensions larger than the rows, sizes on both sides of the micro-tile (MR, NR) and
 *   cache-block (MC, KC, NC) edges, the direct small path, the Freivalds check on large
 *   sizes, bitwise equality of results at 1, 2 and 3 threads, strided batches, the
 *   argument errors, and B taken from a provider (sgemm_src) bitwise equal to the matrix
 *   call, on the direct and the blocked path (B packed against B read in place for few
 *   rows), and the in-place micro-kernel against the packed one, its twin; B packed once
 *   (sgemm_packed) bitwise equal to the matrix call; the packers against their definition.
 * Each element must be within the forward error bound of a K-term dot product,
 *   |c - c*| <= 2 (K + 2) u (|alpha| (|A||B|)_ij + |beta c_ij|),  u = 2^-24. */
#include "nbtest.h"

#include "kernels/gemm/gemm.h"
#include "kernels/kernels.h"

static const char *const isas[] = {"ref", "c", "avx2", "avx512"};
#define N_ISAS 4

typedef struct mats {
    int64_t M, N, K, lda, ldb, ldc;
    float *A, *B, *C, *C0;
} mats;

static float *alloc_f(size_t n) {
    float *p = nb_malloc((n ? n : 1) * sizeof(float));
    CHECK_PTR(p);
    return p;
}

/* op(A) is M x K, op(B) is K x N, each stored with its leading dimension plus `pad`. */
static mats make(int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t pad, nb_rng *rng,
                 int nan_c) {
    mats m = {M, N, K, 0, 0, 0, NULL, NULL, NULL, NULL};
    int64_t arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
    m.lda = acols + pad;
    m.ldb = bcols + pad;
    m.ldc = N + pad;
    if (m.lda < 1) m.lda = 1;
    if (m.ldb < 1) m.ldb = 1;
    if (m.ldc < 1) m.ldc = 1;
    size_t na = (size_t)(arows * m.lda), nb = (size_t)(brows * m.ldb), nc = (size_t)(M * m.ldc);
    m.A = alloc_f(na);
    m.B = alloc_f(nb);
    m.C = alloc_f(nc);
    m.C0 = alloc_f(nc);
    for (size_t i = 0; i < na; i++) m.A[i] = nb_rng_uniform(rng) * 2.0f - 1.0f;
    for (size_t i = 0; i < nb; i++) m.B[i] = nb_rng_uniform(rng) * 2.0f - 1.0f;
    for (size_t i = 0; i < nc; i++) m.C0[i] = nan_c ? NAN : nb_rng_uniform(rng) * 2.0f - 1.0f;
    return m;
}

static void release(mats *m) {
    nb_free(m->A);
    nb_free(m->B);
    nb_free(m->C);
    nb_free(m->C0);
}

/* Runs one GEMM with table k and checks every element against the double-precision
 * definition and that the padding of C is untouched. Returns the failure count. */
static int check_gemm(const nbi_kernels *k, int ta, int tb, mats *m, float alpha, float beta) {
    memcpy(m->C, m->C0, (size_t)(m->M * m->ldc) * sizeof(float));
    nb_status s = k->sgemm(0, ta, tb, m->M, m->N, m->K, alpha, m->A, m->lda, m->B, m->ldb, beta,
                           m->C, m->ldc);
    CHECK_OK(s);
    if (s != NB_OK) return 1;
    int bad = 0;
    for (int64_t i = 0; i < m->M; i++) {
        for (int64_t j = 0; j < m->ldc; j++) {
            float got = m->C[i * m->ldc + j], c0 = m->C0[i * m->ldc + j];
            if (j >= m->N) { /* padding: must be untouched (NaN stays NaN) */
                if (memcmp(&got, &c0, sizeof got) != 0 && bad++ < 3)
                    CHECK_MSG(0, "%s: padding C[%lld,%lld] was written", k->isa, (long long)i,
                              (long long)j);
                continue;
            }
            double exact = 0.0, mag = 0.0;
            for (int64_t p = 0; p < m->K; p++) {
                double a = ta ? m->A[p * m->lda + i] : m->A[i * m->lda + p];
                double b = tb ? m->B[j * m->ldb + p] : m->B[p * m->ldb + j];
                exact += a * b;
                mag += fabs(a * b);
            }
            exact *= alpha;
            mag *= fabs(alpha);
            if (beta != 0.0f) {
                exact += (double)beta * c0;
                mag += fabs((double)beta * c0);
            }
            double tol = 2.0 * (double)(m->K + 2) * 0x1p-24 * mag + 1e-30;
            if (!(fabs(got - exact) <= tol) && bad++ < 3)
                CHECK_MSG(0,
                          "%s ta=%d tb=%d %lldx%lldx%lld alpha=%g beta=%g: C[%lld,%lld] = %.9g, "
                          "expected %.9g (tol %.3g)",
                          k->isa, ta, tb, (long long)m->M, (long long)m->K, (long long)m->N,
                          alpha, beta, (long long)i, (long long)j, got, exact, tol);
        }
    }
    return bad;
}

static int table_for(int i, nbi_kernels *k) { return nbi_kernels_for(isas[i], k); }

/* Sizes around the tiles (MR 4/6/12, NR 16/32) and a few odd ones, every transpose case,
 * alpha/beta, padded leading dimensions. */
static void test_tile_edges(void) {
    static const int64_t Ms[] = {1, 5, 6, 7, 11, 12, 13, 25, 37};
    static const int64_t Ns[] = {1, 7, 15, 16, 17, 31, 32, 33, 65};
    static const int64_t Ks[] = {1, 2, 9, 40};
    static const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.75f}};
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    for (int is = 0; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        int n = 0;
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                int64_t K = Ks[(mi + ni) % 4];
                int ta = (int)(mi & 1), tb = (int)((mi + ni) / 2 % 2);
                int c = (int)((mi * 3 + ni) % 3);
                mats m = make(ta, tb, Ms[mi], Ns[ni], K, (int64_t)(ni % 3), &rng, c == 0);
                n += check_gemm(&k, ta, tb, &m, ab[c][0], ab[c][1]);
                release(&m);
            }
        CHECK_MSG(n == 0, "%s: %d elements off", k.isa, n);
    }
}

/* Blocked path across the cache-block edges: K around KC (256, 384), M around MC (128..192),
 * N around NC (512), all four transposes. */
static void test_block_edges(void) {
    static const int64_t shapes[][3] = {
        {129, 33, 257}, {193, 70, 385}, {50, 513, 100}, {145, 530, 30}, {64, 40, 769},
    };
    nb_rng rng;
    nb_rng_seed(&rng, 12);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int t = 0; t < 4; t++) {
                int ta = t & 1, tb = t >> 1;
                mats m = make(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 3, &rng, t == 1);
                check_gemm(&k, ta, tb, &m, t == 2 ? 0.5f : 1.0f, t == 1 ? 0.0f : 0.25f);
                release(&m);
            }
    }
}

/* The direct path: tiny problems (the XOR network's 4x2 . 2x4), one column of micro-tiles
 * (N <= NR: 10 classes), one row of them (M <= MR), in every transpose case. */
static void test_small_path(void) {
    static const int64_t shapes[][3] = {{4, 4, 2},    {1, 1, 1},    {4, 1, 4},   {3, 17, 5},
                                        {12, 32, 8},  {13, 33, 2},  {2, 100, 3}, {31, 31, 31},
                                        {300, 10, 400}, {77, 16, 250}, {5, 300, 700}, {1, 500, 3}};
    nb_rng rng;
    nb_rng_seed(&rng, 13);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int t = 0; t < 4; t++) {
                int ta = t & 1, tb = t >> 1;
                mats m = make(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], t, &rng, t == 3);
                check_gemm(&k, ta, tb, &m, t == 0 ? 1.0f : 1.5f, t == 3 ? 0.0f : 1.0f);
                check_gemm(&k, ta, tb, &m, 1.0f, 0.0f);
                release(&m);
            }
    }
}

/* K = 0 and alpha = 0 scale C by beta without reading A or B (NaN there stays out). */
static void test_degenerate(void) {
    for (int is = 0; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        float A[6] = {NAN, 1, 2, 3, 4, 5}, B[6] = {1, NAN, 2, 3, 4, 5};
        float C[4] = {1, 2, 3, 4};
        CHECK_OK(k.sgemm(0, 0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C, 2));
        CHECK(C[0] == 0.5f && C[3] == 2.0f);
        if (strcmp(k.isa, "ref") != 0) { /* the reference computes alpha * sum literally */
            CHECK_OK(k.sgemm(0, 0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, C, 2));
            CHECK(C[0] == 1.0f && C[3] == 4.0f);
            CHECK_OK(k.sgemm(0, 0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 0.0f, C, 2));
            CHECK(C[0] == 0.0f && C[1] == 0.0f && C[2] == 0.0f && C[3] == 0.0f);
        }
        CHECK_OK(k.sgemm(0, 0, 0, 0, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2)); /* M = 0: nothing */
    }
}

static void test_errors(void) {
    float A[4] = {0}, B[4] = {0}, C[4] = {0};
    CHECK(nb_sgemm(0, 0, -1, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "negative") != NULL);
    CHECK(nb_sgemm(0, 0, 2, 2, 2, 1.0f, A, 1, B, 2, 0.0f, C, 2) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "lda=1") != NULL);
    CHECK(nb_sgemm(1, 0, 2, 2, 1, 1.0f, A, 1, B, 2, 0.0f, C, 2) == NB_ERR_ARG); /* lda < M */
    CHECK(nb_sgemm(0, 1, 2, 2, 2, 1.0f, A, 2, B, 1, 0.0f, C, 2) == NB_ERR_ARG);
    CHECK(nb_sgemm(0, 0, 2, 3, 2, 1.0f, A, 2, B, 3, 0.0f, C, 2) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "ldc=2") != NULL);
    CHECK(nb_sgemm(0, 0, 2, 2, 2, 1.0f, NULL, 2, B, 2, 0.0f, C, 2) == NB_ERR_ARG);
    CHECK(nb_sgemm_batched(0, 0, 2, 2, 2, 1.0f, A, 2, 0, B, 2, 0, 0.0f, C, 2, 1, 2) ==
          NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "overlap") != NULL);
    CHECK(nb_sgemm_batched(0, 0, 2, 2, 2, 1.0f, A, 2, -1, B, 2, 0, 0.0f, C, 2, 4, 1) ==
          NB_ERR_ARG);
}

/* Freivalds: for random r, C r must equal A (B r). Checks large products in O(n^2). */
static void test_freivalds(void) {
    static const int64_t shapes[][3] = {{1000, 1100, 900}, {777, 64, 1030}, {64, 3072, 768}};
    nb_rng rng;
    nb_rng_seed(&rng, 14);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int ta = (int)(s & 1), tb = (int)(s == 1);
            int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            if (!strcmp(k.isa, "c")) { /* the portable kernel is slow (under ASan, very) */
                M = M / 3 + 1;
                N = N / 3 + 2;
            }
            mats m = make(ta, tb, M, N, K, 0, &rng, 1);
            CHECK_OK(k.sgemm(0, ta, tb, M, N, K, 1.0f, m.A, m.lda, m.B, m.ldb, 0.0f, m.C, m.ldc));
            double *r = malloc((size_t)N * sizeof *r), *br = malloc((size_t)K * sizeof *br);
            for (int64_t j = 0; j < N; j++) r[j] = nb_rng_uniform(&rng) - 0.5;
            for (int64_t p = 0; p < K; p++) {
                double acc = 0.0;
                for (int64_t j = 0; j < N; j++)
                    acc += (tb ? m.B[j * m.ldb + p] : m.B[p * m.ldb + j]) * r[j];
                br[p] = acc;
            }
            double worst = 0.0;
            for (int64_t i = 0; i < M; i++) {
                double cr = 0.0, abr = 0.0;
                for (int64_t j = 0; j < N; j++) cr += m.C[i * m.ldc + j] * r[j];
                for (int64_t p = 0; p < K; p++) abr += (ta ? m.A[p * m.lda + i] : m.A[i * m.lda + p]) * br[p];
                /* Rounding leaves each C element off by about u K / 3 (a random walk of K
                 * steps over partial sums of size sqrt(K)/3), so C r is off by about
                 * 0.3 sqrt(N) u K / 3; allow 100 times that. One wrong product term (about
                 * 0.25 * 0.3) or a lost K block is far larger. */
                double tol = 10.0 * 0x1p-24 * (double)K * sqrt((double)N);
                double d = fabs(cr - abr) / tol;
                worst = d > worst ? d : worst;
            }
            CHECK_MSG(worst <= 1.0, "%s %lldx%lldx%lld: Freivalds mismatch %.3g of tolerance",
                      k.isa, (long long)M, (long long)K, (long long)N, worst);
            free(r);
            free(br);
            release(&m);
        }
    }
}

/* The same problem at 1, 2 and 3 threads must give bitwise identical C. */
static void test_thread_count_independence(void) {
    /* M K N: the task stream (1 thread) against C split by column pieces (M <= MC and the
     * whole op(A) at most MC KC floats: 64 x 784 x 256 and 37 x 1000 x 129 with AVX-512,
     * 13 x 40 x 7000 with pieces capped at NC, 24 x 1000 x 300 over several K blocks) and by
     * row pieces (N <= NC, op(B) as small: 640 x 70 x 33, 9000 x 20 x 50 capped at MC,
     * 700 x 700 x 40 over two or three K blocks), the task stream on several threads
     * (300 x 500 x 400, 200 x 900 x 300, 100 x 2000 x 70: the operand a member would pack
     * whole is above MC KC), the direct path (N <= NR), and B read in place (M <= 8 MR, B as
     * stored: 64 x 784 x 256, 90 x 1100 x 200 over three K blocks; ta = s & 1,
     * tb = s >> 1 & 1) */
    static const int64_t shapes[][3] = {
        {300, 500, 400}, {64, 784, 256}, {37, 1000, 129}, {640, 70, 33},   {2000, 300, 10},
        {3000, 150, 7},  {13, 40, 7000}, {9000, 20, 50},  {200, 900, 300}, {100, 2000, 70},
        {70, 500, 300},  {45, 300, 600}, {64, 784, 256},  {90, 1100, 200}, {24, 1000, 300},
        {700, 700, 40}};
    nb_rng rng;
    nb_rng_seed(&rng, 15);
    int saved = nb_get_threads();
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int ta = (int)(s & 1), tb = (int)(s >> 1 & 1);
            int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            mats m = make(ta, tb, M, N, K, 1, &rng, 0);
            size_t nc = (size_t)(M * m.ldc);
            float *first = alloc_f(nc);
            for (int nt = 1; nt <= 3; nt++) {
                CHECK_OK(nb_set_threads(nt));
                memcpy(m.C, m.C0, nc * sizeof(float));
                CHECK_OK(k.sgemm(0, ta, tb, M, N, K, 0.75f, m.A, m.lda, m.B, m.ldb, 0.5f, m.C, m.ldc));
                if (nt == 1)
                    memcpy(first, m.C, nc * sizeof(float));
                else
                    CHECK_MSG(memcmp(first, m.C, nc * sizeof(float)) == 0,
                              "%s %lldx%lldx%lld: %d threads differ from 1", k.isa,
                              (long long)M, (long long)K, (long long)N, nt);
            }
            nb_free(first);
            release(&m);
        }
    }
    /* Several K blocks over one M block: successive K blocks update the same C tiles, the
     * ordering most easily broken. Repeat: a race shows up only sometimes. */
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        mats m = make(0, 0, 40, 100, 1000, 0, &rng, 0);
        size_t nc = (size_t)(40 * m.ldc);
        float *first = alloc_f(nc);
        CHECK_OK(nb_set_threads(1));
        CHECK_OK(k.sgemm(0, 0, 0, 40, 100, 1000, 1.0f, m.A, m.lda, m.B, m.ldb, 0.0f, first, m.ldc));
        CHECK_OK(nb_set_threads(3));
        int diff = 0;
        for (int rep = 0; rep < 30; rep++) {
            CHECK_OK(k.sgemm(0, 0, 0, 40, 100, 1000, 1.0f, m.A, m.lda, m.B, m.ldb, 0.0f, m.C, m.ldc));
            diff += memcmp(first, m.C, nc * sizeof(float)) != 0;
        }
        CHECK_MSG(diff == 0, "%s: %d of 30 runs at 3 threads differ from 1 thread", k.isa, diff);
        nb_free(first);
        release(&m);
    }
    CHECK_OK(nb_set_threads(saved));
}

/* Strided batches equal the GEMMs one by one, bitwise (B shared with stride 0). */
static void test_batched(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 16);
    static const int64_t shapes[][4] = {{5, 7, 9, 10}, {64, 100, 48, 3}, {4, 2, 4, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2], nb = shapes[s][3];
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            int64_t lda = (ta ? M : K) + 1, ldb = ta ? N : N + 2, ldc = N + 1;
            if (tb) ldb = K + 2;
            int64_t sa = (ta ? K : M) * lda + 5, sc = M * ldc + 3;
            float *A = alloc_f((size_t)(sa * nb)), *B = alloc_f((size_t)((tb ? N : K) * ldb));
            float *C = alloc_f((size_t)(sc * nb)), *D = alloc_f((size_t)(sc * nb));
            for (int64_t i = 0; i < sa * nb; i++) A[i] = nb_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < (tb ? N : K) * ldb; i++) B[i] = nb_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < sc * nb; i++) C[i] = D[i] = nb_rng_uniform(&rng);
            CHECK_OK(nb_sgemm_batched(ta, tb, M, N, K, 1.5f, A, lda, sa, B, ldb, 0, 0.5f, C, ldc,
                                      sc, nb));
            for (int64_t b = 0; b < nb; b++)
                CHECK_OK(nb_sgemm(ta, tb, M, N, K, 1.5f, A + b * sa, lda, B, ldb, 0.5f,
                                  D + b * sc, ldc));
            CHECK_MSG(memcmp(C, D, (size_t)(sc * nb) * sizeof(float)) == 0,
                      "batched %lldx%lldx%lld x%lld t=%d differs from the loop", (long long)M,
                      (long long)K, (long long)N, (long long)nb, t);
            nb_free(A);
            nb_free(B);
            nb_free(C);
            nb_free(D);
        }
    }
}

/* ---- B from a provider ---------------------------------------------------------------------
 * Two providers of op(B): the arch's own matrix packer (what the blocked path calls for a
 * matrix B) and a plain loop written here. Both must give the matrix call's bits. */
typedef struct test_src {
    const nbi_gemm_arch *arch; /* NULL: the plain loop */
    int tb;
    const float *B;
    int64_t ldb;
} test_src;

static void pack_plain(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n, int nr,
                       float *dst) {
    const test_src *s = ctx;
    if (s->arch) {
        CHECK(nr == s->arch->nr);
        s->arch->pack_b(s->tb, s->B, s->ldb, p0, k, j0, n, dst);
        return;
    }
    for (int64_t c = 0; c < n; c += nr, dst += nr * k)
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < nr; j++) {
                int64_t r = p0 + p, q = j0 + c + j;
                dst[p * nr + j] = c + j >= n ? 0.0f
                                  : s->tb    ? s->B[q * s->ldb + r]
                                             : s->B[r * s->ldb + q];
            }
}

static const nbi_gemm_arch *arch_of(const char *isa) {
#if NBI_X86
    if (!strcmp(isa, "avx2")) return &nbi_gemm_arch_avx2;
    if (!strcmp(isa, "avx512")) return &nbi_gemm_arch_avx512;
#endif
    return !strcmp(isa, "c") ? &nbi_gemm_arch_c : NULL;
}

static void test_provider(void) {
    /* M N K: tiny and one-tile (direct), one column or row of tiles (direct), and blocked
     * shapes across MC, KC and NC */
    static const int64_t shapes[][3] = {{3, 5, 4},      {5, 9, 70},      {13, 16, 300},
                                        {4, 200, 33},   {12, 70, 500},   {37, 65, 9},
                                        {64, 512, 800}, {200, 600, 450}, {7, 1100, 40}};
    static const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.75f}};
    nb_rng rng;
    nb_rng_seed(&rng, 21);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        CHECK_MSG(k.sgemm_src != NULL, "%s has no sgemm_src", k.isa);
        if (!k.sgemm_src) continue;
        const nbi_gemm_arch *arch = arch_of(isas[is]);
        CHECK(arch != NULL);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int t = 0; t < 4; t++) {
                int ta = t & 1, tb = t >> 1;
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                mats m = make(ta, tb, M, N, K, 1, &rng, s == 0);
                size_t nc = (size_t)(M * m.ldc);
                float *want = alloc_f(nc);
                const float alpha = ab[s % 3][0], beta = ab[s % 3][1];
                memcpy(want, m.C0, nc * sizeof(float));
                CHECK_OK(
                    k.sgemm(0, ta, tb, M, N, K, alpha, m.A, m.lda, m.B, m.ldb, beta, want, m.ldc));
                for (int which = 0; which < 2; which++) {
                    test_src ts = {which ? arch : NULL, tb, m.B, m.ldb};
                    nbi_gemm_bsrc src = {pack_plain, &ts, tb};
                    memcpy(m.C, m.C0, nc * sizeof(float));
                    CHECK_OK(
                        k.sgemm_src(0, ta, M, N, K, alpha, m.A, m.lda, &src, beta, m.C, m.ldc));
                    CHECK_MSG(memcmp(m.C, want, nc * sizeof(float)) == 0,
                              "%s ta=%d tb=%d %lldx%lldx%lld: B from the %s provider differs "
                              "from the matrix call",
                              k.isa, ta, tb, (long long)M, (long long)K, (long long)N,
                              which ? "matrix packer's" : "plain");
                }
                nb_free(want);
                release(&m);
            }
        /* bad arguments: an error naming the packer, never a crash */
        float a = 1.0f, c = 0.0f;
        nbi_gemm_bsrc none = {NULL, NULL, 0};
        CHECK(k.sgemm_src(1, 0, 1, 1, 1, 1.0f, &a, 1, &none, 0.0f, &c, 1) == NB_ERR_ARG);
        CHECK(strstr(nb_last_error(), "packer") != NULL);
        CHECK(k.sgemm_src(1, 0, 1, 1, 1, 1.0f, &a, 1, NULL, 0.0f, &c, 1) == NB_ERR_ARG);
        CHECK(k.sgemm_src(1, 0, -1, 1, 1, 1.0f, &a, 1, NULL, 0.0f, &c, 1) == NB_ERR_ARG);
    }
    nbi_kernels r;
    CHECK(nbi_kernels_for("ref", &r) && r.sgemm_src == NULL);
}

/* B packed once (gemm_pack) and multiplied by sgemm_packed: bitwise the matrix call, on the
 * tile, direct and blocked paths (B in place for few rows, several K and M blocks, odd
 * sizes on every side), all four transposes, the alpha/beta cases, at 1 and 3 threads; the
 * packed size covers whole NR-wide panels. */
static void test_packed_b(void) {
    static const int64_t shapes[][3] = {
        {3, 5, 4},     {5, 9, 70},      {13, 16, 300},   {4, 200, 33},   {12, 70, 500},
        {37, 65, 9},   {32, 1024, 256}, {32, 256, 1024}, {64, 512, 800}, {200, 600, 450},
        {7, 1100, 40}, {90, 200, 1100}, {1, 1, 1},       {300, 33, 17}};
    static const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.75f}};
    nb_rng rng;
    nb_rng_seed(&rng, 41);
    int saved = nb_get_threads();
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        CHECK_MSG(k.sgemm_packed && k.gemm_pack && k.gemm_packed_floats, "%s: no packed B", k.isa);
        if (!k.sgemm_packed) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int t = 0; t < 4; t++) {
                int ta = t & 1, tb = t >> 1;
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                mats m = make(ta, tb, M, N, K, 1, &rng, s % 3 == 0);
                size_t nc = (size_t)(M * m.ldc);
                const float alpha = ab[s % 3][0], beta = ab[s % 3][1];
                int64_t nf = k.gemm_packed_floats(K, N);
                CHECK(g && nf == (N + g->nr - 1) / g->nr * g->nr * K);
                float *bp = alloc_f((size_t)nf), *want = alloc_f(nc);
                k.gemm_pack(tb, m.B, m.ldb, K, N, bp);
                memcpy(want, m.C0, nc * sizeof(float));
                CHECK_OK(nb_set_threads(1));
                CHECK_OK(
                    k.sgemm(0, ta, tb, M, N, K, alpha, m.A, m.lda, m.B, m.ldb, beta, want, m.ldc));
                for (int nt = 1; nt <= 3; nt += 2) {
                    CHECK_OK(nb_set_threads(nt));
                    memcpy(m.C, m.C0, nc * sizeof(float));
                    CHECK_OK(k.sgemm_packed(0, ta, tb, M, N, K, alpha, m.A, m.lda, bp, beta, m.C,
                                            m.ldc));
                    CHECK_MSG(memcmp(m.C, want, nc * sizeof(float)) == 0,
                              "%s ta=%d tb=%d %lldx%lldx%lld, %d threads: packed B differs from "
                              "the matrix call",
                              k.isa, ta, tb, (long long)M, (long long)K, (long long)N, nt);
                }
                nb_free(bp);
                nb_free(want);
                release(&m);
            }
        float a = 1.0f, c = 0.0f;
        CHECK(k.sgemm_packed(1, 0, 0, 1, 1, 1, 1.0f, &a, 1, NULL, 0.0f, &c, 1) == NB_ERR_ARG);
        CHECK(strstr(nb_last_error(), "packed") != NULL);
        CHECK(k.sgemm_packed(1, 0, 0, -1, 1, 1, 1.0f, &a, 1, &a, 0.0f, &c, 1) == NB_ERR_ARG);
    }
    CHECK_OK(nb_set_threads(saved));
    nbi_kernels r;
    CHECK(nbi_kernels_for("ref", &r) && r.sgemm_packed == NULL);
}

/* One micro-tile (M <= MR, N <= NR): the entry calls the direct kernel itself, transposing a
 * Bᵀ of at most NBI_TINY_KN floats on its own (larger ones go through the direct path). Both
 * must give the bits of the arch's direct path run on op(B) as stored row-major — what such
 * shapes ran before the shortcut — for every height, width, a few depths (on both sides of
 * the Bᵀ bound), all four transposes and the alpha/beta cases (beta = 0 over NaN); with
 * alpha = 1 also the bits of the packed micro-kernel on packed panels. */
static void test_one_tile(void) {
    static const int64_t Ks[] = {1, 2, 3, 4, 5, 8, 17, 40};
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 0.75f}, {2.0f, 1.0f}};
    nb_rng rng;
    nb_rng_seed(&rng, 31);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        CHECK(g != NULL);
        if (!g) continue;
        int cases = 0, diff = 0;
        for (int64_t M = 1; M <= g->mr; M++)
            for (int64_t N = 1; N <= g->nr; N += N < 10 ? 1 : 5)
                for (size_t ik = 0; ik < sizeof Ks / sizeof *Ks; ik++)
                    for (int t = 0; t < 4; t++) {
                        int ta = t & 1, tb = t >> 1;
                        int64_t K = Ks[ik];
                        const float alpha = ab[(M + N + ik) % 4][0];
                        const float beta = ab[(M + N + ik) % 4][1];
                        mats m = make(ta, tb, M, N, K, t, &rng, beta == 0.0f);
                        size_t nc = (size_t)(M * m.ldc);
                        float *bt = alloc_f((size_t)(K * N)), *want = alloc_f(nc);
                        for (int64_t p = 0; p < K; p++)
                            for (int64_t j = 0; j < N; j++)
                                bt[p * N + j] = tb ? m.B[j * m.ldb + p] : m.B[p * m.ldb + j];
                        memcpy(want, m.C0, nc * sizeof(float));
                        nbi_gemm_call c = {1,    ta,  0,  M,    N,     K, alpha,
                                           beta, m.A, bt, want, m.lda, N, m.ldc};
                        g->direct(&c, 0, M);
                        if (alpha == 1.0f) {
                            /* the packed micro-kernel too: the same in-order chain per element
                             * (alpha != 1 differs by design: packing folds it into A, the
                             * direct kernel scales the sum) */
                            float *ap = alloc_f((size_t)(g->mr * K)),
                                  *bp = alloc_f((size_t)(g->nr * K));
                            float *pk = alloc_f(nc);
                            g->pack_a(ta, m.A, m.lda, 0, M, 0, K, 1.0f, ap);
                            g->pack_b(tb, m.B, m.ldb, 0, K, 0, N, bp);
                            memcpy(pk, m.C0, nc * sizeof(float));
                            g->ukr(K, ap, bp, beta, pk, m.ldc, (int)M, (int)N);
                            if (memcmp(pk, want, nc * sizeof(float)) != 0 && diff++ < 3)
                                CHECK_MSG(0,
                                          "%s ta=%d tb=%d %lldx%lldx%lld beta=%g: the direct "
                                          "kernel differs from the packed one",
                                          k.isa, ta, tb, (long long)M, (long long)K, (long long)N,
                                          beta);
                            nb_free(ap);
                            nb_free(bp);
                            nb_free(pk);
                        }
                        memcpy(m.C, m.C0, nc * sizeof(float));
                        CHECK_OK(k.sgemm(0, ta, tb, M, N, K, alpha, m.A, m.lda, m.B, m.ldb, beta,
                                         m.C, m.ldc));
                        cases++;
                        if (memcmp(m.C, want, nc * sizeof(float)) != 0 && diff++ < 3)
                            CHECK_MSG(0,
                                      "%s ta=%d tb=%d %lldx%lldx%lld alpha=%g beta=%g: the "
                                      "one-tile entry differs from the direct path",
                                      k.isa, ta, tb, (long long)M, (long long)K, (long long)N,
                                      alpha, beta);
                        nb_free(bt);
                        nb_free(want);
                        release(&m);
                    }
        CHECK_MSG(diff == 0, "%s: %d of %d one-tile cases differ", k.isa, diff, cases);
    }
}

/* An in-place micro-kernel against the packed one, its twin, for every edge height and
 * width at depth K, the three beta cases (beta = 0 over NaN), C's neighbours untouched:
 * at = 0, ukr_b reading B as stored (ldb = NR + 3) beside A packed with alpha 0.75; at = 1,
 * ukr_at reading Aᵀ as stored (lda = MR + 5, two floats in) against pack_a's panel of the
 * same floats at alpha 1. */
static void ukr_twin_tiles(const nbi_gemm_arch *g, nb_rng *rng, int64_t K, int at) {
    static const float betas[] = {0.0f, 1.0f, -0.5f};
    static const char *names[] = {"ukr_b", "ukr_at", "ukr_an"};
    const int MR = g->mr, NR = g->nr;
    const int64_t lda_an = K + 3; /* ukr_an: rows padded */
    const int64_t lda = at == 1 ? MR + 5 : at == 2 ? lda_an : K;
    const int64_t ldb = at ? NR : NR + 3, ldc = NR + 5;
    const int64_t na = at == 1 ? K * lda : at == 2 ? (MR + 1) * lda : MR * K;
    float *A = alloc_f((size_t)na), *B = alloc_f((size_t)(K * ldb));
    float *ap = alloc_f((size_t)(MR * K)), *bp = alloc_f((size_t)(NR * K));
    float *c1 = alloc_f((size_t)(MR * ldc)), *c2 = alloc_f((size_t)(MR * ldc));
    for (int64_t i = 0; i < na; i++) A[i] = nb_rng_uniform(rng) * 2.0f - 1.0f;
    for (int64_t i = 0; i < K * ldb; i++) B[i] = nb_rng_uniform(rng) * 2.0f - 1.0f;
    for (int m = 1; m <= MR; m++)
        for (int n = 1; n <= NR; n++)
            for (int bi = 0; bi < 3; bi++) {
                if (at == 1)
                    g->pack_a(1, A, lda, 2, m, 0, K, 1.0f, ap);
                else if (at == 2) /* rows 1 .. m of A, lda padded */
                    g->pack_a(0, A, lda, 1, m, 0, K, 1.0f, ap);
                else
                    g->pack_a(0, A, K, 0, m, 0, K, 0.75f, ap);
                g->pack_b(0, B, ldb, 0, K, 0, n, bp);
                for (int64_t i = 0; i < MR * ldc; i++)
                    c1[i] = bi == 0 ? NAN : nb_rng_uniform(rng) - 0.5f;
                memcpy(c2, c1, (size_t)(MR * ldc) * sizeof(float));
                g->ukr(K, ap, bp, betas[bi], c1, ldc, m, n);
                if (at == 1)
                    g->ukr_at(K, A + 2, lda, bp, betas[bi], c2, ldc, m, n);
                else if (at == 2)
                    g->ukr_an(K, A + lda, lda, bp, betas[bi], c2, ldc, m, n);
                else
                    g->ukr_b(K, ap, B, ldb, betas[bi], c2, ldc, m, n);
                CHECK_MSG(memcmp(c1, c2, (size_t)(MR * ldc) * sizeof(float)) == 0,
                          "%s: %s differs from ukr at m=%d n=%d k=%lld beta=%g", g->name, names[at],
                          m, n, (long long)K, (double)betas[bi]);
            }
    nb_free(A);
    nb_free(B);
    nb_free(ap);
    nb_free(bp);
    nb_free(c1);
    nb_free(c2);
}

static const int64_t twin_depths[] = {1, 7, 64, 301};

/* The micro-kernel reading B in place (ukr_b) against the packed one: ukr_twin_tiles. */
static void test_ukr_in_place(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 33);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        CHECK(g != NULL);
        if (!g || !g->ukr_b) continue;
        for (size_t d = 0; d < sizeof twin_depths / sizeof *twin_depths; d++)
            ukr_twin_tiles(g, &rng, twin_depths[d], 0);
    }
}

/* op(A) = Aᵀ read in place (ukr_at, alpha 1) against the packed kernel on pack_a's panel of
 * the same floats (ukr_twin_tiles). Then whole products on one thread, which take it in the
 * blocked path: Aᵀ read in place against the same A stored transposed (ta = 0, packed by
 * the register transposes into the same panels), odd M, N, K across the MC and KC blocks,
 * beta 0 and 1. */
static void test_ukr_at(void) {
    static const float betas[] = {0.0f, 1.0f};
    nb_rng rng;
    nb_rng_seed(&rng, 57);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        CHECK(g != NULL);
        if (!g || !g->ukr_at) continue;
        const int64_t MR = g->mr, NR = g->nr;
        for (size_t d = 0; d < sizeof twin_depths / sizeof *twin_depths; d++)
            ukr_twin_tiles(g, &rng, twin_depths[d], 1);
        const int64_t M = g->mc + 2 * MR + 5, N = 2 * NR + 7, K = g->kc + 61;
        const int64_t lda = M + 3, ldt = K + 2, ldb = N + 1, ldc = N + 2;
        float *A = alloc_f((size_t)(K * lda)), *At = alloc_f((size_t)(M * ldt));
        float *B = alloc_f((size_t)(K * ldb));
        float *c1 = alloc_f((size_t)(M * ldc)), *c2 = alloc_f((size_t)(M * ldc));
        for (int64_t i = 0; i < K * lda; i++) A[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
        for (int64_t i = 0; i < K * ldb; i++) B[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
        for (int64_t i = 0; i < M; i++)
            for (int64_t p = 0; p < K; p++) At[i * ldt + p] = A[p * lda + i];
        for (int bi = 0; bi < 2; bi++) {
            for (int64_t i = 0; i < M * ldc; i++) c1[i] = nb_rng_uniform(&rng) - 0.5f;
            memcpy(c2, c1, (size_t)(M * ldc) * sizeof(float));
            CHECK_OK(k.sgemm(1, 1, 0, M, N, K, 1.0f, A, lda, B, ldb, betas[bi], c1, ldc));
            CHECK_OK(k.sgemm(1, 0, 0, M, N, K, 1.0f, At, ldt, B, ldb, betas[bi], c2, ldc));
            CHECK_MSG(memcmp(c1, c2, (size_t)(M * ldc) * sizeof(float)) == 0,
                      "%s: %lldx%lldx%lld beta=%g: Aᵀ in place differs from A packed", g->name,
                      (long long)M, (long long)N, (long long)K, (double)betas[bi]);
        }
        nb_free(A);
        nb_free(At);
        nb_free(B);
        nb_free(c1);
        nb_free(c2);
    }
}

/* Aᵀ read in place on several threads: the task stream (several M and K blocks; one M block
 * over several K blocks) and the pieces by columns (no member packs A) and by rows (no
 * piece packs its A panels), each at 1, 2 and 3 threads against the same A stored
 * transposed (ta = 0: packed), one thread, bitwise; odd sizes, padded leading dimensions,
 * beta 0 and 1. Pieces with B read in place keep A packed (ukr_b): M <= 8 MR with B as
 * stored is left to the other tests. */
static void test_ukr_at_threads(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 58);
    int saved = nb_get_threads();
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        if (!g || !g->ukr_at) continue;
        const int64_t MR = g->mr, NR = g->nr, mc = g->mc, kc = g->kc, nc = g->nc;
        const int64_t shapes[][3] = {/* M, K, N */
                                     {2 * mc + 13, 2 * kc + 31, nc + NR + 5},
                                     {mc - 7, 3 * kc + 1, 2 * NR + 3},
                                     {mc - 5, kc - 17, mc + NR + 3},
                                     {mc + 2 * MR + 5, kc + 61, 2 * NR + 7}};
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            const int64_t M = shapes[sh][0], K = shapes[sh][1], N = shapes[sh][2];
            const int64_t lda = M + 3, ldt = K + 2, ldb = N + 1, ldc = N + 2;
            float *A = alloc_f((size_t)(K * lda)), *At = alloc_f((size_t)(M * ldt));
            float *B = alloc_f((size_t)(K * ldb)), *C0 = alloc_f((size_t)(M * ldc));
            float *c1 = alloc_f((size_t)(M * ldc)), *c2 = alloc_f((size_t)(M * ldc));
            for (int64_t i = 0; i < K * lda; i++) A[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
            for (int64_t i = 0; i < K * ldb; i++) B[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
            for (int64_t i = 0; i < M * ldc; i++) C0[i] = nb_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < M; i++)
                for (int64_t p = 0; p < K; p++) At[i * ldt + p] = A[p * lda + i];
            for (int bi = 0; bi < 2; bi++) {
                const float beta = bi ? 1.0f : 0.0f;
                memcpy(c2, C0, (size_t)(M * ldc) * sizeof(float));
                CHECK_OK(k.sgemm(1, 0, 0, M, N, K, 1.0f, At, ldt, B, ldb, beta, c2, ldc));
                for (int nt = 1; nt <= 3; nt++) {
                    CHECK_OK(nb_set_threads(nt));
                    memcpy(c1, C0, (size_t)(M * ldc) * sizeof(float));
                    CHECK_OK(k.sgemm(0, 1, 0, M, N, K, 1.0f, A, lda, B, ldb, beta, c1, ldc));
                    CHECK_MSG(memcmp(c1, c2, (size_t)(M * ldc) * sizeof(float)) == 0,
                              "%s: %lldx%lldx%lld beta=%g, %d threads: Aᵀ in place differs "
                              "from A packed",
                              g->name, (long long)M, (long long)K, (long long)N, (double)beta, nt);
                }
            }
            nb_free(A);
            nb_free(At);
            nb_free(B);
            nb_free(C0);
            nb_free(c1);
            nb_free(c2);
        }
    }
    CHECK_OK(nb_set_threads(saved));
}

/* op(A) = A read in place (ukr_an, alpha 1) against the packed kernel on pack_a's panel of
 * the same floats (ukr_twin_tiles: every edge height and width, odd depths, padded lda, beta
 * 0 over NaN, 1, -0.5). Then whole products through the blocked path (the task stream over
 * several M and K blocks, one M block over several K blocks, the pieces by columns and by
 * rows) at 1, 2 and 3 threads against sgemm_packed on one thread, which packs A always
 * (pack_a, the same K blocks and kernel): bitwise, odd sizes, padded leading dimensions, beta
 * 0 over NaN, 1 and -0.5. */
static void test_ukr_an(void) {
    static const float betas[] = {0.0f, 1.0f, -0.5f};
    nb_rng rng;
    nb_rng_seed(&rng, 59);
    int saved = nb_get_threads();
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        CHECK(g != NULL);
        if (!g || !g->ukr_an || !k.sgemm_packed) continue;
        for (size_t d = 0; d < sizeof twin_depths / sizeof *twin_depths; d++)
            ukr_twin_tiles(g, &rng, twin_depths[d], 2);
        const int64_t MR = g->mr, NR = g->nr, mc = g->mc, kc = g->kc, nc = g->nc;
        const int64_t shapes[][3] = {/* M, K, N */
                                     {2 * mc + 13, 2 * kc + 31, nc + NR + 5},
                                     {mc - 7, 3 * kc + 1, 2 * NR + 3},
                                     {mc - 5, kc - 17, mc + NR + 3},
                                     {mc + 2 * MR + 5, kc + 61, 2 * NR + 7},
                                     {9 * MR + 1, 129, 4 * NR}};
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            const int64_t M = shapes[sh][0], K = shapes[sh][1], N = shapes[sh][2];
            const int64_t lda = K + 3, ldb = N + 1, ldc = N + 2;
            float *A = alloc_f((size_t)(M * lda)), *B = alloc_f((size_t)(K * ldb));
            float *C0 = alloc_f((size_t)(M * ldc)), *c1 = alloc_f((size_t)(M * ldc));
            float *c2 = alloc_f((size_t)(M * ldc));
            float *bp = alloc_f((size_t)k.gemm_packed_floats(K, N));
            for (int64_t i = 0; i < M * lda; i++) A[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
            for (int64_t i = 0; i < K * ldb; i++) B[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
            k.gemm_pack(0, B, ldb, K, N, bp);
            for (int bi = 0; bi < 3; bi++) {
                const float beta = betas[bi];
                for (int64_t i = 0; i < M * ldc; i++)
                    C0[i] = bi == 0 ? NAN : nb_rng_uniform(&rng) - 0.5f;
                memcpy(c2, C0, (size_t)(M * ldc) * sizeof(float));
                CHECK_OK(k.sgemm_packed(1, 0, 0, M, N, K, 1.0f, A, lda, bp, beta, c2, ldc));
                for (int nt = 1; nt <= 3; nt++) {
                    CHECK_OK(nb_set_threads(nt));
                    memcpy(c1, C0, (size_t)(M * ldc) * sizeof(float));
                    CHECK_OK(k.sgemm(0, 0, 0, M, N, K, 1.0f, A, lda, B, ldb, beta, c1, ldc));
                    CHECK_MSG(memcmp(c1, c2, (size_t)(M * ldc) * sizeof(float)) == 0,
                              "%s: %lldx%lldx%lld beta=%g, %d threads: A in place differs "
                              "from A packed",
                              g->name, (long long)M, (long long)K, (long long)N, (double)beta, nt);
                }
            }
            nb_free(A);
            nb_free(B);
            nb_free(C0);
            nb_free(c1);
            nb_free(c2);
            nb_free(bp);
        }
    }
    CHECK_OK(nb_set_threads(saved));
}

/* The packers against their definition (the scalar twin of the register transposes and
 * the vector copies): panel r, step p of pack_a holds alpha op(A)[i0 + r MR + i, p0 + p],
 * zeros past row m; panel c of pack_b holds op(B)[p0 + p, j0 + c NR + j], zeros past column
 * n. Bitwise, for both transpose cases, offsets, padded leading dimensions, heights and
 * depths on both sides of the tile and of the 8- and 16-float steps (the transposes' and
 * the next panel's prefetch, which must not change a value), A and B allocated exactly. */
static void test_pack_layout(void) {
    static const int64_t depths[] = {1, 7, 8, 9, 16, 17, 37};
    static const float alphas[] = {1.0f, 0.75f};
    nb_rng rng;
    nb_rng_seed(&rng, 41);
    for (int is = 1; is < N_ISAS; is++) {
        nbi_kernels k;
        if (!table_for(is, &k)) continue;
        const nbi_gemm_arch *g = arch_of(isas[is]);
        CHECK(g != NULL);
        if (!g) continue;
        const int64_t MR = g->mr, NR = g->nr, i0 = 3, p0 = 5;
        const int64_t widths[] = {1,      MR - 1, MR,     MR + 1, 2 * MR + 5, 3 * MR,
                                  NR - 1, NR,     NR + 3, 2 * NR, 3 * NR - 2};
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
            for (size_t d = 0; d < sizeof depths / sizeof *depths; d++)
                for (int t = 0; t < 2; t++) {
                    const int64_t m = widths[w], kk = depths[d];
                    /* stored: t = 0 rows i (i0 + m of them), t = 1 rows p (p0 + kk) */
                    const int64_t rows = t ? p0 + kk : i0 + m, cols = t ? i0 + m : p0 + kk;
                    const int64_t ld = cols + 2;
                    const size_t n = (size_t)((rows - 1) * ld + cols);
                    float *X = alloc_f(n);
                    for (size_t i = 0; i < n; i++) X[i] = nb_rng_uniform(&rng) * 2.0f - 1.0f;
                    const int64_t pa = (m + MR - 1) / MR * MR * kk,
                                  pb = (m + NR - 1) / NR * NR * kk;
                    float *got = alloc_f((size_t)(pa > pb ? pa : pb));
                    int bad = 0;
                    for (int ai = 0; ai < 2; ai++) {
                        const float alpha = alphas[ai];
                        g->pack_a(t, X, ld, i0, m, p0, kk, alpha, got);
                        for (int64_t e = 0; e < pa; e++) {
                            int64_t r = e / (MR * kk), p = e % (MR * kk) / MR, i = r * MR + e % MR;
                            float want = i >= m ? 0.0f
                                                : alpha * (t ? X[(p0 + p) * ld + i0 + i]
                                                             : X[(i0 + i) * ld + p0 + p]);
                            if (memcmp(&got[e], &want, sizeof want) != 0 && bad++ < 3)
                                CHECK_MSG(0,
                                          "%s pack_a ta=%d m=%lld k=%lld alpha=%g: [%lld] = %g, "
                                          "expected %g",
                                          g->name, t, (long long)m, (long long)kk, (double)alpha,
                                          (long long)e, (double)got[e], (double)want);
                        }
                    }
                    /* pack_b with tb = !t reads the same storage as op(B) [kk, m] */
                    g->pack_b(!t, X, ld, p0, kk, i0, m, got);
                    for (int64_t e = 0; e < pb; e++) {
                        int64_t c = e / (NR * kk), p = e % (NR * kk) / NR, j = c * NR + e % NR;
                        float want =
                            j >= m ? 0.0f
                                   : (t ? X[(p0 + p) * ld + i0 + j] : X[(i0 + j) * ld + p0 + p]);
                        if (memcmp(&got[e], &want, sizeof want) != 0 && bad++ < 3)
                            CHECK_MSG(0, "%s pack_b tb=%d n=%lld k=%lld: [%lld] = %g, expected %g",
                                      g->name, !t, (long long)m, (long long)kk, (long long)e,
                                      (double)got[e], (double)want);
                    }
                    nb_free(X);
                    nb_free(got);
                }
    }
}

static void test_dispatch(void) {
    const char *isa = nb_kernel_isa();
    CHECK(isa != NULL);
    nbi_kernels k;
    CHECK(nbi_kernels_for("ref", &k) && nbi_kernels_for("c", &k));
    CHECK(!nbi_kernels_for("no-such-isa", &k));
    /* the table in use must be the best one this CPU runs, unless NB_ISA lowered it */
    if (!getenv("NB_ISA")) {
        const char *best = nbi_kernels_for("avx512", &k) ? "avx512"
                           : nbi_kernels_for("avx2", &k) ? "avx2"
                                                         : "c";
        CHECK_MSG(strncmp(isa, best, strlen(best)) == 0, "isa %s, expected %s", isa, best);
    }
}

static const nbt_case cases[] = {
    {"tile_edges", test_tile_edges},
    {"block_edges", test_block_edges},
    {"small_path", test_small_path},
    {"degenerate", test_degenerate},
    {"errors", test_errors},
    {"freivalds", test_freivalds},
    {"thread_count_independence", test_thread_count_independence},
    {"batched", test_batched},
    {"dispatch", test_dispatch},
    {"provider", test_provider},
    {"ukr_in_place", test_ukr_in_place},
    {"ukr_at", test_ukr_at},
    {"ukr_at_threads", test_ukr_at_threads},
    {"ukr_an", test_ukr_an},
    {"one_tile", test_one_tile},
    {"packed_b", test_packed_b},
    {"pack_layout", test_pack_layout},
};
NBT_MAIN(cases)
