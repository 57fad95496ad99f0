/* bench/bench_xor.c — times the XOR training of examples/xor.c: 10 000 full-batch epochs of
 * the 2-4-1 sigmoid network (forward, ½·sum squared error, backward, zero_grad, SGD step,
 * context reset), the median of 9 runs. Compare with the classic numpy program:
 *
 *     build/bench/bench_xor
 *     /usr/bin/python3 bench/xor_numpy.py --runs 9
 *
 * At this size every op is a handful of flops, so the time is the framework's own per-op
 * cost: the op call path, the arena, the tape, and GEMM's small-matrix path. */
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>

#define EPOCHS 10000
#define RUNS 9

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double one_run(float *final_out) {
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    float Y[4][1] = {{0}, {1}, {1}, {0}};
    nb_model *net = nb_model_new(NB_DIMS(2), 42);
    if (!net || nb_model_dense(net, 4, NB_ACT_SIGMOID) || nb_model_dense(net, 1, NB_ACT_SIGMOID))
        return -1.0;
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = 0.1});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    if (!sgd || !ctx || !x || !y) return -1.0;
    nb_tensor *out = NULL;
    double t0 = nb_time();
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        nb_ctx_reset(ctx);
        out = nb_model_forward(net, ctx, x);
        nb_tensor *loss = nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
        nb_optim_zero_grad(sgd);
        if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(sgd) != NB_OK) return -1.0;
    }
    double dt = nb_time() - t0;
    for (int i = 0; i < 4; i++) final_out[i] = nb_f32(out)[i];
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(sgd);
    nb_model_free(net);
    return dt;
}

int main(void) {
    double t[RUNS];
    float out[4];
    for (int r = 0; r < RUNS; r++) {
        t[r] = one_run(out);
        if (t[r] < 0) {
            fprintf(stderr, "bench_xor: %s\n", nb_last_error());
            return 1;
        }
    }
    qsort(t, RUNS, sizeof t[0], cmp);
    printf("xor 2-4-1, %d epochs: median %.4f s (min %.4f) over %d runs, %.0f ns/epoch; "
           "outputs %.3f %.3f %.3f %.3f\n",
           EPOCHS, t[RUNS / 2], t[0], RUNS, t[RUNS / 2] / EPOCHS * 1e9, out[0], out[1], out[2],
           out[3]);
    return 0;
}
