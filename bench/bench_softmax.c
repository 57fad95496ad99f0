/* bench_softmax — softmax forward + backward along the last axis (the row kernel runs on the
 * data directly) against an inner axis (each [C, inner] block is transposed into rows and
 * back), on the same number of elements. The transposes should cost a small factor, not an
 * order of magnitude. */
#include <stdio.h>

#include "nabla.h"

static double run(int rank, const int64_t *shape, int axis, int reps) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_tensor *x = nb_randn(NULL, rank, shape, 0.0f, 2.0f, &rng);
    nb_tensor_set_requires_grad(x, 1);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        nb_ctx_reset(ctx);
        double t0 = nb_time();
        nb_tensor *y = nb_softmax(ctx, x, axis);
        nb_status s = nb_backward_with(ctx, y, y); /* any seed of the right shape */
        double dt = nb_time() - t0;
        if (s != NB_OK) {
            fprintf(stderr, "bench_softmax: %s\n", nb_last_error());
            break;
        }
        if (dt < best) best = dt;
        nb_tensor_free(x->grad);
        x->grad = NULL;
    }
    int64_t n = x->numel;
    nb_tensor_free(x);
    nb_ctx_free(ctx);
    return best * 1e9 / (double)n;
}

int main(void) {
    static const struct {
        const char *what;
        int rank;
        int64_t shape[3];
        int axis;
    } cases[] = {
        {"[256, 1024] axis -1 (rows)", 2, {256, 1024}, -1},
        {"[1024, 256] axis 0 (inner 256)", 2, {1024, 256}, 0},
        {"[64, 1000, 16] axis 1 (inner 16)", 3, {64, 1000, 16}, 1},
        {"[64, 16, 1000] axis 2 (rows)", 3, {64, 16, 1000}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        printf("softmax fwd+bwd %-34s %6.2f ns/element\n", cases[i].what,
               run(cases[i].rank, cases[i].shape, cases[i].axis, 20));
    return 0;
}
