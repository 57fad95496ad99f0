/* Guide, chapter 3: backward computation (docs/guide/03-backward-computation.md).
 *
 * The two-layer sigmoid network of chapter 2 with L = ½ Σ (a₂ - y)². Its gradients are
 * computed twice: by the δ formulas of backpropagation, written out with nabla's ops, and by
 * nb_backward sweeping the tape. They agree to the last bits. */
#include <nabla.h>
#include <math.h>
#include <stdio.h>

static float max_abs_diff(const nb_tensor *a, const nb_tensor *b) {
    float m = 0.0f;
    for (int64_t i = 0; i < a->numel; i++) {
        float d = fabsf(nb_f32(a)[i] - nb_f32(b)[i]);
        m = d > m ? d : m;
    }
    return m;
}

int main(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_copy_of(ctx, (float[]){0, 0, 0, 1, 1, 0, 1, 1}, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_copy_of(ctx, (float[]){0, 1, 1, 0}, NB_DIMS(4, 1));
    nb_tensor *W1 = nb_tensor_copy_of(ctx, (float[]){0.5f, -1.0f, 0.25f, 1.0f, 0.5f, -0.75f},
                                      NB_DIMS(2, 3));
    nb_tensor *b1 = nb_tensor_copy_of(ctx, (float[]){0.1f, 0.0f, -0.1f}, NB_DIMS(3));
    nb_tensor *W2 = nb_tensor_copy_of(ctx, (float[]){1.0f, -2.0f, 0.5f}, NB_DIMS(3, 1));
    nb_tensor *b2 = nb_tensor_copy_of(ctx, (float[]){0.2f}, NB_DIMS(1));
    nb_tensor *params[4] = {W1, b1, W2, b2};
    for (int i = 0; i < 4; i++) nb_tensor_set_requires_grad(params[i], 1);

    /* forward, recorded on the tape */
    nb_tensor *a1 = nb_sigmoid(ctx, nb_add(ctx, nb_matmul(ctx, x, W1), b1));
    nb_tensor *a2 = nb_sigmoid(ctx, nb_add(ctx, nb_matmul(ctx, a1, W2), b2));
    nb_tensor *err = nb_sub(ctx, a2, y);
    nb_tensor *L = nb_mul_scalar(ctx, nb_sum(ctx, nb_mul(ctx, err, err), NB_ALL_AXES, 0), 0.5f);
    if (!L || nb_backward(ctx, L) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_last_error());
        return 1;
    }
    printf("L = %.6f\n", nb_item(L));

    /* by hand, without the tape */
    nb_ctx_set_grad(ctx, 0);
    /* δ₂ = (a₂ - y) ⊙ σ'(z₂), σ'(z) = a (1 - a) */
    nb_tensor *d2 = nb_mul(ctx, err, nb_mul(ctx, a2, nb_rsub_scalar(ctx, a2, 1.0f)));
    /* ∂L/∂W₂ = a₁ᵀ δ₂, ∂L/∂b₂ = Σ_batch δ₂ */
    nb_tensor *gW2 = nb_matmul(ctx, nb_transpose(ctx, a1, 0, 1), d2);
    nb_tensor *gb2 = nb_sum(ctx, d2, NB_AXIS(0), 0);
    /* δ₁ = (δ₂ W₂ᵀ) ⊙ σ'(z₁) */
    nb_tensor *d1 = nb_mul(ctx, nb_matmul(ctx, d2, nb_transpose(ctx, W2, 0, 1)),
                           nb_mul(ctx, a1, nb_rsub_scalar(ctx, a1, 1.0f)));
    nb_tensor *gW1 = nb_matmul(ctx, nb_transpose(ctx, x, 0, 1), d1);
    nb_tensor *gb1 = nb_sum(ctx, d1, NB_AXIS(0), 0);
    if (!gb1) {
        fprintf(stderr, "error: %s\n", nb_last_error());
        return 1;
    }

    printf("dL/dW1 by the tape:\n");
    nb_tensor_print(W1->grad, stdout);
    printf("dL/dW1 by the delta formulas:\n");
    nb_tensor_print(gW1, stdout);
    nb_tensor *by_hand[4] = {gW1, gb1, gW2, gb2};
    const char *names[4] = {"W1", "b1", "W2", "b2"};
    float worst = 0.0f;
    for (int i = 0; i < 4; i++) {
        float d = max_abs_diff(params[i]->grad, by_hand[i]);
        printf("max |tape - delta| for %s: %g\n", names[i], (double)d);
        worst = d > worst ? d : worst;
    }
    nb_ctx_free(ctx);
    return worst < 1e-6f ? 0 : 1;
}
