/* linalg/cholesky.c — the raw Cholesky routines (the factorisation is kernels/ref/cholesky.c):
 * the factor L of A = L Lᵀ, and solving (L Lᵀ) X = B with it, for row-major f32 matrices. */
#include "linalg/linalg.h"

nb_status nb_linalg_cholesky(int64_t n, const float *a, int64_t lda, float *l, int64_t ldl) {
    const char *fn = "nb_linalg_cholesky";
    nb_status s = nbi_check_mat(fn, "A", n, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "L", n, n, l, ldl);
    if (s != NB_OK) return s;
    double *w = nbi_la_alloc(fn, nbi_la_work_cholesky(n));
    if (!w) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    nbi_la_res r = be->la_cholesky(be, n, a, lda, 1, w, l, ldl); /* l may be a: read first */
    nbi_free(w);
    char what[64];
    nbi_la_what(what, sizeof what, n, n, "matrix");
    return nbi_la_error(&r, fn, what);
}

nb_status nb_linalg_cholesky_solve(int64_t n, int64_t nrhs, const float *l, int64_t ldl, float *b,
                                   int64_t ldb) {
    const char *fn = "nb_linalg_cholesky_solve";
    nb_status s = nbi_check_mat(fn, "L", n, n, l, ldl);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", n, nrhs, b, ldb);
    if (s != NB_OK) return s;
    double *w = nbi_la_alloc(fn, nbi_la_work_cholesky_solve(n, nrhs));
    if (!w) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    nbi_la_res r = be->la_cholesky_solve(be, n, nrhs, l, ldl, 1, b, ldb, 1, w, b, ldb);
    nbi_free(w);
    char what[64];
    nbi_la_what(what, sizeof what, n, n, "factor");
    return nbi_la_error(&r, fn, what);
}
