/* bench_int8 — inference speed of nabla's int8 models against its f32 models: the
 * Fashion-MNIST MLP (784-256-128-10, ReLU) and CNN (examples/specs/fmnist_cnn.spec) at batch 1
 * and 64. Its twin in PyTorch, float and int8 (torch.ao.quantization), is bench/torch/int8.py;
 * bench/compare_int8.sh runs both, interleaved.
 *
 *     bench_int8                                   both models, batch 1 and 64, 1 thread
 *     bench_int8 --model cnn --batch 64 [--threads N] [--device cpu:avx2] [--repeats R]
 *
 * The models have their initial (random) weights and are calibrated on random images:
 * speed does not depend on the values (docs/quantization.md reports accuracy on trained
 * models). Each configuration runs a warm-up, then R timings of enough calls for about
 * 0.2 s each; it prints the median samples/second of the f32 model (nb_model_infer) and the
 * int8 one (nb_qmodel_infer), both with a context reset per call as an application would,
 * their ratio, and which int8 product ran. On a shared machine the CPU-time rate (1 thread)
 * is the steadier number; both are printed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backend.h" /* which int8 product a device runs (for the report) */
#include "nabla.h"
#include "tensor/ctx.h"

static double cpu_time(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    fprintf(stderr, "bench_int8: %s: %s\n", what, nb_last_error());
    exit(1);
}

static nb_model *build(int cnn) {
    nb_model *m;
    if (cnn) {
        m = nb_model_new(NB_DIMS(1, 28, 28), 42);
        if (!m || nb_model_conv2d(m, 32, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
            nb_model_conv2d(m, 64, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
            nb_model_flatten(m) || nb_model_dense(m, 128, NB_ACT_RELU) ||
            nb_model_dense(m, 10, NB_ACT_NONE))
            die("building the CNN");
    } else {
        m = nb_model_new(NB_DIMS(784), 42);
        if (!m || nb_model_dense(m, 256, NB_ACT_RELU) || nb_model_dense(m, 128, NB_ACT_RELU) ||
            nb_model_dense(m, 10, NB_ACT_NONE))
            die("building the MLP");
    }
    nb_model_set_training(m, 0);
    return m;
}

typedef struct rate {
    double wall, cpu; /* samples per second, medians */
} rate;

/* Median rates of `repeats` timings of calls to the f32 (q NULL) or int8 model on x. */
static rate measure(nb_model *m, const nb_qmodel *q, nb_ctx *ctx, const float *x, int cnn,
                    int batch, int repeats) {
    int64_t shape[4] = {batch, 1, 28, 28};
    if (!cnn) shape[1] = 784;
    int rank = cnn ? 4 : 2;
    /* calls per timing: about 0.2 s, from a first estimate */
    int calls = 1;
    for (;;) {
        double t0 = nb_time();
        for (int i = 0; i < calls; i++) {
            nb_ctx_reset(ctx);
            nb_tensor *xt = nb_tensor_from(ctx, NB_F32, (void *)x, rank, shape);
            if (!(q ? nb_qmodel_infer(q, ctx, xt) : nb_model_infer(m, ctx, xt))) die("inference");
        }
        double dt = nb_time() - t0;
        if (dt > 0.05 || calls > 1 << 20) {
            calls = (int)(calls * 0.2 / (dt > 1e-9 ? dt : 1e-9)) + 1;
            break;
        }
        calls *= 4;
    }
    double *w = malloc(sizeof(double) * (size_t)repeats),
           *c = malloc(sizeof(double) * (size_t)repeats);
    for (int r = 0; r < repeats; r++) {
        double t0 = nb_time(), c0 = cpu_time();
        for (int i = 0; i < calls; i++) {
            nb_ctx_reset(ctx);
            nb_tensor *xt = nb_tensor_from(ctx, NB_F32, (void *)x, rank, shape);
            if (!(q ? nb_qmodel_infer(q, ctx, xt) : nb_model_infer(m, ctx, xt))) die("inference");
        }
        w[r] = (double)calls * batch / (nb_time() - t0);
        c[r] = (double)calls * batch / (cpu_time() - c0);
    }
    qsort(w, (size_t)repeats, sizeof *w, cmp);
    qsort(c, (size_t)repeats, sizeof *c, cmp);
    rate out = {w[repeats / 2], c[repeats / 2]};
    free(w);
    free(c);
    return out;
}

static void run(int cnn, int batch, int threads, const char *device, int repeats) {
    nb_set_threads(threads);
    nb_model *m = build(cnn);
    int64_t per = cnn ? 28 * 28 : 784, nc = 512;
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    float *calib = malloc(sizeof(float) * (size_t)(nc * per));
    for (int64_t i = 0; i < nc * per; i++) calib[i] = nb_rng_uniform(&rng);
    nb_array a = {
        .type = NB_ELEM_F32, .rank = 2, .shape = {nc, per}, .numel = nc * per, .data = calib};
    if (cnn) {
        a.rank = 4;
        a.shape[1] = 1;
        a.shape[2] = a.shape[3] = 28;
    }
    nb_dataset *ds;
    if (nb_dataset_from_arrays(&a, NULL, &ds) != NB_OK) die("calibration data");
    nb_qmodel *q;
    if (nb_quantize(m, ds, &(nb_quant_opts){.samples = nc}, &q) != NB_OK) die("nb_quantize");
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = device});
    if (!ctx) die("nb_ctx_new");
    rate f = measure(m, NULL, ctx, calib, cnn, batch, repeats);
    rate i8 = measure(m, q, ctx, calib, cnn, batch, repeats);
    printf("nabla %s int8 %s batch %d threads %d device %s (int8 %s): f32 %.0f samples/s "
           "(cpu %.0f), int8 %.0f samples/s (cpu %.0f), ratio %.2f (cpu %.2f)\n",
           NB_VERSION, cnn ? "cnn" : "mlp", batch, threads, nb_ctx_device(ctx),
           ctx->be->k->qgemm_isa, f.wall, f.cpu, i8.wall, i8.cpu, i8.wall / f.wall, i8.cpu / f.cpu);
    fflush(stdout);
    nb_ctx_free(ctx);
    nb_qmodel_free(q);
    nb_dataset_free(ds);
    free(calib);
    nb_model_free(m);
}

int main(int argc, char **argv) {
    const char *model = "all", *device = "cpu";
    int batch = 0, threads = 1, repeats = 5;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_int8: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--model"))
            model = v;
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(v);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(v);
        else if (!strcmp(argv[i], "--device"))
            device = v;
        else if (!strcmp(argv[i], "--repeats"))
            repeats = atoi(v);
        else {
            fprintf(stderr,
                    "bench_int8: unknown option %s (--model mlp|cnn|all, --batch B, "
                    "--threads N, --device D, --repeats R)\n",
                    argv[i]);
            return 2;
        }
        i++;
    }
    if (threads < 1 || repeats < 1 || batch < 0 ||
        (strcmp(model, "all") && strcmp(model, "mlp") && strcmp(model, "cnn"))) {
        fprintf(stderr, "bench_int8: bad option value\n");
        return 2;
    }
    int batches[2] = {1, 64}, nbatch = 2;
    if (batch) {
        batches[0] = batch;
        nbatch = 1;
    }
    for (int cnn = 0; cnn < 2; cnn++) {
        if (strcmp(model, "all") && strcmp(model, cnn ? "cnn" : "mlp")) continue;
        for (int b = 0; b < nbatch; b++) run(cnn, batches[b], threads, device, repeats);
    }
    return 0;
}
