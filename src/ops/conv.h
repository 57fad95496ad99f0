/* ops/conv.h — the convolution algorithms behind the conv ops (ops/conv_lower.c), shared by
 * conv2d, conv1d and conv_transpose2d, and called directly by the tests that compare them
 * with the reference kernels.
 *
 * Two passes of one geometry g (kernels/conv.h) cover every op:
 *   forward    out (+)= act(conv(in, w) + bias)                        conv's forward
 *   backward   din += convᵀ(δ, w),  dw += Σ δ ⊗ in,  dbias += Σ δ      conv's gradients; the
 *              adjoint alone is conv_transpose's forward
 * with δ = dout, or dout ⊙ [y > 0] when the forward fused a ReLU (y its output).
 *
 * The batch is cut into pieces of `chunk` samples (0: enough for about 512 GEMM columns,
 * within NBI_CONV_PIECE_BYTES of column matrix); each piece is lowered, multiplied and
 * written back before the next, and pieces are independent, so they can run on several
 * threads. Weight and bias gradients are summed per piece and the pieces' sums added in
 * piece order, so the result does not depend on how pieces were shared out. Scratch memory
 * comes from ctx's arena and is given back before returning. */
#ifndef NBI_OPS_CONV_H
#define NBI_OPS_CONV_H

#include "autograd/autograd.h"
#include "kernels/conv.h"

#define NBI_CONV_PIECE_BYTES ((int64_t)4 << 20)

enum {
    NBI_CONV_ACCUMULATE = 1, /* forward adds to out instead of writing it */
    NBI_CONV_RELU = 2,       /* forward applies max(·, 0); backward masks with y > 0 */
};

/* Max pooling fused after the convolution (and its ReLU): windows kh x kw with stride kh, kw
 * and no padding over each output plane. The conv output itself is never written: forward
 * writes the pooled output [N, O, OH/kh, OW/kw] and arg (the flat index within the conv
 * output plane of each window's first maximum, as nbi_maxpool_forward), and backward takes
 * the pooled dout and y with that arg. Because ReLU is monotone, pool(relu(z)) = relu(pool(z))
 * and the gradient reaches z only at a window's maximum, and only if the pooled value is > 0:
 * the composition's values and gradients exactly. */
typedef struct nbi_conv_pool {
    int64_t kh, kw;
    int32_t *arg;
} nbi_conv_pool;

/* pool may be NULL (no pooling; it excludes NBI_CONV_ACCUMULATE). */
nb_status nbi_conv_forward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in, const float *w,
                           const float *bias, int flags, float *out, const nbi_conv_pool *pool,
                           int64_t chunk);

/* Any of din, dw, dbias may be NULL (in is read only for dw; y only with NBI_CONV_RELU);
 * flags: NBI_CONV_RELU or 0; pool as in forward (dout and y are then pooled). */
nb_status nbi_conv_backward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in, const float *dout,
                            const float *y, int flags, const float *w, float *din, float *dw,
                            float *dbias, const nbi_conv_pool *pool, int64_t chunk);

#endif
