/* ops/spectral.c — the differentiable spectral-feature ops: the short-time Fourier transform
 * with PyTorch's conventions, |X|^p of a complex tensor, and a band-matrix product along the
 * frequency axis (the mel filterbank and the DCT-II of MFCCs). The audio layer composes them
 * with log and normalisation into the feature pipeline (audio/features_op.c), so a model can
 * take raw audio and gradients reach the waveform.
 *
 *   stft         x [L] or [B, L], window w [win] → S [K, T, 2] or [B, K, T, 2]
 *                S[b, k, f] = scale · Σ_t wf[t]·xp[b, f·hop + t]·e^{−2πi·kt/n_fft}
 *                torch.view_as_real(torch.stft(x, n_fft, hop, window=w, center, pad_mode,
 *                normalized, onesided=True, return_complex=True)); K = n_fft/2 + 1, xp the
 *                signal padded by n_fft/2 on both sides when centred, wf the window centred
 *                in n_fft. The backward is the adjoint of that linear map (an overlap-add of
 *                inverse transforms) for x, and Σ_f xp·(adjoint) for the window.
 *                attrs.i: 0 n_fft, 1 hop, 2 center, 3 pad mode (nb_pad_mode), 4 normalized
 *   spec_power   S [..., 2] → P [...] = (re² + im²)^(p/2);  attrs.f[0] = p > 0
 *                backward dS += dP·p·|S|^(p−2)·S (0 at |S| = 0 when p < 2)
 *   filterbank   x [..., K, T], W [M, K] → y [..., M, T] = W·x along K (torchaudio's
 *                MelScale and MFCC's DCT: a matrix applied to every frame). Only W's non-zero
 *                band of each row is visited, so a mel filterbank costs a few bins a band. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- stft ------------------------------------------------------------------------------------ */

static nb_status stft_geom(const nbi_node *n, nbi_stft_geom *g) {
    const nb_tensor *x = n->in[0], *w = n->in[1];
    const int64_t *a = n->attrs->i;
    char what[200];
    if (x->dtype != NB_F32 || w->dtype != NB_F32)
        return nbi_shape_error(n, "signal and window must be f32");
    if (x->rank != 1 && x->rank != 2)
        return nbi_shape_error(n, "the signal must be [L] or a batch [B, L]");
    if (w->rank != 1) return nbi_shape_error(n, "the window must be a vector [win_length]");
    memset(g, 0, sizeof *g);
    g->n_fft = a[0];
    g->hop = a[1];
    g->pad_mode = (int)a[3];
    if (g->n_fft < 1 || g->n_fft > ((int64_t)1 << 24)) {
        snprintf(what, sizeof what, "n_fft %lld is outside 1 .. 2^24", (long long)g->n_fft);
        return nbi_shape_error(n, what);
    }
    if (g->hop < 1) {
        snprintf(what, sizeof what, "hop %lld must be at least 1", (long long)g->hop);
        return nbi_shape_error(n, what);
    }
    if (a[3] < NBI_PAD_REFLECT || a[3] > NBI_PAD_CIRCULAR)
        return nbi_shape_error(n, "unknown pad mode (reflect, constant, replicate, circular)");
    g->win = w->shape[0];
    if (g->win < 1 || g->win > g->n_fft) {
        snprintf(what, sizeof what, "the window has %lld samples: it needs 1 .. n_fft = %lld",
                 (long long)g->win, (long long)g->n_fft);
        return nbi_shape_error(n, what);
    }
    g->win_off = (g->n_fft - g->win) / 2;
    g->B = x->rank == 2 ? x->shape[0] : 1;
    g->L = x->shape[x->rank - 1];
    g->pad = a[2] ? g->n_fft / 2 : 0;
    if (g->pad > 0) {
        const char *need = NULL;
        if (g->pad_mode == NBI_PAD_REFLECT && g->L <= g->pad) need = "more than n_fft/2";
        if (g->pad_mode == NBI_PAD_REPLICATE && g->L < 1) need = "at least 1";
        if (g->pad_mode == NBI_PAD_CIRCULAR && g->L < g->pad) need = "at least n_fft/2";
        if (need) {
            snprintf(what, sizeof what,
                     "a centred frame with this pad mode needs %s samples; the signal has %lld",
                     need, (long long)g->L);
            return nbi_shape_error(n, what);
        }
    }
    if (g->L + 2 * g->pad < g->n_fft) {
        snprintf(what, sizeof what,
                 "the signal (%lld samples, %lld once padded) is shorter "
                 "than one frame of n_fft = %lld",
                 (long long)g->L, (long long)(g->L + 2 * g->pad), (long long)g->n_fft);
        return nbi_shape_error(n, what);
    }
    g->T = 1 + (g->L + 2 * g->pad - g->n_fft) / g->hop;
    g->K = g->n_fft / 2 + 1;
    g->scale = a[4] ? (float)(1.0 / sqrt((double)g->n_fft)) : 1.0f;
    return NB_OK;
}

static nb_status stft_infer(const nbi_node *n, nb_tensor *out) {
    nbi_stft_geom g;
    nb_status st = stft_geom(n, &g);
    if (st != NB_OK) return st;
    out->dtype = NB_F32;
    int r = 0;
    if (n->in[0]->rank == 2) out->shape[r++] = g.B;
    out->shape[r++] = g.K;
    out->shape[r++] = g.T;
    out->shape[r++] = 2;
    out->rank = r;
    int64_t numel;
    if (nbi_check_shape("stft", out->rank, out->shape, &numel) != NB_OK)
        return nbi_shape_error(n, "the result has too many elements");
    return NB_OK;
}

static nb_status stft_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_stft_geom g;
    nb_status st = stft_geom(n, &g);
    if (st != NB_OK) return st;
    nb_tensor *x = nbi_contig(ctx, n->in[0]), *w = nbi_contig(ctx, n->in[1]);
    if (!x || !w) return ctx->status;
    return ctx->be->stft(ctx->be, &g, x->data, w->data, n->out->data);
}

static nb_status stft_backward(nb_ctx *ctx, nbi_node *n) {
    int gx = nbi_needs_grad(n, 0), gw = nbi_needs_grad(n, 1);
    if (!gx && !gw) return NB_OK;
    nbi_stft_geom g;
    nb_status st = stft_geom(n, &g);
    if (st != NB_OK) return st;
    nb_tensor *x = nbi_contig(ctx, n->in[0]), *w = nbi_contig(ctx, n->in[1]);
    nb_tensor *dx = gx ? nbi_grad(ctx, n->in[0]) : NULL, *dw = gw ? nbi_grad(ctx, n->in[1]) : NULL;
    if (!x || !w || (gx && !dx) || (gw && !dw)) return ctx->status;
    return ctx->be->stft_bwd(ctx->be, &g, x->data, w->data, n->out->grad->data,
                             dx ? dx->data : NULL, dw ? dw->data : NULL);
}

/* Cases: centred with each pad mode, not centred, normalized, a window shorter than the frame,
 * an odd n_fft, a single signal; the window is checked as an input too. */
static nb_status stft_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    (void)def;
    static const int64_t nfft[] = {8, 8, 8, 8, 7, 6, 9, 8};
    int64_t n_fft = nfft[k % 8], hop = 1 + (int64_t)nb_rng_below(rng, 4);
    int64_t win = k == 5 ? 4 : k == 6 ? 6 : n_fft;
    int64_t B = 1 + (int64_t)nb_rng_below(rng, 2), L = n_fft + 1 + (int64_t)nb_rng_below(rng, 9);
    c->n_in = 2;
    c->in[0] = k == 7 ? nbi_gen_input(ctx, rng, 1, &L, -1.0f, 1.0f, NULL, 0, 0.0f)
                      : nbi_gen_input(ctx, rng, 2, (int64_t[]){B, L}, -1.0f, 1.0f, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, 1, &win, 0.1f, 1.0f, NULL, 0, 0.0f);
    if (!c->in[0] || !c->in[1]) return ctx->status;
    memset(&c->attrs, 0, sizeof c->attrs);
    c->attrs.i[0] = n_fft;
    c->attrs.i[1] = hop;
    c->attrs.i[2] = k != 4;
    c->attrs.i[3] = k < 4 ? k : NBI_PAD_REFLECT;
    c->attrs.i[4] = k == 4 || k == 6;
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_stft = {
    .name = "stft",
    .infer = stft_infer,
    .forward = stft_forward,
    .backward = stft_backward,
    .check = {.gen = stft_gen, .cases = 8, .atol = 2e-3f, .rtol = 2e-3f},
};

nb_tensor *nb_stft_op(nb_ctx *ctx, nb_tensor *x, nb_tensor *window, int64_t n_fft, int64_t hop,
                      int center, int pad_mode, int normalized) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = n_fft;
    a.i[1] = hop;
    a.i[2] = center != 0;
    a.i[3] = pad_mode;
    a.i[4] = normalized != 0;
    nb_tensor *in[2] = {x, window};
    return nbi_apply(ctx, NBI_OP_STFT, in, 2, &a);
}

/* ---- spec_power --------------------------------------------------------------------------------
 */

static nb_status power_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *S = n->in[0];
    if (S->dtype != NB_F32) return nbi_shape_error(n, "input must be f32");
    if (S->rank < 1 || S->shape[S->rank - 1] != 2)
        return nbi_shape_error(n, "input must be complex as [..., 2] (re, im)");
    float p = n->attrs->f[0];
    if (!(p > 0.0f) || !isfinite(p)) return nbi_shape_error(n, "the power must be > 0 and finite");
    out->dtype = NB_F32;
    out->rank = S->rank - 1;
    memcpy(out->shape, S->shape, (size_t)out->rank * sizeof *out->shape);
    return NB_OK;
}

static nb_status power_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *S = nbi_contig(ctx, n->in[0]);
    if (!S) return ctx->status;
    if (n->recording && S != n->in[0]) n->saved = S;
    ctx->be->spec_power(ctx->be, n->out->numel, S->data, n->attrs->f[0], n->out->data);
    return NB_OK;
}

static nb_status power_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 0)) return NB_OK;
    const nb_tensor *S = n->saved ? n->saved : n->in[0];
    nb_tensor *g = nbi_grad(ctx, n->in[0]);
    if (!g) return ctx->status;
    ctx->be->spec_power_bwd(ctx->be, n->out->numel, S->data, n->attrs->f[0], n->out->grad->data,
                            g->data);
    return NB_OK;
}

/* Cases: powers 2, 1, 0.5 and 3 on values kept away from 0 (|S| ≥ 0.1·√2). */
static nb_status power_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                           nbi_check_case *c) {
    (void)def;
    static const float pw[] = {2.0f, 1.0f, 0.5f, 3.0f};
    int64_t shape[3];
    nbi_gen_shape(rng, 2, 4, shape);
    shape[2] = 2;
    const float kink = 0.0f;
    c->n_in = 1;
    c->in[0] = nbi_gen_input(ctx, rng, 3, shape, -1.0f, 1.0f, &kink, 1, 0.1f);
    if (!c->in[0]) return ctx->status;
    memset(&c->attrs, 0, sizeof c->attrs);
    c->attrs.f[0] = pw[k % 4];
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_spec_power = {
    .name = "spec_power",
    .infer = power_infer,
    .forward = power_forward,
    .backward = power_backward,
    .check = {.gen = power_gen, .cases = 4, .atol = 1e-3f, .rtol = 1e-3f},
};

nb_tensor *nb_spec_power(nb_ctx *ctx, nb_tensor *S, float power) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.f[0] = power;
    return nbi_apply(ctx, NBI_OP_SPEC_POWER, &S, 1, &a);
}

/* ---- filterbank --------------------------------------------------------------------------------
 */

static nb_status band_geom(const nbi_node *n, nbi_band_geom *g) {
    const nb_tensor *x = n->in[0], *W = n->in[1];
    if (x->dtype != NB_F32 || W->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (x->rank < 2) return nbi_shape_error(n, "the input must be [..., K, T] (frequency, time)");
    if (W->rank != 2) return nbi_shape_error(n, "the filter matrix must be [M, K]");
    if (W->shape[1] != x->shape[x->rank - 2])
        return nbi_shape_error(n, "the filter matrix's K must be the input's second-last size");
    g->M = W->shape[0];
    g->K = W->shape[1];
    g->T = x->shape[x->rank - 1];
    g->B = 1;
    for (int d = 0; d < x->rank - 2; d++) g->B *= x->shape[d];
    return NB_OK;
}

static nb_status band_infer(const nbi_node *n, nb_tensor *out) {
    nbi_band_geom g;
    nb_status st = band_geom(n, &g);
    if (st != NB_OK) return st;
    const nb_tensor *x = n->in[0];
    out->dtype = NB_F32;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof x->shape);
    out->shape[x->rank - 2] = g.M;
    int64_t numel;
    if (nbi_check_shape("filterbank", out->rank, out->shape, &numel) != NB_OK)
        return nbi_shape_error(n, "the result has too many elements");
    return NB_OK;
}

static nb_status band_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_band_geom g;
    nb_status st = band_geom(n, &g);
    if (st != NB_OK) return st;
    nb_tensor *x = nbi_contig(ctx, n->in[0]), *W = nbi_contig(ctx, n->in[1]);
    if (!x || !W) return ctx->status;
    return ctx->be->band(ctx->be, &g, W->data, x->data, n->out->data);
}

static nb_status band_backward(nb_ctx *ctx, nbi_node *n) {
    int gx = nbi_needs_grad(n, 0), gw = nbi_needs_grad(n, 1);
    if (!gx && !gw) return NB_OK;
    nbi_band_geom g;
    nb_status st = band_geom(n, &g);
    if (st != NB_OK) return st;
    nb_tensor *x = nbi_contig(ctx, n->in[0]), *W = nbi_contig(ctx, n->in[1]);
    nb_tensor *dx = gx ? nbi_grad(ctx, n->in[0]) : NULL, *dW = gw ? nbi_grad(ctx, n->in[1]) : NULL;
    if (!x || !W || (gx && !dx) || (gw && !dW)) return ctx->status;
    return ctx->be->band_bwd(ctx->be, &g, W->data, x->data, n->out->grad->data,
                             dx ? dx->data : NULL, dW ? dW->data : NULL);
}

/* Cases: a dense matrix; a banded one (zeros outside a few columns a row, as a mel
 * filterbank); a row of zeros; a batch of rank 4. */
static nb_status band_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    (void)def;
    int64_t K = 2 + (int64_t)nb_rng_below(rng, 6), M = 1 + (int64_t)nb_rng_below(rng, 5);
    int64_t T = 1 + (int64_t)nb_rng_below(rng, 4), B = 1 + (int64_t)nb_rng_below(rng, 3);
    c->n_in = 2;
    c->in[0] = k == 3
                   ? nbi_gen_input(ctx, rng, 4, (int64_t[]){2, B, K, T}, -1.0f, 1.0f, NULL, 0, 0.0f)
                   : nbi_gen_input(ctx, rng, 3, (int64_t[]){B, K, T}, -1.0f, 1.0f, NULL, 0, 0.0f);
    c->in[1] = nbi_gen_input(ctx, rng, 2, (int64_t[]){M, K}, -1.0f, 1.0f, NULL, 0, 0.0f);
    if (!c->in[0] || !c->in[1]) return ctx->status;
    float *W = c->in[1]->data;
    if (k == 1 || k == 2)
        for (int64_t m = 0; m < M; m++)
            for (int64_t j = 0; j < K; j++)
                if ((k == 2 && m == 0) || j < m % K || j > m % K + 1) W[m * K + j] = 0.0f;
    c->has_attrs = 0;
    return NB_OK;
}

const nbi_op_def nbi_op_filterbank = {
    .name = "filterbank",
    .infer = band_infer,
    .forward = band_forward,
    .backward = band_backward,
    .check = {.gen = band_gen, .cases = 4, .atol = 1e-3f, .rtol = 1e-3f},
};

nb_tensor *nb_filterbank(nb_ctx *ctx, nb_tensor *x, nb_tensor *W) {
    nb_tensor *in[2] = {x, W};
    return nbi_apply(ctx, NBI_OP_FILTERBANK, in, 2, NULL);
}
