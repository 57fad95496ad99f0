/* test_cnn — the convolutional layers in models: the Fashion-MNIST CNN's shapes, parameter
 * counts, PyTorch-style initialisation and summary; layer errors that name the layer and the
 * shapes; batchnorm's running statistics through training and inference mode (against the
 * op); dropout's need for a generator; rollback of a failed add; and a small CNN that learns
 * to tell horizontal from vertical bars. */
#include "fixture.h"
#include "nbtest.h"

#include <math.h>

/* conv 5x5 1→32, ReLU, maxpool 2, conv 5x5 32→64, ReLU, maxpool 2, flatten, dense 128 ReLU,
 * dense 10 (examples/fmnist_cnn.c) */
static nb_model *fmnist_cnn(uint64_t seed) {
    nb_model *m = nb_model_new(NB_DIMS(1, 28, 28), seed);
    CHECK_PTR(m);
    if (!m) return NULL;
    CHECK_OK(nb_model_conv2d(m, 32, 5, NB_ACT_RELU));
    CHECK_OK(nb_model_max_pool2d(m, 2, 0));
    CHECK_OK(nb_model_conv2d(m, 64, 5, NB_ACT_RELU));
    CHECK_OK(nb_model_max_pool2d(m, 2, 0));
    CHECK_OK(nb_model_flatten(m));
    CHECK_OK(nb_model_dense(m, 128, NB_ACT_RELU));
    CHECK_OK(nb_model_dense(m, 10, NB_ACT_NONE));
    return m;
}

static void test_fmnist_shapes_and_init(void) {
    nb_model *m = fmnist_cnn(1);
    if (!m) return;
    CHECK(nb_model_layer_count(m) == 7);
    int64_t shape[NB_MAX_RANK];
    CHECK(nb_model_output_shape(m, shape) == 1 && shape[0] == 10);
    /* 32·25 + 32, 64·32·25 + 64, 1024·128 + 128, 128·10 + 10 */
    CHECK(nb_model_param_count(m) == 832 + 51264 + 131200 + 1290);
    nb_params *ps = nb_model_params(m);
    nb_tensor *w1 = nb_params_find(ps, "conv2d_1.weight"),
              *b1 = nb_params_find(ps, "conv2d_1.bias");
    nb_tensor *w2 = nb_params_find(ps, "conv2d_2.weight");
    CHECK(w1 && w1->rank == 4 && w1->shape[0] == 32 && w1->shape[1] == 1 && w1->shape[2] == 5);
    CHECK(w2 && w2->shape[0] == 64 && w2->shape[1] == 32);
    /* PyTorch's default: U(±1/sqrt(fan_in)) for weight and bias; fan_in 25 and 800 */
    struct {
        nb_tensor *t;
        float bound;
    } chk[3] = {{w1, 0.2f}, {b1, 0.2f}, {w2, 1.0f / sqrtf(800.0f)}};
    for (int k = 0; k < 3; k++) {
        if (!chk[k].t) continue;
        const float *p = nb_f32(chk[k].t);
        double s2 = 0.0, mx = 0.0;
        for (int64_t i = 0; i < chk[k].t->numel; i++) {
            s2 += (double)p[i] * p[i];
            mx = fmax(mx, fabs(p[i]));
        }
        CHECK(mx <= chk[k].bound);
        if (chk[k].t->numel > 500) /* variance b²/3 within sampling error */
            CHECK_CLOSE(s2 / (double)chk[k].t->numel, chk[k].bound * chk[k].bound / 3.0, 0, 0.15);
        else
            CHECK(mx > 0.5 * chk[k].bound);
    }
    /* the summary: names, kinds, output shapes, counts */
    FILE *f = tmpfile();
    CHECK_OK(nb_model_summary(m, f));
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    text[fread(text, 1, (size_t)n, f)] = '\0';
    fclose(f);
    static const char *const want[] = {"conv2d_1 (Conv2D)",
                                       "(None, 32, 24, 24)",
                                       "832",
                                       "5x5, relu",
                                       "maxpool2d_1 (MaxPool2D)",
                                       "(None, 32, 12, 12)",
                                       "2x2, stride 2x2",
                                       "(None, 64, 8, 8)",
                                       "51264",
                                       "(None, 64, 4, 4)",
                                       "flatten_1 (Flatten)",
                                       "(None, 1024)",
                                       "Total params: 184586",
                                       "Non-trainable params: 0"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(text, want[i]) != NULL, "summary lacks '%s':\n%s", want[i], text);
    free(text);
    /* forward and backward reach every parameter */
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_tensor *x = nb_rand(ctx, NB_DIMS(3, 1, 28, 28), 0.0f, 1.0f, &rng);
    nb_tensor *y = nb_model_forward(m, ctx, x);
    CHECK(y && y->rank == 2 && y->shape[0] == 3 && y->shape[1] == 10);
    CHECK_OK(nb_backward(ctx, nb_sum(ctx, y, NB_ALL_AXES, 0)));
    for (int i = 0; i < nb_params_len(ps); i++) {
        nb_tensor *p = nb_params_at(ps, i);
        double s = 0.0;
        for (int64_t k = 0; k < p->numel; k++) s += fabs(nb_f32(p->grad)[k]);
        CHECK_MSG(s > 0.0, "parameter %s got no gradient", p->name);
    }
    nb_ctx_free(ctx);
    nb_model_free(m);
}

/* The model runs conv2d + maxpool2d as one fused op; the same network written op by op with
 * the model's parameters gives the same bits: logits and every parameter's gradient, but for
 * the first layer's: its input needs no gradient, so the fused op takes its weight and bias
 * gradients from the pooled δ (kernels/conv_direct.h, conv_direct_dw_pooled), the same sums
 * in another order — those agree to rounding. */
static void test_fused_layers_match_ops(void) {
    nb_model *m = fmnist_cnn(3);
    if (!m) return;
    nb_params *ps = nb_model_params(m);
    nb_rng rng;
    nb_rng_seed(&rng, 4);
    nb_tensor *x = nb_rand(NULL, NB_DIMS(5, 1, 28, 28), 0.0f, 1.0f, &rng);
    nb_tensor *lab = nb_tensor_new(NULL, NB_I32, 1, (int64_t[]){5});
    for (int i = 0; i < 5; i++) nb_i32(lab)[i] = i * 3 % 10;
    int64_t total = nb_params_numel(ps);
    float *g_model = malloc(sizeof(float) * (size_t)total);
    float logits[2][50];
    for (int way = 0; way < 2; way++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_model_zero_grad(m);
        nb_tensor *y;
        if (way == 0) {
            y = nb_model_forward(m, ctx, x);
        } else {
            nb_conv_opts relu = {.relu = 1};
            nb_pool_opts two = {.kernel = {2, 2}};
            nb_tensor *h = nb_conv2d(ctx, x, nb_params_find(ps, "conv2d_1.weight"),
                                     nb_params_find(ps, "conv2d_1.bias"), &relu);
            h = nb_max_pool2d(ctx, h, &two);
            h = nb_conv2d(ctx, h, nb_params_find(ps, "conv2d_2.weight"),
                          nb_params_find(ps, "conv2d_2.bias"), &relu);
            h = nb_flatten(ctx, nb_max_pool2d(ctx, h, &two));
            h = nb_relu(ctx, nb_add(ctx, nb_matmul(ctx, h, nb_params_find(ps, "dense_1.weight")),
                                    nb_params_find(ps, "dense_1.bias")));
            y = nb_add(ctx, nb_matmul(ctx, h, nb_params_find(ps, "dense_2.weight")),
                       nb_params_find(ps, "dense_2.bias"));
        }
        CHECK_PTR(y);
        if (y) memcpy(logits[way], y->data, sizeof logits[way]);
        CHECK_OK(nb_backward(ctx, nb_cross_entropy(ctx, y, lab, NB_REDUCE_MEAN)));
        if (way == 0)
            memcpy(g_model, nb_params_grad(ps), sizeof(float) * (size_t)total);
        else
            for (int i = 0, at = 0; i < nb_params_len(ps); i++) {
                const nb_tensor *p = nb_params_at(ps, i);
                const float *g = nb_f32(p->grad);
                if (!strncmp(p->name, "conv2d_1.", 9))
                    nbt_compare(p->name, g, g_model + at, p->numel, 1e-6, 1e-5);
                else
                    CHECK_MSG(memcmp(g_model + at, g, sizeof(float) * (size_t)p->numel) == 0,
                              "%s: the gradient differs", p->name);
                at += (int)p->numel;
            }
        nb_ctx_free(ctx);
    }
    CHECK(memcmp(logits[0], logits[1], sizeof logits[0]) == 0);
    free(g_model);
    nb_tensor_free(x);
    nb_tensor_free(lab);
    nb_model_free(m);
}

static void expect_add_error(nb_model *m, nb_status got, const char *a, const char *b) {
    int64_t before = nb_model_param_count(m);
    CHECK(got == NB_ERR_SHAPE);
    CHECK_MSG(strstr(nb_last_error(), a) != NULL, "message lacks '%s': %s", a, nb_last_error());
    if (b)
        CHECK_MSG(strstr(nb_last_error(), b) != NULL, "message lacks '%s': %s", b, nb_last_error());
    CHECK(nb_model_param_count(m) == before);
}

static void test_layer_errors(void) {
    nb_model *m = nb_model_new(NB_DIMS(3, 6, 6), 1);
    CHECK_OK(nb_model_conv2d(m, 8, 3, NB_ACT_RELU)); /* → [8, 4, 4] */
    int layers = nb_model_layer_count(m);
    expect_add_error(m, nb_model_conv2d(m, 4, 5, NB_ACT_NONE), "conv2d 'conv2d_2'",
                     "5x5 is larger than its input 4x4");
    expect_add_error(m, nb_model_conv2d_with(m, 4, &(nb_conv2d_opts){.kernel = {3}, .groups = 3}),
                     "8 input channels and 4 filters must both divide by groups = 3", "conv2d_2");
    expect_add_error(m, nb_model_max_pool2d(m, 5, 0), "maxpool2d 'maxpool2d_1'",
                     "window 5x5 is larger than its input 4x4");
    CHECK(nb_model_layer_count(m) == layers);
    CHECK_OK(nb_model_flatten(m));
    expect_add_error(m, nb_model_conv2d(m, 4, 1, NB_ACT_NONE), "conv2d 'conv2d_2'", "[C, H, W]");
    expect_add_error(m, nb_model_avg_pool2d(m, 2, 0), "avgpool2d 'avgpool2d_1'", "(None, 128)");
    expect_add_error(m, nb_model_global_avg_pool2d(m), "global_avgpool2d", "(None, 128)");
    /* arguments */
    CHECK(nb_model_conv2d(m, 0, 3, NB_ACT_NONE) == NB_ERR_ARG);
    CHECK(nb_model_conv2d_with(m, 4, &(nb_conv2d_opts){.kernel = {3}, .same = 1, .stride = {2}}) ==
          NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "stride 1") != NULL);
    CHECK(nb_model_dropout(m, 1.0f) == NB_ERR_ARG);
    CHECK(nb_model_batch_norm_with(m, &(nb_batch_norm_opts){.momentum = 2.0f}) == NB_ERR_ARG);
    nb_model_free(m);
}

/* "same" padding keeps the size; stride, dilation and groups change it as the formula says */
static void test_conv_options(void) {
    nb_model *m = nb_model_new(NB_DIMS(4, 9, 10), 1);
    int64_t s[NB_MAX_RANK];
    CHECK_OK(nb_model_conv2d_with(m, 8, &(nb_conv2d_opts){.kernel = {4, 3}, .same = 1}));
    CHECK(nb_model_output_shape(m, s) == 3 && s[0] == 8 && s[1] == 9 && s[2] == 10);
    CHECK_OK(nb_model_conv2d_with(
        m, 8,
        &(nb_conv2d_opts){.kernel = {3}, .stride = {2, 3}, .pad = {1, 1, 0, 0}, .groups = 8}));
    CHECK(nb_model_output_shape(m, s) == 3 && s[1] == 5 && s[2] == 3); /* (9+2-3)/2+1, (10-3)/3+1 */
    nb_tensor *w = nb_params_find(nb_model_params(m), "conv2d_2.weight");
    CHECK(w && w->shape[0] == 8 && w->shape[1] == 1); /* depthwise */
    CHECK_OK(nb_model_global_avg_pool2d(m));
    CHECK(nb_model_output_shape(m, s) == 1 && s[0] == 8);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 2);
    nb_tensor *y = nb_model_forward(m, ctx, nb_rand(ctx, NB_DIMS(2, 4, 9, 10), -1, 1, &rng));
    CHECK(y && y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 8);
    nb_ctx_free(ctx);
    nb_model_free(m);
}

/* The layer against the op it wraps, through training and inference mode. */
static void test_batchnorm_layer(void) {
    nb_model *m = nb_model_new(NB_DIMS(3, 2, 2), 1);
    CHECK_OK(nb_model_batch_norm_with(m, &(nb_batch_norm_opts){.momentum = 0.25f}));
    CHECK(nb_model_param_count(m) == 6);
    nb_params *st = nb_model_state(m);
    nb_tensor *rm = nb_params_find(st, "batchnorm_1.running_mean");
    nb_tensor *rv = nb_params_find(st, "batchnorm_1.running_var");
    CHECK(rm && rv && !(rm->flags & NB_TF_REQUIRES_GRAD));
    if (!rm || !rv) return;
    CHECK(nb_f32(rm)[0] == 0.0f && nb_f32(rv)[2] == 1.0f);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_tensor *x = nb_rand(ctx, NB_DIMS(4, 3, 2, 2), 1.0f, 3.0f, &rng);
    nb_tensor *y = nb_model_forward(m, ctx, x);
    /* the op with fresh statistics gives the same output and the same update */
    nb_tensor *rm2 = nb_zeros(ctx, NB_DIMS(3)), *rv2 = nb_ones(ctx, NB_DIMS(3));
    nb_tensor *y2 = nb_batch_norm(ctx, x, NULL, NULL, rm2, rv2, 1, 0.25f, 1e-5f);
    CHECK(y && y2 && memcmp(y->data, y2->data, sizeof(float) * 48) == 0);
    CHECK(memcmp(rm->data, rm2->data, 12) == 0 && memcmp(rv->data, rv2->data, 12) == 0);
    CHECK(nb_f32(rm)[1] > 0.25f); /* 0.25 · mean of U(1, 3) */
    /* inference mode reads the statistics and leaves them */
    nb_model_set_training(m, 0);
    float keep = nb_f32(rm)[1];
    nb_tensor *ye = nb_model_forward(m, ctx, x);
    nb_tensor *ye2 = nb_batch_norm(ctx, x, NULL, NULL, rm2, rv2, 0, 0.25f, 1e-5f);
    CHECK(ye && ye2 && memcmp(ye->data, ye2->data, sizeof(float) * 48) == 0);
    CHECK(nb_f32(rm)[1] == keep);
    FILE *f = tmpfile();
    CHECK_OK(nb_model_summary(m, f));
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    text[fread(text, 1, (size_t)n, f)] = '\0';
    fclose(f);
    CHECK_MSG(strstr(text, "Non-trainable params: 6") && strstr(text, "Total params: 12"), "%s",
              text);
    free(text);
    nb_ctx_free(ctx);
    nb_model_free(m);
}

static void test_dropout_layer(void) {
    nb_model *m = nb_model_new(NB_DIMS(50), 1);
    CHECK_OK(nb_model_dropout(m, 0.5f));
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_ones(ctx, NB_DIMS(4, 50));
    CHECK(nb_model_forward(m, ctx, x) == NULL);
    CHECK(strstr(nb_last_error(), "dropout 'dropout_1'") != NULL);
    CHECK(strstr(nb_last_error(), "nb_model_forward_rng") != NULL);
    nb_ctx_reset(ctx);
    x = nb_ones(ctx, NB_DIMS(4, 50));
    nb_rng rng;
    nb_rng_seed(&rng, 9);
    nb_tensor *y = nb_model_forward_rng(m, ctx, x, &rng);
    CHECK_PTR(y);
    int zeros = 0;
    for (int64_t i = 0; y && i < y->numel; i++) zeros += nb_f32(y)[i] == 0.0f;
    CHECK(zeros > 60 && zeros < 140);
    nb_model_set_training(m, 0);
    CHECK(nb_model_forward(m, ctx, x) == x);
    nb_ctx_free(ctx);
    nb_model_free(m);
}

/* 8x8 images holding one bright bar, horizontal (class 0) or vertical (class 1), at a random
 * place, plus noise. A small CNN trained with Adam must get them right. */
static void make_bars(nb_rng *rng, int n, float *x, int32_t *y) {
    for (int i = 0; i < n; i++) {
        int cls = (int)nb_rng_below(rng, 2), at = (int)nb_rng_below(rng, 8);
        float *img = x + i * 64;
        for (int k = 0; k < 64; k++) img[k] = nb_rng_uniform_range(rng, 0.0f, 0.3f);
        for (int k = 0; k < 8; k++) img[cls ? k * 8 + at : at * 8 + k] += 1.0f;
        y[i] = cls;
    }
}

static void test_learns_bars(void) {
    nb_model *m = nb_model_new(NB_DIMS(1, 8, 8), 7);
    CHECK_OK(nb_model_conv2d_with(
        m, 4, &(nb_conv2d_opts){.kernel = {3}, .same = 1, .activation = NB_ACT_RELU}));
    CHECK_OK(nb_model_batch_norm(m));
    CHECK_OK(nb_model_max_pool2d(m, 2, 0));
    CHECK_OK(nb_model_dropout(m, 0.1f));
    CHECK_OK(nb_model_global_avg_pool2d(m));
    CHECK_OK(nb_model_dense(m, 2, NB_ACT_NONE));
    nb_adam_opts ao = {.lr = 0.05};
    nb_optim *opt = nb_adam_new(nb_model_params(m), &ao);
    CHECK_PTR(opt);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng, drop;
    nb_rng_seed(&rng, 1);
    nb_rng_seed(&drop, 2);
    enum { B = 32 };
    float xb[B * 64];
    int32_t yb[B];
    for (int step = 0; step < 150 && opt; step++) {
        make_bars(&rng, B, xb, yb);
        nb_ctx_reset(ctx);
        nb_tensor *x = nb_tensor_from(ctx, NB_F32, xb, 4, (int64_t[]){B, 1, 8, 8});
        nb_tensor *lab = nb_tensor_from(ctx, NB_I32, yb, 1, (int64_t[]){B});
        nb_tensor *loss =
            nb_cross_entropy(ctx, nb_model_forward_rng(m, ctx, x, &drop), lab, NB_REDUCE_MEAN);
        nb_optim_zero_grad(opt);
        nb_status s = nb_backward(ctx, loss);
        if (s != NB_OK) {
            CHECK_OK(s);
            break;
        }
        CHECK_OK(nb_optim_step(opt));
    }
    nb_model_set_training(m, 0);
    make_bars(&rng, B, xb, yb);
    nb_ctx_reset(ctx);
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, xb, 4, (int64_t[]){B, 1, 8, 8});
    nb_tensor *pred = nb_argmax(ctx, nb_model_forward(m, ctx, x), 1, 0);
    int right = 0;
    for (int i = 0; pred && i < B; i++) right += nb_i32(pred)[i] == yb[i];
    CHECK_MSG(right >= B - 1, "%d of %d test images right", right, B);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"fmnist_shapes_and_init", test_fmnist_shapes_and_init},
    {"fused_layers_match_ops", test_fused_layers_match_ops},
    {"layer_errors", test_layer_errors},
    {"conv_options", test_conv_options},
    {"batchnorm_layer", test_batchnorm_layer},
    {"dropout_layer", test_dropout_layer},
    {"learns_bars", test_learns_bars},
};
NBT_MAIN(cases)
