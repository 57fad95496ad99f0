/* io/onnx_rnn.c — the ONNX import of recurrent nodes (LSTM, GRU, RNN) as nabla's lstm, gru and
 * rnn layers (nn/recurrent.c: PyTorch's nn.LSTM, nn.GRU, nn.RNN with batch_first=True).
 *
 * An ONNX recurrent node is one layer, time-major: X [T, N, I] → Y [T, D, N, H], Y_h (and Y_c)
 * [D, N, H]. torch.onnx.export writes a num_layers = L module as L nodes, each reading the one
 * before through a Squeeze of axis 1 (one direction) or a Transpose (perm 0, 2, 1, 3) and a
 * Reshape to [T, N, D·H] (two). Such a stack — same op, hidden size, directions and settings,
 * each value in between read once, no Y_h or Y_c read but the last node's Y — becomes one
 * nabla layer of L layers, with PyTorch's parameter names (weight_ih_l1, ...), so that the
 * imported model saves as the module torch exported. Otherwise each node is a layer of its own
 * (which computes the same; torch's h_n, a Concat of the nodes' Y_h, is then expressible).
 *
 * Weights: ONNX W [D, G·H, I], R [D, G·H, H], B [D, 2·G·H] (W's biases then R's) with gates
 * LSTM i, o, f, c and GRU z, r, h; PyTorch's are i, f, g, o and r, z, n. Refused, naming the
 * node: direction "reverse" alone, sequence_lens, clip, activation_alpha/beta, activations
 * other than PyTorch's, input_forget, layout 1, peepholes, initial states that are not zeros,
 * GRU's linear_before_reset 0 (ONNX's default, not PyTorch's GRU), dims that disagree. */
#include "io/onnx_import.h"

#include <stdio.h>
#include <string.h>

typedef nbi_onnx_importer importer;
typedef nbi_onnx_val val;

#define refuse nbi_onnx_refuse
#define MAX_STACK 256 /* nn/recurrent.c's REC_MAX_LAYERS */

/* One node's settings and weights. */
typedef struct rec_node {
    int index;
    int D;
    bool relu;
    int64_t H;
    const nbi_onnx_tensor *W, *R, *B;
} rec_node;

/* Input k absent, or zeros (a ConstantOfShape of 0, or an initializer of zeros). */
static nb_status zero_state(const importer *im, const nbi_onnx_node *nd, int k, const char *what) {
    const val *v = nbi_onnx_input(im, nd, k);
    if (!v || v->kind == V_ZEROS) return NB_OK;
    bool zero = false;
    if (v->kind == V_CONST && v->t->dtype == NBI_ONNX_FLOAT) {
        float *f = nbi_malloc_for("nb_model_load_onnx", sizeof(float) * (size_t)(v->t->n + 1));
        if (!f) return NB_ERR_NOMEM;
        zero = nbi_onnx_floats(im->g, v->t, f) == NB_OK;
        for (int64_t j = 0; zero && j < v->t->n; j++) zero = f[j] == 0.0f;
        nbi_free(f);
    }
    if (!zero)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "%s '%s' is not zeros: nabla imports recurrent nodes whose initial state "
                      "is absent or zero",
                      what, v->name);
    return NB_OK;
}

/* Checks node i's attributes and inputs other than X; its settings and weights into *r. */
static nb_status check_node(const importer *im, int i, rec_node *r) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    const int kind = nd->op[0]; /* 'L', 'G', 'R' */
    const int64_t G = kind == 'L' ? 4 : kind == 'G' ? 3 : 1;
    memset(r, 0, sizeof *r);
    r->index = i;
    /* attributes: every one known, and each as PyTorch writes it */
    static const char *const known[] = {"hidden_size",      "direction",           "activations",
                                        "activation_alpha", "activation_beta",     "clip",
                                        "layout",           "linear_before_reset", "input_forget"};
    for (int k = 0; k < nd->n_attrs; k++) {
        const char *a = nd->attrs[k].name;
        bool ok = false;
        for (size_t j = 0; j < sizeof known / sizeof known[0]; j++) ok |= !strcmp(a, known[j]);
        if (!ok || (kind != 'G' && !strcmp(a, "linear_before_reset")) ||
            (kind != 'L' && !strcmp(a, "input_forget")))
            return refuse(im, nd, NB_ERR_FORMAT, "an unknown attribute '%s'", a);
        if (!strcmp(a, "clip") || !strncmp(a, "activation_", 11))
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "the attribute %s is not supported (nabla's %s has no %s)", a,
                          kind == 'L'   ? "lstm"
                          : kind == 'G' ? "gru"
                                        : "rnn",
                          a[0] == 'c' ? "cell clipping" : "activation parameters");
    }
    const nbi_onnx_attr *dir = nbi_onnx_get_attr(nd, "direction");
    r->D = 1;
    if (dir && dir->s && !strcmp(dir->s, "bidirectional"))
        r->D = 2;
    else if (dir && (!dir->s || strcmp(dir->s, "forward")))
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "direction '%s' is not supported (forward or bidirectional: nabla runs "
                      "the reverse direction only beside the forward one)",
                      dir->s ? dir->s : "");
    const int D = r->D;
    if (nbi_onnx_attr_i(nd, "layout", 0) != 0)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "layout = 1 (batch-first) is not supported");
    if (kind == 'L' && nbi_onnx_attr_i(nd, "input_forget", 0) != 0)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "input_forget = 1 is not supported");
    if (kind == 'G' && nbi_onnx_attr_i(nd, "linear_before_reset", 0) != 1)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "linear_before_reset = %lld: PyTorch's GRU (and nabla's gru) applies the "
                      "reset gate after the linear map, linear_before_reset = 1",
                      (long long)nbi_onnx_attr_i(nd, "linear_before_reset", 0));
    const nbi_onnx_attr *acts = nbi_onnx_get_attr(nd, "activations");
    if (acts) {
        static const char *const want_l[3] = {"Sigmoid", "Tanh", "Tanh"};
        static const char *const want_g[2] = {"Sigmoid", "Tanh"};
        int per = kind == 'L' ? 3 : kind == 'G' ? 2 : 1;
        bool ok = acts->n_strs == per * D;
        if (ok && kind == 'R') r->relu = !strcmp(acts->strs[0], "Relu");
        for (int k = 0; ok && k < acts->n_strs; k++)
            ok = !strcmp(acts->strs[k], kind == 'L'   ? want_l[k % 3]
                                        : kind == 'G' ? want_g[k % 2]
                                        : r->relu     ? "Relu"
                                                      : "Tanh");
        if (!ok)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "activations other than PyTorch's (%s per direction) are not "
                          "supported",
                          kind == 'L'   ? "Sigmoid, Tanh, Tanh"
                          : kind == 'G' ? "Sigmoid, Tanh"
                                        : "Tanh or Relu");
    }
    nb_status st;
    if ((st = nbi_onnx_constant(im, nd, 1, 3, false, &r->W)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 2, 3, false, &r->R)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 3, 2, true, &r->B)) != NB_OK)
        return st;
    if (nbi_onnx_input(im, nd, 4))
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "sequence_lens is not supported (every sequence runs its full length)");
    if ((st = zero_state(im, nd, 5, "initial_h")) != NB_OK) return st;
    if (kind == 'L' && (st = zero_state(im, nd, 6, "initial_c")) != NB_OK) return st;
    if (kind == 'L' && nbi_onnx_input(im, nd, 7))
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "peephole weights P are not supported");
    const int64_t H = nbi_onnx_attr_i(nd, "hidden_size", 0);
    if (!nbi_onnx_get_attr(nd, "hidden_size") || H < 1 || H > ((int64_t)1 << 24))
        return refuse(im, nd, NB_ERR_FORMAT, "hidden_size is missing or not positive");
    r->H = H;
    const nbi_onnx_tensor *R = r->R, *B = r->B;
    if (R->dims[0] != D || R->dims[1] != G * H || R->dims[2] != H)
        return refuse(im, nd, NB_ERR_FORMAT,
                      "R '%s' is [%lld, %lld, %lld]; hidden_size %lld needs [%d, %lld, %lld]",
                      R->name, (long long)R->dims[0], (long long)R->dims[1], (long long)R->dims[2],
                      (long long)H, D, (long long)(G * H), (long long)H);
    if (B && (B->dims[0] != D || B->dims[1] != 2 * G * H))
        return refuse(im, nd, NB_ERR_FORMAT, "B '%s' is [%lld, %lld]; it should be [%d, %lld]",
                      B->name, (long long)B->dims[0], (long long)B->dims[1], D,
                      (long long)(2 * G * H));
    return NB_OK;
}

/* W of r fits I input features. */
static nb_status check_w(const importer *im, const rec_node *r, int64_t I) {
    const nbi_onnx_node *nd = &im->g->nodes[r->index];
    const int64_t G = nd->op[0] == 'L' ? 4 : nd->op[0] == 'G' ? 3 : 1, H = r->H;
    const nbi_onnx_tensor *W = r->W;
    if (W->dims[0] != r->D || W->dims[1] != G * H || W->dims[2] != I)
        return refuse(im, nd, NB_ERR_FORMAT,
                      "W '%s' is [%lld, %lld, %lld]; %d direction(s), hidden_size %lld and %lld "
                      "input features need [%d, %lld, %lld]",
                      W->name, (long long)W->dims[0], (long long)W->dims[1], (long long)W->dims[2],
                      r->D, (long long)H, (long long)I, r->D, (long long)(G * H), (long long)I);
    return NB_OK;
}

/* Whether output k of node i is read by anything. */
static bool is_read(const importer *im, int i, int k) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    return k < nd->n_out && nd->out[k][0] && nbi_onnx_find(im, nd->out[k])->uses > 0;
}

/* The recurrent node stacked on node i (of D directions and H units), its Y reshaped as torch
 * writes, each value between read once; -1 when there is none. skip[] gets the nodes between
 * (at most 2), *n_skip their count. */
static int stacked_on(const importer *im, int i, int D, int64_t H, int *skip, int *n_skip) {
    const nbi_onnx_node *nodes = im->g->nodes;
    const char *y = nodes[i].out[0];
    int64_t v[NBI_ONNX_MAX_RANK];
    int n = 0;
    *n_skip = 0;
    if (D == 1) { /* Squeeze of axis 1 */
        int sq = nbi_onnx_only_reader(im, y, "Squeeze");
        if (sq < 0 || nodes[sq].n_out != 1 || strcmp(nodes[sq].in[0], y) ||
            nbi_onnx_axes(im, &nodes[sq], v, &n) != NB_OK || n != 1 || (v[0] != 1 && v[0] != -3))
            return -1;
        skip[(*n_skip)++] = sq;
        y = nodes[sq].out[0];
    } else { /* Transpose (perm 0, 2, 1, 3), Reshape to [0, 0, -1 or D·H] */
        int tr = nbi_onnx_only_reader(im, y, "Transpose");
        const nbi_onnx_attr *p = tr >= 0 ? nbi_onnx_get_attr(&nodes[tr], "perm") : NULL;
        if (!p || p->n_ints != 4 || p->ints[0] != 0 || p->ints[1] != 2 || p->ints[2] != 1 ||
            p->ints[3] != 3 || nodes[tr].n_out != 1)
            return -1;
        int rs = nbi_onnx_only_reader(im, nodes[tr].out[0], "Reshape");
        if (rs < 0 || nodes[rs].n_out != 1 || strcmp(nodes[rs].in[0], nodes[tr].out[0]) ||
            nbi_onnx_attr_i(&nodes[rs], "allowzero", 0) != 0 ||
            !nbi_onnx_shape_arg(im, nbi_onnx_input(im, &nodes[rs], 1), v, &n) || n != 3 ||
            v[0] != 0 || !(v[1] == 0 || v[1] == NBI_SYM_BATCH) || !(v[2] == -1 || v[2] == D * H))
            return -1;
        skip[(*n_skip)++] = tr;
        skip[(*n_skip)++] = rs;
        y = nodes[rs].out[0];
    }
    int next = nbi_onnx_only_reader(im, y, nodes[i].op);
    return next >= 0 && !strcmp(nodes[next].in[0], y) ? next : -1;
}

/* Copies rows [G·H, cols] of direction d of t (ONNX gate order) into p (PyTorch's order):
 * torch's gate g is ONNX's gate from[g]; `off` skips the first values of each direction. */
static void copy_gates(float *p, const float *t, int64_t d, int64_t per_dir, int64_t off,
                       const int *from, int64_t G, int64_t H, int64_t cols) {
    const float *src = t + d * per_dir + off;
    for (int64_t g = 0; g < G; g++)
        memcpy(p + g * H * cols, src + from[g] * H * cols, sizeof(float) * (size_t)(H * cols));
}

/* The weights of stacked node r (layer l of nabla layer h), gate by gate. */
static nb_status fill_layer(importer *im, const rec_node *r, int l, int h, int64_t I) {
    const nbi_onnx_node *nd = &im->g->nodes[r->index];
    const int kind = nd->op[0];
    const int64_t G = kind == 'L' ? 4 : kind == 'G' ? 3 : 1, H = r->H;
    static const int lstm_from[4] = {0, 2, 3, 1}, gru_from[3] = {1, 0, 2}, rnn_from[1] = {0};
    const int *from = kind == 'L' ? lstm_from : kind == 'G' ? gru_from : rnn_from;
    const nbi_onnx_tensor *src[3] = {r->W, r->R, r->B};
    nb_status st = NB_OK;
    for (int s = 0; s < 3 && st == NB_OK; s++) {
        if (!src[s]) continue;
        float *v = nbi_malloc_for("nb_model_load_onnx", sizeof(float) * (size_t)src[s]->n);
        if (!v) return NB_ERR_NOMEM;
        st = nbi_onnx_floats(im->g, src[s], v);
        for (int d = 0; d < r->D && st == NB_OK; d++) {
            for (int part = 0; part < (s == 2 ? 2 : 1) && st == NB_OK; part++) {
                char name[200];
                snprintf(name, sizeof name, "%s.%s_%s_l%d%s", nb_model_node_name(im->m, h),
                         s == 2 ? "bias" : "weight", (s == 0 || (s == 2 && !part)) ? "ih" : "hh", l,
                         d ? "_reverse" : "");
                nb_tensor *p = nb_params_find(nb_model_params(im->m), name);
                int64_t cols = s == 0 ? I : s == 1 ? H : 1;
                if (!p || p->numel != G * H * cols) {
                    st = refuse(im, nd, NB_ERR_FORMAT, "the layer has no tensor %s", name);
                    break;
                }
                copy_gates(nb_f32(p), v, d, src[s]->n / r->D, part * G * H, from, G, H, cols);
            }
        }
        nbi_free(v);
    }
    return st;
}

nb_status nbi_onnx_recurrent(importer *im, int i) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    const int kind = nd->op[0];
    rec_node r[MAX_STACK];
    nb_status st = check_node(im, i, &r[0]);
    if (st != NB_OK) return st;
    val *x = nbi_onnx_input(im, nd, 0);
    if (!x || x->kind != V_NODE || x->layout != NBI_LAY_TNF)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "its input X must be a time-major sequence [T, N, F]: a Transpose "
                      "(perm 1, 0, 2) of a batch-first one, or the output of a recurrent node");
    int64_t shape[NB_MAX_RANK];
    nb_dtype dt;
    nb_model_node_shape(im->m, x->nb, &dt, shape); /* [T, I] */
    const int64_t I = shape[1], H = r[0].H;
    const int D = r[0].D;
    if ((st = check_w(im, &r[0], I)) != NB_OK) return st;
    /* the nodes stacked on it, with the same settings, reading nothing but the one before */
    int L = 1, skip[3 * MAX_STACK], n_skip = 0; /* per node: at most 2 between, itself */
    bool lone = is_read(im, i, 1) || is_read(im, i, 2);
    while (!lone && L < MAX_STACK) {
        int between[2] = {0, 0}, nb_between = 0,
            next = stacked_on(im, r[L - 1].index, D, H, between, &nb_between);
        if (next < 0 || check_node(im, next, &r[L]) != NB_OK || r[L].D != D || r[L].H != H ||
            r[L].relu != r[0].relu || !r[L].B != !r[0].B || check_w(im, &r[L], D * H) != NB_OK ||
            is_read(im, next, 1) || is_read(im, next, 2))
            break; /* processed on its own, which refuses it if it must be */
        for (int k = 0; k < nb_between; k++) skip[n_skip++] = between[k];
        skip[n_skip++] = next;
        L++;
    }
    int64_t weights = 0;
    for (int l = 0; l < L; l++) weights += r[l].W->n + r[l].R->n + (r[l].B ? r[l].B->n : 0);
    if ((st = nbi_onnx_take(im, nd, weights)) != NB_OK) return st;
    nb_rnn_layer_opts o = {.layers = L,
                           .bidirectional = D == 2,
                           .no_bias = !r[0].B,
                           .activation = r[0].relu ? NB_ACT_RELU : NB_ACT_NONE};
    int h = kind == 'L'   ? nb_model_lstm_on(im->m, x->nb, H, &o)
            : kind == 'G' ? nb_model_gru_on(im->m, x->nb, H, &o)
                          : nb_model_rnn_on(im->m, x->nb, H, &o);
    if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
    for (int l = 0; l < L && st == NB_OK; l++) st = fill_layer(im, &r[l], l, h, l ? D * H : I);
    if (st != NB_OK) return st;
    for (int k = 0; k < n_skip; k++) im->skip[skip[k]] = 1;
    const nbi_onnx_node *last = &im->g->nodes[r[L - 1].index];
    nbi_onnx_set_node(im, last, 0, h, NBI_LAY_TDNH, D); /* Y [T, D, N, H] */
    if (L == 1) {                                       /* Y_h [D, N, H] over h_n [D, H] */
        nbi_onnx_set_node(im, nd, 1, h + 1, NBI_LAY_TNF, 1);
        if (kind == 'L') nbi_onnx_set_node(im, nd, 2, h + 2, NBI_LAY_TNF, 1);
    }
    return NB_OK;
}
