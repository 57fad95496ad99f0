/* nn/tensors.c — a model's tensors as model files store them: every parameter, every state
 * tensor and every integer buffer PyTorch keeps that nabla does not, each with PyTorch's name
 * and layout. This is the whole of what src/io needs to know about a model's insides.
 *
 * Names. A chain of layers is a torch nn.Sequential: layer l's tensors are
 * "<module index>.<what>", the module index counting the modules each layer stands for (a
 * dense layer with an activation is nn.Linear then the activation: 2). Any other graph is a
 * torch module whose submodules are named after the layers: "<layer>.<what>", which is
 * nabla's own name. Layout: a parameter whose layer's table marks it transposed (the dense
 * weight: [in, out] here, [out, in] in nn.Linear) is stored in torch's layout. */
#include "nn/model.h"

#include <stdio.h>
#include <string.h>

int nb_model_tensor_count(const nb_model *m) {
    return m ? m->params->n + m->state->n + m->n_counters : 0;
}

nb_status nb_model_tensor_at(const nb_model *m, int i, nb_model_tensor *out) {
    const char *fn = "nb_model_tensor_at";
    if (!m || !out) return nbi_error(NB_ERR_ARG, "%s: NULL %s", fn, m ? "out" : "model");
    memset(out, 0, sizeof *out);
    int np = m->params->n, ns = m->state->n;
    if (i < 0 || i >= nb_model_tensor_count(m))
        return nbi_error(NB_ERR_ARG, "%s: tensor %d of %d", fn, i, nb_model_tensor_count(m));
    bool chain = nbi_model_is_chain(m);
    if (i >= np + ns) { /* a counter */
        const nbi_layer *l = m->layers[m->counters[i - np - ns]];
        if (chain)
            snprintf(out->name, sizeof out->name, "%d.%s", l->torch_index, l->vt->torch_counter);
        else
            snprintf(out->name, sizeof out->name, "%s.%s", l->name, l->vt->torch_counter);
        out->role = NB_ROLE_COUNTER;
        out->rank = 0;
        return NB_OK;
    }
    bool state = i >= np;
    const nbi_param *p = nbi_params_item(state ? m->state : m->params, state ? i - np : i);
    if (p->owner < 0 || p->owner >= m->n_layers)
        return nbi_error(NB_ERR_ARG,
                         "%s: %s '%s' belongs to no layer of the model (added to "
                         "its store by hand?)",
                         fn, state ? "state tensor" : "parameter", p->name);
    const nbi_layer *l = m->layers[p->owner];
    size_t len = strlen(l->name);
    NBI_ASSERT(!strncmp(p->name, l->name, len) && p->name[len] == '.');
    const char *what = p->name + len + 1;
    if (chain)
        snprintf(out->name, sizeof out->name, "%d.%s", l->torch_index, what);
    else
        snprintf(out->name, sizeof out->name, "%s", p->name);
    const nb_tensor *t = &p->value;
    int k = state ? -1 : i - l->first_param;
    out->nabla_name = p->name;
    out->role = state ? NB_ROLE_STATE : NB_ROLE_PARAM;
    out->tensor = t;
    out->offset = p->offset;
    out->transposed = k >= 0 && k < 32 && (l->vt->torch_transposed >> k & 1u) && t->rank == 2;
    out->rank = t->rank;
    for (int d = 0; d < t->rank; d++) out->shape[d] = t->shape[d];
    if (out->transposed) {
        out->shape[0] = t->shape[1];
        out->shape[1] = t->shape[0];
    }
    return NB_OK;
}
