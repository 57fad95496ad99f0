/* tests/support/conv_geom.h — a convolution's geometry from one row of a test table, for the
 * convolution kernel tests (test_conv, test_conv_direct, test_conv_implicit).
 *
 * The row is {N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl, pr, dh, dw, groups}; the output size
 * is computed here from its definition, not by the library, so that the tests stay an oracle
 * of it. */
#ifndef NBT_CONV_GEOM_H
#define NBT_CONV_GEOM_H

#include "kernels/conv.h"

static inline nbi_conv_geom nbt_conv_geom(const int64_t *q) {
    nbi_conv_geom g = {.N = q[0],
                       .C = q[1],
                       .H = q[2],
                       .W = q[3],
                       .O = q[4],
                       .KH = q[5],
                       .KW = q[6],
                       .sh = q[7],
                       .sw = q[8],
                       .pt = q[9],
                       .pb = q[10],
                       .pl = q[11],
                       .pr = q[12],
                       .dh = q[13],
                       .dw = q[14],
                       .groups = q[15]};
    g.OH = (g.H + g.pt + g.pb - g.dh * (g.KH - 1) - 1) / g.sh + 1;
    g.OW = (g.W + g.pl + g.pr - g.dw * (g.KW - 1) - 1) / g.sw + 1;
    return g;
}

#endif
