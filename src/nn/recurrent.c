/* nn/recurrent.c — the recurrent layers rnn, lstm and gru: PyTorch's nn.RNN, nn.LSTM and
 * nn.GRU with batch_first=True, parameter for parameter.
 *
 * A layer of L stacked layers in D directions (D = 2 when bidirectional) runs, for layer l
 * and direction d, one recurrence op of ops.h (nb_rnn, nb_lstm, nb_gru: the input projection
 * of every step as one GEMM, then per step one GEMM and one fused gate kernel):
 *
 *     h_t = f(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)            (rnn; f = tanh or relu)
 *     LSTM: gates i, f, g, o;  c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
 *     GRU:  gates r, z, n;     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
 *           h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
 *
 * Layer l > 0 takes the D outputs of layer l − 1 joined on the feature axis ([y_fwd, y_bwd],
 * as PyTorch), with dropout between layers in training. The backward direction runs each
 * sequence from its own last step (the op's `reverse` with lengths).
 *
 * Nodes: in x [T, I] (T may be known only at run time), then optional h0 [L·D, H], c0
 * [L·D, H] (LSTM only) and lengths — an i32 scalar per sample (its length), or a mask [T]
 * (i32 or f32: nonzero at tokens, zero at padding, tokens first) from which the lengths are
 * counted. Out: y [T, D·H] (0 past each sample's length, as pad_packed_sequence), h_n
 * [L·D, H] (each sample's state after its own last step) and, for LSTM, c_n. Note the batch
 * comes first in nabla's h0 and h_n ([B, L·D, H]); PyTorch's are [L·D, B, H].
 *
 * Parameters, in PyTorch's order and names and layouts (nothing is transposed):
 * weight_ih_l{l}[_reverse] [G·H, I_l], weight_hh_l{l}[_reverse] [G·H, H], bias_ih_l{l}...,
 * bias_hh_l{l}... (G = 1, 4, 3), all drawn from U(−1/√H, 1/√H) as PyTorch does.
 *
 * Incremental decoding keeps h (and c) of every layer between steps; a bidirectional layer
 * cannot decode (its backward direction needs the whole sequence). */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { REC_RNN, REC_LSTM, REC_GRU };

#define REC_MAX_LAYERS 256

typedef struct rec_layer {
    nbi_layer base;
    int kind;
    int64_t hidden;
    int layers, dirs;
    float dropout;
    int bias;
    int relu;
    nb_tensor **w; /* 4 per (layer, direction): w_ih, w_hh, b_ih, b_hh (points into p[]) */
    nb_tensor *p[];
} rec_layer;

static int64_t gates(const rec_layer *r) {
    return r->kind == REC_LSTM ? 4 : r->kind == REC_GRU ? 3 : 1;
}
static int len_slot(const rec_layer *r) {
    return r->kind == REC_LSTM ? 3 : 2;
}

static nb_status rec_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    const rec_layer *r = (const rec_layer *)l;
    const char *st = l->vt->stem;
    char b[128];
    nbi_shape_str(&in[0], b, sizeof b);
    if (in[0].dtype != NB_F32 || in[0].rank != 2 || in[0].dim[1] < 1)
        return nbi_error(in[0].dtype != NB_F32 ? NB_ERR_ARG : NB_ERR_SHAPE,
                         "%s '%s': its input %s is not a sequence of f32 vectors [T, features] "
                         "with the features known (token ids go through an embedding first)",
                         st, l->name, b);
    const int64_t T = in[0].dim[0], I = in[0].dim[1], H = r->hidden, LD = r->layers * r->dirs;
    if (r->w[0] && r->w[0]->shape[1] != I)
        return nbi_error(NB_ERR_SHAPE,
                         "%s '%s' was built for %lld input features; it is called "
                         "again on %s",
                         st, l->name, (long long)r->w[0]->shape[1], b);
    for (int i = 1; i < n_in; i++) {
        if (in[i].rank < 0) continue; /* not given */
        char s[128];
        nbi_shape_str(&in[i], s, sizeof s);
        if (i == len_slot(r)) {
            bool lens = in[i].dtype == NB_I32 && in[i].rank == 0;
            bool mask = in[i].rank == 1 && (in[i].dim[0] == T || in[i].dim[0] < 0 || T < 0);
            if (!lens && !mask)
                return nbi_error(NB_ERR_SHAPE,
                                 "%s '%s': its lengths input %s is neither an i32 length per "
                                 "sample (a scalar) nor a mask of the input's %lld positions",
                                 st, l->name, s, (long long)T);
            continue;
        }
        if (in[i].dtype != NB_F32 || in[i].rank != 2 || in[i].dim[0] != LD || in[i].dim[1] != H)
            return nbi_error(NB_ERR_SHAPE,
                             "%s '%s': its initial state %s (input %d) must be f32 "
                             "[layers·directions, hidden] = (None, %lld, %lld)",
                             st, l->name, s, i, (long long)LD, (long long)H);
    }
    int64_t DH;
    if (!nbi_mul_i64(r->dirs, H, &DH))
        return nbi_error(NB_ERR_SHAPE, "%s '%s': the output size overflows", st, l->name);
    out[0] = (nbi_shape){.dtype = NB_F32, .rank = 2, .dim = {T, DH}};
    out[1] = (nbi_shape){.dtype = NB_F32, .rank = 2, .dim = {LD, H}};
    out[2] = out[1];
    *n_out = r->kind == REC_LSTM ? 3 : 2;
    return NB_OK;
}

static nb_status rec_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)n_in;
    rec_layer *r = (rec_layer *)l;
    const int64_t H = r->hidden;
    int64_t GH;
    if (!nbi_mul_i64(gates(r), H, &GH))
        return nbi_error(NB_ERR_SHAPE, "%s '%s': %lld hidden units overflow", l->vt->stem, l->name,
                         (long long)H);
    nb_status s = NB_OK;
    for (int k = 0; k < r->layers; k++) {
        const int64_t I = k == 0 ? in[0].dim[1] : r->dirs * H;
        for (int d = 0; d < r->dirs && s == NB_OK; d++) {
            nb_tensor **w = r->w + 4 * (k * r->dirs + d);
            const char *rev = d ? "_reverse" : "";
            char nm[48];
            snprintf(nm, sizeof nm, "weight_ih_l%d%s", k, rev);
            s = nbi_layer_param(b, nm, 2, (int64_t[]){GH, I}, &w[0]);
            snprintf(nm, sizeof nm, "weight_hh_l%d%s", k, rev);
            if (s == NB_OK) s = nbi_layer_param(b, nm, 2, (int64_t[]){GH, H}, &w[1]);
            snprintf(nm, sizeof nm, "bias_ih_l%d%s", k, rev);
            if (s == NB_OK && r->bias) s = nbi_layer_param(b, nm, 1, &GH, &w[2]);
            snprintf(nm, sizeof nm, "bias_hh_l%d%s", k, rev);
            if (s == NB_OK && r->bias) s = nbi_layer_param(b, nm, 1, &GH, &w[3]);
        }
    }
    return s;
}

/* PyTorch's reset_parameters: every tensor U(−1/√H, 1/√H), in declaration order. */
static nb_status rec_init(nbi_layer *l, nb_rng *rng) {
    rec_layer *r = (rec_layer *)l;
    const float k = 1.0f / sqrtf((float)r->hidden);
    nb_status s = NB_OK;
    for (int i = 0; i < 4 * r->layers * r->dirs && s == NB_OK; i++)
        if (r->w[i]) s = nb_init_uniform(r->w[i], -k, k, rng);
    return s;
}

/* The lengths [B] of a mask [B, T] (nonzero at tokens, tokens first), in the arena. */
static nb_tensor *mask_lengths(const rec_layer *r, nb_ctx *ctx, const nb_tensor *mask) {
    const int64_t B = mask->shape[0], T = mask->shape[1];
    nb_tensor *len = nb_tensor_new(ctx, NB_I32, 1, &B);
    if (!len) return NULL;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        bool gap = false;
        for (int64_t t = 0; t < T; t++) {
            const int64_t at = b * mask->stride[0] + t * mask->stride[1];
            const bool on = mask->dtype == NB_I32 ? ((const int32_t *)mask->data)[at] != 0
                                                  : ((const float *)mask->data)[at] != 0.0f;
            if (on && gap) {
                nbi_error(NB_ERR_ARG,
                          "%s '%s': the mask of sample %lld has a token at position %lld after "
                          "padding; a mask marks each sample's tokens first, then its padding",
                          r->base.vt->stem, r->base.name, (long long)b, (long long)t);
                return nbi_fail(ctx, NB_ERR_ARG);
            }
            n += on;
            gap = gap || !on;
        }
        nb_i32(len)[b] = (int32_t)n;
    }
    return len;
}

/* Part k of a state [B, L·D, H] as [B, H] (a copy of the strided slice: small). */
static nb_tensor *state_part(nb_ctx *ctx, nb_tensor *s, int k, int64_t B, int64_t H) {
    return nb_reshape(ctx, nb_slice(ctx, s, 1, k, k + 1, 1), 2, (int64_t[]){B, H});
}

static void rec_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    const rec_layer *r = (const rec_layer *)l;
    nb_ctx *ctx = f->ctx;
    const int LD = r->layers * r->dirs;
    const int64_t B = in[0]->shape[0], H = r->hidden;
    nb_tensor *h0 = n_in > 1 ? in[1] : NULL;
    nb_tensor *c0 = r->kind == REC_LSTM && n_in > 2 ? in[2] : NULL;
    nb_tensor *lens = n_in > len_slot(r) ? in[len_slot(r)] : NULL;
    out[0] = out[1] = out[2] = NULL;
    if (f->training && r->dropout > 0.0f && r->layers > 1 && !f->rng) {
        nbi_error(NB_ERR_ARG,
                  "%s '%s': dropout between layers in training draws masks and needs a "
                  "generator: call nb_model_forward_rng, or nb_model_set_training(m, 0)",
                  l->vt->stem, l->name);
        nbi_fail(ctx, NB_ERR_ARG);
        return;
    }
    if (f->decoding && lens) {
        nbi_error(NB_ERR_ARG, "%s '%s': lengths are not taken when decoding one step at a time",
                  l->vt->stem, l->name);
        nbi_fail(ctx, NB_ERR_ARG);
        return;
    }
    if (lens && lens->rank == 2) lens = mask_lengths(r, ctx, lens);
    if (n_in > len_slot(r) && in[len_slot(r)] && !lens) return;
    /* decoding after the first step: the state carried in the call's buffer, [L·D, B, H] */
    const bool carried = f->decoding && f->state && f->pos > 0;
    nb_rnn_opts o = {.lengths = lens, .relu = r->relu};
    nb_tensor *x = in[0], *hs[2 * REC_MAX_LAYERS], *cs[2 * REC_MAX_LAYERS];
    for (int k = 0; k < r->layers; k++) {
        nb_tensor *ys[2];
        for (int d = 0; d < r->dirs; d++) {
            const int i = k * r->dirs + d;
            nb_tensor *const *w = r->w + 4 * i;
            nb_tensor *hi = NULL, *ci = NULL;
            if (carried) {
                hi = nb_tensor_from(ctx, NB_F32, f->state + i * B * H, 2, (int64_t[]){B, H});
                if (r->kind == REC_LSTM)
                    ci = nb_tensor_from(ctx, NB_F32, f->state + (LD + i) * B * H, 2,
                                        (int64_t[]){B, H});
            } else {
                if (h0) hi = state_part(ctx, h0, i, B, H);
                if (c0) ci = state_part(ctx, c0, i, B, H);
            }
            o.reverse = d;
            nb_rnn_out ro = r->kind == REC_LSTM
                                ? nb_lstm(ctx, x, hi, ci, w[0], w[1], w[2], w[3], &o)
                            : r->kind == REC_GRU ? nb_gru(ctx, x, hi, w[0], w[1], w[2], w[3], &o)
                                                 : nb_rnn(ctx, x, hi, w[0], w[1], w[2], w[3], &o);
            if (!ro.y) return;
            ys[d] = ro.y;
            hs[i] = ro.h;
            cs[i] = ro.c;
        }
        x = r->dirs == 2 ? nb_concat(ctx, ys, 2, 2) : ys[0];
        if (k + 1 < r->layers && r->dropout > 0.0f)
            x = nb_dropout(ctx, x, r->dropout, f->training, f->rng);
    }
    if (f->decoding && f->state) { /* keep the states for the next step */
        for (int i = 0; i < LD; i++) {
            memcpy(f->state + i * B * H, hs[i]->data, sizeof(float) * (size_t)(B * H));
            if (r->kind == REC_LSTM)
                memcpy(f->state + (LD + i) * B * H, cs[i]->data, sizeof(float) * (size_t)(B * H));
        }
    }
    /* h_n, c_n [B, L·D, H]: the final states side by side */
    nb_tensor *parts[2 * REC_MAX_LAYERS];
    for (int c = 0; c < (r->kind == REC_LSTM ? 2 : 1); c++) {
        nb_tensor **src = c ? cs : hs;
        for (int i = 0; i < LD; i++) parts[i] = nb_reshape(ctx, src[i], 3, (int64_t[]){B, 1, H});
        out[1 + c] = LD == 1 ? parts[0] : nb_concat(ctx, parts, LD, 1);
    }
    out[0] = x;
}

static int64_t rec_decode_floats(const nbi_layer *l, const nbi_shape *in, int n_in, int64_t B,
                                 int64_t max_len) {
    (void)in;
    (void)n_in;
    (void)max_len;
    const rec_layer *r = (const rec_layer *)l;
    if (r->dirs == 2) {
        nbi_error(NB_ERR_ARG,
                  "%s '%s' is bidirectional: its backward direction needs the whole sequence, "
                  "so it cannot decode one position at a time",
                  l->vt->stem, l->name);
        return -1;
    }
    int64_t n;
    if (!nbi_mul_i64(B, r->hidden, &n) || !nbi_mul_i64(n, r->layers, &n) ||
        !nbi_mul_i64(n, r->kind == REC_LSTM ? 2 : 1, &n)) {
        nbi_error(NB_ERR_NOMEM, "%s '%s': the decoding state's size overflows", l->vt->stem,
                  l->name);
        return -1;
    }
    return n;
}

static void rec_describe(const nbi_layer *l, char *buf, size_t n) {
    const rec_layer *r = (const rec_layer *)l;
    snprintf(buf, n, "%lld units, %d layer%s%s%s%s", (long long)r->hidden, r->layers,
             r->layers == 1 ? "" : "s", r->dirs == 2 ? ", bidirectional" : "",
             r->relu ? ", relu" : "", r->bias ? "" : ", no bias");
}

/* rnn|lstm|gru HIDDEN [relu] [layers=L] [bidirectional=true] [dropout=P] [bias=false] */
static void rec_spec(const nbi_layer *l, nbi_text *out) {
    const rec_layer *r = (const rec_layer *)l;
    nbi_text_printf(out, "%s %lld", l->vt->stem, (long long)r->hidden);
    if (r->relu) nbi_text_puts(out, " relu");
    if (r->layers != 1) nbi_text_printf(out, " layers=%d", r->layers);
    if (r->dirs == 2) nbi_text_puts(out, " bidirectional=true");
    if (r->dropout != 0.0f) {
        nbi_text_puts(out, " dropout=");
        nbi_text_float(out, r->dropout);
    }
    if (!r->bias) nbi_text_puts(out, " bias=false");
}

static void rec_view(const nbi_layer *l, nbi_layer_view *v) {
    const rec_layer *r = (const rec_layer *)l;
    v->kind = r->kind == REC_LSTM  ? NBI_VIEW_LSTM
              : r->kind == REC_GRU ? NBI_VIEW_GRU
                                   : NBI_VIEW_RNN;
    v->act = r->relu ? NB_ACT_RELU : NB_ACT_TANH;
    v->hidden = r->hidden;
    v->layers = r->layers;
    v->dirs = r->dirs;
    v->rec = r->w;
}

#define REC_VT(NAME, KIND, STEM, MAX_IN)                                                           \
    static const nbi_layer_vt NAME = {                                                             \
        .kind = KIND,                                                                              \
        .stem = STEM,                                                                              \
        .min_in = 1,                                                                               \
        .max_in = MAX_IN,                                                                          \
        .flags = NBI_LAYER_GRAPH, /* several outputs */                                            \
        .infer = rec_infer,                                                                        \
        .build = rec_build,                                                                        \
        .init = rec_init,                                                                          \
        .forward = rec_forward,                                                                    \
        .describe = rec_describe,                                                                  \
        .spec = rec_spec,                                                                          \
        .decode_floats = rec_decode_floats,                                                        \
        .view = rec_view,                                                                          \
    };
REC_VT(rnn_vt, "RNN", "rnn", 3)
REC_VT(lstm_vt, "LSTM", "lstm", 4)
REC_VT(gru_vt, "GRU", "gru", 3)

static int push(nb_model *m, int x, int kind, int64_t hidden, const nb_rnn_layer_opts *opts,
                const char *fn) {
    nb_rnn_layer_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (o.h0 < 0) return o.h0;
    if (o.c0 < 0) return o.c0;
    if (o.lengths < 0) return o.lengths;
    if (o.layers == 0) o.layers = 1;
    if (hidden < 1 || o.layers < 1 || o.layers > REC_MAX_LAYERS)
        return -(int)nbi_error(NB_ERR_ARG,
                               "%s: need at least 1 hidden unit and 1..%d layers, got %lld and %d",
                               fn, REC_MAX_LAYERS, (long long)hidden, o.layers);
    if (!(o.dropout >= 0.0f && o.dropout < 1.0f))
        return -(int)nbi_error(NB_ERR_ARG, "%s: dropout must be in [0, 1), got %g", fn,
                               (double)o.dropout);
    if (o.activation != NB_ACT_NONE && o.activation != NB_ACT_TANH &&
        !(kind == REC_RNN && o.activation == NB_ACT_RELU))
        return -(int)nbi_error(
            NB_ERR_ARG, "%s: the activation is %s; %s", fn,
            nb_activation_name(o.activation) ? nb_activation_name(o.activation) : "unknown",
            kind == REC_RNN ? "an rnn takes tanh or relu" : "the gates fix theirs (leave it 0)");
    if (o.c0 && kind != REC_LSTM)
        return -(int)nbi_error(NB_ERR_ARG, "%s: only an lstm takes c0", fn);
    const int dirs = o.bidirectional ? 2 : 1, n = 4 * o.layers * dirs;
    rec_layer *r = nbi_malloc_for(fn, sizeof *r + sizeof r->p[0] * (size_t)n);
    if (!r) return -(int)NB_ERR_NOMEM;
    memset(r, 0, sizeof *r + sizeof r->p[0] * (size_t)n);
    r->base.vt = kind == REC_LSTM ? &lstm_vt : kind == REC_GRU ? &gru_vt : &rnn_vt;
    r->kind = kind;
    r->hidden = hidden;
    r->layers = o.layers;
    r->dirs = dirs;
    r->dropout = o.dropout;
    r->bias = !o.no_bias;
    r->relu = o.activation == NB_ACT_RELU;
    r->w = r->p;
    int in[4] = {x, o.h0, 0, 0}, n_in = 2;
    if (kind == REC_LSTM) in[n_in++] = o.c0;
    in[n_in++] = o.lengths;
    while (n_in > 1 && in[n_in - 1] == 0) n_in--; /* trailing inputs left out */
    return nbi_model_push(m, &r->base, in, n_in, o.name, fn);
}

int nb_model_rnn_on(nb_model *m, int x, int64_t hidden, const nb_rnn_layer_opts *opts) {
    return push(m, x, REC_RNN, hidden, opts, "nb_model_rnn");
}
int nb_model_lstm_on(nb_model *m, int x, int64_t hidden, const nb_rnn_layer_opts *opts) {
    return push(m, x, REC_LSTM, hidden, opts, "nb_model_lstm");
}
int nb_model_gru_on(nb_model *m, int x, int64_t hidden, const nb_rnn_layer_opts *opts) {
    return push(m, x, REC_GRU, hidden, opts, "nb_model_gru");
}
