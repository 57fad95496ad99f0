/* linalg/lu.c — the raw routines built on LU with partial pivoting (kernels/ref/lu.c): the
 * factors themselves, solving from them, solving A X = B, the inverse, the determinant and
 * the condition estimate, for row-major f32 matrices. Each takes one workspace from
 * nbi_malloc and frees it before returning. */
#include "linalg/linalg.h"

#include <string.h>

/* The factors of the n×n A in a fresh workspace: n² for the copy, n pivots, 3n for the
 * estimator. NB_ERR_ARG naming A's first non-finite value. */
typedef struct lu_work {
    nbi_lu f;
    double *est;
    double *block;
} lu_work;

_Static_assert(sizeof(int64_t) == sizeof(double), "pivots share the double workspace");

static nb_status lu_begin(const char *fn, lu_work *w, int64_t n, const float *a, int64_t lda) {
    size_t count = nbi_la_work_lu(n);
    w->block = nbi_la_alloc(fn, count);
    if (!w->block) return NB_ERR_NOMEM;
    double *d = w->block;
    w->f.n = n;
    w->f.a = d;
    w->f.piv = (int64_t *)(d + n * n);
    w->est = d + n * n + n;
    int64_t bad = nbi_mat_load(w->f.a, a, n, n, lda, 1);
    if (bad >= 0) {
        char what[64];
        nbi_la_what(what, sizeof what, n, n, "matrix");
        nbi_la_res r = nbi_la_nonfinite(0, bad, n, a, lda, 1);
        nbi_free(w->block);
        return nbi_la_error(&r, fn, what);
    }
    nbi_lu_factor(&w->f);
    return NB_OK;
}

nb_status nb_linalg_lu(int64_t n, float *a, int64_t lda, int64_t *piv, int *sign, double *rcond) {
    const char *fn = "nb_linalg_lu";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s != NB_OK) return s;
    if (n > 0 && !piv) return nbi_error(NB_ERR_ARG, "%s: piv is NULL", fn);
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda)) != NB_OK) return s;
    nbi_mat_store(a, lda, w.f.a, n, n);
    for (int64_t k = 0; k < n; k++) piv[k] = w.f.piv[k];
    if (sign) *sign = w.f.sign;
    if (rcond) *rcond = nbi_lu_rcond(&w.f, w.est);
    nbi_free(w.block);
    return NB_OK;
}

nb_status nb_linalg_lu_solve(int64_t n, int64_t nrhs, const float *lu, int64_t ldlu,
                             const int64_t *piv, float *b, int64_t ldb) {
    const char *fn = "nb_linalg_lu_solve";
    nb_status s = nbi_check_mat(fn, "LU", n, n, lu, ldlu);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", n, nrhs, b, ldb);
    if (s != NB_OK) return s;
    if (n > 0 && !piv) return nbi_error(NB_ERR_ARG, "%s: piv is NULL", fn);
    for (int64_t k = 0; k < n; k++)
        if (piv[k] < k || piv[k] >= n)
            return nbi_error(NB_ERR_ARG, "%s: piv[%lld] = %lld is outside [%lld, %lld)", fn,
                             (long long)k, (long long)piv[k], (long long)k, (long long)n);
    for (int64_t k = 0; k < n; k++)
        if (lu[k * ldlu + k] == 0.0f)
            return nbi_error(NB_ERR_SINGULAR,
                             "%s: the %lldx%lld matrix is singular: U[%lld][%lld] "
                             "is exactly 0",
                             fn, (long long)n, (long long)n, (long long)k, (long long)k);
    double *d = nbi_la_alloc(fn, nbi_la_work_solve(n, nrhs));
    if (!d) return NB_ERR_NOMEM;
    nbi_lu f = {.n = n, .a = d, .piv = (int64_t *)(d + n * n)};
    double *x = d + n * n + n;
    int64_t bad = nbi_mat_load(f.a, lu, n, n, ldlu, 1);
    if (bad < 0) bad = nbi_mat_load(x, b, n, nrhs, ldb, 1);
    if (bad >= 0) {
        nbi_free(d);
        return nbi_error(NB_ERR_ARG, "%s: LU or B holds NaN or infinity", fn);
    }
    for (int64_t k = 0; k < n; k++) f.piv[k] = piv[k];
    nbi_lu_solve(&f, 0, x, nrhs);
    nbi_mat_store(b, ldb, x, n, nrhs);
    nbi_free(d);
    return NB_OK;
}

nb_status nb_linalg_solve(int64_t n, int64_t nrhs, const float *a, int64_t lda, float *b,
                          int64_t ldb) {
    const char *fn = "nb_linalg_solve";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", n, nrhs, b, ldb);
    if (s != NB_OK) return s;
    double *w = nbi_la_alloc(fn, nbi_la_work_solve(n, nrhs));
    if (!w) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    /* X overwrites B: the kernel has read all of B before it writes X */
    nbi_la_res r = be->la_solve(be, n, nrhs, a, lda, 1, 1, b, ldb, 1, w, b, ldb);
    nbi_free(w);
    char what[64];
    nbi_la_what(what, sizeof what, n, n, "matrix");
    return nbi_la_error(&r, fn, what);
}

nb_status nb_linalg_inv(int64_t n, const float *a, int64_t lda, float *inv, int64_t ldinv) {
    const char *fn = "nb_linalg_inv";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "inv", n, n, inv, ldinv);
    if (s != NB_OK) return s;
    double *w = nbi_la_alloc(fn, nbi_la_work_inverse(n));
    if (!w) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    nbi_la_res r = be->la_inverse(be, n, a, lda, 1, w, inv, ldinv);
    nbi_free(w);
    char what[64];
    nbi_la_what(what, sizeof what, n, n, "matrix");
    return nbi_la_error(&r, fn, what);
}

/* The determinant routines and the condition estimate: sign, log|det|, det and rcond in
 * double, with 0 / −∞ for a numerically singular A (nbi_lu_dets; see nb_linalg_det). */
static nb_status dets_raw(const char *fn, int64_t n, const float *a, int64_t lda, int *sign,
                          double *logabs, double *det, double *rcond) {
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s != NB_OK) return s;
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda)) != NB_OK) return s;
    nbi_lu_dets(&w.f, w.est, det, logabs, sign, rcond);
    nbi_free(w.block);
    return NB_OK;
}

nb_status nb_linalg_slogdet(int64_t n, const float *a, int64_t lda, int *sign, double *logabsdet) {
    if (!sign || !logabsdet)
        return nbi_error(NB_ERR_ARG, "nb_linalg_slogdet: sign or logabsdet is NULL");
    return dets_raw("nb_linalg_slogdet", n, a, lda, sign, logabsdet, NULL, NULL);
}

nb_status nb_linalg_det(int64_t n, const float *a, int64_t lda, double *det) {
    if (!det) return nbi_error(NB_ERR_ARG, "nb_linalg_det: det is NULL");
    return dets_raw("nb_linalg_det", n, a, lda, NULL, NULL, det, NULL);
}

nb_status nb_linalg_rcond(int64_t n, const float *a, int64_t lda, double *rcond) {
    if (!rcond) return nbi_error(NB_ERR_ARG, "nb_linalg_rcond: rcond is NULL");
    return dets_raw("nb_linalg_rcond", n, a, lda, NULL, NULL, NULL, rcond);
}
