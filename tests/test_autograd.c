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

/* ---- gradient-ready notification ------------------------------------------------------------ */

typedef struct ready_log {
    const nb_tensor *leaf[8];
    float snap[8][16]; /* the gradient when announced */
    int n;
} ready_log;

static void on_ready(nb_tensor *leaf, void *user) {
    ready_log *lg = user;
    if (lg->n >= 8) return;
    lg->leaf[lg->n] = leaf;
    int64_t k = leaf->grad && leaf->grad->numel <= 16 ? leaf->grad->numel : 0;
    if (k) memcpy(lg->snap[lg->n], leaf->grad->data, (size_t)k * sizeof(float));
    lg->n++;
}

/* Each leaf is announced once, after its oldest reader, with its final gradient: w is read
 * first and last (z = tanh(w x) * w), so it comes after b (read only by the newest node);
 * u is read only off the loss's path and is still announced (it will get no gradient); c
 * takes no gradient and is never announced. */
static void test_grad_ready_once_final(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    ready_log lg;
    memset(&lg, 0, sizeof lg);
    nb_ctx_on_grad_ready(ctx, on_ready, &lg);
    nb_tensor *w = nb_full(NULL, NB_DIMS(3), 0.5f);
    nb_tensor *b = nb_full(NULL, NB_DIMS(3), 0.25f);
    nb_tensor *u = nb_full(NULL, NB_DIMS(3), 2.0f);
    nb_tensor *x = nb_full(ctx, NB_DIMS(3), 1.5f);
    nb_tensor *c = nb_full(ctx, NB_DIMS(3), 3.0f);
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor_set_requires_grad(u, 1);
    nb_tensor *dead = nb_mul(ctx, u, c); /* recorded, not on the loss's path */
    CHECK_PTR(dead);
    nb_tensor *y = nb_tanh(ctx, nb_mul(ctx, w, x));
    nb_tensor *z = nb_add(ctx, nb_mul(ctx, y, w), b);
    nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, z, c), NB_ALL_AXES, 0);
    CHECK_OK(nb_backward(ctx, loss));
    CHECK(lg.n == 3);
    CHECK(lg.leaf[0] == b && lg.leaf[1] == w && lg.leaf[2] == u);
    for (int k = 0; k < lg.n && k < 2; k++)
        for (int i = 0; i < 3; i++) CHECK(lg.snap[k][i] == ((float *)lg.leaf[k]->grad->data)[i]);
    CHECK(u->grad == NULL); /* no gradient reached it */
    /* the setting stays across a reset, and off means off */
    nb_ctx_reset(ctx);
    memset(&lg, 0, sizeof lg);
    nb_tensor *l2 = nb_sum(ctx, nb_mul(ctx, w, w), NB_ALL_AXES, 0);
    CHECK_OK(nb_backward(ctx, l2));
    CHECK(lg.n == 1 && lg.leaf[0] == w);
    nb_ctx_reset(ctx);
    nb_ctx_on_grad_ready(ctx, NULL, &lg);
    memset(&lg, 0, sizeof lg);
    CHECK_OK(nb_backward(ctx, nb_sum(ctx, nb_mul(ctx, w, b), NB_ALL_AXES, 0)));
    CHECK(lg.n == 0);
    nb_tensor_free(w);
    nb_tensor_free(b);
    nb_tensor_free(u);
    nb_ctx_free(ctx);
}

/* In a model, backward meets the last layer first: its parameters are announced before the
 * first layer's, and every announced gradient is already the final one. */
static void test_grad_ready_model_order(void) {
    nb_model *m = nb_model_new(NB_DIMS(3), 7);
    CHECK_OK(nb_model_dense(m, 4, NB_ACT_TANH));
    CHECK_OK(nb_model_dense(m, 2, NB_ACT_NONE));
    nb_ctx *ctx = nb_ctx_new(NULL);
    ready_log lg;
    memset(&lg, 0, sizeof lg);
    nb_ctx_on_grad_ready(ctx, on_ready, &lg);
    nb_tensor *x = nb_full(ctx, NB_DIMS(5, 3), 0.3f);
    nb_tensor *out = nb_model_forward(m, ctx, x);
    nb_model_zero_grad(m);
    CHECK_OK(nb_backward(ctx, nb_sum(ctx, nb_mul(ctx, out, out), NB_ALL_AXES, 0)));
    nb_params *ps = nb_model_params(m);
    CHECK(lg.n == 4);
    /* dense_2's weight and bias (store indices 2, 3) before dense_1's (0, 1) */
    int pos[4] = {-1, -1, -1, -1};
    for (int k = 0; k < lg.n; k++)
        for (int i = 0; i < 4; i++)
            if (lg.leaf[k] == nb_params_at(ps, i)) pos[i] = k;
    CHECK(pos[0] >= 2 && pos[1] >= 2 && pos[2] >= 0 && pos[2] < 2 && pos[3] >= 0 && pos[3] < 2);
    for (int k = 0; k < lg.n; k++) {
        const nb_tensor *g = lg.leaf[k]->grad;
        for (int64_t i = 0; i < g->numel && i < 16; i++)
            CHECK(lg.snap[k][i] == ((const float *)g->data)[i]);
    }
    nb_ctx_free(ctx);
    nb_model_free(m);
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
    {"grad_ready_once_final", test_grad_ready_once_final},
    {"grad_ready_model_order", test_grad_ready_model_order},
};
NBT_MAIN(cases)
