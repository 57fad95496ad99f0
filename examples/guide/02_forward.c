/* Guide, chapter 2: forward computation, layer by layer (docs/guide/02-forward-computation.md).
 *
 *   z₁ = x W₁ + b₁,  a₁ = σ(z₁)        hidden layer, 2 → 3
 *   z₂ = a₁ W₂ + b₂, a₂ = σ(z₂)        output layer, 3 → 1 */
#include <nabla.h>
#include <stdio.h>

int main(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    /* a batch of four inputs, one per row */
    nb_tensor *x = nb_tensor_copy_of(ctx, (float[]){0, 0, 0, 1, 1, 0, 1, 1}, NB_DIMS(4, 2));
    nb_tensor *W1 = nb_tensor_copy_of(ctx, (float[]){0.5f, -1.0f, 0.25f, 1.0f, 0.5f, -0.75f},
                                      NB_DIMS(2, 3));
    nb_tensor *b1 = nb_tensor_copy_of(ctx, (float[]){0.1f, 0.0f, -0.1f}, NB_DIMS(3));
    nb_tensor *W2 = nb_tensor_copy_of(ctx, (float[]){1.0f, -2.0f, 0.5f}, NB_DIMS(3, 1));
    nb_tensor *b2 = nb_tensor_copy_of(ctx, (float[]){0.2f}, NB_DIMS(1));

    nb_tensor *z1 = nb_add(ctx, nb_matmul(ctx, x, W1), b1);
    nb_tensor *a1 = nb_sigmoid(ctx, z1);
    nb_tensor *z2 = nb_add(ctx, nb_matmul(ctx, a1, W2), b2);
    nb_tensor *a2 = nb_sigmoid(ctx, z2);
    if (!a2) {
        fprintf(stderr, "error: %s\n", nb_last_error());
        return 1;
    }
    printf("z1 =\n");
    nb_tensor_print(z1, stdout);
    printf("a1 = sigmoid(z1) =\n");
    nb_tensor_print(a1, stdout);
    printf("z2 =\n");
    nb_tensor_print(z2, stdout);
    printf("a2 = sigmoid(z2) =\n");
    nb_tensor_print(a2, stdout);

    /* the same layer with other activations */
    printf("tanh(z1) =\n");
    nb_tensor_print(nb_tanh(ctx, z1), stdout);
    printf("relu(z1) =\n");
    nb_tensor_print(nb_relu(ctx, z1), stdout);
    nb_ctx_free(ctx);
    return 0;
}
