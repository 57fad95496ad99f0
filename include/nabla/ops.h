/* nabla/ops.h — differentiable operations on tensors.
 *
 * Every op takes the context first, returns a new tensor in the context's arena (or NULL on
 * error: see autograd.h for the sticky-error rule), and is recorded on the tape when a
 * gradient is needed. Binary elementwise ops broadcast like NumPy: shapes are aligned at the
 * right and each pair of dimensions must be equal or one of them 1.
 *
 * Axes are given as a bit mask over dimensions (NB_AXIS(0) | NB_AXIS(2)); negative axis
 * numbers count from the end where an op takes a single axis. */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "nabla/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_AXIS(i) (1u << (i))
#define NB_ALL_AXES 0xFFu

typedef enum nb_reduction {
    NB_REDUCE_MEAN = 0, /* average over elements (batch) — the default, as in PyTorch */
    NB_REDUCE_SUM = 1,
    NB_REDUCE_NONE = 2, /* one loss per element / sample */
} nb_reduction;

/* ---- arithmetic (broadcasting) ----------------------------------------------------------- */
nb_tensor *nb_add(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_sub(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_mul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_div(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
/* a ** b elementwise; a must be positive where b's gradient is wanted. */
nb_tensor *nb_pow(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_neg(nb_ctx *ctx, nb_tensor *x);

/* scalar forms */
nb_tensor *nb_add_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x + s */
nb_tensor *nb_sub_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x - s */
nb_tensor *nb_rsub_scalar(nb_ctx *ctx, nb_tensor *x, float s); /* s - x */
nb_tensor *nb_mul_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x * s */
nb_tensor *nb_div_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x / s */
nb_tensor *nb_rdiv_scalar(nb_ctx *ctx, nb_tensor *x, float s); /* s / x */
nb_tensor *nb_pow_scalar(nb_ctx *ctx, nb_tensor *x, float p);  /* x ** p */

/* ---- elementwise math -------------------------------------------------------------------- */
nb_tensor *nb_exp(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_log(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_sqrt(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_abs(nb_ctx *ctx, nb_tensor *x);
/* min(max(x, lo), hi); the gradient passes where lo <= x <= hi. */
nb_tensor *nb_clamp(nb_ctx *ctx, nb_tensor *x, float lo, float hi);

/* ---- activations ------------------------------------------------------------------------- */
nb_tensor *nb_sigmoid(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_tanh(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_relu(nb_ctx *ctx, nb_tensor *x); /* gradient 0 at x = 0, as PyTorch */
nb_tensor *nb_leaky_relu(nb_ctx *ctx, nb_tensor *x, float negative_slope);
nb_tensor *nb_elu(nb_ctx *ctx, nb_tensor *x, float alpha);
nb_tensor *nb_gelu(nb_ctx *ctx, nb_tensor *x);      /* exact: x Φ(x) */
nb_tensor *nb_gelu_tanh(nb_ctx *ctx, nb_tensor *x); /* the tanh approximation */
nb_tensor *nb_silu(nb_ctx *ctx, nb_tensor *x);      /* x σ(x) */
/* log(1 + exp(beta x)) / beta, linear above threshold (PyTorch's defaults: 1, 20). */
nb_tensor *nb_softplus(nb_ctx *ctx, nb_tensor *x, float beta, float threshold);
nb_tensor *nb_softmax(nb_ctx *ctx, nb_tensor *x, int axis);
nb_tensor *nb_log_softmax(nb_ctx *ctx, nb_tensor *x, int axis);

/* ---- linear algebra and shape ------------------------------------------------------------ */
/* Matrix product with NumPy's rules: 1-D operands are promoted and the added dimension
 * removed; batch dimensions (all but the last two) broadcast. */
nb_tensor *nb_matmul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
/* x W + b, a dense layer's affine map, as one op: x [..., in], W [in, out], b [out] or NULL
 * (no bias); the result is [..., out]. The same values and gradients as
 * nb_add(nb_matmul(x, W), b), with one tape node and no intermediate. */
nb_tensor *nb_linear(nb_ctx *ctx, nb_tensor *x, nb_tensor *W, nb_tensor *b);
/* Swaps two axes (a view). */
nb_tensor *nb_transpose(nb_ctx *ctx, nb_tensor *x, int axis0, int axis1);
/* Reorders axes: output dim i is input dim perm[i] (a view). */
nb_tensor *nb_permute(nb_ctx *ctx, nb_tensor *x, const int *perm);
/* A new shape with the same number of elements; one entry may be -1 (inferred). A view
 * when x is contiguous, a copy otherwise. */
nb_tensor *nb_reshape(nb_ctx *ctx, nb_tensor *x, int rank, const int64_t *shape);
/* Joins tensors along an axis; all other dimensions must match. */
nb_tensor *nb_concat(nb_ctx *ctx, nb_tensor *const *xs, int n, int axis);
/* x[start:stop:step] along one axis (a view); negative start/stop count from the end,
 * step > 0. */
nb_tensor *nb_slice(nb_ctx *ctx, nb_tensor *x, int axis, int64_t start, int64_t stop,
                    int64_t step);
/* A contiguous copy (identity for gradients). */
nb_tensor *nb_contiguous(nb_ctx *ctx, nb_tensor *x);

/* ---- reductions (axes: a mask, NB_ALL_AXES for all; keepdims keeps size-1 dims) ---------- */
nb_tensor *nb_sum(nb_ctx *ctx, nb_tensor *x, unsigned axes, int keepdims);
nb_tensor *nb_mean(nb_ctx *ctx, nb_tensor *x, unsigned axes, int keepdims);
/* The gradient goes to the first maximal element of each reduced group. */
nb_tensor *nb_max(nb_ctx *ctx, nb_tensor *x, unsigned axes, int keepdims);
/* Index of the first maximum along one axis, as an i32 tensor (not differentiable). */
nb_tensor *nb_argmax(nb_ctx *ctx, nb_tensor *x, int axis, int keepdims);

/* ---- losses (pred first, then target) ---------------------------------------------------- */
nb_tensor *nb_mse_loss(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target, nb_reduction r);
nb_tensor *nb_l1_loss(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target, nb_reduction r);
/* Binary cross-entropy of probabilities p in [0, 1]; logs are clamped at -100 as PyTorch. */
nb_tensor *nb_bce_loss(nb_ctx *ctx, nb_tensor *p, nb_tensor *target, nb_reduction r);
/* The same from logits, computed stably: max(x,0) - x t + log(1 + exp(-|x|)). */
nb_tensor *nb_bce_logits_loss(nb_ctx *ctx, nb_tensor *logits, nb_tensor *target,
                              nb_reduction r);
/* Softmax cross-entropy from logits [N, C] and integer labels (i32 [N], values in [0, C)). */
nb_tensor *nb_cross_entropy(nb_ctx *ctx, nb_tensor *logits, nb_tensor *labels, nb_reduction r);
/* Negative log-likelihood from log-probabilities [N, C] and labels i32 [N]. */
nb_tensor *nb_nll_loss(nb_ctx *ctx, nb_tensor *logp, nb_tensor *labels, nb_reduction r);

#ifdef __cplusplus
}
#endif
#endif
