/* kernels/conv_rows.h — the forward convolution as a product whose A is read straight from the
 * image: no column matrix and no B panels of it (docs/conv.md "Rows read from the image").
 *
 * For stride-1 columns and no padding, the outputs j0 .. j0+rows-1 of one output row read,
 * for each tap t = (c, a, b), consecutive floats of the image: x[base + koff[t] + r], with
 * koff[t] = c·H·W + a·dh·W + b·dw. So, with Wt = W_gᵀ [Kc, Og] packed as column panels of nr
 * output channels (panel p, tap t at wp + (p·Kc + t)·nr, zeros past the group's last channel),
 *
 *   y[c·ldy + r] = Σ_t x[koff[t] + r] · wp[t·nr + c]      r < rows, c < ncols
 *
 * in one in-order chain of fused multiply-adds from 0 per element (t = 0, 1, ..., K−1). A
 * kernel keeps rows x nr sums in registers (the rows broadcast from the image, nr channels in
 * vectors of Wt) and stores them transposed, channel-major, as the lowering's Y [Og, nb·P].
 * nbi_conv_rows_ref is the scalar twin; the vector kernels (kernels/x86/conv_rows.inc) give its
 * bits. */
#ifndef NBI_CONV_ROWS_H
#define NBI_CONV_ROWS_H

#include <stdint.h>

/* rows <= the set's conv_rows_mr; nr = the set's conv_rows_nr; ncols <= nr */
typedef void (*nbi_conv_rows_fn)(int nr, const float *x, const int32_t *koff, int64_t K,
                                 const float *wp, int64_t ncols, int rows, float *y, int64_t ldy);

void nbi_conv_rows_ref(int nr, const float *x, const int32_t *koff, int64_t K, const float *wp,
                       int64_t ncols, int rows, float *y, int64_t ldy);

/* W [Og, K] row-major as ceil(Og/nr) panels of K x nr floats (Wᵀ's columns), zeros past Og */
void nbi_conv_rows_pack(const float *w, int64_t Og, int64_t K, int nr, float *wp);

#endif
