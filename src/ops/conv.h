/* ops/conv.h — the two passes behind the conv ops, shared by conv2d, conv1d and
 * conv_transpose2d, and called directly by the tests that compare them with the reference
 * kernels: the context's back end runs them (the CPU's lowering onto GEMM is
 * kernels/conv_lower.c) in scratch memory from the context's arena.
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
 * comes from ctx's arena and is given back before returning. The flags, the pooling struct
 * and the piece size are kernels/conv.h's. */
#ifndef NBI_OPS_CONV_H
#define NBI_OPS_CONV_H

#include "autograd/autograd.h"
#include "kernels/conv.h"

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
