/* bench_dist — data-parallel training over MPI (make MPI=1): how much of the gradient
 * all-reduce hides behind the backward pass, and the latency and bandwidth of all-reduce.
 * Run under mpirun:
 *
 *     mpirun -np 2 build-mpi/bench/bench_dist [--model cnn|mlp] [--batch B] [--steps S]
 *     mpirun -np 2 build-mpi/bench/bench_dist --alpha-beta
 *
 * Overlap (the default). Every process times, on random data at batch B each:
 *   T1     a training step of its own (no communication; the processes all compute at once,
 *          so they share the machine as in the runs below)
 *   Ts     the same with a barrier after every step: lock-step without data (what waiting for
 *          the slowest process costs on its own)
 *   Tov    a data-parallel step, buckets summed while backward runs (nb_ddp), with the
 *          progress thread (progress_thread = 1)
 *   Tno    the same with the sums started only after backward (no_overlap)
 *   Tnp    overlapped, without the progress thread: the sums move only when autograd's hook
 *          and the final wait call MPI (progress_thread = -1)
 *   Tar    one all-reduce of the whole gradient (the same bytes), alone
 * in ROUNDS rounds (each measurement once per round, medians reported), and the hidden
 * fraction h = 1 − (Tov − T1) / Tar (1: all communication hidden; 0: none; also against Ts),
 * with the waiting time nb_ddp measured itself, and the load average, since a busy machine
 * moves every number.
 *
 * --alpha-beta: the time of MPI_Allreduce (blocking), of nabla's polled MPI_Iallreduce and of
 * nabla's ring, for 4 KiB to 64 MiB, and the fit of the ring all-reduce's α-β model
 *     t(n) = 2(N−1) α + 2(N−1)/N · n β
 * to the MPI_Allreduce times (least squares on relative error): α the latency of one message,
 * 1/β the bandwidth (docs/distributed.md uses them). */
#define _POSIX_C_SOURCE 200809L
#include "nabla.h"
#include "nabla/dist.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nb_dist *D;

enum { ROUNDS = 5 };

static double median(double *v, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void load_average(char *buf, size_t n) {
    FILE *f = fopen("/proc/loadavg", "r");
    double a = -1, b = -1, c = -1;
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3) a = b = c = -1;
        fclose(f);
    }
    snprintf(buf, n, "%.2f %.2f %.2f", a, b, c);
}

static nb_model *make_model(const char *kind) {
    nb_model *m;
    if (!strcmp(kind, "mlp")) { /* examples/fmnist_mlp.c */
        m = nb_model_new(NB_DIMS(784), 42);
        nb_model_dense(m, 256, NB_ACT_RELU);
        nb_model_dense(m, 128, NB_ACT_RELU);
        nb_model_dense(m, 10, NB_ACT_NONE);
    } else { /* examples/specs/fmnist_cnn.spec */
        m = nb_model_new(NB_DIMS(1, 28, 28), 42);
        nb_model_conv2d(m, 32, 5, NB_ACT_RELU);
        nb_model_max_pool2d(m, 2, 0);
        nb_model_conv2d(m, 64, 5, NB_ACT_RELU);
        nb_model_max_pool2d(m, 2, 0);
        nb_model_flatten(m);
        nb_model_dense(m, 128, NB_ACT_RELU);
        nb_model_dense(m, 10, NB_ACT_NONE);
    }
    return m;
}

/* Mean seconds of a training step over `steps` (after 2 to warm up), the slower process's;
 * ddp may be NULL; barrier: a barrier after every step (lock-step without data). */
static double time_steps(nb_model *m, nb_optim *opt, nb_ddp *ddp, nb_tensor *x, nb_tensor *y,
                         int steps, int barrier, const float *start) {
    /* every measurement from the same parameters: weights drifting apart (into denormals,
     * say) would change the arithmetic's speed between measurements */
    nb_params *ps = nb_model_params(m);
    memcpy(nb_params_data(ps), start, sizeof(float) * (size_t)nb_params_numel(ps));
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_step_opts so = {.replicas = ddp ? nb_ddp_replicas(ddp) : NULL,
                       .global_size = x->shape[0] * (ddp ? nb_dist_size(D) : 1)};
    double t0 = 0;
    for (int s = 0; s < steps + 2; s++) {
        if (s == 2) {
            MPI_Barrier(MPI_COMM_WORLD);
            if (ddp) nb_ddp_reset_stats(ddp);
            t0 = MPI_Wtime();
        }
        nb_ctx_reset(ctx);
        if (nb_train_step(m, opt, ctx, x, y, &so, NULL) != NB_OK) {
            fprintf(stderr, "bench_dist: %s\n", nb_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if (barrier) MPI_Barrier(MPI_COMM_WORLD);
    }
    double t = (MPI_Wtime() - t0) / steps;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    nb_ctx_free(ctx);
    return t;
}

static int overlap(const char *kind, int64_t B, int steps, int64_t bucket_kb) {
    const int rank = nb_dist_rank(D), N = nb_dist_size(D);
    nb_model *m = make_model(kind);
    int64_t in[NB_MAX_RANK], shape[NB_MAX_RANK + 1];
    int r = nb_model_input_shape(m, in);
    shape[0] = B;
    for (int i = 0; i < r; i++) shape[i + 1] = in[i];
    nb_rng g;
    nb_rng_seed(&g, 100 + (uint64_t)rank);
    nb_tensor *x = nb_randn(NULL, r + 1, shape, 0.0f, 1.0f, &g);
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, 1, shape);
    for (int64_t i = 0; i < B; i++) ((int32_t *)y->data)[i] = (int32_t)(i % 10);
    nb_optim *opt = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 1e-3});
    const int64_t bytes = 4 * nb_params_numel(nb_model_params(m));
    float *start = malloc((size_t)bytes);
    memcpy(start, nb_params_data(nb_model_params(m)), (size_t)bytes);

    /* rounds of every measurement in turn, so that a change of load touches all alike;
     * medians over the rounds */
    enum { T1, TSYNC, TOV, TNO, TNP, TAR, NT };
    double t[NT][ROUNDS];
    nb_ddp_stats st[3];
    int nbk = 0;
    nb_ddp *ddp[3];
    for (int k = 0; k < 3; k++) {
        nb_ddp_opts o = {
            .bucket_bytes = bucket_kb * 1024, .no_overlap = k == 1, .progress_thread = k == 2 ? -1 : 1};
        if (nb_ddp_new(D, m, opt, &o, &ddp[k]) != NB_OK) {
            fprintf(stderr, "bench_dist: %s\n", nb_last_error());
            return 1;
        }
    }
    nbk = nb_ddp_buckets(ddp[0], NULL, 0);
    for (int rd = 0; rd < ROUNDS; rd++) {
        t[T1][rd] = time_steps(m, opt, NULL, x, y, steps, 0, start);
        t[TSYNC][rd] = time_steps(m, opt, NULL, x, y, steps, 1, start);
        t[TOV][rd] = time_steps(m, opt, ddp[0], x, y, steps, 0, start);
        nb_ddp_get_stats(ddp[0], &st[0]);
        t[TNO][rd] = time_steps(m, opt, ddp[1], x, y, steps, 0, start);
        nb_ddp_get_stats(ddp[1], &st[1]);
        t[TNP][rd] = time_steps(m, opt, ddp[2], x, y, steps, 0, start);
        nb_ddp_get_stats(ddp[2], &st[2]);
        if (nb_dist_time_allreduce(D, NB_DIST_MPI, bytes, steps, &t[TAR][rd]) != NB_OK) {
            fprintf(stderr, "bench_dist: %s\n", nb_last_error());
            return 1;
        }
    }
    nb_ddp_free(ddp[0]);
    nb_ddp_free(ddp[1]);
    nb_ddp_free(ddp[2]);
    double med[NT];
    for (int i = 0; i < NT; i++) med[i] = median(t[i], ROUNDS);
    if (rank == 0) {
        char la[64];
        load_average(la, sizeof la);
        const double t1 = med[T1], ts = med[TSYNC], tov = med[TOV], tno = med[TNO], tar = med[TAR];
        printf("%s, batch %lld per process, %d processes, %d rounds of %d steps, %lld gradient "
               "bytes in %d buckets of >= %lld KiB (load average %s)\n",
               kind, (long long)B, N, ROUNDS, steps, (long long)bytes, nbk, (long long)bucket_kb,
               la);
        printf("  T1  step alone                 %8.2f ms\n", t1 * 1e3);
        printf("  Ts  step alone, in lock-step   %8.2f ms   (a barrier after each step)\n",
               ts * 1e3);
        printf("  Tov step, overlapped           %8.2f ms   (last round: waited %.2f ms/step; "
               "backward after the first bucket %.2f ms)\n",
               tov * 1e3, st[0].wait_s / st[0].steps * 1e3, st[0].backward_s / st[0].steps * 1e3);
        printf("  Tno step, not overlapped       %8.2f ms   (last round: waited %.2f ms/step)\n",
               tno * 1e3, st[1].wait_s / st[1].steps * 1e3);
        printf("  Tnp step, hook polls only      %8.2f ms   (no progress thread; last round: "
               "waited %.2f ms/step)\n",
               med[TNP] * 1e3, st[2].wait_s / st[2].steps * 1e3);
        printf("  Tar all-reduce alone           %8.2f ms\n", tar * 1e3);
        printf("  hidden 1 - (Tov - T1)/Tar = %.2f, 1 - (Tov - Ts)/Tar = %.2f   (not overlapped: "
               "%.2f, %.2f)\n",
               1.0 - (tov - t1) / tar, 1.0 - (tov - ts) / tar, 1.0 - (tno - t1) / tar,
               1.0 - (tno - ts) / tar);
        printf("  hidden without the progress thread: 1 - (Tnp - T1)/Tar = %.2f\n",
               1.0 - (med[TNP] - t1) / tar);
    }
    free(start);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_optim_free(opt);
    nb_model_free(m);
    return 0;
}

/* MPI_Allreduce (blocking) of n floats: mean seconds, the slower process's. */
static double time_blocking(int64_t bytes, int reps) {
    const int n = (int)(bytes / 4);
    float *buf = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) buf[i] = 1.0f;
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int k = 0; k < reps; k++)
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double t = (MPI_Wtime() - t0) / reps;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    free(buf);
    return t;
}

static int alpha_beta(void) {
    const int N = nb_dist_size(D), lead = nb_dist_rank(D) == 0;
    enum { K = 8 };
    double n[K], tb[K];
    char la[64];
    load_average(la, sizeof la);
    if (lead) {
        printf("all-reduce of float32 on %d processes (load average %s); busbw = "
               "bytes/time * 2(N-1)/N\n",
               N, la);
        printf("  %10s  %14s %10s  %14s  %14s\n", "bytes", "MPI_Allreduce", "busbw", "Iallreduce",
               "nabla ring");
    }
    const double f = N > 1 ? 2.0 * (N - 1) / N : 1.0;
    int k = 0;
    for (int64_t bytes = 4096; bytes <= ((int64_t)64 << 20); bytes *= 4, k++) {
        const int reps = bytes <= (1 << 16) ? 200 : bytes <= (1 << 22) ? 20 : 4;
        double ti, tr;
        tb[k] = time_blocking(bytes, reps);
        n[k] = (double)bytes;
        if (nb_dist_time_allreduce(D, NB_DIST_MPI, bytes, reps, &ti) != NB_OK ||
            nb_dist_time_allreduce(D, NB_DIST_RING, bytes, reps, &tr) != NB_OK) {
            fprintf(stderr, "bench_dist: %s\n", nb_last_error());
            return 1;
        }
        if (lead)
            printf("  %10lld  %11.1f us %6.2f GB/s  %11.1f us  %11.1f us\n", (long long)bytes,
                   tb[k] * 1e6, n[k] / tb[k] * f / 1e9, ti * 1e6, tr * 1e6);
    }
    /* t = a + b n, least squares on relative error (weights 1/t²): a = 2(N−1)α,
     * b = 2(N−1)/N β */
    double s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0;
    for (int i = 0; i < k; i++) {
        const double w = 1.0 / (tb[i] * tb[i]);
        s00 += w;
        s01 += w * n[i];
        s11 += w * n[i] * n[i];
        r0 += w * tb[i];
        r1 += w * n[i] * tb[i];
    }
    const double det = s00 * s11 - s01 * s01;
    const double a = (s11 * r0 - s01 * r1) / det, b = (s00 * r1 - s01 * r0) / det;
    const double alpha = N > 1 ? a / (2.0 * (N - 1)) : a, beta = b / f;
    if (lead)
        printf("alpha-beta fit (ring all-reduce, t = 2(N-1) alpha + 2(N-1)/N n beta): alpha = "
               "%.2f us, beta = %.4g s/byte (1/beta = %.2f GB/s)\n",
               alpha * 1e6, beta, 1e-9 / beta);
    return 0;
}

int main(int argc, char **argv) {
    if (nb_dist_init(&argc, &argv, &D) != NB_OK) {
        fprintf(stderr, "bench_dist: %s\n", nb_last_error());
        return 1;
    }
    const char *model = NULL;
    int64_t B = 32, bucket_kb = 128;
    int steps = 10, ab = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--alpha-beta"))
            ab = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            B = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bucket-kb") && i + 1 < argc)
            bucket_kb = atoll(argv[++i]);
        else {
            if (nb_dist_rank(D) == 0)
                fprintf(stderr, "usage: bench_dist [--model cnn|mlp] [--batch B] [--steps S] "
                                "[--bucket-kb K] | --alpha-beta\n");
            nb_dist_finalize(D);
            return 2;
        }
    }
    if (B < 1 || steps < 1 || bucket_kb < 1) {
        nb_dist_finalize(D);
        return 2;
    }
    int rc = 0;
    if (ab)
        rc = alpha_beta();
    else if (model)
        rc = overlap(model, B, steps, bucket_kb);
    else
        rc = overlap("cnn", B, steps, bucket_kb) || overlap("mlp", B, steps, bucket_kb);
    nb_dist_finalize(D);
    return rc;
}
