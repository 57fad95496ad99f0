/* test_xor — the network of examples/xor.c (2-4-1 sigmoids, seed 42, E = ½ Σ (out − y)²,
 * SGD lr 0.1, full batch, 10 000 epochs) learns XOR: every output within 0.1 of 0, 1, 1, 0.
 * And it is the classic numpy algorithm step for step: the same training written out by hand
 * (forward, deltas, updates of every weight and bias, in plain C loops) from the same initial
 * weights ends at the same outputs. */
#include "nbtest.h"

static const float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
static const float Y[4] = {0, 1, 1, 0};

#define EPOCHS 10000
#define LR 0.1f

static nb_model *xor_net(uint64_t seed) {
    nb_model *net = nb_model_new(NB_DIMS(2), seed);
    if (!net || nb_model_dense(net, 4, NB_ACT_SIGMOID) ||
        nb_model_dense(net, 1, NB_ACT_SIGMOID)) {
        nb_model_free(net);
        return NULL;
    }
    return net;
}

/* Trains net as examples/xor.c does; the outputs of the last epoch go to out. */
static nb_status train(nb_model *net, float out[4]) {
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = LR});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, (void *)X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, (void *)Y, NB_DIMS(4, 1));
    nb_status s = (sgd && ctx && x && y) ? NB_OK : NB_ERR_NOMEM;
    for (int epoch = 0; s == NB_OK && epoch < EPOCHS; epoch++) {
        nb_ctx_reset(ctx);
        nb_tensor *o = nb_model_forward(net, ctx, x);
        nb_tensor *loss = nb_mul_scalar(ctx, nb_mse_loss(ctx, o, y, NB_REDUCE_SUM), 0.5f);
        nb_optim_zero_grad(sgd);
        s = nb_backward(ctx, loss);
        if (s == NB_OK) s = nb_optim_step(sgd);
        if (s == NB_OK && epoch == EPOCHS - 1) memcpy(out, o->data, 4 * sizeof(float));
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(sgd);
    return s;
}

static float sigm(float z) { return 1.0f / (1.0f + expf(-z)); }

/* The classic algorithm by hand, from the weights the model starts with. */
static void train_by_hand(const float *params0, float out[4]) {
    float W1[2][4], b1[4], W2[4], b2;
    memcpy(W1, params0, sizeof W1); /* the store's layout: W1 [2,4], b1 [4], W2 [4,1], b2 [1] */
    memcpy(b1, params0 + 8, sizeof b1);
    memcpy(W2, params0 + 12, sizeof W2);
    b2 = params0[16];
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        float h[4][4], o[4], d_o[4], d_h[4][4];
        for (int n = 0; n < 4; n++) {
            float z2 = 0.0f;
            for (int j = 0; j < 4; j++) {
                h[n][j] = sigm(X[n][0] * W1[0][j] + X[n][1] * W1[1][j] + b1[j]);
                z2 += h[n][j] * W2[j];
            }
            o[n] = sigm(z2 + b2);
            d_o[n] = (o[n] - Y[n]) * o[n] * (1.0f - o[n]);               /* δ₂ = (out − y) σ' */
            for (int j = 0; j < 4; j++)
                d_h[n][j] = d_o[n] * W2[j] * h[n][j] * (1.0f - h[n][j]); /* δ₁ = (δ₂ W₂ᵀ) σ' */
            if (epoch == EPOCHS - 1) out[n] = o[n];
        }
        for (int j = 0; j < 4; j++) {
            float gw2 = 0.0f, gb1 = 0.0f, gw10 = 0.0f, gw11 = 0.0f;
            for (int n = 0; n < 4; n++) {
                gw2 += h[n][j] * d_o[n];
                gb1 += d_h[n][j];
                gw10 += X[n][0] * d_h[n][j];
                gw11 += X[n][1] * d_h[n][j];
            }
            W2[j] -= LR * gw2;
            b1[j] -= LR * gb1;
            W1[0][j] -= LR * gw10;
            W1[1][j] -= LR * gw11;
        }
        b2 -= LR * (d_o[0] + d_o[1] + d_o[2] + d_o[3]);
    }
}

static void test_xor_learns(void) {
    nb_model *net = xor_net(42);
    CHECK_PTR(net);
    if (!net) return;
    CHECK(nb_model_param_count(net) == 17);
    float p0[17], out[4] = {-1, -1, -1, -1}, hand[4];
    memcpy(p0, nb_params_data(nb_model_params(net)), sizeof p0);
    CHECK_OK(train(net, out));
    printf("     outputs %.4f %.4f %.4f %.4f\n", out[0], out[1], out[2], out[3]);
    for (int n = 0; n < 4; n++)
        CHECK_MSG(fabsf(out[n] - Y[n]) < 0.1f, "output %d is %.4f, target %.0f", n, out[n],
                  Y[n]);
    train_by_hand(p0, hand);
    for (int n = 0; n < 4; n++) CHECK_CLOSE(out[n], hand[n], 1e-4, 0.0);
    nb_model_free(net);
}

static const nbt_case cases[] = {
    {"xor_learns", test_xor_learns},
};
NBT_MAIN(cases)
