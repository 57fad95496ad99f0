/* kernels/conv_dw.h — the lowering's weight gradient with the image as the broadcast operand
 * (issue 11): for one group of one piece of nb samples (P = OH·OW positions a sample, Kc taps
 * t = (c, kh, kw)),
 *
 *   dW[o][t] = Σ over positions p = (n, oh, ow) of  x[n·C·H·W + koff(t) + oh·W + ow] · δ[o][p]
 *
 * with koff(t) = c·H·W + kh·W + kw: the implicit GEMM δ · colᵀ with the roles swapped, the
 * image read where it lies (no colᵀ panels) and δ the loaded operand. Only for stride 1,
 * dilation 1 and no padding (nbi_conv_dw_img_fits). The sums run over blocks of kblk positions
 * in order, each block one fused multiply-add chain from 0, the blocks' sums added in order
 * (the first stored) — the GEMM's K blocks, so with kblk the GEMM's block length the result
 * has the bits of δ · colᵀ through that GEMM's blocked path. */
#ifndef NBI_CONV_DW_H
#define NBI_CONV_DW_H

#include <stdint.h>

struct nbi_conv_geom;

/* x: the group's first channel of the piece's first sample (as nbi_im2col's); dy: δ_g
 * [Og, nb·P]; dw: the group's [Og, Kc], written; ws: nbi_conv_dw_ws floats of workspace. */
typedef void (*nbi_conv_dw_fn)(const struct nbi_conv_geom *g, const float *x, int64_t nb,
                               const float *dy, int64_t Og, int64_t kblk, float *ws, float *dw);

/* the widest column panel of δᵀ a kernel set uses (output channels a register tile holds) */
#define NBI_CONV_DW_NR 32

/* the longest K block the vector kernels take (a table of its positions' offsets on the
 * stack), and the most floats of a piece's images (the offsets are int32) */
#define NBI_CONV_DW_KBLK 512
#define NBI_CONV_DW_MAX_IMG INT32_MAX

/* workspace floats: δᵀ and dWᵀ in column panels of up to NBI_CONV_DW_NR channels */
static inline int64_t nbi_conv_dw_ws(int64_t Og, int64_t cols, int64_t Kc) {
    const int64_t og = (Og + NBI_CONV_DW_NR - 1) / NBI_CONV_DW_NR * NBI_CONV_DW_NR;
    return og * (cols + Kc);
}

/* the shapes it computes: unit stride and dilation, no padding */
int nbi_conv_dw_img_fits(const struct nbi_conv_geom *g);

/* the scalar twin (kernels/conv_dw.c): the same sums in the same order (fmaf), no workspace */
void nbi_conv_dw_img_ref(const struct nbi_conv_geom *g, const float *x, int64_t nb, const float *dy,
                         int64_t Og, int64_t kblk, float *ws, float *dw);

#endif
