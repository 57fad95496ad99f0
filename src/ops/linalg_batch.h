/* ops/linalg_batch.h — batching for the tensor-level linear algebra (ops/linalg.c and
 * ops/factor.c): the leading dimensions of [..., m, n] operands index a batch of matrices, and
 * broadcast NumPy-style between operands (a dimension of 1, or a missing one, repeats). */
#ifndef NBI_OPS_LINALG_BATCH_H
#define NBI_OPS_LINALG_BATCH_H

#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <stdio.h>

/* Element strides with which t's first tb dimensions (its batch) are read when broadcast to
 * the r-dimensional batch `shape`: 0 along dimensions t lacks or has as 1. */
static inline void nbi_lb_strides(const nb_tensor *t, int tb, int r, const int64_t *shape,
                                  int64_t *st) {
    for (int i = 0; i < r; i++) {
        int it = tb - r + i;
        st[i] = (it >= 0 && t->shape[it] != 1 && shape[i] != 1) ? t->stride[it] : 0;
    }
}

/* Offset of batch item k (row-major over shape) through strides st. */
static inline int64_t nbi_lb_off(int r, const int64_t *shape, const int64_t *st, int64_t k) {
    int64_t off = 0;
    for (int d = r - 1; d >= 0; d--) {
        off += (k % shape[d]) * st[d];
        k /= shape[d];
    }
    return off;
}

/* Names batch item k of t (batch rank tb) for messages: "the f32[3,3] matrix" when t holds
 * one matrix, else "matrix [1,0] of f32[2,2,3,3]". k indexes the r-dimensional batch shape
 * t broadcasts to; the index printed is t's own. */
static inline void nbi_lb_what(char *buf, size_t cap, const nb_tensor *t, int tb, int r,
                               const int64_t *shape, int64_t k) {
    char sh[96];
    nb_shape_str(t, sh, sizeof sh);
    if (tb == 0) {
        snprintf(buf, cap, "the %s matrix", sh);
        return;
    }
    int64_t idx[NB_MAX_RANK];
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = k % shape[d];
        k /= shape[d];
    }
    char ix[96];
    size_t len = 0;
    ix[len++] = '[';
    for (int i = 0; i < tb && len + 24 < sizeof ix; i++) {
        int64_t v = t->shape[i] == 1 ? 0 : idx[r - tb + i];
        len += (size_t)snprintf(ix + len, sizeof ix - len, "%s%lld", i ? "," : "", (long long)v);
    }
    ix[len++] = ']';
    ix[len] = '\0';
    snprintf(buf, cap, "matrix %s of %s", ix, sh);
}

/* Double workspace in the context's arena (count overflow-checked). */
static inline double *nbi_lb_scratch(nb_ctx *ctx, size_t count, const char *what) {
    size_t bytes;
    if (!nbi_mul_size(count ? count : 1, sizeof(double), &bytes)) {
        nbi_error(NB_ERR_NOMEM, "%s: workspace size overflows", what);
        nbi_fail(ctx, NB_ERR_NOMEM);
        return NULL;
    }
    return nbi_ctx_alloc(ctx, bytes, what);
}

#endif
