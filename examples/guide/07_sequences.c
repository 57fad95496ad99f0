/* Guide, chapter 7: sequences and backpropagation through time
 * (docs/guide/07-sequences.md).
 *
 * Part 1. A recurrent layer h_t = tanh(x_t W_xᵀ + h_{t−1} W_hᵀ + b) over T = 6 steps, with
 * L = Σ_t w_t · h_t. Its gradient is computed twice: by the δ recursion through time written
 * out step by step, and by nb_backward through the nb_rnn op (which does the same thing in
 * GEMMs and a fused kernel). They agree (the program exits 1 if they do not).
 *
 * Part 2. Vanishing gradients: the size of ∂L/∂x_0 — how much the first input still matters
 * to a loss at the last step — for a tanh RNN and an LSTM of the same width, as the sequence
 * grows. The RNN's shrinks geometrically; the LSTM's, carried by its cell, far less. */
#include <math.h>
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>

#define T 6
#define I 3
#define H 4

static void fail(void) {
    fprintf(stderr, "error: %s\n", nb_last_error());
    exit(1);
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* ---- part 1: BPTT by hand against the tape ------------------------------------------------- */

static int bptt(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_tensor *x = nb_randn(ctx, NB_DIMS(1, T, I), 0, 1, &rng);     /* one sequence */
    nb_tensor *Wx = nb_randn(ctx, NB_DIMS(H, I), 0, 0.5f, &rng);    /* W_ih */
    nb_tensor *Wh = nb_randn(ctx, NB_DIMS(H, H), 0, 0.5f, &rng);    /* W_hh */
    nb_tensor *b = nb_randn(ctx, NB_DIMS(H), 0, 0.1f, &rng);        /* b_ih (b_hh = 0) */
    nb_tensor *w = nb_randn(ctx, NB_DIMS(1, T, H), 0, 1, &rng);     /* L = Σ w ⊙ h */
    if (!w) fail();
    nb_tensor_set_requires_grad(Wh, 1);
    nb_tensor_set_requires_grad(Wx, 1);

    /* the tape: the recurrence as one op, L, backward */
    nb_rnn_out o = nb_rnn(ctx, x, NULL, Wx, Wh, b, NULL, NULL);
    nb_tensor *L = nb_sum(ctx, nb_mul(ctx, o.y, w), NB_ALL_AXES, 0);
    if (!L || nb_backward(ctx, L) != NB_OK) fail();
    printf("L = %.6f\n", nb_item(L));

    /* by hand. Forward: keep every h_t (h_{-1} = 0). */
    const float *X = nb_f32(x), *A = nb_f32(Wx), *R = nb_f32(Wh), *B = nb_f32(b), *Wt = nb_f32(w);
    float h[T + 1][H] = {{0}}; /* h[t + 1] is h_t */
    for (int t = 0; t < T; t++)
        for (int j = 0; j < H; j++) {
            float z = B[j];
            for (int i = 0; i < I; i++) z += A[j * I + i] * X[t * I + i];
            for (int k = 0; k < H; k++) z += R[j * H + k] * h[t][k];
            h[t + 1][j] = tanhf(z);
        }
    /* Backward through time, from the last step to the first:
     *   δh_t = w_t + W_hᵀ δz_{t+1}          (what reaches h_t: its own loss and the next step)
     *   δz_t = δh_t ⊙ (1 − h_t²)            (through tanh)
     *   ∂L/∂W_h += δz_t h_{t−1}ᵀ,  ∂L/∂W_x += δz_t x_tᵀ */
    float gWh[H * H] = {0}, gWx[H * I] = {0}, dz_next[H] = {0};
    for (int t = T - 1; t >= 0; t--) {
        float dz[H];
        for (int j = 0; j < H; j++) {
            float dh = Wt[t * H + j];
            for (int k = 0; k < H; k++) dh += R[k * H + j] * dz_next[k]; /* W_hᵀ δz_{t+1} */
            dz[j] = dh * (1.0f - h[t + 1][j] * h[t + 1][j]);
        }
        for (int j = 0; j < H; j++) {
            for (int k = 0; k < H; k++) gWh[j * H + k] += dz[j] * h[t][k];
            for (int i = 0; i < I; i++) gWx[j * I + i] += dz[j] * X[t * I + i];
            dz_next[j] = dz[j];
        }
    }
    printf("dL/dW_h by the tape:\n");
    nb_tensor_print(Wh->grad, stdout);
    const float eh = max_abs_diff(nb_f32(Wh->grad), gWh, H * H);
    const float ex = max_abs_diff(nb_f32(Wx->grad), gWx, H * I);
    printf("max |tape - by hand|: W_h %.2g, W_x %.2g\n", (double)eh, (double)ex);
    nb_ctx_free(ctx);
    return eh < 1e-5f && ex < 1e-5f;
}

/* ---- part 2: how far back a gradient reaches ------------------------------------------------ */

/* |∂L/∂x_0| for L = Σ h_{T−1} (the last step's state), an RNN or an LSTM of width 16 whose
 * weights are drawn as PyTorch draws them, U(±1/√H). */
static double reach(int lstm, int steps) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    const int64_t h = 16, g = lstm ? 4 : 1;
    const float k = 1.0f / sqrtf((float)h);
    nb_tensor *x = nb_randn(ctx, NB_DIMS(1, steps, 8), 0, 1, &rng);
    nb_tensor *Wi = nb_rand(ctx, NB_DIMS(g * h, 8), -k, k, &rng);
    nb_tensor *Wh = nb_rand(ctx, NB_DIMS(g * h, h), -k, k, &rng);
    nb_tensor *b = nb_rand(ctx, NB_DIMS(g * h), -k, k, &rng);
    if (!b) fail();
    if (lstm) /* the forget gate's bias at 1 (Jozefowicz et al., 2015): remember by default */
        for (int64_t j = h; j < 2 * h; j++) nb_f32(b)[j] = 1.0f;
    nb_tensor_set_requires_grad(x, 1);
    nb_rnn_out o = lstm ? nb_lstm(ctx, x, NULL, NULL, Wi, Wh, b, NULL, NULL)
                        : nb_rnn(ctx, x, NULL, Wi, Wh, b, NULL, NULL);
    if (!o.h || nb_backward(ctx, nb_sum(ctx, o.h, NB_ALL_AXES, 0)) != NB_OK) fail();
    double n2 = 0;
    for (int i = 0; i < 8; i++) n2 += (double)nb_f32(x->grad)[i] * nb_f32(x->grad)[i];
    nb_ctx_free(ctx);
    return sqrt(n2);
}

int main(void) {
    if (!bptt()) return 1; /* the two ways disagree */
    printf("\n|dL/dx_0| for L = sum(h_T-1):\n   T      RNN (tanh)   LSTM\n");
    for (int steps = 5; steps <= 80; steps *= 2)
        printf("%4d   %12.3g %10.3g\n", steps, reach(0, steps), reach(1, steps));
    return 0;
}
