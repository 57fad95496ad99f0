/* test_linalg — LU, solve, inverse, det, Cholesky, QR and least squares against NumPy
 * (tests/ref/linalg.txt, written by tests/ref/gen_linalg_stats.py), the errors promised for
 * singular, ill-conditioned, non-SPD and mismatched inputs, and the tensor-level ops.
 *
 * Tolerances. The fixtures' inputs are float32 values and NumPy computed on them in float64;
 * nabla also computes in double, so the two differ by about κ(A) · 1e-16 (negligible for the
 * matrices here, κ ≤ 1e6) plus the rounding of each side's result to float32 (half an ulp
 * each). Hence rtol = 1e-6 (≈ 8 ulps) with atol = 1e-6 · max|reference| for entries that
 * cancel to near zero. */
#include "nbtest.h"

#include "fixture.h"

#define RT 1e-6

static nbt_fixture *fx;

static const nbt_array *need(const char *name) {
    CHECK_MSG(fx != NULL, "cannot load tests/ref/linalg.txt (run the tests from the repo root)");
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array '%s' missing (regenerate tests/ref/linalg.txt)", name);
    return a;
}

static double max_abs(const float *x, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* got vs reference array, atol scaled by the reference's largest entry */
static void compare(const char *what, const float *got, const nbt_array *want) {
    if (!want) return;
    nbt_compare(what, got, want->data, want->numel, RT * max_abs(want->data, want->numel), RT);
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

#define CHECK_STATUS(expr, want)                                                            \
    do {                                                                                    \
        nb_status s__ = (expr);                                                             \
        CHECK_MSG(s__ == (want), "%s returned %s, expected %s (%s)", #expr,                 \
                  nb_status_str(s__), nb_status_str(want), nb_last_error());                \
    } while (0)

#define CHECK_MESSAGE(sub)                                                                  \
    CHECK_MSG(contains(nb_last_error(), sub), "message lacks \"%s\": %s", sub, nb_last_error())

/* ---- raw routines against NumPy ------------------------------------------------------------ */

static void test_raw_square(void) {
    static const int sizes[] = {1, 2, 3, 5, 8};
    for (int t = 0; t < 5; t++) {
        int n = sizes[t];
        char nm[64];
#define GET(var, suffix)                                                                    \
    snprintf(nm, sizeof nm, "sq%d_" suffix, n);                                             \
    const nbt_array *var = need(nm);                                                        \
    if (!var) return;
        GET(A, "a") GET(B, "b") GET(V, "v") GET(INV, "inv") GET(DET, "det") GET(SIGN, "sign")
        GET(LAD, "logabsdet") GET(X, "solve") GET(XV, "solvev") GET(C1, "cond1")
#undef GET
        float inv[64], x[24], xv[8];
        CHECK_OK(nb_linalg_inv(n, A->data, n, inv, n));
        compare("inv", inv, INV);
        double det;
        CHECK_OK(nb_linalg_det(n, A->data, n, &det));
        CHECK_CLOSE(det, DET->data[0], 0.0, RT);
        int sign;
        double lad;
        CHECK_OK(nb_linalg_slogdet(n, A->data, n, &sign, &lad));
        CHECK(sign == (int)SIGN->data[0]);
        CHECK_CLOSE(lad, LAD->data[0], 1e-6, RT);
        memcpy(x, B->data, sizeof(float) * (size_t)(n * 3));
        CHECK_OK(nb_linalg_solve(n, 3, A->data, n, x, 3));
        compare("solve", x, X);
        memcpy(xv, V->data, sizeof(float) * (size_t)n);
        CHECK_OK(nb_linalg_solve(n, 1, A->data, n, xv, 1));
        compare("solve vector", xv, XV);
        /* Hager's estimate of ‖A⁻¹‖₁ is a lower bound, so rcond_est ≥ the true rcond, and in
         * practice within a small factor of it */
        double rc, truth = 1.0 / C1->data[0];
        CHECK_OK(nb_linalg_rcond(n, A->data, n, &rc));
        CHECK_MSG(rc >= truth * (1 - 1e-6) && rc <= 3 * truth, "n=%d rcond %g, true %g", n, rc,
                  truth);
        /* LU then lu_solve reproduces solve */
        float lu[64];
        int64_t piv[8];
        double rc2;
        memcpy(lu, A->data, sizeof(float) * (size_t)(n * n));
        CHECK_OK(nb_linalg_lu(n, lu, n, piv, &sign, &rc2));
        CHECK(rc2 == rc);
        memcpy(x, B->data, sizeof(float) * (size_t)(n * 3));
        CHECK_OK(nb_linalg_lu_solve(n, 3, lu, n, piv, x, 3));
        /* the factors are rounded to f32: the error grows to about κ · 2^-24 */
        nbt_compare("lu_solve", x, X->data, X->numel, 1e-5 * C1->data[0] * max_abs(X->data, X->numel),
                    1e-5 * C1->data[0]);
    }
}

/* An LU by hand: P A = L U holds to rounding for a matrix that needs pivoting. */
static void test_lu_factors(void) {
    float a[9] = {0, 2, 1, 4, 1, 3, 2, 5, 7}, lu[9];
    memcpy(lu, a, sizeof a);
    int64_t piv[3];
    int sign;
    CHECK_OK(nb_linalg_lu(3, lu, 3, piv, &sign, NULL));
    CHECK(piv[0] == 1); /* |4| is the largest in column 0 */
    /* rebuild P A from the swaps, and L U from the factors */
    float pa[9];
    memcpy(pa, a, sizeof a);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++) {
            float t = pa[k * 3 + j];
            pa[k * 3 + j] = pa[piv[k] * 3 + j];
            pa[piv[k] * 3 + j] = t;
        }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++) {
                double l = k < i ? lu[i * 3 + k] : (k == i ? 1.0 : 0.0);
                double u = k <= j ? lu[k * 3 + j] : 0.0;
                s += l * u;
            }
            CHECK_CLOSE(s, pa[i * 3 + j], 1e-6, 1e-6);
        }
    for (int i = 1; i < 3; i++)
        for (int k = 0; k < i; k++) CHECK(fabsf(lu[i * 3 + k]) <= 1.0f); /* |l_ik| ≤ 1 */
    double det;
    CHECK_OK(nb_linalg_det(3, a, 3, &det));
    CHECK_CLOSE(det, 0 * (1 * 7 - 3 * 5) - 2 * (4 * 7 - 3 * 2) + 1 * (4 * 5 - 1 * 2), 0, 1e-12);
}

/* A leading dimension larger than n: the routines must skip the padding. */
static void test_leading_dimension(void) {
    const nbt_array *A = need("sq3_a"), *INV = need("sq3_inv");
    if (!A || !INV) return;
    float pa[3 * 5], inv[3 * 4];
    for (int i = 0; i < 15; i++) pa[i] = NAN; /* padding that must never be read */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) pa[i * 5 + j] = A->data[i * 3 + j];
    for (int i = 0; i < 12; i++) inv[i] = -7.0f;
    CHECK_OK(nb_linalg_inv(3, pa, 5, inv, 4));
    for (int i = 0; i < 3; i++) {
        nbt_compare("inv (ld 4)", inv + i * 4, INV->data + i * 3, 3, RT * 10, RT);
        CHECK(inv[i * 4 + 3] == -7.0f); /* padding untouched */
    }
}

static void test_hilbert(void) {
    const nbt_array *H = need("hilb5_a"), *C = need("hilb5_cond1"), *INV = need("hilb5_inv");
    if (!H || !C || !INV) return;
    float inv[25];
    /* κ₁ ≈ 9.4e5 < 1/FLT_EPSILON: still solvable, and double arithmetic keeps the result to
     * f32 rounding */
    CHECK_OK(nb_linalg_inv(5, H->data, 5, inv, 5));
    compare("hilbert inverse", inv, INV);
    double rc;
    CHECK_OK(nb_linalg_rcond(5, H->data, 5, &rc));
    CHECK_MSG(rc >= 1.0 / C->data[0] * (1 - 1e-6) && rc <= 3.0 / C->data[0], "rcond %g vs %g", rc,
              1.0 / C->data[0]);
    /* order 9: κ₁ ≈ 1e12 in exact arithmetic, far past 1/FLT_EPSILON: refused */
    float h9[81], out[81];
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) h9[i * 9 + j] = 1.0f / (float)(i + j + 1);
    CHECK_STATUS(nb_linalg_inv(9, h9, 9, out, 9), NB_ERR_SINGULAR);
    CHECK_MESSAGE("nb_linalg_inv");
    CHECK_MESSAGE("9x9");
    CHECK_MESSAGE("condition estimate");
}

static void test_cholesky_raw(void) {
    static const int sizes[] = {1, 3, 6};
    for (int t = 0; t < 3; t++) {
        int n = sizes[t];
        char nm[4][32];
        snprintf(nm[0], 32, "spd%d_a", n);
        snprintf(nm[1], 32, "spd%d_l", n);
        snprintf(nm[2], 32, "spd%d_b", n);
        snprintf(nm[3], 32, "spd%d_solve", n);
        const nbt_array *A = need(nm[0]), *L = need(nm[1]), *B = need(nm[2]), *X = need(nm[3]);
        if (!A || !L || !B || !X) return;
        float l[36], x[12];
        CHECK_OK(nb_linalg_cholesky(n, A->data, n, l, n));
        compare("cholesky", l, L);
        memcpy(x, B->data, sizeof(float) * (size_t)(2 * n));
        CHECK_OK(nb_linalg_cholesky_solve(n, 2, l, n, x, 2));
        /* from the f32-rounded factor: error about κ · 2^-24, κ ≤ 10 here */
        nbt_compare("cholesky_solve", x, X->data, X->numel, 1e-5 * max_abs(X->data, X->numel),
                    1e-5);
    }
}

static void test_qr_raw(void) {
    static const int dims[3][2] = {{5, 3}, {3, 5}, {4, 4}};
    for (int t = 0; t < 3; t++) {
        int m = dims[t][0], n = dims[t][1], k = m < n ? m : n;
        char nm[3][32];
        snprintf(nm[0], 32, "qr%dx%d_a", m, n);
        snprintf(nm[1], 32, "qr%dx%d_q", m, n);
        snprintf(nm[2], 32, "qr%dx%d_r", m, n);
        const nbt_array *A = need(nm[0]), *Q = need(nm[1]), *R = need(nm[2]);
        if (!A || !Q || !R) return;
        float q[25], r[25];
        CHECK_OK(nb_linalg_qr(m, n, A->data, n, q, k, r, n));
        compare("Q", q, Q);
        compare("R", r, R);
        for (int i = 0; i < k; i++) /* QᵀQ = I */
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int p = 0; p < m; p++) s += (double)q[p * k + i] * q[p * k + j];
                CHECK_CLOSE(s, i == j ? 1.0 : 0.0, 1e-6, 0);
            }
        for (int i = 0; i < m; i++) /* Q R = A */
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)q[i * k + p] * r[p * n + j];
                CHECK_CLOSE(s, A->data[i * n + j], 1e-6, 1e-6);
            }
    }
}

static void test_lstsq_raw(void) {
    const nbt_array *A = need("ls_over_a"), *B = need("ls_over_b"), *X = need("ls_over_x");
    const nbt_array *A2 = need("ls_under_a"), *B2 = need("ls_under_b"), *X2 = need("ls_under_x");
    if (!A || !B || !X || !A2 || !B2 || !X2) return;
    float x[6], x2[5];
    CHECK_OK(nb_linalg_lstsq(6, 3, 2, A->data, 3, B->data, 2, x, 2));
    compare("lstsq overdetermined", x, X);
    CHECK_OK(nb_linalg_lstsq(3, 5, 1, A2->data, 5, B2->data, 1, x2, 1));
    compare("lstsq minimum norm", x2, X2);
    /* square and invertible: least squares is the solve */
    const nbt_array *S = need("sq5_a"), *SB = need("sq5_b"), *SX = need("sq5_solve");
    if (!S || !SB || !SX) return;
    float x3[15];
    CHECK_OK(nb_linalg_lstsq(5, 5, 3, S->data, 5, SB->data, 3, x3, 3));
    nbt_compare("lstsq square", x3, SX->data, SX->numel, 1e-5 * max_abs(SX->data, 15), 1e-5);
}

/* ---- errors --------------------------------------------------------------------------------- */

static void test_singular_errors(void) {
    float s2[4] = {1, 2, 2, 4}, b[2] = {1, 1}, out[9];
    CHECK_STATUS(nb_linalg_solve(2, 1, s2, 2, b, 1), NB_ERR_SINGULAR);
    CHECK_MESSAGE("nb_linalg_solve");
    CHECK_MESSAGE("2x2");
    CHECK_MESSAGE("pivot 1");
    CHECK(b[0] == 1 && b[1] == 1); /* B untouched on failure */
    /* exactly singular in exact arithmetic; in floating point the last pivot is rounding noise
     * or 0: either way refused, and det is exactly 0 */
    float s3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_STATUS(nb_linalg_inv(3, s3, 3, out, 3), NB_ERR_SINGULAR);
    CHECK_MESSAGE("3x3");
    double det = 1;
    CHECK_OK(nb_linalg_det(3, s3, 3, &det));
    CHECK(det == 0.0);
    int sign = 7;
    double lad = 0;
    CHECK_OK(nb_linalg_slogdet(3, s3, 3, &sign, &lad));
    CHECK(sign == 0 && isinf(lad) && lad < 0);
    double rc;
    CHECK_OK(nb_linalg_rcond(2, s2, 2, &rc));
    CHECK(rc == 0.0);
    /* singular is fine for LU itself */
    int64_t piv[2];
    CHECK_OK(nb_linalg_lu(2, s2, 2, piv, NULL, &rc));
    CHECK(rc == 0.0 && s2[3] == 0.0f);
    CHECK_STATUS(nb_linalg_lu_solve(2, 1, s2, 2, piv, b, 1), NB_ERR_SINGULAR);
    /* zero matrix */
    float z[4] = {0, 0, 0, 0};
    CHECK_STATUS(nb_linalg_inv(2, z, 2, out, 2), NB_ERR_SINGULAR);
    CHECK_MESSAGE("pivot 0");
    /* non-finite input */
    float nanm[4] = {1, 0, NAN, 1};
    CHECK_STATUS(nb_linalg_inv(2, nanm, 2, out, 2), NB_ERR_ARG);
    CHECK_MESSAGE("NaN at [1][0]");
    /* bad arguments */
    CHECK_STATUS(nb_linalg_inv(3, s3, 2, out, 3), NB_ERR_ARG);
    CHECK_MESSAGE("leading dimension");
    CHECK_STATUS(nb_linalg_inv(-1, s3, 3, out, 3), NB_ERR_ARG);
    /* n = 0: the empty matrix has det 1 */
    CHECK_OK(nb_linalg_det(0, NULL, 0, &det));
    CHECK(det == 1.0);
}

static void test_cholesky_errors(void) {
    float indef[4] = {1, 2, 2, 1}, l[9];
    CHECK_STATUS(nb_linalg_cholesky(2, indef, 2, l, 2), NB_ERR_SINGULAR);
    CHECK_MESSAGE("nb_linalg_cholesky");
    CHECK_MESSAGE("not positive definite");
    CHECK_MESSAGE("leading 2x2 minor");
    float neg[9] = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
    CHECK_STATUS(nb_linalg_cholesky(3, neg, 3, l, 3), NB_ERR_SINGULAR);
    CHECK_MESSAGE("leading 1x1 minor");
    float semi[9] = {1, 1, 0, 1, 1, 0, 0, 0, 1}; /* positive semi-definite, singular */
    CHECK_STATUS(nb_linalg_cholesky(3, semi, 3, l, 3), NB_ERR_SINGULAR);
    CHECK_MESSAGE("leading 2x2 minor");
    float asym[4] = {2, 1, 0.5f, 2};
    CHECK_STATUS(nb_linalg_cholesky(2, asym, 2, l, 2), NB_ERR_ARG);
    CHECK_MESSAGE("not symmetric");
    CHECK_MESSAGE("A[1][0]");
}

static void test_lstsq_errors(void) {
    /* column 2 = column 0 + column 1: rank 2 of 3 */
    float a[12] = {1, 0, 1, 0, 1, 1, 1, 1, 2, 2, 1, 3}, b[4] = {1, 2, 3, 4}, x[3];
    CHECK_STATUS(nb_linalg_lstsq(4, 3, 1, a, 3, b, 1, x, 1), NB_ERR_SINGULAR);
    CHECK_MESSAGE("nb_linalg_lstsq");
    CHECK_MESSAGE("4x3");
    CHECK_MESSAGE("rank");
}

/* ---- tensor level ----------------------------------------------------------------------------- */

static nb_tensor *from_fixture(nb_ctx *ctx, const nbt_array *a) {
    return nb_tensor_copy_of(ctx, a->data, a->rank, a->shape);
}

static void test_tensor_ops(void) {
    const nbt_array *A = need("batch_a"), *B = need("batch_b"), *INV = need("batch_inv"),
                    *DET = need("batch_det"), *X = need("batch_solve");
    if (!A || !B || !INV || !DET || !X) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *a = from_fixture(ctx, A), *b = from_fixture(ctx, B);
    nb_tensor *inv = nb_inverse(ctx, a);
    CHECK_PTR(inv);
    if (inv) {
        CHECK(inv->rank == 3 && inv->shape[0] == 3 && inv->shape[1] == 4 && inv->shape[2] == 4);
        compare("batched inverse", nb_f32(inv), INV);
    }
    nb_tensor *det = nb_det(ctx, a);
    CHECK_PTR(det);
    if (det) {
        CHECK(det->rank == 1 && det->shape[0] == 3);
        compare("batched det", nb_f32(det), DET);
    }
    nb_tensor *x = nb_solve(ctx, a, b); /* B [4,2] broadcast against A [3,4,4] */
    CHECK_PTR(x);
    if (x) {
        CHECK(x->rank == 3 && x->shape[0] == 3 && x->shape[1] == 4 && x->shape[2] == 2);
        compare("batched solve (broadcast B)", nb_f32(x), X);
    }
    /* batched A with one vector b [4]: X [3, 4], row k = A_k⁻¹ b */
    float bv[4] = {1, -2, 0.5f, 3};
    nb_tensor *xv = nb_solve(ctx, a, nb_tensor_copy_of(ctx, bv, NB_DIMS(4)));
    CHECK_PTR(xv);
    if (xv) {
        CHECK(xv->rank == 2 && xv->shape[0] == 3 && xv->shape[1] == 4);
        for (int k = 0; k < 3; k++) {
            float want[4];
            memcpy(want, bv, sizeof bv);
            CHECK_OK(nb_linalg_solve(4, 1, A->data + 16 * k, 4, want, 1));
            nbt_compare("batched A, vector b", nb_f32(xv) + 4 * k, want, 4, 0, 0);
        }
    }
    nb_tensor *lad = nb_logabsdet(ctx, a), *sign = NULL, *lad2 = NULL;
    CHECK_OK(nb_slogdet(ctx, a, &sign, &lad2));
    CHECK_PTR(lad);
    if (lad && sign && lad2)
        for (int k = 0; k < 3; k++) {
            CHECK_CLOSE(nb_f32(lad)[k], log(fabs(DET->data[k])), 1e-6, RT);
            CHECK(nb_f32(lad2)[k] == nb_f32(lad)[k]);
            CHECK(nb_f32(sign)[k] == (DET->data[k] > 0 ? 1.0f : -1.0f));
        }
    nb_tensor *rc = nb_rcond(ctx, a);
    CHECK_PTR(rc);
    if (rc)
        for (int k = 0; k < 3; k++) CHECK(nb_f32(rc)[k] > 0.01f && nb_f32(rc)[k] <= 1.0f);
    nb_tensor *lu = NULL, *piv = NULL;
    CHECK_OK(nb_lu(ctx, a, &lu, &piv));
    if (lu && piv) {
        CHECK(piv->dtype == NB_I32 && piv->rank == 2 && piv->shape[1] == 4);
        float l2[16];
        int64_t p2[4];
        memcpy(l2, A->data + 16, sizeof l2);
        CHECK_OK(nb_linalg_lu(4, l2, 4, p2, NULL, NULL));
        for (int i = 0; i < 16; i++) CHECK(nb_f32(lu)[16 + i] == l2[i]);
        for (int i = 0; i < 4; i++) CHECK(nb_i32(piv)[4 + i] == p2[i]);
    }
    CHECK(nb_ctx_status(ctx) == NB_OK);
    nb_ctx_free(ctx);
}

/* A transposed view (strides swapped) is read without a copy: inverse(Aᵀ) = (A⁻¹)ᵀ. The view
 * is built by hand so this test does not depend on the shape ops. */
static void test_strided_input(void) {
    const nbt_array *A = need("sq5_a"), *INV = need("sq5_inv");
    if (!A || !INV) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *a = from_fixture(ctx, A);
    nb_tensor at = *a;
    at.stride[0] = 1;
    at.stride[1] = 5;
    CHECK(!nb_tensor_is_contiguous(&at));
    nb_tensor *inv = nb_inverse(ctx, &at);
    CHECK_PTR(inv);
    if (inv) {
        float want[25];
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++) want[i * 5 + j] = INV->data[j * 5 + i];
        nbt_compare("inverse of a transposed view", nb_f32(inv), want, 25,
                    RT * max_abs(want, 25), RT);
    }
    nb_ctx_free(ctx);
}

static void test_tensor_factorisations(void) {
    const nbt_array *S = need("spd6_a"), *L = need("spd6_l"), *SB = need("spd6_b"),
                    *SX = need("spd6_solve"), *QA = need("qr5x3_a"), *Q = need("qr5x3_q"),
                    *R = need("qr5x3_r"), *LA = need("ls_over_a"), *LB = need("ls_over_b"),
                    *LX = need("ls_over_x"), *UA = need("ls_under_a"), *UB = need("ls_under_b"),
                    *UX = need("ls_under_x");
    if (!S || !L || !SB || !SX || !QA || !Q || !R || !LA || !LB || !LX || !UA || !UB || !UX)
        return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *l = nb_cholesky(ctx, from_fixture(ctx, S));
    CHECK_PTR(l);
    if (l) compare("tensor cholesky", nb_f32(l), L);
    nb_tensor *x = nb_cholesky_solve(ctx, l, from_fixture(ctx, SB));
    CHECK_PTR(x);
    if (x) nbt_compare("tensor cholesky_solve", nb_f32(x), SX->data, 12, 1e-5, 1e-5);
    nb_tensor *q = NULL, *r = NULL;
    CHECK_OK(nb_qr(ctx, from_fixture(ctx, QA), &q, &r));
    if (q && r) {
        CHECK(q->shape[0] == 5 && q->shape[1] == 3 && r->shape[0] == 3 && r->shape[1] == 3);
        compare("tensor Q", nb_f32(q), Q);
        compare("tensor R", nb_f32(r), R);
    }
    nb_tensor *lx = nb_lstsq(ctx, from_fixture(ctx, LA), from_fixture(ctx, LB));
    CHECK_PTR(lx);
    if (lx) compare("tensor lstsq", nb_f32(lx), LX);
    nb_tensor *ux = nb_lstsq(ctx, from_fixture(ctx, UA), from_fixture(ctx, UB));
    CHECK_PTR(ux);
    if (ux) {
        CHECK(ux->rank == 1 && ux->shape[0] == 5);
        compare("tensor lstsq minimum norm", nb_f32(ux), UX);
    }
    nb_ctx_free(ctx);
}

static void test_tensor_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    /* non-square */
    CHECK(nb_inverse(ctx, nb_zeros(ctx, NB_DIMS(2, 3))) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MESSAGE("inverse");
    CHECK_MESSAGE("f32[2,3]");
    nb_ctx_reset(ctx);
    /* mismatched solve: both shapes named */
    nb_tensor *eye3 = nb_zeros(ctx, NB_DIMS(3, 3));
    for (int i = 0; i < 3; i++) nb_f32(eye3)[i * 4] = 1.0f;
    CHECK(nb_solve(ctx, eye3, nb_ones(ctx, NB_DIMS(4, 2))) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MESSAGE("solve");
    CHECK_MESSAGE("f32[3,3]");
    CHECK_MESSAGE("f32[4,2]");
    nb_ctx_reset(ctx);
    CHECK(nb_lstsq(ctx, nb_zeros(ctx, NB_DIMS(4, 3)), nb_ones(ctx, NB_DIMS(5))) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    CHECK_MESSAGE("f32[4,3]");
    CHECK_MESSAGE("f32[5]");
    nb_ctx_reset(ctx);
    /* a batch whose middle matrix is singular: the message names it */
    nb_tensor *a = nb_zeros(ctx, NB_DIMS(3, 2, 2));
    float *p = nb_f32(a);
    float vals[12] = {2, 0, 0, 2, 1, 2, 2, 4, 1, 1, 0, 1};
    memcpy(p, vals, sizeof vals);
    CHECK(nb_inverse(ctx, a) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SINGULAR);
    CHECK_MESSAGE("matrix [1] of f32[3,2,2]");
    CHECK_MESSAGE("pivot 1");
    nb_ctx_reset(ctx);
    /* det of the same batch is fine: 4, 0, 1 */
    a = nb_zeros(ctx, NB_DIMS(3, 2, 2));
    memcpy(nb_f32(a), vals, sizeof vals);
    nb_tensor *d = nb_det(ctx, a);
    CHECK_PTR(d);
    if (d) CHECK(nb_f32(d)[0] == 4.0f && nb_f32(d)[1] == 0.0f && nb_f32(d)[2] == 1.0f);
    /* cholesky of a batch: the failing matrix and minor are named */
    nb_tensor *c = nb_zeros(ctx, NB_DIMS(2, 2, 2));
    float cv[8] = {4, 1, 1, 3, 1, 2, 2, 1};
    memcpy(nb_f32(c), cv, sizeof cv);
    CHECK(nb_cholesky(ctx, c) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SINGULAR);
    CHECK_MESSAGE("matrix [1] of f32[2,2,2]");
    CHECK_MESSAGE("leading 2x2 minor");
    nb_ctx_free(ctx);
}

/* Backward through det: ∂det/∂A = adj(A)ᵀ = [[d, −c], [−b, a]] for A = [[a, b], [c, d]]; and
 * at a singular matrix the det backward refuses rather than return garbage. */
static void test_det_gradient(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    float v[4] = {3, 1, 2, 5};
    nb_tensor *a = nb_tensor_copy_of(ctx, v, NB_DIMS(2, 2));
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor *d = nb_det(ctx, a);
    CHECK_PTR(d);
    if (d) {
        CHECK_CLOSE(nb_item(d), 13.0, 1e-5, 0);
        CHECK_OK(nb_backward(ctx, d));
        float want[4] = {5, -2, -1, 3};
        if (a->grad) nbt_compare("d det / dA", nb_f32(a->grad), want, 4, 1e-5, 1e-6);
        CHECK(a->grad != NULL);
    }
    nb_ctx_reset(ctx);
    float s[4] = {1, 2, 2, 4};
    a = nb_tensor_copy_of(ctx, s, NB_DIMS(2, 2));
    nb_tensor_set_requires_grad(a, 1);
    d = nb_det(ctx, a);
    CHECK_PTR(d);
    if (d) {
        CHECK(nb_item(d) == 0.0f);
        CHECK_STATUS(nb_backward(ctx, d), NB_ERR_SINGULAR);
        CHECK_MESSAGE("det backward");
    }
    nb_ctx_free(ctx);
}

/* A larger random system: the residual ‖A x − b‖ is at rounding level. */
static void test_random_residual(void) {
    enum { N = 60 };
    static float a[N * N], b[N], x[N];
    nb_rng rng;
    nb_rng_seed(&rng, 99);
    for (int i = 0; i < N * N; i++) a[i] = nb_rng_normal(&rng, 0, 1);
    for (int i = 0; i < N; i++) b[i] = x[i] = nb_rng_normal(&rng, 0, 1);
    double rc;
    CHECK_OK(nb_linalg_rcond(N, a, N, &rc));
    CHECK_OK(nb_linalg_solve(N, 1, a, N, x, 1));
    double worst = 0, xn = 0;
    for (int i = 0; i < N; i++) {
        double s = -b[i];
        for (int j = 0; j < N; j++) s += (double)a[i * N + j] * x[j];
        if (fabs(s) > worst) worst = fabs(s);
        if (fabs(x[i]) > xn) xn = fabs(x[i]);
    }
    /* x is rounded to f32: the residual is about ‖A‖ ‖x‖ 2^-24 √N */
    CHECK_MSG(worst < 1e-5 * xn * N, "residual %g (|x| %g, rcond %g)", worst, xn, rc);
}


/* Every raw routine frees what it took when an allocation fails: a counting allocator fails
 * the Nth call for every N until the call succeeds, and allocations must match frees. */
static long n_alloc, n_free, fail_at = -1;
static void *count_alloc(size_t size, size_t align, void *u) {
    (void)u;
    if (n_alloc++ == fail_at) return NULL;
    size_t bytes = ((size ? size : 1) + align - 1) / align * align;
    return aligned_alloc(align, bytes); /* C11: the size a multiple of the alignment */
}
static void count_free(void *p, void *u) {
    (void)u;
    if (p) n_free++;
    free(p);
}

static nb_status run_all_raw(void) {
    float a[9] = {4, 1, 0, 1, 3, 1, 0, 1, 2}, b[3] = {1, 2, 3}, o[9], q[9], r[9];
    int64_t piv[3];
    double d;
    int sign;
    nb_status s;
    if ((s = nb_linalg_solve(3, 1, a, 3, b, 1)) != NB_OK) return s;
    if ((s = nb_linalg_inv(3, a, 3, o, 3)) != NB_OK) return s;
    if ((s = nb_linalg_slogdet(3, a, 3, &sign, &d)) != NB_OK) return s;
    if ((s = nb_linalg_rcond(3, a, 3, &d)) != NB_OK) return s;
    if ((s = nb_linalg_cholesky(3, a, 3, o, 3)) != NB_OK) return s;
    if ((s = nb_linalg_cholesky_solve(3, 1, o, 3, b, 1)) != NB_OK) return s;
    if ((s = nb_linalg_qr(3, 3, a, 3, q, 3, r, 3)) != NB_OK) return s;
    if ((s = nb_linalg_lstsq(3, 3, 1, a, 3, b, 1, o, 1)) != NB_OK) return s;
    memcpy(o, a, sizeof a);
    if ((s = nb_linalg_lu(3, o, 3, piv, &sign, &d)) != NB_OK) return s;
    return nb_linalg_lu_solve(3, 1, o, 3, piv, b, 1);
}

static void test_allocation_failures(void) {
    nb_allocator al = {count_alloc, count_free, NULL};
    nb_set_allocator(&al);
    int failures_seen = 0;
    for (fail_at = 0;; fail_at++) {
        n_alloc = n_free = 0;
        nb_status s = run_all_raw();
        long frees_expected = n_alloc - (fail_at < n_alloc ? 1 : 0);
        CHECK_MSG(n_free == frees_expected, "fail at %ld: %ld allocations, %ld frees", fail_at,
                  n_alloc, n_free);
        if (s == NB_OK) break;
        CHECK_MSG(s == NB_ERR_NOMEM, "fail at %ld: %s (%s)", fail_at, nb_status_str(s),
                  nb_last_error());
        CHECK_MESSAGE("out of memory");
        failures_seen++;
        if (fail_at > 1000) break;
    }
    fail_at = -1;
    nb_set_allocator(NULL);
    CHECK(failures_seen >= 10); /* every routine above allocates */
}

static const nbt_case cases[] = {
    {"raw_square", test_raw_square},
    {"lu_factors", test_lu_factors},
    {"leading_dimension", test_leading_dimension},
    {"hilbert", test_hilbert},
    {"cholesky_raw", test_cholesky_raw},
    {"qr_raw", test_qr_raw},
    {"lstsq_raw", test_lstsq_raw},
    {"singular_errors", test_singular_errors},
    {"cholesky_errors", test_cholesky_errors},
    {"lstsq_errors", test_lstsq_errors},
    {"tensor_ops", test_tensor_ops},
    {"strided_input", test_strided_input},
    {"tensor_factorisations", test_tensor_factorisations},
    {"tensor_errors", test_tensor_errors},
    {"det_gradient", test_det_gradient},
    {"random_residual", test_random_residual},
    {"allocation_failures", test_allocation_failures},
};
/* The fixture is loaded once for all tests (from the repository root, where tests run). */
int main(int argc, char **argv) {
    fx = nbt_fixture_load("tests/ref/linalg.txt");
    int rc = nbt_run(cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    nbt_fixture_free(fx);
    return rc;
}
