/* base/rng.c — xoshiro256** seeded by SplitMix64; samplers built on it.
 *
 * No global state: every draw takes an explicit nb_rng, so a seed fixes a run. */
#include "base/base.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nb_rng_seed(nb_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->spare = 0.0f;
    r->has_spare = 0;
}

__extension__ typedef unsigned __int128 u128;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> ((64 - k) & 63)); }

uint64_t nb_rng_u64(nb_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

nb_rng nb_rng_split(nb_rng *parent) {
    /* Two parent draws, mixed through SplitMix64 with a distinct constant, seed the child:
     * the child's state is not a shifted copy of the parent's sequence. */
    uint64_t x = nb_rng_u64(parent) ^ 0x6A09E667F3BCC909ull;
    uint64_t y = nb_rng_u64(parent);
    nb_rng c;
    for (int i = 0; i < 4; i++) c.s[i] = splitmix64(&x) ^ rotl(y, 16 * i);
    if (!(c.s[0] | c.s[1] | c.s[2] | c.s[3])) c.s[0] = 1;
    c.spare = 0.0f;
    c.has_spare = 0;
    return c;
}

uint64_t nb_rng_below(nb_rng *r, uint64_t n) {
    NBI_ASSERT(n > 0);
    /* Lemire's multiply-shift with rejection: exact uniformity. */
    uint64_t x = nb_rng_u64(r);
    u128 m = (u128)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = nb_rng_u64(r);
            m = (u128)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

float nb_rng_uniform(nb_rng *r) { return (float)(nb_rng_u64(r) >> 40) * 0x1.0p-24f; }

float nb_rng_uniform_range(nb_rng *r, float lo, float hi) {
    return lo + (hi - lo) * nb_rng_uniform(r);
}

float nb_rng_normal(nb_rng *r, float mean, float std) {
    if (r->has_spare) {
        r->has_spare = 0;
        return mean + std * r->spare;
    }
    /* Box-Muller in double; u1 in (0, 1] so log(u1) is finite. */
    double u1 = ((double)(nb_rng_u64(r) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(nb_rng_u64(r) >> 11) * 0x1.0p-53;
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return mean + std * (float)(rad * cos(th));
}

int nb_rng_bernoulli(nb_rng *r, float p) { return nb_rng_uniform(r) < p; }

int64_t nb_rng_categorical(nb_rng *r, const float *p, int64_t n) {
    if (!p || n <= 0) {
        nbi_error(NB_ERR_ARG, "nb_rng_categorical: need n > 0 probabilities, got %lld",
                  (long long)n);
        return -1;
    }
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!(p[i] >= 0.0f) || isinf(p[i])) {
            nbi_error(NB_ERR_ARG, "nb_rng_categorical: p[%lld] = %g is not a finite, "
                      "non-negative weight", (long long)i, (double)p[i]);
            return -1;
        }
        total += p[i];
    }
    if (!(total > 0.0)) {
        nbi_error(NB_ERR_ARG, "nb_rng_categorical: the weights sum to 0");
        return -1;
    }
    double u = ((double)(nb_rng_u64(r) >> 11) * 0x1.0p-53) * total;
    double acc = 0.0;
    int64_t last = -1;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] > 0.0f) last = i;
        acc += p[i];
        if (u < acc) return i;
    }
    return last; /* u landed on the rounding slack at the top: the last non-zero weight */
}

void nb_rng_shuffle_i64(nb_rng *r, int64_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nb_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
