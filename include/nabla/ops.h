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

/* ---- elementwise ops and activations ----------------------------------------------------
 * Declared from nabla/ops.def, which says what each computes: the broadcasting binary ops
 *   nb_add, nb_sub, nb_mul, nb_div, nb_pow            (nb_ctx *ctx, nb_tensor *a, nb_tensor *b)
 * and the elementwise functions without parameters
 *   nb_neg, nb_exp, nb_log, nb_sqrt, nb_abs, nb_sigmoid, nb_tanh, nb_relu, nb_gelu,
 *   nb_gelu_tanh, nb_silu, nb_mish, ...                 (nb_ctx *ctx, nb_tensor *x) */
#define NB_BINARY(ID, name) nb_tensor *nb_##name(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
#define NB_UNARY(ID, name, NP, CHECK) NB_DECLARE_UNARY_##NP(name)
#define NB_DECLARE_UNARY_0(name) nb_tensor *nb_##name(nb_ctx *ctx, nb_tensor *x);
#define NB_DECLARE_UNARY_1(name)
#define NB_DECLARE_UNARY_2(name)
#include "nabla/ops.def"
#undef NB_DECLARE_UNARY_0
#undef NB_DECLARE_UNARY_1
#undef NB_DECLARE_UNARY_2

/* ---- elementwise ops with parameters (their formulas: nabla/ops.def) ------------------- */
nb_tensor *nb_add_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x + s */
nb_tensor *nb_sub_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x - s */
nb_tensor *nb_rsub_scalar(nb_ctx *ctx, nb_tensor *x, float s); /* s - x */
nb_tensor *nb_mul_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x * s */
nb_tensor *nb_div_scalar(nb_ctx *ctx, nb_tensor *x, float s);  /* x / s */
nb_tensor *nb_rdiv_scalar(nb_ctx *ctx, nb_tensor *x, float s); /* s / x */
nb_tensor *nb_pow_scalar(nb_ctx *ctx, nb_tensor *x, float p);  /* x ** p */
/* min(max(x, lo), hi); the gradient passes where lo <= x <= hi. NB_ERR_ARG if lo > hi. */
nb_tensor *nb_clamp(nb_ctx *ctx, nb_tensor *x, float lo, float hi);
nb_tensor *nb_leaky_relu(nb_ctx *ctx, nb_tensor *x, float negative_slope);
nb_tensor *nb_elu(nb_ctx *ctx, nb_tensor *x, float alpha);
/* log(1 + exp(beta x)) / beta, linear above threshold (PyTorch's defaults: 1, 20). */
nb_tensor *nb_softplus(nb_ctx *ctx, nb_tensor *x, float beta, float threshold);

/* ---- softmax along an axis ---------------------------------------------------------------- */
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

/* ---- convolution (NCHW activations and OIHW weights: PyTorch's layouts) --------------------
 * conv2d:  x [N, C, H, W], w [O, C/groups, KH, KW], b [O] or NULL  →  y [N, O, OH, OW] with
 *          y[n,o,i,j] = b[o] + Σ_{c,a,b} w[o,c,a,b] x[n, g·C/groups + c, i·sh − pt + a·dh,
 *                                                        j·sw − pl + b·dw]
 *          (g the group of o, x zero outside the image),
 *          OH = floor((H + pt + pb − dh·(KH − 1) − 1) / sh) + 1, and likewise OW.
 * conv1d:  the same on x [N, C, L], w [O, C/groups, K] (index 0 of the per-dimension fields).
 * conv_transpose2d: PyTorch's ConvTranspose2d, the adjoint of conv2d: x [N, Cin, H, W],
 *          w [Cin, Cout/groups, KH, KW], b [Cout] → y [N, Cout, OH, OW] with
 *          OH = (H − 1)·sh − pt − pb + dh·(KH − 1) + output_padding_h + 1.
 * Options are per spatial dimension in order (h, w); zero fields take the defaults. */
typedef struct nb_conv_opts {
    int64_t stride[2];         /* 0 means 1 */
    int64_t dilation[2];       /* 0 means 1 */
    int64_t pad[4];            /* zero padding before and after each dimension: top, bottom,
                                  left, right (conv1d: left, right) */
    int same;                  /* 1: PyTorch's padding="same" (overrides pad; stride must be 1):
                                  total dh·(KH−1), half before, the odd one after */
    int64_t groups;            /* 0 means 1; groups = C = O is a depthwise convolution */
    int64_t output_padding[2]; /* conv_transpose2d only: added to the far side of the output,
                                  below the stride or the dilation */
    int relu;                  /* 1: y = max(conv + b, 0) fused in one op (the same values and
                                  gradients as nb_relu after it, in fewer passes over memory) */
    int64_t max_pool[2];       /* conv2d only: (kh, kw) > 0 fuses a max pooling with window =
                                  stride = kh x kw and no padding after the conv (and ReLU):
                                  nb_max_pool2d's values and gradients, without ever writing
                                  the conv output; kw 0 means kh */
} nb_conv_opts;

/* opts may be NULL (stride 1, no padding, no dilation, one group). */
nb_tensor *nb_conv2d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                     const nb_conv_opts *opts);
nb_tensor *nb_conv1d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                     const nb_conv_opts *opts);
nb_tensor *nb_conv_transpose2d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                               const nb_conv_opts *opts);

/* ---- pooling (x [N, C, H, W]) ----------------------------------------------------------------
 * Windows of kernel KH×KW moved by the stride over the image padded by pad (top, bottom,
 * left, right; each at most half the kernel, as PyTorch requires); output sizes as conv2d's.
 * max: padding never wins; the gradient goes to the first maximal element of each window.
 * avg: divides by KH·KW (PyTorch's default count_include_pad=True) or, with exclude_pad, by
 * the number of image elements in the window. Floor rounding (PyTorch's ceil_mode=False). */
typedef struct nb_pool_opts {
    int64_t kernel[2];   /* required */
    int64_t stride[2];   /* 0 means the kernel size (PyTorch's default) */
    int64_t pad[4];
    int64_t dilation[2]; /* max only; 0 means 1 */
    int exclude_pad;     /* avg only: 1 = count_include_pad=False */
} nb_pool_opts;

nb_tensor *nb_max_pool2d(nb_ctx *ctx, nb_tensor *x, const nb_pool_opts *opts);
nb_tensor *nb_avg_pool2d(nb_ctx *ctx, nb_tensor *x, const nb_pool_opts *opts);
/* The mean over every position: [N, C, H, W] → [N, C] (nb_mean over axes 2 and 3). */
nb_tensor *nb_global_avg_pool2d(nb_ctx *ctx, nb_tensor *x);
/* [N, d1, d2, ...] → [N, d1·d2·...] (a reshape; a view of contiguous input). */
nb_tensor *nb_flatten(nb_ctx *ctx, nb_tensor *x);

/* ---- normalisation and dropout --------------------------------------------------------------
 * Batch normalisation over channel axis 1 of x [N, C] or [N, C, ...] (PyTorch's BatchNorm1d
 * and BatchNorm2d): per channel c, with the statistics over every other axis (M values),
 *   training:  μ = mean, σ² = (1/M) Σ (x − μ)²  (biased), y = γ (x − μ)/sqrt(σ² + eps) + β,
 *              and, when running statistics are given, in place:
 *              running_mean ← (1 − momentum) running_mean + momentum μ
 *              running_var  ← (1 − momentum) running_var  + momentum σ² M/(M − 1)  (unbiased)
 *   eval:      y = γ (x − running_mean)/sqrt(running_var + eps) + β  (running stats required)
 * weight γ [C] and bias β [C] may be NULL (no affine); the running statistics are [C] f32
 * tensors without gradients. Training needs M > 1. PyTorch's defaults: momentum 0.1,
 * eps 1e-5. The gradient flows through the batch statistics in training mode. */
nb_tensor *nb_batch_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *weight, nb_tensor *bias,
                         nb_tensor *running_mean, nb_tensor *running_var, int training,
                         float momentum, float eps);

/* Inverted dropout: in training, each element is zeroed with probability p and the others
 * scaled by 1/(1 − p), so the expectation is unchanged; otherwise (or for p = 0) x itself.
 * The mask is drawn from rng (which advances by one 64-bit draw per call, whatever the size
 * of x); the same rng state gives the same mask. 0 <= p <= 1 (p = 1 gives zeros). */
nb_tensor *nb_dropout(nb_ctx *ctx, nb_tensor *x, float p, int training, nb_rng *rng);

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

/* ---- seqops: sequence ops (language models) --------------------------------------------------
 * Embedding lookup, PyTorch's F.embedding: ids i32 [...] (values in [0, V)), weight [V, D] →
 * [..., D]. The gradient is a scatter-add into weight, summed in token order (the same on any
 * number of threads). padding_idx in [-V, V) (negative counts from the end) names a row that
 * never receives a gradient; NB_NO_PADDING for none. An id outside [0, V) is an error naming
 * its position. */
#define NB_NO_PADDING INT64_MIN
nb_tensor *nb_embedding(nb_ctx *ctx, nb_tensor *ids, nb_tensor *weight, int64_t padding_idx);

/* Layer normalisation over the last axis (PyTorch's F.layer_norm with normalized_shape = the
 * last dimension D): y = (x − μ)/sqrt(σ² + eps) ⊙ weight + bias, μ and the biased σ² over each
 * row of D. weight and bias [D] may be NULL (1 and 0). PyTorch's default eps: 1e-5. */
nb_tensor *nb_layer_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *weight, nb_tensor *bias,
                         float eps);
/* RMS normalisation over the last axis: y = x / sqrt(mean(x²) + eps) ⊙ weight (weight [D] or
 * NULL), as torch.nn.RMSNorm (PyTorch 2.4+; its default eps is float32's epsilon). */
nb_tensor *nb_rms_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *weight, float eps);

/* Cross-entropy of logits [..., V] (classes on the last axis: (B, T, V) for a language
 * model) and i32 targets [...] with PyTorch's semantics — F.cross_entropy(logits.reshape(-1,
 * V), targets.reshape(-1), ignore_index=, label_smoothing=, reduction=):
 *   ℓ = −Σ_c q_c log softmax(x)_c with q = (1 − ε) one_hot(y) + ε/V (ε = label_smoothing in
 *   [0, 1]); positions whose target is ignore_index give 0 and no gradient; MEAN averages over
 *   the positions not ignored (NaN if all are), SUM sums, NONE returns [...] (PyTorch's
 *   defaults: NB_REDUCE_MEAN, ignore_index -100, label_smoothing 0). A target outside [0, V)
 *   that is not ignore_index is an error naming its position. */
nb_tensor *nb_cross_entropy_ex(nb_ctx *ctx, nb_tensor *logits, nb_tensor *targets, nb_reduction r,
                               int64_t ignore_index, float label_smoothing);

/* Scaled dot-product attention, one fused op: q [B, H, Tq, d], k [B, H, Tk, d],
 * v [B, H, Tk, dv] → [B, H, Tq, dv], o_i = Σ_j softmax_j(scale q_i·k_j + mask)_j v_j, computed
 * in tiles with an online softmax (no Tq × Tk matrix is stored); q, k, v may be views whose
 * rows (the last axis) are contiguous — nothing is copied. key_mask [B, Tk] may be NULL,
 * f32 (added to the scores: −inf removes a key) or i32 (nonzero: the key is ignored, as
 * nn.MultiheadAttention's key_padding_mask); it takes no gradient. With causal, query i sees
 * keys j <= Tk − Tq + i: Tq = Tk is ordinary causal self-attention, Tq < Tk lets new queries
 * attend to a KV cache. A query that sees no key gets 0 (PyTorch: NaN). opts may be NULL. */
typedef struct nb_attention_opts {
    int causal;
    float scale;   /* 0: 1/sqrt(d) */
    float dropout; /* probability of zeroing each attention weight, in training; [0, 1) */
    int training;  /* dropout applies only when set */
    nb_rng *rng;   /* dropout's generator (one draw a call); required with dropout */
} nb_attention_opts;
nb_tensor *nb_attention(nb_ctx *ctx, nb_tensor *q, nb_tensor *k, nb_tensor *v,
                        nb_tensor *key_mask, const nb_attention_opts *opts);
/* Self-attention of `heads` heads straight from a QKV projection's packed output:
 * qkv [B, T, 3E] (q, k, v side by side; head h at features h·d .. (h+1)·d of each,
 * d = E/heads) → [B, T, E] (the heads side by side, ready for the output projection). The
 * same values and gradients as nb_attention on the heads cut out of qkv, without cutting
 * them: the kernels read and write the packed layouts. key_mask [B, T] or NULL. */
nb_tensor *nb_attention_qkv(nb_ctx *ctx, nb_tensor *qkv, int64_t heads, nb_tensor *key_mask,
                            const nb_attention_opts *opts);

/* Recurrent layers, one layer in one direction, with PyTorch's layouts, gate order and
 * equations (nn.RNN, nn.LSTM: gates i, f, g, o; nn.GRU: gates r, z, n, the reset gate applied
 * to W_hn h + b_hn): x [B, T, I] (batch first), h0 [B, H] (and c0), W_ih [G·H, I],
 * W_hh [G·H, H], b_ih, b_hh [G·H] with G = 1, 4, 3. h0, c0 and the biases may be NULL (zeros).
 * Results: y [B, T, H], the final states h [B, H] and, for LSTM, c [B, H] — views of one
 * packed tensor of the op (all NULL on error). Several layers, both directions and dropout
 * between layers are built from these. */
typedef struct nb_rnn_opts {
    nb_tensor *lengths; /* i32 [B], values in [0, T], or NULL (all T): at steps t >= lengths[b]
                           sample b keeps its state and outputs 0, as pack_padded_sequence */
    int reverse;        /* process t = T − 1 down to 0 (each sample from its own last step) */
    int relu;           /* nb_rnn only: relu instead of tanh */
} nb_rnn_opts;
typedef struct nb_rnn_out {
    nb_tensor *y, *h, *c; /* c: LSTM only */
} nb_rnn_out;
nb_rnn_out nb_rnn(nb_ctx *ctx, nb_tensor *x, nb_tensor *h0, nb_tensor *W_ih, nb_tensor *W_hh,
                  nb_tensor *b_ih, nb_tensor *b_hh, const nb_rnn_opts *opts);
nb_rnn_out nb_lstm(nb_ctx *ctx, nb_tensor *x, nb_tensor *h0, nb_tensor *c0, nb_tensor *W_ih,
                   nb_tensor *W_hh, nb_tensor *b_ih, nb_tensor *b_hh, const nb_rnn_opts *opts);
nb_rnn_out nb_gru(nb_ctx *ctx, nb_tensor *x, nb_tensor *h0, nb_tensor *W_ih, nb_tensor *W_hh,
                  nb_tensor *b_ih, nb_tensor *b_hh, const nb_rnn_opts *opts);
/* ---- end seqops ---- */

#ifdef __cplusplus
}
#endif
#endif
