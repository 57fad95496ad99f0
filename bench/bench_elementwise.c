/* bench/bench_elementwise.c — bandwidth of the elementwise kernels on large arrays, against
 * memcpy over the same bytes, at 1 and 2 threads.
 *
 * Arrays of 2^24 floats (64 MB each, beyond the last-level cache), so the kernels run from
 * memory. GB/s counts bytes read plus bytes written once each (a unary kernel moves 8 bytes
 * per element, like memcpy; a binary one 12; a backward one 16); the ratio compares it with
 * memcpy's GB/s at the same thread count (memcpy split into the same pieces on the pool).
 * Median of ROUNDS interleaved rounds; spread = slowest/fastest round of the kernel.
 *
 *   bench_elementwise          the table
 *   bench_elementwise sweep    exp, sigmoid and tanh over every float against expf, the
 *                              reference sigmoid and tanhf: the worst ulp distance (slow) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "nabla.h"

#define N ((int64_t)1 << 24)
#define ROUNDS 5

static float *x, *x2, *y, *g;
static const nbi_backend *BE; /* the default back end: "cpu", the whole pool */

typedef struct copy_job {
    int64_t n, len;
} copy_job;

static void copy_task(void *arg, int64_t t) {
    const copy_job *j = arg;
    int64_t lo = t * j->len, hi = lo + j->len < j->n ? lo + j->len : j->n;
    memcpy(y + lo, x + lo, (size_t)(hi - lo) * sizeof(float));
}

static void run_memcpy(void) {
    int nt = nb_get_threads();
    if (nt == 1) {
        memcpy(y, x, (size_t)N * sizeof(float));
        return;
    }
    copy_job j = {N, ((N + 4 * nt - 1) / (4 * nt) + 15) & ~(int64_t)15};
    nbi_parallel_for(NBI_MAX_THREADS, (N + j.len - 1) / j.len, copy_task, &j);
}

static const float prm[2] = {0.5f, 2.0f};
static void run_relu(void) { BE->unary(BE, NBI_U_RELU, N, x, y, NULL); }
static void run_exp(void) { BE->unary(BE, NBI_U_EXP, N, x, y, NULL); }
static void run_sigmoid(void) { BE->unary(BE, NBI_U_SIGMOID, N, x, y, NULL); }
static void run_tanh(void) { BE->unary(BE, NBI_U_TANH, N, x, y, NULL); }
static void run_mul_scalar(void) { BE->unary(BE, NBI_U_MUL_SCALAR, N, x, y, prm); }
static void run_add(void) { BE->binary(BE, NBI_B_ADD, N, x, 1, x2, 1, y); }
static void run_mul_bcast(void) { BE->binary(BE, NBI_B_MUL, N, x, 1, x2, 0, y); }
static void run_relu_bwd(void) { BE->unary_bwd(BE, NBI_U_RELU, N, x, NULL, x2, g, NULL); }
static void run_tanh_bwd(void) { BE->unary_bwd(BE, NBI_U_TANH, N, NULL, x, x2, g, NULL); }
static void run_softmax(void) { BE->softmax(BE, N / 1024, 1024, x, y); }

typedef struct kernel {
    const char *name;
    void (*fn)(void);
    double bytes_per_elem;
} kernel;

static const kernel kernels[] = {
    {"relu", run_relu, 8},           {"exp", run_exp, 8},
    {"sigmoid", run_sigmoid, 8},     {"tanh", run_tanh, 8},
    {"mul_scalar", run_mul_scalar, 8}, {"add", run_add, 12},
    {"mul (b bcast)", run_mul_bcast, 8}, {"relu backward", run_relu_bwd, 16},
    {"tanh backward", run_tanh_bwd, 16}, {"softmax 1024", run_softmax, 8},
};

static double time_once(void (*fn)(void)) {
    double t0 = nb_time();
    fn();
    return nb_time() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void table(void) {
    printf("elementwise kernels, isa %s, %lld floats (%lld MB) per array\n", nb_kernel_isa(),
           (long long)N, (long long)(N * 4 >> 20));
    printf("GB/s = (bytes read + written) / time; median of %d interleaved rounds\n", ROUNDS);
    printf("%-15s %3s %9s %9s %7s %7s\n", "kernel", "thr", "GB/s", "memcpy", "ratio", "spread");
    for (int nt = 1; nt <= 2; nt++) {
        nb_set_threads(nt);
        for (size_t k = 0; k < sizeof kernels / sizeof *kernels; k++) {
            double tk[ROUNDS], tm[ROUNDS];
            kernels[k].fn(); /* warm-up (page faults on first touch of y, g) */
            run_memcpy();
            for (int r = 0; r < ROUNDS; r++) {
                if (r % 2) {
                    tm[r] = time_once(run_memcpy);
                    tk[r] = time_once(kernels[k].fn);
                } else {
                    tk[r] = time_once(kernels[k].fn);
                    tm[r] = time_once(run_memcpy);
                }
            }
            double lo = tk[0], hi = tk[0];
            for (int r = 1; r < ROUNDS; r++) {
                lo = tk[r] < lo ? tk[r] : lo;
                hi = tk[r] > hi ? tk[r] : hi;
            }
            double gk = kernels[k].bytes_per_elem * N / median(tk, ROUNDS) * 1e-9;
            double gm = 8.0 * N / median(tm, ROUNDS) * 1e-9;
            printf("%-15s %3d %9.1f %9.1f %7.2f %7.2f\n", kernels[k].name, nt, gk, gm, gk / gm,
                   hi / lo);
            fflush(stdout);
        }
    }
}

/* ---- the full sweep ----------------------------------------------------------------------- */

typedef float (*scalar_fn)(float);
static float sigmoid_ref(float v) { return 1.0f / (1.0f + expf(-v)); }

typedef struct sweep_job {
    nbi_unary_fn fn;
    scalar_fn ref;
    _Atomic int64_t worst;
    _Atomic int64_t worst_at;
} sweep_job;

static int64_t ulp_line(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? (int64_t)INT32_MIN - i : i;
}

/* task t covers the 2^20 bit patterns starting at t << 20 */
static void sweep_task(void *arg, int64_t t) {
    sweep_job *j = arg;
    float in[4096], out[4096];
    int64_t worst = 0, at = 0;
    for (int64_t base = t << 20; base < (t + 1) << 20; base += 4096) {
        for (int i = 0; i < 4096; i++) {
            uint32_t u = (uint32_t)(base + i);
            memcpy(&in[i], &u, sizeof u);
        }
        j->fn(4096, in, out, NULL);
        for (int i = 0; i < 4096; i++) {
            float r = j->ref(in[i]);
            if (isnan(r) || isnan(out[i])) {
                if (isnan(r) != isnan(out[i]) && worst < INT64_MAX) {
                    worst = INT64_MAX;
                    at = base + i;
                }
                continue;
            }
            int64_t d = llabs(ulp_line(out[i]) - ulp_line(r));
            if (d > worst) {
                worst = d;
                at = base + i;
            }
        }
    }
    int64_t w = atomic_load(&j->worst);
    while (worst > w && !atomic_compare_exchange_weak(&j->worst, &w, worst)) {
    }
    if (worst >= w) atomic_store(&j->worst_at, at);
}

static void sweep(void) {
    printf("every float through the %s kernels (single-threaded kernel, pool-parallel sweep)\n",
           nb_kernel_isa());
    struct {
        const char *name;
        nbi_unary_id id;
        scalar_fn ref;
    } fns[] = {{"exp vs expf", NBI_U_EXP, expf},
               {"sigmoid vs 1/(1+expf(-x))", NBI_U_SIGMOID, sigmoid_ref},
               {"tanh vs tanhf", NBI_U_TANH, tanhf}};
    const nbi_kernels raw = *BE->k;
    for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
        sweep_job j = {raw.unary[fns[f].id], fns[f].ref, 0, 0};
        double t0 = nb_time();
        nbi_parallel_for(NBI_MAX_THREADS, 4096, sweep_task, &j);
        uint32_t u = (uint32_t)atomic_load(&j.worst_at);
        float at;
        memcpy(&at, &u, sizeof at);
        printf("  %-28s worst %lld ulp (at x = %.9g)  [%.1f s]\n", fns[f].name,
               (long long)atomic_load(&j.worst), at, nb_time() - t0);
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    BE = nbi_backend_default();
    if (argc > 1 && !strcmp(argv[1], "sweep")) {
        sweep();
        return 0;
    }
    x = nb_malloc((size_t)N * sizeof *x);
    x2 = nb_malloc((size_t)N * sizeof *x2);
    y = nb_malloc((size_t)N * sizeof *y);
    g = nb_malloc((size_t)N * sizeof *g);
    if (!x || !x2 || !y || !g) {
        fprintf(stderr, "bench_elementwise: out of memory\n");
        return 1;
    }
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    for (int64_t i = 0; i < N; i++) {
        x[i] = 8.0f * nb_rng_uniform(&rng) - 4.0f;
        x2[i] = 8.0f * nb_rng_uniform(&rng) - 4.0f;
        g[i] = 0.0f;
    }
    memset(y, 0, (size_t)N * sizeof *y);
    table();
    nb_free(x);
    nb_free(x2);
    nb_free(y);
    nb_free(g);
    return 0;
}
