/* io/onnx_seq.c — the ONNX import of sequence models: around recurrent nodes (themselves in
 * io/onnx_rnn.c), embeddings (Gather of a weight by token ids), layer normalisation, the pick of
 * time steps (Gather or Slice on the time axis), and the small shape computations torch.onnx.export
 * writes around them (Shape → Gather → Unsqueeze → Concat → ConstantOfShape for a zero
 * initial state, or → Reshape for x.view(x.size(0), -1)).
 *
 * nabla's recurrent layers are batch-first ([N, T, F]); an ONNX recurrent node is time-major:
 * it reads X [T, N, F] and writes Y [T, D, N, H] (D directions). torch writes a Transpose
 * (perm 1, 0, 2) before it and, after it, a Squeeze of axis 1 (one direction) or a Transpose
 * (perm 0, 2, 1, 3) and a Reshape to [T, N, D·H] (two), then a Transpose back. None of these
 * moves data in nabla: each ONNX value keeps its nabla node and says how it lies over it
 * (nbi_onnx_val.layout), and only a recurrent node, those reshapes and a Transpose back may
 * read a time-major value (a Concat of time-major states, torch's h_n, and a Gather of one
 * of its rows too).
 *
 * Shapes are evaluated symbolically (nbi_onnx_val.sym): the batch dimension is NBI_SYM_BATCH,
 * a dimension known only at run time NBI_SYM_UNKNOWN, the rest numbers. */
#include "io/onnx_import.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef nbi_onnx_importer importer;
typedef nbi_onnx_val val;

#define refuse nbi_onnx_refuse

/* ---- symbolic shapes ------------------------------------------------------------------------ */

/* v as a small int64 vector or scalar: a V_SHAPE, or an int64 constant of at most 8 values. */
static int sym_of(const importer *im, const val *v, int64_t *out, int *n, int *rank) {
    if (!v) return 0;
    if (v->kind == V_SHAPE) {
        memcpy(out, v->sym, sizeof(int64_t) * (size_t)v->n_sym);
        *n = v->n_sym;
        *rank = v->sym_rank;
        return 1;
    }
    if (v->kind != V_CONST || v->t->dtype != NBI_ONNX_INT64 || v->t->rank > 1 ||
        v->t->n > NBI_ONNX_MAX_RANK)
        return 0;
    if (nbi_onnx_int64s(im->g, v->t, out, NBI_ONNX_MAX_RANK) != NB_OK) return 0;
    for (int64_t k = 0; k < v->t->n; k++)
        if (out[k] == NBI_SYM_BATCH || out[k] == NBI_SYM_UNKNOWN) return 0;
    *n = (int)v->t->n;
    *rank = v->t->rank;
    return 1;
}

int nbi_onnx_shape_arg(const importer *im, const val *s, int64_t *t, int *n) {
    int rank;
    return sym_of(im, s, t, n, &rank) && rank == 1;
}

static val *out_val(const importer *im, const nbi_onnx_node *nd, int k) {
    return k < nd->n_out && nd->out[k][0] ? nbi_onnx_find(im, nd->out[k]) : NULL;
}

static void set_sym(importer *im, const nbi_onnx_node *nd, int kind, int rank, const int64_t *s,
                    int n) {
    val *o = out_val(im, nd, 0);
    o->kind = kind;
    o->sym_rank = rank;
    o->n_sym = n;
    memcpy(o->sym, s, sizeof(int64_t) * (size_t)n);
}

/* The node's first output is nabla node h, lying over it as `layout`. */
void nbi_onnx_set_node(importer *im, const nbi_onnx_node *nd, int k, int h, int layout, int dirs) {
    val *o = out_val(im, nd, k);
    if (!o) return;
    o->kind = V_NODE;
    o->nb = h;
    o->gap = 0;
    o->layout = layout;
    o->dirs = dirs;
}

/* An axes list: input 1 (opset 13 on) or the attribute `axes`; n values into ax. */
nb_status nbi_onnx_axes(const importer *im, const nbi_onnx_node *nd, int64_t *ax, int *n) {
    int rank;
    *n = 0;
    if (nd->n_in >= 2 && nd->in[1][0]) {
        if (!sym_of(im, nbi_onnx_input(im, nd, 1), ax, n, &rank) || rank != 1)
            return refuse(im, nd, NB_ERR_UNSUPPORTED, "its axes must be a constant int64 list");
        return NB_OK;
    }
    const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, "axes");
    if (a) {
        if (a->n_ints > NBI_ONNX_MAX_RANK)
            return refuse(im, nd, NB_ERR_UNSUPPORTED, "more than 8 axes");
        memcpy(ax, a->ints, sizeof(int64_t) * (size_t)a->n_ints);
        *n = a->n_ints;
    }
    return NB_OK;
}

static nb_status op_shape(importer *im, const nbi_onnx_node *nd) {
    val *x = nbi_onnx_input(im, nd, 0);
    if (!x || x->kind != V_NODE || (x->layout != NBI_LAY_BATCH && x->layout != NBI_LAY_TNF))
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "Shape is supported of a computed value (batch-first or time-major)");
    int64_t shape[NB_MAX_RANK + 2], s[NBI_ONNX_MAX_RANK + 3];
    nb_dtype dt;
    int r = nb_model_node_shape(im->m, x->nb, &dt, shape), n = 0;
    if (x->gap) shape[r++] = 1, shape[r++] = 1;
    if (r + 1 > NBI_ONNX_MAX_RANK) return refuse(im, nd, NB_ERR_UNSUPPORTED, "rank above 8");
    if (x->layout == NBI_LAY_TNF) { /* [T, N, F] over nabla's [T, F] */
        s[n++] = shape[0] < 0 ? NBI_SYM_UNKNOWN : shape[0];
        s[n++] = NBI_SYM_BATCH;
        for (int k = 1; k < r; k++) s[n++] = shape[k] < 0 ? NBI_SYM_UNKNOWN : shape[k];
    } else {
        s[n++] = NBI_SYM_BATCH;
        for (int k = 0; k < r; k++) s[n++] = shape[k] < 0 ? NBI_SYM_UNKNOWN : shape[k];
    }
    int64_t a = nbi_onnx_attr_i(nd, "start", 0), b = nbi_onnx_attr_i(nd, "end", n);
    if (a < 0) a += n;
    if (b < 0) b += n;
    a = a < 0 ? 0 : a > n ? n : a;
    b = b < a ? a : b > n ? n : b;
    set_sym(im, nd, V_SHAPE, 1, s + a, (int)(b - a));
    return NB_OK;
}

static nb_status op_unsqueeze(importer *im, const nbi_onnx_node *nd, bool squeeze) {
    val *x = nbi_onnx_input(im, nd, 0);
    int64_t ax[NBI_ONNX_MAX_RANK], s[NBI_ONNX_MAX_RANK];
    int n_ax, n, rank;
    nb_status st = nbi_onnx_axes(im, nd, ax, &n_ax);
    if (st != NB_OK) return st;
    if (squeeze && x && x->kind == V_NODE && x->layout == NBI_LAY_TDNH) {
        /* Y [T, 1, N, H] of one direction → [T, N, H] */
        if (n_ax != 1 || (ax[0] != 1 && ax[0] != -3) || x->dirs != 1)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "only the Squeeze of axis 1 (the direction) of a one-direction "
                          "recurrent output is supported");
        nbi_onnx_set_node(im, nd, 0, x->nb, NBI_LAY_TNF, 1);
        return NB_OK;
    }
    if (!sym_of(im, x, s, &n, &rank))
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "%s is supported only in shape computations (of an int64 scalar or list) "
                      "and, Squeeze, of a recurrent output",
                      nd->op);
    if (n_ax != 1 || (squeeze ? (rank != 1 || n != 1 || (ax[0] != 0 && ax[0] != -1))
                              : (rank != 0 || (ax[0] != 0 && ax[0] != -1))))
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "%s of a shape value is supported only between a scalar and a list of one",
                      nd->op);
    set_sym(im, nd, V_SHAPE, squeeze ? 0 : 1, s, n);
    return NB_OK;
}

/* Concat of computed values of one layout (batch-first, or time-major as h_n of stacked
 * recurrent nodes) on an axis other than the batch's: nb_model_concat. */
static nb_status concat_nodes(importer *im, const nbi_onnx_node *nd) {
    const val *x0 = nbi_onnx_input(im, nd, 0);
    int in[NBI_ONNX_MAX_IO];
    int64_t shape[NB_MAX_RANK];
    nb_dtype dt;
    int rank = nb_model_node_shape(im->m, x0->nb, &dt, shape);
    for (int j = 0; j < nd->n_in; j++) {
        const val *x = nbi_onnx_input(im, nd, j);
        if (!x || x->kind != V_NODE || x->layout != x0->layout || x->gap ||
            (x->layout != NBI_LAY_BATCH && x->layout != NBI_LAY_TNF))
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "Concat is supported of computed values of one layout, and of int64 "
                          "lists (shape computations)");
        in[j] = x->nb;
    }
    int64_t axis = nbi_onnx_attr_i(nd, "axis", 0);
    if (axis < 0) axis += rank + 1;
    /* ONNX axis → nabla's per-sample axis: [N, ...] drops axis 0; [T, N, ...] drops axis 1 */
    int64_t a = x0->layout == NBI_LAY_BATCH ? axis - 1 : axis == 0 ? 0 : axis == 1 ? -1 : axis - 1;
    if (a < 0 || a >= rank)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "a Concat on the batch axis (axis %lld)",
                      (long long)nbi_onnx_attr_i(nd, "axis", 0));
    int h = nb_model_concat(im->m, in, nd->n_in, (int)a, NULL);
    nb_status st = nbi_onnx_set_out(im, nd, h, 0);
    if (st == NB_OK) nbi_onnx_set_node(im, nd, 0, h, x0->layout, 1);
    return st;
}

static nb_status op_concat(importer *im, const nbi_onnx_node *nd) {
    int64_t s[NBI_ONNX_MAX_RANK], p[NBI_ONNX_MAX_RANK];
    int n = 0, k, rank;
    const val *x0 = nbi_onnx_input(im, nd, 0);
    if (x0 && x0->kind == V_NODE) return concat_nodes(im, nd);
    if (nbi_onnx_attr_i(nd, "axis", 0) != 0 && nbi_onnx_attr_i(nd, "axis", 0) != -1)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "Concat is supported only of int64 lists (shape computations)");
    for (int j = 0; j < nd->n_in; j++) {
        if (!sym_of(im, nbi_onnx_input(im, nd, j), p, &k, &rank) || rank != 1)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "Concat is supported only of int64 lists (shape computations); '%s' "
                          "is not one (a Concat of weights: export with constant folding, "
                          "torch.onnx.export's default)",
                          nd->in[j]);
        if (n + k > NBI_ONNX_MAX_RANK)
            return refuse(im, nd, NB_ERR_UNSUPPORTED, "a shape of more than 8 values");
        memcpy(s + n, p, sizeof(int64_t) * (size_t)k);
        n += k;
    }
    set_sym(im, nd, V_SHAPE, 1, s, n);
    return NB_OK;
}

static nb_status op_constant_of_shape(importer *im, const nbi_onnx_node *nd) {
    int64_t s[NBI_ONNX_MAX_RANK];
    int n, rank;
    if (!sym_of(im, nbi_onnx_input(im, nd, 0), s, &n, &rank) || rank != 1)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "its shape must be an int64 list");
    const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, "value");
    if (a && a->has_t) {
        float f = 1;
        int64_t i = 1;
        bool zero = a->t.n == 1 && ((a->t.dtype == NBI_ONNX_FLOAT &&
                                     nbi_onnx_floats(im->g, &a->t, &f) == NB_OK && f == 0.0f) ||
                                    (a->t.dtype == NBI_ONNX_INT64 &&
                                     nbi_onnx_int64s(im->g, &a->t, &i, 1) == NB_OK && i == 0));
        if (!zero)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "only zeros are supported (a recurrent node's initial state)");
    }
    set_sym(im, nd, V_ZEROS, 1, s, n);
    return NB_OK;
}

/* ---- steps of a sequence ------------------------------------------------------------------ */

/* Positions [start, start + len) of x's per-sample axis 0 (of T), as a node; squeeze: drop
 * that axis (len 1 of a sequence of vectors). */
static nb_status pick_steps(importer *im, const nbi_onnx_node *nd, const val *x, int rank,
                            const int64_t *shape, int64_t start, int64_t len, bool squeeze) {
    /* a time-major value (h_n [L·D, N, H]) keeps its layout unless the axis goes */
    int layout = squeeze ? NBI_LAY_BATCH : x->layout;
    int64_t T = shape[0];
    if (x->gap || rank < 1)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "picks steps of a value that is no sequence");
    if (T < 0)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "picks steps of a sequence whose length is known only at run time "
                      "(give the graph input a fixed sequence length)");
    if (start < 0 || len < 1 || len > T || start > T - len)
        return refuse(im, nd, NB_ERR_FORMAT, "%lld steps from step %lld of a sequence of %lld",
                      (long long)len, (long long)start, (long long)T);
    if (squeeze && rank != 2)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "picks one step of samples of rank %d: only sequences of vectors [T, F]",
                      rank);
    int h = x->nb;
    if (len < T) {
        int64_t sizes[3];
        int n = 0, part = 0;
        if (start > 0) sizes[n++] = start, part = 1;
        sizes[n++] = len;
        if (start + len < T) sizes[n++] = T - start - len;
        h = nb_model_split(im->m, x->nb, sizes, n, 0, NULL);
        if (h < 0) return nbi_onnx_set_out(im, nd, h, 0);
        h += part;
    }
    if (squeeze) h = nb_model_flatten_on(im->m, h, NULL); /* [1, F] → [F] */
    nb_status st = nbi_onnx_set_out(im, nd, h, 0);
    if (st == NB_OK) nbi_onnx_set_node(im, nd, 0, h, layout, 1);
    return st;
}

/* The per-sample time axis of x (ONNX axis 1 of a batch-first value), or -1. */
static int64_t time_axis(const val *x, int rank, int64_t axis) {
    if (axis < 0) axis += rank + 1;
    return axis == 1 ? 0 : -1;
}

static nb_status op_slice(importer *im, const nbi_onnx_node *nd) {
    val *x = nbi_onnx_input(im, nd, 0);
    int64_t st_[NBI_ONNX_MAX_RANK], en[NBI_ONNX_MAX_RANK], ax[NBI_ONNX_MAX_RANK] = {0},
                                                           sp[NBI_ONNX_MAX_RANK] = {1};
    int n = 0, k, rank;
    if (nd->n_in >= 3) {
        if (!sym_of(im, nbi_onnx_input(im, nd, 1), st_, &n, &rank) ||
            !sym_of(im, nbi_onnx_input(im, nd, 2), en, &k, &rank) || k != n ||
            (nbi_onnx_input(im, nd, 3) &&
             (!sym_of(im, nbi_onnx_input(im, nd, 3), ax, &k, &rank) || k != n)) ||
            (nbi_onnx_input(im, nd, 4) &&
             (!sym_of(im, nbi_onnx_input(im, nd, 4), sp, &k, &rank) || k != n)))
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "its starts, ends, axes and steps must be int64 constants");
        if (!nbi_onnx_input(im, nd, 3))
            for (int j = 0; j < n; j++) ax[j] = j;
        if (!nbi_onnx_input(im, nd, 4))
            for (int j = 0; j < n; j++) sp[j] = 1;
    } else { /* opset < 10: attributes */
        const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, "starts"),
                            *b = nbi_onnx_get_attr(nd, "ends"), *c = nbi_onnx_get_attr(nd, "axes");
        if (!a || !b || a->n_ints != b->n_ints || a->n_ints > NBI_ONNX_MAX_RANK ||
            (c && c->n_ints != a->n_ints))
            return refuse(im, nd, NB_ERR_FORMAT, "starts and ends of different lengths");
        n = a->n_ints;
        for (int j = 0; j < n; j++)
            st_[j] = a->ints[j], en[j] = b->ints[j], ax[j] = c ? c->ints[j] : j, sp[j] = 1;
    }
    if (x && x->kind == V_CONST && x->t->dtype == NBI_ONNX_FLOAT) {
        /* learned positions (io/onnx_attn.c) */
        if (n == 1 && x->t->rank == 2 && nbi_onnx_only_reader(im, nd->out[0], "Add") >= 0)
            return nbi_onnx_positional(im, nd, x->t, st_[0], en[0], ax[0], sp[0]);
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "a Slice of the initializer '%s': export with constant folding "
                      "(torch.onnx.export's default), which stores a recurrent node's weights "
                      "whole",
                      x->name);
    }
    if (n != 1 || sp[0] != 1)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "only a Slice of one axis with step 1");
    if (st_[0] <= NBI_SYM_UNKNOWN || en[0] <= NBI_SYM_UNKNOWN || ax[0] <= NBI_SYM_UNKNOWN)
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "starts, ends and axes known only at run time");
    if (x && x->kind == V_ZEROS) { /* a part of a zero state is zeros */
        set_sym(im, nd, V_ZEROS, 1, x->sym, x->n_sym);
        return NB_OK;
    }
    int64_t s[NBI_ONNX_MAX_RANK];
    int m;
    int64_t len;
    if (sym_of(im, x, s, &m, &rank)) {
        if (rank != 1 || (ax[0] != 0 && ax[0] != -1))
            return refuse(im, nd, NB_ERR_UNSUPPORTED, "a Slice of a shape on another axis");
        len = m;
    } else {
        int64_t shape[NB_MAX_RANK];
        val *xv;
        nb_status e = nbi_onnx_computed(im, nd, 0, &xv, &rank, shape);
        if (e != NB_OK) return e;
        if (time_axis(xv, rank, ax[0]) < 0)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "a Slice of axis %lld: only the time axis (1) of a sequence",
                          (long long)ax[0]);
        len = shape[0];
        if (len < 0)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "a Slice of a sequence whose length is known only at run time");
        int64_t a = st_[0] < 0 ? st_[0] + len : st_[0], b = en[0] < 0 ? en[0] + len : en[0];
        a = a < 0 ? 0 : a > len ? len : a;
        b = b < a ? a : b > len ? len : b;
        return pick_steps(im, nd, xv, rank, shape, a, b - a, false);
    }
    int64_t a = st_[0] < 0 ? st_[0] + len : st_[0], b = en[0] < 0 ? en[0] + len : en[0];
    a = a < 0 ? 0 : a > len ? len : a;
    b = b < a ? a : b > len ? len : b;
    set_sym(im, nd, V_SHAPE, 1, s + a, (int)(b - a));
    return NB_OK;
}

/* Gather: of a shape (shape computations), of a weight by token ids (an embedding), or of one
 * step of a sequence (x[:, k, :]). */
static nb_status op_gather(importer *im, const nbi_onnx_node *nd) {
    val *data = nbi_onnx_input(im, nd, 0), *idx = nbi_onnx_input(im, nd, 1);
    int64_t axis = nbi_onnx_attr_i(nd, "axis", 0);
    int64_t s[NBI_ONNX_MAX_RANK], ix[NBI_ONNX_MAX_RANK];
    int n, rank, ni, irank;
    if (!data || !idx) return refuse(im, nd, NB_ERR_FORMAT, "Gather takes two inputs");
    if (sym_of(im, idx, ix, &ni, &irank))
        for (int k = 0; k < ni; k++)
            if (ix[k] <= NBI_SYM_UNKNOWN)
                return refuse(im, nd, NB_ERR_UNSUPPORTED, "indices known only at run time");
    if (sym_of(im, data, s, &n, &rank)) {
        if (rank != 1 || axis != 0 || !sym_of(im, idx, ix, &ni, &irank))
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "a Gather of a shape by constant indices on axis 0 only");
        for (int k = 0; k < ni; k++) {
            if (ix[k] < 0) ix[k] += n;
            if (ix[k] < 0 || ix[k] >= n)
                return refuse(im, nd, NB_ERR_FORMAT, "index %lld of a shape of %d values",
                              (long long)ix[k], n);
            ix[k] = s[ix[k]];
        }
        set_sym(im, nd, V_SHAPE, irank, ix, ni);
        return NB_OK;
    }
    if (data->kind == V_CONST) { /* an embedding: weight [vocab, dim] by token ids */
        const nbi_onnx_tensor *w;
        val *x;
        int64_t shape[NB_MAX_RANK];
        nb_status st;
        if ((st = nbi_onnx_constant(im, nd, 0, 2, false, &w)) != NB_OK ||
            (st = nbi_onnx_computed(im, nd, 1, &x, &rank, shape)) != NB_OK)
            return st;
        nb_dtype dt;
        nb_model_node_shape(im->m, x->nb, &dt, shape);
        if (axis != 0 || dt != NB_I32)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "a Gather of the weight '%s' is an embedding only on axis 0 by "
                          "integer token ids (the graph's int64 or int32 input)",
                          w->name);
        if (w->dims[0] < 1 || w->dims[1] < 1)
            return refuse(im, nd, NB_ERR_FORMAT, "the embedding weight '%s' is empty", w->name);
        if ((st = nbi_onnx_take(im, nd, w->n)) != NB_OK) return st;
        int h = nb_model_embedding_on(im->m, x->nb, w->dims[0], w->dims[1], NULL);
        if (h >= 0) {
            char name[160];
            snprintf(name, sizeof name, "%s.weight", nb_model_node_name(im->m, h));
            nb_tensor *p = nb_params_find(nb_model_params(im->m), name);
            if (!p || p->numel != w->n)
                return refuse(im, nd, NB_ERR_FORMAT, "the embedding weight '%s' does not fit",
                              w->name);
            if ((st = nbi_onnx_floats(im->g, w, nb_f32(p))) != NB_OK) return st;
            data->emb = h; /* a tied head may share it (io/onnx_attn.c) */
        }
        return nbi_onnx_set_out(im, nd, h, 0);
    }
    val *x;
    int64_t shape[NB_MAX_RANK];
    if (data->kind == V_NODE && data->layout == NBI_LAY_TNF && !data->gap) {
        /* h_n[k] of a state [L·D, N, H] (over nabla's [L·D, H]): axis 0 */
        nb_dtype dt;
        rank = nb_model_node_shape(im->m, data->nb, &dt, shape);
        if (!sym_of(im, idx, ix, &ni, &irank) || ni != 1 || (axis != 0 && axis != -rank - 1))
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "a Gather of a time-major value is supported only on axis 0 with one "
                          "constant index (h_n[k])");
        int64_t k = ix[0] < 0 && shape[0] >= 0 ? ix[0] + shape[0] : ix[0];
        return pick_steps(im, nd, data, rank, shape, k, 1, irank == 0);
    }
    nb_status st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape);
    if (st != NB_OK) return st;
    if (!sym_of(im, idx, ix, &ni, &irank) || ni != 1 || time_axis(x, rank, axis) < 0)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "a Gather of a computed value is supported only as one step of a "
                      "sequence (axis 1, one constant index: x[:, k, :])");
    int64_t k = ix[0] < 0 && shape[0] >= 0 ? ix[0] + shape[0] : ix[0];
    return pick_steps(im, nd, x, rank, shape, k, 1, irank == 0);
}

/* ---- transposes and reshapes around recurrent nodes ---------------------------------------- */

static bool perm_is(const nbi_onnx_attr *p, const int64_t *want, int n) {
    if (!p || p->n_ints != n) return false;
    for (int k = 0; k < n; k++)
        if (p->ints[k] != want[k]) return false;
    return true;
}

static nb_status op_transpose(importer *im, const nbi_onnx_node *nd) {
    val *x = nbi_onnx_input(im, nd, 0);
    const nbi_onnx_attr *p = nbi_onnx_get_attr(nd, "perm");
    static const int64_t swap[3] = {1, 0, 2}, dirs[4] = {0, 2, 1, 3};
    if (x && x->kind == V_CONST) {
        /* a weight [r, c] transposed for a MatMul (a tied head): io/onnx_attn.c */
        static const int64_t p10[2] = {1, 0};
        bool matmuls =
            x->t->dtype == NBI_ONNX_FLOAT && x->t->rank == 2 && (!p || perm_is(p, p10, 2));
        const val *o = nd->n_out == 1 ? out_val(im, nd, 0) : NULL;
        for (int k = 0; matmuls && o && k < im->g->n_nodes; k++) {
            const nbi_onnx_node *r = &im->g->nodes[k];
            for (int j = 0; j < r->n_in; j++)
                if (!strcmp(r->in[j], o->name) && (strcmp(r->op, "MatMul") || j != 1))
                    matmuls = false;
        }
        if (!matmuls || !o)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "a Transpose of the initializer '%s' is read only as a weight [r, c] "
                          "of MatMuls (a tied head); else export with constant folding "
                          "(torch.onnx.export's default), which stores the weight transposed",
                          x->name);
        val *ov = out_val(im, nd, 0);
        ov->kind = V_TRANSPOSED;
        ov->t = x->t;
        return NB_OK;
    }
    if (x && x->kind == V_NODE && !x->gap) {
        int64_t shape[NB_MAX_RANK];
        nb_dtype dt;
        int rank = nb_model_node_shape(im->m, x->nb, &dt, shape);
        if (x->layout == NBI_LAY_BATCH && rank == 2 && perm_is(p, swap, 3)) {
            nbi_onnx_set_node(im, nd, 0, x->nb, NBI_LAY_TNF, 1);
            return NB_OK;
        }
        if (x->layout == NBI_LAY_TNF && perm_is(p, swap, 3)) {
            nbi_onnx_set_node(im, nd, 0, x->nb, NBI_LAY_BATCH, 1);
            return NB_OK;
        }
        if (x->layout == NBI_LAY_TDNH && perm_is(p, dirs, 4)) {
            nbi_onnx_set_node(im, nd, 0, x->nb, NBI_LAY_TNDH, x->dirs);
            return NB_OK;
        }
    }
    return refuse(im, nd, NB_ERR_UNSUPPORTED,
                  "only the Transposes around a recurrent node are supported (perm 1, 0, 2 "
                  "between batch-first [N, T, F] and time-major [T, N, F]; perm 0, 2, 1, 3 of "
                  "its output)");
}

/* Reshape of a two-direction output [T, N, D, H] to [T, N, D·H]. */
static nb_status op_reshape_dirs(importer *im, const nbi_onnx_node *nd, const val *x) {
    int64_t t[NBI_ONNX_MAX_RANK], shape[NB_MAX_RANK];
    int n = 0;
    nb_dtype dt;
    nb_model_node_shape(im->m, x->nb, &dt, shape); /* [T, D·H] */
    if (!nbi_onnx_shape_arg(im, nbi_onnx_input(im, nd, 1), t, &n) || n != 3 ||
        !(t[0] == 0 || (shape[0] >= 0 && t[0] == shape[0])) ||
        !(t[1] == 0 || t[1] == NBI_SYM_BATCH) || !(t[2] == -1 || t[2] == shape[1]) ||
        nbi_onnx_attr_i(nd, "allowzero", 0) != 0)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "a recurrent output [T, N, D, H] is reshaped only to [T, N, D·H]");
    nbi_onnx_set_node(im, nd, 0, x->nb, NBI_LAY_TNF, 1);
    return NB_OK;
}

/* ---- layer normalisation -------------------------------------------------------------------- */

static nb_status op_layernorm(importer *im, const nbi_onnx_node *nd) {
    val *x;
    int rank;
    int64_t shape[NB_MAX_RANK];
    const nbi_onnx_tensor *scale, *bias;
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 1, -1, false, &scale)) != NB_OK ||
        (st = nbi_onnx_constant(im, nd, 2, -1, true, &bias)) != NB_OK)
        return st;
    int64_t axis = nbi_onnx_attr_i(nd, "axis", -1);
    if (axis < 0) axis += rank + 1;
    if (axis != rank || x->gap || rank < 1)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "axis %lld: only the last axis is normalised by nabla's layer_norm",
                      (long long)nbi_onnx_attr_i(nd, "axis", -1));
    for (int k = 1; k < nd->n_out; k++)
        if (nd->out[k][0] && nbi_onnx_find(im, nd->out[k])->uses)
            return refuse(im, nd, NB_ERR_UNSUPPORTED,
                          "its Mean and InvStdDev outputs are not "
                          "supported");
    float eps = nbi_onnx_attr_f(nd, "epsilon", 1e-5f);
    if (!(eps > 0.0f) || !isfinite(eps))
        return refuse(im, nd, NB_ERR_UNSUPPORTED, "epsilon %g (must be positive)", (double)eps);
    const int64_t F = shape[rank - 1];
    if (F < 1 || scale->n != F || (bias && bias->n != F))
        return refuse(im, nd, NB_ERR_FORMAT,
                      "the scale '%s' (and bias) should have %lld values, one per feature",
                      scale->name, (long long)F);
    if ((st = nbi_onnx_take(im, nd, 2 * F)) != NB_OK) return st;
    int h = nb_model_layer_norm_on(im->m, x->nb, &(nb_norm_layer_opts){.eps = eps});
    const nbi_onnx_tensor *t[2] = {scale, bias};
    for (int k = 0; h >= 0 && k < 2; k++) {
        if (!t[k]) continue; /* no bias: the layer's zeros */
        char name[160];
        snprintf(name, sizeof name, "%s.%s", nb_model_node_name(im->m, h), k ? "bias" : "weight");
        nb_tensor *p = nb_params_find(nb_model_params(im->m), name);
        if (!p || p->numel != F) return refuse(im, nd, NB_ERR_FORMAT, "no tensor %s", name);
        if ((st = nbi_onnx_floats(im->g, t[k], nb_f32(p))) != NB_OK) return st;
    }
    return nbi_onnx_set_out(im, nd, h, 0);
}

/* ReduceMean over the time axis of sequences [N, T, C] (axes [1], keepdims 0: torch's
 * x.mean(dim=1)) → global_avg_pool1d. */
static nb_status op_reduce_mean(importer *im, const nbi_onnx_node *nd) {
    val *x;
    int rank, n = 0;
    int64_t shape[NB_MAX_RANK], ax[NBI_ONNX_MAX_RANK];
    nb_status st;
    if ((st = nbi_onnx_computed(im, nd, 0, &x, &rank, shape)) != NB_OK ||
        (st = nbi_onnx_axes(im, nd, ax, &n)) != NB_OK)
        return st;
    if (n == 1 && ax[0] < 0) ax[0] += rank + 1;
    if (rank != 2 || x->gap || n != 1 || ax[0] != 1 || nbi_onnx_attr_i(nd, "keepdims", 1) != 0 ||
        nbi_onnx_attr_i(nd, "noop_with_empty_axes", 0) != 0)
        return refuse(im, nd, NB_ERR_UNSUPPORTED,
                      "only the mean over the time axis of sequences [batch, T, C] (axes [1], "
                      "keepdims 0) is supported");
    return nbi_onnx_set_out(im, nd, nb_model_global_avg_pool1d_on(im->m, x->nb, NULL), 0);
}

int nbi_onnx_run_seq(importer *im, int i, nb_status *st) {
    const nbi_onnx_node *nd = &im->g->nodes[i];
    const char *op = nd->op;
    if (!strcmp(op, "LSTM") || !strcmp(op, "GRU") || !strcmp(op, "RNN"))
        *st = nbi_onnx_recurrent(im, i);
    else if (!strcmp(op, "Transpose"))
        *st = op_transpose(im, nd);
    else if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze"))
        *st = op_unsqueeze(im, nd, op[0] == 'S');
    else if (!strcmp(op, "Shape"))
        *st = op_shape(im, nd);
    else if (!strcmp(op, "Concat"))
        *st = op_concat(im, nd);
    else if (!strcmp(op, "ConstantOfShape"))
        *st = op_constant_of_shape(im, nd);
    else if (!strcmp(op, "Slice"))
        *st = op_slice(im, nd);
    else if (!strcmp(op, "Gather"))
        *st = op_gather(im, nd);
    else if (!strcmp(op, "LayerNormalization"))
        *st = op_layernorm(im, nd);
    else if (!strcmp(op, "ReduceMean"))
        *st = op_reduce_mean(im, nd);
    else if (!strcmp(op, "Reshape") && nbi_onnx_input(im, nd, 0) &&
             nbi_onnx_input(im, nd, 0)->kind == V_NODE &&
             nbi_onnx_input(im, nd, 0)->layout == NBI_LAY_TNDH)
        *st = op_reshape_dirs(im, nd, nbi_onnx_input(im, nd, 0));
    else
        return 0;
    return 1;
}
