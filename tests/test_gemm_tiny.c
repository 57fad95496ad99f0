/* test_gemm_tiny — kernels/gemm/tiny.c: a planned one-tile GEMM gives its kernel set's entry's
 * result bit for bit (every kernel set, odd sizes, both transposes, the alpha and beta cases,
 * padded and unpadded leading dimensions), and the plan refuses what the entry does not run
 * as one tile; the short-row bias kernels give the reference's bits. */
#include "nbtest.h"

#include "kernels/gemm/tiny.h"

static void fill_uniform(float *a, int64_t n, nb_rng *r) {
    for (int64_t i = 0; i < n; i++) a[i] = nb_rng_uniform_range(r, -1.0f, 1.0f);
}

static int same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* One call through the entry and through the plan; returns 1 when planned. */
static int check_one(const nbi_kernels *k, int ta, int tb, int64_t M, int64_t N, int64_t K,
                     float alpha, float beta, int64_t pad, nb_rng *r) {
    const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    float A[64 * 64], B[64 * 64], C0[64 * 40], C1[64 * 40], C2[64 * 40];
    const int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
    fill_uniform(A, na, r);
    fill_uniform(B, nb, r);
    fill_uniform(C0, nc, r);
    memcpy(C1, C0, (size_t)nc * sizeof(float));
    memcpy(C2, C0, (size_t)nc * sizeof(float));
    CHECK_OK(k->sgemm(1, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc));
    nbi_gemm_tiny t;
    if (!nbi_gemm_tiny_plan(k->sgemm, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc, &t))
        return 0;
    nbi_gemm_tiny_run(&t);
    CHECK_MSG(same_bits(C1, C2, nc),
              "%s: M=%lld N=%lld K=%lld ta=%d tb=%d alpha=%g beta=%g pad=%lld: the plan's C "
              "differs from the entry's",
              k->isa, (long long)M, (long long)N, (long long)K, ta, tb, (double)alpha,
              (double)beta, (long long)pad);
    return 1;
}

static void test_plan_matches_entry(void) {
    static const char *const isas[] = {"c", "avx2", "avx512"};
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 13};
    static const int64_t Ns[] = {1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 31, 33};
    static const int64_t Ks[] = {1, 2, 3, 4, 7, 17, 40};
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 0.75f}, {2.0f, 0.0f}};
    nb_rng r;
    nb_rng_seed(&r, 11);
    for (int s = 0; s < 3; s++) {
        const nbi_kernels *k = nbi_kernel_set(isas[s]);
        if (!k) continue; /* this CPU lacks the set */
        int planned = 0, calls = 0;
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
                    for (int tr = 0; tr < 4; tr++)
                        for (int v = 0; v < 4; v++) {
                            const int64_t pad = (mi + ni + ki + (size_t)v) % 3 == 0 ? 0 : 3;
                            planned += check_one(k, tr & 1, tr >> 1, Ms[mi], Ns[ni], Ks[ki],
                                                 ab[v][0], ab[v][1], pad, &r);
                            calls++;
                        }
        CHECK_MSG(planned > 0 && planned < calls, "%s: %d of %d calls planned", isas[s],
                  planned, calls);
    }
}

/* A bias copied into C's rows then the product added (bias_rows, then the entry with beta 1),
 * and the product then the column sums of B (the entry, then the reference's acc_rows), each
 * against the plan with the neighbour folded in: the same bits in C and in the sums. */
static void test_fused_neighbours(void) {
    static const char *const isas[] = {"avx2", "avx512"};
    nb_rng r;
    nb_rng_seed(&r, 13);
    float A[8 * 9], B[9 * 8], b[8], C1[8 * 8], C2[8 * 8], g1[8], g2[8];
    for (int s = 0; s < 2; s++) {
        const nbi_kernels *k = nbi_kernel_set(isas[s]);
        if (!k) continue;
        int fused = 0;
        for (int64_t M = 1; M <= 8; M++)
            for (int64_t N = 1; N <= 8; N++)
                for (int64_t K = 1; K <= 9; K += 4)
                    for (int ta = 0; ta < 2; ta++) {
                        const int64_t lda = ta ? M : K;
                        fill_uniform(A, 8 * 9, &r);
                        fill_uniform(B, 9 * 8, &r);
                        fill_uniform(b, 8, &r);
                        fill_uniform(g1, 8, &r);
                        memcpy(g2, g1, sizeof g1);
                        nbi_gemm_tiny t;
                        /* bias, then C += op(A) B */
                        nbi_ref_bias_rows(M, N, b, C1);
                        CHECK_OK(k->sgemm(1, ta, 0, M, N, K, 1.0f, A, lda, B, N, 1.0f, C1, N));
                        fill_uniform(C2, 8 * 8, &r);
                        if (nbi_gemm_tiny_plan(k->sgemm, ta, 0, M, N, K, 1.0f, A, lda, B, N,
                                               1.0f, C2, N, &t) &&
                            nbi_gemm_tiny_fuse_bias(&t, M, N, b)) {
                            nbi_gemm_tiny_run(&t);
                            fused++;
                            CHECK_MSG(same_bits(C1, C2, M * N), "%s bias M=%lld N=%lld K=%lld",
                                      isas[s], (long long)M, (long long)N, (long long)K);
                        }
                        /* C = op(A) B, then g += B's rows */
                        CHECK_OK(k->sgemm(1, ta, 0, M, N, K, 0.5f, A, lda, B, N, 0.0f, C1, N));
                        nbi_ref_acc_rows(K, N, B, g1);
                        if (nbi_gemm_tiny_plan(k->sgemm, ta, 0, M, N, K, 0.5f, A, lda, B, N,
                                               0.0f, C2, N, &t) &&
                            nbi_gemm_tiny_fuse_colsum(&t, K, N, B, g2)) {
                            nbi_gemm_tiny_run(&t);
                            fused++;
                            CHECK_MSG(same_bits(C1, C2, M * N) && same_bits(g1, g2, N),
                                      "%s colsum M=%lld N=%lld K=%lld", isas[s], (long long)M,
                                      (long long)N, (long long)K);
                        }
                    }
        const int rows = s == 0 ? 6 : 8; /* the AVX2 tile's 6 rows; 8, the kernels' most */
        CHECK_MSG(fused == 2 * rows * 8 * 3 * 2, "%s: %d fused", isas[s], fused);
    }
    /* what cannot be folded: beta 0 under a bias, sums of another matrix, overlap */
    const nbi_kernels *k = nbi_kernel_set("avx2");
    nbi_gemm_tiny t;
    if (k && nbi_gemm_tiny_plan(k->sgemm, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C1, 2, &t)) {
        CHECK(!nbi_gemm_tiny_fuse_bias(&t, 2, 2, b));
        CHECK(!nbi_gemm_tiny_fuse_colsum(&t, 2, 2, A, g1));
        CHECK(!nbi_gemm_tiny_fuse_colsum(&t, 2, 2, B, C1 + 1));
        CHECK(!nbi_gemm_tiny_fuse_colsum(&t, 3, 2, B, g1));
        CHECK(nbi_gemm_tiny_fuse_colsum(&t, 2, 2, B, g1));
        CHECK(!nbi_gemm_tiny_fuse_colsum(&t, 2, 2, B, g2)); /* one at a time */
    }
}

/* What the entry does not run as one tile stays with it. */
static void test_plan_refuses(void) {
    float A[64] = {0}, B[64] = {0}, C[64] = {0};
    nbi_gemm_tiny t;
    const nbi_kernels *ref = nbi_kernel_set("ref"), *c = nbi_kernel_set("c");
    CHECK(ref && c);
    if (!ref || !c) return;
    CHECK(!nbi_gemm_tiny_plan(ref->sgemm, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2, &t));
    CHECK(nbi_gemm_tiny_plan(c->sgemm, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 0, 2, 2, 2, 0.0f, A, 2, B, 2, 0.0f, C, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 0, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 0, 2, 2, 0, 1.0f, A, 2, B, 2, 0.0f, C, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 0, 2, 2, 2, 1.0f, A, 1, B, 2, 0.0f, C, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, NULL, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 0, 5, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2, &t));
    CHECK(!nbi_gemm_tiny_plan(c->sgemm, 0, 1, 1, 2, 40, 1.0f, A, 40, B, 40, 0.0f, C, 2, &t));
}

/* The short-row kernels against the reference's, bit for bit, odd sizes. */
static void test_rows_match_reference(void) {
    nb_rng r;
    nb_rng_seed(&r, 12);
    float x[9 * 37], g0[37], g1[37], g2[37], y1[9 * 37], y2[9 * 37];
    for (int64_t M = 1; M <= 9; M++)
        for (int64_t N = 1; N <= 37; N += (N < 9 ? 1 : 7)) {
            fill_uniform(x, M * N, &r);
            fill_uniform(g0, N, &r);
            memcpy(g1, g0, sizeof g0);
            memcpy(g2, g0, sizeof g0);
            nbi_ref_acc_rows(M, N, x, g1);
            nbi_tiny_acc_rows(M, N, x, g2);
            CHECK_MSG(same_bits(g1, g2, N), "acc_rows M=%lld N=%lld", (long long)M,
                      (long long)N);
            memset(y1, 0xff, sizeof y1);
            memset(y2, 0xff, sizeof y2);
            nbi_ref_bias_rows(M, N, g0, y1);
            nbi_tiny_bias_rows(M, N, g0, y2);
            CHECK_MSG(same_bits(y1, y2, 9 * 37), "bias_rows M=%lld N=%lld", (long long)M,
                      (long long)N);
        }
}

/* The squared error's kernels give the reference's bits: every reduction, odd lengths, with
 * and without a target gradient, gradients accumulated into what was there (a NaN in the
 * output after the last element would show a write past it). */
static void test_mse_matches_reference(void) {
    nb_rng r;
    nb_rng_seed(&r, 13);
    float p[41], t[41], gy[41], y1[42], y2[42], gp0[41], gp1[42], gp2[42], gt1[42], gt2[42];
    for (int red = 0; red < 3; red++)
        for (int64_t n = 1; n <= 41; n += (n < 9 ? 1 : 8))
            for (int with_gt = 0; with_gt < 2; with_gt++) {
                fill_uniform(p, n, &r);
                fill_uniform(t, n, &r);
                fill_uniform(gy, n, &r);
                fill_uniform(gp0, n, &r);
                memset(y1, 0xff, sizeof y1);
                memset(y2, 0xff, sizeof y2);
                nbi_ref_pair_loss(NBI_LOSS_MSE, red, n, p, t, y1);
                nbi_tiny_mse(red, n, p, t, y2);
                CHECK_MSG(same_bits(y1, y2, 42), "mse reduction %d n=%lld", red, (long long)n);
                memset(gp1, 0xff, sizeof gp1);
                memset(gp2, 0xff, sizeof gp2);
                memcpy(gp1, gp0, (size_t)n * sizeof *gp0);
                memcpy(gp2, gp0, (size_t)n * sizeof *gp0);
                memcpy(gt1, gp1, sizeof gt1); /* gt starts as gp does */
                memcpy(gt2, gp2, sizeof gt2);
                float *gt_1 = with_gt ? gt1 : NULL, *gt_2 = with_gt ? gt2 : NULL;
                nbi_ref_pair_loss_bwd(NBI_LOSS_MSE, red, n, p, t, gy, gp1, gt_1);
                nbi_tiny_mse_bwd(red, n, p, t, gy, gp2, gt_2);
                CHECK_MSG(same_bits(gp1, gp2, 42) && same_bits(gt1, gt2, 42),
                          "mse_bwd reduction %d n=%lld gt %d", red, (long long)n, with_gt);
                /* into zeros: the reference's accumulation into filled zeros, both signs of
                 * the scale (p = t at one element: a product of -0 that the 0 makes +0) */
                p[n / 2] = t[n / 2];
                for (int sign = 0; sign < 2; sign++) {
                    for (int64_t i = 0; i < n; i++) gy[i] = -gy[i];
                    memset(gp1, 0, sizeof gp1);
                    memset(gp2, 0, sizeof gp2);
                    nbi_ref_pair_loss_bwd(NBI_LOSS_MSE, red, n, p, t, gy, gp1, NULL);
                    nbi_tiny_mse_dx(red, n, p, t, gy, gp2);
                    CHECK_MSG(same_bits(gp1, gp2, 42), "mse_dx reduction %d n=%lld sign %d", red,
                              (long long)n, sign);
                }
            }
}

static const nbt_case cases[] = {
    {"plan_matches_entry", test_plan_matches_entry},
    {"plan_refuses", test_plan_refuses},
    {"fused_neighbours", test_fused_neighbours},
    {"rows_match_reference", test_rows_match_reference},
    {"mse_matches_reference", test_mse_matches_reference},
};
NBT_MAIN(cases)
