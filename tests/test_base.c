#define _POSIX_C_SOURCE 200809L
/* test_base — status strings, error messages, the allocator hook, arenas, the RNG. */
#include "nbtest.h"

#include "base/base.h"
#include "base/half.h"

#include <math.h>

static void test_status_strings(void) {
    for (int s = 0; s < NB_STATUS_COUNT; s++) {
        const char *str = nb_status_str((nb_status)s);
        CHECK(str && str[0]);
        CHECK(strcmp(str, "unknown status") != 0);
    }
    CHECK(strcmp(nb_status_str(NB_ERR_SHAPE), "shape mismatch") == 0);
    CHECK(strcmp(nb_status_str((nb_status)999), "unknown status") == 0);
}

static void test_error_message_per_thread(void) {
    nb_clear_error();
    CHECK(nb_last_error()[0] == '\0');
    CHECK(nbi_error(NB_ERR_ARG, "thing %d went wrong", 42) == NB_ERR_ARG);
    CHECK(strcmp(nb_last_error(), "thing 42 went wrong") == 0);
    /* wrapping the message in itself (the argument points into the message buffer) */
    CHECK(nbi_error(NB_ERR_STATE, "outer: %s (%d)", nb_last_error(), 7) == NB_ERR_STATE);
    CHECK_MSG(strcmp(nb_last_error(), "outer: thing 42 went wrong (7)") == 0, "[%s]",
              nb_last_error());
    nbi_error(NB_ERR_ARG, "%s|%s", nb_last_error(), nb_last_error());
    CHECK_MSG(strcmp(nb_last_error(),
                     "outer: thing 42 went wrong (7)|outer: thing 42 went wrong (7)") == 0,
              "[%s]", nb_last_error());
    /* longer than the buffer: cut, still terminated, the start intact */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    nbi_error(NB_ERR_ARG, "a%s", big);
    for (int i = 0; i < 4; i++) nbi_error(NB_ERR_ARG, "ab%s", nb_last_error());
    size_t n = strlen(nb_last_error());
    CHECK(n > 500 && n < sizeof big);
    CHECK(!strncmp(nb_last_error(), "ababababaxx", 11));
    nb_clear_error();
}

/* A counting allocator that can fail the Nth call. */
static long n_alloc, n_free, fail_at = -1;
static void *count_alloc(size_t size, size_t align, void *u) {
    (void)u;
    if (n_alloc++ == fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1)) return NULL;
    return p;
}
static void count_free(void *p, void *u) {
    (void)u;
    n_free++;
    free(p);
}

static void test_allocator_hook(void) {
    nb_allocator a = {count_alloc, count_free, NULL};
    n_alloc = n_free = 0;
    nb_set_allocator(&a);
    void *p = nb_malloc(100);
    CHECK(p && ((uintptr_t)p & 63) == 0);
    nb_free(p);
    nb_free(NULL);
    CHECK(n_alloc == 1 && n_free == 1);
    fail_at = n_alloc;
    CHECK(nb_malloc(10) == NULL);
    CHECK(strstr(nb_last_error(), "out of memory") != NULL);
    fail_at = -1;
    nb_set_allocator(NULL);
}

static void test_arena_reuses_chunks(void) {
    nb_allocator a = {count_alloc, count_free, NULL};
    n_alloc = n_free = 0;
    nb_set_allocator(&a);
    nbi_arena ar;
    nbi_arena_init(&ar, 1024);
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 10; i++) {
            unsigned char *p = nbi_arena_alloc(&ar, 300, 64);
            CHECK(p && ((uintptr_t)p & 63) == 0);
            memset(p, i, 300);
        }
        void *big = nbi_arena_alloc(&ar, 5000, 16); /* larger than a chunk */
        CHECK(big != NULL);
        if (step == 0) CHECK(n_alloc > 0);
        long after_first = n_alloc;
        nbi_arena_reset(&ar);
        if (step > 0) CHECK_MSG(n_alloc == after_first, "step %d allocated", step);
    }
    long before = n_alloc;
    nbi_arena_mark m = nbi_arena_mark_get(&ar);
    void *p1 = nbi_arena_alloc(&ar, 100, 8);
    nbi_arena_release(&ar, m);
    void *p2 = nbi_arena_alloc(&ar, 100, 8);
    CHECK(p1 == p2);
    CHECK(n_alloc == before);
    nbi_arena_free(&ar);
    CHECK(n_alloc == n_free);
    nb_set_allocator(NULL);
}

static void test_rng_reproducible_and_split(void) {
    nb_rng a, b;
    nb_rng_seed(&a, 42);
    nb_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(nb_rng_u64(&a) == nb_rng_u64(&b));
    nb_rng c = nb_rng_split(&a);
    nb_rng d = nb_rng_split(&b);
    CHECK(nb_rng_u64(&c) == nb_rng_u64(&d));
    /* the child's stream differs from the parent's */
    int same = 0;
    for (int i = 0; i < 100; i++) same += nb_rng_u64(&a) == nb_rng_u64(&c);
    CHECK(same == 0);
    nb_rng_seed(&b, 43);
    nb_rng_seed(&a, 42);
    CHECK(nb_rng_u64(&a) != nb_rng_u64(&b));
}

static void test_rng_distributions(void) {
    nb_rng r;
    nb_rng_seed(&r, 1);
    const int n = 200000;
    double s = 0, s2 = 0, bern = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        float u = nb_rng_uniform(&r);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        double z = nb_rng_normal(&r, 2.0f, 3.0f);
        s += z;
        s2 += z * z;
        bern += nb_rng_bernoulli(&r, 0.3f);
    }
    CHECK(lo >= 0.0f && hi < 1.0f);
    double mean = s / n, var = s2 / n - mean * mean;
    CHECK_CLOSE(mean, 2.0, 0.03, 0); /* 5 standard errors: 3/sqrt(n) = 0.0067 */
    CHECK_CLOSE(var, 9.0, 0.15, 0);
    CHECK_CLOSE(bern / n, 0.3, 0.006, 0);
    float p[4] = {0.1f, 0.0f, 0.6f, 0.3f};
    int counts[4] = {0};
    for (int i = 0; i < n; i++) counts[nb_rng_categorical(&r, p, 4)]++;
    CHECK(counts[1] == 0);
    CHECK_CLOSE(counts[2] / (double)n, 0.6, 0.006, 0);
    CHECK(nb_rng_categorical(&r, (float[]){0, 0}, 2) == -1);
    CHECK(strstr(nb_last_error(), "sum to 0") != NULL);
    CHECK(nb_rng_categorical(&r, (float[]){1, -1}, 2) == -1);
    int64_t idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    nb_rng_shuffle_i64(&r, idx, 10);
    int seen[10] = {0};
    for (int i = 0; i < 10; i++) seen[idx[i]]++;
    for (int i = 0; i < 10; i++) CHECK(seen[i] == 1);
    for (int i = 0; i < 1000; i++) CHECK(nb_rng_below(&r, 7) < 7);
}

/* binary16: every half round-trips exactly; to_float matches m·2^(e−25) computed in double;
 * the float midway between two neighbouring halves rounds to the even one, a float just
 * above or below it to the nearer; overflow, NaN, signed zeros and subnormals. */
static void half_conversions(void) {
    int bad_round = 0, bad_value = 0, bad_tie = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = nbi_half_to_float((uint16_t)h);
        const uint32_t e = h >> 10 & 0x1F, m = h & 0x3FF;
        const double mag = e == 0x1F ? (m ? NAN : INFINITY)
                           : e == 0  ? ldexp((double)m, -24)
                                     : ldexp((double)(m | 0x400), (int)e - 25);
        const double want = (h & 0x8000) ? -mag : mag;
        if (isnan(want) ? !isnan(f) || !signbit(f) != !(h & 0x8000)
                        : (double)f != want || !signbit(f) != !(h & 0x8000))
            bad_value++;
        const uint16_t back = nbi_half_from_float(f);
        if (isnan(want) ? (back & 0x7E00) != 0x7E00 || (back & 0x8000) != (h & 0x8000) ||
                              ((h & 0x200) && back != h)
                        : back != h)
            bad_round++;
        /* the midpoint towards the next larger magnitude (finite, below the largest half) */
        if ((h & 0x7FFF) < 0x7BFF) {
            const double a = fabs(want), b = (double)fabs(nbi_half_to_float((uint16_t)(h + 1)));
            const float mid = (float)((a + b) / 2); /* exact: 12 significant bits */
            const uint16_t even = (h & 1) ? (uint16_t)((h + 1) & 0x7FFF) : (uint16_t)(h & 0x7FFF);
            const float up = nextafterf(mid, INFINITY), down = nextafterf(mid, 0.0f);
            if (nbi_half_from_float(mid) != even ||
                nbi_half_from_float(up) != (uint16_t)((h + 1) & 0x7FFF) ||
                nbi_half_from_float(down) != (uint16_t)(h & 0x7FFF) ||
                nbi_half_from_float(-mid) != (uint16_t)(even | 0x8000))
                bad_tie++;
        }
    }
    CHECK_MSG(bad_value == 0, "%d halves convert to the wrong float", bad_value);
    CHECK_MSG(bad_round == 0, "%d halves do not round-trip", bad_round);
    CHECK_MSG(bad_tie == 0, "%d midpoints round wrongly", bad_tie);
    /* overflow: 65504 is the largest half; 65519.99 rounds down to it, 65520 up to inf */
    CHECK(nbi_half_from_float(65504.0f) == 0x7BFF);
    CHECK(nbi_half_from_float(nextafterf(65520.0f, 0.0f)) == 0x7BFF);
    CHECK(nbi_half_from_float(65520.0f) == 0x7C00);
    CHECK(nbi_half_from_float(-1e30f) == 0xFC00);
    CHECK(nbi_half_from_float(INFINITY) == 0x7C00 && nbi_half_from_float(-INFINITY) == 0xFC00);
    /* NaN stays NaN, quiet; signed zeros; underflow: 2^-25 ties to 0, just above to 2^-24 */
    const uint16_t qn = nbi_half_from_float(NAN);
    CHECK((qn & 0x7C00) == 0x7C00 && (qn & 0x3FF) != 0 && (qn & 0x200));
    CHECK(nbi_half_from_float(0.0f) == 0 && nbi_half_from_float(-0.0f) == 0x8000);
    CHECK(nbi_half_from_float(ldexpf(1.0f, -25)) == 0);
    CHECK(nbi_half_from_float(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 1);
    CHECK(nbi_half_from_float(ldexpf(3.0f, -25)) == 2); /* 1.5 units: ties to even 2 */
    CHECK(nbi_half_from_float(1e-10f) == 0 && nbi_half_from_float(-1e-10f) == 0x8000);
    CHECK(nbi_half_from_float(1.0f) == 0x3C00 && nbi_half_from_float(-2.0f) == 0xC000);
    /* the carry from the largest subnormal into the smallest normal */
    CHECK(nbi_half_from_float(nextafterf(ldexpf(1.0f, -14), 0.0f)) == 0x0400);
}

static const nbt_case cases[] = {
    {"status_strings", test_status_strings},
    {"half_conversions", half_conversions},
    {"error_message_per_thread", test_error_message_per_thread},
    {"allocator_hook", test_allocator_hook},
    {"arena_reuses_chunks", test_arena_reuses_chunks},
    {"rng_reproducible_and_split", test_rng_reproducible_and_split},
    {"rng_distributions", test_rng_distributions},
};
NBT_MAIN(cases)
