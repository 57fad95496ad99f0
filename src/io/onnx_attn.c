/* io/onnx_attn.c — the ONNX import of nabla's own attention exports (io/onnx_export_seq.c):
 *
 *     MatMul(x, Transpose(E)) (+ b)   with E the weight of an embedding the graph has made:
 *                                     a tied_dense on that embedding (one shared parameter);
 *                                     of any other weight, a dense layer transposed
 *     Add(x, Slice(P, 0, T) on axis 0)   learned positions (P [max_len, E])
 *     multi-head self-attention       MatMul(x, W_in) (+ b_in) → Split in three on the last
 *                                     axis → Reshape [0, 0, H, d] → Transpose (q, v: 0 2 1 3;
 *                                     k: 0 2 3 1) → MatMul(q, k) → Mul(1/√d) → (Add of a causal
 *                                     mask: a constant [T, T] of 0 and −inf, or the Range /
 *                                     Greater / Where of it over x's length) → Softmax(−1) →
 *                                     MatMul(·, v) → Transpose(0 2 1 3) → Reshape [0, 0, E] →
 *                                     MatMul(·, W_out) (+ b_out): nb_model_attention_on
 *
 * The attention is recognised from its data flow, not its node names: from the in-projection
 * MatMul whose result only a Split reads, each value of the chain read by exactly the node
 * the pattern expects. Once the Split is seen the node is taken for an attention, and what
 * deviates (a head count that does not divide the width, a scale other than 1/√d, a mask
 * that is not causal, another permutation or reshape) is refused naming the node. The
 * transformer block's export reads back as its parts (layer norms, attention, residual Adds,
 * dense layers and the exact GELU), which compute the block's function. */
#include "io/onnx_import.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef nbi_onnx_importer importer;
typedef nbi_onnx_val val;

#define refuse nbi_onnx_refuse
#define MAX_PAT 40 /* the nodes of one attention pattern, the dynamic mask's included */

static const nbi_onnx_node *node_at(const importer *im, int k) {
    return &im->g->nodes[k];
}

int nbi_onnx_bias_add(const importer *im, const char *name, int64_t n, const nbi_onnx_tensor **b) {
    int k = nbi_onnx_only_reader(im, name, "Add");
    if (k < 0) return -1;
    const nbi_onnx_node *add = node_at(im, k);
    if (add->n_in != 2 || add->n_out != 1 || !add->out[0][0]) return -1;
    const val *c = nbi_onnx_input(im, add, !strcmp(add->in[0], name) ? 1 : 0);
    if (!c || c->kind != V_CONST || c->t->dtype != NBI_ONNX_FLOAT || c->t->n != n) return -1;
    *b = c->t;
    return k;
}

/* Value `name` becomes nabla node h, batch-first. */
static void set_val(importer *im, const char *name, int h) {
    val *o = nbi_onnx_find(im, name);
    o->kind = V_NODE;
    o->nb = h;
    o->gap = 0;
    o->layout = NBI_LAY_BATCH;
}

/* A float scalar constant. */
static int float_scalar(const importer *im, const val *c, float *v) {
    return c && c->kind == V_CONST && c->t->dtype == NBI_ONNX_FLOAT && c->t->n == 1 &&
           nbi_onnx_floats(im->g, c->t, v) == NB_OK;
}

/* An int64 scalar constant equal to want. */
static int int_scalar_is(const importer *im, const val *c, int64_t want) {
    int64_t v;
    return c && c->kind == V_CONST && c->t->dtype == NBI_ONNX_INT64 && c->t->n == 1 &&
           nbi_onnx_int64s(im->g, c->t, &v, 1) == NB_OK && v == want;
}

static bool perm_is(const nbi_onnx_node *nd, const int64_t *want, int n) {
    const nbi_onnx_attr *p = nbi_onnx_get_attr(nd, "perm");
    if (!p || p->n_ints != n) return false;
    for (int k = 0; k < n; k++)
        if (p->ints[k] != want[k]) return false;
    return true;
}

/* The axes of an Unsqueeze are exactly {want}. */
static bool unsqueeze_axis(const importer *im, const nbi_onnx_node *nd, int64_t want) {
    int64_t ax[NBI_ONNX_MAX_RANK];
    int n = 0;
    if (nd->n_in >= 2 && nd->in[1][0])
        return nbi_onnx_shape_arg(im, nbi_onnx_input(im, nd, 1), ax, &n) && n == 1 && ax[0] == want;
    const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, "axes");
    return a && a->n_ints == 1 && a->ints[0] == want;
}

/* The producer of value `name` when it is op `op` (reading a first input) and `name` has
 * `uses` readers; else -1. */
static int producer_is(const importer *im, const char *name, const char *op, int uses) {
    const val *v = nbi_onnx_find(im, name);
    if (!v || v->producer < 0 || v->uses != uses || v->kind == V_CONST) return -1;
    const nbi_onnx_node *nd = node_at(im, v->producer);
    return strcmp(nd->op, op) || nd->n_in < 1 || !nd->in[0][0] ? -1 : v->producer;
}

/* ---- tied heads and learned positions ------------------------------------------------------ */

/* MatMul node i by a Transpose of a weight [rows, cols]. */
nb_status nbi_onnx_matmul_transposed(importer *im, int i) {
    const nbi_onnx_node *nd = node_at(im, i);
    const val *wt = nbi_onnx_input(im, nd, 1);
    const nbi_onnx_tensor *w = wt->t, *b = NULL;
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    nb_status st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape);
    if (st != NB_OK) return st;
    const char *out = nd->out[0];
    int add = nbi_onnx_bias_add(im, out, w->dims[0], &b);
    int emb = -1;
    for (int k = 0; k < im->n_vals && emb < 0; k++)
        if (im->vals[k].kind == V_CONST && im->vals[k].t == w) emb = im->vals[k].emb;
    if (emb < 0) { /* no embedding reads it: a dense layer of the weight transposed */
        if (add >= 0) im->skip[add] = 1;
        return nbi_onnx_dense(im, nd, x, rank, shape, w, true, b,
                              add >= 0 ? node_at(im, add)->out[0] : out);
    }
    if (rank < 1 || shape[rank - 1] != w->dims[1] || x->gap)
        return refuse(im, nd, NB_ERR_FORMAT,
                      "a head tied to the embedding weight '%s' takes %lld features; the input "
                      "'%s' has %lld",
                      w->name, (long long)w->dims[1], x->name,
                      rank < 1 ? 0LL : (long long)shape[rank - 1]);
    if (b && (st = nbi_onnx_take(im, nd, b->n)) != NB_OK) return st;
    int h = nb_model_tied_dense_on(im->m, x->nb, nb_model_node_name(im->m, emb), b != NULL, NULL);
    if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
    if (b && (st = nbi_onnx_fill(im, nd, nb_model_params(im->m), h, "bias", b, false)) != NB_OK)
        return st;
    if (add >= 0) {
        im->skip[add] = 1;
        out = node_at(im, add)->out[0];
    }
    set_val(im, out, h);
    return NB_OK;
}

nb_status nbi_onnx_positional(importer *im, const nbi_onnx_node *nd, const nbi_onnx_tensor *p,
                              int64_t start, int64_t end, int64_t axis, int64_t step) {
    static const char why[] = "a Slice of a weight is read only as learned positions: Add(x, "
                              "Slice(table, 0, T) on axis 0) with x [batch, T, E]";
    int add = nbi_onnx_only_reader(im, nd->out[0], "Add");
    if (add < 0 || p->dtype != NBI_ONNX_FLOAT || p->rank != 2 || start != 0 || axis != 0 ||
        step != 1 || node_at(im, add)->n_in != 2)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "%s", why);
    const nbi_onnx_node *an = node_at(im, add);
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    nb_status st =
        nbi_onnx_computed(im, an, !strcmp(an->in[0], nd->out[0]) ? 1 : 0, &x, &rank, shape);
    if (st != NB_OK) return st;
    if (rank != 2 || x->gap || shape[1] != p->dims[1])
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "%s (the table '%s' has rows of %lld)", why,
                      p->name, (long long)p->dims[1]);
    if (shape[0] >= 0 ? end != shape[0] : end != NBI_SYM_UNKNOWN)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "%s: its end is not the length of the sequence it is added to", why);
    if (shape[0] > p->dims[0])
        return refuse(im, nd, NB_ERR_FORMAT, "%lld positions of a table '%s' of %lld",
                      (long long)shape[0], p->name, (long long)p->dims[0]);
    if ((st = nbi_onnx_take(im, nd, p->n)) != NB_OK) return st;
    int h = nb_model_positional_on(im->m, x->nb, p->dims[0], NULL, NULL);
    if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
    if ((st = nbi_onnx_fill(im, nd, nb_model_params(im->m), h, "weight", p, false)) != NB_OK)
        return st;
    im->skip[add] = 1;
    set_val(im, an->out[0], h);
    return NB_OK;
}

/* ---- attention -------------------------------------------------------------------------- */

typedef struct pattern {
    int n, idx[MAX_PAT];
} pattern;

/* The node alone reading `name` with op `op`, and reading it as input `slot` (-1: any); it
 * joins the pattern. -1 when there is none. */
static int next(const importer *im, pattern *pt, const char *name, const char *op, int slot) {
    int k = nbi_onnx_only_reader(im, name, op);
    if (k < 0 || node_at(im, k)->n_out < 1 || !node_at(im, k)->out[0][0]) return -1;
    if (slot >= 0 && (node_at(im, k)->n_in <= slot || strcmp(node_at(im, k)->in[slot], name)))
        return -1;
    if (pt->n < MAX_PAT) pt->idx[pt->n++] = k;
    return k;
}

static void add_node(pattern *pt, int k) {
    if (pt->n < MAX_PAT) pt->idx[pt->n++] = k;
}

/* The causal mask of length T: a constant [T, T] (0 on and below the diagonal, −inf above),
 * or built from x's length (Shape → Squeeze → Range → Unsqueeze ×2 → Greater → Where). */
static nb_status causal_mask(importer *im, pattern *pt, const nbi_onnx_node *add, const val *m,
                             const char *x, int64_t T) {
    static const char why[] = "the mask added to the attention scores is not causal (0 on and "
                              "below the diagonal, -inf above, [T, T] for the input's length T)";
    if (m->kind == V_CONST) {
        const nbi_onnx_tensor *t = m->t;
        if (T < 0 || t->dtype != NBI_ONNX_FLOAT || t->rank != 2 || t->dims[0] != T ||
            t->dims[1] != T)
            return refuse(im, add, NB_ERR_UNSUPPORTED, "%s", why);
        float *v = nbi_malloc_for("nb_model_load_onnx", sizeof(float) * (size_t)(T * T + 1));
        if (!v) return NB_ERR_NOMEM;
        nb_status st = nbi_onnx_floats(im->g, t, v);
        bool ok = st == NB_OK;
        for (int64_t i = 0; ok && i < T; i++)
            for (int64_t j = 0; ok && j < T; j++)
                ok = j > i ? (isinf(v[i * T + j]) && v[i * T + j] < 0) : v[i * T + j] == 0.0f;
        nbi_free(v);
        if (st != NB_OK) return st;
        return ok ? NB_OK : refuse(im, add, NB_ERR_UNSUPPORTED, "%s", why);
    }
    const nbi_onnx_node *g = im->g->nodes;
    int wh = producer_is(im, m->name, "Where", 1), gt = -1, r = -1, sq = -1, sh = -1, u0 = -1,
        u1 = -1;
    float ninf = 0, zero = 1;
    bool ok =
        wh >= 0 && g[wh].n_in == 3 && float_scalar(im, nbi_onnx_input(im, &g[wh], 1), &ninf) &&
        isinf(ninf) && ninf < 0 && float_scalar(im, nbi_onnx_input(im, &g[wh], 2), &zero) &&
        zero == 0.0f && (gt = producer_is(im, g[wh].in[0], "Greater", 1)) >= 0 && g[gt].n_in == 2 &&
        (u0 = producer_is(im, g[gt].in[0], "Unsqueeze", 1)) >= 0 &&
        (u1 = producer_is(im, g[gt].in[1], "Unsqueeze", 1)) >= 0 && unsqueeze_axis(im, &g[u0], 0) &&
        unsqueeze_axis(im, &g[u1], 1) && !strcmp(g[u0].in[0], g[u1].in[0]) &&
        (r = producer_is(im, g[u0].in[0], "Range", 2)) >= 0 && g[r].n_in == 3 &&
        int_scalar_is(im, nbi_onnx_input(im, &g[r], 0), 0) &&
        int_scalar_is(im, nbi_onnx_input(im, &g[r], 2), 1) &&
        (sq = producer_is(im, g[r].in[1], "Squeeze", 1)) >= 0 &&
        (sh = producer_is(im, g[sq].in[0], "Shape", 1)) >= 0 && !strcmp(g[sh].in[0], x) &&
        nbi_onnx_attr_i(&g[sh], "start", 0) == 1 && nbi_onnx_attr_i(&g[sh], "end", -1) == 2;
    if (!ok) return refuse(im, add, NB_ERR_UNSUPPORTED, "%s", why);
    const int parts[7] = {wh, gt, u0, u1, r, sq, sh};
    for (int k = 0; k < 7; k++) add_node(pt, parts[k]);
    return NB_OK;
}

/* The chain from the Split (node sp) on; x is the in-projection's input. */
static nb_status attention(importer *im, int i, int sp, const nbi_onnx_tensor *w_in,
                           const nbi_onnx_tensor *b_in, pattern *pt) {
    const nbi_onnx_node *mm = node_at(im, i), *g = im->g->nodes;
    const int64_t E = w_in->dims[0];
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK], t[NBI_ONNX_MAX_RANK];
    int n;
    nb_status st = nbi_onnx_computed(im, mm, 0, &x, &rank, shape);
    if (st != NB_OK) return st;
    if (rank != 2 || x->gap || shape[1] != E)
        return refuse(im, mm, NB_ERR_UNSUPPORTED,
                      "an attention's in-projection reads sequences [batch, T, %lld]",
                      (long long)E);
    const nbi_onnx_node *s = &g[sp];
    int64_t axis = nbi_onnx_attr_i(s, "axis", 0);
    bool sizes = s->n_in < 2 || !s->in[1][0] ||
                 (nbi_onnx_shape_arg(im, nbi_onnx_input(im, s, 1), t, &n) && n == 3 && t[0] == E &&
                  t[1] == E && t[2] == E);
    if (s->n_out != 3 || (axis != 2 && axis != -1) || !sizes || nbi_onnx_get_attr(s, "split"))
        return refuse(im, s, NB_ERR_UNSUPPORTED,
                      "an attention's Split must cut the projection into q, k, v of %lld "
                      "features each on the last axis",
                      (long long)E);
    /* q, k, v into heads: Reshape [0, 0, H, d] → Transpose */
    static const int64_t p0213[4] = {0, 2, 1, 3}, p0231[4] = {0, 2, 3, 1};
    static const char *const what[3] = {"queries", "keys", "values"};
    int64_t H = 0;
    int tr[3];
    for (int j = 0; j < 3; j++) {
        if (!s->out[j][0]) return refuse(im, s, NB_ERR_UNSUPPORTED, "an unnamed output");
        int rs = next(im, pt, s->out[j], "Reshape", 0);
        if (rs < 0) return refuse(im, s, NB_ERR_UNSUPPORTED, "its %s go to no Reshape", what[j]);
        if (!nbi_onnx_shape_arg(im, nbi_onnx_input(im, &g[rs], 1), t, &n) || n != 4 || t[0] != 0 ||
            t[1] != 0 || t[2] < 1 || t[3] < 1 || t[2] * t[3] != E || (H && t[2] != H) ||
            nbi_onnx_attr_i(&g[rs], "allowzero", 0) != 0)
            return refuse(im, &g[rs], NB_ERR_UNSUPPORTED,
                          "the %s of an attention must be reshaped to [0, 0, heads, %lld / "
                          "heads], with a head count that divides the width %lld (the same "
                          "for q, k and v)",
                          what[j], (long long)E, (long long)E);
        H = t[2];
        tr[j] = next(im, pt, g[rs].out[0], "Transpose", 0);
        if (tr[j] < 0 || !perm_is(&g[tr[j]], j == 1 ? p0231 : p0213, 4))
            return refuse(im, &g[rs], NB_ERR_UNSUPPORTED,
                          "the %s must go to a Transpose by perm %s", what[j],
                          j == 1 ? "0, 2, 3, 1" : "0, 2, 1, 3");
    }
    const int64_t d = E / H;
    int qk = next(im, pt, g[tr[0]].out[0], "MatMul", 0);
    if (qk < 0 || nbi_onnx_only_reader(im, g[tr[1]].out[0], "MatMul") != qk || g[qk].n_in != 2 ||
        strcmp(g[qk].in[1], g[tr[1]].out[0]))
        return refuse(im, &g[tr[0]], NB_ERR_UNSUPPORTED,
                      "the heads' queries and keys must meet in one MatMul (q · kᵀ)");
    int mul = next(im, pt, g[qk].out[0], "Mul", -1);
    float scale = 0;
    if (mul < 0 || g[mul].n_in != 2 ||
        !float_scalar(im, nbi_onnx_input(im, &g[mul], !strcmp(g[mul].in[0], g[qk].out[0])), &scale))
        return refuse(im, &g[qk], NB_ERR_UNSUPPORTED,
                      "the attention scores must be scaled by a Mul by a constant scalar");
    const float want = 1.0f / sqrtf((float)d);
    if (!(fabsf(scale - want) <= 1e-6f * want))
        return refuse(im, &g[mul], NB_ERR_UNSUPPORTED,
                      "the attention scores are scaled by %g; nabla's attention scales by "
                      "1/sqrt(%lld) = %g (heads of %lld features)",
                      (double)scale, (long long)d, (double)want, (long long)d);
    const char *sc = g[mul].out[0];
    int causal = 0, sm = next(im, pt, sc, "Softmax", 0);
    if (sm < 0) {
        int add = next(im, pt, sc, "Add", -1);
        if (add < 0 || g[add].n_in != 2)
            return refuse(im, &g[mul], NB_ERR_UNSUPPORTED,
                          "the scaled scores go to neither a Softmax nor the Add of a mask");
        const val *m = nbi_onnx_input(im, &g[add], !strcmp(g[add].in[0], sc));
        if (!m) return refuse(im, &g[add], NB_ERR_FORMAT, "an input is missing");
        if ((st = causal_mask(im, pt, &g[add], m, mm->in[0], shape[0])) != NB_OK) return st;
        causal = 1;
        sc = g[add].out[0];
        if ((sm = next(im, pt, sc, "Softmax", 0)) < 0)
            return refuse(im, &g[add], NB_ERR_UNSUPPORTED,
                          "the masked scores must go to a Softmax (a key mask is not read "
                          "back: nabla imports graphs of one input)");
    }
    int64_t sa = nbi_onnx_attr_i(&g[sm], "axis", -1);
    if (sa != -1 && sa != 3)
        return refuse(im, &g[sm], NB_ERR_UNSUPPORTED,
                      "an attention's Softmax must be over the keys (the last axis)");
    int av = next(im, pt, g[sm].out[0], "MatMul", 0);
    if (av < 0 || nbi_onnx_only_reader(im, g[tr[2]].out[0], "MatMul") != av || g[av].n_in != 2 ||
        strcmp(g[av].in[1], g[tr[2]].out[0]))
        return refuse(im, &g[sm], NB_ERR_UNSUPPORTED,
                      "the attention weights must go only to the MatMul with the values");
    int jt = next(im, pt, g[av].out[0], "Transpose", 0);
    if (jt < 0 || !perm_is(&g[jt], p0213, 4))
        return refuse(im, &g[av], NB_ERR_UNSUPPORTED,
                      "the heads' outputs must go to a Transpose by perm 0, 2, 1, 3");
    int jr = next(im, pt, g[jt].out[0], "Reshape", 0);
    if (jr < 0 || !nbi_onnx_shape_arg(im, nbi_onnx_input(im, &g[jr], 1), t, &n) || n != 3 ||
        t[0] != 0 || t[1] != 0 || (t[2] != E && t[2] != -1) ||
        nbi_onnx_attr_i(&g[jr], "allowzero", 0) != 0)
        return refuse(im, &g[jt], NB_ERR_UNSUPPORTED,
                      "the heads must be joined by a Reshape to [0, 0, %lld]", (long long)E);
    int op = next(im, pt, g[jr].out[0], "MatMul", 0);
    const val *wo = op >= 0 ? nbi_onnx_input(im, &g[op], 1) : NULL;
    if (!wo || wo->kind != V_CONST || wo->t->dtype != NBI_ONNX_FLOAT || wo->t->rank != 2 ||
        wo->t->dims[0] != E || wo->t->dims[1] != E)
        return refuse(im, &g[jr], NB_ERR_UNSUPPORTED,
                      "the joined heads must go to a MatMul by a weight [%lld, %lld] (the "
                      "output projection)",
                      (long long)E, (long long)E);
    const nbi_onnx_tensor *w_out = wo->t, *b_out = NULL;
    int ob = nbi_onnx_bias_add(im, g[op].out[0], E, &b_out);
    if ((ob >= 0) != (b_in != NULL))
        return refuse(im, &g[op], NB_ERR_UNSUPPORTED,
                      "nabla's attention has both projection biases or neither");
    if (ob >= 0) add_node(pt, ob);
    if ((st = nbi_onnx_take(im, mm, w_in->n + w_out->n + (b_in ? b_in->n + b_out->n : 0))) != NB_OK)
        return st;
    int h = nb_model_attention_on(
        im->m, x->nb, E,
        &(nb_attention_layer_opts){.heads = H, .causal = causal, .no_bias = b_in == NULL});
    if (h < 0) return nbi_onnx_set_out(im, mm, h, 0);
    nb_params *ps = nb_model_params(im->m);
    if ((st = nbi_onnx_fill(im, mm, ps, h, "in_proj_weight", w_in, false)) != NB_OK ||
        (st = nbi_onnx_fill(im, &g[op], ps, h, "out_proj.weight", w_out, false)) != NB_OK)
        return st;
    if (b_in && ((st = nbi_onnx_fill(im, mm, ps, h, "in_proj_bias", b_in, false)) != NB_OK ||
                 (st = nbi_onnx_fill(im, &g[op], ps, h, "out_proj.bias", b_out, false)) != NB_OK))
        return st;
    for (int k = 0; k < pt->n; k++) im->skip[pt->idx[k]] = 1;
    set_val(im, g[ob >= 0 ? ob : op].out[0], h);
    return NB_OK;
}

int nbi_onnx_attention(importer *im, int i, nb_status *st) {
    const nbi_onnx_node *mm = node_at(im, i);
    const val *wv = nbi_onnx_input(im, mm, 1);
    if (!wv || wv->kind != V_CONST || wv->t->dtype != NBI_ONNX_FLOAT || wv->t->rank != 2 ||
        wv->t->dims[0] < 1 || wv->t->dims[1] != 3 * wv->t->dims[0] || mm->n_out != 1)
        return 0;
    const val *x = nbi_onnx_input(im, mm, 0);
    if (x && x->kind == V_NODE && x->layout == NBI_LAY_TNF) {
        *st = refuse(im, mm, NB_ERR_UNSUPPORTED,
                     "an in-projection [%lld, %lld] of a time-major sequence: torch.onnx.export's "
                     "nn.MultiheadAttention form (heads folded into the batch, q, k, v cut by "
                     "Slices of computed shapes), which nabla does not import; nabla reads back "
                     "its own attention export (docs/onnx.md)",
                     (long long)wv->t->dims[0], (long long)wv->t->dims[1]);
        return 1;
    }
    const nbi_onnx_tensor *b_in = NULL;
    pattern pt = {0, {0}};
    const char *qkv = mm->out[0];
    int ab = nbi_onnx_bias_add(im, qkv, wv->t->dims[1], &b_in);
    if (ab >= 0) {
        qkv = node_at(im, ab)->out[0];
        add_node(&pt, ab);
    }
    int sp = next(im, &pt, qkv, "Split", 0);
    if (sp < 0) return 0;
    *st = attention(im, i, sp, wv->t, b_in, &pt);
    return 1;
}
