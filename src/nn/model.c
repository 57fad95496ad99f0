/* nn/model.c — the model container: creation and freeing, training mode, class names, and
 * the queries that say what a model is (its layers, nodes, inputs, outputs, shapes). Adding
 * to the graph is graph.c; running it, forward.c.
 *
 * The model's generator is seeded once at creation and initialises every layer in the order
 * they are added, so a seed fixes every initial weight. */
#include "nn/model.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <string.h>

void nbi_batch_shape_str(int rank, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    int w = snprintf(buf, n, "(None");
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < rank && k < n; i++) {
        if (shape[i] < 0)
            w = snprintf(buf + k, n - k, ", None");
        else
            w = snprintf(buf + k, n - k, ", %lld", (long long)shape[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k < n) snprintf(buf + k, n - k, ")");
}

void nbi_shape_str(const nbi_shape *s, char *buf, size_t n) {
    if (s->rank < 0) {
        snprintf(buf, n, "(absent)");
        return;
    }
    size_t k = 0;
    if (s->dtype != NB_F32) {
        int w = snprintf(buf, n, "i32 ");
        k = w > 0 ? (size_t)w : 0;
    }
    if (k < n) nbi_batch_shape_str(s->rank, s->dim, buf + k, n - k);
}

void nbi_layer_in_str(const nbi_shape *in, char *buf, size_t n) {
    nbi_shape_str(in, buf, n);
}

static nb_model *model_alloc(uint64_t seed, bool dry) {
    nb_model *m = nbi_malloc_for("nb_model_new", sizeof *m);
    if (!m) return NULL;
    memset(m, 0, sizeof *m);
    m->params = nbi_params_new_mode(dry ? NBI_GRAD_DRY : NBI_GRAD_LAZY);
    m->state = m->params ? nbi_params_new_mode(dry ? NBI_GRAD_DRY : NBI_GRAD_NONE) : NULL;
    if (!m->state) {
        nb_params_free(m->params);
        nbi_free(m);
        return NULL;
    }
    nbi_strmap_init(&m->layer_names);
    nbi_strmap_init(&m->node_names);
    nb_rng_seed(&m->rng, seed);
    m->training = 1;
    m->dry = dry;
    m->last = -1;
    m->chain = true;
    return m;
}

nb_model *nb_model_new_graph(uint64_t seed) {
    return model_alloc(seed, false);
}
nb_model *nbi_model_new_dry(uint64_t seed) {
    return model_alloc(seed, true);
}

nb_model *nb_model_new(int rank, const int64_t *input_shape, uint64_t seed) {
    if (rank < 0 || rank > NB_MAX_RANK - 1 || (rank > 0 && !input_shape)) {
        nbi_error(NB_ERR_ARG,
                  "nb_model_new: the input shape (one sample, without the batch "
                  "dimension) must have rank 0..%d, got %d%s",
                  NB_MAX_RANK - 1, rank, rank > 0 && !input_shape ? " and a NULL shape" : "");
        return NULL;
    }
    for (int i = 0; i < rank; i++) {
        if (input_shape[i] < 1 && input_shape[i] != -1) {
            char b[128];
            nbi_dims_str(rank, input_shape, b, sizeof b);
            nbi_error(NB_ERR_SHAPE,
                      "nb_model_new: input shape %s has a dimension < 1 (give "
                      "the shape of one sample, e.g. NB_DIMS(2); -1 for a size known only at "
                      "run time)",
                      b);
            return NULL;
        }
    }
    nb_model *m = model_alloc(seed, false);
    if (!m) return NULL;
    int x = nb_model_input(m, "input", NB_F32, rank, input_shape);
    if (x < 0) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

void nb_model_free(nb_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) nbi_free(m->layers[i]);
    for (int i = 0; i < m->n_calls; i++) nbi_free(m->calls[i].big);
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].owns_name) nbi_free((char *)m->nodes[i].name);
    for (int i = 0; i < m->n_classes; i++) nbi_free(m->classes[i]);
    nbi_free(m->classes);
    nbi_free(m->tokenizer);
    nbi_free(m->layers);
    nbi_free(m->calls);
    nbi_free(m->nodes);
    nbi_free(m->inputs);
    nbi_free(m->outputs);
    nbi_free(m->counters);
    nbi_strmap_free(&m->layer_names);
    nbi_strmap_free(&m->node_names);
    nb_params_free(m->params);
    nb_params_free(m->state);
    nbi_free(m);
}

/* Building declares every parameter before drawing any (build, then init, layer by layer),
 * and draws come only from init, in layer order: initialising the layers of a dry model in
 * order now draws exactly what building the model for real would have drawn. */
nb_status nbi_model_materialize(nb_model *m, bool init) {
    NBI_ASSERT(m && m->dry);
    nb_status s = nbi_params_materialize(m->params, NBI_GRAD_LAZY, "the model's parameters");
    if (s == NB_OK) s = nbi_params_materialize(m->state, NBI_GRAD_NONE, "the model's state");
    if (s != NB_OK) return s;
    m->dry = false;
    for (int i = 0; init && i < m->n_layers && s == NB_OK; i++) {
        nbi_layer *l = m->layers[i];
        if (l->vt->init) s = l->vt->init(l, &m->rng);
    }
    return s;
}

/* ---- training mode ---------------------------------------------------------------------- */

nb_status nb_model_set_training(nb_model *m, int on) {
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_set_training: model is NULL");
    m->training = on != 0;
    return NB_OK;
}

int nb_model_training(const nb_model *m) {
    return m ? m->training : 0;
}

/* ---- class names -------------------------------------------------------------------------- */

nb_status nb_model_set_classes(nb_model *m, const char *const *names, int n) {
    const char *fn = "nb_model_set_classes";
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (n < 0 || (n > 0 && !names))
        return nbi_error(NB_ERR_ARG, "%s: %d names%s", fn, n, n > 0 ? " from a NULL array" : "");
    for (int i = 0; i < n; i++) {
        if (!names[i]) return nbi_error(NB_ERR_ARG, "%s: class name %d is NULL", fn, i);
        if (strchr(names[i], '\n'))
            return nbi_error(NB_ERR_ARG,
                             "%s: class name %d holds a newline (model files keep "
                             "one name per line)",
                             fn, i);
        if (!nbi_utf8_valid(names[i], strlen(names[i])))
            return nbi_error(NB_ERR_ARG,
                             "%s: class name %d is not valid UTF-8 (model files "
                             "store names as JSON text, which must be UTF-8)",
                             fn, i);
    }
    char **copy = n ? nbi_malloc_for(fn, sizeof *copy * (size_t)n) : NULL;
    if (n && !copy) return NB_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        copy[i] = nbi_malloc_for(fn, len + 1);
        if (!copy[i]) {
            while (i--) nbi_free(copy[i]);
            nbi_free(copy);
            return NB_ERR_NOMEM;
        }
        memcpy(copy[i], names[i], len + 1);
    }
    for (int i = 0; i < m->n_classes; i++) nbi_free(m->classes[i]);
    nbi_free(m->classes);
    m->classes = copy;
    m->n_classes = n;
    return NB_OK;
}

int nb_model_class_count(const nb_model *m) {
    return m ? m->n_classes : 0;
}

const char *nb_model_class_name(const nb_model *m, int i) {
    return m && i >= 0 && i < m->n_classes ? m->classes[i] : NULL;
}

/* ---- the tokenizer's text ------------------------------------------------------------------- */

nb_status nbi_model_set_tokenizer_text(nb_model *m, const char *json) {
    char *copy = NULL;
    if (json) {
        size_t n = strlen(json);
        copy = nbi_malloc_for("nb_model_set_tokenizer", n + 1);
        if (!copy) return NB_ERR_NOMEM;
        memcpy(copy, json, n + 1);
    }
    nbi_free(m->tokenizer);
    m->tokenizer = copy;
    return NB_OK;
}

const char *nbi_model_tokenizer_text(const nb_model *m) {
    return m ? m->tokenizer : NULL;
}

int64_t nbi_model_vocab(const nb_model *m) {
    if (!m || m->n_inputs < 1 || m->nodes[m->inputs[0]].shape.dtype != NB_I32) return -1;
    for (int c = 0; c < m->n_calls; c++) {
        const nbi_call *call = &m->calls[c];
        const nbi_layer *l = m->layers[call->layer];
        if (call->n_in >= 1 && nbi_call_in(call)[0] == m->inputs[0] && nbi_is_embedding(l))
            return nb_params_at(m->params, l->first_param)->shape[0];
    }
    return -1;
}

/* ---- queries ------------------------------------------------------------------------------ */

nb_params *nb_model_params(nb_model *m) {
    return m ? m->params : NULL;
}
nb_params *nb_model_state(nb_model *m) {
    return m ? m->state : NULL;
}
int64_t nb_model_param_count(const nb_model *m) {
    return m ? m->params->numel : 0;
}
int64_t nb_model_state_count(const nb_model *m) {
    return m ? m->state->numel : 0;
}

void nb_model_zero_grad(nb_model *m) {
    if (m) nb_params_zero_grad(m->params);
}

int nb_model_layer_count(const nb_model *m) {
    return m ? m->n_layers : 0;
}

const char *nb_model_layer_name(const nb_model *m, int i) {
    if (!m || i < 0 || i >= m->n_layers) return NULL;
    return m->layers[i]->name;
}

int nbi_model_last(const nb_model *m) {
    return m ? m->last + 1 : 0;
}

int nb_model_node_count(const nb_model *m) {
    return m ? m->n_nodes : 0;
}

static const nbi_gnode *node_at(const nb_model *m, int handle) {
    return m && handle >= 1 && handle <= m->n_nodes ? &m->nodes[handle - 1] : NULL;
}

const char *nb_model_node_name(const nb_model *m, int node) {
    const nbi_gnode *g = node_at(m, node);
    return g ? g->name : NULL;
}

int nb_model_node_shape(const nb_model *m, int node, nb_dtype *dtype, int64_t *shape) {
    const nbi_gnode *g = node_at(m, node);
    if (!g) return -1;
    if (dtype) *dtype = g->shape.dtype;
    if (shape)
        for (int i = 0; i < g->shape.rank; i++) shape[i] = g->shape.dim[i];
    return g->shape.rank;
}

int nbi_model_node_ref(const nb_model *m, const char *ref) {
    int i = nbi_strmap_get(&m->node_names, ref);
    if (i >= 0) return i;
    /* "a:0" is "a" */
    size_t len = strlen(ref);
    if (len > 2 && ref[len - 2] == ':' && ref[len - 1] == '0' && len < 256) {
        char base[256];
        memcpy(base, ref, len - 2);
        base[len - 2] = 0;
        return nbi_strmap_get(&m->node_names, base);
    }
    return -1;
}

int nb_model_find_node(const nb_model *m, const char *name) {
    if (!m || !name) return -1;
    int i = nbi_model_node_ref(m, name);
    return i < 0 ? -1 : i + 1;
}

int nb_model_input_count(const nb_model *m) {
    return m ? m->n_inputs : 0;
}

int nb_model_input_node(const nb_model *m, int i) {
    return m && i >= 0 && i < m->n_inputs ? m->inputs[i] + 1 : -1;
}

int nbi_model_outputs(const nb_model *m, const int **nodes) {
    if (m->outputs) {
        *nodes = m->outputs;
        return m->n_outputs;
    }
    *nodes = &m->last;
    return m->last >= 0 ? 1 : 0;
}

int nb_model_output_count(const nb_model *m) {
    const int *o;
    return m ? nbi_model_outputs(m, &o) : 0;
}

int nb_model_output_node(const nb_model *m, int i) {
    if (!m) return -1;
    const int *o;
    int n = nbi_model_outputs(m, &o);
    return i >= 0 && i < n ? o[i] + 1 : -1;
}

static int copy_shape(const nbi_gnode *g, int64_t *shape) {
    if (!g || !shape) return 0;
    for (int i = 0; i < g->shape.rank; i++) shape[i] = g->shape.dim[i];
    return g->shape.rank;
}

int nb_model_input_shape(const nb_model *m, int64_t *shape) {
    return m ? copy_shape(node_at(m, nb_model_input_node(m, 0)), shape) : 0;
}

int nb_model_output_shape(const nb_model *m, int64_t *shape) {
    return m ? copy_shape(node_at(m, nb_model_output_node(m, 0)), shape) : 0;
}

nb_activation nb_model_output_activation(const nb_model *m, int k, float *alpha) {
    if (alpha) *alpha = 0.0f;
    const nbi_gnode *g = node_at(m, nb_model_output_node(m, k));
    if (!g || g->call < 0) return NB_ACT_NONE;
    const nbi_layer *l = m->layers[m->calls[g->call].layer];
    float a = 0.0f;
    nb_activation act = l->vt->activation ? l->vt->activation(l, &a) : NB_ACT_NONE;
    if (alpha) *alpha = a;
    return act;
}

bool nbi_model_is_chain(const nb_model *m) {
    if (!m->chain || m->n_inputs != 1) return false;
    const int *o;
    int n = nbi_model_outputs(m, &o);
    return n == 1 && o[0] == m->last;
}

int nb_model_is_sequential(const nb_model *m) {
    return m && nbi_model_is_chain(m);
}
