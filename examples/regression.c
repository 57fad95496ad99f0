/* examples/regression.c — fit y = sin(x) from noisy samples with a 1-32-32-1 tanh network,
 * mini-batch Adam and a learning-rate schedule (linear warmup, then cosine decay).
 *
 *   data      256 points x ~ U(-π, π), y = sin(x) + N(0, 0.1²); batches of 32, reshuffled
 *             every epoch
 *   model     dense(32, tanh) → dense(32, tanh) → dense(1)
 *   loss      mean squared error (nb_mse_loss, mean over the batch)
 *   update    Adam, lr warming up over 100 steps to 1e-2, then cosine to 1e-4
 *
 * It prints the loss as it goes, then the error against the clean curve on a fine grid. */
#include <nabla.h>
#include <math.h>
#include <stdio.h>

#define N_TRAIN 256
#define BATCH 32
#define EPOCHS 300
#define N_TEST 101

static const double PI = 3.14159265358979323846;

int main(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    static float xs[N_TRAIN], ys[N_TRAIN];
    for (int i = 0; i < N_TRAIN; i++) {
        xs[i] = nb_rng_uniform_range(&rng, (float)-PI, (float)PI);
        ys[i] = sinf(xs[i]) + nb_rng_normal(&rng, 0.0f, 0.1f);
    }

    nb_model *net = nb_model_new(NB_DIMS(1), 1);
    if (!net || nb_model_dense(net, 32, NB_ACT_TANH) || nb_model_dense(net, 32, NB_ACT_TANH) ||
        nb_model_dense(net, 1, NB_ACT_NONE))
        goto fail;
    nb_model_summary(net, stdout);

    nb_optim *adam = nb_adam_new(nb_model_params(net), &(nb_adam_opts){.lr = 1e-2});
    const int64_t steps = (int64_t)EPOCHS * (N_TRAIN / BATCH);
    nb_schedule sched = nb_schedule_warmup(nb_schedule_cosine(1e-2, steps - 100, 1e-4), 100, 0.1);
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!adam || !ctx || nb_optim_set_schedule(adam, &sched)) goto fail;

    int64_t order[N_TRAIN];
    for (int i = 0; i < N_TRAIN; i++) order[i] = i;
    float bx[BATCH], by[BATCH];
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        nb_rng_shuffle_i64(&rng, order, N_TRAIN);
        double sum = 0.0;
        for (int b = 0; b < N_TRAIN / BATCH; b++) {
            for (int i = 0; i < BATCH; i++) { /* gather one batch */
                bx[i] = xs[order[b * BATCH + i]];
                by[i] = ys[order[b * BATCH + i]];
            }
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_from(ctx, NB_F32, bx, NB_DIMS(BATCH, 1));
            nb_tensor *y = nb_tensor_from(ctx, NB_F32, by, NB_DIMS(BATCH, 1));
            nb_tensor *loss = nb_mse_loss(ctx, nb_model_forward(net, ctx, x), y, NB_REDUCE_MEAN);
            nb_optim_zero_grad(adam);
            if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(adam) != NB_OK) goto fail;
            sum += nb_item(loss);
        }
        if (epoch == 1 || epoch % 50 == 0)
            printf("epoch %3d  train mse %.5f  lr %.2e\n", epoch, sum / (N_TRAIN / BATCH),
                   nb_optim_lr(adam));
    }

    /* the clean curve on a grid, in inference mode */
    nb_model_set_training(net, 0);
    nb_ctx_set_grad(ctx, 0);
    nb_ctx_reset(ctx);
    float gx[N_TEST];
    for (int i = 0; i < N_TEST; i++) gx[i] = (float)(-PI + 2.0 * PI * i / (N_TEST - 1));
    nb_tensor *pred = nb_model_forward(net, ctx, nb_tensor_from(ctx, NB_F32, gx, NB_DIMS(N_TEST, 1)));
    if (!pred) goto fail;
    double mse = 0.0;
    for (int i = 0; i < N_TEST; i++) {
        double e = nb_f32(pred)[i] - sin(gx[i]);
        mse += e * e;
    }
    printf("\n     x    sin(x)   model\n");
    for (int i = 0; i < N_TEST; i += 20)
        printf("%6.2f  %7.4f  %7.4f\n", gx[i], sin(gx[i]), nb_f32(pred)[i]);
    printf("final mse against sin(x) on %d grid points: %.5f (the noise variance is 0.01)\n",
           N_TEST, mse / N_TEST);

    nb_ctx_free(ctx);
    nb_optim_free(adam);
    nb_model_free(net);
    return 0;
fail:
    fprintf(stderr, "regression: %s\n", nb_last_error());
    return 1;
}
