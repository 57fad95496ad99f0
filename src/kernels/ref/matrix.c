/* kernels/ref/matrix.c — what every factorisation of kernels/linalg.h shares: copying f32
 * matrices (any strides) into the double working copy and back, the 1-norm, the condition
 * estimator, and triangular solves with an upper-triangular R. */
#include "kernels/linalg.h"

#include <math.h>

int64_t nbi_mat_load(double *dst, const float *src, int64_t rows, int64_t cols, int64_t rs,
                     int64_t cs) {
    int64_t bad = -1;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            float v = src[i * rs + j * cs];
            if (bad < 0 && !isfinite(v)) bad = i * cols + j;
            dst[i * cols + j] = v;
        }
    return bad;
}

void nbi_mat_store(float *dst, int64_t ld, const double *src, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[i * ld + j] = (float)src[i * cols + j];
}

nbi_la_res nbi_la_nonfinite(int arg, int64_t bad, int64_t cols, const float *src, int64_t rs,
                            int64_t cs) {
    nbi_la_res r = {.code = NBI_LA_NONFINITE, .arg = arg, .i = bad / cols, .j = bad % cols};
    r.v = src[r.i * rs + r.j * cs];
    return r;
}

double nbi_norm1(const double *a, int64_t rows, int64_t cols) {
    double best = 0.0;
    for (int64_t j = 0; j < cols; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < rows; i++) s += fabs(a[i * cols + j]);
        if (s > best) best = s;
    }
    return best;
}

static double norm1_vec(const double *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs(x[i]);
    return s;
}

/* Hager's estimator: ‖A⁻¹‖₁ = max over ‖x‖₁ ≤ 1 of ‖A⁻¹x‖₁, a convex function whose maximum
 * sits at a vertex e_j. From x, y = A⁻¹x, ξ = sign(y), z = A⁻ᵀξ is a subgradient; if no
 * vertex improves on x (‖z‖∞ ≤ zᵀx) x is a local maximum, else jump to e_argmax|z|. Higham's
 * safeguard adds the alternating vector b_i = (−1)^i (1 + i/(n−1)), which catches the
 * matrices that fool the gradient steps; the answer is the larger of the two. */
double nbi_inv_norm1_est(int64_t n, nbi_solve_fn solve, const void *f, double *work) {
    double *x = work, *y = work + n, *z = work + 2 * n;
    if (n == 0) return 0.0;
    if (n == 1) {
        y[0] = 1.0;
        solve(f, 0, y);
        return fabs(y[0]);
    }
    for (int64_t i = 0; i < n; i++) x[i] = 1.0 / (double)n;
    double est = 0.0;
    for (int iter = 0; iter < 5; iter++) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i];
        solve(f, 0, y);
        double e = norm1_vec(y, n);
        if (iter > 0 && e <= est) break; /* no progress: the previous vertex was the best */
        est = e;
        for (int64_t i = 0; i < n; i++) z[i] = y[i] >= 0.0 ? 1.0 : -1.0;
        solve(f, 1, z);
        int64_t j = 0;
        double zx = 0.0;
        for (int64_t i = 0; i < n; i++) {
            if (fabs(z[i]) > fabs(z[j])) j = i;
            zx += z[i] * x[i];
        }
        if (iter > 0 && fabs(z[j]) <= zx) break;
        for (int64_t i = 0; i < n; i++) x[i] = 0.0;
        x[j] = 1.0;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = (i % 2 ? -1.0 : 1.0) * (1.0 + (double)i / (double)(n - 1));
    solve(f, 0, y);
    double alt = 2.0 * norm1_vec(y, n) / (3.0 * (double)n);
    return alt > est ? alt : est;
}

void nbi_tri_upper_solve(const double *r, int64_t ldr, int64_t k, int trans, double *x,
                         int64_t nrhs) {
    if (!trans) { /* back substitution: x_i = (x_i − Σ_{j>i} r_ij x_j) / r_ii */
        for (int64_t i = k - 1; i >= 0; i--) {
            double *xi = x + i * nrhs;
            for (int64_t j = i + 1; j < k; j++) {
                double rij = r[i * ldr + j];
                const double *xj = x + j * nrhs;
                for (int64_t c = 0; c < nrhs; c++) xi[c] -= rij * xj[c];
            }
            double d = r[i * ldr + i];
            for (int64_t c = 0; c < nrhs; c++) xi[c] /= d;
        }
    } else { /* Rᵀ is lower triangular: x_i = (x_i − Σ_{j<i} r_ji x_j) / r_ii */
        for (int64_t i = 0; i < k; i++) {
            double *xi = x + i * nrhs;
            for (int64_t j = 0; j < i; j++) {
                double rji = r[j * ldr + i];
                const double *xj = x + j * nrhs;
                for (int64_t c = 0; c < nrhs; c++) xi[c] -= rji * xj[c];
            }
            double d = r[i * ldr + i];
            for (int64_t c = 0; c < nrhs; c++) xi[c] /= d;
        }
    }
}
