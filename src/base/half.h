/* base/half.h — IEEE 754 binary16 ("half") to and from binary32, the scalar reference.
 *
 * nbi_half_to_float is exact (every half is a float). nbi_half_from_float rounds to the
 * nearest half, ties to even, as F16C's VCVTPS2PH with round-to-nearest and numpy's
 * astype(float16) do: magnitudes from 65520 up (and ±inf) give ±inf, results below 2^-14 are
 * subnormal halves (down to 2^-24, and ±0), a NaN stays a NaN of the same sign, quiet, with
 * the top 9 bits of its payload. The scalar reference of the f16 dataset store (NB_ELEM_F16;
 * the kernel table's half_to_f32 and f32_to_half, kernels/ref/half.c). */
#ifndef NBI_HALF_H
#define NBI_HALF_H

#include <stdint.h>

float nbi_half_to_float(uint16_t h);
uint16_t nbi_half_from_float(float f);

#endif
