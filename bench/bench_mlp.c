/* bench_mlp — training steps of the MLP 784-256-128-10 (ReLU) with softmax cross-entropy on
 * random data: samples/second at batch 64 and 256, SGD and Adam, 1 and 2 threads. Its twin
 * in PyTorch is bench/torch/mlp.py (same model, data shapes, optimizer and step), so the two
 * can be run side by side:
 *
 *     build/bench/bench_mlp [steps]                     the whole table
 *     build/bench/bench_mlp --threads 2 --batch 64 --opt sgd [--steps N]   one line, in the
 *                                                       format of bench/torch/mlp.py
 *     OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/mlp.py --threads 2 --batch 64 --opt sgd
 *     sh bench/compare_mlp.sh [ROUNDS]                  both, interleaved, with medians
 *     build/bench/bench_mlp --threads 2 --per-step 1    and a second line: the timed steps'
 *                                                       wall times (percentiles, mean)
 *     build/bench/bench_mlp --threads 2 --phases 1      and the median time of each part of
 *                                                       the step: forward with the loss, zero
 *                                                       the gradients, backward, update
 *     build/bench/bench_mlp --threads 2 --update 0      steps without the optimizer's update
 *                                                       (the weights never change: what the
 *                                                       passes cost when no core rewrites them)
 *
 * Each configuration: 20 warm-up steps, then the median of 5 timed runs of `steps` steps.
 * The rate counts every step; on a shared machine two-thread steps spread far wider than
 * one-thread ones (a step waits for both cores), and the per-step line shows how: its 2nd
 * percentile is the speed when both threads had a core, its mean is what the rate sees. */
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Wall times of every timed step (per_step mode), in microseconds. */
static double *step_us;
static int n_step_us;

/* The timed steps' parts (phases mode), in microseconds: forward, zero_grad, backward, step. */
enum { PHASES = 4 };
static double *phase_us[PHASES];
static int n_phase_us;
static int do_update = 1; /* --update 0: leave the weights as they are */

static double run(int batch, int adam, int threads, int steps) {
    nb_set_threads(threads);
    nb_model *m = nb_model_new(NB_DIMS(784), 0);
    nb_model_dense(m, 256, NB_ACT_RELU);
    nb_model_dense(m, 128, NB_ACT_RELU);
    nb_model_dense(m, 10, NB_ACT_NONE);
    nb_optim *opt;
    if (adam) {
        nb_adam_opts o = {.lr = 1e-3};
        opt = nb_adam_new(nb_model_params(m), &o);
    } else {
        opt = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.01});
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_tensor *x = nb_randn(NULL, NB_DIMS(batch, 784), 0.0f, 1.0f, &rng);
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, NB_DIMS(batch));
    if (!m || !opt || !ctx || !x || !y) {
        fprintf(stderr, "bench_mlp: %s\n", nb_last_error());
        exit(1);
    }
    for (int i = 0; i < batch; i++) nb_i32(y)[i] = (int32_t)nb_rng_below(&rng, 10);
    double rates[5];
    for (int rep = -1; rep < 5; rep++) {
        int n = rep < 0 ? 20 : steps;
        double t0 = nb_time();
        for (int s = 0; s < n; s++) {
            const int timed = rep >= 0 && (step_us || phase_us[0]);
            double ts[PHASES + 1];
            ts[0] = timed ? nb_time() : 0.0;
            nb_ctx_reset(ctx);
            nb_tensor *loss =
                nb_cross_entropy(ctx, nb_model_forward(m, ctx, x), y, NB_REDUCE_MEAN);
            ts[1] = timed ? nb_time() : 0.0;
            nb_optim_zero_grad(opt);
            ts[2] = timed ? nb_time() : 0.0;
            nb_status st = loss ? nb_backward(ctx, loss) : NB_ERR_ARG;
            ts[3] = timed ? nb_time() : 0.0;
            if (st != NB_OK || (do_update && nb_optim_step(opt) != NB_OK)) {
                fprintf(stderr, "bench_mlp: %s\n", nb_last_error());
                exit(1);
            }
            ts[4] = timed ? nb_time() : 0.0;
            if (step_us && rep >= 0) step_us[n_step_us++] = 1e6 * (ts[4] - ts[0]);
            if (phase_us[0] && rep >= 0) {
                for (int ph = 0; ph < PHASES; ph++)
                    phase_us[ph][n_phase_us] = 1e6 * (ts[ph + 1] - ts[ph]);
                n_phase_us++;
            }
        }
        if (rep >= 0) rates[rep] = (double)n * batch / (nb_time() - t0);
    }
    qsort(rates, 5, sizeof rates[0], cmp);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
    return rates[2];
}

/* The per-step line: percentiles and mean of the timed steps (all 5 runs). */
static void print_steps(void) {
    const int n = n_step_us;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += step_us[i];
    qsort(step_us, (size_t)n, sizeof *step_us, cmp);
    printf("  per step (us, %d steps): p2 %.1f p10 %.1f p50 %.1f p90 %.1f p98 %.1f mean %.1f\n", n,
           step_us[n / 50], step_us[n / 10], step_us[n / 2], step_us[n * 9 / 10],
           step_us[n * 49 / 50], sum / n);
    free(step_us);
}

/* The phases line: the median of each part over the timed steps (all 5 runs). */
static void print_phases(void) {
    static const char *name[PHASES] = {"forward+loss", "zero_grad", "backward", "update"};
    printf("  median per step (us, %d steps):", n_phase_us);
    for (int ph = 0; ph < PHASES; ph++) {
        qsort(phase_us[ph], (size_t)n_phase_us, sizeof *phase_us[ph], cmp);
        printf(" %s %.1f", name[ph], phase_us[ph][n_phase_us / 2]);
        free(phase_us[ph]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] == '-') {
        int threads = 1, batch = 64, adam = 0, steps = 200, per_step = 0, phases = 0;
        for (int i = 1; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--opt")) adam = !strcmp(argv[i + 1], "adam");
            else if (!strcmp(argv[i], "--per-step")) per_step = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--phases")) phases = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--update")) do_update = atoi(argv[i + 1]) != 0;
            else {
                fprintf(stderr, "bench_mlp: unknown option %s\n", argv[i]);
                return 2;
            }
        }
        if (threads < 1 || batch < 1 || steps < 1) {
            fprintf(stderr, "bench_mlp: threads, batch and steps must be positive\n");
            return 2;
        }
        if (per_step && !(step_us = malloc(sizeof *step_us * 5 * (size_t)steps))) return 1;
        for (int ph = 0; phases && ph < PHASES; ph++)
            if (!(phase_us[ph] = malloc(sizeof *phase_us[ph] * 5 * (size_t)steps))) return 1;
        printf("nabla %s mlp 784-256-128-10 batch %d %s threads %d%s: %.0f samples/s (median of 5)\n",
               NB_VERSION, batch, adam ? "adam" : "sgd", threads, do_update ? "" : " no update",
               run(batch, adam, threads, steps));
        if (per_step) print_steps();
        if (phases) print_phases();
        return 0;
    }
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    printf("nabla %s (%s kernels) mlp 784-256-128-10, softmax cross-entropy, %d steps x 5\n",
           NB_VERSION, nb_kernel_isa(), steps);
    printf("%-6s %-5s %-8s %14s\n", "batch", "opt", "threads", "samples/s");
    static const int batches[] = {64, 256};
    for (int b = 0; b < 2; b++)
        for (int adam = 0; adam < 2; adam++)
            for (int t = 1; t <= 2; t++)
                printf("%-6d %-5s %-8d %14.0f\n", batches[b], adam ? "adam" : "sgd", t,
                       run(batches[b], adam, t, steps));
    return 0;
}
