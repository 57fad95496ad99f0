/* bench_cnn — training steps per second of the Fashion-MNIST CNN of examples/fmnist_cnn.c on
 * random 28x28 images (the twin of bench/torch/cnn.py), and where the time of one step goes.
 *
 *     conv 5x5 1→32, ReLU, max-pool 2, conv 5x5 32→64, ReLU, max-pool 2, flatten,
 *     dense 1024→128, ReLU, dense 128→10, softmax cross-entropy, SGD (lr 0.01)
 *
 *     bench_cnn [--threads N] [--batch B] [--steps S] [--repeats R] [--breakdown]
 *
 * Prints the median over R timings of S steps (after a warm-up) in samples/second, and the
 * peak resident set size. --threads sets the size of nabla's thread pool (nb_set_threads).
 * --breakdown times each layer's forward and backward on its own, at the step's shapes (median of
 * R·S runs each), and the optimizer step. The breakdown reports the fastest of its runs (the least
 * disturbed by other work on a shared machine), the step rates their median. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nabla.h"

/* CPU seconds of the whole process (all threads): on a shared machine a 1-thread run's
 * samples per CPU-second are steadier than per wall-second. */
static double cpu_time(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double fastest(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static void die(const char *what) {
    fprintf(stderr, "bench_cnn: %s: %s\n", what, nb_last_error());
    exit(1);
}

static nb_model *build(void) {
    nb_model *m = nb_model_new(NB_DIMS(1, 28, 28), 42);
    if (!m || nb_model_conv2d(m, 32, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_conv2d(m, 64, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_flatten(m) || nb_model_dense(m, 128, NB_ACT_RELU) ||
        nb_model_dense(m, 10, NB_ACT_NONE))
        die("building the model");
    return m;
}

/* ---- the breakdown: each stage alone, forward and backward ------------------------------- */

typedef struct stage {
    const char *name;
    nb_tensor *(*run)(nb_ctx *ctx, nb_tensor *x, nb_params *ps);
} stage;

static nb_tensor *p(nb_params *ps, const char *name) {
    nb_tensor *t = nb_params_find(ps, name);
    if (!t) die(name);
    return t;
}

/* the layers' op: conv2d with the ReLU and the 2x2 max pooling fused, as the model runs it */
static nb_tensor *st_conv1(nb_ctx *c, nb_tensor *x, nb_params *ps) {
    return nb_conv2d(c, x, p(ps, "conv2d_1.weight"), p(ps, "conv2d_1.bias"),
                     &(nb_conv_opts){.relu = 1, .max_pool = {2, 2}});
}
static nb_tensor *st_conv2(nb_ctx *c, nb_tensor *x, nb_params *ps) {
    return nb_conv2d(c, x, p(ps, "conv2d_2.weight"), p(ps, "conv2d_2.bias"),
                     &(nb_conv_opts){.relu = 1, .max_pool = {2, 2}});
}
static nb_tensor *st_flatten(nb_ctx *c, nb_tensor *x, nb_params *ps) {
    (void)ps;
    return nb_flatten(c, x);
}
static nb_tensor *st_dense1(nb_ctx *c, nb_tensor *x, nb_params *ps) {
    return nb_relu(c, nb_add(c, nb_matmul(c, x, p(ps, "dense_1.weight")), p(ps, "dense_1.bias")));
}
static nb_tensor *st_dense2(nb_ctx *c, nb_tensor *x, nb_params *ps) {
    return nb_add(c, nb_matmul(c, x, p(ps, "dense_2.weight")), p(ps, "dense_2.bias"));
}

static void breakdown(nb_model *m, nb_optim *opt, int batch, int runs, double step_s) {
    static const stage stages[] = {
        {"conv2d_1 + pool_1", st_conv1}, {"conv2d_2 + pool_2", st_conv2}, {"flatten_1", st_flatten},
        {"dense_1 + relu", st_dense1},   {"dense_2", st_dense2},
    };
    const int ns = (int)(sizeof stages / sizeof stages[0]);
    nb_params *ps = nb_model_params(m);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_tensor *in = nb_rand(NULL, NB_DIMS(batch, 1, 28, 28), 0.0f, 1.0f, &rng);
    double *tf = malloc(sizeof(double) * (size_t)runs), *tb = malloc(sizeof(double) * (size_t)runs);
    double total = 0.0;
    printf("per-layer time of one step (batch %d, fastest of %d runs):\n", batch, runs);
    printf("  %-18s %10s %10s %10s %7s\n", "layer", "forward", "backward", "total", "share");
    double rows[16][2];
    for (int s = 0; s < ns; s++) {
        nb_tensor *next = NULL;
        for (int r = 0; r < runs; r++) {
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_clone(ctx, in);
            if (s > 0) nb_tensor_set_requires_grad(x, 1); /* the images need no gradient */
            double t0 = nb_time();
            nb_tensor *y = stages[s].run(ctx, x, ps);
            double t1 = nb_time();
            if (!y) die(stages[s].name);
            nb_tensor *g = nb_ones(ctx, y->rank, y->shape);
            double t2 = nb_time();
            if (nb_backward_with(ctx, y, g) != NB_OK) die(stages[s].name);
            double t3 = nb_time();
            tf[r] = t1 - t0;
            tb[r] = t3 - t2;
            if (r == runs - 1) next = nb_tensor_clone(NULL, y);
        }
        rows[s][0] = fastest(tf, runs);
        rows[s][1] = fastest(tb, runs);
        total += rows[s][0] + rows[s][1];
        nb_tensor_free(in);
        in = next;
        nb_model_zero_grad(m);
    }
    /* the loss on the logits, and the optimizer step */
    double tl[2] = {0, 0}, topt;
    {
        nb_tensor *lab = nb_tensor_new(NULL, NB_I32, 1, (int64_t[]){batch});
        for (int i = 0; i < batch; i++) nb_i32(lab)[i] = i % 10;
        for (int r = 0; r < runs; r++) {
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_clone(ctx, in);
            nb_tensor_set_requires_grad(x, 1);
            double t0 = nb_time();
            nb_tensor *loss = nb_cross_entropy(ctx, x, lab, NB_REDUCE_MEAN);
            double t1 = nb_time();
            if (!loss || nb_backward(ctx, loss) != NB_OK) die("loss");
            double t2 = nb_time();
            tf[r] = t1 - t0;
            tb[r] = t2 - t1;
        }
        tl[0] = fastest(tf, runs);
        tl[1] = fastest(tb, runs);
        for (int r = 0; r < runs; r++) {
            double t0 = nb_time();
            nb_optim_step(opt);
            tf[r] = nb_time() - t0;
        }
        topt = fastest(tf, runs);
        nb_tensor_free(lab);
    }
    total += tl[0] + tl[1] + topt;
    for (int s = 0; s < ns; s++)
        printf("  %-18s %8.3f ms %8.3f ms %8.3f ms %6.1f%%\n", stages[s].name, rows[s][0] * 1e3,
               rows[s][1] * 1e3, (rows[s][0] + rows[s][1]) * 1e3,
               100.0 * (rows[s][0] + rows[s][1]) / total);
    printf("  %-18s %8.3f ms %8.3f ms %8.3f ms %6.1f%%\n", "cross-entropy", tl[0] * 1e3,
           tl[1] * 1e3, (tl[0] + tl[1]) * 1e3, 100.0 * (tl[0] + tl[1]) / total);
    printf("  %-18s %8s    %8s    %8.3f ms %6.1f%%\n", "SGD step", "", "", topt * 1e3,
           100.0 * topt / total);
    printf("  %-18s %34.3f ms (a whole step, median: %.3f ms)\n", "sum", total * 1e3, step_s * 1e3);
    nb_tensor_free(in);
    free(tf);
    free(tb);
    nb_ctx_free(ctx);
}

int main(int argc, char **argv) {
    int batch = 64, steps = 30, repeats = 5, show = 0;
    const char *threads = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--breakdown"))
            show = 1;
        else {
            fprintf(stderr, "usage: bench_cnn [--threads N] [--batch B] [--steps S] "
                            "[--repeats R] [--breakdown]\n");
            return 2;
        }
    }
    if (batch < 1 || steps < 1 || repeats < 1) return 2;
    if (threads && nb_set_threads(atoi(threads)) != NB_OK) die("--threads");
    nb_model *m = build();
    nb_sgd_opts so = {.lr = 0.01};
    nb_optim *opt = nb_sgd_new(nb_model_params(m), &so);
    if (!opt) die("optimizer");
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_tensor *x = nb_rand(NULL, NB_DIMS(batch, 1, 28, 28), 0.0f, 1.0f, &rng);
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, 1, (int64_t[]){batch});
    if (!ctx || !x || !y) die("setup");
    for (int i = 0; i < batch; i++) nb_i32(y)[i] = (int32_t)nb_rng_below(&rng, 10);
    double *rate = malloc(sizeof(double) * (size_t)repeats);
    double *crate = malloc(sizeof(double) * (size_t)repeats);
    double step_s = 0.0;
    for (int r = -1; r < repeats; r++) { /* r = -1: warm-up */
        double t0 = nb_time(), c0 = cpu_time();
        for (int s = 0; s < (r < 0 ? 5 : steps); s++) {
            nb_ctx_reset(ctx);
            nb_optim_zero_grad(opt);
            nb_tensor *loss = nb_cross_entropy(ctx, nb_model_forward(m, ctx, x), y, NB_REDUCE_MEAN);
            if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(opt) != NB_OK) die("step");
        }
        double dt = nb_time() - t0, dc = cpu_time() - c0;
        if (r >= 0) {
            rate[r] = (double)steps * batch / dt;
            crate[r] = (double)steps * batch / dc;
        }
    }
    double med = median(rate, repeats), cmed = median(crate, repeats);
    step_s = batch / med;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("nabla (%s) cnn batch %d sgd threads %s: %.0f samples/s (median of %d; min %.0f, "
           "max %.0f); %.0f samples per CPU-second; peak RSS %.0f MiB\n",
           nb_kernel_isa(), batch, threads ? threads : "default", med, repeats, rate[0],
           rate[repeats - 1], cmed, (double)ru.ru_maxrss / 1024.0);
    if (show) breakdown(m, opt, batch, repeats * steps, step_s);
    free(rate);
    free(crate);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
    return 0;
}
