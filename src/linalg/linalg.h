/* linalg/linalg.h — the double-precision factorisations behind nabla's linear algebra.
 *
 * The public routines (include/nabla/linalg.h) take and return f32, but every factorisation
 * here works on a double copy: a solve loses about log10(κ) digits, so f32 arithmetic would
 * leave nothing for κ ≈ 10^7 while double keeps about nine. Matrices inside are row-major and
 * contiguous (an n×n matrix has leading dimension n). The ops (src/ops/linalg.c) and the raw
 * routines share these kernels; callers own every workspace, so the ops can take theirs from
 * the context's arena and the raw routines from nbi_malloc. */
#ifndef NBI_LINALG_H
#define NBI_LINALG_H

#include "base/base.h"
#include "nabla/linalg.h"

/* ---- moving between f32 (any strides) and the double working copy ----------------------- */

/* dst[i*cols + j] = src[i*rs + j*cs]. Returns the flat index i*cols + j of the first NaN or
 * infinity, or -1 when every value is finite. */
int64_t nbi_mat_load(double *dst, const float *src, int64_t rows, int64_t cols, int64_t rs,
                     int64_t cs);
/* dst[i*rs + j*cs] = (float)src[i*cols + j]. */
void nbi_mat_store(float *dst, int64_t rs, int64_t cs, const double *src, int64_t rows,
                   int64_t cols);
/* "[3][1]" style position of a flat index, for messages. */
void nbi_mat_pos(int64_t flat, int64_t cols, char *buf, size_t n);
/* The message for a non-finite input value, returned as NB_ERR_ARG. */
nb_status nbi_mat_nonfinite(const char *fn, const char *what, const float *src, int64_t flat,
                            int64_t cols, int64_t rs, int64_t cs);

/* Validates a raw operand: sizes ≥ 0, a pointer when non-empty, ld ≥ cols. */
nb_status nbi_check_mat(const char *fn, const char *name, int64_t rows, int64_t cols,
                        const void *p, int64_t ld);

/* ‖A‖₁ = max_j Σ_i |a_ij| of a rows×cols matrix. */
double nbi_norm1(const double *a, int64_t rows, int64_t cols);

/* ---- the 1-norm condition estimate (Hager 1984, with Higham's 1988 safeguards) ----------
 * Estimates ‖A⁻¹‖₁ from a few solves with A and Aᵀ, without forming A⁻¹: maximise ‖A⁻¹x‖₁
 * over ‖x‖₁ = 1 by gradient steps between the vertices e_j. solve(f, trans, x) overwrites the
 * n-vector x with A⁻¹x (trans 0) or A⁻ᵀx (trans 1). work holds 3n doubles. */
typedef void (*nbi_solve_fn)(const void *f, int trans, double *x);
double nbi_inv_norm1_est(int64_t n, nbi_solve_fn solve, const void *f, double *work);

/* ---- LU with partial pivoting: P A = L U ------------------------------------------------- */
typedef struct nbi_lu {
    int64_t n;
    double *a;     /* n×n: L below the diagonal (unit diagonal implied), U on and above */
    int64_t *piv;  /* at step k, rows k and piv[k] were swapped (LAPACK's ipiv, 0-based) */
    int sign;      /* det P = (-1)^(number of real swaps) */
    int64_t zero;  /* the first k with U[k][k] == 0 (A singular), or -1 */
    double anorm;  /* ‖A‖₁ of the matrix before factoring */
} nbi_lu;

/* Factors f->a (n×n, loaded by the caller) in place; fills piv, sign, zero and anorm. */
void nbi_lu_factor(nbi_lu *f);
/* B (n×nrhs, row-major) ← A⁻¹ B (trans 0) or A⁻ᵀ B (trans 1). A must be non-singular. */
void nbi_lu_solve(const nbi_lu *f, int trans, double *b, int64_t nrhs);
/* Reciprocal condition estimate 1 / (‖A‖₁ · est ‖A⁻¹‖₁): 0 when a pivot is zero. work: 3n. */
double nbi_lu_rcond(const nbi_lu *f, double *work);
/* log|det A| = Σ log|U[k][k]| and sign det A (0 when singular). */
double nbi_lu_logabsdet(const nbi_lu *f, int *sign);
/* det A = sign · Π U[k][k], computed in double. */
double nbi_lu_det(const nbi_lu *f);

/* NB_OK when A is safely invertible; otherwise NB_ERR_SINGULAR with a message naming `fn`,
 * `what` (the matrix and its shape) and the zero pivot or the condition estimate. *rcond
 * (may be NULL) receives the estimate. work: 3n doubles. */
nb_status nbi_lu_check(const nbi_lu *f, double *work, const char *fn, const char *what,
                       double *rcond);

/* ---- Cholesky: A = L Lᵀ ------------------------------------------------------------------ */
/* Factors a (n×n, symmetric positive definite, lower triangle read) in place into L (the
 * upper triangle is zeroed). Returns the order k ≥ 1 of the first leading minor that is not
 * positive definite, with its pivot in *pivot, or 0 on success. */
int64_t nbi_chol_factor(double *a, int64_t n, double *pivot);
/* B (n×nrhs) ← (L Lᵀ)⁻¹ B. */
void nbi_chol_solve(const double *l, int64_t n, double *b, int64_t nrhs);
/* Reciprocal condition estimate of L Lᵀ (0 if L has a zero on its diagonal). work: 3n. */
double nbi_chol_rcond(const double *l, int64_t n, double *work);
/* NB_ERR_ARG naming the first pair with |a_ij − a_ji| > 1e-5 max|a|, else NB_OK. */
nb_status nbi_chol_check_symmetric(const char *fn, const char *what, const double *a, int64_t n);
/* The NB_ERR_SINGULAR message for a failed leading k×k minor. */
nb_status nbi_chol_not_spd(const char *fn, const char *what, int64_t k, double pivot);
/* NB_ERR_SINGULAR when L Lᵀ is singular or ill-conditioned. work: 3n. */
nb_status nbi_chol_check_solvable(const char *fn, const char *what, const double *l, int64_t n,
                                  double *work);

/* ---- Householder QR: A = Q R, A m×n, k = min(m, n) ----------------------------------------
 * Factors a in place: on return R is in the upper triangle of a's first k rows (below it: 0),
 * the Householder vectors in v (m×k, column j holds v_j, zero above row j) and
 * tau[j] = 2 / (v_jᵀ v_j), so that H_j = I − tau_j v_j v_jᵀ and Qᵀ A = H_{k-1} ⋯ H_0 A = R.
 * tau[j] = 0 (H_j = I) where the column below the diagonal is already zero. */
void nbi_qr_factor(double *a, int64_t m, int64_t n, double *v, double *tau);
/* x (m×nrhs) ← Qᵀ x  = H_{k-1} ⋯ H_0 x (trans 1), or Q x = H_0 ⋯ H_{k-1} x (trans 0). */
void nbi_qr_apply(const double *v, const double *tau, int64_t m, int64_t k, int trans, double *x,
                  int64_t nrhs);

/* Doubles of workspace for nbi_qr_explicit. */
size_t nbi_qr_work(int64_t m, int64_t n);
/* Q (m×k) and R (k×n) of a (m×n, destroyed), signs fixed so that diag R ≥ 0. */
void nbi_qr_explicit(double *a, int64_t m, int64_t n, double *q, double *r, double *work);
/* Doubles of workspace for nbi_lstsq_d. */
size_t nbi_lstsq_work(int64_t m, int64_t n);
/* Least squares / minimum norm (see nb_linalg_lstsq) for a (m×n, kept): x holds max(m, n) rows
 * of nrhs, B in its first m rows on entry, X in its first n rows on return. NB_ERR_SINGULAR
 * (naming fn and what) when A is rank-deficient to working precision. */
nb_status nbi_lstsq_d(const char *fn, const char *what, const double *a, int64_t m, int64_t n,
                      double *x, int64_t nrhs, double *work);

/* ---- triangular solves on the leading k×k block of an upper-triangular R (ld = ldr) ------ */
/* x (k×nrhs) ← R⁻¹ x (trans 0) or R⁻ᵀ x (trans 1). */
void nbi_tri_upper_solve(const double *r, int64_t ldr, int64_t k, int trans, double *x,
                         int64_t nrhs);

#endif
