/* bench_conv_algo — the two convolution algorithms of the CPU back end (kernels/conv_lower.c and
 * kernels/conv_direct.c) on the same shapes, one thread, with the best kernel set: thread
 * CPU time of the forward pass (bias, ReLU and, where given, the fused 2x2 max pooling) and
 * of the backward pass (weight and bias gradients, the input gradient too with --dx), the
 * fastest of R runs. The table of docs/conv.md ("The algorithm for each convolution shape")
 * comes from it; CPU time rather than wall time because the machines it ran on were shared.
 *
 *   bench_conv_algo [--repeats R] [--dx] [N C H W O K pool groups ...]   (default: the CNN's layers
 *                                                                    and a sweep of shapes)
 */
#include "kernels/conv_direct.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct shape {
    int64_t N, C, H, W, O, K, pool, groups;
} shape;

static void fill(float *p, int64_t n, unsigned *s) {
    for (int64_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        p[i] = (float)(*s >> 8) / 8388608.0f - 1.0f;
    }
}

/* ms of forward and backward for one algorithm (direct or not) */
static void time_one(const nbi_kernels *k, const shape *sh, int direct, int reps, int dx,
                     double *fwd, double *bwd) {
    nbi_conv_geom g = {.N = sh->N,
                       .C = sh->C,
                       .H = sh->H,
                       .W = sh->W,
                       .O = sh->O,
                       .KH = sh->K,
                       .KW = sh->K,
                       .sh = 1,
                       .sw = 1,
                       .dh = 1,
                       .dw = 1,
                       .groups = 1};
    g.OH = g.H - g.KH + 1;
    g.OW = g.W - g.KW + 1;
    nbi_conv_pool pool = {sh->pool, sh->pool, NULL}, *pp = sh->pool > 1 ? &pool : NULL;
    const int64_t nx = g.N * g.C * g.H * g.W, nw = g.O * nbi_conv_kc(&g);
    const int64_t ny =
        pp ? g.N * g.O * (g.OH / sh->pool) * (g.OW / sh->pool) : g.N * g.O * g.OH * g.OW;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)g.O), *y = malloc(sizeof(float) * (size_t)ny);
    float *dy = malloc(sizeof(float) * (size_t)ny), *gx = malloc(sizeof(float) * (size_t)nx);
    float *gw = calloc((size_t)nw, sizeof(float)), *gb = calloc((size_t)g.O, sizeof(float));
    pool.arg = malloc(sizeof(int32_t) * (size_t)ny);
    unsigned seed = 1;
    fill(x, nx, &seed);
    fill(w, nw, &seed);
    fill(b, g.O, &seed);
    fill(dy, ny, &seed);
    int64_t nf = direct ? nbi_conv_direct_scratch(&g, 1, 1, 0, 0, pp, 0)
                        : nbi_conv_scratch(&g, 1, 1, 0, 0, pp, 0);
    int64_t nbk = direct ? nbi_conv_direct_scratch(&g, 1, 0, 1, 1, pp, 0)
                         : nbi_conv_scratch(&g, 1, 0, 1, 1, pp, 0);
    int64_t room = nf > nbk ? nf : nbk;
    float *scratch = malloc(sizeof(float) * (size_t)(room + 16));
    *fwd = *bwd = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = thread_cpu();
        nb_status s =
            direct
                ? nbi_conv_direct_forward(k, 1, &g, x, w, b, NBI_CONV_RELU, y, pp, 0, scratch, room)
                : nbi_conv_lower_forward(k, 1, &g, x, w, b, NBI_CONV_RELU, y, pp, 0, scratch, room);
        double t1 = thread_cpu();
        if (s == NB_OK)
            s = direct ? nbi_conv_direct_backward(k, 1, &g, x, dy, y, NBI_CONV_RELU, w,
                                                  dx ? gx : NULL, gw, gb, pp, 0, scratch, room)
                       : nbi_conv_lower_backward(k, 1, &g, x, dy, y, NBI_CONV_RELU, w,
                                                 dx ? gx : NULL, gw, gb, pp, 0, scratch, room);
        double t2 = thread_cpu();
        if (s != NB_OK) {
            fprintf(stderr, "bench_conv_algo: %s\n", nb_status_str(s));
            exit(1);
        }
        if (t1 - t0 < *fwd) *fwd = t1 - t0;
        if (t2 - t1 < *bwd) *bwd = t2 - t1;
    }
    *fwd *= 1e3;
    *bwd *= 1e3;
    free(x), free(w), free(b), free(y), free(dy), free(gx), free(gw), free(gb), free(pool.arg);
    free(scratch);
}

int main(int argc, char **argv) {
    int reps = 10, dx = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--repeats") && a + 1 < argc)
            reps = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--dx"))
            dx = 1;
        else {
            fprintf(stderr,
                    "usage: bench_conv_algo [--repeats R] [--dx] [N C H W O K pool groups ...]\n");
            return 2;
        }
    }
    static const shape defaults[] =
        {
            {64, 1, 28, 28, 32, 5, 2, 1},  /* the CNN's first layer (+ ReLU + 2x2 pooling) */
            {64, 32, 12, 12, 64, 5, 2, 1}, /* its second */
            {64, 2, 28, 28, 32, 5, 2, 1},    {64, 4, 28, 28, 32, 5, 2, 1},
            {64, 8, 28, 28, 32, 5, 2, 1},    {64, 16, 28, 28, 32, 5, 2, 1},
            {64, 3, 32, 32, 64, 3, 0, 1}, /* 3x3 on RGB: outputs 30, 12, 16 and 6 wide */
            {64, 3, 14, 14, 32, 3, 0, 1},    {64, 3, 18, 18, 32, 3, 0, 1},
            {64, 3, 8, 8, 32, 3, 0, 1},      {64, 1, 28, 28, 2, 5, 2, 1}, /* 2 output channels */
            {64, 32, 28, 28, 32, 3, 0, 32},                               /* depthwise */
            {64, 64, 16, 16, 128, 3, 0, 32},                              /* groups of 2 -> 4 */
        };
    shape *list = (shape *)defaults;
    int n = (int)(sizeof defaults / sizeof defaults[0]);
    shape *given = NULL;
    if (argc - a >= 8) {
        n = (argc - a) / 8;
        given = calloc((size_t)n, sizeof *given);
        for (int i = 0; i < n; i++) {
            int64_t *f = &given[i].N;
            for (int q = 0; q < 8; q++) f[q] = atoll(argv[a + 8 * i + q]);
        }
        list = given;
    }
    const nbi_kernels *k = nbi_kernel_set(nbi_best_isa());
    if (!k->conv_direct_fwd) {
        fprintf(stderr, "bench_conv_algo: the %s kernel set has no direct convolution\n", k->isa);
        return 1;
    }
    printf("%s, 1 thread, fastest of %d runs, thread CPU ms (backward: dW, db%s)\n", k->isa, reps,
           dx ? ", dx" : "");
    printf("%-30s %9s %9s %9s %9s %7s\n", "N C HxW -> O KxK pool groups", "lower fw", "lower bw",
           "direct fw", "direct bw", "ratio");
    for (int i = 0; i < n; i++) {
        const shape *s = &list[i];
        double lf, lb, df, db;
        time_one(k, s, 0, reps, dx, &lf, &lb);
        time_one(k, s, 1, reps, dx, &df, &db);
        char name[64];
        snprintf(name, sizeof name, "%lld %lld %lldx%lld -> %lld %lldx%lld %lld", (long long)s->N,
                 (long long)s->C, (long long)s->H, (long long)s->W, (long long)s->O,
                 (long long)s->K, (long long)s->K, (long long)s->pool);
        printf("%-30s %9.3f %9.3f %9.3f %9.3f %7.2f\n", name, lf, lb, df, db,
               (lf + lb) / (df + db));
    }
    free(given);
    return 0;
}
