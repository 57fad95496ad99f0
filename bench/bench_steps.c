/* bench/bench_steps.c — N repetitions of one training workload after its setup, for
 * instruction counts (callgrind) that do not depend on the machine's load:
 *
 *     bench_steps WORKLOAD N [THREADS]   (THREADS: the pool's size, 1 by default)
 *     bench_steps                  (make bench) every workload a few times, wall time per rep
 *
 *     xor        one epoch of examples/xor.c (2-4-1 sigmoid, full batch, SGD lr 0.1), eager
 *     xor-step   the same epoch through nb_step (recorded once, replayed)
 *     mlp-sgd    one step of the MLP 784-256-128-10 (ReLU), batch 64, SGD lr 0.01
 *     mlp-adam   the same with Adam lr 1e-3
 *     mlp-step   mlp-adam through nb_step
 *     cnn-sgd    one step of the Fashion-MNIST CNN of bench_cnn.c, batch 64, SGD lr 0.01
 *     adam-235k  one Adam update of the MLP's 235 146 parameters (nb_optim_step alone)
 *
 * bench/callgrind.sh runs it under callgrind at two values of N and prints the difference
 * divided by the difference of N: instructions per repetition, setup and warm-up excluded.
 * (The *-step workloads need nb_step, so an older tree builds this file without them: -DNO_STEP.)
 * One thread (nb_set_threads(1)); callgrind runs the AVX2 kernels (valgrind does not emulate
 * AVX-512), so the counts are those of the AVX2 kernel set. Uses only the public API, so the
 * same file builds against an older tree for before/after pairs. */
#define _POSIX_C_SOURCE 200809L
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what) {
    fprintf(stderr, "bench_steps: %s: %s\n", what, nb_last_error());
    exit(1);
}

static nb_model *mlp(void) {
    nb_model *m = nb_model_new(NB_DIMS(784), 0);
    if (!m || nb_model_dense(m, 256, NB_ACT_RELU) || nb_model_dense(m, 128, NB_ACT_RELU) ||
        nb_model_dense(m, 10, NB_ACT_NONE))
        die("mlp");
    return m;
}

static nb_model *cnn(void) {
    nb_model *m = nb_model_new(NB_DIMS(1, 28, 28), 42);
    if (!m || nb_model_conv2d(m, 32, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_conv2d(m, 64, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_flatten(m) || nb_model_dense(m, 128, NB_ACT_RELU) ||
        nb_model_dense(m, 10, NB_ACT_NONE))
        die("cnn");
    return m;
}

static void xor_run(long n) {
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    float Y[4][1] = {{0}, {1}, {1}, {0}};
    nb_model *net = nb_model_new(NB_DIMS(2), 42);
    if (!net || nb_model_dense(net, 4, NB_ACT_SIGMOID) || nb_model_dense(net, 1, NB_ACT_SIGMOID))
        die("xor");
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = 0.1});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    if (!sgd || !ctx || !x || !y) die("xor setup");
    for (long e = 0; e <= n; e++) { /* e = 0: warm-up */
        nb_ctx_reset(ctx);
        nb_tensor *out = nb_model_forward(net, ctx, x);
        nb_tensor *loss = nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
        nb_optim_zero_grad(sgd);
        if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(sgd) != NB_OK) die("xor epoch");
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(sgd);
    nb_model_free(net);
}

#ifndef NO_STEP
static nb_tensor *half_sse(nb_ctx *ctx, nb_tensor *out, nb_tensor *y, void *user) {
    (void)user;
    return nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
}

static void xor_step_run(long n) {
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    float Y[4][1] = {{0}, {1}, {1}, {0}};
    nb_model *net = nb_model_new(NB_DIMS(2), 42);
    if (!net || nb_model_dense(net, 4, NB_ACT_SIGMOID) || nb_model_dense(net, 1, NB_ACT_SIGMOID))
        die("xor");
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = 0.1});
    nb_step *step = sgd ? nb_step_new(net, sgd, &(nb_step_def){.loss_fn = half_sse}) : NULL;
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    if (!step || !x || !y) die("xor-step setup");
    for (long e = 0; e <= n; e++) /* e = 0: warm-up (the recording) */
        if (nb_step_run(step, x, y, NULL) != NB_OK) die("xor-step epoch");
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_step_free(step);
    nb_optim_free(sgd);
    nb_model_free(net);
}

static void mlp_step_run(long n) {
    nb_model *m = mlp();
    nb_optim *opt = nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 1e-3});
    nb_step *step = opt ? nb_step_new(m, opt, &(nb_step_def){.loss = NB_LOSS_CROSS_ENTROPY}) : NULL;
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_tensor *x = nb_rand(NULL, NB_DIMS(64, 784), 0.0f, 1.0f, &rng);
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, NB_DIMS(64));
    if (!step || !x || !y) die("mlp-step setup");
    for (int64_t i = 0; i < 64; i++) nb_i32(y)[i] = (int32_t)nb_rng_below(&rng, 10);
    for (long s = 0; s <= n; s++)
        if (nb_step_run(step, x, y, NULL) != NB_OK) die("mlp-step");
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_step_free(step);
    nb_optim_free(opt);
    nb_model_free(m);
}
#endif

/* steps of a classifier on random inputs of `shape` (batch first) */
static void classifier_run(nb_model *m, int adam, int rank, const int64_t *shape, long n) {
    nb_optim *opt = adam ? nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 1e-3})
                         : nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.01});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_tensor *x = nb_rand(NULL, rank, shape, 0.0f, 1.0f, &rng);
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, 1, shape);
    if (!opt || !ctx || !x || !y) die("setup");
    for (int64_t i = 0; i < shape[0]; i++) nb_i32(y)[i] = (int32_t)nb_rng_below(&rng, 10);
    for (long s = 0; s <= n; s++) { /* s = 0: warm-up */
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(ctx, nb_model_forward(m, ctx, x), y, NB_REDUCE_MEAN);
        if (!loss || nb_backward(ctx, loss) != NB_OK || nb_optim_step(opt) != NB_OK) die("step");
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
}

static void adam_run(long n) {
    nb_model *m = mlp();
    nb_optim *opt = nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 1e-3});
    if (!opt) die("adam");
    nb_params *ps = nb_model_params(m);
    float *g = nb_params_grad(ps);
    for (int64_t i = 0; i < nb_params_numel(ps); i++) g[i] = (float)((i % 17) - 8) * 1e-3f;
    for (long s = 0; s <= n; s++)
        if (nb_optim_step(opt) != NB_OK) die("adam step");
    nb_optim_free(opt);
    nb_model_free(m);
}

static int run(const char *w, long n);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc == 1) { /* make bench: a smoke run of each, timed (not for claims: see callgrind.sh) */
        static const char *const all[] = {"xor", "mlp-sgd", "mlp-adam", "adam-235k", "cnn-sgd"};
        static const long reps[] = {10000, 20, 20, 50, 2};
        if (nb_set_threads(1) != NB_OK) return 2;
        for (int i = 0; i < 5; i++) {
            double t0 = now();
            if (run(all[i], reps[i])) return 2;
            printf("bench_steps %-10s %10.1f us per repetition (1 thread, setup included)\n",
                   all[i], (now() - t0) / (double)reps[i] * 1e6);
        }
        return 0;
    }
    if (argc != 3 && argc != 4) {
        fprintf(stderr,
                "usage: bench_steps xor|xor-step|mlp-sgd|mlp-adam|mlp-step|cnn-sgd|adam-235k N "
                "[THREADS]\n");
        return 2;
    }
    long n = atol(argv[2]);
    int threads = argc == 4 ? atoi(argv[3]) : 1;
    if (n < 0 || nb_set_threads(threads) != NB_OK) return 2;
    return run(argv[1], n);
}

static int run(const char *w, long n) {
    if (!strcmp(w, "xor"))
        xor_run(n);
    else if (!strcmp(w, "mlp-sgd") || !strcmp(w, "mlp-adam"))
        classifier_run(mlp(), w[4] == 'a', 2, (int64_t[]){64, 784}, n);
    else if (!strcmp(w, "cnn-sgd"))
        classifier_run(cnn(), 0, 4, (int64_t[]){64, 1, 28, 28}, n);
    else if (!strcmp(w, "adam-235k"))
        adam_run(n);
#ifndef NO_STEP
    else if (!strcmp(w, "xor-step"))
        xor_step_run(n);
    else if (!strcmp(w, "mlp-step"))
        mlp_step_run(n);
#endif
    else {
        fprintf(stderr, "bench_steps: unknown workload '%s'\n", w);
        return 2;
    }
    return 0;
}
