/* linalg/linalg.h — the raw routines of include/nabla/linalg.h (nb_linalg_*: row-major f32
 * matrices by pointer and leading dimension, no tensors, no context) on top of the linear
 * algebra kernels (kernels/linalg.h), which they reach through the default back end
 * (nbi_backend_default, as nb_sgemm does) or, for what no entry does (LU factors in place,
 * solving from given factors, determinants in double), call directly. The tensor forms are
 * ops/linalg.c and ops/factor.c. */
#ifndef NBI_LINALG_H
#define NBI_LINALG_H

#include "kernels/backend.h"
#include "kernels/linalg.h"

/* Validates a raw operand: sizes ≥ 0, a pointer when non-empty, ld ≥ cols. */
nb_status nbi_check_mat(const char *fn, const char *name, int64_t rows, int64_t cols, const void *p,
                        int64_t ld);

/* A workspace of `count` doubles from nbi_malloc (at least one), NULL with NB_ERR_NOMEM and a
 * message naming fn when it overflows or the allocation fails. Release with nbi_free. */
double *nbi_la_alloc(const char *fn, size_t count);

/* "the 3x4 matrix" (or "factor") into buf, for messages. */
void nbi_la_what(char *buf, size_t cap, int64_t rows, int64_t cols, const char *noun);

#endif
