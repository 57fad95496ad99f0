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
 * 0.05/0.95), so we keep the classic sum. */
#include <nabla.h>
#include <stdio.h>

int main(void) {
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    float Y[4][1] = {{0}, {1}, {1}, {0}};

    nb_model *net = nb_model_new(NB_DIMS(2), 42); /* inputs of 2 features; seed 42 */
    if (!net || nb_model_dense(net, 4, NB_ACT_SIGMOID) || nb_model_dense(net, 1, NB_ACT_SIGMOID))
        goto fail;
    nb_model_summary(net, stdout);
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = 0.1});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    if (!sgd || !ctx || !x || !y) goto fail;

    nb_tensor *out = NULL;
    for (int epoch = 1; epoch <= 10000; epoch++) {
        nb_ctx_reset(ctx); /* last epoch's tensors and tape go at once */
        out = nb_model_forward(net, ctx, x);
        nb_tensor *loss = nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
        nb_optim_zero_grad(sgd);
        if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(sgd) != NB_OK) goto fail;
        if (epoch % 2000 == 0) printf("epoch %5d  loss %.6f\n", epoch, nb_item(loss));
    }
    printf("outputs for (0,0) (0,1) (1,0) (1,1):\n");
    nb_tensor_print(out, stdout);
    printf("\n");

    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(sgd);
    nb_model_free(net);
    return 0;
fail:
    fprintf(stderr, "xor: %s\n", nb_last_error());
    return 1;
}
