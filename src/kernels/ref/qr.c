/* kernels/ref/qr.c — QR by Householder reflections, and least squares with it, on the double
 * working copy; the per-matrix kernels nbi_ref_la_qr and nbi_ref_la_lstsq.
 *
 *   H = I − τ v vᵀ, τ = 2 / vᵀv       a reflection; H x = α e₁ for v = x − α e₁, |α| = ‖x‖,
 *                                     α = −sign(x₁) ‖x‖ so that x₁ − α never cancels
 *   H_{k−1} ⋯ H₁ H₀ A = R            so A = Q R with Q = H₀ H₁ ⋯ H_{k−1} (orthogonal)
 *
 * Least squares, m ≥ n: ‖A x − b‖ = ‖Qᵀ(A x − b)‖ = ‖R x − Qᵀ b‖ (top n rows) + const, so
 * x = R⁻¹ (Qᵀ b)[0:n] — without ever forming AᵀA, whose condition number is κ(A)².
 * Minimum norm, m < n: QR of Aᵀ gives A = Rᵀ Qᵀ; the smallest x with A x = b lies in the
 * range of Q: x = Q y with Rᵀ y = b. */
#include "kernels/linalg.h"

#include <math.h>
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

/* R⁻¹ and R⁻ᵀ applied to one vector, for the condition estimate of the k×k block. */
typedef struct tri_op {
    const double *r;
    int64_t ld, k;
} tri_op;

static void tri_solve_vec(const void *f, int trans, double *x) {
    const tri_op *t = f;
    nbi_tri_upper_solve(t->r, t->ld, t->k, trans, x, 1);
}

/* Q (m×k) and R (k×n) of a (m×n, destroyed), signs fixed so that diag R ≥ 0. work: m·k + k. */
static void qr_explicit(double *a, int64_t m, int64_t n, double *q, double *r, double *work) {
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

/* Least squares / minimum norm for a (m×n, kept): x holds max(m, n) rows of nrhs, B in its
 * first m rows on entry, X in its first n rows on return. work: m·n + max(m, n)·k + 4k. */
static nbi_la_res lstsq_d(const double *a, int64_t m, int64_t n, double *x, int64_t nrhs,
                          double *work) {
    nbi_la_res res = {0};
    int64_t k = m < n ? m : n, big = m > n ? m : n;
    double *f = work, *v = f + m * n, *tau = v + big * k, *est = tau + k;
    if (k == 0) { /* an empty A: X = 0 */
        memset(x, 0, sizeof(double) * (size_t)(n * nrhs));
        return res;
    }
    int64_t fm = m, fn = n; /* the factored matrix: A (m ≥ n) or Aᵀ (m < n) */
    if (m >= n) {
        memcpy(f, a, sizeof(double) * (size_t)(m * n));
    } else {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) f[j * m + i] = a[i * n + j];
        fm = n;
        fn = m;
    }
    nbi_qr_factor(f, fm, fn, v, tau);
    res.wide = m < n;
    res.j = k;
    /* R is the top k×k block of f (leading dimension fn = k) */
    for (int64_t i = 0; i < k; i++)
        if (f[i * fn + i] == 0.0) {
            res.code = NBI_LA_RANK;
            res.i = i;
            return res;
        }
    tri_op t = {f, fn, k};
    double rnorm = 0.0;
    for (int64_t j = 0; j < k; j++) {
        double s = 0.0;
        for (int64_t i = 0; i <= j; i++) s += fabs(f[i * fn + j]);
        if (s > rnorm) rnorm = s;
    }
    double inv = nbi_inv_norm1_est(k, tri_solve_vec, &t, est);
    double rc = (inv > 0.0 && !isinf(inv) && rnorm > 0.0) ? 1.0 / (rnorm * inv) : 0.0;
    if (rc < NB_LINALG_RCOND_MIN) {
        res.code = NBI_LA_RANK_ILL;
        res.v = rc;
        return res;
    }
    if (m >= n) {
        nbi_qr_apply(v, tau, m, k, 1, x, nrhs);    /* Qᵀ b */
        nbi_tri_upper_solve(f, fn, k, 0, x, nrhs); /* R x = (Qᵀ b)[0:n] */
    } else {
        nbi_tri_upper_solve(f, fn, k, 1, x, nrhs); /* Rᵀ y = b */
        memset(x + m * nrhs, 0, sizeof(double) * (size_t)((n - m) * nrhs));
        nbi_qr_apply(v, tau, n, k, 0, x, nrhs); /* x = Q [y; 0] */
    }
    return res;
}

/* ---- the per-matrix kernels ------------------------------------------------------------------ */

/* w: m·n + m·k + k·n + m·k + k doubles (nbi_la_work_qr) */
nbi_la_res nbi_ref_la_qr(int64_t m, int64_t n, const float *a, int64_t rs, int64_t cs, double *w,
                         float *q, int64_t ldq, float *r, int64_t ldr) {
    int64_t k = m < n ? m : n;
    double *qd = w + m * n, *rd = qd + m * k, *work = rd + k * n;
    int64_t bad = nbi_mat_load(w, a, m, n, rs, cs);
    if (bad >= 0) return nbi_la_nonfinite(0, bad, n, a, rs, cs);
    qr_explicit(w, m, n, qd, rd, work);
    nbi_mat_store(q, ldq, qd, m, k);
    nbi_mat_store(r, ldr, rd, k, n);
    return (nbi_la_res){0};
}

/* w: m·n + max(m, n)·nrhs + the least-squares work (nbi_la_work_lstsq) */
nbi_la_res nbi_ref_la_lstsq(int64_t m, int64_t n, int64_t nrhs, const float *a, int64_t rs,
                            int64_t cs, const float *b, int64_t brs, int64_t bcs, double *w,
                            float *x, int64_t ldx) {
    int64_t big = m > n ? m : n;
    double *xd = w + m * n, *work = xd + big * nrhs;
    int64_t bad = nbi_mat_load(w, a, m, n, rs, cs);
    if (bad >= 0) return nbi_la_nonfinite(0, bad, n, a, rs, cs);
    if ((bad = nbi_mat_load(xd, b, m, nrhs, brs, bcs)) >= 0)
        return nbi_la_nonfinite(1, bad, nrhs, b, brs, bcs);
    nbi_la_res res = lstsq_d(w, m, n, xd, nrhs, work);
    if (res.code == NBI_LA_OK) nbi_mat_store(x, ldx, xd, n, nrhs);
    return res;
}
