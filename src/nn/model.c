/* nn/model.c — the sequential model: a list of layers over one parameter store.
 *
 * Layers are appended Keras-style: each is told its per-sample input shape (the previous
 * layer's output, or the model's input), says its output shape, declares its parameters and
 * draws their initial values from the model's generator. The generator is seeded once at
 * creation, so a seed fixes every initial weight; an add that fails is rolled back entirely
 * (layer, parameters and generator state), leaving the model as it was.
 *
 * Forward runs the layers in order with the context's scope set to each layer's name, and
 * writes nothing to the model: two threads may run one model, each in its own context. */
#include "nn/nn.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <string.h>

struct nb_model {
    int in_rank;
    int64_t in_shape[NB_MAX_RANK];
    nb_params *params;
    nb_params *state; /* non-trainable state (running statistics), saved but not optimised */
    nb_rng rng; /* initialises the layers, in order */
    nbi_layer **layers;
    int n, cap;
    int training;
};

void nbi_batch_shape_str(int rank, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    int w = snprintf(buf, n, "(None");
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < rank && k < n; i++) {
        w = snprintf(buf + k, n - k, ", %lld", (long long)shape[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k < n) snprintf(buf + k, n - k, ")");
}

nb_model *nb_model_new(int rank, const int64_t *input_shape, uint64_t seed) {
    if (rank < 0 || rank > NB_MAX_RANK - 1 || (rank > 0 && !input_shape)) {
        nbi_error(NB_ERR_ARG, "nb_model_new: the input shape (one sample, without the batch "
                  "dimension) must have rank 0..%d, got %d%s", NB_MAX_RANK - 1, rank,
                  rank > 0 && !input_shape ? " and a NULL shape" : "");
        return NULL;
    }
    for (int i = 0; i < rank; i++) {
        if (input_shape[i] < 1) {
            char b[128];
            nbi_dims_str(rank, input_shape, b, sizeof b);
            nbi_error(NB_ERR_SHAPE, "nb_model_new: input shape %s has a dimension < 1 (give "
                      "the shape of one sample, e.g. NB_DIMS(2))", b);
            return NULL;
        }
    }
    nb_model *m = nbi_malloc_for("nb_model_new", sizeof *m);
    if (!m) return NULL;
    memset(m, 0, sizeof *m);
    m->params = nb_params_new();
    m->state = m->params ? nb_params_new() : NULL;
    if (!m->state) {
        nb_params_free(m->params);
        nbi_free(m);
        return NULL;
    }
    m->in_rank = rank;
    for (int i = 0; i < rank; i++) m->in_shape[i] = input_shape[i];
    nb_rng_seed(&m->rng, seed);
    m->training = 1;
    return m;
}

void nb_model_free(nb_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) nbi_free(m->layers[i]);
    nbi_free(m->layers);
    nb_params_free(m->params);
    nb_params_free(m->state);
    nbi_free(m);
}

static const nbi_layer *find_layer(const nb_model *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->layers[i]->name, name) == 0) return m->layers[i];
    return NULL;
}

/* "<stem>_<k>" for the k-th layer of its kind, skipping names the user already took. */
static void default_name(const nb_model *m, const nbi_layer *l, char *buf, size_t n) {
    int k = 1;
    for (int i = 0; i < m->n; i++)
        if (m->layers[i]->vt == l->vt) k++;
    for (;; k++) {
        snprintf(buf, n, "%s_%d", l->vt->stem, k);
        if (!find_layer(m, buf)) return;
    }
}

/* A name the user gave: 1..63 printable characters, no '.', not taken. */
static nb_status check_name(const nb_model *m, const char *kind, const char *name) {
    size_t len = strlen(name);
    bool printable = true;
    for (const char *p = name; *p; p++) printable = printable && (unsigned char)*p >= 0x20;
    if (len == 0 || len >= NBI_LAYER_NAME_MAX || strchr(name, '.') || !printable)
        return nbi_error(NB_ERR_ARG, "%s layer: name '%s' must have 1..%d printable "
                         "characters and no '.'", kind, name, NBI_LAYER_NAME_MAX - 1);
    if (find_layer(m, name))
        return nbi_error(NB_ERR_ARG, "%s layer: the model already has a layer named '%s'",
                         kind, name);
    return NB_OK;
}

nb_status nbi_model_rename_last(nb_model *m, const char *name) {
    NBI_ASSERT(m && m->n > 0);
    nbi_layer *l = m->layers[m->n - 1];
    NBI_ASSERT(l->n_params == 0 && l->param_count == 0);
    if (!strcmp(l->name, name)) return NB_OK;
    nb_status s = check_name(m, l->vt->kind, name);
    if (s == NB_OK) memcpy(l->name, name, strlen(name) + 1);
    return s;
}

static nb_status push(nb_model *m, nbi_layer *l, const char *name) {
    const char *kind = l->vt->kind;
    if (name) {
        nb_status s = check_name(m, kind, name);
        if (s != NB_OK) return s;
        memcpy(l->name, name, strlen(name) + 1);
    } else {
        default_name(m, l, l->name, sizeof l->name);
    }

    /* Input shape: the previous layer's output, or the model's input. */
    if (m->n) {
        const nbi_layer *prev = m->layers[m->n - 1];
        l->in_rank = prev->out_rank;
        memcpy(l->in_shape, prev->out_shape, sizeof l->in_shape);
    } else {
        l->in_rank = m->in_rank;
        memcpy(l->in_shape, m->in_shape, sizeof l->in_shape);
    }
    for (int i = l->in_rank; i < NB_MAX_RANK; i++) l->in_shape[i] = 1;
    nb_status s = l->vt->output_shape(l, &l->out_rank, l->out_shape);
    if (s != NB_OK) return s;
    if (l->out_rank < 0 || l->out_rank > NB_MAX_RANK - 1) {
        char b[128];
        nbi_batch_shape_str(l->in_rank, l->in_shape, b, sizeof b);
        return nbi_error(NB_ERR_SHAPE, "%s layer '%s': output rank %d (plus the batch) exceeds "
                         "%d, from input %s", kind, l->name, l->out_rank, NB_MAX_RANK, b);
    }
    for (int i = l->out_rank; i < NB_MAX_RANK; i++) l->out_shape[i] = 1;

    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 8;
        nbi_layer **layers = nbi_malloc_for("nb_model: layer list", sizeof *layers * (size_t)cap);
        if (!layers) return NB_ERR_NOMEM;
        if (m->n) memcpy(layers, m->layers, sizeof *layers * (size_t)m->n);
        nbi_free(m->layers);
        m->layers = layers;
        m->cap = cap;
    }

    int n0 = m->params->n, s0 = m->state->n;
    int64_t numel0 = m->params->numel + m->state->numel;
    nb_rng rng0 = m->rng;
    l->state = m->state;
    if (l->vt->build) {
        s = l->vt->build(l, m->params, &m->rng);
        if (s != NB_OK) {
            nbi_params_truncate(m->params, n0);
            nbi_params_truncate(m->state, s0);
            m->rng = rng0;
            return s;
        }
    }
    l->first_param = n0;
    l->n_params = m->params->n - n0;
    l->param_count = m->params->numel + m->state->numel - numel0;
    m->layers[m->n++] = l;
    return NB_OK;
}

nb_status nbi_model_push(nb_model *m, nbi_layer *l, const char *name) {
    nb_status s = push(m, l, name);
    if (s != NB_OK) nbi_free(l);
    return s;
}

nb_status nbi_layer_param(nbi_layer *l, nb_params *ps, const char *what, int rank,
                          const int64_t *shape, nb_tensor **out) {
    char full[NBI_LAYER_NAME_MAX + 32];
    snprintf(full, sizeof full, "%s.%s", l->name, what);
    return nbi_params_add(ps, full, rank, shape, out);
}

nb_status nbi_layer_state(nbi_layer *l, const char *what, int rank, const int64_t *shape,
                          nb_tensor **out) {
    NBI_ASSERT(l->state);
    nb_status s = nbi_layer_param(l, l->state, what, rank, shape, out);
    if (s == NB_OK) nb_tensor_set_requires_grad(*out, 0);
    return s;
}

int nb_model_train(nb_model *m, int training) {
    if (!m) return 0;
    int prev = m->training;
    m->training = training != 0;
    return prev;
}

nb_tensor *nb_model_forward(const nb_model *m, nb_ctx *ctx, nb_tensor *x) {
    return nb_model_forward_rng(m, ctx, x, NULL);
}

nb_tensor *nb_model_forward_rng(const nb_model *m, nb_ctx *ctx, nb_tensor *x, nb_rng *rng) {
    if (!ctx) {
        nbi_error(NB_ERR_ARG, "nb_model_forward: context is NULL (create one with nb_ctx_new)");
        return NULL;
    }
    if (!m) {
        nbi_error(NB_ERR_ARG, "nb_model_forward: model is NULL");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (!x) {
        /* an earlier op failed (its message stands), or the caller passed NULL */
        if (ctx->status == NB_OK)
            nbi_fail(ctx, nbi_error(NB_ERR_ARG, "nb_model_forward: input is NULL"));
        return NULL;
    }
    bool ok = x->dtype == NB_F32 && x->rank == m->in_rank + 1;
    for (int i = 0; ok && i < m->in_rank; i++) ok = x->shape[i + 1] == m->in_shape[i];
    if (!ok) {
        char got[96], want[128];
        nbi_batch_shape_str(m->in_rank, m->in_shape, want, sizeof want);
        nbi_error(NB_ERR_SHAPE, "nb_model_forward: input %s does not fit the model's input "
                  "%s: expected f32 [batch, ...] with the sample shape after the batch",
                  nb_shape_str(x, got, sizeof got), want);
        return nbi_fail(ctx, NB_ERR_SHAPE);
    }
    nbi_fwd f = {ctx, m->training, rng};
    const char *scope = ctx->scope;
    for (int i = 0; i < m->n && x; i++) {
        const nbi_layer *l = m->layers[i];
        ctx->scope = l->name;
        nb_tensor *y;
        if (l->vt->forward_pair && i + 1 < m->n &&
            l->vt->forward_pair(l, m->layers[i + 1], &f, x, &y)) {
            x = y; /* this layer and the next, as one fused op */
            i++;
            continue;
        }
        x = l->vt->forward(l, &f, x);
    }
    ctx->scope = scope;
    return x;
}

nb_params *nb_model_params(const nb_model *m) { return m ? m->params : NULL; }
nb_params *nb_model_state(const nb_model *m) { return m ? m->state : NULL; }
int64_t nb_model_param_count(const nb_model *m) { return m ? m->params->numel : 0; }
void nb_model_zero_grad(nb_model *m) {
    if (m) nb_params_zero_grad(m->params);
}
int nb_model_layer_count(const nb_model *m) { return m ? m->n : 0; }

const char *nb_model_layer_name(const nb_model *m, int i) {
    if (!m || i < 0 || i >= m->n) return NULL;
    return m->layers[i]->name;
}

const nbi_layer *nbi_model_layer(const nb_model *m, int i) {
    if (!m || i < 0 || i >= m->n) return NULL;
    return m->layers[i];
}

int nb_model_input_shape(const nb_model *m, int64_t *shape) {
    if (!m || !shape) return 0;
    for (int i = 0; i < m->in_rank; i++) shape[i] = m->in_shape[i];
    return m->in_rank;
}

int nb_model_output_shape(const nb_model *m, int64_t *shape) {
    if (!m || !shape) return 0;
    int r = m->n ? m->layers[m->n - 1]->out_rank : m->in_rank;
    const int64_t *s = m->n ? m->layers[m->n - 1]->out_shape : m->in_shape;
    for (int i = 0; i < r; i++) shape[i] = s[i];
    return r;
}

/* ---- summary -------------------------------------------------------------------------------- */

#define RULE_W 86

static void rule(FILE *f, char c) {
    for (int i = 0; i < RULE_W; i++) fputc(c, f);
    fputc('\n', f);
}

nb_status nb_model_summary(const nb_model *m, FILE *f) {
    if (!m || !f) return nbi_error(NB_ERR_ARG, "nb_model_summary: NULL %s", m ? "file" : "model");
    char in[128];
    nbi_batch_shape_str(m->in_rank, m->in_shape, in, sizeof in);
    fprintf(f, "Model: sequential, input %s\n", in);
    rule(f, '_');
    fprintf(f, "%-30s %-22s %-11s %s\n", "Layer (type)", "Output Shape", "Param #", "Config");
    rule(f, '=');
    for (int i = 0; i < m->n; i++) {
        const nbi_layer *l = m->layers[i];
        char name[NBI_LAYER_NAME_MAX + 32], shape[128], conf[128] = "";
        snprintf(name, sizeof name, "%s (%s)", l->name, l->vt->kind);
        nbi_batch_shape_str(l->out_rank, l->out_shape, shape, sizeof shape);
        if (l->vt->describe) l->vt->describe(l, conf, sizeof conf);
        fprintf(f, "%-30s %-22s %-11lld%s%s\n", name, shape, (long long)l->param_count,
                conf[0] ? " " : "", conf);
    }
    rule(f, '=');
    long long trainable = (long long)m->params->numel, fixed = (long long)m->state->numel;
    long long total = trainable + fixed;
    fprintf(f, "Total params: %lld (%lld bytes)\n", total, total * 4);
    fprintf(f, "Trainable params: %lld\n", trainable);
    fprintf(f, "Non-trainable params: %lld\n", fixed);
    rule(f, '_');
    if (ferror(f)) return nbi_error(NB_ERR_IO, "nb_model_summary: writing failed");
    return NB_OK;
}
