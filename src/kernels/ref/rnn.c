/* kernels/ref/rnn.c — scalar reference of one time step of the recurrent cells' gates, forward
 * and backward (the oracle of kernels/x86/seq.inc). The products x W_ihᵀ and h W_hhᵀ come
 * from GEMM (kernels/rnn_cpu.c); a step here adds them up and applies the cell, with
 * PyTorch's gate order and equations (a_* = x W_*ᵀ + b_i*, h_* = h W_h*ᵀ + b_h*):
 *
 *   rnn   h' = act(a + h_)                                act = tanh or relu
 *   lstm  i = σ(a_i + h_i)  f = σ(a_f + h_f)  g = tanh(a_g + h_g)  o = σ(a_o + h_o)
 *         c' = f c + i g,   h' = o tanh(c')
 *   gru   r = σ(a_r + h_r)  z = σ(a_z + h_z)  n = tanh(a_n + r (W_hn h + b_hn))
 *         h' = n + z (h − n)                              (= (1 − z) n + z h, as PyTorch)
 *
 * Backward from d = ∂L/∂h' + ∂L/∂y (and dc = ∂L/∂c'), pre-activation gradients:
 *   rnn   da = d act'(h')                                 (tanh: 1 − h'², relu: [h' > 0])
 *   lstm  dc̃ = dc + d o (1 − tanh²c'),  di = dc̃ g i(1−i),  df = dc̃ c f(1−f),
 *         dg = dc̃ i (1 − g²),  do = d tanh(c') o(1−o);  ∂L/∂c = dc̃ f
 *   gru   dn = d (1 − z) (1 − n²),  dz = d (h − n) z(1−z),  dr = dn (W_hn h + b_hn) r(1−r);
 *         hidden side of n: r dn;  ∂L/∂h gets d z directly (plus the W_hh paths by GEMM)
 * A row whose sequence has ended (len[b] <= t) carries its state: h' = h, c' = c, y = 0, and
 * backward passes d and dc straight through with zero gate gradients. */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static inline float sigm(float x) {
    return 1.0f / (1.0f + expf(-x));
}

static void step_ref(const nbi_rnn_step *s, int64_t r0, int64_t r1) {
    const int64_t H = s->H, GH = nbi_rnn_gates(s->kind) * H;
    for (int64_t b = r0; b < r1; b++) {
        const float *hp = s->hp + b * s->ldp, *hw = s->hw + b * GH;
        float *a = s->a + b * s->lda, *h = s->h + b * s->ldh, *y = s->y + b * s->ldy;
        if (s->len && s->len[b] <= s->t) { /* the sequence has ended: carry the state */
            memcpy(h, hp, (size_t)H * sizeof *h);
            if (s->kind == NBI_RNN_LSTM)
                memcpy(s->c + b * s->ldh, s->cp + b * s->ldp, (size_t)H * sizeof *h);
            memset(y, 0, (size_t)H * sizeof *y);
            continue;
        }
        switch (s->kind) {
        case NBI_RNN_TANH:
        case NBI_RNN_RELU:
            for (int64_t j = 0; j < H; j++) {
                float u = a[j] + hw[j];
                float v = s->kind == NBI_RNN_TANH ? tanhf(u) : (u > 0.0f ? u : 0.0f);
                a[j] = h[j] = y[j] = v;
            }
            break;
        case NBI_RNN_LSTM: {
            const float *cp = s->cp + b * s->ldp;
            float *c = s->c + b * s->ldh;
            for (int64_t j = 0; j < H; j++) {
                float i = sigm(a[j] + hw[j]), f = sigm(a[H + j] + hw[H + j]);
                float g = tanhf(a[2 * H + j] + hw[2 * H + j]);
                float o = sigm(a[3 * H + j] + hw[3 * H + j]);
                float cn = f * cp[j] + i * g;
                a[j] = i, a[H + j] = f, a[2 * H + j] = g, a[3 * H + j] = o;
                c[j] = cn;
                h[j] = y[j] = o * tanhf(cn);
            }
            break;
        }
        default: { /* GRU */
            float *hn = s->hnw + b * s->ldp;
            for (int64_t j = 0; j < H; j++) {
                float r = sigm(a[j] + hw[j]), z = sigm(a[H + j] + hw[H + j]);
                float hh = hw[2 * H + j] + (s->bhn ? s->bhn[j] : 0.0f);
                float n = tanhf(a[2 * H + j] + r * hh);
                a[j] = r, a[H + j] = z, a[2 * H + j] = n;
                hn[j] = hh;
                h[j] = y[j] = n + z * (hp[j] - n);
            }
            break;
        }
        }
    }
}

static void step_bwd_ref(const nbi_rnn_step_bwd *s, int64_t r0, int64_t r1) {
    const int64_t H = s->H, G = nbi_rnn_gates(s->kind), GH = G * H;
    for (int64_t b = r0; b < r1; b++) {
        const float *dh = s->dh + b * H, *gy = s->gy ? s->gy + b * s->ldy : NULL;
        float *a = s->a + b * s->lda, *dhp = s->dhp + b * H;
        if (s->len && s->len[b] <= s->t) { /* carried state: gradients pass straight through */
            memcpy(dhp, dh, (size_t)H * sizeof *dhp);
            if (s->kind == NBI_RNN_LSTM)
                memcpy(s->dcp + b * H, s->dc + b * H, (size_t)H * sizeof *dhp);
            memset(a, 0, (size_t)GH * sizeof *a);
            if (s->dph) memset(s->dph + b * s->lda, 0, (size_t)GH * sizeof *a);
            continue;
        }
        switch (s->kind) {
        case NBI_RNN_TANH:
        case NBI_RNN_RELU:
            for (int64_t j = 0; j < H; j++) {
                float d = dh[j] + (gy ? gy[j] : 0.0f), v = a[j];
                a[j] = s->kind == NBI_RNN_TANH ? d * (1.0f - v * v) : (v > 0.0f ? d : 0.0f);
                dhp[j] = 0.0f;
            }
            break;
        case NBI_RNN_LSTM: {
            const float *cp = s->cp + b * s->ldp, *dc = s->dc + b * H;
            float *dcp = s->dcp + b * H;
            for (int64_t j = 0; j < H; j++) {
                float d = dh[j] + (gy ? gy[j] : 0.0f);
                float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                float tc = tanhf(f * cp[j] + i * g); /* c' exactly as forward computed it */
                float dct = dc[j] + d * o * (1.0f - tc * tc);
                a[j] = dct * g * (i * (1.0f - i));
                a[H + j] = dct * cp[j] * (f * (1.0f - f));
                a[2 * H + j] = dct * i * (1.0f - g * g);
                a[3 * H + j] = d * tc * (o * (1.0f - o));
                dcp[j] = dct * f;
                dhp[j] = 0.0f;
            }
            break;
        }
        default: { /* GRU */
            const float *hp = s->hp + b * s->ldp, *hn = s->hnw + b * s->ldp;
            float *dph = s->dph + b * s->lda;
            for (int64_t j = 0; j < H; j++) {
                float d = dh[j] + (gy ? gy[j] : 0.0f);
                float r = a[j], z = a[H + j], n = a[2 * H + j];
                float dn = d * (1.0f - z) * (1.0f - n * n);
                float dz = d * (hp[j] - n) * (z * (1.0f - z));
                float dr = dn * hn[j] * (r * (1.0f - r));
                a[j] = dph[j] = dr;
                a[H + j] = dph[H + j] = dz;
                a[2 * H + j] = dn;
                dph[2 * H + j] = dn * r;
                dhp[j] = d * z;
            }
            break;
        }
        }
    }
}

void nbi_rnn_fill_ref(struct nbi_kernels *k) {
    k->rnn_step = step_ref;
    k->rnn_step_bwd = step_bwd_ref;
}
