/* tests/support/floats.h — float buffers for the kernel tests (test_conv_dw,
 * test_conv_implicit): allocate, fill with uniform draws in [-1, 1), compare bit for bit. */
#ifndef NBT_FLOATS_H
#define NBT_FLOATS_H

#include <string.h>

#include "nabla.h"
#include "nbtest.h"

/* n floats (at least one), reported as a failure when the allocation fails */
static inline float *nbt_alloc_f(int64_t n) {
    float *p = nb_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    CHECK_PTR(p);
    return p;
}

static inline void nbt_fill(float *p, int64_t n, nb_rng *rng) {
    for (int64_t i = 0; i < n; i++) p[i] = nb_rng_uniform_range(rng, -1.0f, 1.0f);
}

/* the same bits (NaNs and signed zeros included) */
static inline int nbt_same(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

#endif
