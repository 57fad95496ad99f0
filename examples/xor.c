/* examples/xor.c — the first network: a 2-4-1 network of sigmoids learns XOR.
 *
 *   forward     h = σ(x W₁ + b₁),  out = σ(h W₂ + b₂)         x: the 4 samples, [4, 2]
 *   loss        E = ½ Σ (out − y)²  over the batch            (gradient at out: out − y)
 *   update      p ← p − 0.1 ∂E/∂p  for every weight and bias, 10 000 times
 *
 * This is the classic numpy program (bench/xor_numpy.py) step for step: full batch, the
 * squared error summed over the four samples and halved. PyTorch's default, the mean
 * (nb_mse_loss with NB_REDUCE_MEAN), would give gradients of (2/4)(out − y), half the classic
 * step; at lr 0.1 that is not done after 10 000 epochs (outputs near 0.15/0.85 rather than
 * 0.05/0.95), so we keep the classic sum.
 *
 * One epoch is nb_step_run, which does what the eager loop does:
 *
 *     nb_ctx_reset(ctx);                                  // last epoch's tensors and tape go
 *     out = nb_model_forward(net, ctx, x);
 *     loss = half_sse(ctx, out, y, NULL);
 *     nb_optim_zero_grad(sgd);
 *     nb_backward(ctx, loss);
 *     nb_optim_step(sgd);
 *
 * — and gives the same numbers bit for bit — but records the kernels that epoch calls the
 * first time and afterwards only calls them again: the shapes never change, so neither does
 * the work (docs/train.md, "A recorded step"). */
#include <nabla.h>
#include <stdio.h>

/* E = ½ Σ (out − y)², from ops: the step records them */
static nb_tensor *half_sse(nb_ctx *ctx, nb_tensor *out, nb_tensor *y, void *user) {
    (void)user;
    return nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
}

int main(void) {
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    float Y[4][1] = {{0}, {1}, {1}, {0}};

    nb_model *net = nb_model_new(NB_DIMS(2), 42); /* inputs of 2 features; seed 42 */
    if (!net || nb_model_dense(net, 4, NB_ACT_SIGMOID) || nb_model_dense(net, 1, NB_ACT_SIGMOID))
        goto fail;
    nb_model_summary(net, stdout);
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = 0.1});
    nb_step *step = sgd ? nb_step_new(net, sgd, &(nb_step_def){.loss_fn = half_sse}) : NULL;
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    if (!step || !x || !y) goto fail;

    for (int epoch = 1; epoch <= 10000; epoch++) {
        float loss;
        if (nb_step_run(step, x, y, &loss) != NB_OK) goto fail;
        if (epoch % 2000 == 0) printf("epoch %5d  loss %.6f\n", epoch, loss);
    }
    printf("outputs for (0,0) (0,1) (1,0) (1,1):\n");
    nb_tensor_print(nb_step_output(step), stdout); /* the last epoch's, before its update */
    printf("\n");

    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_step_free(step);
    nb_optim_free(sgd);
    nb_model_free(net);
    return 0;
fail:
    fprintf(stderr, "xor: %s\n", nb_last_error());
    return 1;
}
