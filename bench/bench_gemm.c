/* bench/bench_gemm.c — nabla's SGEMM against OpenBLAS, shape by shape, at 1 and 2 threads.
 *
 * For each shape and thread count: one warm-up call of each, then ROUNDS rounds that time
 * nabla and OpenBLAS alternately (the order flips every round, so drift in the machine's
 * load hits both alike); each timing repeats the call for at least 20 ms. The table shows
 * the median GFLOP/s of each and their ratio, and the spread (max/min of nabla's rounds) as
 * a noise indicator. OpenBLAS is loaded with dlopen (bench/blas_dl.h): without it, only
 * nabla's column is printed.
 *
 *   bench_gemm            squares 64..2048 and the training shapes with their backward forms
 *   bench_gemm quick      fewer shapes and rounds
 *   bench_gemm M K N [ta tb]   one shape
 * Environment: BENCH_THREADS="1 2" (default), BENCH_ROUNDS=7. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_dl.h"
#include "nabla.h"

typedef struct shape {
    const char *what;
    int M, K, N, ta, tb;
} shape;

static const shape full_list[] = {
    {"square", 64, 64, 64, 0, 0},       {"square", 128, 128, 128, 0, 0},
    {"square", 256, 256, 256, 0, 0},    {"square", 512, 512, 512, 0, 0},
    {"square", 1024, 1024, 1024, 0, 0}, {"square", 2048, 2048, 2048, 0, 0},
    /* forward x W: M x K x N */
    {"fwd", 64, 784, 256, 0, 0},        {"fwd", 128, 784, 256, 0, 0},
    {"fwd", 256, 784, 256, 0, 0},       {"fwd", 64, 256, 128, 0, 0},
    {"fwd", 128, 256, 128, 0, 0},       {"fwd", 256, 256, 128, 0, 0},
    {"fwd", 64, 128, 10, 0, 0},         {"fwd", 64, 3072, 768, 0, 0},
    /* backward dX = dY Wᵀ: M x N x K, B transposed */
    {"dX", 64, 256, 784, 0, 1},         {"dX", 128, 256, 784, 0, 1},
    {"dX", 256, 256, 784, 0, 1},        {"dX", 64, 128, 256, 0, 1},
    {"dX", 128, 128, 256, 0, 1},        {"dX", 256, 128, 256, 0, 1},
    {"dX", 64, 10, 128, 0, 1},          {"dX", 64, 768, 3072, 0, 1},
    /* backward dW = Xᵀ dY: K x M x N, A transposed */
    {"dW", 784, 64, 256, 1, 0},         {"dW", 784, 128, 256, 1, 0},
    {"dW", 784, 256, 256, 1, 0},        {"dW", 256, 64, 128, 1, 0},
    {"dW", 256, 128, 128, 1, 0},        {"dW", 256, 256, 128, 1, 0},
    {"dW", 128, 64, 10, 1, 0},          {"dW", 3072, 64, 768, 1, 0},
};
static const shape quick_list[] = {
    {"square", 256, 256, 256, 0, 0}, {"square", 1024, 1024, 1024, 0, 0},
    {"fwd", 64, 784, 256, 0, 0},     {"fwd", 64, 128, 10, 0, 0},
    {"dX", 64, 256, 784, 0, 1},      {"dW", 784, 64, 256, 1, 0},
};

static blas_dl blas;
static int have_blas;

typedef struct problem {
    shape s;
    float *A, *B, *C, *C2;
    int lda, ldb;
} problem;

static void run_nabla(const problem *p) {
    nb_status st = nb_sgemm(p->s.ta, p->s.tb, p->s.M, p->s.N, p->s.K, 1.0f, p->A, p->lda, p->B,
                            p->ldb, 0.0f, p->C, p->s.N);
    if (st != NB_OK) {
        fprintf(stderr, "nb_sgemm failed: %s\n", nb_last_error());
        exit(1);
    }
}

static void run_blas(const problem *p) {
    blas.sgemm(BLAS_ROW_MAJOR, p->s.ta ? BLAS_TRANS : BLAS_NO_TRANS,
               p->s.tb ? BLAS_TRANS : BLAS_NO_TRANS, p->s.M, p->s.N, p->s.K, 1.0f, p->A, p->lda,
               p->B, p->ldb, 0.0f, p->C2, p->s.N);
}

/* seconds per call, repeating for at least 20 ms */
static double time_calls(void (*fn)(const problem *), const problem *p) {
    int reps = 0;
    double t0 = nb_time(), t;
    do {
        fn(p);
        reps++;
        t = nb_time();
    } while (t - t0 < 0.02);
    return (t - t0) / reps;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_shape(shape s, const int *threads, int nthreads, int rounds) {
    problem p = {s, NULL, NULL, NULL, NULL, s.ta ? s.M : s.K, s.tb ? s.K : s.N};
    size_t na = (size_t)s.M * s.K, nb = (size_t)s.K * s.N, nc = (size_t)s.M * s.N;
    p.A = nb_malloc(na * sizeof(float));
    p.B = nb_malloc(nb * sizeof(float));
    p.C = nb_malloc(nc * sizeof(float));
    p.C2 = nb_malloc(nc * sizeof(float));
    if (!p.A || !p.B || !p.C || !p.C2) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    for (size_t i = 0; i < na; i++) p.A[i] = nb_rng_uniform(&rng) - 0.5f;
    for (size_t i = 0; i < nb; i++) p.B[i] = nb_rng_uniform(&rng) - 0.5f;
    double flops = 2.0 * s.M * s.N * s.K;
    char name[64];
    snprintf(name, sizeof name, "%dx%dx%d%s", s.M, s.K, s.N,
             s.ta ? " Aᵀ" : (s.tb ? " Bᵀ" : ""));
    for (int ti = 0; ti < nthreads; ti++) {
        int nt = threads[ti];
        nb_set_threads(nt);
        if (have_blas && blas.set_threads) blas.set_threads(nt);
        double tn[64], tb[64];
        run_nabla(&p); /* warm-up: buffers, pool, caches */
        if (have_blas) run_blas(&p);
        for (int r = 0; r < rounds; r++) {
            if (r % 2 == 0) {
                tn[r] = time_calls(run_nabla, &p);
                if (have_blas) tb[r] = time_calls(run_blas, &p);
            } else {
                if (have_blas) tb[r] = time_calls(run_blas, &p);
                tn[r] = time_calls(run_nabla, &p);
            }
        }
        double lo = tn[0], hi = tn[0];
        for (int r = 1; r < rounds; r++) {
            lo = tn[r] < lo ? tn[r] : lo;
            hi = tn[r] > hi ? tn[r] : hi;
        }
        double gn = flops / median(tn, rounds) * 1e-9;
        if (have_blas) {
            double err = 0.0, scale = 0.0;
            for (size_t i = 0; i < nc; i++) {
                err = fmax(err, fabs((double)p.C[i] - p.C2[i]));
                scale = fmax(scale, fabs((double)p.C2[i]));
            }
            double gb = flops / median(tb, rounds) * 1e-9;
            printf("%-6s %-18s %3d %9.1f %9.1f %7.2f %7.2f  %.1e\n", s.what, name, nt, gn, gb,
                   gn / gb, hi / lo, err / (scale > 0 ? scale : 1));
        } else {
            printf("%-6s %-18s %3d %9.1f %9s %7s %7.2f\n", s.what, name, nt, gn, "-", "-",
                   hi / lo);
        }
        fflush(stdout);
    }
    nb_free(p.A);
    nb_free(p.B);
    nb_free(p.C);
    nb_free(p.C2);
}

int main(int argc, char **argv) {
    have_blas = getenv("BENCH_NO_BLAS") ? 0 : blas_dl_open(&blas);
    int threads[8] = {1, 2}, nthreads = 2;
    const char *e = getenv("BENCH_THREADS");
    if (e) {
        nthreads = 0;
        char *end;
        for (long v = strtol(e, &end, 10); end != e && nthreads < 8; v = strtol(e, &end, 10)) {
            threads[nthreads++] = (int)v;
            e = end;
        }
    }
    int rounds = 7;
    e = getenv("BENCH_ROUNDS");
    if (e && atoi(e) > 0 && atoi(e) <= 64) rounds = atoi(e);
    printf("nabla SGEMM (isa %s) vs %s%s\n", nb_kernel_isa(),
           have_blas ? "OpenBLAS " : "no OpenBLAS found",
           have_blas && blas.corename ? blas.corename() : "");
    printf("median of %d interleaved rounds; spread = slowest/fastest nabla round; err = max "
           "|nabla - OpenBLAS| / max |C|\n",
           rounds);
    printf("%-6s %-18s %3s %9s %9s %7s %7s  %s\n", "kernel", "shape MxKxN", "thr", "nabla",
           "OpenBLAS", "ratio", "spread", "err");
    if (argc >= 4) {
        shape s = {"custom", atoi(argv[1]), atoi(argv[2]), atoi(argv[3]),
                   argc > 4 ? atoi(argv[4]) : 0, argc > 5 ? atoi(argv[5]) : 0};
        if (s.M < 1 || s.K < 1 || s.N < 1) {
            fprintf(stderr, "usage: bench_gemm [quick | M K N [ta tb]]\n");
            return 2;
        }
        bench_shape(s, threads, nthreads, rounds);
        return 0;
    }
    int quick = argc > 1 && !strcmp(argv[1], "quick");
    const shape *list = quick ? quick_list : full_list;
    size_t n = quick ? sizeof quick_list / sizeof *quick_list : sizeof full_list / sizeof *full_list;
    if (quick && !getenv("BENCH_ROUNDS")) rounds = 3;
    for (size_t i = 0; i < n; i++) bench_shape(list[i], threads, nthreads, rounds);
    return 0;
}
