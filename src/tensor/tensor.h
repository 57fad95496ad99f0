/* tensor/tensor.h — internal tensor helpers: allocation in a context or on the heap, shape
 * arithmetic, broadcasting and strided iteration. */
#ifndef NBI_TENSOR_H
#define NBI_TENSOR_H

#include "base/base.h"
#include "nabla/tensor.h"
#include "kernels/iter.h"
#include "tensor/ctx.h"

static inline size_t nbi_dtype_size(nb_dtype dt) { return dt == NB_I32 ? 4 : 4; }
static inline const char *nbi_dtype_name(nb_dtype dt) { return dt == NB_I32 ? "i32" : "f32"; }

/* Checks a rank/shape pair (0 <= rank <= 8, dims >= 0, product fits) and returns the element
 * count in *numel. `what` names the caller in the error message. */
nb_status nbi_check_shape(const char *what, int rank, const int64_t *shape, int64_t *numel);

/* Sets contiguous (row-major) strides and numel from rank/shape. */
void nbi_set_contiguous(nb_tensor *t);

/* A tensor block's header, rounded up so the data that follows it in the same block is
 * NBI_ALIGN-aligned: nbi_tensor_alloc and nbi_tensor_like make blocks of NBI_TENSOR_HDR +
 * the data's bytes, data at (char *)t + NBI_TENSOR_HDR. */
#define NBI_TENSOR_HDR ((sizeof(nb_tensor) + NBI_ALIGN - 1) & ~(size_t)(NBI_ALIGN - 1))

/* A tensor header in ctx's arena (or on the heap when ctx is NULL) with fresh, uninitialised
 * contiguous storage. */
nb_tensor *nbi_tensor_alloc(nb_ctx *ctx, nb_dtype dt, int rank, const int64_t *shape);
/* A new contiguous tensor of t's shape (already valid: not re-checked), header and data in
 * one block, data uninitialised. */
nb_tensor *nbi_tensor_like(nb_ctx *ctx, const nb_tensor *t, nb_dtype dt);
/* A header only (data NULL), in ctx's arena or on the heap. */
nb_tensor *nbi_tensor_header(nb_ctx *ctx);

/* nb_tensor_copy on back end be: dst = src, same shape and dtype, any strides. */
nb_status nbi_tensor_copy_on(const nbi_backend *be, nb_tensor *dst, const nb_tensor *src);

/* t itself when contiguous, else a contiguous copy in the arena (not recorded). Vectors and
 * matrices, nearly every operand of a small network's ops, are tested inline (the same test
 * as nb_tensor_is_contiguous, written out for ranks 1 and 2); the rest go to nbi_contig_any. */
nb_tensor *nbi_contig_any(nb_ctx *ctx, nb_tensor *t);
static inline nb_tensor *nbi_contig(nb_ctx *ctx, nb_tensor *t) {
    if (t->rank == 2 && (t->shape[1] == 1 || t->stride[1] == 1) &&
        (t->shape[0] == 1 || t->stride[0] == t->shape[1]))
        return t;
    if (t->rank == 1 && (t->shape[0] == 1 || t->stride[0] == 1)) return t;
    return nbi_contig_any(ctx, t);
}

/* Broadcasts two shapes into out (rank *out_rank); false if incompatible. */
bool nbi_broadcast_shape(int ra, const int64_t *sa, int rb, const int64_t *sb, int *out_rank,
                         int64_t *out);
/* The strides with which `t` is read when broadcast to shape (rank r): t's dims are aligned
 * right; broadcast (size-1 or missing) dims get stride 0. */
void nbi_broadcast_strides(const nb_tensor *t, int r, const int64_t *shape, int64_t *strides);

/* Shape text "[2,3]" (no dtype). */
char *nbi_dims_str(int rank, const int64_t *shape, char *buf, size_t n);

#endif
