/* nn/add.c — the add layer (Keras's Add): the elementwise sum of n >= 2 nodes of one shape,
 *
 *     y = x_1 + x_2 + ... + x_n,        ∂L/∂x_i = ∂L/∂y
 *
 * the join of a residual connection (y = f(x) + x). A left fold of nb_add, so its backward is
 * the op's: the upstream gradient reaches every input unchanged. No parameters. */
#include "nn/nn.h"

#include <string.h>

static nb_status add_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    out[0] = in[0];
    for (int i = 1; i < n_in; i++) {
        bool same = in[i].rank == in[0].rank;
        for (int d = 0; same && d < in[0].rank; d++) {
            int64_t a = out[0].dim[d], b = in[i].dim[d];
            same = a < 0 || b < 0 || a == b;
            if (a < 0) out[0].dim[d] = b; /* a size known on one side is the size */
        }
        if (!same) {
            char a[128], b[128];
            nbi_layer_in_str(&in[0], a, sizeof a);
            nbi_layer_in_str(&in[i], b, sizeof b);
            return nbi_error(NB_ERR_SHAPE,
                             "add '%s': input %d %s does not match input 0 %s (the "
                             "nodes of an add must have one shape)",
                             l->name, i, b, a);
        }
    }
    *n_out = 1;
    return NB_OK;
}

static void add_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)l;
    nb_tensor *y = in[0];
    for (int i = 1; i < n_in; i++) y = nb_add(f->ctx, y, in[i]);
    out[0] = y;
}

static void add_spec(const nbi_layer *l, nbi_text *out) {
    (void)l;
    nbi_text_puts(out, "add");
}

static void add_view(const nbi_layer *l, nbi_layer_view *v) {
    (void)l;
    v->kind = NBI_VIEW_ADD;
}

static const nbi_layer_vt add_vt = {
    .kind = "Add",
    .stem = "add",
    .min_in = 2,
    .max_in = 0,
    .flags = NBI_LAYER_GRAPH,
    .infer = add_infer,
    .forward = add_forward,
    .spec = add_spec,
    .view = add_view,
};

int nb_model_add(nb_model *m, const int *in, int n, const char *name) {
    const char *fn = "nb_model_add";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (!in || n < 2)
        return -(int)nbi_error(NB_ERR_ARG, "%s: needs at least 2 nodes, got %d%s", fn, n,
                               in ? "" : " (NULL)");
    nbi_layer *l = nbi_malloc_for(fn, sizeof *l);
    if (!l) return -(int)NB_ERR_NOMEM;
    memset(l, 0, sizeof *l);
    l->vt = &add_vt;
    return nbi_model_push(m, l, in, n, name, fn);
}
