/* bench/bench_ukr.c — the packed GEMM micro-kernel alone, in GFLOP/s, to set against
 * bench_peak's FMA rate: one A row panel (kc x MR, in L1) over np column panels of B (kc x NR
 * each, from L1 when np = 1, from L2 for np >= 8), C updated with beta = 1 (ldc = np NR, as
 * the blocked loop's C rows), every edge height. Then the rows of an M = 64 block cut three
 * ways (12 x 5 + 4, 12 x 4 + 8 x 2, 11 x 4 + 10 x 2) over the same B block, row panel by row
 * panel as the blocked loop runs them. Thread CPU time, best of 5 rounds of about 20 ms; the
 * clock is read once per round (a CLOCK_THREAD_CPUTIME_ID read costs a system call, as much
 * as a small kernel call).
 *
 *     bench_ukr [ISA]      ISA: avx512, avx2 or c (default: the CPU's best of them) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/gemm/gemm.h"
#include "nabla.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const nbi_gemm_arch *arch_named(const char *isa) {
#if NBI_X86
    if (strstr(isa, "avx512")) return &nbi_gemm_arch_avx512;
    if (strstr(isa, "avx2")) return &nbi_gemm_arch_avx2;
#endif
    return &nbi_gemm_arch_c;
}

/* One K block of a (sum of heights) x np NR product: row panel r (height h[r]) over all
 * column panels. */
static void run(const nbi_gemm_arch *g, int64_t kc, int np, const int *h, int nh, const float *ap,
                const float *bp, float *c) {
    const int64_t ldc = (int64_t)np * g->nr;
    int64_t row = 0;
    for (int r = 0; r < nh; r++) {
        for (int j = 0; j < np; j++)
            g->ukr(kc, ap + r * g->mr * kc, bp + j * g->nr * kc, 1.0f, c + row * ldc + j * g->nr,
                   ldc, h[r], g->nr);
        row += h[r];
    }
}

/* Seconds per call of run(), best of 5 rounds. */
static double time_run(const nbi_gemm_arch *g, int64_t kc, int np, const int *h, int nh,
                       const float *ap, const float *bp, float *c) {
    double flops = 0, best = 1e30;
    for (int r = 0; r < nh; r++) flops += 2.0 * h[r] * g->nr * (double)kc * np;
    long reps = (long)(2e9 / flops) + 1; /* about 20 ms at 100 GFLOP/s */
    for (int round = 0; round < 5; round++) {
        double t0 = cpu_s();
        for (long i = 0; i < reps; i++) run(g, kc, np, h, nh, ap, bp, c);
        double t = (cpu_s() - t0) / (double)reps;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    const nbi_gemm_arch *g = arch_named(argc > 1 ? argv[1] : nb_kernel_isa());
    const int MR = g->mr, NR = g->nr, maxnp = 16;
    const int64_t kmax = 512;
    float *ap = malloc(sizeof(float) * (size_t)(8 * MR * kmax));
    float *bp = malloc(sizeof(float) * (size_t)(maxnp * NR * kmax));
    float *c = malloc(sizeof(float) * (size_t)(64 * maxnp * NR));
    if (!ap || !bp || !c) return 1;
    for (int64_t i = 0; i < 8 * MR * kmax; i++) ap[i] = 1e-3f * (float)(i % 7);
    for (int64_t i = 0; i < maxnp * NR * kmax; i++) bp[i] = 1e-3f * (float)(i % 5);
    memset(c, 0, sizeof(float) * (size_t)(64 * maxnp * NR));
    printf("micro-kernel %s %d x %d, GFLOP/s (thread CPU time, best of 5)\n", g->name, MR, NR);
    static const int64_t kcs[] = {128, 267, 384, 512};
    static const int nps[] = {1, 16};
    for (size_t ki = 0; ki < sizeof kcs / sizeof *kcs; ki++)
        for (size_t ni = 0; ni < sizeof nps / sizeof *nps; ni++) {
            printf("kc %3lld, B %4lld KB:", (long long)kcs[ki],
                   (long long)(kcs[ki] * nps[ni] * NR * 4 / 1024));
            for (int m = MR; m >= 1; m--) {
                if (m != MR && m != 1 && m % 2) continue; /* even heights, MR and 1 */
                double t = time_run(g, kcs[ki], nps[ni], &m, 1, ap, bp, c);
                printf("  m%d %.1f", m, 2.0 * m * NR * (double)kcs[ki] * nps[ni] / t / 1e9);
            }
            printf("\n");
        }
    if (MR == 12) {
        static const int cuts[3][6] = {
            {12, 12, 12, 12, 12, 4}, {12, 12, 12, 12, 8, 8}, {11, 11, 11, 11, 10, 10}};
        static const char *names[3] = {"12 x 5 + 4", "12 x 4 + 8 x 2", "11 x 4 + 10 x 2"};
        for (size_t ki = 0; ki < 3; ki++) {
            double t0 = 0;
            for (int v = 0; v < 3; v++) {
                double t = time_run(g, kcs[ki], maxnp, cuts[v], 6, ap, bp, c);
                if (v == 0) t0 = t;
                printf("M = 64 as %-15s kc %3lld, %d panels: %.1f GFLOP/s, time %.4fx\n", names[v],
                       (long long)kcs[ki], maxnp, 2.0 * 64 * NR * (double)kcs[ki] * maxnp / t / 1e9,
                       t / t0);
            }
        }
    }
    free(ap);
    free(bp);
    free(c);
    return 0;
}
