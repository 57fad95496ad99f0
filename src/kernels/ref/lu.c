/* kernels/ref/lu.c — LU factorisation with partial pivoting and what it gives: solving
 * A X = B, the determinant, the condition estimate, on the double working copy.
 *
 *   P A = L U        Gaussian elimination; at step k the row with the largest |a_ik| (i ≥ k)
 *                    is swapped up, so every multiplier |l_ik| ≤ 1 (backward stable in
 *                    practice)
 *   A x = b          x = U⁻¹ L⁻¹ P b            (forward, then back substitution)
 *   Aᵀ x = b         x = Pᵀ L⁻ᵀ U⁻ᵀ b
 *   det A            det P · Π U_kk
 */
#include "kernels/linalg.h"

#include <float.h>
#include <math.h>
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

void nbi_lu_dets(const nbi_lu *f, double *work, double *det, double *logabsdet, int *sign,
                 double *rcond) {
    double rc = nbi_lu_rcond(f, work);
    if (rcond) *rcond = rc;
    int sg = 0;
    double la = -INFINITY, d = 0.0;
    if (rc >= (double)f->n * DBL_EPSILON) {
        la = nbi_lu_logabsdet(f, &sg);
        d = nbi_lu_det(f);
    }
    if (det) *det = d;
    if (logabsdet) *logabsdet = la;
    if (sign) *sign = sg;
}

nbi_la_res nbi_lu_check(const nbi_lu *f, double *work) {
    nbi_la_res r = {0};
    if (f->zero >= 0) {
        r.code = NBI_LA_ZERO_PIVOT;
        r.i = f->zero;
        return r;
    }
    double rc = nbi_lu_rcond(f, work);
    if (rc < NB_LINALG_RCOND_MIN) {
        r.code = NBI_LA_ILL;
        r.v = rc;
    }
    return r;
}

/* ---- the per-matrix kernels ------------------------------------------------------------------
 * The LU state in a workspace: 3 doubles for sign, the first zero pivot and ‖A‖₁ (so that a
 * later call with fresh = 0 finds the whole factorisation), the n×n factors, n pivots, and 3n
 * doubles for the condition estimator: nbi_la_work_lu(n). What a kernel needs besides comes
 * after it. */
enum { LU_HDR = 3 };

/* Points f into w; returns the estimator's 3n doubles. */
static double *lu_state(double *w, int64_t n, nbi_lu *f) {
    f->n = n;
    f->a = w + LU_HDR;
    f->piv = (int64_t *)(w + LU_HDR + n * n); /* int64_t and double: same size, alignment */
    return w + LU_HDR + n * n + n;
}

_Static_assert(sizeof(int64_t) == sizeof(double), "pivots share the double workspace");

/* Loads A and factors it into w (fresh), or takes the factors the previous call left there. */
static nbi_la_res lu_prepare(int64_t n, const float *a, int64_t rs, int64_t cs, int fresh,
                             double *w, nbi_lu *f, double **est) {
    *est = lu_state(w, n, f);
    if (!fresh) {
        f->sign = (int)w[0];
        f->zero = (int64_t)w[1];
        f->anorm = w[2];
        return (nbi_la_res){0};
    }
    int64_t bad = nbi_mat_load(f->a, a, n, n, rs, cs);
    if (bad >= 0) return nbi_la_nonfinite(0, bad, n, a, rs, cs);
    nbi_lu_factor(f);
    w[0] = f->sign;
    w[1] = (double)f->zero;
    w[2] = f->anorm;
    return (nbi_la_res){0};
}

/* The doubles after the LU state. */
static double *lu_extra(double *w, int64_t n) {
    return w + LU_HDR + n * n + 4 * n;
}

/* x ← I (n×n) */
static void identity(double *x, int64_t n) {
    memset(x, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++) x[i * n + i] = 1.0;
}

nbi_la_res nbi_ref_la_inverse(int64_t n, const float *a, int64_t rs, int64_t cs, double *w,
                              float *y, int64_t ldy) {
    nbi_lu f;
    double *est;
    nbi_la_res r = lu_prepare(n, a, rs, cs, 1, w, &f, &est);
    if (r.code == NBI_LA_OK) r = nbi_lu_check(&f, est);
    if (r.code != NBI_LA_OK) return r;
    double *x = lu_extra(w, n);
    identity(x, n);
    nbi_lu_solve(&f, 0, x, n); /* A⁻¹ = A⁻¹ I */
    nbi_mat_store(y, ldy, x, n, n);
    return r;
}

/* dA −= Yᵀ (dY Yᵀ), in double: from d(A A⁻¹) = 0, dA = −A⁻ᵀ dY A⁻ᵀ */
void nbi_ref_la_inverse_bwd(int64_t n, const float *y, const float *gy, double *w, float *ga) {
    double *t = w;
    for (int64_t i = 0; i < n; i++) /* t = dY Yᵀ */
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t l = 0; l < n; l++) s += (double)gy[i * n + l] * y[j * n + l];
            t[i * n + j] = s;
        }
    for (int64_t i = 0; i < n; i++) /* dA −= Yᵀ t */
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t l = 0; l < n; l++) s += (double)y[l * n + i] * t[l * n + j];
            ga[i * n + j] -= (float)s;
        }
}

nbi_la_res nbi_ref_la_solve(int64_t n, int64_t nrhs, const float *a, int64_t rs, int64_t cs,
                            int fresh, const float *b, int64_t brs, int64_t bcs, double *w,
                            float *x, int64_t ldx) {
    nbi_lu f;
    double *est;
    nbi_la_res r = lu_prepare(n, a, rs, cs, fresh, w, &f, &est);
    if (r.code == NBI_LA_OK) r = nbi_lu_check(&f, est);
    if (r.code != NBI_LA_OK) return r;
    double *t = lu_extra(w, n);
    int64_t bad = nbi_mat_load(t, b, n, nrhs, brs, bcs);
    if (bad >= 0) return nbi_la_nonfinite(1, bad, nrhs, b, brs, bcs);
    nbi_lu_solve(&f, 0, t, nrhs);
    nbi_mat_store(x, ldx, t, n, nrhs);
    return r;
}

/* X = A⁻¹ B:  dB = A⁻ᵀ dX,  dA = −dB Xᵀ   (from dX = A⁻¹ (dB − dA X)) */
nbi_la_res nbi_ref_la_solve_bwd(int64_t n, int64_t nrhs, const float *a, int64_t rs, int64_t cs,
                                int fresh, const float *x, const float *gx, double *w, float *gb,
                                float *ga) {
    nbi_lu f;
    double *est;
    nbi_la_res r = lu_prepare(n, a, rs, cs, fresh, w, &f, &est);
    if (r.code == NBI_LA_OK) r = nbi_lu_check(&f, est);
    if (r.code != NBI_LA_OK) return r;
    double *t = lu_extra(w, n);
    for (int64_t i = 0; i < n * nrhs; i++) t[i] = gx[i];
    nbi_lu_solve(&f, 1, t, nrhs); /* t = A⁻ᵀ dX = dB */
    if (gb)
        for (int64_t i = 0; i < n * nrhs; i++) gb[i] += (float)t[i];
    if (ga)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0.0;
                for (int64_t c = 0; c < nrhs; c++) acc += t[i * nrhs + c] * x[j * nrhs + c];
                ga[i * n + j] -= (float)acc;
            }
    return r;
}

nbi_la_res nbi_ref_la_det(int64_t n, const float *a, int64_t rs, int64_t cs, int fresh, double *w,
                          float *det, float *logabsdet, float *sign, float *rcond) {
    nbi_lu f;
    double *est;
    nbi_la_res r = lu_prepare(n, a, rs, cs, fresh, w, &f, &est);
    if (r.code != NBI_LA_OK) return r;
    double d, la, rc;
    int sg;
    nbi_lu_dets(&f, est, &d, &la, &sg, &rc);
    if (det) *det = (float)d;
    if (logabsdet) *logabsdet = (float)la;
    if (sign) *sign = (float)sg;
    if (rcond) *rcond = (float)rc;
    return r;
}

/* det:    dA += g · det A · A⁻ᵀ   (Jacobi's formula: the adjugate, fine while A is not
 *                                  numerically singular)
 * logdet: dA += g · A⁻ᵀ          (an inverse: needs A well-conditioned, as the inverse) */
nbi_la_res nbi_ref_la_det_bwd(int64_t n, const float *a, int64_t rs, int64_t cs, int fresh,
                              int log_form, const float *g, double *w, float *ga) {
    nbi_lu f;
    double *est;
    nbi_la_res r = lu_prepare(n, a, rs, cs, fresh, w, &f, &est);
    if (r.code != NBI_LA_OK) return r;
    if (log_form) {
        if ((r = nbi_lu_check(&f, est)).code != NBI_LA_OK) return r;
    } else {
        double rc = nbi_lu_rcond(&f, est);
        if (rc < (double)n * DBL_EPSILON) {
            r.code = NBI_LA_SINGULAR;
            r.v = rc;
            return r;
        }
    }
    double *t = lu_extra(w, n);
    identity(t, n);
    nbi_lu_solve(&f, 1, t, n); /* t = A⁻ᵀ */
    double scale = *g;
    if (!log_form) scale *= nbi_lu_det(&f);
    for (int64_t i = 0; i < n * n; i++) ga[i] += (float)(scale * t[i]);
    return r;
}

nbi_la_res nbi_ref_la_lu(int64_t n, const float *a, int64_t rs, int64_t cs, double *w, float *lu,
                         int64_t ld, int32_t *piv) {
    nbi_lu f;
    double *est;
    nbi_la_res r = lu_prepare(n, a, rs, cs, 1, w, &f, &est);
    if (r.code != NBI_LA_OK) return r;
    nbi_mat_store(lu, ld, f.a, n, n);
    for (int64_t i = 0; i < n; i++) piv[i] = (int32_t)f.piv[i];
    return r;
}
