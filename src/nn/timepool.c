/* nn/timepool.c — global average pooling over time: a sequence of vectors [T, C] per sample
 * (a recurrent layer's outputs, frames of features) → their mean [C] (Keras'
 * GlobalAveragePooling1D with channels last; in PyTorch y.mean(dim=1) on batch-first y). It
 * turns a sequence model into a classifier of whole utterances: a GRU over spectrogram frames,
 * then this, then a dense head. T may be known only at run time. */
#include "nn/nn.h"

#include <string.h>

static nb_status tap_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    if (in[0].rank != 2 || in[0].dim[1] < 1) {
        char b[128];
        nbi_layer_in_str(&in[0], b, sizeof b);
        return nbi_error(NB_ERR_SHAPE,
                         "global_avgpool1d '%s': input %s must have samples [T, C] (a sequence "
                         "of C-vectors)",
                         l->name, b);
    }
    out[0].dtype = NB_F32;
    out[0].rank = 1;
    out[0].dim[0] = in[0].dim[1];
    *n_out = 1;
    return NB_OK;
}

static void tap_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)l;
    (void)n_in;
    out[0] = nb_mean(f->ctx, in[0], 1u << 1, 0); /* [B, T, C] → [B, C] */
}

static void tap_spec(const nbi_layer *l, nbi_text *out) {
    (void)l;
    nbi_text_puts(out, "global_avgpool1d");
}

static void tap_view(const nbi_layer *l, nbi_layer_view *v) {
    (void)l;
    v->kind = NBI_VIEW_GLOBAL_AVGPOOL1D;
}

static const nbi_layer_vt tap_vt = {
    .kind = "GlobalAvgPool1D",
    .stem = "global_avgpool1d",
    .min_in = 1,
    .max_in = 1,
    .infer = tap_infer,
    .forward = tap_forward,
    .spec = tap_spec,
    .view = tap_view,
};

int nb_model_global_avg_pool1d_on(nb_model *m, int x, const char *name) {
    const char *fn = "nb_model_global_avg_pool1d";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    nbi_layer *l = nbi_malloc_for(fn, sizeof *l);
    if (!l) return -(int)NB_ERR_NOMEM;
    memset(l, 0, sizeof *l);
    l->vt = &tap_vt;
    return nbi_model_push(m, l, &x, 1, name, fn);
}

nb_status nb_model_global_avg_pool1d(nb_model *m) {
    return nbi_node_status(nb_model_global_avg_pool1d_on(m, nbi_model_last(m), NULL));
}
