/* io/spec_layers.c — the layer lines of the spec format: one table entry per layer kind,
 * each a function that reads the line's arguments and appends the layer to the model.
 *
 * Each parse function reads the line's settings and calls the layer's public _on function on
 * the nodes the line takes (resolved by spec_arch.c: `in=`, or the line before), returning
 * the new node in *node.
 *
 * The other direction, model to text, is each layer's `spec` function (src/nn/); the two
 * must agree, which tests/test_spec.c checks by a round trip over every kind (text → model
 * → nb_model_spec → the same text). To add a layer kind: write its spec function in its
 * nn/ file, then one parse function and one table entry here, and a line in the test
 * (docs/ADDING_A_LAYER.md). */
#include "io/spec.h"

#include <stdio.h>
#include <string.h>

/* The status of an _on function's result, the node in *node. */
static nb_status took(int r, int *node) {
    *node = r;
    return r < 0 ? (nb_status)-r : NB_OK;
}

/* dense UNITS [ACTIVATION] [alpha=A] [bias=false] [init=I] [bias_init=I] [name=N] */
static nb_status parse_dense(nb_model *m, nbi_line *l, const int *in, int *node) {
    nb_dense_opts o;
    memset(&o, 0, sizeof o);
    int64_t units;
    int bias = 1;
    nb_status s = nbi_pos_int(l, 0, "the number of units", 1, &units);
    if (s == NB_OK && nbi_pos_has(l, 1)) s = nbi_tok_activation(l, &l->pos[1], &o.activation);
    if (s == NB_OK) s = nbi_opt_float(l, "alpha", "alpha", 0.0, 0.0, &o.alpha);
    if (s == NB_OK) s = nbi_opt_bool(l, "bias", &bias);
    if (s == NB_OK) s = nbi_opt_init(l, "init", &o.weight_init);
    if (s == NB_OK) s = nbi_opt_init(l, "bias_init", &o.bias_init);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, 2);
    if (s != NB_OK) return s;
    o.no_bias = !bias;
    return took(nb_model_dense_on(m, in[0], units, &o), node);
}

/* activation NAME [alpha=A] [name=N] */
static nb_status parse_activation(nb_model *m, nbi_line *l, const int *in, int *node) {
    nb_activation act = NB_ACT_NONE;
    float alpha = 0.0f;
    const char *word, *name = NULL;
    nb_status s = nbi_pos_word(l, 0, "an activation name", &word);
    if (s == NB_OK) s = nbi_tok_activation(l, &l->pos[0], &act);
    if (s == NB_OK) s = nbi_opt_float(l, "alpha", "alpha", 0.0, 0.0, &alpha);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s != NB_OK) return s;
    return took(nb_model_activation_on(m, in[0], act, alpha, name), node);
}

/* pad=P (every side), pad=H,W (top and bottom H, left and right W) or pad=T,B,L,R. */
static nb_status opt_pad(nbi_line *l, int64_t pad[4]) {
    int64_t v[4];
    int n = 0;
    nb_status s = nbi_opt_ints(l, "pad", "the padding", 0, v, 4, &n);
    if (s != NB_OK || n == 0) return s;
    if (n == 3)
        return nbi_line_error(l, nbi_opt_col(l, "pad"),
                              "expected pad=P, pad=H,W or "
                              "pad=TOP,BOTTOM,LEFT,RIGHT, got 3 numbers");
    if (n == 1) v[1] = v[2] = v[3] = v[0];
    if (n == 2) {
        v[2] = v[3] = v[1];
        v[1] = v[0];
    }
    memcpy(pad, v, sizeof v);
    return NB_OK;
}

/* conv2d FILTERS KERNEL [ACTIVATION] [alpha=A] [stride=S] [pad=P | same=true] [dilation=D]
 *        [groups=G] [bias=false] [init=I] [bias_init=I] [name=N] */
static nb_status parse_conv2d(nb_model *m, nbi_line *l, const int *in, int *node) {
    nb_conv2d_opts o;
    memset(&o, 0, sizeof o);
    int64_t filters;
    int bias = 1, same = 0;
    nb_status s = nbi_pos_int(l, 0, "the number of filters", 1, &filters);
    if (s == NB_OK) s = nbi_pos_pair(l, 1, "the kernel size", 1, o.kernel);
    if (s == NB_OK && nbi_pos_has(l, 2)) s = nbi_tok_activation(l, &l->pos[2], &o.activation);
    if (s == NB_OK) s = nbi_opt_float(l, "alpha", "alpha", 0.0, 0.0, &o.alpha);
    if (s == NB_OK) s = nbi_opt_pair(l, "stride", "the stride", 1, o.stride);
    if (s == NB_OK) s = opt_pad(l, o.pad);
    if (s == NB_OK) s = nbi_opt_bool(l, "same", &same);
    if (s == NB_OK) s = nbi_opt_pair(l, "dilation", "the dilation", 1, o.dilation);
    if (s == NB_OK) s = nbi_opt_int(l, "groups", "the number of groups", 1, 0, &o.groups);
    if (s == NB_OK) s = nbi_opt_bool(l, "bias", &bias);
    if (s == NB_OK) s = nbi_opt_init(l, "init", &o.weight_init);
    if (s == NB_OK) s = nbi_opt_init(l, "bias_init", &o.bias_init);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, 3);
    if (s != NB_OK) return s;
    if (same && nbi_opt_col(l, "pad"))
        return nbi_line_error(l, nbi_opt_col(l, "pad"), "pad= and same=true exclude each other");
    o.same = same;
    o.no_bias = !bias;
    return took(nb_model_conv2d_on(m, in[0], filters, &o), node);
}

/* maxpool2d KERNEL [stride=S] [pad=P] [dilation=D] [name=N];
 * avgpool2d KERNEL [stride=S] [pad=P] [exclude_pad=true] [name=N] */
static nb_status parse_pool(nb_model *m, nbi_line *l, bool max, const int *in, int *node) {
    nb_pool_opts o;
    memset(&o, 0, sizeof o);
    const char *name = NULL;
    int exclude = 0;
    nb_status s = nbi_pos_pair(l, 0, "the window size", 1, o.kernel);
    if (s == NB_OK) s = nbi_opt_pair(l, "stride", "the stride", 1, o.stride);
    if (s == NB_OK) s = opt_pad(l, o.pad);
    if (s == NB_OK && max) s = nbi_opt_pair(l, "dilation", "the dilation", 1, o.dilation);
    if (s == NB_OK && !max) s = nbi_opt_bool(l, "exclude_pad", &exclude);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s != NB_OK) return s;
    o.exclude_pad = exclude;
    return took(max ? nb_model_max_pool2d_on(m, in[0], &o, name)
                    : nb_model_avg_pool2d_on(m, in[0], &o, name),
                node);
}

static nb_status parse_maxpool2d(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_pool(m, l, true, in, node);
}
static nb_status parse_avgpool2d(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_pool(m, l, false, in, node);
}

/* global_avgpool2d [name=N] */
static nb_status parse_global_avgpool2d(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    const char *name = NULL;
    nb_status s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    return s == NB_OK ? took(nb_model_global_avg_pool2d_on(m, in[0], name), node) : s;
}

/* global_avgpool1d [name=N]: [T, C] → [C] */
static nb_status parse_global_avgpool1d(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    const char *name = NULL;
    nb_status s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    return s == NB_OK ? took(nb_model_global_avg_pool1d_on(m, in[0], name), node) : s;
}

/* batchnorm [momentum=M] [eps=E] [affine=false] [name=N] */
static nb_status parse_batchnorm(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    nb_batch_norm_opts o;
    memset(&o, 0, sizeof o);
    int affine = 1;
    o.momentum = 0.1f;
    o.eps = 1e-5f;
    nb_status s = nbi_opt_float(l, "momentum", "momentum", 0.0, 1.0, &o.momentum);
    if (s == NB_OK) s = nbi_opt_float(l, "eps", "eps", 0.0, 0.0, &o.eps);
    if (s == NB_OK) s = nbi_opt_bool(l, "affine", &affine);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    if (s != NB_OK) return s;
    if (!(o.momentum > 0.0f) || !(o.eps > 0.0f))
        return nbi_line_error(l, l->kind.col, "batchnorm needs momentum in (0, 1] and eps > 0");
    o.no_affine = !affine;
    return took(nb_model_batch_norm_on(m, in[0], &o), node);
}

/* dropout P [name=N] */
static nb_status parse_dropout(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    double p;
    const char *name = NULL;
    nb_status s = nbi_pos_double(l, 0, "the dropout probability", 0.0, 1.0, &p);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    return s == NB_OK ? took(nb_model_dropout_on(m, in[0], (float)p, name), node) : s;
}

/* flatten [name=N] */
static nb_status parse_flatten(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    const char *name = NULL;
    nb_status s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    return s == NB_OK ? took(nb_model_flatten_on(m, in[0], name), node) : s;
}

/* add [in=A,B,...] [name=N] */
static nb_status parse_add(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    const char *name = NULL;
    nb_status s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    if (s == NB_OK && n < 2)
        return nbi_line_error(l, l->kind.col,
                              "'add' sums 2 or more nodes: give them as "
                              "in=A,B");
    return s == NB_OK ? took(nb_model_add(m, in, n, name), node) : s;
}

/* concat [in=A,B,...] [axis=A] [name=N] */
static nb_status parse_concat(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    const char *name = NULL;
    int64_t axis = -1;
    nb_status s = nbi_opt_int(l, "axis", "the axis", -(NB_MAX_RANK - 1), NB_MAX_RANK - 2, &axis);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    return s == NB_OK ? took(nb_model_concat(m, in, n, (int)axis, name), node) : s;
}

/* split SIZE,SIZE,... [axis=A] [name=N] */
static nb_status parse_split(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    const char *name = NULL;
    int64_t axis = -1, sizes[16];
    int count = 0;
    nb_status s = nbi_pos_ints(l, 0, "the sizes of the parts", 1, sizes, 16, &count);
    if (s == NB_OK)
        s = nbi_opt_int(l, "axis", "the axis", -(NB_MAX_RANK - 1), NB_MAX_RANK - 2, &axis);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    return s == NB_OK ? took(nb_model_split(m, in[0], sizes, count, (int)axis, name), node) : s;
}

/* ---- sequence layers --------------------------------------------------------------------- */

/* Optional input k of a line's in= list: its node, or 0 (left out, or "-"). */
static int opt_in(const int *in, int n, int k) {
    return k < n ? in[k] : 0;
}

/* Refuses more nodes in in= than the layer takes. */
static nb_status max_in(nbi_line *l, int n, int most, const char *what) {
    if (n <= most) return NB_OK;
    return nbi_line_error(l, nbi_opt_col(l, "in"), "'%s' takes at most %d nodes (%s), got %d",
                          l->kind.s, most, what, n);
}

/* embedding VOCAB DIM [padding_idx=P] [init=I] [name=N] */
static nb_status parse_embedding(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    nb_embedding_opts o;
    memset(&o, 0, sizeof o);
    int64_t vocab, dim, pad = -1;
    nb_status s = nbi_pos_int(l, 0, "the vocabulary size", 1, &vocab);
    if (s == NB_OK) s = nbi_pos_int(l, 1, "the embedding's dimension", 1, &dim);
    if (s == NB_OK) s = nbi_opt_int(l, "padding_idx", "the padding index", 0, vocab - 1, &pad);
    if (s == NB_OK) s = nbi_opt_init(l, "init", &o.init);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, 2);
    if (s != NB_OK) return s;
    o.padding = pad >= 0;
    o.padding_idx = pad >= 0 ? pad : 0;
    return took(nb_model_embedding_on(m, in[0], vocab, dim, &o), node);
}

/* positional MAX_LEN [init=I] [name=N] */
static nb_status parse_positional(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    int64_t max_len;
    nb_init init;
    memset(&init, 0, sizeof init);
    const char *name = NULL;
    nb_status s = nbi_pos_int(l, 0, "the number of positions (the longest sequence)", 1, &max_len);
    if (s == NB_OK) s = nbi_opt_init(l, "init", &init);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    return s == NB_OK ? took(nb_model_positional_on(m, in[0], max_len, &init, name), node) : s;
}

/* sinusoidal [name=N] */
static nb_status parse_sinusoidal(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    const char *name = NULL;
    nb_status s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    return s == NB_OK ? took(nb_model_sinusoidal_on(m, in[0], name), node) : s;
}

/* tied_dense EMBEDDING [bias=true] [name=N] */
static nb_status parse_tied_dense(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    const char *target, *name = NULL;
    int bias = 0;
    nb_status s = nbi_pos_word(l, 0, "the embedding layer whose weight the head shares", &target);
    if (s == NB_OK) s = nbi_opt_bool(l, "bias", &bias);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    return s == NB_OK ? took(nb_model_tied_dense_on(m, in[0], target, bias, name), node) : s;
}

/* layernorm|rmsnorm [eps=E] [affine=false] [name=N] */
static nb_status parse_norm(nb_model *m, nbi_line *l, bool rms, const int *in, int *node) {
    nb_norm_layer_opts o;
    memset(&o, 0, sizeof o);
    int affine = 1;
    nb_status s = nbi_opt_float(l, "eps", "eps", 0.0, 0.0, &o.eps);
    if (s == NB_OK && nbi_opt_col(l, "eps") && !(o.eps > 0.0f))
        return nbi_line_error(l, nbi_opt_col(l, "eps"), "eps must be positive");
    if (s == NB_OK) s = nbi_opt_bool(l, "affine", &affine);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    if (s != NB_OK) return s;
    o.no_affine = !affine;
    return took(rms ? nb_model_rms_norm_on(m, in[0], &o) : nb_model_layer_norm_on(m, in[0], &o),
                node);
}
static nb_status parse_layernorm(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_norm(m, l, false, in, node);
}
static nb_status parse_rmsnorm(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_norm(m, l, true, in, node);
}

/* rnn|lstm|gru HIDDEN [tanh|relu] [layers=L] [bidirectional=true] [dropout=P] [bias=false]
 *     [in=X,H0[,C0],LENGTHS] [name=N] */
static nb_status parse_recurrent(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    const bool lstm = !strcmp(l->kind.s, "lstm"), rnn = !strcmp(l->kind.s, "rnn");
    nb_rnn_layer_opts o;
    memset(&o, 0, sizeof o);
    int64_t hidden, layers = 1;
    int bi = 0, bias = 1;
    nb_status s = nbi_pos_int(l, 0, "the number of hidden units", 1, &hidden);
    if (s == NB_OK && rnn && nbi_pos_has(l, 1)) {
        s = nbi_tok_activation(l, &l->pos[1], &o.activation);
        if (s == NB_OK && o.activation != NB_ACT_TANH && o.activation != NB_ACT_RELU)
            return nbi_line_error(l, l->pos[1].col, "an rnn's activation is tanh or relu, got '%s'",
                                  l->pos[1].s);
    }
    if (s == NB_OK) s = nbi_opt_int(l, "layers", "the number of layers", 1, 256, &layers);
    if (s == NB_OK) s = nbi_opt_bool(l, "bidirectional", &bi);
    if (s == NB_OK) s = nbi_opt_float(l, "dropout", "dropout", 0.0, 1.0, &o.dropout);
    if (s == NB_OK) s = nbi_opt_bool(l, "bias", &bias);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, rnn ? 2 : 1);
    if (s == NB_OK) s = max_in(l, n, lstm ? 4 : 3, lstm ? "x, h0, c0, lengths" : "x, h0, lengths");
    if (s != NB_OK) return s;
    if (!(o.dropout < 1.0f))
        return nbi_line_error(l, nbi_opt_col(l, "dropout"), "dropout must be in [0, 1)");
    o.layers = (int)layers;
    o.bidirectional = bi;
    o.no_bias = !bias;
    o.h0 = opt_in(in, n, 1);
    if (lstm) o.c0 = opt_in(in, n, 2);
    o.lengths = opt_in(in, n, lstm ? 3 : 2);
    int r = lstm  ? nb_model_lstm_on(m, in[0], hidden, &o)
            : rnn ? nb_model_rnn_on(m, in[0], hidden, &o)
                  : nb_model_gru_on(m, in[0], hidden, &o);
    return took(r, node);
}

/* attention WIDTH [heads=H] [causal=true] [dropout=P] [bias=false] [in=X,MASK] [name=N];
 * transformer WIDTH [heads=H] [ffn=F] [causal=true] [dropout=P] [eps=E] [bias=false]
 *     [init=I] [proj_init=I] [in=X,MASK] [name=N] */
static nb_status parse_attention(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    const bool block = !strcmp(l->kind.s, "transformer");
    int64_t width, heads = 1, ffn = 0;
    int causal = 0, bias = 1;
    float dropout = 0.0f, eps = 0.0f;
    const char *name = NULL;
    nb_init init, proj_init;
    memset(&init, 0, sizeof init);
    memset(&proj_init, 0, sizeof proj_init);
    nb_status s = nbi_pos_int(l, 0, "the width (features per position)", 1, &width);
    if (s == NB_OK) s = nbi_opt_int(l, "heads", "the number of heads", 1, 0, &heads);
    if (s == NB_OK && block) s = nbi_opt_int(l, "ffn", "the MLP's width", 1, 0, &ffn);
    if (s == NB_OK) s = nbi_opt_bool(l, "causal", &causal);
    if (s == NB_OK) s = nbi_opt_float(l, "dropout", "dropout", 0.0, 1.0, &dropout);
    if (s == NB_OK && block) s = nbi_opt_float(l, "eps", "eps", 0.0, 0.0, &eps);
    if (s == NB_OK) s = nbi_opt_bool(l, "bias", &bias);
    if (s == NB_OK && block) s = nbi_opt_init(l, "init", &init);
    if (s == NB_OK && block) s = nbi_opt_init(l, "proj_init", &proj_init);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s == NB_OK) s = max_in(l, n, 2, "x and a key mask");
    if (s == NB_OK && init.kind == NB_INIT_DEFAULT && proj_init.kind != NB_INIT_DEFAULT)
        return nbi_line_error(l, nbi_opt_col(l, "proj_init"),
                              "proj_init needs init (it draws the residual projections when "
                              "init draws the others)");
    if (s != NB_OK) return s;
    if (!(dropout < 1.0f))
        return nbi_line_error(l, nbi_opt_col(l, "dropout"), "dropout must be in [0, 1)");
    if (nbi_opt_col(l, "eps") && !(eps > 0.0f))
        return nbi_line_error(l, nbi_opt_col(l, "eps"), "eps must be positive");
    if (width % heads != 0)
        return nbi_line_error(l, nbi_opt_col(l, "heads"), "%lld heads do not divide the width %lld",
                              (long long)heads, (long long)width);
    if (block) {
        nb_transformer_opts o = {.heads = heads,
                                 .ffn = ffn,
                                 .causal = causal,
                                 .dropout = dropout,
                                 .eps = eps,
                                 .no_bias = !bias,
                                 .key_mask = opt_in(in, n, 1),
                                 .init = init,
                                 .proj_init = proj_init,
                                 .name = name};
        return took(nb_model_transformer_on(m, in[0], width, &o), node);
    }
    nb_attention_layer_opts o = {.heads = heads,
                                 .causal = causal,
                                 .dropout = dropout,
                                 .no_bias = !bias,
                                 .key_mask = opt_in(in, n, 1),
                                 .name = name};
    return took(nb_model_attention_on(m, in[0], width, &o), node);
}

static nb_status parse_dense1(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_dense(m, l, in, node);
}
static nb_status parse_activation1(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_activation(m, l, in, node);
}
static nb_status parse_conv2d1(nb_model *m, nbi_line *l, const int *in, int n, int *node) {
    (void)n;
    return parse_conv2d(m, l, in, node);
}

static const struct {
    const char *kind;
    nb_status (*parse)(nb_model *m, nbi_line *l, const int *in, int n, int *node);
    bool graph; /* version 2 only */
    bool many;  /* takes several nodes (in=A,B,...); the others take one */
} layer_kinds[] = {
    {"dense", parse_dense1, false, false},
    {"activation", parse_activation1, false, false},
    {"conv2d", parse_conv2d1, false, false},
    {"maxpool2d", parse_maxpool2d, false, false},
    {"avgpool2d", parse_avgpool2d, false, false},
    {"global_avgpool2d", parse_global_avgpool2d, false, false},
    {"global_avgpool1d", parse_global_avgpool1d, false, false},
    {"batchnorm", parse_batchnorm, false, false},
    {"dropout", parse_dropout, false, false},
    {"flatten", parse_flatten, false, false},
    {"embedding", parse_embedding, true, false},
    {"positional", parse_positional, false, false},
    {"sinusoidal", parse_sinusoidal, false, false},
    {"tied_dense", parse_tied_dense, true, false},
    {"layernorm", parse_layernorm, false, false},
    {"rmsnorm", parse_rmsnorm, false, false},
    {"rnn", parse_recurrent, true, true},
    {"lstm", parse_recurrent, true, true},
    {"gru", parse_recurrent, true, true},
    {"attention", parse_attention, false, true},
    {"transformer", parse_attention, false, true},
    {"add", parse_add, true, true},
    {"concat", parse_concat, true, true},
    {"split", parse_split, true, false},
    /* the C API's spellings of the same layers (nb_model_max_pool2d, nb_model_batch_norm, ...),
     * read as the short ones; the writer and model files keep the short ones */
    {"max_pool2d", parse_maxpool2d, false, false},
    {"avg_pool2d", parse_avgpool2d, false, false},
    {"global_avg_pool2d", parse_global_avgpool2d, false, false},
    {"batch_norm", parse_batchnorm, false, false},
    {"layer_norm", parse_layernorm, false, false},
    {"rms_norm", parse_rmsnorm, false, false},
};

#define N_KINDS (sizeof layer_kinds / sizeof layer_kinds[0])

nb_status nbi_spec_layer(nb_model *m, nbi_line *l, int version, const int *in, int n_in,
                         int *node) {
    for (size_t k = 0; k < N_KINDS; k++) {
        if (strcmp(layer_kinds[k].kind, l->kind.s) != 0) continue;
        if (layer_kinds[k].graph && version < 2)
            return nbi_line_error(l, l->kind.col,
                                  "'%s' needs 'nabla-spec 2' as the first line (this "
                                  "spec is version 1, a chain of layers)",
                                  l->kind.s);
        if (!layer_kinds[k].many && n_in != 1)
            return nbi_line_error(l, nbi_opt_col(l, "in"),
                                  "'%s' takes one node, got %d in in=", l->kind.s, n_in);
        /* the model's own messages (a shape that does not fit, a name taken twice) get the
         * line's position from the caller */
        return layer_kinds[k].parse(m, l, in, n_in, node);
    }
    NBI_ASSERT(0 && "nbi_spec_layer: not a layer kind");
    return NB_ERR_FORMAT;
}

bool nbi_spec_is_graph_layer(const char *kind) {
    for (size_t k = 0; k < N_KINDS; k++)
        if (!strcmp(layer_kinds[k].kind, kind)) return layer_kinds[k].graph;
    return false;
}

bool nbi_spec_is_layer(const char *kind) {
    for (size_t k = 0; k < N_KINDS; k++)
        if (!strcmp(layer_kinds[k].kind, kind)) return true;
    return false;
}

void nbi_spec_layer_kinds(char *buf, size_t n) {
    size_t w = 0;
    buf[0] = 0;
    for (size_t k = 0; k < N_KINDS && w < n; k++) {
        int r = snprintf(buf + w, n - w, "%s%s", k ? ", " : "", layer_kinds[k].kind);
        if (r > 0) w += (size_t)r;
    }
}
