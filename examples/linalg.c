/* examples/linalg.c — linear algebra with nabla: vectors and matrices, the product, solving
 * A x = b, the inverse, the determinant (and its gradient), conditioning, least squares.
 * The walk-through is docs/guide/05-linear-algebra.md.
 *
 *   make && build/examples/linalg */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>

/* Stops the example with nabla's message if anything failed. */
static void check(nb_ctx *ctx, const char *what) {
    if (nb_ctx_status(ctx) != NB_OK) {
        fprintf(stderr, "%s: %s\n", what, nb_last_error());
        exit(1);
    }
}

static void show(const char *name, const nb_tensor *t) {
    printf("%s =\n", name);
    nb_tensor_print(t, stdout);
}

int main(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!ctx) return 1;

    /* 1. A system of three equations in three unknowns:
     *     2x +  y −  z =   8
     *    −3x −  y + 2z = −11
     *    −2x +  y + 2z =  −3        as A v = b */
    float a_vals[9] = {2, 1, -1, -3, -1, 2, -2, 1, 2};
    float b_vals[3] = {8, -11, -3};
    nb_tensor *A = nb_tensor_copy_of(ctx, a_vals, NB_DIMS(3, 3));
    nb_tensor *b = nb_tensor_copy_of(ctx, b_vals, NB_DIMS(3));
    show("A", A);
    show("b", b);

    nb_tensor *v = nb_solve(ctx, A, b); /* LU with partial pivoting, in double */
    check(ctx, "solve");
    show("v = solve(A, b)", v);
    show("A v (should be b)", nb_matmul(ctx, A, v));

    /* 2. The inverse and the determinant */
    nb_tensor *Ainv = nb_inverse(ctx, A);
    check(ctx, "inverse");
    show("inverse(A)", Ainv);
    show("A inverse(A) (should be I)", nb_matmul(ctx, A, Ainv));
    show("inverse(A) b (the same v, with more work)", nb_matmul(ctx, Ainv, b));
    printf("det(A) = %g\n\n", nb_item(nb_det(ctx, A)));

    /* 3. Several right-hand sides at once: B is [3, 2], X = A⁻¹ B is [3, 2] */
    float bb[6] = {8, 1, -11, 0, -3, 0};
    show("solve(A, [b | e1])", nb_solve(ctx, A, nb_tensor_copy_of(ctx, bb, NB_DIMS(3, 2))));

    /* 4. A singular matrix: the third row is the sum of the first two */
    float s_vals[9] = {1, 2, 3, 4, 5, 6, 5, 7, 9};
    nb_tensor *S = nb_tensor_copy_of(ctx, s_vals, NB_DIMS(3, 3));
    printf("det(S) = %g\n", nb_item(nb_det(ctx, S)));
    nb_tensor *bad = nb_inverse(ctx, S);
    printf("inverse(S) -> %s\n  %s\n\n", bad ? "a matrix?!" : "NULL", nb_last_error());
    nb_ctx_reset(ctx); /* clear the sticky error and start afresh */

    /* 5. Conditioning: the Hilbert matrix h_ij = 1/(i+j+1) is invertible but nearly singular.
     * rcond ≈ 1/κ says how many digits a solve loses. */
    for (int n = 3; n <= 9; n += 3) {
        nb_tensor *H = nb_zeros(ctx, NB_DIMS(n, n));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) nb_f32(H)[i * n + j] = 1.0f / (float)(i + j + 1);
        float rc = nb_item(nb_rcond(ctx, H));
        nb_tensor *Hi = nb_inverse(ctx, H);
        printf("Hilbert %d: rcond = %.2e -> inverse %s\n", n, (double)rc,
               Hi ? "computed" : "refused");
        if (!Hi) {
            printf("  %s\n", nb_last_error());
            nb_ctx_reset(ctx);
        }
    }
    printf("\n");

    /* 6. The gradient of the determinant (Jacobi's formula): d det(A) / dA = det(A) A⁻ᵀ */
    nb_tensor *W = nb_tensor_copy_of(ctx, a_vals, NB_DIMS(3, 3));
    nb_tensor_set_requires_grad(W, 1);
    nb_tensor *d = nb_det(ctx, W);
    nb_backward(ctx, d);
    check(ctx, "det backward");
    show("d det(A) / dA", W->grad);

    /* 7. Least squares: the line y = c0 + c1 t closest to five noisy points. The design
     * matrix has a column of ones and a column of t; lstsq minimises ‖X c − y‖ by QR. */
    nb_ctx_reset(ctx);
    float t[5] = {0, 1, 2, 3, 4}, y[5] = {1.1f, 2.9f, 5.2f, 7.1f, 8.8f}, xd[10];
    for (int i = 0; i < 5; i++) {
        xd[2 * i] = 1.0f;
        xd[2 * i + 1] = t[i];
    }
    nb_tensor *c = nb_lstsq(ctx, nb_tensor_copy_of(ctx, xd, NB_DIMS(5, 2)),
                            nb_tensor_copy_of(ctx, y, NB_DIMS(5)));
    check(ctx, "lstsq");
    printf("least-squares line: y = %.4f + %.4f t\n\n", (double)nb_f32(c)[0],
           (double)nb_f32(c)[1]);

    /* 8. Cholesky: a symmetric positive definite matrix is L Lᵀ */
    float spd[9] = {4, 2, 0.4f, 2, 2, 0.5f, 0.4f, 0.5f, 1};
    nb_tensor *L = nb_cholesky(ctx, nb_tensor_copy_of(ctx, spd, NB_DIMS(3, 3)));
    check(ctx, "cholesky");
    show("L with L Lt = [[4, 2, .4], [2, 2, .5], [.4, .5, 1]]", L);

    /* 9. The same solve without tensors or a context: the raw routine on a float array */
    float x_raw[3] = {8, -11, -3};
    if (nb_linalg_solve(3, 1, a_vals, 3, x_raw, 1) == NB_OK)
        printf("nb_linalg_solve: x = %g, y = %g, z = %g\n", (double)x_raw[0], (double)x_raw[1],
               (double)x_raw[2]);

    nb_ctx_free(ctx);
    return 0;
}
