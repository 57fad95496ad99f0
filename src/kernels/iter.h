/* kernels/iter.h — walking a shape with several stride sets: NumPy's ufunc inner-loop design.
 *
 * Dimensions that are contiguous in every operand are merged, and a callback runs once per
 * innermost run with that run's length and inner strides. Shapes and strides only — no
 * tensors — so kernels take an iterator to walk strided operands (views, broadcasts,
 * reductions: a stride of 0 repeats an element, or, written through, sums into it). */
#ifndef NBI_ITER_H
#define NBI_ITER_H

#include "base/base.h"
#include "nabla/tensor.h"

/* Walks a shape with up to four stride sets, merging dimensions that are contiguous in all of
 * them, and calls fn once per innermost run with that run's length and inner strides: the
 * NumPy ufunc inner-loop design. Pointers are byte-free element offsets. */
#define NBI_ITER_MAX 4
typedef struct nbi_iter {
    int rank; /* after merging; at least 1 */
    int64_t shape[NB_MAX_RANK];
    int64_t stride[NBI_ITER_MAX][NB_MAX_RANK];
    int n; /* number of operands */
} nbi_iter;

void nbi_iter_init(nbi_iter *it, int rank, const int64_t *shape, int n,
                   const int64_t *const *strides);
/* Calls fn(len, off, inner, user) for every inner run: off[k] is operand k's element offset
 * of the run's first element, inner[k] its stride along the run. */
typedef void (*nbi_iter_fn)(int64_t len, const int64_t *off, const int64_t *inner, void *user);
void nbi_iter_run(const nbi_iter *it, nbi_iter_fn fn, void *user);

#endif
