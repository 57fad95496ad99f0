/* bench_web — the browser page's training, natively, to compare with the same calls in the
 * browser (web/test/test_web.mjs prints the browser's figures for the same two workloads):
 *
 *   xor     the method's 2-4-1 sigmoid network, GD lr 0.1, 10 000 epochs (one pg_net_train)
 *   spiral  the page's defaults: 400 points, 2-16-16-1 tanh, Adam lr 0.03, batches of 32,
 *           200 epochs (2 600 steps)
 *
 *     bench_web [--repeats R]
 *
 * One thread (nb_set_threads(1)), as in the browser. After a warm-up run, prints the median
 * (and the minimum) over R runs of each workload's wall time (default 7), with steps per
 * second at the median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "playground.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Seconds of one run: a fresh session, `epochs` epochs in one call. */
static double run(const char *data, int points, float noise, const int *hidden, int n_hidden,
                  const char *act, const char *optim, double lr, int batch, int classic, int epochs,
                  int64_t *steps) {
    pg_net *s = pg_new(data, points, noise, 1, hidden, n_hidden, act, optim, lr, batch, classic);
    if (!s) return -1.0;
    double t0 = nb_time();
    double loss = pg_net_train(s, epochs);
    double t = nb_time() - t0;
    *steps = pg_net_steps(s);
    pg_net_free(s);
    return loss == loss ? t : -1.0;
}

int main(int argc, char **argv) {
    int repeats = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_web [--repeats R]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 100) repeats = 7;
    if (nb_set_threads(1) != NB_OK) {
        fprintf(stderr, "bench_web: %s\n", nb_last_error());
        return 1;
    }
    static const struct {
        const char *name, *data, *act, *optim;
        int points;
        float noise;
        int hidden[2], n_hidden;
        double lr;
        int batch, classic, epochs;
    } w[] = {
        {"xor", "xor", "sigmoid", "gd", 4, 0.0f, {4, 0}, 1, 0.1, 4, 1, 10000},
        {"spiral", "spiral", "tanh", "adam", 400, 0.05f, {16, 16}, 2, 0.03, 32, 0, 200},
    };
    printf("bench_web: native, 1 thread, kernels %s, after a warm-up run; median (min) of %d\n",
           nb_kernel_isa(), repeats);
    for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
        double t[100];
        int64_t steps = 0;
        for (int r = -1; r < repeats; r++) { /* run -1 warms the caches up */
            t[r < 0 ? 0 : r] =
                run(w[k].data, w[k].points, w[k].noise, w[k].hidden, w[k].n_hidden, w[k].act,
                    w[k].optim, w[k].lr, w[k].batch, w[k].classic, w[k].epochs, &steps);
            if (t[r < 0 ? 0 : r] < 0) {
                fprintf(stderr, "bench_web: %s: %s\n", w[k].name, pg_error());
                return 1;
            }
        }
        qsort(t, (size_t)repeats, sizeof t[0], cmp_double);
        double med = repeats % 2 ? t[repeats / 2] : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]);
        printf("%-7s %6d epochs  %6lld steps  %8.1f ms (%.1f)  %8.0f steps/s\n", w[k].name,
               w[k].epochs, (long long)steps, 1e3 * med, 1e3 * t[0], (double)steps / med);
    }
    return 0;
}
