/* test_autograd — the tape: chain rule, accumulation, no-grad, sticky errors, check mode. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <stdlib.h>

static void test_chain_rule_by_hand(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    /* y = sigmoid(w x + b), L = y: dL/dw = y(1-y) x, dL/db = y(1-y), dL/dx = y(1-y) w */
    nb_tensor *w = nb_full(ctx, 0, NULL, 0.5f), *x = nb_full(ctx, 0, NULL, 2.0f),
              *b = nb_full(ctx, 0, NULL, -0.25f);
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor *y = nb_sigmoid(ctx, nb_add(ctx, nb_mul(ctx, w, x), b));
    CHECK_PTR(y);
    CHECK_OK(nb_backward(ctx, y));
    double s = 1.0 / (1.0 + exp(-0.75)), d = s * (1 - s);
    CHECK_CLOSE(nb_item(y), s, 1e-7, 0);
    CHECK_CLOSE(nb_item(w->grad), d * 2.0, 1e-7, 0);
    CHECK_CLOSE(nb_item(b->grad), d, 1e-7, 0);
    CHECK_CLOSE(nb_item(x->grad), d * 0.5, 1e-7, 0);
    /* the tape is spent */
    CHECK(nb_backward(ctx, y) == NB_ERR_STATE);
    nb_ctx_free(ctx);
}

static void test_reuse_accumulates(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_full(ctx, NB_DIMS(3), 3.0f);
    nb_tensor_set_requires_grad(x, 1);
    /* L = Σ (x * x + x) → dL/dx = 2x + 1 = 7 */
    nb_tensor *y = nb_add(ctx, nb_mul(ctx, x, x), x);
    CHECK_OK(nb_backward_with(ctx, y, nb_ones(ctx, NB_DIMS(3))));
    for (int i = 0; i < 3; i++) CHECK(nb_f32(x->grad)[i] == 7.0f);
    nb_ctx_free(ctx);
}

static void test_broadcast_gradient_sums(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *a = nb_ones(ctx, NB_DIMS(4, 3)), *b = nb_full(ctx, NB_DIMS(3), 2.0f);
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor *y = nb_mul(ctx, a, b); /* b broadcast down 4 rows */
    CHECK(y->rank == 2 && y->shape[0] == 4 && y->shape[1] == 3);
    CHECK_OK(nb_backward_with(ctx, y, nb_ones(ctx, NB_DIMS(4, 3))));
    for (int i = 0; i < 3; i++) CHECK(nb_f32(b->grad)[i] == 4.0f); /* Σ over rows of a */
    for (int i = 0; i < 12; i++) CHECK(nb_f32(a->grad)[i] == 2.0f);
    nb_ctx_free(ctx);
}

static void test_no_grad_records_nothing(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_ones(ctx, NB_DIMS(2));
    nb_tensor_set_requires_grad(x, 1);
    CHECK(nb_ctx_grad_enabled(ctx) == 1);
    CHECK(nb_ctx_set_grad(ctx, 0) == 1);
    CHECK(nb_ctx_grad_enabled(ctx) == 0);
    nb_tensor *y = nb_exp(ctx, x);
    CHECK(y && !(y->flags & NB_TF_REQUIRES_GRAD) && y->node == NULL);
    CHECK(nb_backward_with(ctx, y, nb_ones(ctx, NB_DIMS(2))) == NB_ERR_STATE);
    CHECK(nb_ctx_set_grad(ctx, 1) == 0 && nb_ctx_grad_enabled(ctx) == 1);
    CHECK(nb_ctx_grad_enabled(NULL) == 0);
    nb_ctx_free(ctx);
}

static void test_shape_error_names_op_and_shapes(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *a = nb_ones(ctx, NB_DIMS(4, 3)), *b = nb_ones(ctx, NB_DIMS(2, 3));
    nb_tensor *y = nb_add(ctx, a, b);
    CHECK(y == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    const char *m = nb_last_error();
    CHECK_MSG(strstr(m, "add") && strstr(m, "f32[4,3]") && strstr(m, "f32[2,3]"), "message: %s", m);
    /* NULL propagates without replacing the first message */
    char first[256];
    snprintf(first, sizeof first, "%s", m);
    nb_tensor *z = nb_relu(ctx, nb_mul(ctx, y, a));
    CHECK(z == NULL);
    CHECK(strcmp(nb_last_error(), first) == 0);
    CHECK(nb_backward(ctx, z) == NB_ERR_SHAPE);
    nb_tensor *mm = nb_matmul(ctx, a, a);
    CHECK(mm == NULL && strstr(nb_last_error(), "matmul") && strstr(nb_last_error(), "inner"));
    nb_ctx_free(ctx);
}

static void test_check_mode_names_the_op(void) {
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.check = 1});
    nb_tensor *x = nb_full(ctx, NB_DIMS(2, 2), 1.0f);
    nb_f32(x)[3] = -1.0f;
    nb_tensor_set_requires_grad(x, 1);
    nb_ctx_set_scope(ctx, "dense_2");
    nb_tensor *y = nb_exp(ctx, x); /* fine */
    CHECK_PTR(y);
    nb_tensor *z = nb_log(ctx, nb_sub(ctx, x, nb_scalar(ctx, 0.0f)));
    CHECK(z == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_NUMERIC);
    const char *m = nb_last_error();
    CHECK_MSG(strstr(m, "'log'") && strstr(m, "NaN") && strstr(m, "[1,1]") &&
                  strstr(m, "f32[2,2]") && strstr(m, "dense_2"),
              "message: %s", m);
    nb_ctx_free(ctx);

    /* without check mode the NaN flows silently */
    ctx = nb_ctx_new(&(nb_ctx_opts){.check = -1});
    x = nb_full(ctx, NB_DIMS(1), -1.0f);
    z = nb_log(ctx, x);
    CHECK(z && isnan(nb_f32(z)[0]));
    nb_ctx_free(ctx);

    /* and NB_CHECK=1 in the environment turns it on */
    setenv("NB_CHECK", "1", 1);
    ctx = nb_ctx_new(NULL);
    unsetenv("NB_CHECK");
    x = nb_full(ctx, NB_DIMS(1), -1.0f);
    CHECK(nb_sqrt(ctx, x) == NULL && nb_ctx_status(ctx) == NB_ERR_NUMERIC);
    nb_ctx_free(ctx);
}

static void test_check_mode_backward(void) {
    /* sqrt(0) is finite, but its derivative 1/(2·0) is not: caught in backward */
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.check = 1});
    nb_tensor *x = nb_zeros(ctx, NB_DIMS(3));
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = nb_sqrt(ctx, x);
    CHECK_PTR(y);
    nb_status s = nb_backward_with(ctx, y, nb_ones(ctx, NB_DIMS(3)));
    CHECK(s == NB_ERR_NUMERIC);
    CHECK_MSG(strstr(nb_last_error(), "'sqrt'") && strstr(nb_last_error(), "backward"),
              "message: %s", nb_last_error());
    nb_ctx_free(ctx);
}

static void test_reset_reuses_memory(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_ones(NULL, NB_DIMS(64, 64));
    nb_tensor_set_requires_grad(x, 1);
    size_t peak = 0;
    for (int step = 0; step < 3; step++) {
        nb_tensor *y = nb_tanh(ctx, nb_matmul(ctx, x, x));
        CHECK_OK(nb_backward_with(ctx, y, nb_ones(ctx, NB_DIMS(64, 64))));
        if (step == 0) peak = nb_ctx_peak(ctx);
        CHECK(nb_ctx_peak(ctx) == peak);
        nb_ctx_reset(ctx);
        CHECK(nb_ctx_used(ctx) == 0);
    }
    nb_tensor_free(x); /* frees its heap gradient too (LSan checks) */
    nb_ctx_free(ctx);
}

static const nbt_case cases[] = {
    {"chain_rule_by_hand", test_chain_rule_by_hand},
    {"reuse_accumulates", test_reuse_accumulates},
    {"broadcast_gradient_sums", test_broadcast_gradient_sums},
    {"no_grad_records_nothing", test_no_grad_records_nothing},
    {"shape_error_names_op_and_shapes", test_shape_error_names_op_and_shapes},
    {"check_mode_names_the_op", test_check_mode_names_the_op},
    {"check_mode_backward", test_check_mode_backward},
    {"reset_reuses_memory", test_reset_reuses_memory},
};
NBT_MAIN(cases)
