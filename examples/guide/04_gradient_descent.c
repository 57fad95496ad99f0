/* Guide, chapter 4: gradient descent (docs/guide/04-gradient-descent.md).
 *
 * Part 1 fits y = w x + b by hand: forward, backward, then p ← p − η ∂L/∂p written out.
 * Part 2 trains one small network with several optimizers and compares their losses. */
#include <nabla.h>
#include <math.h>
#include <stdio.h>

#define N 64

static int part1(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    /* data: y = 3x − 2 + noise */
    nb_tensor *x = nb_rand(NULL, NB_DIMS(N, 1), -1.0f, 1.0f, &rng);
    nb_tensor *y = nb_zeros(NULL, NB_DIMS(N, 1));
    for (int i = 0; i < N; i++) nb_f32(y)[i] = 3.0f * nb_f32(x)[i] - 2.0f + nb_rng_normal(&rng, 0, 0.1f);
    /* parameters, heap tensors whose gradients persist */
    nb_tensor *w = nb_zeros(NULL, NB_DIMS(1, 1)), *b = nb_zeros(NULL, NB_DIMS(1));
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor_set_requires_grad(b, 1);
    const float lr = 0.1f;
    for (int step = 0; step <= 200; step++) {
        nb_ctx_reset(ctx);
        nb_tensor *pred = nb_add(ctx, nb_matmul(ctx, x, w), b);
        nb_tensor *loss = nb_mse_loss(ctx, pred, y, NB_REDUCE_MEAN); /* L = mean (ŷ − y)² */
        /* gradients accumulate: clear last step's (they exist after the first backward) */
        if (w->grad) nb_tensor_fill(w->grad, 0.0f);
        if (b->grad) nb_tensor_fill(b->grad, 0.0f);
        if (!loss || nb_backward(ctx, loss) != NB_OK) {
            fprintf(stderr, "error: %s\n", nb_last_error());
            return 1;
        }
        /* the update, p ← p − η ∂L/∂p */
        nb_f32(w)[0] -= lr * nb_f32(w->grad)[0];
        nb_f32(b)[0] -= lr * nb_f32(b->grad)[0];
        if (step % 50 == 0)
            printf("step %3d  loss %.5f  w %.4f  b %.4f\n", step, (double)nb_item(loss),
                   (double)nb_f32(w)[0], (double)nb_f32(b)[0]);
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_tensor_free(w);
    nb_tensor_free(b);
    nb_ctx_free(ctx);
    return 0;
}

/* Part 2: the same 2-16-1 tanh network fitting y = sin(2x₀) cos(x₁), with each optimizer. */
static double train_with(const char *which, int steps) {
    nb_model *m = nb_model_new(NB_DIMS(2), 7);
    nb_model_dense(m, 16, NB_ACT_TANH);
    nb_model_dense(m, 1, NB_ACT_NONE);
    nb_params *ps = nb_model_params(m);
    nb_optim *opt = NULL;
    if (which[0] == 's' && which[3] == '\0') /* "sgd" */
        opt = nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.05});
    else if (which[0] == 's') /* "sgd+momentum" */
        opt = nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
    else if (which[0] == 'r') /* torch.optim.RMSprop(lr=0.005): alpha 0.99, eps 1e-8 */
        opt = nb_rmsprop_new(ps, &(nb_rmsprop_opts){.lr = 0.005});
    else /* torch.optim.Adam(lr=0.01): betas (0.9, 0.999), eps 1e-8 */
        opt = nb_adam_new(ps, &(nb_adam_opts){.lr = 0.01});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    nb_tensor *x = nb_rand(NULL, NB_DIMS(128, 2), -1.5f, 1.5f, &rng);
    nb_tensor *y = nb_zeros(NULL, NB_DIMS(128, 1));
    for (int i = 0; i < 128; i++) {
        float a = nb_f32(x)[2 * i], c = nb_f32(x)[2 * i + 1];
        nb_f32(y)[i] = sinf(2.0f * a) * cosf(c);
    }
    double last = 0.0;
    for (int s = 0; s < steps; s++) {
        nb_ctx_reset(ctx);
        nb_tensor *loss = nb_mse_loss(ctx, nb_model_forward(m, ctx, x), y, NB_REDUCE_MEAN);
        nb_optim_zero_grad(opt);
        if (!loss || nb_backward(ctx, loss) != NB_OK || nb_optim_step(opt) != NB_OK) {
            fprintf(stderr, "error: %s\n", nb_last_error());
            last = -1.0;
            break;
        }
        last = nb_item(loss);
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
    return last;
}

int main(void) {
    printf("Part 1: gradient descent by hand on y = 3x - 2\n");
    if (part1()) return 1;
    printf("\nPart 2: one network, four optimizers, 500 full-batch steps\n");
    const char *names[] = {"sgd", "sgd+momentum", "rmsprop", "adam"};
    for (int i = 0; i < 4; i++) {
        double l = train_with(names[i], 500);
        if (l < 0) return 1;
        printf("  %-13s final loss %.5f\n", names[i], l);
    }
    return 0;
}
