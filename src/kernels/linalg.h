/* kernels/linalg.h — the linear algebra family: LU with partial pivoting, Cholesky, Householder
 * QR, the 1-norm condition estimate, and the per-matrix kernels that the back end's linalg
 * entries (kernels/backend.h: la_inverse, la_solve, ...) run.
 *
 * Inputs and outputs are f32, but every factorisation works on a double copy: a solve loses
 * about log10(κ) digits, so f32 arithmetic would leave nothing for κ ≈ 10^7 while double keeps
 * about nine. Matrices inside are row-major and contiguous (an n×n matrix has leading
 * dimension n); f32 operands are read through (row, column) strides, so transposed views need
 * no copy. The caller owns every workspace (nbi_la_work_* doubles): the ops take theirs from
 * the context's arena, the raw routines (src/linalg) from nbi_malloc.
 *
 * The kernels never build messages: they return an nbi_la_res saying what went wrong and
 * where (an operand's first non-finite value, a zero pivot, a condition estimate), and the
 * caller, which knows what the matrix is called ("matrix [1] of f32[2,3,3]"), turns it into
 * a status and a message with nbi_la_error. Nothing here knows about tensors. */
#ifndef NBI_KERNELS_LINALG_H
#define NBI_KERNELS_LINALG_H

#include "base/base.h"
#include "nabla/linalg.h" /* NB_LINALG_RCOND_MIN */

/* ---- outcomes ------------------------------------------------------------------------------ */

typedef enum nbi_la_code {
    NBI_LA_OK = 0,
    NBI_LA_NONFINITE,     /* operand `arg` (0: the matrix, 1: B) holds v at [i][j] */
    NBI_LA_ZERO_PIVOT,    /* LU: pivot i (U[i][i]) is exactly 0 after partial pivoting */
    NBI_LA_ILL,           /* LU: reciprocal condition estimate v < NB_LINALG_RCOND_MIN */
    NBI_LA_SINGULAR,      /* det's gradient: rcond v < n·DBL_EPSILON, no adjugate formula */
    NBI_LA_NOT_SYMMETRIC, /* Cholesky: A[i][j] = v but A[j][i] = w */
    NBI_LA_NOT_SPD,       /* Cholesky: the leading i×i minor has pivot v <= 0 */
    NBI_LA_CHOL_ZERO,     /* Cholesky solve: L[i][i] is 0 */
    NBI_LA_CHOL_ILL,      /* Cholesky solve: L Lᵀ has rcond v < NB_LINALG_RCOND_MIN */
    NBI_LA_RANK,          /* least squares: R[i][i] = 0, rank below j = min(m, n) */
    NBI_LA_RANK_ILL       /* least squares: R has rcond v < NB_LINALG_RCOND_MIN */
} nbi_la_code;

typedef struct nbi_la_res {
    int code; /* nbi_la_code */
    int arg;  /* NONFINITE: which operand */
    int wide; /* RANK, RANK_ILL: m < n (dependent rows rather than columns) */
    int64_t i, j;
    double v, w;
} nbi_la_res;

/* The status and message of an outcome: NB_OK for NBI_LA_OK; otherwise NB_ERR_ARG (values,
 * symmetry) or NB_ERR_SINGULAR, with a message naming `fn`, `what` (the matrix, e.g. "the
 * 3x3 matrix"; B is called "B") and the position or estimate. */
nb_status nbi_la_error(const nbi_la_res *r, const char *fn, const char *what);

/* ---- moving between f32 (any strides) and the double working copy ------------------------ */

/* dst[i*cols + j] = src[i*rs + j*cs]. Returns the flat index i*cols + j of the first NaN or
 * infinity, or -1 when every value is finite. */
int64_t nbi_mat_load(double *dst, const float *src, int64_t rows, int64_t cols, int64_t rs,
                     int64_t cs);
/* dst[i*ld + j] = (float)src[i*cols + j]. */
void nbi_mat_store(float *dst, int64_t ld, const double *src, int64_t rows, int64_t cols);
/* The outcome NONFINITE for operand `arg` whose flat index `bad` (of a copy with `cols`
 * columns, from nbi_mat_load) is not finite; v is read back from src. */
nbi_la_res nbi_la_nonfinite(int arg, int64_t bad, int64_t cols, const float *src, int64_t rs,
                            int64_t cs);
/* ‖A‖₁ = max_j Σ_i |a_ij| of a rows×cols matrix. */
double nbi_norm1(const double *a, int64_t rows, int64_t cols);

/* ---- the 1-norm condition estimate (Hager 1984, with Higham's 1988 safeguards) ----------
 * Estimates ‖A⁻¹‖₁ from a few solves with A and Aᵀ, without forming A⁻¹: maximise ‖A⁻¹x‖₁
 * over ‖x‖₁ = 1 by gradient steps between the vertices e_j. solve(f, trans, x) overwrites the
 * n-vector x with A⁻¹x (trans 0) or A⁻ᵀx (trans 1). work holds 3n doubles. */
typedef void (*nbi_solve_fn)(const void *f, int trans, double *x);
double nbi_inv_norm1_est(int64_t n, nbi_solve_fn solve, const void *f, double *work);

/* x (k×nrhs) ← R⁻¹ x (trans 0) or R⁻ᵀ x (trans 1), R the leading k×k block of an upper
 * triangular matrix with leading dimension ldr. */
void nbi_tri_upper_solve(const double *r, int64_t ldr, int64_t k, int trans, double *x,
                         int64_t nrhs);

/* ---- LU with partial pivoting: P A = L U ------------------------------------------------- */
typedef struct nbi_lu {
    int64_t n;
    double *a;    /* n×n: L below the diagonal (unit diagonal implied), U on and above */
    int64_t *piv; /* at step k, rows k and piv[k] were swapped (LAPACK's ipiv, 0-based) */
    int sign;     /* det P = (-1)^(number of real swaps) */
    int64_t zero; /* the first k with U[k][k] == 0 (A singular), or -1 */
    double anorm; /* ‖A‖₁ of the matrix before factoring */
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
/* The determinant's values with nabla's rule for a numerically singular A (rcond < n ·
 * DBL_EPSILON, where the computed product is rounding noise): det 0, log|det| −∞, sign 0.
 * Any output may be NULL; rcond receives the estimate. work: 3n. */
void nbi_lu_dets(const nbi_lu *f, double *work, double *det, double *logabsdet, int *sign,
                 double *rcond);
/* NBI_LA_OK when A is safely invertible: no zero pivot and rcond >= NB_LINALG_RCOND_MIN;
 * otherwise ZERO_PIVOT or ILL. work: 3n. */
nbi_la_res nbi_lu_check(const nbi_lu *f, double *work);

/* ---- Cholesky: A = L Lᵀ ------------------------------------------------------------------ */
/* Factors a (n×n, symmetric positive definite, lower triangle read) in place into L (the
 * upper triangle is zeroed). Returns the order k ≥ 1 of the first leading minor that is not
 * positive definite, with its pivot in *pivot, or 0 on success. */
int64_t nbi_chol_factor(double *a, int64_t n, double *pivot);
/* B (n×nrhs) ← (L Lᵀ)⁻¹ B. */
void nbi_chol_solve(const double *l, int64_t n, double *b, int64_t nrhs);
/* Reciprocal condition estimate of L Lᵀ (0 if L has a zero on its diagonal). work: 3n. */
double nbi_chol_rcond(const double *l, int64_t n, double *work);

/* ---- Householder QR: A = Q R, A m×n, k = min(m, n) ----------------------------------------
 * Factors a in place: on return R is in the upper triangle of a's first k rows (below it: 0),
 * the Householder vectors in v (m×k, column j holds v_j, zero above row j) and
 * tau[j] = 2 / (v_jᵀ v_j), so that H_j = I − tau_j v_j v_jᵀ and Qᵀ A = H_{k-1} ⋯ H_0 A = R.
 * tau[j] = 0 (H_j = I) where the column below the diagonal is already zero. */
void nbi_qr_factor(double *a, int64_t m, int64_t n, double *v, double *tau);
/* x (m×nrhs) ← Qᵀ x  = H_{k-1} ⋯ H_0 x (trans 1), or Q x = H_0 ⋯ H_{k-1} x (trans 0). */
void nbi_qr_apply(const double *v, const double *tau, int64_t m, int64_t k, int trans, double *x,
                  int64_t nrhs);

/* ---- workspace sizes, in doubles (SIZE_MAX when the count overflows, so that the caller's
 * byte count overflows too and is refused) -------------------------------------------------- */
size_t nbi_la_work_lu(int64_t n);                  /* lu, det (with rcond, slogdet) */
size_t nbi_la_work_inverse(int64_t n);             /* inverse; the gradients of inverse, det */
size_t nbi_la_work_solve(int64_t n, int64_t nrhs); /* solve and its gradient */
size_t nbi_la_work_cholesky(int64_t n);
size_t nbi_la_work_cholesky_solve(int64_t n, int64_t nrhs);
size_t nbi_la_work_qr(int64_t m, int64_t n);
size_t nbi_la_work_lstsq(int64_t m, int64_t n, int64_t nrhs);

/* ---- the per-matrix kernels (kernels/ref/lu.c, cholesky.c, qr.c), which the back end's linalg
 * entries run. One matrix per call; A is read at a[i*rs + j*cs], B at b[i*brs + j*bcs]; outputs are
 * written row by row with leading dimension ld; gradients are contiguous and accumulate (+=).
 * `fresh` 0 reuses the factors of A left in w by the previous call on the same workspace (a
 * broadcast A is factored once for every B it meets). ---------------------------------------- */

/* Y = A⁻¹ (NONFINITE, ZERO_PIVOT, ILL) */
nbi_la_res nbi_ref_la_inverse(int64_t n, const float *a, int64_t rs, int64_t cs, double *w,
                              float *y, int64_t ldy);
/* dA −= Yᵀ (dY Yᵀ) */
void nbi_ref_la_inverse_bwd(int64_t n, const float *y, const float *gy, double *w, float *ga);
/* X = A⁻¹ B for B n×nrhs (NONFINITE of A or B, ZERO_PIVOT, ILL) */
nbi_la_res nbi_ref_la_solve(int64_t n, int64_t nrhs, const float *a, int64_t rs, int64_t cs,
                            int fresh, const float *b, int64_t brs, int64_t bcs, double *w,
                            float *x, int64_t ldx);
/* dB += A⁻ᵀ dX, dA −= (A⁻ᵀ dX) Xᵀ from X and dX (n×nrhs, contiguous); gb or ga may be NULL */
nbi_la_res nbi_ref_la_solve_bwd(int64_t n, int64_t nrhs, const float *a, int64_t rs, int64_t cs,
                                int fresh, const float *x, const float *gx, double *w, float *gb,
                                float *ga);
/* Factors A and writes what is asked (each may be NULL): det, log|det|, sign and rcond, with
 * nbi_lu_dets's rule for a numerically singular A (NONFINITE only) */
nbi_la_res nbi_ref_la_det(int64_t n, const float *a, int64_t rs, int64_t cs, int fresh, double *w,
                          float *det, float *logabsdet, float *sign, float *rcond);
/* log_form 0: dA += g · det A · A⁻ᵀ (SINGULAR when rcond < n·DBL_EPSILON);
 * 1: dA += g · A⁻ᵀ (ZERO_PIVOT, ILL); g is one value */
nbi_la_res nbi_ref_la_det_bwd(int64_t n, const float *a, int64_t rs, int64_t cs, int fresh,
                              int log_form, const float *g, double *w, float *ga);
/* The packed LU factors (ld) and the pivots as int32 (NONFINITE) */
nbi_la_res nbi_ref_la_lu(int64_t n, const float *a, int64_t rs, int64_t cs, double *w, float *lu,
                         int64_t ld, int32_t *piv);
/* L with A = L Lᵀ, upper triangle 0 (NONFINITE, NOT_SYMMETRIC, NOT_SPD) */
nbi_la_res nbi_ref_la_cholesky(int64_t n, const float *a, int64_t rs, int64_t cs, double *w,
                               float *l, int64_t ldl);
/* X = (L Lᵀ)⁻¹ B from L's lower triangle (NONFINITE of L or B, CHOL_ZERO, CHOL_ILL) */
nbi_la_res nbi_ref_la_cholesky_solve(int64_t n, int64_t nrhs, const float *l, int64_t rs,
                                     int64_t cs, const float *b, int64_t brs, int64_t bcs,
                                     double *w, float *x, int64_t ldx);
/* Q (m×k) and R (k×n), k = min(m, n), diag R >= 0 (NONFINITE) */
nbi_la_res nbi_ref_la_qr(int64_t m, int64_t n, const float *a, int64_t rs, int64_t cs, double *w,
                         float *q, int64_t ldq, float *r, int64_t ldr);
/* X (n×nrhs): least squares for m >= n, the minimum-norm solution for m < n (NONFINITE of A
 * or B, RANK, RANK_ILL) */
nbi_la_res nbi_ref_la_lstsq(int64_t m, int64_t n, int64_t nrhs, const float *a, int64_t rs,
                            int64_t cs, const float *b, int64_t brs, int64_t bcs, double *w,
                            float *x, int64_t ldx);

#endif
