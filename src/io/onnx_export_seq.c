/* io/onnx_export_seq.c — the ONNX forms (opset 17) of the sequence and graph kinds, for
 * io/onnx_export.c:
 *
 *     add, concat, split     Add (a chain, in nabla's order), Concat, Split
 *     embedding              Gather(weight, ids) on axis 0: the ids keep nabla's i32
 *     positional             Add of Slice(table, 0, T) with T = Shape(x)[1]
 *     sinusoidal             Add of a constant [T, E] table (T must be known)
 *     layernorm              LayerNormalization(axis −1, nabla's epsilon)
 *     rmsnorm                x / Sqrt(ReduceMean(x · x) + eps) · weight
 *     tied_dense             MatMul by Transpose(the embedding's weight): one initializer
 *     global_avgpool1d       ReduceMean over the time axis
 *     rnn, lstm, gru         torch.onnx.export's form: Transpose to [T, N, F], one RNN / LSTM
 *                            / GRU node per layer (gates reordered: LSTM i,f,g,o → i,o,f,c;
 *                            GRU r,z,n → z,r,h with linear_before_reset=1; B = [Wb, Rb]),
 *                            back to [N, T, D·H]; h_n (and c_n) as [N, L·D, H]
 *     attention, transformer MatMul/Add/Split/Reshape/Transpose/Softmax, the causal mask a
 *                            constant [T, T] of 0 and −inf added before Softmax; the block's
 *                            layer norms, exact GELU and residual Adds
 *
 * A recurrent layer's lengths become sequence_lens (an i32 length per sample as it is; a mask
 * [T] counted: ReduceSum of Cast(mask ≠ 0)); an attention's key mask is added to the scores
 * ([N, 1, 1, T]: f32 as it is, i32 nonzero as −inf), and a query left without a key gets
 * weights 0 as in nabla (Where(IsNaN(softmax), 0, ·)). What has no form here is refused naming
 * the layer: a sinusoidal table over a length known only at run time (a causal mask over
 * one is built in the graph: Range, Greater, Where).
 * Dropout is inference's: nothing. */
#include "io/onnx_export.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const nbi_ox_attr *attr_ints(nbi_ox_attr *a, const char *name, const int64_t *v, int n) {
    *a = (nbi_ox_attr){.name = name, .type = NBI_OX_A_INTS, .ints = v, .n = n};
    return a;
}

static const nbi_ox_attr *attr_int(nbi_ox_attr *a, const char *name, int64_t v) {
    *a = (nbi_ox_attr){.name = name, .type = NBI_OX_A_INT, .i = v};
    return a;
}

/* Transpose(x) by perm into y. */
static const char *transpose(nbi_ox *e, const char *x, const int64_t *perm, int n, const char *y) {
    nbi_ox_attr a;
    NBI_OX1A(e, "Transpose", y, attr_ints(&a, "perm", perm, n), x);
    return y;
}

/* An int64 vector initializer named `name`; returns the name. */
static const char *ints(nbi_ox *e, const char *name, const int64_t *v, int64_t n) {
    nbi_ox_int64s(e, name, v, n);
    return name;
}

/* x · W (+ b) into out; W [in, out] (nabla's dense layout, which MatMul takes as it is). */
static nb_status linear(nbi_ox *e, const char *x, const nb_tensor *W, const nb_tensor *b,
                        const char *out, const char *mm) {
    const char *w = nbi_ox_param(e, W);
    if (!w) return NB_ERR_ARG;
    if (!b) {
        NBI_OX1(e, "MatMul", out, x, w);
        return NB_OK;
    }
    const char *bn = nbi_ox_param(e, b);
    if (!bn) return NB_ERR_ARG;
    NBI_OX1(e, "MatMul", mm, x, w);
    NBI_OX1(e, "Add", out, mm, bn);
    return NB_OK;
}

/* LayerNormalization over the last axis; weight and bias NULL: scale 1, shift 0. */
static nb_status layer_norm(nbi_ox *e, const char *x, const nb_tensor *w, const nb_tensor *b,
                            float eps, int64_t D, const char *out, const char *what) {
    const char *wn, *bn;
    if (w) {
        if (!(wn = nbi_ox_param(e, w)) || !(bn = nbi_ox_param(e, b))) return NB_ERR_ARG;
    } else {
        float *v = nbi_malloc_for("nb_model_export_onnx", sizeof(float) * (size_t)D * 2);
        if (!v) return NB_ERR_NOMEM;
        for (int64_t k = 0; k < D; k++) v[k] = 1.0f, v[D + k] = 0.0f;
        wn = nbi_ox_name(e, "%s_scale", what);
        bn = nbi_ox_name(e, "%s_shift", what);
        nbi_ox_floats(e, wn, v, 1, &D);
        nbi_ox_floats(e, bn, v + D, 1, &D);
        nbi_free(v);
    }
    nbi_ox_attr a[2] = {{.name = "axis", .type = NBI_OX_A_INT, .i = -1},
                        {.name = "epsilon", .type = NBI_OX_A_FLOAT, .f = eps}};
    nbi_ox_node(e, "LayerNormalization", (const char *const[]){x, wn, bn}, 3,
                (const char *const[]){out}, 1, a, 2);
    return NB_OK;
}

static nb_status rms_norm(nbi_ox *e, const nbi_ox_call *c) {
    const nbi_layer_view *v = c->v;
    const char *x = c->in[0];
    const char *sq = nbi_ox_name(e, "square"), *ms = nbi_ox_name(e, "mean_square"),
               *ad = nbi_ox_name(e, "plus_eps"), *rt = nbi_ox_name(e, "root"),
               *ep = nbi_ox_name(e, "eps");
    const char *y = v->weight ? nbi_ox_name(e, "normed") : c->out[0];
    nbi_ox_scalar(e, ep, v->eps);
    NBI_OX1(e, "Mul", sq, x, x);
    nbi_ox_attr a[2] = {
        {.name = "axes", .type = NBI_OX_A_INTS, .ints = (const int64_t[]){-1}, .n = 1},
        {.name = "keepdims", .type = NBI_OX_A_INT, .i = 1}};
    nbi_ox_node(e, "ReduceMean", &sq, 1, &ms, 1, a, 2);
    NBI_OX1(e, "Add", ad, ms, ep);
    NBI_OX1(e, "Sqrt", rt, ad);
    NBI_OX1(e, "Div", y, x, rt);
    if (v->weight) {
        const char *w = nbi_ox_param(e, v->weight);
        if (!w) return NB_ERR_ARG;
        NBI_OX1(e, "Mul", c->out[0], y, w);
    }
    return NB_OK;
}

/* ---- positions -------------------------------------------------------------------------- */

static nb_status positional(nbi_ox *e, const nbi_ox_call *c) {
    const nbi_layer_view *v = c->v;
    const char *x = c->in[0], *table;
    if (v->kind == NBI_VIEW_POSITIONAL) { /* rows 0 .. T of the learned table */
        const char *w = nbi_ox_param(e, v->weight);
        if (!w) return NB_ERR_ARG;
        const char *T = nbi_ox_name(e, "length");
        nbi_ox_attr a[2] = {{.name = "start", .type = NBI_OX_A_INT, .i = 1},
                            {.name = "end", .type = NBI_OX_A_INT, .i = 2}};
        nbi_ox_node(e, "Shape", &x, 1, &T, 1, a, 2);
        const char *zero = ints(e, nbi_ox_name(e, "start"), (const int64_t[]){0}, 1);
        const char *axis = ints(e, nbi_ox_name(e, "axis"), (const int64_t[]){0}, 1);
        table = nbi_ox_name(e, "rows");
        NBI_OX1(e, "Slice", table, w, zero, T, axis);
    } else { /* the sinusoids of nn/positional.c, as a constant */
        const int64_t T = c->in_shape[0], E = c->in_shape[1];
        if (T < 0)
            return nbi_ox_unsupported(e, "sinusoidal positions over sequences whose length is "
                                         "known only at run time (the constant table needs "
                                         "it: give the input a fixed length)");
        float *p = nbi_malloc_for("nb_model_export_onnx", sizeof(float) * (size_t)(T * E));
        if (!p) return NB_ERR_NOMEM;
        for (int64_t i = 0; 2 * i < E; i++) {
            const double inv = pow(10000.0, -(double)(2 * i) / (double)E);
            for (int64_t t = 0; t < T; t++) {
                p[t * E + 2 * i] = (float)sin((double)t * inv);
                if (2 * i + 1 < E) p[t * E + 2 * i + 1] = (float)cos((double)t * inv);
            }
        }
        table = nbi_ox_name(e, "table");
        nbi_ox_floats(e, table, p, 2, (const int64_t[]){T, E});
        nbi_free(p);
    }
    NBI_OX1(e, "Add", c->out[0], x, table);
    return NB_OK;
}

/* ---- recurrent layers ------------------------------------------------------------------- */

#define MAX_LAYERS 256

/* W [D, G·H, cols] (or B [D, 2·G·H] from two) from PyTorch's per-direction tensors, the gate
 * blocks of H rows reordered into ONNX's order: block j is PyTorch's block perm[j]. */
static void gather_gates(float *dst, nb_tensor *const *src, int dirs, int stride_src, int64_t G,
                         int64_t H, int64_t cols, const int *perm) {
    for (int d = 0; d < dirs; d++) {
        const float *s = nb_f32(src[d * stride_src]);
        for (int64_t j = 0; j < G; j++)
            memcpy(dst + (d * G + j) * H * cols, s + perm[j] * H * cols,
                   sizeof(float) * (size_t)(H * cols));
    }
}

static nb_status recurrent(nbi_ox *e, const nbi_ox_call *c) {
    const nbi_layer_view *v = c->v;
    const bool lstm = v->kind == NBI_VIEW_LSTM, gru = v->kind == NBI_VIEW_GRU;
    const int len_slot = lstm ? 3 : 2, L = v->layers, D = v->dirs;
    const int64_t G = lstm ? 4 : gru ? 3 : 1, H = v->hidden;
    static const int lstm_perm[4] = {0, 3, 1, 2}, gru_perm[3] = {1, 0, 2}, rnn_perm[1] = {0};
    const int *perm = lstm ? lstm_perm : gru ? gru_perm : rnn_perm;
    const char *op = lstm ? "LSTM" : gru ? "GRU" : "RNN";
    if (L > MAX_LAYERS) return nbi_ox_unsupported(e, "more than 256 stacked layers");
    const char *lens = ""; /* sequence_lens: int32 [N] */
    if (c->n_in > len_slot && c->in[len_slot][0]) {
        const char *given = c->in[len_slot];
        if (c->in_ranks[len_slot] == 0) {
            lens = given; /* one i32 length per sample */
        } else {          /* a mask [T], nonzero at the tokens: their count */
            nbi_ox_attr a;
            const char *on = nbi_ox_name(e, "mask_on"), *ones = nbi_ox_name(e, "mask_i32"),
                       *ax = ints(e, nbi_ox_name(e, "mask_axis"), (const int64_t[]){1}, 1);
            lens = nbi_ox_name(e, "lengths");
            NBI_OX1A(e, "Cast", on, attr_int(&a, "to", NBI_OX_BOOL), given);
            NBI_OX1A(e, "Cast", ones, attr_int(&a, "to", NBI_OX_INT32), on);
            NBI_OX1A(e, "ReduceSum", lens, attr_int(&a, "keepdims", 0), ones, ax);
        }
    }
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 4 * D; k++) {
            const nb_tensor *t = v->rec[4 * l * D + k];
            if (t && !t->data)
                return nbi_ox_unsupported(e, "a tensor without data (a model built dry?)");
        }
    const int64_t p021[3] = {1, 0, 2};
    const char *x = transpose(e, c->in[0], p021, 3, nbi_ox_name(e, "time_major"));
    const char *state[2] = {NULL, NULL}; /* h0, c0 as [L·D, N, H] */
    for (int s = 0; s < (lstm ? 2 : 1); s++)
        if (c->n_in > 1 + s && c->in[1 + s][0])
            state[s] = transpose(e, c->in[1 + s], p021, 3, nbi_ox_name(e, "%s", s ? "c0" : "h0"));
    const char *yh[MAX_LAYERS], *yc[MAX_LAYERS];
    nb_status st = NB_OK;
    for (int l = 0; l < L && st == NB_OK; l++) {
        nb_tensor *const *w = v->rec + 4 * l * D;
        const int64_t I = w[0]->shape[1], GH = G * H;
        const bool bias = w[2] != NULL;
        float *buf = nbi_malloc_for("nb_model_export_onnx",
                                    sizeof(float) * (size_t)(D * GH * (I + H + (bias ? 2 : 0))));
        if (!buf) return NB_ERR_NOMEM;
        float *W = buf, *R = W + D * GH * I, *B = R + D * GH * H;
        gather_gates(W, w, D, 4, G, H, I, perm);
        gather_gates(R, w + 1, D, 4, G, H, H, perm);
        if (bias)
            for (int d = 0; d < D; d++) {
                gather_gates(B + d * 2 * GH, w + 4 * d + 2, 1, 0, G, H, 1, perm);
                gather_gates(B + d * 2 * GH + GH, w + 4 * d + 3, 1, 0, G, H, 1, perm);
            }
        const char *wn = nbi_ox_name(e, "W_l%d", l), *rn = nbi_ox_name(e, "R_l%d", l),
                   *bn = bias ? nbi_ox_name(e, "B_l%d", l) : "";
        nbi_ox_floats(e, wn, W, 3, (const int64_t[]){D, GH, I});
        nbi_ox_floats(e, rn, R, 3, (const int64_t[]){D, GH, H});
        if (bias) nbi_ox_floats(e, bn, B, 2, (const int64_t[]){D, 2 * GH});
        nbi_free(buf);
        const char *init[2] = {"", ""};
        for (int s = 0; s < 2; s++)
            if (state[s]) {
                init[s] = nbi_ox_name(e, "%s_l%d", s ? "c0" : "h0", l);
                const char *sn = s ? "c0" : "h0";
                const char *from = ints(e, nbi_ox_name(e, "%s_from_l%d", sn, l),
                                        (const int64_t[]){(int64_t)l * D}, 1);
                const char *to = ints(e, nbi_ox_name(e, "%s_to_l%d", sn, l),
                                      (const int64_t[]){(int64_t)(l + 1) * D}, 1);
                const char *ax =
                    ints(e, nbi_ox_name(e, "%s_axis_l%d", sn, l), (const int64_t[]){0}, 1);
                NBI_OX1(e, "Slice", init[s], state[s], from, to, ax);
            }
        const char *ins[7] = {x, wn, rn, bn, lens, init[0], init[1]};
        int n_in = lstm ? 7 : 6;
        while (n_in > 3 && !ins[n_in - 1][0]) n_in--;
        const char *y = nbi_ox_name(e, "Y_l%d", l);
        yh[l] = nbi_ox_name(e, "Y_h_l%d", l);
        yc[l] = lstm ? nbi_ox_name(e, "Y_c_l%d", l) : NULL;
        const char *outs[3] = {y, yh[l], yc[l]};
        nbi_ox_attr a[3];
        int n_a = 0;
        a[n_a++] = (nbi_ox_attr){.name = "hidden_size", .type = NBI_OX_A_INT, .i = H};
        if (D == 2) /* "forward" is the default, which torch leaves out */
            a[n_a++] =
                (nbi_ox_attr){.name = "direction", .type = NBI_OX_A_STRING, .s = "bidirectional"};
        if (gru)
            a[n_a++] = (nbi_ox_attr){.name = "linear_before_reset", .type = NBI_OX_A_INT, .i = 1};
        if (!lstm && !gru && v->act == NB_ACT_RELU)
            a[n_a++] =
                (nbi_ox_attr){.name = "activations", .type = NBI_OX_A_STRINGS, .s = "Relu", .n = D};
        nbi_ox_node(e, op, ins, n_in, outs, lstm ? 3 : 2, a, n_a);
        /* Y [T, D, N, H] → [T, N, D·H] */
        if (D == 1) {
            const char *ax = ints(e, nbi_ox_name(e, "squeeze_l%d", l), (const int64_t[]){1}, 1);
            x = nbi_ox_name(e, "out_l%d", l);
            NBI_OX1(e, "Squeeze", x, y, ax);
        } else {
            const char *t =
                transpose(e, y, (const int64_t[]){0, 2, 1, 3}, 4, nbi_ox_name(e, "Y_t_l%d", l));
            const char *shape =
                ints(e, nbi_ox_name(e, "shape_l%d", l), (const int64_t[]){0, 0, -1}, 3);
            x = nbi_ox_name(e, "out_l%d", l);
            NBI_OX1(e, "Reshape", x, t, shape);
        }
    }
    transpose(e, x, p021, 3, c->out[0]);
    /* h_n (and c_n), where read: the layers' final states [D, N, H] joined → [N, L·D, H] */
    for (int s = 0; s < (lstm ? 2 : 1) && 1 + s < c->n_out; s++) {
        if (!c->out_used[1 + s]) continue; /* as torch: no node for a state nothing reads */
        const char **parts = s ? yc : yh, *all = parts[0];
        if (L > 1) {
            all = nbi_ox_name(e, "%s_all", s ? "c_n" : "h_n");
            nbi_ox_attr a;
            nbi_ox_node(e, "Concat", parts, L, &all, 1, attr_int(&a, "axis", 0), 1);
        }
        transpose(e, all, p021, 3, c->out[1 + s]);
    }
    return st;
}

/* ---- attention -------------------------------------------------------------------------- */

/* The causal mask of a length known only at run time, from x [N, T, E]: positions
 * r = Range(0, T), Where(r[j] > r[i], −inf, 0) as [T, T]. */
static nb_status causal_mask(nbi_ox *e, const char *tag, const char *x, const char *mask) {
    nbi_ox_attr a[2] = {{.name = "start", .type = NBI_OX_A_INT, .i = 1},
                        {.name = "end", .type = NBI_OX_A_INT, .i = 2}};
    const char *T1 = nbi_ox_name(e, "%slength", tag), *T = nbi_ox_name(e, "%slength_scalar", tag),
               *r = nbi_ox_name(e, "%spositions", tag), *rows = nbi_ox_name(e, "%srows", tag),
               *cols = nbi_ox_name(e, "%scols", tag), *later = nbi_ox_name(e, "%slater", tag),
               *zero = nbi_ox_name(e, "%sfrom", tag), *one = nbi_ox_name(e, "%sstep", tag),
               *ninf = nbi_ox_name(e, "%smask_minus_inf", tag),
               *fzero = nbi_ox_name(e, "%smask_zero", tag);
    nbi_ox_node(e, "Shape", &x, 1, &T1, 1, a, 2);
    NBI_OX1(e, "Squeeze", T, T1,
            ints(e, nbi_ox_name(e, "%slength_axis", tag), (const int64_t[]){0}, 1));
    nbi_ox_int64_scalar(e, zero, 0);
    nbi_ox_int64_scalar(e, one, 1);
    NBI_OX1(e, "Range", r, zero, T, one);
    NBI_OX1(e, "Unsqueeze", rows, r,
            ints(e, nbi_ox_name(e, "%srows_axis", tag), (const int64_t[]){1}, 1));
    NBI_OX1(e, "Unsqueeze", cols, r,
            ints(e, nbi_ox_name(e, "%scols_axis", tag), (const int64_t[]){0}, 1));
    NBI_OX1(e, "Greater", later, cols, rows);
    nbi_ox_scalar(e, ninf, -INFINITY);
    nbi_ox_scalar(e, fzero, 0.0f);
    NBI_OX1(e, "Where", mask, later, ninf, fzero);
    return NB_OK;
}

/* Multi-head self-attention of x [N, T, E] into out; parts named "<prefix>/<tag>...". */
static nb_status mha(nbi_ox *e, const nbi_ox_call *c, const char *tag, const char *x,
                     const char *out) {
    const nbi_layer_view *v = c->v;
    const int64_t E = v->width, H = v->heads, d = E / H, T = c->in_shape[0];
    nb_status st;
    const char *qkv = nbi_ox_name(e, "%sqkv", tag);
    if ((st = linear(e, x, v->w_in, v->b_in, qkv, nbi_ox_name(e, "%sin_proj_matmul", tag))) !=
        NB_OK)
        return st;
    const char *sizes = ints(e, nbi_ox_name(e, "%ssplit", tag), (const int64_t[]){E, E, E}, 3);
    const char *qkv3[3] = {nbi_ox_name(e, "%sq", tag), nbi_ox_name(e, "%sk", tag),
                           nbi_ox_name(e, "%sv", tag)};
    nbi_ox_attr a;
    nbi_ox_node(e, "Split", (const char *const[]){qkv, sizes}, 2, qkv3, 3, attr_int(&a, "axis", 2),
                1);
    const char *heads = ints(e, nbi_ox_name(e, "%sheads", tag), (const int64_t[]){0, 0, H, d}, 4);
    const char *h4[3];
    static const char *const what[3] = {"q_heads", "k_heads", "v_heads"};
    for (int i = 0; i < 3; i++) {
        const char *r = nbi_ox_name(e, "%s%s_4d", tag, what[i]);
        NBI_OX1(e, "Reshape", r, qkv3[i], heads);
        /* q, v: [N, H, T, d]; k: [N, H, d, T] */
        h4[i] =
            transpose(e, r, i == 1 ? (const int64_t[]){0, 2, 3, 1} : (const int64_t[]){0, 2, 1, 3},
                      4, nbi_ox_name(e, "%s%s", tag, what[i]));
    }
    const char *sc = nbi_ox_name(e, "%sscores", tag), *scl = nbi_ox_name(e, "%sscaled", tag),
               *scale = nbi_ox_name(e, "%sscale", tag);
    nbi_ox_scalar(e, scale, 1.0f / sqrtf((float)d));
    NBI_OX1(e, "MatMul", sc, h4[0], h4[1]);
    NBI_OX1(e, "Mul", scl, sc, scale);
    if (v->causal) {
        const char *mask = nbi_ox_name(e, "%scausal_mask", tag);
        if (T >= 0) { /* a constant [T, T]: 0 on and below the diagonal, −inf above */
            float *mk = nbi_malloc_for("nb_model_export_onnx", sizeof(float) * (size_t)(T * T));
            if (!mk) return NB_ERR_NOMEM;
            for (int64_t i = 0; i < T; i++)
                for (int64_t j = 0; j < T; j++) mk[i * T + j] = j > i ? -INFINITY : 0.0f;
            nbi_ox_floats(e, mask, mk, 2, (const int64_t[]){T, T});
            nbi_free(mk);
        } else if ((st = causal_mask(e, tag, x, mask)) != NB_OK) {
            return st;
        }
        const char *masked = nbi_ox_name(e, "%smasked", tag);
        NBI_OX1(e, "Add", masked, scl, mask);
        scl = masked;
    }
    const bool key_mask = c->n_in > 1 && c->in[1][0];
    if (key_mask) { /* [N, T] → [N, 1, 1, T], added to every head's and query's scores */
        const char *add = c->in[1], *km = nbi_ox_name(e, "%skey_mask", tag),
                   *masked = nbi_ox_name(e, "%skey_masked", tag);
        if (c->in_i32[1]) { /* nonzero: ignore the key (−inf) */
            const char *b = nbi_ox_name(e, "%skey_ignored", tag),
                       *ninf = nbi_ox_name(e, "%sminus_inf", tag),
                       *zero = nbi_ox_name(e, "%szero", tag);
            nbi_ox_scalar(e, ninf, -INFINITY);
            nbi_ox_scalar(e, zero, 0.0f);
            NBI_OX1A(e, "Cast", b, attr_int(&a, "to", NBI_OX_BOOL), c->in[1]);
            add = nbi_ox_name(e, "%skey_add", tag);
            NBI_OX1(e, "Where", add, b, ninf, zero);
        }
        NBI_OX1(e, "Unsqueeze", km, add,
                ints(e, nbi_ox_name(e, "%skey_axes", tag), (const int64_t[]){1, 2}, 2));
        NBI_OX1(e, "Add", masked, scl, km);
        scl = masked;
    }
    const char *w = nbi_ox_name(e, "%sweights", tag), *o = nbi_ox_name(e, "%sheads_out", tag);
    if (key_mask) { /* a query that sees no key: weights 0 as nabla's (Softmax gives NaN) */
        const char *sm = nbi_ox_name(e, "%ssoftmax", tag), *nan = nbi_ox_name(e, "%snan", tag),
                   *zero = nbi_ox_name(e, "%sno_key", tag);
        nbi_ox_scalar(e, zero, 0.0f);
        NBI_OX1A(e, "Softmax", sm, attr_int(&a, "axis", -1), scl);
        NBI_OX1(e, "IsNaN", nan, sm);
        NBI_OX1(e, "Where", w, nan, zero, sm);
    } else {
        NBI_OX1A(e, "Softmax", w, attr_int(&a, "axis", -1), scl);
    }
    NBI_OX1(e, "MatMul", o, w, h4[2]);
    const char *ot =
        transpose(e, o, (const int64_t[]){0, 2, 1, 3}, 4, nbi_ox_name(e, "%sjoined_4d", tag));
    const char *shape =
        ints(e, nbi_ox_name(e, "%sjoined_shape", tag), (const int64_t[]){0, 0, E}, 3);
    const char *joined = nbi_ox_name(e, "%sjoined", tag);
    NBI_OX1(e, "Reshape", joined, ot, shape);
    return linear(e, joined, v->w_out, v->b_out, out, nbi_ox_name(e, "%sout_proj_matmul", tag));
}

/* The pre-LN block: h = x + attn(ln_1(x)); y = h + proj(gelu(fc(ln_2(h)))). */
static nb_status transformer(nbi_ox *e, const nbi_ox_call *c) {
    const nbi_layer_view *v = c->v;
    const nb_tensor *const *k = v->block;
    const char *x = c->in[0];
    const char *l1 = nbi_ox_name(e, "ln_1"), *at = nbi_ox_name(e, "attn"),
               *h = nbi_ox_name(e, "residual"), *l2 = nbi_ox_name(e, "ln_2"),
               *fc = nbi_ox_name(e, "mlp_fc"), *g = nbi_ox_name(e, "mlp_gelu"),
               *pj = nbi_ox_name(e, "mlp_proj");
    nb_status st = layer_norm(e, x, k[0], k[1], v->eps, v->width, l1, "ln_1");
    if (st == NB_OK) st = mha(e, c, "attn/", l1, at);
    if (st != NB_OK) return st;
    NBI_OX1(e, "Add", h, x, at);
    if ((st = layer_norm(e, h, k[2], k[3], v->eps, v->width, l2, "ln_2")) != NB_OK) return st;
    if ((st = linear(e, l2, k[4], k[5], fc, nbi_ox_name(e, "mlp_fc_matmul"))) != NB_OK) return st;
    if ((st = nbi_ox_activation(e, NB_ACT_GELU, 0.0f, fc, g)) != NB_OK) return st;
    if ((st = linear(e, g, k[6], k[7], pj, nbi_ox_name(e, "mlp_proj_matmul"))) != NB_OK) return st;
    NBI_OX1(e, "Add", c->out[0], h, pj);
    return NB_OK;
}

/* ---- the dispatch ----------------------------------------------------------------------- */

nb_status nbi_ox_seq_call(nbi_ox *e, const nbi_ox_call *c) {
    const nbi_layer_view *v = c->v;
    nbi_ox_attr a[2];
    switch (v->kind) {
    case NBI_VIEW_ADD: {
        if (c->n_in == 1) {
            NBI_OX1(e, "Identity", c->out[0], c->in[0]);
            return NB_OK;
        }
        const char *acc = c->in[0];
        for (int i = 1; i < c->n_in; i++) { /* ((x0 + x1) + x2) ...: nabla's order */
            const char *y = i == c->n_in - 1 ? c->out[0] : nbi_ox_name(e, "sum_%d", i);
            NBI_OX1(e, "Add", y, acc, c->in[i]);
            acc = y;
        }
        return NB_OK;
    }
    case NBI_VIEW_CONCAT:
        nbi_ox_node(e, "Concat", c->in, c->n_in, c->out, 1,
                    attr_int(a, "axis", v->axis < 0 ? v->axis : v->axis + 1), 1);
        return NB_OK;
    case NBI_VIEW_SPLIT: {
        const char *sizes = ints(e, nbi_ox_name(e, "sizes"), v->sizes, v->n_parts);
        nbi_ox_node(e, "Split", (const char *const[]){c->in[0], sizes}, 2, c->out, c->n_out,
                    attr_int(a, "axis", v->axis < 0 ? v->axis : v->axis + 1), 1);
        return NB_OK;
    }
    case NBI_VIEW_EMBEDDING: {
        const char *w = nbi_ox_param(e, v->weight);
        if (!w) return NB_ERR_ARG;
        NBI_OX1A(e, "Gather", c->out[0], attr_int(a, "axis", 0), w, c->in[0]);
        return NB_OK;
    }
    case NBI_VIEW_POSITIONAL:
    case NBI_VIEW_SINUSOIDAL:
        return positional(e, c);
    case NBI_VIEW_LAYERNORM:
        return layer_norm(e, c->in[0], v->weight, v->bias, v->eps, c->in_shape[c->in_rank - 1],
                          c->out[0], "layernorm");
    case NBI_VIEW_RMSNORM:
        return rms_norm(e, c);
    case NBI_VIEW_TIED_DENSE: {
        const char *w = nbi_ox_param(e, v->weight);
        if (!w) return NB_ERR_ARG;
        const char *wt = transpose(e, w, (const int64_t[]){1, 0}, 2, nbi_ox_name(e, "weight_t"));
        const char *y = v->bias ? nbi_ox_name(e, "matmul") : c->out[0];
        NBI_OX1(e, "MatMul", y, c->in[0], wt);
        if (v->bias) {
            const char *b = nbi_ox_param(e, v->bias);
            if (!b) return NB_ERR_ARG;
            NBI_OX1(e, "Add", c->out[0], y, b);
        }
        return NB_OK;
    }
    case NBI_VIEW_GLOBAL_AVGPOOL1D:
        a[0] = (nbi_ox_attr){
            .name = "axes", .type = NBI_OX_A_INTS, .ints = (const int64_t[]){1}, .n = 1};
        attr_int(&a[1], "keepdims", 0);
        nbi_ox_node(e, "ReduceMean", c->in, 1, c->out, 1, a, 2);
        return NB_OK;
    case NBI_VIEW_RNN:
    case NBI_VIEW_LSTM:
    case NBI_VIEW_GRU:
        return recurrent(e, c);
    case NBI_VIEW_ATTENTION:
        return mha(e, c, "", c->in[0], c->out[0]);
    case NBI_VIEW_TRANSFORMER:
        return transformer(e, c);
    default:
        return NB_ERR_UNSUPPORTED;
    }
}
