/* bench/bench_peak.c — the CPU's single-precision FMA peak, measured: each thread runs
 * CHAINS independent chains of vector fused multiply-adds for a fixed count, and the best of a
 * few runs gives GFLOP/s (2 flops per lane per FMA). bench/compare.sh divides the workloads'
 * FLOP rates by it.
 *
 *     bench_peak [--threads N] [--verbose]
 *
 * prints one line, "fma peak ISA threads N: G GFLOP/s"; --verbose adds, on stderr, the clock
 * and every ISA's rate and flops per cycle, and the FMA latency from one dependent chain.
 *
 * Method. An FMA pipe starts one FMA a cycle and its result is ready L cycles later (L = 4 on
 * Zen 4/5 and recent Intel cores), so P pipes stay full only with at least L x P independent
 * accumulators (8 for two pipes); CHAINS = 12 leaves room. The accumulators must live in
 * registers: an earlier version kept them in an array indexed by a loop, which -O2 left in
 * memory, so every FMA also paid a load, a store and a store-to-load forwarding in its chain
 * and a loop branch; it measured about a quarter of the peak (about 53 GFLOP/s on the
 * Zen 5 machine, where the MLP then read "312% of peak"). Now the twelve chains are twelve
 * named variables, the inner body is written out, and the loop has one branch per 12 FMAs
 * (objdump -d shows 12 register-only vfmadd instructions per iteration).
 * Every vector ISA the CPU runs is measured (AVX-512 and AVX2 + FMA: a CPU whose 512-bit
 * FMA is split or runs on fewer pipes can reach the same or more with 256-bit vectors) and
 * the best is the peak. The clock is estimated with a chain of dependent integer adds (one
 * cycle each on every x86 core) so that --verbose can say flops per cycle: 64 means two
 * 512-bit FMA pipes (Zen 5), 32 two 256-bit pipes (Zen 3/4's AVX2, Haswell and later).
 * Each thread times itself in its own CPU time (CLOCK_THREAD_CPUTIME_ID) and the rates of
 * the threads add up, best of 5 runs: the peak is what a core does while it runs the loop, so
 * other jobs on the machine do not lower it (with more threads than free cores the threads
 * still each count their own time; --threads is meant to be at most the core count). With
 * N threads the peak is then the sum of N cores' rates: the ceiling when the threads have
 * cores of their own. --verbose also prints the wall-clock rate; on a quiet machine the two
 * agree unless the "cores" share execution units (SMT siblings), where the wall-clock rate
 * is the real ceiling. The CPU-time figure can only overstate the ceiling, so a workload's
 * "% of peak" can read low but not above 100% because other jobs slowed the peak run. Compiled with the generic flags: the vector loops carry target
 * attributes and run only after __builtin_cpu_supports says they may; elsewhere the scalar
 * fmaf loop runs, which is not a peak and says so. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PEAK_X86 1
#else
#define PEAK_X86 0
#endif

#define ITERS 20000000L /* FMA rounds (of CHAINS each) per thread per run: ~0.1 s at 4 GHz */
#define CHAINS 12       /* independent accumulators: latency 4 x 2 pipes, with room */

static volatile float sink;

/* the twelve chains, written out: OP(c) updates accumulator c */
#define CHAIN12(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)
#define DECL(c) acc##c = SET1((float)(c));
#define STEP(c) acc##c = FMA(acc##c, a, b);
#define SUM(c) s += HSUM(acc##c);

#if PEAK_X86
__attribute__((target("avx512f"))) static long run_avx512(long iters) {
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define HSUM _mm512_reduce_add_ps
    __m512 acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11;
    const __m512 a = SET1(0.999999f), b = SET1(1e-7f);
    CHAIN12(DECL)
    for (long i = 0; i < iters; i++) {
        CHAIN12(STEP)
    }
    float s = 0.0f;
    CHAIN12(SUM)
    sink = s;
    return iters * CHAINS * 16 * 2;
#undef SET1
#undef FMA
#undef HSUM
}

/* one dependent chain: its time per FMA is the latency */
__attribute__((target("avx512f"))) static long run_avx512_latency(long iters) {
    __m512 acc = _mm512_set1_ps(1.0f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        acc = _mm512_fmadd_ps(acc, a, b);
        acc = _mm512_fmadd_ps(acc, a, b);
        acc = _mm512_fmadd_ps(acc, a, b);
        acc = _mm512_fmadd_ps(acc, a, b);
    }
    sink = _mm512_reduce_add_ps(acc);
    return iters * 4 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v) {
    float buf[8], s = 0.0f;
    _mm256_storeu_ps(buf, v);
    for (int k = 0; k < 8; k++) s += buf[k];
    return s;
}

__attribute__((target("avx2,fma"))) static long run_avx2(long iters) {
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define HSUM hsum256
    __m256 acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11;
    const __m256 a = SET1(0.999999f), b = SET1(1e-7f);
    CHAIN12(DECL)
    for (long i = 0; i < iters; i++) {
        CHAIN12(STEP)
    }
    float s = 0.0f;
    CHAIN12(SUM)
    sink = s;
    return iters * CHAINS * 8 * 2;
#undef SET1
#undef FMA
#undef HSUM
}

/* the clock: ADDS dependent one-cycle integer adds per iteration */
#define ADDS 64
static long run_clock(long iters) {
    long x = 0;
    for (long i = 0; i < iters; i++) {
#define ADD4 "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
#define ADD16 ADD4 ADD4 ADD4 ADD4
        __asm__ volatile(ADD16 ADD16 ADD16 ADD16 : "+r"(x));
    }
    sink = (float)x;
    return iters * ADDS; /* cycles */
}
#endif

static long run_scalar(long iters) {
#define SET1(v) (v)
#define FMA fmaf
#define HSUM(v) (v)
    float acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11;
    const float a = 0.999999f, b = 1e-7f;
    CHAIN12(DECL)
    for (long i = 0; i < iters; i++) {
        CHAIN12(STEP)
    }
    float s = 0.0f;
    CHAIN12(SUM)
    sink = s;
    return iters * CHAINS * 2;
#undef SET1
#undef FMA
#undef HSUM
}

typedef struct job {
    long (*fn)(long);
    long iters, flops;
    double cpu_s; /* the thread's own CPU time for fn */
} job;

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *thread_main(void *arg) {
    job *j = arg;
    double t0 = cpu_now();
    j->flops = j->fn(j->iters);
    j->cpu_s = cpu_now() - t0;
    return NULL;
}

/* the best of 5 runs of fn on `threads` threads: units (flops, cycles) per second of each
 * thread's CPU time, summed over the threads; *wall_best (if not NULL) gets the best rate in
 * wall-clock time, all threads' units over the run's elapsed time */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double measure(long (*fn)(long), long iters, int threads, double *wall_best) {
    double best = 0.0;
    if (wall_best) *wall_best = 0.0;
    for (int run = 0; run < 5; run++) {
        double t0 = now();
        job jobs[256];
        pthread_t th[256];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){fn, iters, 0, 0.0};
            if (pthread_create(&th[t], NULL, thread_main, &jobs[t]) != 0) {
                fprintf(stderr, "bench_peak: cannot start a thread\n");
                exit(1);
            }
        }
        double r = 0.0, units = 0.0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            r += (double)jobs[t].flops / jobs[t].cpu_s;
            units += (double)jobs[t].flops;
        }
        double w = units / (now() - t0);
        if (wall_best && w > *wall_best) *wall_best = w;
        if (r > best) best = r;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = 1, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else {
            fprintf(stderr, "usage: bench_peak [--threads N] [--verbose]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "bench_peak: --threads must be in 1..256\n");
        return 2;
    }
    const char *isa = "scalar (not a vector peak)";
    double best = 0.0;
#if PEAK_X86
    __builtin_cpu_init();
    double ghz = verbose ? measure(run_clock, ITERS / 10, 1, NULL) * 1e-9 : 0.0;
    if (verbose) fprintf(stderr, "clock (dependent integer adds): %.2f GHz\n", ghz);
    if (__builtin_cpu_supports("avx512f")) {
        double wall;
        best = measure(run_avx512, ITERS, threads, &wall), isa = "avx512";
        if (verbose) {
            double lat = measure(run_avx512_latency, ITERS / 10, 1, NULL) / 32.0; /* FMAs/s */
            fprintf(stderr,
                    "avx512: %.1f GFLOP/s = %.1f flops/cycle/thread (wall clock: %.1f GFLOP/s); "
                    "latency %.1f cycles\n",
                    best * 1e-9, best * 1e-9 / ghz / threads, wall * 1e-9, ghz * 1e9 / lat);
        }
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        double wall, g = measure(run_avx2, ITERS, threads, &wall);
        if (verbose)
            fprintf(stderr, "avx2:   %.1f GFLOP/s = %.1f flops/cycle/thread (wall clock: %.1f GFLOP/s)\n",
                    g * 1e-9, g * 1e-9 / ghz / threads, wall * 1e-9);
        if (g > best) best = g, isa = "avx2";
    }
#endif
    if (best == 0.0) best = measure(run_scalar, ITERS / 4, threads, NULL);
    printf("fma peak %s threads %d: %.1f GFLOP/s\n", isa, threads, best * 1e-9);
    return 0;
}
