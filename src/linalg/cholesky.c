/* linalg/cholesky.c — the Cholesky factorisation of a symmetric positive definite matrix.
 *
 *   A = L Lᵀ,   l_jj = sqrt(a_jj − Σ_{k<j} l_jk²),   l_ij = (a_ij − Σ_{k<j} l_ik l_jk) / l_jj
 *
 * The square root's argument is the pivot: it is positive for every j exactly when every
 * leading minor of A is positive definite (Sylvester), so the first j where it is not names
 * the leading (j+1)×(j+1) minor that fails. Half the work of LU and no pivoting needed. */
#include "linalg/linalg.h"

#include <math.h>
#include <stdio.h>

int64_t nbi_chol_factor(double *a, int64_t n, double *pivot) {
    for (int64_t j = 0; j < n; j++) {
        double *rj = a + j * n;
        double d = rj[j];
        for (int64_t k = 0; k < j; k++) d -= rj[k] * rj[k];
        if (!(d > 0.0)) { /* also catches NaN */
            *pivot = d;
            return j + 1;
        }
        double ljj = sqrt(d);
        rj[j] = ljj;
        for (int64_t i = j + 1; i < n; i++) {
            double *ri = a + i * n;
            double s = ri[j];
            for (int64_t k = 0; k < j; k++) s -= ri[k] * rj[k];
            ri[j] = s / ljj;
        }
        for (int64_t k = j + 1; k < n; k++) rj[k] = 0.0;
    }
    return 0;
}

void nbi_chol_solve(const double *l, int64_t n, double *b, int64_t nrhs) {
    /* L y = b */
    for (int64_t i = 0; i < n; i++) {
        double *bi = b + i * nrhs;
        for (int64_t k = 0; k < i; k++) {
            double lik = l[i * n + k];
            const double *bk = b + k * nrhs;
            for (int64_t c = 0; c < nrhs; c++) bi[c] -= lik * bk[c];
        }
        for (int64_t c = 0; c < nrhs; c++) bi[c] /= l[i * n + i];
    }
    /* Lᵀ x = y */
    for (int64_t i = n - 1; i >= 0; i--) {
        double *bi = b + i * nrhs;
        for (int64_t k = i + 1; k < n; k++) {
            double lki = l[k * n + i];
            const double *bk = b + k * nrhs;
            for (int64_t c = 0; c < nrhs; c++) bi[c] -= lki * bk[c];
        }
        for (int64_t c = 0; c < nrhs; c++) bi[c] /= l[i * n + i];
    }
}

typedef struct chol_op {
    const double *l;
    int64_t n;
} chol_op;

static void chol_solve_vec(const void *f, int trans, double *x) {
    (void)trans; /* A = L Lᵀ is symmetric: A⁻ᵀ = A⁻¹ */
    const chol_op *c = f;
    nbi_chol_solve(c->l, c->n, x, 1);
}

static double *work_alloc(const char *fn, int64_t n, int64_t extra) {
    size_t nn, tot;
    if (!nbi_mul_size((size_t)n, (size_t)n, &nn) || !nbi_add_size(nn, (size_t)extra, &tot) ||
        !nbi_mul_size(tot, sizeof(double), &tot)) {
        nbi_error(NB_ERR_NOMEM, "%s: a %lldx%lld workspace does not fit in memory", fn,
                  (long long)n, (long long)n);
        return NULL;
    }
    return nbi_malloc_for(fn, tot ? tot : sizeof(double));
}

nb_status nbi_chol_check_symmetric(const char *fn, const char *what, const double *a, int64_t n) {
    double scale = 0.0;
    for (int64_t i = 0; i < n * n; i++)
        if (fabs(a[i]) > scale) scale = fabs(a[i]);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            double x = a[i * n + j], y = a[j * n + i];
            if (fabs(x - y) > 1e-5 * scale)
                return nbi_error(NB_ERR_ARG,
                                 "%s: %s is not symmetric: A[%lld][%lld] = %.9g but A[%lld][%lld] "
                                 "= %.9g; Cholesky needs a symmetric positive definite matrix "
                                 "(symmetrise it as (A + Aᵀ)/2, or use LU)",
                                 fn, what, (long long)i, (long long)j, x, (long long)j,
                                 (long long)i, y);
        }
    return NB_OK;
}

nb_status nbi_chol_not_spd(const char *fn, const char *what, int64_t k, double pivot) {
    return nbi_error(NB_ERR_SINGULAR,
                     "%s: %s is not positive definite: its leading %lldx%lld minor is not "
                     "(Cholesky pivot %.6g <= 0 at row %lld); a covariance matrix needs full "
                     "rank — add a small multiple of the identity",
                     fn, what, (long long)k, (long long)k, pivot, (long long)(k - 1));
}

nb_status nb_linalg_cholesky(int64_t n, const float *a, int64_t lda, float *l, int64_t ldl) {
    const char *fn = "nb_linalg_cholesky";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "L", n, n, l, ldl);
    if (s != NB_OK) return s;
    double *d = work_alloc(fn, n, 0);
    if (!d) return NB_ERR_NOMEM;
    char what[64];
    snprintf(what, sizeof what, "the %lldx%lld matrix", (long long)n, (long long)n);
    int64_t bad = nbi_mat_load(d, a, n, n, lda, 1);
    if (bad >= 0) {
        s = nbi_mat_nonfinite(fn, what, a, bad, n, lda, 1);
    } else if ((s = nbi_chol_check_symmetric(fn, what, d, n)) == NB_OK) {
        double pivot;
        int64_t k = nbi_chol_factor(d, n, &pivot);
        if (k)
            s = nbi_chol_not_spd(fn, what, k, pivot);
        else
            nbi_mat_store(l, ldl, 1, d, n, n);
    }
    nbi_free(d);
    return s;
}

double nbi_chol_rcond(const double *l, int64_t n, double *work) {
    if (n == 0) return 1.0;
    for (int64_t i = 0; i < n; i++)
        if (l[i * n + i] == 0.0) return 0.0;
    /* ‖A‖₁ for A = L Lᵀ: column j of A is L (row j of L)ᵀ */
    double anorm = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double col = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            int64_t m = i < j ? i : j;
            for (int64_t k = 0; k <= m; k++) s += l[i * n + k] * l[j * n + k];
            col += fabs(s);
        }
        if (col > anorm) anorm = col;
    }
    chol_op c = {l, n};
    double inv = nbi_inv_norm1_est(n, chol_solve_vec, &c, work);
    if (!(inv > 0.0) || isinf(inv) || anorm == 0.0) return 0.0;
    return 1.0 / (anorm * inv);
}

nb_status nbi_chol_check_solvable(const char *fn, const char *what, const double *l, int64_t n,
                                  double *work) {
    for (int64_t i = 0; i < n; i++)
        if (l[i * n + i] == 0.0)
            return nbi_error(NB_ERR_SINGULAR, "%s: %s is singular: L[%lld][%lld] is 0", fn, what,
                             (long long)i, (long long)i);
    double rc = nbi_chol_rcond(l, n, work);
    if (rc < NB_LINALG_RCOND_MIN)
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: L Lᵀ for %s is singular to working precision: reciprocal "
                         "condition estimate %.3g is below %.3g (f32 epsilon)",
                         fn, what, rc, NB_LINALG_RCOND_MIN);
    return NB_OK;
}

nb_status nb_linalg_cholesky_solve(int64_t n, int64_t nrhs, const float *l, int64_t ldl,
                                   float *b, int64_t ldb) {
    const char *fn = "nb_linalg_cholesky_solve";
    nb_status s = nbi_check_mat(fn, "L", n, n, l, ldl);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", n, nrhs, b, ldb);
    if (s != NB_OK) return s;
    size_t nb;
    if (!nbi_mul_size((size_t)n, (size_t)nrhs, &nb) || nb > (size_t)INT64_MAX / 2)
        return nbi_error(NB_ERR_NOMEM, "%s: B's size overflows", fn);
    double *d = work_alloc(fn, n, (int64_t)nb + 3 * n);
    if (!d) return NB_ERR_NOMEM;
    double *x = d + n * n, *est = x + nb;
    char what[64];
    snprintf(what, sizeof what, "the %lldx%lld factor", (long long)n, (long long)n);
    int64_t bad = nbi_mat_load(d, l, n, n, ldl, 1);
    if (bad >= 0) {
        s = nbi_mat_nonfinite(fn, what, l, bad, n, ldl, 1);
    } else if ((bad = nbi_mat_load(x, b, n, nrhs, ldb, 1)) >= 0) {
        s = nbi_mat_nonfinite(fn, "B", b, bad, nrhs, ldb, 1);
    } else {
        for (int64_t i = 0; i < n; i++) /* only the lower triangle is L */
            for (int64_t j = i + 1; j < n; j++) d[i * n + j] = 0.0;
        s = nbi_chol_check_solvable(fn, what, d, n, est);
        if (s == NB_OK) {
            nbi_chol_solve(d, n, x, nrhs);
            nbi_mat_store(b, ldb, 1, x, n, nrhs);
        }
    }
    nbi_free(d);
    return s;
}
