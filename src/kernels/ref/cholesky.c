/* kernels/ref/cholesky.c — the Cholesky factorisation of a symmetric positive definite matrix,
 * on the double working copy.
 *
 *   A = L Lᵀ,   l_jj = sqrt(a_jj − Σ_{k<j} l_jk²),   l_ij = (a_ij − Σ_{k<j} l_ik l_jk) / l_jj
 *
 * The square root's argument is the pivot: it is positive for every j exactly when every
 * leading minor of A is positive definite (Sylvester), so the first j where it is not names
 * the leading (j+1)×(j+1) minor that fails. Half the work of LU and no pivoting needed. */
#include "kernels/linalg.h"

#include <math.h>

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

/* ---- the per-matrix kernels ------------------------------------------------------------------ */

/* NOT_SYMMETRIC at the first pair with |a_ij − a_ji| > 1e-5 max|a| (i > j), else OK. */
static nbi_la_res check_symmetric(const double *a, int64_t n) {
    nbi_la_res r = {0};
    double scale = 0.0;
    for (int64_t i = 0; i < n * n; i++)
        if (fabs(a[i]) > scale) scale = fabs(a[i]);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            double x = a[i * n + j], y = a[j * n + i];
            if (fabs(x - y) > 1e-5 * scale) {
                r.code = NBI_LA_NOT_SYMMETRIC;
                r.i = i;
                r.j = j;
                r.v = x;
                r.w = y;
                return r;
            }
        }
    return r;
}

/* w: n² doubles (nbi_la_work_cholesky) */
nbi_la_res nbi_ref_la_cholesky(int64_t n, const float *a, int64_t rs, int64_t cs, double *w,
                               float *l, int64_t ldl) {
    int64_t bad = nbi_mat_load(w, a, n, n, rs, cs);
    if (bad >= 0) return nbi_la_nonfinite(0, bad, n, a, rs, cs);
    nbi_la_res r = check_symmetric(w, n);
    if (r.code != NBI_LA_OK) return r;
    double pivot;
    int64_t k = nbi_chol_factor(w, n, &pivot);
    if (k) {
        r.code = NBI_LA_NOT_SPD;
        r.i = k;
        r.v = pivot;
        return r;
    }
    nbi_mat_store(l, ldl, w, n, n);
    return r;
}

/* w: n² + n·nrhs + 3n doubles (nbi_la_work_cholesky_solve) */
nbi_la_res nbi_ref_la_cholesky_solve(int64_t n, int64_t nrhs, const float *l, int64_t rs,
                                     int64_t cs, const float *b, int64_t brs, int64_t bcs,
                                     double *w, float *x, int64_t ldx) {
    double *xd = w + n * n, *est = xd + n * nrhs;
    int64_t bad = nbi_mat_load(w, l, n, n, rs, cs);
    if (bad >= 0) return nbi_la_nonfinite(0, bad, n, l, rs, cs);
    if ((bad = nbi_mat_load(xd, b, n, nrhs, brs, bcs)) >= 0)
        return nbi_la_nonfinite(1, bad, nrhs, b, brs, bcs);
    for (int64_t i = 0; i < n; i++) /* only the lower triangle is L */
        for (int64_t j = i + 1; j < n; j++) w[i * n + j] = 0.0;
    nbi_la_res r = {0};
    for (int64_t i = 0; i < n; i++)
        if (w[i * n + i] == 0.0) {
            r.code = NBI_LA_CHOL_ZERO;
            r.i = i;
            return r;
        }
    double rc = nbi_chol_rcond(w, n, est);
    if (rc < NB_LINALG_RCOND_MIN) {
        r.code = NBI_LA_CHOL_ILL;
        r.v = rc;
        return r;
    }
    nbi_chol_solve(w, n, xd, nrhs);
    nbi_mat_store(x, ldx, xd, n, nrhs);
    return r;
}
