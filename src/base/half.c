/* base/half.c — binary16 conversions (base/half.h), on the bits. */
#include "base/half.h"

#include <string.h>

float nbi_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = h >> 10 & 0x1Fu, m = h & 0x3FFu;
    uint32_t bits;
    if (e == 0x1F) { /* inf, NaN: the payload widened */
        bits = sign | 0x7F800000u | m << 13;
    } else if (e != 0) { /* normal: the exponent rebased from 15 to 127 */
        bits = sign | (e + 112) << 23 | m << 13;
    } else if (m == 0) {
        bits = sign;
    } else { /* subnormal m·2^-24: normalise m so that its leading 1 is bit 10 */
        int s = 0;
        uint32_t mm = m;
        while (!(mm & 0x400u)) mm <<= 1, s++;
        bits = sign | (uint32_t)(113 - s) << 23 | (mm & 0x3FFu) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* q >> s rounded to nearest, ties to even (1 ≤ s ≤ 31) */
static uint32_t shift_rne(uint32_t q, int s) {
    const uint32_t r = q & ((1u << s) - 1), half = 1u << (s - 1), h = q >> s;
    return r > half || (r == half && (h & 1u)) ? h + 1 : h;
}

uint16_t nbi_half_from_float(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    const uint16_t sign = (uint16_t)(bits >> 16 & 0x8000u);
    const uint32_t a = bits & 0x7FFFFFFFu;
    if (a > 0x7F800000u) /* NaN: quiet, the top of the payload */
        return (uint16_t)(sign | 0x7E00u | (a >> 13 & 0x3FFu));
    if (a >= 0x477FF000u) /* ≥ 65520 (half-way from 65504 to 2^16) and inf */
        return (uint16_t)(sign | 0x7C00u);
    if (a >= 0x38800000u) /* ≥ 2^-14: a normal half; a carry out of the mantissa bumps e */
        return (uint16_t)(sign | shift_rne(a - 0x38000000u, 13));
    if (a <= 0x33000000u) /* ≤ 2^-25, half of the smallest subnormal: ties to 0 */
        return sign;
    /* a subnormal half: the value m·2^(e−150) in units of 2^-24 is m >> (126 − e) */
    const uint32_t e = a >> 23, m = (a & 0x7FFFFFu) | 0x800000u;
    return (uint16_t)(sign | shift_rne(m, (int)(126 - e)));
}
