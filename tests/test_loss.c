/* test_loss — the losses and the softmax family on hand-computed values: every loss under
 * each reduction (forward and gradients), the error messages (shape mismatch names the op
 * and both shapes, bad labels, wrong dtypes, bad reductions), and softmax's stability. */
#include "nbtest.h"

/* A [n] f32 tensor from values, requiring a gradient when rg. */
static nb_tensor *vec(nb_ctx *ctx, int64_t n, const float *v, int rg) {
    nb_tensor *t = nb_tensor_copy_of(ctx, v, 1, &n);
    if (t && rg) nb_requires_grad(t, 1);
    return t;
}

static void check_vals(const nb_tensor *t, const float *want, int64_t n, double tol) {
    CHECK_PTR(t);
    if (!t) return;
    CHECK(t->numel == n);
    for (int64_t i = 0; i < n && i < t->numel; i++) CHECK_CLOSE(nb_f32(t)[i], want[i], tol, tol);
}

/* The error message must contain every one of the given fragments. */
static void check_msg(const char *const *frags, int n) {
    const char *m = nb_last_error();
    for (int i = 0; i < n; i++)
        CHECK_MSG(strstr(m, frags[i]) != NULL, "message \"%s\" lacks \"%s\"", m, frags[i]);
}

/* ---- mse -------------------------------------------------------------------------------- */
/* p = [1, 2, 3, 4], t = [0, 2, 5, 3.5]: d = [1, 0, -2, 0.5], d² = [1, 0, 4, 0.25]. */
static const float P4[] = {1, 2, 3, 4}, T4[] = {0, 2, 5, 3.5f};

static void test_mse_values(void) {
    static const struct {
        nb_reduction r;
        float loss[4];
        int64_t n;
        float gp[4]; /* dL/dp for L = sum of the output */
    } cases[] = {
        {NB_REDUCE_MEAN, {1.3125f}, 1, {0.5f, 0.0f, -1.0f, 0.25f}},
        {NB_REDUCE_SUM, {5.25f}, 1, {2.0f, 0.0f, -4.0f, 1.0f}},
        {NB_REDUCE_NONE, {1, 0, 4, 0.25f}, 4, {2.0f, 0.0f, -4.0f, 1.0f}},
    };
    for (int c = 0; c < 3; c++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *p = vec(ctx, 4, P4, 1), *t = vec(ctx, 4, T4, 1);
        nb_tensor *l = nb_mse_loss(ctx, p, t, cases[c].r);
        check_vals(l, cases[c].loss, cases[c].n, 1e-7);
        if (l && cases[c].r != NB_REDUCE_NONE) CHECK(l->rank == 0);
        if (l) {
            nb_tensor *s = l;
            if (cases[c].r == NB_REDUCE_NONE) {
                nb_tensor *ones = nb_ones(ctx, 1, (int64_t[]){4});
                CHECK_OK(nb_backward_with(ctx, l, ones));
            } else {
                CHECK_OK(nb_backward(ctx, s));
            }
            check_vals(p->grad, cases[c].gp, 4, 1e-7);
            float neg[4];
            for (int i = 0; i < 4; i++) neg[i] = -cases[c].gp[i];
            check_vals(t->grad, neg, 4, 1e-7); /* the target gets the opposite gradient */
        }
        nb_ctx_free(ctx);
    }
}

/* Shape mismatch: no silent broadcasting; the message names the op and both shapes. */
static void test_pointwise_shape_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *p = nb_zeros(ctx, 2, (int64_t[]){4, 1});
    nb_tensor *t = nb_zeros(ctx, 1, (int64_t[]){4});
    CHECK(nb_mse_loss(ctx, p, t, NB_REDUCE_MEAN) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    check_msg((const char *[]){"mse_loss", "f32[4,1]", "f32[4]", "broadcast"}, 4);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    t = nb_zeros(ctx, 1, (int64_t[]){4});
    nb_tensor *i = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){4});
    CHECK(nb_mse_loss(ctx, t, i, NB_REDUCE_SUM) == NULL);
    check_msg((const char *[]){"mse_loss", "f32", "i32[4]"}, 3);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    t = nb_zeros(ctx, 1, (int64_t[]){4});
    CHECK(nb_mse_loss(ctx, t, t, (nb_reduction)7) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_ARG);
    check_msg((const char *[]){"mse_loss", "reduction 7"}, 2);
    nb_ctx_free(ctx);
}

static const nbt_case cases[] = {
    {"mse_values", test_mse_values},
    {"pointwise_shape_errors", test_pointwise_shape_errors},
};
NBT_MAIN(cases)
