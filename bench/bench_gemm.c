/* bench/bench_gemm.c — nabla's SGEMM against OpenBLAS, shape by shape, at 1 and 2 threads.
 *
 * For each shape and thread count: ROUNDS rounds that time nabla and OpenBLAS alternately
 * (the order flips every round, so drift in the machine's load hits both alike), each timing
 * in a fresh child process (see in_child) after a warm-up call, repeating the call for at
 * least 20 ms. The table shows
 * the median GFLOP/s of each and their ratio, the spread (max/min of nabla's rounds) as
 * a noise indicator, and nabla's median CPU time per call (all threads together: at 2
 * threads, time a member spends waiting shows as CPU time beyond the 1-thread figure). OpenBLAS is
 * loaded with dlopen (bench/blas_dl.h): without it, only nabla's column is printed.
 *
 *   bench_gemm            squares 64..2048 and the training shapes with their backward forms
 *   bench_gemm quick      fewer shapes and rounds
 *   bench_gemm mlp        the GEMMs of one bench_mlp training step at batch 64 (forward,
 *                         dX and dW of 784-256-128-10; dW accumulates, beta = 1)
 *   bench_gemm M K N [ta tb]   one shape
 * Environment: BENCH_THREADS="1 2" (default), BENCH_ROUNDS=7. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_dl.h"
#include "nabla.h"

typedef struct shape {
    const char *what;
    int M, K, N, ta, tb;
    float beta;
} shape;

static const shape full_list[] = {
    {"square", 64, 64, 64, 0, 0, 0.0f},
    {"square", 128, 128, 128, 0, 0, 0.0f},
    {"square", 256, 256, 256, 0, 0, 0.0f},
    {"square", 512, 512, 512, 0, 0, 0.0f},
    {"square", 1024, 1024, 1024, 0, 0, 0.0f},
    {"square", 2048, 2048, 2048, 0, 0, 0.0f},
    /* forward x W: M x K x N */
    {"fwd", 64, 784, 256, 0, 0, 0.0f},
    {"fwd", 128, 784, 256, 0, 0, 0.0f},
    {"fwd", 256, 784, 256, 0, 0, 0.0f},
    {"fwd", 64, 256, 128, 0, 0, 0.0f},
    {"fwd", 128, 256, 128, 0, 0, 0.0f},
    {"fwd", 256, 256, 128, 0, 0, 0.0f},
    {"fwd", 64, 128, 10, 0, 0, 0.0f},
    {"fwd", 64, 3072, 768, 0, 0, 0.0f},
    /* backward dX = dY Wᵀ: M x N x K, B transposed */
    {"dX", 64, 256, 784, 0, 1, 0.0f},
    {"dX", 128, 256, 784, 0, 1, 0.0f},
    {"dX", 256, 256, 784, 0, 1, 0.0f},
    {"dX", 64, 128, 256, 0, 1, 0.0f},
    {"dX", 128, 128, 256, 0, 1, 0.0f},
    {"dX", 256, 128, 256, 0, 1, 0.0f},
    {"dX", 64, 10, 128, 0, 1, 0.0f},
    {"dX", 64, 768, 3072, 0, 1, 0.0f},
    /* backward dW = Xᵀ dY: K x M x N, A transposed */
    {"dW", 784, 64, 256, 1, 0, 0.0f},
    {"dW", 784, 128, 256, 1, 0, 0.0f},
    {"dW", 784, 256, 256, 1, 0, 0.0f},
    {"dW", 256, 64, 128, 1, 0, 0.0f},
    {"dW", 256, 128, 128, 1, 0, 0.0f},
    {"dW", 256, 256, 128, 1, 0, 0.0f},
    {"dW", 128, 64, 10, 1, 0, 0.0f},
    {"dW", 3072, 64, 768, 1, 0, 0.0f},
};
/* one training step of bench_mlp at batch 64 (src/ops/linear.c's calls; the first layer's
 * dX is not needed) */
static const shape mlp_list[] = {
    {"fwd", 64, 784, 256, 0, 0, 0.0f}, {"fwd", 64, 256, 128, 0, 0, 0.0f},
    {"fwd", 64, 128, 10, 0, 0, 0.0f},  {"dX", 64, 10, 128, 0, 1, 1.0f},
    {"dX", 64, 128, 256, 0, 1, 1.0f},  {"dW", 128, 64, 10, 1, 0, 1.0f},
    {"dW", 256, 64, 128, 1, 0, 1.0f},  {"dW", 784, 64, 256, 1, 0, 1.0f},
};
static const shape quick_list[] = {
    {"square", 256, 256, 256, 0, 0, 0.0f}, {"square", 1024, 1024, 1024, 0, 0, 0.0f},
    {"fwd", 64, 784, 256, 0, 0, 0.0f},     {"fwd", 64, 128, 10, 0, 0, 0.0f},
    {"dX", 64, 256, 784, 0, 1, 0.0f},      {"dW", 784, 64, 256, 1, 0, 0.0f},
};

typedef struct problem {
    shape s;
    float *A, *B, *C;
    int lda, ldb;
} problem;

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_per_call; /* the last time_calls's CPU seconds per call */

static blas_dl blas;

static void run_nabla(const problem *p) {
    nb_status st = nb_sgemm(p->s.ta, p->s.tb, p->s.M, p->s.N, p->s.K, 1.0f, p->A, p->lda, p->B,
                            p->ldb, 0.0f, p->C, p->s.N);
    if (st != NB_OK) {
        fprintf(stderr, "nb_sgemm failed: %s\n", nb_last_error());
        _exit(1);
    }
}

static void run_blas(const problem *p) {
    blas.sgemm(BLAS_ROW_MAJOR, p->s.ta ? BLAS_TRANS : BLAS_NO_TRANS,
               p->s.tb ? BLAS_TRANS : BLAS_NO_TRANS, p->s.M, p->s.N, p->s.K, 1.0f, p->A, p->lda,
               p->B, p->ldb, p->s.beta, p->C, p->s.N);
}

static int problem_make(problem *p, shape s) {
    *p = (problem){s, NULL, NULL, NULL, s.ta ? s.M : s.K, s.tb ? s.K : s.N};
    size_t na = (size_t)s.M * s.K, nb = (size_t)s.K * s.N, nc = (size_t)s.M * s.N;
    p->A = malloc(na * sizeof(float));
    p->B = malloc(nb * sizeof(float));
    p->C = calloc(nc, sizeof(float)); /* beta = 1 shapes read it */
    if (!p->A || !p->B || !p->C) return 0;
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    for (size_t i = 0; i < na; i++) p->A[i] = nb_rng_uniform(&rng) - 0.5f;
    for (size_t i = 0; i < nb; i++) p->B[i] = nb_rng_uniform(&rng) - 0.5f;
    return 1;
}

/* seconds per call, repeating for at least 20 ms after one warm-up call */
static double time_calls(void (*fn)(const problem *), const problem *p) {
    fn(p);
    int reps = 0;
    double c0 = cpu_now(), t0 = nb_time(), t;
    do {
        fn(p);
        reps++;
        t = nb_time();
    } while (t - t0 < 0.02);
    cpu_per_call = (cpu_now() - c0) / reps;
    return (t - t0) / reps;
}

/* Each measurement runs in a child process of its own: two libraries' thread pools in one
 * process fight over the cores (OpenBLAS's idle threads spin for a long while after each
 * call), which would measure the fight, not the GEMMs. The parent starts no threads.
 * which: 0 = nabla, 1 = OpenBLAS, 2 = max |nabla - OpenBLAS| / max |C| at 1 thread. */
static double in_child(shape s, int which, int nt, double *cpu) {
    int fd[2];
    if (pipe(fd) != 0) return -1.0;
    pid_t pid = fork();
    if (pid < 0) return -1.0;
    if (pid == 0) {
        close(fd[0]);
        double r = -1.0;
        problem p;
        if (problem_make(&p, s)) {
            if (which == 0) {
                nb_set_threads(nt);
                r = time_calls(run_nabla, &p);
            } else if (blas_dl_open(&blas)) {
                if (blas.set_threads) blas.set_threads(nt);
                if (which == 1) {
                    r = time_calls(run_blas, &p);
                } else {
                    size_t nc = (size_t)s.M * s.N;
                    float *ref = malloc(nc * sizeof *ref);
                    run_blas(&p);
                    memcpy(ref, p.C, nc * sizeof *ref);
                    nb_set_threads(nt);
                    run_nabla(&p);
                    double err = 0.0, scale = 0.0;
                    for (size_t i = 0; i < nc; i++) {
                        err = fmax(err, fabs((double)p.C[i] - ref[i]));
                        scale = fmax(scale, fabs((double)ref[i]));
                    }
                    r = err / (scale > 0 ? scale : 1);
                }
            }
        }
        double out[2] = {r, cpu_per_call};
        if (write(fd[1], out, sizeof out) != (ssize_t)sizeof out) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    double r[2] = {-1.0, 0.0};
    if (read(fd[0], r, sizeof r) != (ssize_t)sizeof r) r[0] = -1.0;
    close(fd[0]);
    if (cpu) *cpu = r[1];
    int st;
    waitpid(pid, &st, 0);
    return r[0];
}

static int have_blas;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_shape(shape s, const int *threads, int nthreads, int rounds) {
    double flops = 2.0 * s.M * s.N * s.K;
    char name[64];
    snprintf(name, sizeof name, "%dx%dx%d%s", s.M, s.K, s.N,
             s.ta ? " Aᵀ" : (s.tb ? " Bᵀ" : ""));
    double err = have_blas ? in_child(s, 2, 1, NULL) : -1.0;
    for (int ti = 0; ti < nthreads; ti++) {
        int nt = threads[ti];
        double tn[64], tb[64], cn[64];
        for (int r = 0; r < rounds; r++) {
            if (r % 2 == 0) {
                tn[r] = in_child(s, 0, nt, &cn[r]);
                if (have_blas) tb[r] = in_child(s, 1, nt, NULL);
            } else {
                if (have_blas) tb[r] = in_child(s, 1, nt, NULL);
                tn[r] = in_child(s, 0, nt, &cn[r]);
            }
            if (tn[r] <= 0 || (have_blas && tb[r] <= 0)) {
                fprintf(stderr, "bench_gemm: a measurement failed for %s\n", name);
                exit(1);
            }
        }
        double lo = tn[0], hi = tn[0];
        for (int r = 1; r < rounds; r++) {
            lo = tn[r] < lo ? tn[r] : lo;
            hi = tn[r] > hi ? tn[r] : hi;
        }
        double gn = flops / median(tn, rounds) * 1e-9, cus = 1e6 * median(cn, rounds);
        if (have_blas) {
            double gb = flops / median(tb, rounds) * 1e-9;
            printf("%-6s %-18s %3d %9.1f %8.1f %9.1f %7.2f %7.2f  %.1e\n", s.what, name, nt, gn,
                   cus, gb, gn / gb, hi / lo, err);
        } else {
            printf("%-6s %-18s %3d %9.1f %8.1f %9s %7s %7.2f\n", s.what, name, nt, gn, cus, "-",
                   "-", hi / lo);
        }
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    /* probe for OpenBLAS in a child: loading it here would start its threads in the parent */
    have_blas = 0;
    if (!getenv("BENCH_NO_BLAS")) {
        pid_t pid = fork();
        if (pid == 0) _exit(blas_dl_open(&blas) ? 0 : 1);
        int st = 1;
        if (pid > 0) waitpid(pid, &st, 0);
        have_blas = pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
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
    printf("nabla SGEMM (isa %s) vs %s\n", nb_kernel_isa(),
           have_blas ? "OpenBLAS (dlopen, own process)" : "no OpenBLAS found");
    printf("GFLOP/s, median of %d interleaved rounds; spread = slowest/fastest nabla round; "
           "err = max |nabla - OpenBLAS| / max |C|\n",
           rounds);
    printf("%-6s %-18s %3s %9s %8s %9s %7s %7s  %s\n", "kernel", "shape MxKxN", "thr", "nabla",
           "cpu us", "OpenBLAS", "ratio", "spread", "err");
    if (argc >= 4) {
        shape s = {"custom",
                   atoi(argv[1]),
                   atoi(argv[2]),
                   atoi(argv[3]),
                   argc > 4 ? atoi(argv[4]) : 0,
                   argc > 5 ? atoi(argv[5]) : 0,
                   0.0f};
        if (s.M < 1 || s.K < 1 || s.N < 1) {
            fprintf(stderr, "usage: bench_gemm [quick | mlp | M K N [ta tb]]\n");
            return 2;
        }
        bench_shape(s, threads, nthreads, rounds);
        return 0;
    }
    int quick = argc > 1 && !strcmp(argv[1], "quick");
    int mlp = argc > 1 && !strcmp(argv[1], "mlp");
    const shape *list = quick ? quick_list : mlp ? mlp_list : full_list;
    size_t n = quick ? sizeof quick_list / sizeof *quick_list
               : mlp ? sizeof mlp_list / sizeof *mlp_list
                     : sizeof full_list / sizeof *full_list;
    if (quick && !getenv("BENCH_ROUNDS")) rounds = 3;
    for (size_t i = 0; i < n; i++) bench_shape(list[i], threads, nthreads, rounds);
    return 0;
}
