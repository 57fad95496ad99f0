/* kernels/iter.c — the strided iterator (see iter.h). */
#include "kernels/iter.h"

void nbi_iter_init(nbi_iter *it, int rank, const int64_t *shape, int n,
                   const int64_t *const *strides) {
    NBI_ASSERT(n >= 1 && n <= NBI_ITER_MAX);
    it->n = n;
    /* Drop size-1 dimensions, then merge neighbours that are contiguous in every operand. */
    int r = 0;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == 1) continue;
        if (r > 0) {
            bool merge = true;
            for (int k = 0; k < n; k++)
                if (it->stride[k][r - 1] != strides[k][d] * shape[d]) merge = false;
            if (merge) {
                it->shape[r - 1] *= shape[d];
                for (int k = 0; k < n; k++) it->stride[k][r - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[r] = shape[d];
        for (int k = 0; k < n; k++) it->stride[k][r] = strides[k][d];
        r++;
    }
    if (r == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < n; k++) it->stride[k][0] = 0;
        r = 1;
    }
    it->rank = r;
}

void nbi_iter_run(const nbi_iter *it, nbi_iter_fn fn, void *user) {
    int r = it->rank, n = it->n;
    int64_t inner[NBI_ITER_MAX], off[NBI_ITER_MAX] = {0};
    for (int k = 0; k < n; k++) inner[k] = it->stride[k][r - 1];
    int64_t len = it->shape[r - 1];
    if (len == 0) return;
    for (int d = 0; d < r - 1; d++)
        if (it->shape[d] == 0) return;
    int64_t idx[NB_MAX_RANK] = {0};
    for (;;) {
        fn(len, off, inner, user);
        int d = r - 2;
        for (; d >= 0; d--) {
            idx[d]++;
            for (int k = 0; k < n; k++) off[k] += it->stride[k][d];
            if (idx[d] < it->shape[d]) break;
            for (int k = 0; k < n; k++) off[k] -= it->stride[k][d] * it->shape[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}
