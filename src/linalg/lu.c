/* linalg/lu.c — LU factorisation with partial pivoting and what it gives: solving A X = B,
 * the inverse, the determinant, the condition estimate.
 *
 *   P A = L U        Gaussian elimination; at step k the row with the largest |a_ik| (i ≥ k)
 *                    is swapped up, so every multiplier |l_ik| ≤ 1 (backward stable in
 *                    practice)
 *   A x = b          x = U⁻¹ L⁻¹ P b            (forward, then back substitution)
 *   Aᵀ x = b         x = Pᵀ L⁻ᵀ U⁻ᵀ b
 *   det A            det P · Π U_kk
 *
 * The nbi_ kernels work on the double copy (linalg.h); the nb_linalg_ routines below wrap them
 * for row-major f32 matrices with a workspace from nbi_malloc. */
#include "linalg/linalg.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void nbi_lu_factor(nbi_lu *f) {
    int64_t n = f->n;
    double *a = f->a;
    f->anorm = nbi_norm1(a, n, n);
    f->sign = 1;
    f->zero = -1;
    for (int64_t k = 0; k < n; k++) {
        int64_t p = k;
        double best = fabs(a[k * n + k]);
        for (int64_t i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > best) {
                best = fabs(a[i * n + k]);
                p = i;
            }
        f->piv[k] = p;
        if (p != k) {
            for (int64_t j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
            f->sign = -f->sign;
        }
        double d = a[k * n + k];
        if (d == 0.0) { /* the whole column below is zero too: nothing to eliminate */
            if (f->zero < 0) f->zero = k;
            continue;
        }
        /* row i ← row i − l_ik row k, with l_ik = a_ik / a_kk */
        for (int64_t i = k + 1; i < n; i++) {
            double l = a[i * n + k] / d;
            a[i * n + k] = l;
            if (l == 0.0) continue;
            double *ri = a + i * n;
            const double *rk = a + k * n;
            for (int64_t j = k + 1; j < n; j++) ri[j] -= l * rk[j];
        }
    }
}

static void swap_rows(double *b, int64_t i, int64_t j, int64_t nrhs) {
    for (int64_t c = 0; c < nrhs; c++) {
        double t = b[i * nrhs + c];
        b[i * nrhs + c] = b[j * nrhs + c];
        b[j * nrhs + c] = t;
    }
}

void nbi_lu_solve(const nbi_lu *f, int trans, double *b, int64_t nrhs) {
    int64_t n = f->n;
    const double *a = f->a;
    if (!trans) {
        for (int64_t k = 0; k < n; k++)
            if (f->piv[k] != k) swap_rows(b, k, f->piv[k], nrhs);
        /* L y = P b, unit diagonal */
        for (int64_t i = 1; i < n; i++) {
            double *bi = b + i * nrhs;
            for (int64_t k = 0; k < i; k++) {
                double l = a[i * n + k];
                if (l == 0.0) continue;
                const double *bk = b + k * nrhs;
                for (int64_t c = 0; c < nrhs; c++) bi[c] -= l * bk[c];
            }
        }
        nbi_tri_upper_solve(a, n, n, 0, b, nrhs); /* U x = y */
    } else {
        nbi_tri_upper_solve(a, n, n, 1, b, nrhs); /* Uᵀ y = b */
        /* Lᵀ z = y: Lᵀ is unit upper triangular */
        for (int64_t i = n - 2; i >= 0; i--) {
            double *bi = b + i * nrhs;
            for (int64_t k = i + 1; k < n; k++) {
                double l = a[k * n + i];
                if (l == 0.0) continue;
                const double *bk = b + k * nrhs;
                for (int64_t c = 0; c < nrhs; c++) bi[c] -= l * bk[c];
            }
        }
        for (int64_t k = n - 1; k >= 0; k--) /* x = Pᵀ z: undo the swaps in reverse */
            if (f->piv[k] != k) swap_rows(b, k, f->piv[k], nrhs);
    }
}

static void lu_solve_vec(const void *f, int trans, double *x) {
    nbi_lu_solve(f, trans, x, 1);
}

double nbi_lu_rcond(const nbi_lu *f, double *work) {
    if (f->n == 0) return 1.0;
    if (f->zero >= 0 || f->anorm == 0.0) return 0.0;
    double inv = nbi_inv_norm1_est(f->n, lu_solve_vec, f, work);
    if (!(inv > 0.0) || isinf(inv)) return 0.0;
    return 1.0 / (f->anorm * inv);
}

double nbi_lu_logabsdet(const nbi_lu *f, int *sign) {
    if (f->zero >= 0) {
        *sign = 0;
        return -INFINITY;
    }
    double s = 0.0;
    int sg = f->sign;
    for (int64_t k = 0; k < f->n; k++) {
        double d = f->a[k * f->n + k];
        if (d < 0.0) sg = -sg;
        s += log(fabs(d));
    }
    *sign = sg;
    return s;
}

double nbi_lu_det(const nbi_lu *f) {
    if (f->zero >= 0) return 0.0;
    double d = f->sign;
    for (int64_t k = 0; k < f->n; k++) d *= f->a[k * f->n + k];
    return d;
}

nb_status nbi_lu_check(const nbi_lu *f, double *work, const char *fn, const char *what,
                       double *rcond) {
    if (f->zero >= 0) {
        if (rcond) *rcond = 0.0;
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is singular: after partial pivoting, pivot %lld (U[%lld][%lld]) "
                         "is exactly 0, so A x = b has no unique solution",
                         fn, what, (long long)f->zero, (long long)f->zero, (long long)f->zero);
    }
    double rc = nbi_lu_rcond(f, work);
    if (rcond) *rcond = rc;
    if (rc < NB_LINALG_RCOND_MIN)
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is singular to working precision: reciprocal condition "
                         "estimate %.3g is below %.3g (f32 epsilon), so no digit of the result "
                         "would be determined by the data; regularise it (add a multiple of "
                         "the identity) or use least squares",
                         fn, what, rc, NB_LINALG_RCOND_MIN);
    return NB_OK;
}

/* ---- the raw f32 routines ------------------------------------------------------------------ */

/* One allocation: the n×n double copy, the pivots, the estimator's 3n and `extra` doubles. */
typedef struct lu_work {
    nbi_lu f;
    double *est; /* 3n */
    double *extra;
    void *block;
} lu_work;

static nb_status lu_begin(const char *fn, lu_work *w, int64_t n, const float *a, int64_t lda,
                          int64_t extra) {
    size_t nn, bytes, e;
    if (!nbi_mul_size((size_t)n, (size_t)n, &nn) || !nbi_add_size(nn, 4 * (size_t)n, &bytes) ||
        !nbi_add_size(bytes, (size_t)extra, &bytes) || !nbi_mul_size(bytes, sizeof(double), &e))
        return nbi_error(NB_ERR_NOMEM, "%s: a %lldx%lld workspace does not fit in memory", fn,
                         (long long)n, (long long)n);
    w->block = nbi_malloc_for(fn, e ? e : sizeof(double));
    if (!w->block) return NB_ERR_NOMEM;
    double *d = w->block;
    w->f.n = n;
    w->f.a = d;
    w->f.piv = (int64_t *)(d + nn); /* int64_t and double have the same size and alignment */
    w->est = d + nn + n;
    w->extra = d + nn + 4 * n;
    int64_t bad = nbi_mat_load(w->f.a, a, n, n, lda, 1);
    if (bad >= 0) {
        char what[64];
        snprintf(what, sizeof what, "the %lldx%lld matrix", (long long)n, (long long)n);
        nbi_free(w->block);
        return nbi_mat_nonfinite(fn, what, a, bad, n, lda, 1);
    }
    nbi_lu_factor(&w->f);
    return NB_OK;
}

_Static_assert(sizeof(int64_t) == sizeof(double), "pivots share the double workspace");

static void square_what(char *buf, size_t cap, int64_t n) {
    snprintf(buf, cap, "the %lldx%lld matrix", (long long)n, (long long)n);
}

nb_status nb_linalg_lu(int64_t n, float *a, int64_t lda, int64_t *piv, int *sign, double *rcond) {
    const char *fn = "nb_linalg_lu";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s != NB_OK) return s;
    if (n > 0 && !piv) return nbi_error(NB_ERR_ARG, "%s: piv is NULL", fn);
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda, 0)) != NB_OK) return s;
    nbi_mat_store(a, lda, 1, w.f.a, n, n);
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
            return nbi_error(NB_ERR_SINGULAR, "%s: the %lldx%lld matrix is singular: U[%lld][%lld] "
                             "is exactly 0", fn, (long long)n, (long long)n, (long long)k,
                             (long long)k);
    size_t nn, nb, tot;
    if (!nbi_mul_size((size_t)n, (size_t)n, &nn) || !nbi_mul_size((size_t)n, (size_t)nrhs, &nb) ||
        !nbi_add_size(nn, nb, &tot) || !nbi_add_size(tot, (size_t)n, &tot) ||
        !nbi_mul_size(tot, sizeof(double), &tot))
        return nbi_error(NB_ERR_NOMEM, "%s: workspace size overflows", fn);
    double *d = nbi_malloc_for(fn, tot ? tot : sizeof(double));
    if (!d) return NB_ERR_NOMEM;
    nbi_lu f = {.n = n, .a = d, .piv = (int64_t *)(d + nn)};
    double *x = d + nn + n;
    int64_t bad = nbi_mat_load(f.a, lu, n, n, ldlu, 1);
    if (bad < 0) bad = nbi_mat_load(x, b, n, nrhs, ldb, 1);
    if (bad >= 0) {
        nbi_free(d);
        return nbi_error(NB_ERR_ARG, "%s: LU or B holds NaN or infinity", fn);
    }
    for (int64_t k = 0; k < n; k++) f.piv[k] = piv[k];
    nbi_lu_solve(&f, 0, x, nrhs);
    nbi_mat_store(b, ldb, 1, x, n, nrhs);
    nbi_free(d);
    return NB_OK;
}

nb_status nb_linalg_solve(int64_t n, int64_t nrhs, const float *a, int64_t lda, float *b,
                          int64_t ldb) {
    const char *fn = "nb_linalg_solve";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", n, nrhs, b, ldb);
    if (s != NB_OK) return s;
    if (!nbi_mul_size((size_t)n, (size_t)nrhs, &(size_t){0}))
        return nbi_error(NB_ERR_NOMEM, "%s: B's size overflows", fn);
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda, n * nrhs)) != NB_OK) return s;
    char what[64];
    square_what(what, sizeof what, n);
    s = nbi_lu_check(&w.f, w.est, fn, what, NULL);
    if (s == NB_OK) {
        int64_t bad = nbi_mat_load(w.extra, b, n, nrhs, ldb, 1);
        if (bad >= 0) {
            s = nbi_mat_nonfinite(fn, "B", b, bad, nrhs, ldb, 1);
        } else {
            nbi_lu_solve(&w.f, 0, w.extra, nrhs);
            nbi_mat_store(b, ldb, 1, w.extra, n, nrhs);
        }
    }
    nbi_free(w.block);
    return s;
}

nb_status nb_linalg_inv(int64_t n, const float *a, int64_t lda, float *inv, int64_t ldinv) {
    const char *fn = "nb_linalg_inv";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "inv", n, n, inv, ldinv);
    if (s != NB_OK) return s;
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda, n * n)) != NB_OK) return s;
    char what[64];
    square_what(what, sizeof what, n);
    s = nbi_lu_check(&w.f, w.est, fn, what, NULL);
    if (s == NB_OK) { /* A⁻¹ = A⁻¹ I: solve with the identity as n right-hand sides */
        memset(w.extra, 0, sizeof(double) * (size_t)(n * n));
        for (int64_t i = 0; i < n; i++) w.extra[i * n + i] = 1.0;
        nbi_lu_solve(&w.f, 0, w.extra, n);
        nbi_mat_store(inv, ldinv, 1, w.extra, n, n);
    }
    nbi_free(w.block);
    return s;
}

/* Both determinant routines: sign, log|det| and det, with 0 / −∞ for a numerically singular
 * A (see nb_linalg_det in linalg.h). */
static nb_status det_raw(const char *fn, int64_t n, const float *a, int64_t lda, int *sign,
                         double *logabs, double *det) {
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s != NB_OK) return s;
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda, 0)) != NB_OK) return s;
    double rc = nbi_lu_rcond(&w.f, w.est);
    if (rc < (double)n * DBL_EPSILON) {
        *sign = 0;
        *logabs = -INFINITY;
        *det = 0.0;
    } else {
        *logabs = nbi_lu_logabsdet(&w.f, sign);
        *det = nbi_lu_det(&w.f);
    }
    nbi_free(w.block);
    return NB_OK;
}

nb_status nb_linalg_slogdet(int64_t n, const float *a, int64_t lda, int *sign,
                            double *logabsdet) {
    if (!sign || !logabsdet)
        return nbi_error(NB_ERR_ARG, "nb_linalg_slogdet: sign or logabsdet is NULL");
    double det;
    return det_raw("nb_linalg_slogdet", n, a, lda, sign, logabsdet, &det);
}

nb_status nb_linalg_det(int64_t n, const float *a, int64_t lda, double *det) {
    if (!det) return nbi_error(NB_ERR_ARG, "nb_linalg_det: det is NULL");
    int sign;
    double la;
    return det_raw("nb_linalg_det", n, a, lda, &sign, &la, det);
}

nb_status nb_linalg_rcond(int64_t n, const float *a, int64_t lda, double *rcond) {
    const char *fn = "nb_linalg_rcond";
    if (!rcond) return nbi_error(NB_ERR_ARG, "%s: rcond is NULL", fn);
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s != NB_OK) return s;
    lu_work w;
    if ((s = lu_begin(fn, &w, n, a, lda, 0)) != NB_OK) return s;
    *rcond = nbi_lu_rcond(&w.f, w.est);
    nbi_free(w.block);
    return NB_OK;
}
