/* ops/rnn.c — the recurrent cells as sequence ops: one layer in one direction over a
 * batch-first sequence, with PyTorch's layouts, gate order and equations (nn.RNN with tanh or
 * relu, nn.LSTM with gates i, f, g, o, nn.GRU with gates r, z, n and the reset gate applied to
 * W_hn h + b_hn; the formulas are in kernels/ref/rnn.c):
 *
 *   x [B, T, I], h0 [B, H] (and c0 for LSTM), W_ih [G·H, I], W_hh [G·H, H], b_ih, b_hh [G·H]
 *   (G = 1, 4, 3)  →  y [B, T, H], h_n [B, H] (and c_n)
 *
 * Optional lengths (i32 [B], values in [0, T]) give a variable-length batch, as
 * pack_padded_sequence does: at steps t >= length[b] sample b keeps its state and outputs 0,
 * so h_n is its state after its own last step. `reverse` processes t = T − 1 down to 0 (a
 * bidirectional layer's backward direction; with lengths each sample starts at its own last
 * step, as PyTorch's packed sequences do).
 *
 * The back end computes the input projection of all steps as one GEMM, each step as one GEMM
 * [B, H] × [H, G·H] plus one fused gate kernel, and backpropagation through time in the same
 * style with the weight gradients as GEMMs over all steps at the end (kernels/rnn_cpu.c).
 *
 * Several outputs: the registry has one output per op, so the op returns one packed 1-D tensor
 * [y (B·T·H) | h_n (B·H) | c_n (B·H, LSTM)] and the public functions hand out contiguous views
 * of it (a slice and a reshape each, whose backward adds into the packed gradient). That keeps
 * the tape, the gradient checker and every back end unchanged, costs no copy, and gradients
 * reaching any subset of y, h_n, c_n are handled (the rest of the packed gradient stays 0).
 *
 * Inputs: x, [h0], [c0], W_ih, W_hh, [b_ih], [b_hh], [lengths] as attrs.i flags say.
 * attrs.i: 0 relu (rnn only), 1 reverse, 2 has h0, 3 has c0, 4 has b_ih, 5 has b_hh,
 * 6 has lengths. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { A_RELU, A_REV, A_H0, A_C0, A_BIH, A_BHH, A_LEN };
/* the inputs, in order; those with a flag are optional */
enum { S_X, S_H0, S_C0, S_WIH, S_WHH, S_BIH, S_BHH, S_LEN, S_COUNT };

typedef struct rnn_in {
    nb_tensor *t[S_COUNT]; /* NULL when absent */
    int slot[S_COUNT];     /* index in the node's inputs, -1 when absent */
} rnn_in;

static int kind_of(const nbi_node *n) {
    if (n->op == NBI_OP_LSTM) return NBI_RNN_LSTM;
    if (n->op == NBI_OP_GRU) return NBI_RNN_GRU;
    return n->attrs->i[A_RELU] ? NBI_RNN_RELU : NBI_RNN_TANH;
}

static rnn_in inputs_of(const nbi_node *n) {
    static const int flag[S_COUNT] = {-1, A_H0, A_C0, -1, -1, A_BIH, A_BHH, A_LEN};
    rnn_in r;
    int k = 0;
    for (int w = 0; w < S_COUNT; w++) {
        r.slot[w] = flag[w] < 0 || n->attrs->i[flag[w]] ? k++ : -1;
        r.t[w] = r.slot[w] >= 0 ? n->in[r.slot[w]] : NULL;
    }
    NBI_ASSERT(k == n->n_in);
    return r;
}

static nb_status rnn_infer(const nbi_node *n, nb_tensor *out) {
    const int kind = kind_of(n);
    const rnn_in r = inputs_of(n);
    const nb_tensor *x = r.t[S_X], *W_ih = r.t[S_WIH], *W_hh = r.t[S_WHH], *len = r.t[S_LEN];
    char what[200];
    if (r.t[S_C0] && kind != NBI_RNN_LSTM) return nbi_shape_error(n, "only lstm takes c0");
    for (int i = 0; i < n->n_in; i++)
        if (i != r.slot[S_LEN] && n->in[i]->dtype != NB_F32)
            return nbi_shape_error(n, "x, the states, weights and biases must be f32");
    if (x->rank != 3) return nbi_shape_error(n, "x must be [B, T, I] (batch first)");
    const int64_t B = x->shape[0], T = x->shape[1], I = x->shape[2];
    const int64_t G = nbi_rnn_gates(kind);
    if (W_hh->rank != 2 || W_hh->shape[0] % G != 0 || W_hh->shape[0] / G != W_hh->shape[1]) {
        snprintf(what, sizeof what, "W_hh must be [%lld·H, H] (the hidden size H from its columns)",
                 (long long)G);
        return nbi_shape_error(n, what);
    }
    const int64_t H = W_hh->shape[1];
    if (W_ih->rank != 2 || W_ih->shape[0] != G * H || W_ih->shape[1] != I) {
        snprintf(what, sizeof what, "W_ih must be [%lld, %lld] (%lld·H rows, I columns)",
                 (long long)(G * H), (long long)I, (long long)G);
        return nbi_shape_error(n, what);
    }
    const nb_tensor *st[2] = {r.t[S_H0], r.t[S_C0]}, *bs[2] = {r.t[S_BIH], r.t[S_BHH]};
    for (int i = 0; i < 2; i++) {
        if (st[i] && (st[i]->rank != 2 || st[i]->shape[0] != B || st[i]->shape[1] != H)) {
            snprintf(what, sizeof what, "%s must be [B, H] = [%lld, %lld]", i ? "c0" : "h0",
                     (long long)B, (long long)H);
            return nbi_shape_error(n, what);
        }
        if (bs[i] && (bs[i]->rank != 1 || bs[i]->shape[0] != G * H)) {
            snprintf(what, sizeof what, "%s must be [%lld] (%lld·H)", i ? "b_hh" : "b_ih",
                     (long long)(G * H), (long long)G);
            return nbi_shape_error(n, what);
        }
    }
    if (len) {
        if (len->dtype != NB_I32 || len->rank != 1 || len->shape[0] != B) {
            snprintf(what, sizeof what, "lengths must be i32 [B] = [%lld]", (long long)B);
            return nbi_shape_error(n, what);
        }
        if (len->flags & NB_TF_REQUIRES_GRAD)
            return nbi_shape_error(n, "lengths must not require a gradient");
    }
    /* the packed result: y, h_n (and c_n) */
    size_t bth, bh, total;
    if (!nbi_mul_size((size_t)B, (size_t)T, &bth) || !nbi_mul_size(bth, (size_t)H, &bth) ||
        !nbi_mul_size((size_t)B, (size_t)H, &bh) ||
        !nbi_add_size(bth, bh * (kind == NBI_RNN_LSTM ? 2 : 1), &total) ||
        total > (size_t)INT64_MAX / 8 || G * H > INT64_MAX / 8)
        return nbi_shape_error(n, "the result is too large");
    out->dtype = NB_F32;
    out->rank = 1;
    out->shape[0] = (int64_t)total;
    return NB_OK;
}

typedef struct rnn_saved {
    nbi_rnn_geom g;
    nbi_rnn_bufs p;
} rnn_saved;

/* count floats of the arena, overflow-checked */
static float *floats(nb_ctx *ctx, int64_t count, const char *what) {
    size_t bytes;
    if (count < 0 || !nbi_mul_size((size_t)(count ? count : 1), sizeof(float), &bytes)) {
        nbi_error(NB_ERR_NOMEM, "%s: buffer size overflows", what);
        nbi_fail(ctx, NB_ERR_NOMEM);
        return NULL;
    }
    return nbi_ctx_alloc(ctx, bytes, what);
}

static nb_status rnn_forward(nb_ctx *ctx, nbi_node *n) {
    const char *name = nbi_ops[n->op]->name;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    rnn_in r = inputs_of(n);
    for (int w = 0; w < S_COUNT; w++)
        if (r.t[w] && !(r.t[w] = nbi_contig(ctx, r.t[w]))) return ctx->status;
    rnn_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, name);
    if (!sv) return ctx->status;
    nbi_rnn_geom *g = &sv->g;
    g->kind = kind_of(n);
    g->B = r.t[S_X]->shape[0];
    g->T = r.t[S_X]->shape[1];
    g->I = r.t[S_X]->shape[2];
    g->H = r.t[S_WHH]->shape[1];
    g->reverse = n->attrs->i[A_REV] != 0;
    g->what = name;
    const int64_t BT = g->B * g->T, GH = nbi_rnn_gates(g->kind) * g->H;
    nbi_rnn_bufs *p = &sv->p;
    memset(p, 0, sizeof *p);
    const float *f[S_LEN];
    for (int w = 0; w < S_LEN; w++) f[w] = r.t[w] ? r.t[w]->data : NULL;
    p->x = f[S_X];
    p->h0 = f[S_H0];
    p->c0 = f[S_C0];
    p->W_ih = f[S_WIH];
    p->W_hh = f[S_WHH];
    p->b_ih = f[S_BIH];
    p->b_hh = f[S_BHH];
    p->len = r.t[S_LEN] ? r.t[S_LEN]->data : NULL;
    p->y = n->out->data;
    p->hn = p->y + BT * g->H;
    p->cn = g->kind == NBI_RNN_LSTM ? p->hn + g->B * g->H : NULL;
    p->a = floats(ctx, BT * GH, name);
    p->hp = floats(ctx, BT * g->H, name);
    if (g->kind == NBI_RNN_LSTM) p->cp = floats(ctx, BT * g->H, name);
    if (g->kind == NBI_RNN_GRU) p->hnw = floats(ctx, BT * g->H, name);
    p->ws = floats(ctx, nbi_rnn_ws_floats(g, 0), name);
    if (!p->a || !p->hp || !p->ws || (g->kind == NBI_RNN_LSTM && !p->cp) ||
        (g->kind == NBI_RNN_GRU && !p->hnw))
        return ctx->status;
    /* W_hh packed once for all steps: scratch of this call only, not kept for backward */
    nbi_arena_mark mw = nbi_arena_mark_get(&ctx->arena);
    if (g->T > 1) p->wp = floats(ctx, nbi_rnn_wp_floats(g), name);
    if (g->T > 1 && !p->wp) return ctx->status;
    nb_status s = ctx->be->rnn(ctx->be, g, p);
    p->wp = NULL;
    nbi_arena_release(&ctx->arena, mw);
    if (s != NB_OK) return s;
    if (n->recording)
        n->saved = sv;
    else
        nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

static nb_status rnn_backward(nb_ctx *ctx, nbi_node *n) {
    const rnn_in r = inputs_of(n);
    float *gp[S_COUNT] = {NULL};
    int any = 0;
    for (int w = 0; w < S_LEN; w++) { /* lengths take no gradient */
        if (r.slot[w] < 0 || !nbi_needs_grad(n, r.slot[w])) continue;
        nb_tensor *g = nbi_grad(ctx, n->in[r.slot[w]]);
        if (!g) return ctx->status;
        gp[w] = g->data;
        any = 1;
    }
    if (!any) return NB_OK;
    rnn_saved *sv = n->saved;
    const nbi_rnn_geom *g = &sv->g;
    const float *go = n->out->grad->data;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    nbi_rnn_grads gr = {
        .gy = go,
        .ghn = go + g->B * g->T * g->H,
        .gcn = g->kind == NBI_RNN_LSTM ? go + g->B * (g->T + 1) * g->H : NULL,
        .gx = gp[S_X],
        .gh0 = gp[S_H0],
        .gc0 = gp[S_C0],
        .gW_ih = gp[S_WIH],
        .gW_hh = gp[S_WHH],
        .gb_ih = gp[S_BIH],
        .gb_hh = gp[S_BHH],
        .ws = floats(ctx, nbi_rnn_ws_floats(g, 1), nbi_ops[n->op]->name),
    };
    if (!gr.ws) return ctx->status;
    if (g->T > 1 && !(gr.wp = floats(ctx, nbi_rnn_wp_floats(g), nbi_ops[n->op]->name)))
        return ctx->status;
    nb_status s = ctx->be->rnn_bwd(ctx->be, g, &sv->p, &gr);
    nbi_arena_release(&ctx->arena, m);
    return s;
}

/* The relu cell's kink: the generator keeps every pre-activation of case 3 at least this far
 * from 0, so that the finite-difference stencil (inputs moved by up to 2h = 2^-5, which moves
 * a pre-activation by less than this through the small weights) never crosses it. */
#define RELU_MARGIN 0.1f

/* Does the relu cell (no lengths, direction as given) keep its pre-activations clear of 0? */
static bool gen_relu_clear(const nbi_check_case *c, int reverse) {
    const nb_tensor *x = c->in[0], *h0 = c->in[1], *Wi = c->in[2], *Wh = c->in[3];
    const nb_tensor *bi = c->in[4], *bh = c->in[5];
    const int64_t B = x->shape[0], T = x->shape[1], I = x->shape[2], H = Wh->shape[1];
    for (int64_t b = 0; b < B; b++) {
        float h[4], hn[4];
        for (int64_t j = 0; j < H; j++) h[j] = nb_f32(h0)[b * H + j];
        for (int64_t s = 0; s < T; s++) {
            int64_t t = reverse ? T - 1 - s : s;
            for (int64_t j = 0; j < H; j++) {
                float u = nb_f32(bi)[j] + nb_f32(bh)[j];
                for (int64_t i = 0; i < I; i++)
                    u += nb_f32(Wi)[j * I + i] * nb_f32(x)[(b * T + t) * I + i];
                for (int64_t i = 0; i < H; i++) u += nb_f32(Wh)[j * H + i] * h[i];
                if (fabsf(u) < RELU_MARGIN) return false;
                hn[j] = u > 0.0f ? u : 0.0f;
            }
            memcpy(h, hn, sizeof h);
        }
    }
    return true;
}

/* Check cases, 5 time steps each: (0) every input, forward; (1) lengths and reverse; (2)
 * lengths, no h0 (c0) and no biases; (3) reverse without lengths — for rnn with relu, its
 * inputs redrawn until every pre-activation is clear of the kink. Lengths include a full
 * sequence, a short one and an empty one. */
static nb_status rnn_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c) {
    const int kind = def->aux, relu = kind == NBI_RNN_TANH && k == 3;
    const int64_t G = nbi_rnn_gates(kind), T = 5;
    const int full = k != 2, lens = k == 1 || k == 2, reverse = k == 1 || k == 3;
    for (int tries = 0; tries < 1000; tries++) {
        nb_ctx_reset(ctx);
        int64_t B = relu ? 2 : 2 + (int64_t)nb_rng_below(rng, 2);
        int64_t I = relu ? 2 : 1 + (int64_t)nb_rng_below(rng, 3);
        int64_t H = relu ? 2 : 1 + (int64_t)nb_rng_below(rng, 3);
        float wr = relu ? 0.5f : 0.8f;
        memset(c, 0, sizeof *c);
        c->in[c->n_in++] =
            nbi_gen_input(ctx, rng, 3, (int64_t[]){B, T, I}, -1.0f, 1.0f, NULL, 0, 0.0f);
        if (full)
            c->in[c->n_in++] =
                nbi_gen_input(ctx, rng, 2, (int64_t[]){B, H}, -1.0f, 1.0f, NULL, 0, 0.0f);
        if (full && kind == NBI_RNN_LSTM)
            c->in[c->n_in++] =
                nbi_gen_input(ctx, rng, 2, (int64_t[]){B, H}, -1.0f, 1.0f, NULL, 0, 0.0f);
        c->in[c->n_in++] =
            nbi_gen_input(ctx, rng, 2, (int64_t[]){G * H, I}, -wr, wr, NULL, 0, 0.0f);
        c->in[c->n_in++] =
            nbi_gen_input(ctx, rng, 2, (int64_t[]){G * H, H}, -wr, wr, NULL, 0, 0.0f);
        for (int i = 0; full && i < 2; i++)
            c->in[c->n_in++] =
                nbi_gen_input(ctx, rng, 1, (int64_t[]){G * H}, -0.5f, 0.5f, NULL, 0, 0.0f);
        if (lens) {
            nb_tensor *l = c->in[c->n_in++] = nb_tensor_new(ctx, NB_I32, 1, &B);
            if (!l) return ctx->status;
            nb_i32(l)[0] = (int32_t)T;
            nb_i32(l)[1] = 1 + (int32_t)nb_rng_below(rng, (uint64_t)T - 1);
            if (B > 2) nb_i32(l)[2] = 0;
        }
        for (int i = 0; i < c->n_in; i++)
            if (!c->in[i]) return ctx->status;
        c->attrs.i[A_RELU] = relu;
        c->attrs.i[A_REV] = reverse;
        c->attrs.i[A_H0] = c->attrs.i[A_BIH] = c->attrs.i[A_BHH] = full;
        c->attrs.i[A_C0] = full && kind == NBI_RNN_LSTM;
        c->attrs.i[A_LEN] = lens;
        c->has_attrs = 1;
        if (!relu || gen_relu_clear(c, reverse)) return NB_OK;
    }
    return nbi_error(NB_ERR_STATE, "rnn: no relu case clear of the kink in 1000 draws");
}

#define RNN_OP(NM, AUX)                                                                            \
    const nbi_op_def nbi_op_##NM = {                                                               \
        .name = #NM,                                                                               \
        .infer = rnn_infer,                                                                        \
        .forward = rnn_forward,                                                                    \
        .backward = rnn_backward,                                                                  \
        .aux = AUX,                                                                                \
        .check = {.gen = rnn_gen, .cases = 4, .atol = 2e-4f, .rtol = 2e-4f},                       \
    };

RNN_OP(rnn, NBI_RNN_TANH)
RNN_OP(lstm, NBI_RNN_LSTM)
RNN_OP(gru, NBI_RNN_GRU)

/* Runs the op and hands out y, h_n (and c_n) as contiguous views of its packed result. */
static nb_rnn_out apply_rnn(nb_ctx *ctx, int op, nb_tensor *x, nb_tensor *h0, nb_tensor *c0,
                            nb_tensor *W_ih, nb_tensor *W_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                            const nb_rnn_opts *opts) {
    nb_rnn_out r = {NULL, NULL, NULL};
    nb_rnn_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[A_RELU] = op == NBI_OP_RNN && o.relu;
    a.i[A_REV] = o.reverse != 0;
    a.i[A_H0] = h0 != NULL;
    a.i[A_C0] = c0 != NULL;
    a.i[A_BIH] = b_ih != NULL;
    a.i[A_BHH] = b_hh != NULL;
    a.i[A_LEN] = o.lengths != NULL;
    nb_tensor *in[S_COUNT];
    int k = 0;
    in[k++] = x;
    if (h0) in[k++] = h0;
    if (c0) in[k++] = c0;
    in[k++] = W_ih;
    in[k++] = W_hh;
    if (b_ih) in[k++] = b_ih;
    if (b_hh) in[k++] = b_hh;
    if (o.lengths) in[k++] = o.lengths;
    nb_tensor *packed = nbi_apply(ctx, op, in, k, &a);
    if (!packed) return r;
    const int64_t B = x->shape[0], T = x->shape[1], H = W_hh->shape[1];
    r.y = nb_reshape(ctx, nb_slice(ctx, packed, 0, 0, B * T * H, 1), NB_DIMS(B, T, H));
    r.h = nb_reshape(ctx, nb_slice(ctx, packed, 0, B * T * H, B * (T + 1) * H, 1), NB_DIMS(B, H));
    if (op == NBI_OP_LSTM)
        r.c = nb_reshape(ctx, nb_slice(ctx, packed, 0, B * (T + 1) * H, B * (T + 2) * H, 1),
                         NB_DIMS(B, H));
    if (!r.y || !r.h || (op == NBI_OP_LSTM && !r.c)) r.y = r.h = r.c = NULL;
    return r;
}

nb_rnn_out nb_rnn(nb_ctx *ctx, nb_tensor *x, nb_tensor *h0, nb_tensor *W_ih, nb_tensor *W_hh,
                  nb_tensor *b_ih, nb_tensor *b_hh, const nb_rnn_opts *opts) {
    return apply_rnn(ctx, NBI_OP_RNN, x, h0, NULL, W_ih, W_hh, b_ih, b_hh, opts);
}

nb_rnn_out nb_lstm(nb_ctx *ctx, nb_tensor *x, nb_tensor *h0, nb_tensor *c0, nb_tensor *W_ih,
                   nb_tensor *W_hh, nb_tensor *b_ih, nb_tensor *b_hh, const nb_rnn_opts *opts) {
    return apply_rnn(ctx, NBI_OP_LSTM, x, h0, c0, W_ih, W_hh, b_ih, b_hh, opts);
}

nb_rnn_out nb_gru(nb_ctx *ctx, nb_tensor *x, nb_tensor *h0, nb_tensor *W_ih, nb_tensor *W_hh,
                  nb_tensor *b_ih, nb_tensor *b_hh, const nb_rnn_opts *opts) {
    return apply_rnn(ctx, NBI_OP_GRU, x, h0, NULL, W_ih, W_hh, b_ih, b_hh, opts);
}
