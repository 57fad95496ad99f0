/* nabla/linalg.h — linear algebra beyond the matrix product: LU, solving A X = B, the inverse,
 * the determinant, Cholesky, QR and least squares.
 *
 * Two levels:
 *   - raw routines nb_linalg_*: row-major f32 matrices given by pointer and leading dimension
 *     (element (i, j) of A is a[i*lda + j]), no tensors, no context, no autograd;
 *   - tensor functions on [..., m, n] tensors, batched over the leading dimensions: the
 *     differentiable ops nb_inverse, nb_solve, nb_det, nb_logabsdet (recorded on the tape, in
 *     the op registry, gradient-checked), and the factorisations nb_lu, nb_cholesky, nb_qr,
 *     nb_lstsq, nb_slogdet, nb_rcond, which are not recorded (their results carry no gradient).
 *
 * Arithmetic: inputs and outputs are f32, every factorisation and solve runs in double.
 *
 * Singular and ill-conditioned matrices. The solution of A x = b loses about log10 κ(A)
 * digits, κ(A) = ‖A‖ ‖A⁻¹‖ the condition number. An f32 matrix is known only to a relative
 * 2^-24 per entry, and a relative perturbation of 1/κ can make A singular, so when
 *     rcond = 1 / (‖A‖₁ · ‖A⁻¹‖₁)  <  NB_LINALG_RCOND_MIN = FLT_EPSILON ≈ 1.19e-7
 * no digit of the answer is determined by the data. Solve, inverse, Cholesky-solve and least
 * squares then fail with NB_ERR_SINGULAR and a message giving the function, the matrix shape
 * and the zero pivot (exactly singular) or the condition estimate. ‖A⁻¹‖₁ is estimated from
 * the LU factors by Hager's method (LAPACK's xGECON); the estimate is a lower bound, in
 * practice within a factor of a few. det and slogdet do not fail on singular matrices: their
 * answer, 0, is correct (see nb_linalg_det). Non-square or mismatched operands give
 * NB_ERR_SHAPE naming both shapes; NaN or infinity in an input gives NB_ERR_ARG. */
#ifndef NABLA_LINALG_H
#define NABLA_LINALG_H

#include "nabla/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Below this reciprocal condition estimate a matrix counts as singular (FLT_EPSILON). */
#define NB_LINALG_RCOND_MIN 1.1920928955078125e-07

/* ---- raw routines ------------------------------------------------------------------------ */

/* LU with partial pivoting, P A = L U, in place: on return the strict lower triangle of a
 * holds L (unit diagonal implied) and the upper triangle U. At step k rows k and piv[k] were
 * swapped (0-based LAPACK ipiv). *sign (may be NULL) = det P = ±1; *rcond (may be NULL) = the
 * reciprocal condition estimate of A. Every square matrix has this factorisation, so a
 * singular A is not an error here: U then has a zero on its diagonal and *rcond is 0. */
nb_status nb_linalg_lu(int64_t n, float *a, int64_t lda, int64_t *piv, int *sign, double *rcond);

/* Solves A X = B from nb_linalg_lu's factors; B (n×nrhs) is overwritten with X.
 * NB_ERR_SINGULAR if U has a zero on its diagonal. */
nb_status nb_linalg_lu_solve(int64_t n, int64_t nrhs, const float *lu, int64_t ldlu,
                             const int64_t *piv, float *b, int64_t ldb);

/* Solves A X = B for n×n A and n×nrhs B (overwritten with X). */
nb_status nb_linalg_solve(int64_t n, int64_t nrhs, const float *a, int64_t lda, float *b,
                          int64_t ldb);

/* inv = A⁻¹ (n×n; inv may not overlap a). */
nb_status nb_linalg_inv(int64_t n, const float *a, int64_t lda, float *inv, int64_t ldinv);

/* det A, in double (an f32 determinant overflows easily: prefer slogdet for large n). The
 * value is sign(P) Π U_kk from the LU factors. When rcond < n · DBL_EPSILON the computed
 * product is rounding noise — A is within rounding of a singular matrix, whose determinant is
 * 0 — and 0 is returned: an exactly singular f32 matrix gets det 0, not 1e-16. */
nb_status nb_linalg_det(int64_t n, const float *a, int64_t lda, double *det);

/* sign det A (−1, 0 or 1) and log|det A| (−∞ when the sign is 0), as numpy.linalg.slogdet;
 * the same rule for numerically singular matrices as nb_linalg_det. */
nb_status nb_linalg_slogdet(int64_t n, const float *a, int64_t lda, int *sign,
                            double *logabsdet);

/* The reciprocal condition estimate 1 / (‖A‖₁ ‖A⁻¹‖₁), 0 for an exactly singular A. */
nb_status nb_linalg_rcond(int64_t n, const float *a, int64_t lda, double *rcond);

/* Cholesky factor of a symmetric positive definite A: A = L Lᵀ, L lower triangular with a
 * positive diagonal; l's upper triangle is set to 0 (l may equal a). A must be symmetric
 * (to a relative 1e-5: NB_ERR_ARG names the first asymmetric pair); if the leading k×k minor
 * is not positive definite the result is NB_ERR_SINGULAR naming k and the pivot. */
nb_status nb_linalg_cholesky(int64_t n, const float *a, int64_t lda, float *l, int64_t ldl);

/* Solves (L Lᵀ) X = B from a Cholesky factor; B (n×nrhs) is overwritten with X.
 * NB_ERR_SINGULAR when L's diagonal has a zero or A = L Lᵀ is ill-conditioned. */
nb_status nb_linalg_cholesky_solve(int64_t n, int64_t nrhs, const float *l, int64_t ldl,
                                   float *b, int64_t ldb);

/* Reduced QR by Householder reflections: A (m×n) = Q R with k = min(m, n), Q m×k with
 * orthonormal columns, R k×n upper triangular. The signs are fixed so that R's diagonal is
 * non-negative, which makes Q and R unique when A has full rank (LAPACK and NumPy do not fix
 * them; compare Q R, or normalise the same way). */
nb_status nb_linalg_qr(int64_t m, int64_t n, const float *a, int64_t lda, float *q, int64_t ldq,
                       float *r, int64_t ldr);

/* Least squares X (n×nrhs) for A (m×n), B (m×nrhs): for m ≥ n the minimiser of ‖A X − B‖₂
 * (by QR of A: X = R⁻¹ Qᵀ B), for m < n the minimum-norm solution of A X = B (by QR of Aᵀ:
 * X = Q R⁻ᵀ B). A must have full rank min(m, n): otherwise NB_ERR_SINGULAR with R's
 * condition estimate (use a regularised or SVD method for rank-deficient problems). */
nb_status nb_linalg_lstsq(int64_t m, int64_t n, int64_t nrhs, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float *x, int64_t ldx);

/* ---- differentiable ops on tensors (batched over leading dimensions) ------------------- */

/* A⁻¹ for A [..., n, n].  Gradient: dA = −A⁻ᵀ dY A⁻ᵀ. */
nb_tensor *nb_inverse(nb_ctx *ctx, nb_tensor *a);
/* X = A⁻¹ B for A [..., n, n] and B [..., n, k] (batch dimensions broadcast) or B [n] (one
 * vector; the result is then [..., n]). For a batch of vectors use B [..., n, 1].
 * Gradients: dB = A⁻ᵀ dX, dA = −dB Xᵀ. */
nb_tensor *nb_solve(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
/* det A, shape [...]. Gradient: dA = g · det A · A⁻ᵀ (the backward fails with
 * NB_ERR_SINGULAR at a singular A, where that formula has no value to offer). */
nb_tensor *nb_det(nb_ctx *ctx, nb_tensor *a);
/* log|det A|, shape [...] (−inf for a singular A). Gradient: dA = g · A⁻ᵀ. For a symmetric
 * positive definite A (a covariance) this is log det A. */
nb_tensor *nb_logabsdet(nb_ctx *ctx, nb_tensor *a);

/* ---- tensor factorisations (not recorded: their results carry no gradient) -------------
 * Results live in ctx; errors follow the sticky rule of autograd.h (NULL, or the status,
 * with ctx's status set). */

/* LU of A [..., n, n]: *lu [..., n, n] (L and U packed as in nb_linalg_lu) and *piv i32
 * [..., n]. */
nb_status nb_lu(nb_ctx *ctx, nb_tensor *a, nb_tensor **lu, nb_tensor **piv);
/* sign [...] and log|det| [...], as numpy.linalg.slogdet. */
nb_status nb_slogdet(nb_ctx *ctx, nb_tensor *a, nb_tensor **sign, nb_tensor **logabsdet);
/* The reciprocal condition estimate [...] of A [..., n, n]. */
nb_tensor *nb_rcond(nb_ctx *ctx, nb_tensor *a);
/* L [..., n, n] with A = L Lᵀ. */
nb_tensor *nb_cholesky(nb_ctx *ctx, nb_tensor *a);
/* X = (L Lᵀ)⁻¹ B from L [..., n, n] and B [..., n, k] (same batch shape). */
nb_tensor *nb_cholesky_solve(nb_ctx *ctx, nb_tensor *l, nb_tensor *b);
/* Q [..., m, k], R [..., k, n] for A [..., m, n], k = min(m, n). */
nb_status nb_qr(nb_ctx *ctx, nb_tensor *a, nb_tensor **q, nb_tensor **r);
/* X [..., n, k] for A [..., m, n], B [..., m, k] (same batch shape), or X [n] for B [m]. */
nb_tensor *nb_lstsq(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);

#ifdef __cplusplus
}
#endif
#endif
