/* nabla/base.h — status codes, error messages, the allocator hook, the RNG.
 *
 * Every fallible call returns an nb_status (or NULL for functions that return a pointer);
 * nb_last_error() then tells, for the calling thread, what went wrong in words that name
 * the op, the file or the shapes involved. */
#ifndef NABLA_BASE_H
#define NABLA_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0
#define NB_VERSION "0.1.0"

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_NOMEM,       /* an allocation failed */
    NB_ERR_ARG,         /* a bad argument: NULL, out of range, wrong dtype */
    NB_ERR_SHAPE,       /* shapes that do not fit together */
    NB_ERR_STATE,       /* a call out of order (backward twice, no tape, ...) */
    NB_ERR_NUMERIC,     /* check mode found a NaN or an infinity */
    NB_ERR_SINGULAR,    /* a singular or ill-conditioned matrix */
    NB_ERR_IO,          /* the operating system refused a read or a write */
    NB_ERR_FORMAT,      /* a file or text that is malformed, truncated or unsupported */
    NB_ERR_UNSUPPORTED, /* a feature this build or this input does not have */
    NB_STATUS_COUNT
} nb_status;

/* A short constant name for a status: "out of memory", "shape mismatch", ... */
const char *nb_status_str(nb_status s);

/* The message of the calling thread's most recent error ("" if none). Valid until the
 * next nabla call on this thread that fails. */
const char *nb_last_error(void);

/* Clears the calling thread's error message. */
void nb_clear_error(void);

/* ---- options structs ------------------------------------------------------------------
 * Every options struct of nabla (nb_adam_opts, nb_optim_config, nb_fit_opts, nb_step_opts,
 * nb_csv_opts, ...) is meant to be zero-initialised, and a field left 0 takes its default
 * — PyTorch's where PyTorch has one — so that
 *
 *     nb_adam_new(ps, &(nb_adam_opts){.lr = 1e-2})      is   torch.optim.Adam(p, lr=1e-2)
 *
 * and a NULL options pointer means the same as an all-zero struct. There is no other way to
 * get defaults. Where 0 is a meaningful setting that differs from the default (Adam's
 * beta1 = 0, AdamW's weight_decay = 0, an eps of 0, a learning rate of 0), write NB_ZERO:
 *
 *     nb_adamw_new(ps, &(nb_adam_opts){.lr = 1e-2, .weight_decay = NB_ZERO})   // no decay
 *
 * NB_ZERO is -0.0: it is 0 in every computation, and its sign bit tells it apart from the
 * +0.0 of a field nobody set. A sentinel inside the value (rather than a "has_x" flag beside
 * every field, or a different default convention per field) keeps one spelling for every
 * floating-point option, adds no fields, and survives a round trip: a configuration read back
 * from an optimizer (nb_optim_get_config) spells its zeros NB_ZERO, so it makes the same
 * optimizer again. Integer and flag fields are laid out so that their 0 is the default
 * (a flag says "no_..." where the default is on); each header comment says what 0 means. A
 * field with no default (a loader's batch_size, a pooling kernel) is an error at 0, never a
 * silent value. */
#define NB_ZERO (-0.0)

/* ---- memory -------------------------------------------------------------------------- */

/* Every allocation nabla makes goes through this hook. Set it before any other call (it is
 * process-wide, like sqlite3_config). alloc must return memory aligned to `align` (a power of
 * two, at most 4096) or NULL; free(NULL) must be a no-op. Passing NULL restores the default
 * (posix_memalign/free). Tests use it to count allocations and to fail the Nth one. */
typedef struct nb_allocator {
    void *(*alloc)(size_t size, size_t align, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} nb_allocator;

void nb_set_allocator(const nb_allocator *a);

/* Aligned allocation through the hook (64-byte alignment), for callers that want their
 * buffers counted with nabla's. nb_free(NULL) is a no-op. */
void *nb_malloc(size_t size);
void nb_free(void *p);

/* ---- random numbers -------------------------------------------------------------------- */

/* A small, fast, seedable generator (xoshiro256**). There is no global generator: every
 * function that draws takes an nb_rng, so runs are reproducible and streams independent.
 * nb_rng_split derives a new, statistically independent stream from a parent (advancing the
 * parent), e.g. one per thread or one per layer. */
typedef struct nb_rng {
    uint64_t s[4];
    float spare;   /* the second normal of a Box-Muller pair */
    int has_spare;
} nb_rng;

void nb_rng_seed(nb_rng *r, uint64_t seed);
nb_rng nb_rng_split(nb_rng *parent);
uint64_t nb_rng_u64(nb_rng *r);
/* Uniform integer in [0, n), without modulo bias. n must be > 0. */
uint64_t nb_rng_below(nb_rng *r, uint64_t n);
/* Uniform in [0, 1) with 24 random bits. */
float nb_rng_uniform(nb_rng *r);
/* Uniform in [lo, hi). */
float nb_rng_uniform_range(nb_rng *r, float lo, float hi);
/* Standard normal (Box-Muller), scaled: mean + std * N(0, 1). */
float nb_rng_normal(nb_rng *r, float mean, float std);
/* 1 with probability p, else 0. */
int nb_rng_bernoulli(nb_rng *r, float p);
/* An index i in [0, n) drawn with probability p[i] / sum(p). p need not be normalised but
 * must be non-negative with a positive sum; returns -1 (and sets the error) otherwise. */
int64_t nb_rng_categorical(nb_rng *r, const float *p, int64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void nb_rng_shuffle_i64(nb_rng *r, int64_t *idx, int64_t n);

/* ---- time ------------------------------------------------------------------------------ */

/* Monotonic seconds, for progress reports and benchmarks. */
double nb_time(void);

#ifdef __cplusplus
}
#endif
#endif
