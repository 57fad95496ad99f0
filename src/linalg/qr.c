/* linalg/qr.c — the raw QR and least-squares routines (the Householder factorisation is
 * kernels/ref/qr.c), for row-major f32 matrices. */
#include "linalg/linalg.h"

/* m·n and friends fit comfortably when every factor is below 2^31. */
static nb_status check_dims(const char *fn, int64_t m, int64_t n, int64_t nrhs) {
    if (m > INT32_MAX || n > INT32_MAX || nrhs > INT32_MAX)
        return nbi_error(NB_ERR_ARG, "%s: sizes %lld, %lld, %lld are too large", fn, (long long)m,
                         (long long)n, (long long)nrhs);
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
    double *w = nbi_la_alloc(fn, nbi_la_work_qr(m, n));
    if (!w) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    nbi_la_res res = be->la_qr(be, m, n, a, lda, 1, w, q, ldq, r, ldr);
    nbi_free(w);
    char what[64];
    nbi_la_what(what, sizeof what, m, n, "matrix");
    return nbi_la_error(&res, fn, what);
}

nb_status nb_linalg_lstsq(int64_t m, int64_t n, int64_t nrhs, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float *x, int64_t ldx) {
    const char *fn = "nb_linalg_lstsq";
    nb_status s = nbi_check_mat(fn, "A", m, n, a, lda);
    if (s == NB_OK) s = nbi_check_mat(fn, "B", m, nrhs, b, ldb);
    if (s == NB_OK) s = nbi_check_mat(fn, "X", n, nrhs, x, ldx);
    if (s == NB_OK) s = check_dims(fn, m, n, nrhs);
    if (s != NB_OK) return s;
    double *w = nbi_la_alloc(fn, nbi_la_work_lstsq(m, n, nrhs));
    if (!w) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    nbi_la_res r = be->la_lstsq(be, m, n, nrhs, a, lda, 1, b, ldb, 1, w, x, ldx);
    nbi_free(w);
    char what[64];
    nbi_la_what(what, sizeof what, m, n, "matrix");
    return nbi_la_error(&r, fn, what);
}
