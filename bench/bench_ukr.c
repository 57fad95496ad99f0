/* bench/bench_ukr.c — the packed GEMM micro-kernel alone, in GFLOP/s, to set against
 * bench_peak's FMA rate: one A row panel (kc x MR, in L1) over np column panels of B (kc x NR
 * each, from L1 when np = 1, from L2 for np >= 8), C updated with beta = 1 (ldc = np NR, as
 * the blocked loop's C rows), every edge height. Then the rows of an M = 64 block cut three
 * ways (12 x 5 + 4, 12 x 4 + 8 x 2, 11 x 4 + 10 x 2) over the same B block, row panel by row
 * panel as the blocked loop runs them. Thread CPU time, best of 5 rounds of about 20 ms; the
 * clock is read once per round (a CLOCK_THREAD_CPUTIME_ID read costs a system call, as much
 * as a small kernel call).
 *
 * Last, op(A) = A (ta = 0, alpha 1) read in place (ukr_an) against pack_a + the packed
 * kernel, as the blocked loop runs one K block at one thread: A M x K row-major (lda = K),
 * blocks of MC rows, each row panel over all N/NR column panels of a packed B (in L2). A
 * "from memory" cycles over copies of A larger than the last-level cache; "from L2" reuses
 * one MC-row block.
 *
 *     bench_ukr [ISA]      ISA: avx512, avx2 or c (default: the CPU's best of them)
 *     bench_ukr ISA an     only the last comparison */
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

/* One M x K x N product's K block (K <= kc) of A at a, packed B at bp: pack_a + ukr
 * (an = 0) or ukr_an (an = 1), MC-row blocks as the blocked loop cuts them. */
static void run_an(const nbi_gemm_arch *g, int an, int64_t M, int64_t K, int64_t N, const float *a,
                   const float *bp, float *ap, float *c) {
    const int64_t MR = g->mr, NR = g->nr, mc = g->mc;
    for (int64_t ic = 0; ic < M; ic += mc) {
        const int64_t mcur = M - ic < mc ? M - ic : mc;
        if (!an) g->pack_a(0, a, K, ic, mcur, 0, K, 1.0f, ap);
        for (int64_t ir = 0; ir < mcur; ir += MR) {
            const int m = (int)(mcur - ir < MR ? mcur - ir : MR);
            float *cr = c + (ic + ir) * N;
            if (an == 2 && ic + ir + MR < M) /* the next row panel into L2, a line a row */
                for (int64_t i = 0; i < MR && ic + ir + MR + i < M; i++)
                    for (int64_t p = 0; p < K; p += 16)
                        __builtin_prefetch(a + (ic + ir + MR + i) * K + p, 0, 2);
            for (int64_t jr = 0; jr < N; jr += NR) {
                const int n = (int)(N - jr < NR ? N - jr : NR);
                if (an)
                    g->ukr_an(K, a + (ic + ir) * K, K, bp + jr * K, 1.0f, cr + jr, N, m, n);
                else
                    g->ukr(K, ap + ir * K, bp + jr * K, 1.0f, cr + jr, N, m, n);
            }
        }
    }
}

/* Thread CPU seconds per product, best of 7 rounds of at least 20 ms, the two variants
 * interleaved; copies of A used in turn (ncopy > 1: A from memory). */
static void bench_an(const nbi_gemm_arch *g, int64_t M, int64_t K, int64_t N, int ncopy,
                     const char *where) {
    const size_t na = (size_t)(M * K);
    float *a = malloc(sizeof(float) * na * (size_t)ncopy);
    float *bp = malloc(sizeof(float) * (size_t)(K * (N + g->nr)));
    float *ap = malloc(sizeof(float) * (size_t)(g->mc * K));
    float *c = malloc(sizeof(float) * (size_t)(M * N));
    if (!a || !bp || !ap || !c) exit(1);
    for (size_t i = 0; i < na * (size_t)ncopy; i++) a[i] = 1e-3f * (float)(i % 7);
    for (int64_t i = 0; i < K * (N + g->nr); i++) bp[i] = 1e-3f * (float)(i % 5);
    memset(c, 0, sizeof(float) * (size_t)(M * N));
    double best[3] = {1e30, 1e30, 1e30};
    long reps = (long)(2e7 / (2.0 * (double)(M * K * N) / 1e2)) + 1; /* ~20 ms at 100 GFLOP/s */
    for (int round = 0; round < 7; round++)
        for (int an = 0; an < 3; an++) {
            double t0 = cpu_s();
            for (long i = 0; i < reps; i++)
                run_an(g, an, M, K, N, a + na * (size_t)(i % ncopy), bp, ap, c);
            double t = (cpu_s() - t0) / (double)reps;
            if (t < best[an]) best[an] = t;
        }
    printf("A %4lld x %3lld, N %3lld, A from %-6s: pack_a+ukr %.1f, ukr_an %.1f (%.4fx), +pf %.1f "
           "(%.4fx)\n",
           (long long)M, (long long)K, (long long)N, where,
           2.0 * (double)(M * K * N) / best[0] / 1e9, 2.0 * (double)(M * K * N) / best[1] / 1e9,
           best[1] / best[0], 2.0 * (double)(M * K * N) / best[2] / 1e9, best[2] / best[0]);
    free(a);
    free(bp);
    free(ap);
    free(c);
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
    if (argc > 2 && !strcmp(argv[2], "an")) {
        if (!g->ukr_an) {
            printf("%s: no ukr_an (A is always packed)\n", g->name);
            return 0;
        }
        static const int64_t shapes[][3] = {{2048, 128, 384}, {2048, 128, 128}, {2048, 128, 512},
                                            {2048, 512, 128}, {2048, 384, 128}, {2048, 256, 128},
                                            {2048, 192, 384}};
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            bench_an(g, g->mc, K, N, 1, "L2");
            bench_an(g, M, K, N, (int)(64 * 1024 * 1024 / (M * K * 4)) + 1, "memory");
        }
        return 0;
    }
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
