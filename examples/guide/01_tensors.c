/* Guide, chapter 1: vectors and matrices (docs/guide/01-vectors-and-matrices.md). */
#include <nabla.h>
#include <stdio.h>

int main(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);

    /* Vectors: u + v, u ⊙ v, u · v */
    nb_tensor *u = nb_tensor_copy_of(ctx, (float[]){1, 2, 3}, NB_DIMS(3));
    nb_tensor *v = nb_tensor_copy_of(ctx, (float[]){4, 5, 6}, NB_DIMS(3));
    printf("u + v = ");
    nb_tensor_print(nb_add(ctx, u, v), stdout);
    printf("u * v = ");
    nb_tensor_print(nb_mul(ctx, u, v), stdout);
    printf("u . v = ");
    nb_tensor_print(nb_matmul(ctx, u, v), stdout); /* 1-D · 1-D: the dot product, 32 */

    /* Matrices: A B, Aᵀ, A x */
    nb_tensor *A = nb_tensor_copy_of(ctx, (float[]){1, 2, 3, 4, 5, 6}, NB_DIMS(2, 3));
    nb_tensor *B = nb_tensor_copy_of(ctx, (float[]){1, 0, 0, 1, 1, 1}, NB_DIMS(3, 2));
    printf("A B =\n");
    nb_tensor_print(nb_matmul(ctx, A, B), stdout);
    printf("A^T =\n");
    nb_tensor_print(nb_transpose(ctx, A, 0, 1), stdout); /* a view: no copy */
    printf("A u = ");
    nb_tensor_print(nb_matmul(ctx, A, u), stdout);

    /* Broadcasting: a row vector added to every row */
    nb_tensor *row = nb_tensor_copy_of(ctx, (float[]){10, 20, 30}, NB_DIMS(3));
    printf("A + row =\n");
    nb_tensor_print(nb_add(ctx, A, row), stdout);

    /* Reductions */
    printf("column sums = ");
    nb_tensor_print(nb_sum(ctx, A, NB_AXIS(0), 0), stdout);
    printf("mean = ");
    nb_tensor_print(nb_mean(ctx, A, NB_ALL_AXES, 0), stdout);

    /* Mistakes are reported, not crashed on */
    nb_tensor *bad = nb_matmul(ctx, A, A);
    if (!bad) printf("error: %s\n", nb_last_error());

    nb_ctx_free(ctx);
    return 0;
}
