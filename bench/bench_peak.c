/* bench/bench_peak.c — the CPU's single-precision FMA peak, measured: each thread runs
 * independent chains of vector fused multiply-adds (enough chains to cover the FMA latency on
 * every pipe) for a fixed count, and the best of a few runs gives GFLOP/s (2 flops per lane
 * per FMA). bench/compare.sh divides the workloads' FLOP rates by it.
 *
 *     bench_peak [--threads N]        one line: "fma peak ISA threads N: G GFLOP/s"
 *
 * The widest ISA the CPU runs is used (AVX-512, else AVX2 + FMA, else scalar fmaf, which is
 * not a peak and says so). Compiled with the generic flags: the vector loops carry target
 * attributes and run only after __builtin_cpu_supports says they may. */
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

#define ITERS 20000000L /* FMA rounds per thread per run: ~0.1 s at 4 GHz */
#define CHAINS 12       /* independent accumulators: latency 4 x 2 pipes, with room */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile float sink;

#if PEAK_X86
__attribute__((target("avx512f"))) static long run_avx512(long iters) {
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    float s = 0.0f;
    for (int c = 0; c < CHAINS; c++) s += _mm512_reduce_add_ps(acc[c]);
    sink = s;
    return iters * CHAINS * 16 * 2;
}

__attribute__((target("avx2,fma"))) static long run_avx2(long iters) {
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float buf[8], s = 0.0f;
    for (int c = 0; c < CHAINS; c++) {
        _mm256_storeu_ps(buf, acc[c]);
        for (int k = 0; k < 8; k++) s += buf[k];
    }
    sink = s;
    return iters * CHAINS * 8 * 2;
}
#endif

static long run_scalar(long iters) {
    float acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = (float)c;
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = fmaf(acc[c], 0.999999f, 1e-7f);
    float s = 0.0f;
    for (int c = 0; c < CHAINS; c++) s += acc[c];
    sink = s;
    return iters * CHAINS * 2;
}

typedef struct job {
    long (*fn)(long);
    long iters, flops;
} job;

static void *thread_main(void *arg) {
    job *j = arg;
    j->flops = j->fn(j->iters);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_peak [--threads N]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "bench_peak: --threads must be in 1..256\n");
        return 2;
    }
    long (*fn)(long) = run_scalar;
    const char *isa = "scalar (not a vector peak)";
    long iters = ITERS / 4;
#if PEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        fn = run_avx512, isa = "avx512", iters = ITERS;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fn = run_avx2, isa = "avx2", iters = ITERS;
    }
#endif
    double best = 0.0;
    for (int run = 0; run < 5; run++) {
        job jobs[256];
        pthread_t th[256];
        double t0 = now();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){fn, iters, 0};
            if (pthread_create(&th[t], NULL, thread_main, &jobs[t]) != 0) {
                fprintf(stderr, "bench_peak: cannot start a thread\n");
                return 1;
            }
        }
        long flops = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            flops += jobs[t].flops;
        }
        double dt = now() - t0;
        double g = (double)flops / dt * 1e-9;
        if (g > best) best = g;
    }
    printf("fma peak %s threads %d: %.1f GFLOP/s\n", isa, threads, best);
    return 0;
}
