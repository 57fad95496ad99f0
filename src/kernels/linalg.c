/* kernels/linalg.c — the host side of the linear algebra family (kernels/linalg.h): workspace
 * sizes, the messages of the kernels' outcomes, and the CPU back end's linalg entries.
 *
 * The entries run one matrix per call on the calling thread: the matrices of nabla's linear
 * algebra are small (a covariance, a Jacobian), and a batch of them is walked by the op
 * (ops/linalg.c, ops/factor.c), which keeps the batch's broadcasting and the names of its
 * matrices for messages. */
#include "kernels/backend.h"
#include "kernels/linalg.h"

#include <stdint.h>

/* ---- workspace sizes --------------------------------------------------------------------- */

/* a·b + c, or SIZE_MAX on overflow (sizes are >= 0: callers check them first) */
static size_t mad(size_t acc, int64_t a, int64_t b) {
    size_t p;
    if (acc == SIZE_MAX || !nbi_mul_size((size_t)a, (size_t)b, &p) || !nbi_add_size(acc, p, &p))
        return SIZE_MAX;
    return p;
}

size_t nbi_la_work_lu(int64_t n) {
    return mad(mad(3, n, n), 4, n);
}
size_t nbi_la_work_inverse(int64_t n) {
    return mad(nbi_la_work_lu(n), n, n);
}
size_t nbi_la_work_solve(int64_t n, int64_t nrhs) {
    return mad(nbi_la_work_lu(n), n, nrhs);
}
size_t nbi_la_work_cholesky(int64_t n) {
    return mad(0, n, n);
}
size_t nbi_la_work_cholesky_solve(int64_t n, int64_t nrhs) {
    return mad(mad(mad(0, n, n), n, nrhs), 3, n);
}
size_t nbi_la_work_qr(int64_t m, int64_t n) {
    int64_t k = m < n ? m : n;
    return mad(mad(mad(mad(mad(0, m, n), m, k), k, n), m, k), 1, k);
}
size_t nbi_la_work_lstsq(int64_t m, int64_t n, int64_t nrhs) {
    int64_t k = m < n ? m : n, big = m > n ? m : n;
    size_t s = mad(mad(0, m, n), big, nrhs);     /* A, then B and X */
    return mad(mad(mad(s, m, n), big, k), 4, k); /* QR of A or Aᵀ, τ, estimator */
}

/* ---- messages ------------------------------------------------------------------------------ */

nb_status nbi_la_error(const nbi_la_res *r, const char *fn, const char *what) {
    switch (r->code) {
    case NBI_LA_OK:
        return NB_OK;
    case NBI_LA_NONFINITE:
        return nbi_error(NB_ERR_ARG,
                         "%s: %s has %s at [%lld][%lld]; linear algebra needs finite "
                         "values",
                         fn, r->arg ? "B" : what,
                         r->v != r->v ? "NaN" : (r->v > 0 ? "+Inf" : "-Inf"), (long long)r->i,
                         (long long)r->j);
    case NBI_LA_ZERO_PIVOT:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is singular: after partial pivoting, pivot %lld (U[%lld][%lld]) "
                         "is exactly 0, so A x = b has no unique solution",
                         fn, what, (long long)r->i, (long long)r->i, (long long)r->i);
    case NBI_LA_ILL:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is singular to working precision: reciprocal condition "
                         "estimate %.3g is below %.3g (f32 epsilon), so no digit of the result "
                         "would be determined by the data; regularise it (add a multiple of "
                         "the identity) or use least squares",
                         fn, what, r->v, NB_LINALG_RCOND_MIN);
    case NBI_LA_SINGULAR:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is singular (reciprocal condition estimate %.3g): the gradient "
                         "det(A) A⁻ᵀ is not computed there",
                         fn, what, r->v);
    case NBI_LA_NOT_SYMMETRIC:
        return nbi_error(NB_ERR_ARG,
                         "%s: %s is not symmetric: A[%lld][%lld] = %.9g but A[%lld][%lld] = %.9g; "
                         "Cholesky needs a symmetric positive definite matrix (symmetrise it as "
                         "(A + Aᵀ)/2, or use LU)",
                         fn, what, (long long)r->i, (long long)r->j, r->v, (long long)r->j,
                         (long long)r->i, r->w);
    case NBI_LA_NOT_SPD:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is not positive definite: its leading %lldx%lld minor is not "
                         "(Cholesky pivot %.6g <= 0 at row %lld); a covariance matrix needs full "
                         "rank — add a small multiple of the identity",
                         fn, what, (long long)r->i, (long long)r->i, r->v, (long long)(r->i - 1));
    case NBI_LA_CHOL_ZERO:
        return nbi_error(NB_ERR_SINGULAR, "%s: %s is singular: L[%lld][%lld] is 0", fn, what,
                         (long long)r->i, (long long)r->i);
    case NBI_LA_CHOL_ILL:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: L Lᵀ for %s is singular to working precision: reciprocal "
                         "condition estimate %.3g is below %.3g (f32 epsilon)",
                         fn, what, r->v, NB_LINALG_RCOND_MIN);
    case NBI_LA_RANK:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s does not have full rank %lld: R[%lld][%lld] = 0 in its QR, so "
                         "%s %lld depends linearly on the ones before it",
                         fn, what, (long long)r->j, (long long)r->i, (long long)r->i,
                         r->wide ? "row" : "column", (long long)r->i);
    case NBI_LA_RANK_ILL:
        return nbi_error(NB_ERR_SINGULAR,
                         "%s: %s is rank-deficient to working precision: R from its QR has "
                         "reciprocal condition estimate %.3g, below %.3g (f32 epsilon); drop "
                         "dependent %s or regularise (ridge: add λI to AᵀA)",
                         fn, what, r->v, NB_LINALG_RCOND_MIN, r->wide ? "rows" : "columns");
    }
    NBI_ASSERT(!"unknown linear algebra outcome");
    return NB_ERR_ARG;
}

/* ---- the CPU back end's entries: the reference kernels, one matrix per call --------------- */

static nbi_la_res cpu_la_inverse(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                                 int64_t cs, double *w, float *y, int64_t ldy) {
    (void)be;
    return nbi_ref_la_inverse(n, a, rs, cs, w, y, ldy);
}

static void cpu_la_inverse_bwd(const nbi_backend *be, int64_t n, const float *y, const float *gy,
                               double *w, float *ga) {
    (void)be;
    nbi_ref_la_inverse_bwd(n, y, gy, w, ga);
}

static nbi_la_res cpu_la_solve(const nbi_backend *be, int64_t n, int64_t nrhs, const float *a,
                               int64_t rs, int64_t cs, int fresh, const float *b, int64_t brs,
                               int64_t bcs, double *w, float *x, int64_t ldx) {
    (void)be;
    return nbi_ref_la_solve(n, nrhs, a, rs, cs, fresh, b, brs, bcs, w, x, ldx);
}

static nbi_la_res cpu_la_solve_bwd(const nbi_backend *be, int64_t n, int64_t nrhs, const float *a,
                                   int64_t rs, int64_t cs, int fresh, const float *x,
                                   const float *gx, double *w, float *gb, float *ga) {
    (void)be;
    return nbi_ref_la_solve_bwd(n, nrhs, a, rs, cs, fresh, x, gx, w, gb, ga);
}

static nbi_la_res cpu_la_det(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                             int64_t cs, int fresh, double *w, float *det, float *logabsdet,
                             float *sign, float *rcond) {
    (void)be;
    return nbi_ref_la_det(n, a, rs, cs, fresh, w, det, logabsdet, sign, rcond);
}

static nbi_la_res cpu_la_det_bwd(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                                 int64_t cs, int fresh, int log_form, const float *g, double *w,
                                 float *ga) {
    (void)be;
    return nbi_ref_la_det_bwd(n, a, rs, cs, fresh, log_form, g, w, ga);
}

static nbi_la_res cpu_la_lu(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                            int64_t cs, double *w, float *lu, int64_t ld, int32_t *piv) {
    (void)be;
    return nbi_ref_la_lu(n, a, rs, cs, w, lu, ld, piv);
}

static nbi_la_res cpu_la_cholesky(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                                  int64_t cs, double *w, float *l, int64_t ldl) {
    (void)be;
    return nbi_ref_la_cholesky(n, a, rs, cs, w, l, ldl);
}

static nbi_la_res cpu_la_cholesky_solve(const nbi_backend *be, int64_t n, int64_t nrhs,
                                        const float *l, int64_t rs, int64_t cs, const float *b,
                                        int64_t brs, int64_t bcs, double *w, float *x,
                                        int64_t ldx) {
    (void)be;
    return nbi_ref_la_cholesky_solve(n, nrhs, l, rs, cs, b, brs, bcs, w, x, ldx);
}

static nbi_la_res cpu_la_qr(const nbi_backend *be, int64_t m, int64_t n, const float *a, int64_t rs,
                            int64_t cs, double *w, float *q, int64_t ldq, float *r, int64_t ldr) {
    (void)be;
    return nbi_ref_la_qr(m, n, a, rs, cs, w, q, ldq, r, ldr);
}

static nbi_la_res cpu_la_lstsq(const nbi_backend *be, int64_t m, int64_t n, int64_t nrhs,
                               const float *a, int64_t rs, int64_t cs, const float *b, int64_t brs,
                               int64_t bcs, double *w, float *x, int64_t ldx) {
    (void)be;
    return nbi_ref_la_lstsq(m, n, nrhs, a, rs, cs, b, brs, bcs, w, x, ldx);
}

void nbi_backend_cpu_linalg(nbi_backend *be) {
    be->la_inverse = cpu_la_inverse;
    be->la_inverse_bwd = cpu_la_inverse_bwd;
    be->la_solve = cpu_la_solve;
    be->la_solve_bwd = cpu_la_solve_bwd;
    be->la_det = cpu_la_det;
    be->la_det_bwd = cpu_la_det_bwd;
    be->la_lu = cpu_la_lu;
    be->la_cholesky = cpu_la_cholesky;
    be->la_cholesky_solve = cpu_la_cholesky_solve;
    be->la_qr = cpu_la_qr;
    be->la_lstsq = cpu_la_lstsq;
}
