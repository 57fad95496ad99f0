/* ops/conv.h — the convolution algorithms behind the conv ops (ops/conv_lower.c), shared by
 * conv2d, conv1d and conv_transpose2d, and called directly by the tests that compare them
 * with the reference kernels.
 *
 * Three products of one geometry g (kernels/conv.h) cover every op:
 *   forward   out  (+)= conv(in, w) + bias                      conv's forward
 *   adjoint   din   += convᵀ(dout, w)                           conv's dx; conv_transpose's y
 *   weight    dw    += Σ dout ⊗ in over positions               conv's dw
 * Each processes the batch in chunks of at most `chunk` samples (0: chosen so the column
 * matrix stays within NBI_CONV_COL_BYTES), with scratch memory from ctx's arena given back
 * before returning. */
#ifndef NBI_OPS_CONV_H
#define NBI_OPS_CONV_H

#include "autograd/autograd.h"
#include "kernels/conv.h"

/* The column matrix's budget: large enough that the GEMM sees long rows, small enough to
 * stay in the outer caches. */
#define NBI_CONV_COL_BYTES ((size_t)4 << 20)

/* out = conv(in, w) + bias (bias may be NULL), or out += conv(in, w) when accumulate. */
nb_status nbi_conv_forward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in,
                           const float *w, const float *bias, int accumulate, float *out,
                           int64_t chunk);
/* din += convᵀ(dout, w) (the adjoint) and dw += Σ dout ⊗ in (the weight product); either
 * output may be NULL (in is read only for dw), and both share the layout change of dout. */
nb_status nbi_conv_backward(nb_ctx *ctx, const nbi_conv_geom *g, const float *in,
                            const float *dout, const float *w, float *din, float *dw,
                            int64_t chunk);

#endif
