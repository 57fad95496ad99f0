/* nn/view.c — a model's layers as the layers above nn see them: each kind's settings and
 * tensors through its table's `view` (nn/nn.h), without reaching into the layer structs. The
 * int8 quantizer (quant/) plans a quantized model from these views, on a trained model or on
 * a dry one built from a stored spec. The ONNX export (io/onnx_export.c) walks the calls
 * (nbi_model_call_view) and writes each layer from its view. */
#include "nn/model.h"

#include <string.h>

nb_status nbi_model_layer_view(const nb_model *m, int i, nbi_layer_view *v, const char **name,
                               int *first_param) {
    if (!m || !v) return nbi_error(NB_ERR_ARG, "nbi_model_layer_view: NULL argument");
    if (i < 0 || i >= m->n_layers)
        return nbi_error(NB_ERR_ARG, "nbi_model_layer_view: layer %d of %d", i, m->n_layers);
    const nbi_layer *l = m->layers[i];
    memset(v, 0, sizeof *v);
    v->kind = NBI_VIEW_OTHER;
    if (l->vt->view) l->vt->view(l, v);
    if (name) *name = l->name;
    if (first_param) *first_param = l->n_params > 0 ? l->first_param : -1;
    return NB_OK;
}

int nbi_model_call_count(const nb_model *m) {
    return m ? m->n_calls : 0;
}

nb_status nbi_model_call_view(const nb_model *m, int c, int *layer, int *in, int *n_in,
                              int *first_out, int *n_out) {
    if (!m || c < 0 || c >= m->n_calls)
        return nbi_error(NB_ERR_ARG, "nbi_model_call_view: call %d of %d", c, m ? m->n_calls : 0);
    const nbi_call *k = &m->calls[c];
    const int *ins = nbi_call_in(k);
    int n = k->n_in < NBI_VIEW_MAX_IN ? k->n_in : NBI_VIEW_MAX_IN;
    for (int i = 0; i < n; i++) in[i] = ins[i] + 1; /* a handle; 0: not given */
    *n_in = n;
    *layer = k->layer;
    *first_out = k->first_out + 1;
    *n_out = k->n_out;
    return NB_OK;
}
