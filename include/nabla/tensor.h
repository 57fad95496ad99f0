/* nabla/tensor.h — n-dimensional arrays of f32 (values) or i32 (labels, indices).
 *
 * A tensor is a header (dtype, rank 0..8, shape, strides in elements) over storage it may
 * share with other tensors (views: reshape, transpose, permute, slice). Tensors are made in
 * a context (nb_ctx, see autograd.h), whose arena owns them until nb_ctx_reset, or on the
 * heap when ctx is NULL, in which case the caller frees them with nb_tensor_free. */
#ifndef NABLA_TENSOR_H
#define NABLA_TENSOR_H

#include "nabla/base.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_MAX_RANK 8

typedef enum nb_dtype { NB_F32 = 0, NB_I32 = 1 } nb_dtype;

typedef struct nb_ctx nb_ctx;
/* A tape entry (nabla/autograd.h): opaque; only nabla's autograd reads it. */
typedef struct nb_node nb_node;

/* Fields are public to read; change them only through the API. */
typedef struct nb_tensor {
    void *data;                     /* first element (float * or int32_t *) */
    int64_t shape[NB_MAX_RANK];
    int64_t stride[NB_MAX_RANK];    /* in elements; 0 in no dimension of a fresh tensor */
    int64_t numel;
    int rank;
    nb_dtype dtype;
    unsigned flags;                 /* NB_TF_* */
    struct nb_tensor *grad;         /* dL/dthis after nb_backward (same shape, contiguous); an
                                       op's result's is NULL again once the sweep has used it,
                                       unless retained (nb_tensor_set_retain_grad) */
    nb_node *node;                  /* the tape entry that produced it (opaque), or NULL */
    const char *name;               /* optional: parameters carry theirs */
} nb_tensor;

enum {
    NB_TF_REQUIRES_GRAD = 1u << 0, /* gradients flow to (or through) this tensor */
    NB_TF_HEAP = 1u << 1,          /* made with ctx == NULL: free with nb_tensor_free */
    NB_TF_BORROWED = 1u << 2,      /* data belongs to the caller (nb_tensor_from) */
    NB_TF_PARAM = 1u << 3,         /* a model parameter: grad is a view of a flat buffer */
    NB_TF_GRAD_HEAP = 1u << 4,     /* grad was heap-allocated for a heap leaf */
    NB_TF_RETAIN_GRAD = 1u << 5,   /* an op's result whose grad outlives nb_backward */
};

/* Shape literals: nb_zeros(ctx, NB_DIMS(2, 3)) passes rank 2 and the array {2, 3}. */
#define NB_DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* ---- creation (ctx may be NULL: the tensor is then heap-owned) --------------------------- */
nb_tensor *nb_tensor_new(nb_ctx *ctx, nb_dtype dt, int rank, const int64_t *shape);
nb_tensor *nb_zeros(nb_ctx *ctx, int rank, const int64_t *shape);
nb_tensor *nb_ones(nb_ctx *ctx, int rank, const int64_t *shape);
nb_tensor *nb_full(nb_ctx *ctx, int rank, const int64_t *shape, float value);
nb_tensor *nb_scalar(nb_ctx *ctx, float value); /* rank 0 */
/* 1-D [start, start + step, ...) below stop (like numpy.arange). */
nb_tensor *nb_arange(nb_ctx *ctx, float start, float stop, float step);
/* Uniform in [lo, hi) and normal(mean, std), drawn from `rng` in row-major order. */
nb_tensor *nb_rand(nb_ctx *ctx, int rank, const int64_t *shape, float lo, float hi, nb_rng *rng);
nb_tensor *nb_randn(nb_ctx *ctx, int rank, const int64_t *shape, float mean, float std,
                    nb_rng *rng);
/* A tensor over the caller's contiguous buffer (not copied; must outlive the tensor). */
nb_tensor *nb_tensor_from(nb_ctx *ctx, nb_dtype dt, void *data, int rank, const int64_t *shape);
/* A new contiguous tensor holding a copy of `n` values from `src`. */
nb_tensor *nb_tensor_copy_of(nb_ctx *ctx, const float *src, int rank, const int64_t *shape);
/* A contiguous deep copy (no autograd link). */
nb_tensor *nb_tensor_clone(nb_ctx *ctx, const nb_tensor *t);
/* Frees a heap tensor (ctx == NULL at creation) and its heap gradient. No-op on NULL and on
 * tensors owned by a context. */
void nb_tensor_free(nb_tensor *t);

/* ---- access ------------------------------------------------------------------------------ */
static inline float *nb_f32(const nb_tensor *t) { return (float *)t->data; }
static inline int32_t *nb_i32(const nb_tensor *t) { return (int32_t *)t->data; }
int nb_tensor_is_contiguous(const nb_tensor *t);
int nb_tensor_same_shape(const nb_tensor *a, const nb_tensor *b);
/* Element at a multi-index (rank entries), as float (i32 converted). */
float nb_tensor_get(const nb_tensor *t, const int64_t *idx);
nb_status nb_tensor_set(nb_tensor *t, const int64_t *idx, float v);
/* The single value of a one-element tensor (a loss, say). */
float nb_item(const nb_tensor *t);
/* Fills every element. */
nb_status nb_tensor_fill(nb_tensor *t, float v);
/* Copies src's values into dst (same shape, any strides, f32 or i32 to the same dtype). */
nb_status nb_tensor_copy(nb_tensor *dst, const nb_tensor *src);
/* Marks a leaf f32 tensor as one whose gradient nb_backward should compute (on = 1), or not.
 * Whether it does is the flag NB_TF_REQUIRES_GRAD. */
void nb_tensor_set_requires_grad(nb_tensor *t, int on);
/* Keeps the gradient of an op's result after nb_backward (on = 1), or not (the flag
 * NB_TF_RETAIN_GRAD). Leaves (parameters, tensors marked with nb_tensor_set_requires_grad)
 * always keep theirs; an op's result's gradient (dL/dz of a layer's pre-activation z, say) is
 * given back to the context as soon as the backward sweep has used it, and its grad is NULL
 * after nb_backward, unless it is retained here, before nb_backward, or the context keeps every
 * gradient (nb_ctx_set_keep_grads). PyTorch's retain_grad(). */
void nb_tensor_set_retain_grad(nb_tensor *t, int on);

/* "f32[2,3]" into buf; returns buf. */
char *nb_shape_str(const nb_tensor *t, char *buf, size_t n);

/* NumPy-style text: array([[1., 2.], [3., 4.]]) with aligned columns; large tensors are
 * summarised with "..." like numpy (threshold 1000 elements, 3 edge items). */
nb_status nb_tensor_print(const nb_tensor *t, FILE *f);
/* The same text into buf (truncated to n-1 characters); returns the full length. */
size_t nb_tensor_format(const nb_tensor *t, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
