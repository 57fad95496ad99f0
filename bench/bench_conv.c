/* bench_conv — one convolution layer of the Fashion-MNIST CNN (bench_cnn.c) alone: conv2d with
 * the ReLU and the 2x2 max pooling fused, as the model runs it, batch 64, on one thread.
 *
 *     bench_conv LAYER MODE N        LAYER 1 (1→32, 5x5, 28→24) or 2 (32→64, 5x5, 12→8)
 *                                    MODE fwd (forward only) or step (forward + backward)
 *     bench_conv                     both layers, both modes, N = 20 (as `make bench` runs it)
 *
 * Runs N repetitions after one warm-up and prints the fastest repetition in CPU time. Made for
 * instruction counts: under callgrind, (I(N2) - I(N1)) / (N2 - N1) is one repetition's count
 * whatever the machine's load, and step minus fwd is the backward's, e.g.
 *
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench/bench_conv 2 fwd 1
 *
 * (valgrind hides AVX-512: those are the AVX2 kernel set's counts). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

static double cpu_time(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "bench_conv: %s: %s\n", what, nb_last_error());
    exit(1);
}

static void run(const int layer, const int step, const int n) {
    const int64_t C = layer == 1 ? 1 : 32, O = layer == 1 ? 32 : 64, H = layer == 1 ? 28 : 12;
    if (nb_set_threads(1) != NB_OK) die("threads");
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_tensor *x0 = nb_rand(NULL, NB_DIMS(64, C, H, H), -1.0f, 1.0f, &rng);
    nb_tensor *w = nb_rand(NULL, NB_DIMS(O, C, 5, 5), -0.2f, 0.2f, &rng);
    nb_tensor *b = nb_rand(NULL, NB_DIMS(O), -0.1f, 0.1f, &rng);
    if (!x0 || !w || !b) die("inputs");
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!ctx) die("context");
    double best = 1e30;
    for (int r = 0; r <= n; r++) { /* r = 0: the warm-up */
        nb_ctx_reset(ctx);
        nb_tensor *x = nb_tensor_clone(ctx, x0);
        if (!x) die("clone");
        if (layer == 2) nb_tensor_set_requires_grad(x, 1); /* layer 1 reads the images */
        double t0 = cpu_time();
        nb_tensor *y = nb_conv2d(ctx, x, w, b, &(nb_conv_opts){.relu = 1, .max_pool = {2, 2}});
        if (!y) die("conv2d");
        if (step && nb_backward_with(ctx, y, nb_ones(ctx, y->rank, y->shape)) != NB_OK)
            die("backward");
        double t = cpu_time() - t0;
        if (r > 0 && t < best) best = t; /* w's and b's gradients accumulate: same work */
    }
    printf("conv2d_%d %s: %.3f ms CPU (fastest of %d)\n", layer,
           step ? "forward+backward" : "forward", best * 1e3, n);
    nb_ctx_free(ctx);
    nb_tensor_free(x0);
    nb_tensor_free(w);
    nb_tensor_free(b);
}

int main(int argc, char **argv) {
    if (argc == 1) {
        for (int layer = 1; layer <= 2; layer++)
            for (int step = 0; step <= 1; step++) run(layer, step, 20);
        return 0;
    }
    if (argc != 4 || (strcmp(argv[1], "1") && strcmp(argv[1], "2")) ||
        (strcmp(argv[2], "fwd") && strcmp(argv[2], "step")) || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: bench_conv [1|2 fwd|step N]\n");
        return 2;
    }
    run(atoi(argv[1]), !strcmp(argv[2], "step"), atoi(argv[3]));
    return 0;
}
