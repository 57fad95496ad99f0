/* linalg/qr.c — QR by Householder reflections, and least squares with it.
 *
 *   H = I − τ v vᵀ, τ = 2 / vᵀv       a reflection; H x = α e₁ for v = x − α e₁, |α| = ‖x‖,
 *                                     α = −sign(x₁) ‖x‖ so that x₁ − α never cancels
 *   H_{k−1} ⋯ H₁ H₀ A = R            so A = Q R with Q = H₀ H₁ ⋯ H_{k−1} (orthogonal)
 *
 * Least squares, m ≥ n: ‖A x − b‖ = ‖Qᵀ(A x − b)‖ = ‖R x − Qᵀ b‖ (top n rows) + const, so
 * x = R⁻¹ (Qᵀ b)[0:n] — without ever forming AᵀA, whose condition number is κ(A)².
 * Minimum norm, m < n: QR of Aᵀ gives A = Rᵀ Qᵀ; the smallest x with A x = b lies in the
 * range of Q: x = Q y with Rᵀ y = b. */
#include "linalg/linalg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void nbi_qr_factor(double *a, int64_t m, int64_t n, double *v, double *tau) {
    int64_t k = m < n ? m : n;
    memset(v, 0, sizeof(double) * (size_t)(m * k));
    for (int64_t j = 0; j < k; j++) {
        double below = 0.0; /* Σ_{i>j} a_ij² */
        for (int64_t i = j + 1; i < m; i++) below += a[i * n + j] * a[i * n + j];
        if (below == 0.0) { /* already upper triangular in this column: H_j = I */
            tau[j] = 0.0;
            continue;
        }
        double x0 = a[j * n + j];
        double norm = sqrt(x0 * x0 + below);
        double alpha = x0 >= 0.0 ? -norm : norm;
        double v0 = x0 - alpha;
        v[j * k + j] = v0;
        for (int64_t i = j + 1; i < m; i++) v[i * k + j] = a[i * n + j];
        double t = 2.0 / (v0 * v0 + below);
        tau[j] = t;
        /* columns j+1.. : a_c ← a_c − τ v (vᵀ a_c); column j becomes α e_j */
        for (int64_t c = j + 1; c < n; c++) {
            double s = 0.0;
            for (int64_t i = j; i < m; i++) s += v[i * k + j] * a[i * n + c];
            s *= t;
            for (int64_t i = j; i < m; i++) a[i * n + c] -= s * v[i * k + j];
        }
        a[j * n + j] = alpha;
        for (int64_t i = j + 1; i < m; i++) a[i * n + j] = 0.0;
    }
}

void nbi_qr_apply(const double *v, const double *tau, int64_t m, int64_t k, int trans, double *x,
                  int64_t nrhs) {
    for (int64_t s = 0; s < k; s++) {
        int64_t j = trans ? s : k - 1 - s; /* Qᵀ = H_{k−1} ⋯ H₀ applies H₀ first */
        if (tau[j] == 0.0) continue;
        for (int64_t c = 0; c < nrhs; c++) {
            double d = 0.0;
            for (int64_t i = j; i < m; i++) d += v[i * k + j] * x[i * nrhs + c];
            d *= tau[j];
            for (int64_t i = j; i < m; i++) x[i * nrhs + c] -= d * v[i * k + j];
        }
    }
}

size_t nbi_qr_work(int64_t m, int64_t n) {
    int64_t k = m < n ? m : n;
    return (size_t)(m * k + k);
}

void nbi_qr_explicit(double *a, int64_t m, int64_t n, double *q, double *r, double *work) {
    int64_t k = m < n ? m : n;
    double *v = work, *tau = work + m * k;
    nbi_qr_factor(a, m, n, v, tau);
    /* Q = Q I[:, 0:k] */
    memset(q, 0, sizeof(double) * (size_t)(m * k));
    for (int64_t i = 0; i < k; i++) q[i * k + i] = 1.0;
    nbi_qr_apply(v, tau, m, k, 0, q, k);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++) r[i * n + j] = j < i ? 0.0 : a[i * n + j];
    /* Q R = (Q D)(D R) for D = diag(±1): make R's diagonal non-negative */
    for (int64_t i = 0; i < k; i++) {
        if (!(r[i * n + i] < 0.0)) continue;
        for (int64_t j = i; j < n; j++) r[i * n + j] = -r[i * n + j];
        for (int64_t row = 0; row < m; row++) q[row * k + i] = -q[row * k + i];
    }
}

/* R⁻¹ and R⁻ᵀ applied to one vector, for the condition estimate of the k×k block. */
typedef struct tri_op {
    const double *r;
    int64_t ld, k;
} tri_op;

static void tri_solve_vec(const void *f, int trans, double *x) {
    const tri_op *t = f;
    nbi_tri_upper_solve(t->r, t->ld, t->k, trans, x, 1);
}

size_t nbi_lstsq_work(int64_t m, int64_t n) {
    int64_t k = m < n ? m : n, big = m > n ? m : n;
    return (size_t)(m * n + big * k + k + 3 * k);
}

nb_status nbi_lstsq_d(const char *fn, const char *what, const double *a, int64_t m, int64_t n,
                      double *x, int64_t nrhs, double *work) {
    int64_t k = m < n ? m : n, big = m > n ? m : n;
    double *f = work, *v = f + m * n, *tau = v + big * k, *est = tau + k;
    if (k == 0) { /* an empty A: X = 0 */
        memset(x, 0, sizeof(double) * (size_t)(n * nrhs));
        return NB_OK;
    }
    int64_t fm = m, fn_ = n; /* the factored matrix: A (m ≥ n) or Aᵀ (m < n) */
    if (m >= n) {
        memcpy(f, a, sizeof(double) * (size_t)(m * n));
    } else {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) f[j * m + i] = a[i * n + j];
        fm = n;
        fn_ = m;
    }
    nbi_qr_factor(f, fm, fn_, v, tau);
    /* R is the top k×k block of f (leading dimension fn_ = k) */
    for (int64_t i = 0; i < k; i++)
        if (f[i * fn_ + i] == 0.0)
            return nbi_error(NB_ERR_SINGULAR,
                             "%s: %s does not have full rank %lld: R[%lld][%lld] = 0 in its QR, "
                             "so %s %lld depends linearly on the ones before it",
                             fn, what, (long long)k, (long long)i, (long long)i,
                             m >= n ? "column" : "row", (long long)i);
    tri_op t = {f, fn_, k};
    double rnorm = 0.0;
    for (int64_t j = 0; j < k; j++) {
        double s = 0.0;
        for (int64_t i = 0; i <= j; i++) s += fabs(f[i * fn_ + j]);
        if (s > rnorm) rnorm = s;
    }
    double inv = nbi_inv_norm1_est(k, tri_solve_vec, &t, est);
    double rc = (inv > 0.0 && !isinf(inv) && rnorm > 0.0) ? 1.0 / (rnorm * inv) : 0.0;
    if (rc < NB_LINALG_RCOND_MIN)
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is rank-deficient to working precision: R from its QR has "
                         "reciprocal condition estimate %.3g, below %.3g (f32 epsilon); drop "
                         "dependent %s or regularise (ridge: add λI to AᵀA)",
                         fn, what, rc, NB_LINALG_RCOND_MIN, m >= n ? "columns" : "rows");
    if (m >= n) {
        nbi_qr_apply(v, tau, m, k, 1, x, nrhs);      /* Qᵀ b */
        nbi_tri_upper_solve(f, fn_, k, 0, x, nrhs); /* R x = (Qᵀ b)[0:n] */
    } else {
        nbi_tri_upper_solve(f, fn_, k, 1, x, nrhs); /* Rᵀ y = b */
        memset(x + m * nrhs, 0, sizeof(double) * (size_t)((n - m) * nrhs));
        nbi_qr_apply(v, tau, n, k, 0, x, nrhs);      /* x = Q [y; 0] */
    }
    return NB_OK;
}

/* ---- raw f32 routines --------------------------------------------------------------------- */

static double *work_alloc(const char *fn, size_t count) {
    size_t bytes;
    if (!nbi_mul_size(count ? count : 1, sizeof(double), &bytes)) {
        nbi_error(NB_ERR_NOMEM, "%s: the workspace size overflows", fn);
        return NULL;
    }
    return nbi_malloc_for(fn, bytes);
}

/* m·n and friends fit comfortably when every factor is below 2^31. */
static nb_status check_dims(const char *fn, int64_t m, int64_t n, int64_t nrhs) {
    if (m > INT32_MAX || n > INT32_MAX || nrhs > INT32_MAX)
        return nbi_error(NB_ERR_ARG, "%s: sizes %lld, %lld, %lld are too large", fn,
                         (long long)m, (long long)n, (long long)nrhs);
    return NB_OK;
}

nb_status nb_linalg_qr(int64_t m, int64_t n, const float *a, int64_t lda, float *q, int64_t ldq,
                       float *r, int64_t ldr) {
    const char *fn = "nb_linalg_qr";
    int64_t k = m < n ? m : n;
    nb_status s = nbi_check_mat(fn, "A", m, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "Q", m, k, q, ldq);
    if (s == NB_OK) s = nbi_check_mat(fn, "R", k, n, r, ldr);
    if (s == NB_OK) s = check_dims(fn, m, n, 0);
    if (s != NB_OK) return s;
    double *d = work_alloc(fn, (size_t)(m * n + m * k + k * n) + nbi_qr_work(m, n));
    if (!d) return NB_ERR_NOMEM;
    double *qd = d + m * n, *rd = qd + m * k, *w = rd + k * n;
    int64_t bad = nbi_mat_load(d, a, m, n, lda, 1);
    if (bad >= 0) {
        char what[64];
        snprintf(what, sizeof what, "the %lldx%lld matrix", (long long)m, (long long)n);
        s = nbi_mat_nonfinite(fn, what, a, bad, n, lda, 1);
    } else {
        nbi_qr_explicit(d, m, n, qd, rd, w);
        nbi_mat_store(q, ldq, 1, qd, m, k);
        nbi_mat_store(r, ldr, 1, rd, k, n);
    }
    nbi_free(d);
    return s;
}

nb_status nb_linalg_lstsq(int64_t m, int64_t n, int64_t nrhs, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float *x, int64_t ldx) {
    const char *fn = "nb_linalg_lstsq";
    nb_status s = nbi_check_mat(fn, "A", m, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", m, nrhs, b, ldb);
    if (s == NB_OK) s = nbi_check_mat(fn, "X", n, nrhs, x, ldx);
    if (s == NB_OK) s = check_dims(fn, m, n, nrhs);
    if (s != NB_OK) return s;
    int64_t big = m > n ? m : n;
    double *d = work_alloc(fn, (size_t)(m * n + big * nrhs) + nbi_lstsq_work(m, n));
    if (!d) return NB_ERR_NOMEM;
    double *xd = d + m * n, *w = xd + big * nrhs;
    char what[64];
    snprintf(what, sizeof what, "the %lldx%lld matrix", (long long)m, (long long)n);
    int64_t bad = nbi_mat_load(d, a, m, n, lda, 1);
    if (bad >= 0) {
        s = nbi_mat_nonfinite(fn, what, a, bad, n, lda, 1);
    } else if ((bad = nbi_mat_load(xd, b, m, nrhs, ldb, 1)) >= 0) {
        s = nbi_mat_nonfinite(fn, "B", b, bad, nrhs, ldb, 1);
    } else if ((s = nbi_lstsq_d(fn, what, d, m, n, xd, nrhs, w)) == NB_OK) {
        nbi_mat_store(x, ldx, 1, xd, n, nrhs);
    }
    nbi_free(d);
    return s;
}
