/* nn/graph.c — adding to a model's graph: inputs, layer calls (a new layer, or a layer
 * called again), outputs, and the names of all of them.
 *
 * Adding a call is all or nothing: every check is made and every allocation taken before the
 * layer is built; if building fails, the parameters it declared are removed and the
 * generator is put back, so a failed add leaves the model exactly as it was (the next layer
 * gets the weights it would have had without the failed add).
 *
 * Names are found through hash maps, and the default name of the k-th layer of a kind,
 * "<stem>_<k>", is found from a per-kind count, so building a model of n layers costs O(n)
 * lookups, not O(n²) scans. */
#include "nn/model.h"

#include <stdio.h>
#include <string.h>

/* ---- names ---------------------------------------------------------------------------------- */

nb_status nbi_check_name(const char *who, const char *name) {
    size_t len = strlen(name);
    bool ok = len > 0 && len < NBI_LAYER_NAME_MAX && nbi_utf8_valid(name, len);
    for (const char *p = name; ok && *p; p++)
        ok = (unsigned char)*p >= 0x20 && *p != 0x7f && !strchr(".,:", *p);
    if (!ok)
        return nbi_error(NB_ERR_ARG,
                         "%s: name '%s' must have 1..%d characters of valid UTF-8, "
                         "no control character, '.', ',' or ':'",
                         who, name, NBI_LAYER_NAME_MAX - 1);
    return NB_OK;
}

static bool taken(const nb_model *m, const char *name) {
    return nbi_strmap_get(&m->layer_names, name) >= 0 || nbi_strmap_get(&m->node_names, name) >= 0;
}

static nb_status check_new_name(const nb_model *m, const char *who, const char *name) {
    nb_status s = nbi_check_name(who, name);
    if (s != NB_OK) return s;
    if (taken(m, name))
        return nbi_error(NB_ERR_ARG, "%s: the model already has a %s named '%s'", who,
                         nbi_strmap_get(&m->layer_names, name) >= 0 ? "layer" : "node", name);
    return NB_OK;
}

static nbi_kind_count *kind_of(nb_model *m, const nbi_layer_vt *vt) {
    for (int i = 0; i < m->n_kinds; i++)
        if (m->kinds[i].vt == vt) return &m->kinds[i];
    NBI_ASSERT(m->n_kinds < NBI_MAX_KINDS);
    nbi_kind_count *k = &m->kinds[m->n_kinds++];
    *k = (nbi_kind_count){vt, 0, 0};
    return k;
}

/* "<stem>_<k>" for the k-th layer of its kind, skipping names taken. Starting from the last
 * default k as well as from the count gives the same name as a scan from count + 1 (every
 * name between them is taken, and names are never freed) in constant time per layer. */
static int default_name(const nb_model *m, const nbi_kind_count *kc, const char *stem, char *buf,
                        size_t n) {
    int k = kc->count + 1 > kc->last_k + 1 ? kc->count + 1 : kc->last_k + 1;
    for (;; k++) {
        snprintf(buf, n, "%s_%d", stem, k);
        if (!taken(m, buf)) return k;
    }
}

nb_status nbi_layer_want_f32(const nbi_layer *l, const nbi_shape *in, int n_in) {
    for (int i = 0; i < n_in; i++)
        if (in[i].rank >= 0 && in[i].dtype != NB_F32)
            return nbi_error(NB_ERR_ARG,
                             "%s '%s': input %d holds i32 values (token ids); this "
                             "layer takes f32",
                             l->vt->stem, l->name, i);
    return NB_OK;
}

/* ---- growth --------------------------------------------------------------------------------- */

/* Room for `more` entries in an array of `size`-byte entries. */
static bool room(void **arr, int *cap, int n, int more, size_t size, const char *what) {
    if (n + more <= *cap) return true;
    if (n > INT32_MAX / 2 - more) {
        nbi_error(NB_ERR_ARG, "%s: the model is full", what);
        return false;
    }
    int c = *cap ? *cap : 8;
    while (c < n + more) c *= 2;
    void *a = nbi_malloc_for(what, size * (size_t)c);
    if (!a) return false;
    if (n) memcpy(a, *arr, size * (size_t)n);
    nbi_free(*arr);
    *arr = a;
    *cap = c;
    return true;
}

/* Room for a call making n_out nodes, in every list and map. */
static nb_status make_room(nb_model *m, int n_out, bool new_layer, const char *fn) {
    bool ok = room((void **)&m->calls, &m->cap_calls, m->n_calls, 1, sizeof *m->calls, fn) &&
              room((void **)&m->nodes, &m->cap_nodes, m->n_nodes, n_out, sizeof *m->nodes, fn) &&
              (!new_layer ||
               room((void **)&m->layers, &m->cap_layers, m->n_layers, 1, sizeof *m->layers, fn));
    if (ok && new_layer)
        ok = room((void **)&m->counters, &m->cap_counters, m->n_counters, 1, sizeof *m->counters,
                  fn);
    if (ok && !(nbi_strmap_reserve(&m->node_names, m->node_names.n + (size_t)n_out) &&
                nbi_strmap_reserve(&m->layer_names, m->layer_names.n + 1))) {
        nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
        ok = false;
    }
    return ok ? NB_OK : NB_ERR_NOMEM;
}

/* ---- inputs --------------------------------------------------------------------------------- */

int nb_model_input(nb_model *m, const char *name, nb_dtype dtype, int rank, const int64_t *shape) {
    const char *fn = "nb_model_input";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (dtype != NB_F32 && dtype != NB_I32)
        return -(int)nbi_error(NB_ERR_ARG, "%s: dtype must be NB_F32 or NB_I32, got %d", fn,
                               (int)dtype);
    if (rank < 0 || rank > NB_MAX_RANK - 1 || (rank > 0 && !shape))
        return -(int)nbi_error(NB_ERR_ARG, "%s: a sample's rank must be 0..%d, got %d%s", fn,
                               NB_MAX_RANK - 1, rank, rank > 0 && !shape ? " and NULL" : "");
    for (int i = 0; i < rank; i++)
        if (shape[i] < 1 && shape[i] != -1) {
            char b[128];
            nbi_dims_str(rank, shape, b, sizeof b);
            return -(int)nbi_error(NB_ERR_SHAPE,
                                   "%s: input shape %s has a dimension < 1 (-1 "
                                   "for one known only at run time)",
                                   fn, b);
        }
    char def[32];
    int k = 0;
    if (name) {
        nb_status s = check_new_name(m, fn, name);
        if (s != NB_OK) return -(int)s;
    } else { /* "input", then "input_2", "input_3", ... (the k-th input), skipping names taken */
        k = m->n_inputs + 1 > m->input_k + 1 ? m->n_inputs + 1 : m->input_k + 1;
        for (;; k++) {
            if (k == 1)
                snprintf(def, sizeof def, "input");
            else
                snprintf(def, sizeof def, "input_%d", k);
            if (!taken(m, def)) break;
        }
        name = def;
    }
    size_t len = strlen(name);
    char *own = nbi_malloc_for(fn, len + 1);
    if (!own) return -(int)NB_ERR_NOMEM;
    memcpy(own, name, len + 1);
    if (make_room(m, 1, false, fn) != NB_OK ||
        !room((void **)&m->inputs, &m->cap_inputs, m->n_inputs, 1, sizeof *m->inputs, fn)) {
        nbi_free(own);
        return -(int)NB_ERR_NOMEM;
    }
    nbi_gnode *g = &m->nodes[m->n_nodes];
    memset(g, 0, sizeof *g);
    g->call = -1;
    g->index = m->n_inputs;
    g->shape.dtype = dtype;
    g->shape.rank = rank;
    for (int i = 0; i < rank; i++) g->shape.dim[i] = shape[i];
    g->name = own;
    g->owns_name = true;
    bool plain = dtype == NB_F32 && !strcmp(own, "input");
    for (int i = 0; i < rank; i++) plain = plain && shape[i] > 0;
    if (!plain || m->n_inputs > 0 || m->n_calls > 0) m->chain = false;
    if (k) m->input_k = k;
    nbi_strmap_put(&m->node_names, own, m->n_nodes); /* room was reserved */
    m->inputs[m->n_inputs++] = m->n_nodes;
    m->last = m->n_nodes++;
    return m->last + 1;
}

/* ---- calls --------------------------------------------------------------------------------- */

/* The nodes of a call, checked: handles from the caller (1-based; 0 for an optional input
 * left out) into node indices (-1 for left out), and their shapes. A negative handle is an
 * earlier failure, returned as it is. */
static int take_inputs(const nb_model *m, const nbi_layer *l, const int *in, int n_in, int *idx,
                       nbi_shape *shapes, const char *fn) {
    const nbi_layer_vt *vt = l->vt;
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0) return in[i];
    if (n_in < vt->min_in || (vt->max_in > 0 && n_in > vt->max_in) || n_in > NBI_MAX_IN) {
        char want[64];
        int hi = vt->max_in > 0 ? vt->max_in : NBI_MAX_IN;
        if (hi == vt->min_in)
            snprintf(want, sizeof want, "%d input%s", hi, hi == 1 ? "" : "s");
        else
            snprintf(want, sizeof want, "%d to %d inputs", vt->min_in, hi);
        return -(int)nbi_error(NB_ERR_ARG, "%s: %s layer '%s' takes %s, got %d", fn, vt->kind,
                               l->name, want, n_in);
    }
    for (int i = 0; i < n_in; i++) {
        if (in[i] == 0 && i >= vt->min_in) {
            idx[i] = -1;
            shapes[i].rank = -1;
            shapes[i].dtype = NB_F32;
            continue;
        }
        if (in[i] < 1 || in[i] > m->n_nodes)
            return -(int)nbi_error(NB_ERR_ARG,
                                   "%s: input %d of layer '%s' is node %d; the "
                                   "model has nodes 1..%d",
                                   fn, i, l->name, in[i], m->n_nodes);
        idx[i] = in[i] - 1;
        shapes[i] = m->nodes[in[i] - 1].shape;
    }
    return 0;
}

/* Output shapes from the layer, checked for rank and sizes. */
static nb_status infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                       int *n_out) {
    *n_out = 1;
    for (int k = 0; k < NBI_MAX_OUT; k++) memset(&out[k], 0, sizeof out[k]);
    nb_status s = l->vt->infer(l, in, n_in, out, n_out);
    if (s != NB_OK) return s;
    NBI_ASSERT(*n_out >= 1 && *n_out <= NBI_MAX_OUT);
    for (int k = 0; k < *n_out; k++) {
        if (out[k].rank < 0 || out[k].rank > NB_MAX_RANK - 1) {
            char b[128];
            nbi_shape_str(&in[0], b, sizeof b);
            return nbi_error(NB_ERR_SHAPE,
                             "%s layer '%s': output rank %d (plus the batch) "
                             "exceeds %d, from input %s",
                             l->vt->kind, l->name, out[k].rank, NB_MAX_RANK, b);
        }
        for (int d = 0; d < out[k].rank; d++) NBI_ASSERT(out[k].dim[d] >= 0 || out[k].dim[d] == -1);
    }
    return NB_OK;
}

/* Adds call of layer l (new: not yet in the model) on in[]. */
static int add_call(nb_model *m, nbi_layer *l, bool is_new, const int *in, int n_in,
                    const char *node_name, const char *fn) {
    int idx[NBI_MAX_IN];
    nbi_shape shapes[NBI_MAX_IN];
    int r = take_inputs(m, l, in, n_in, idx, shapes, fn);
    if (r < 0) return r;
    nbi_shape out[NBI_MAX_OUT];
    int n_out;
    nb_status s = infer(l, shapes, n_in, out, &n_out);
    if (s != NB_OK) return -(int)s;
    if ((s = make_room(m, n_out, is_new, fn)) != NB_OK) return -(int)s;

    /* the names of outputs 1.. ("<node>:<k>") and of a reuse's node */
    char *names[NBI_MAX_OUT] = {NULL};
    const char *base = node_name ? node_name : l->name;
    for (int k = 0; k < n_out; k++) {
        if (k == 0 && !node_name) continue; /* the layer's own name */
        size_t len = strlen(base) + 8;
        names[k] = nbi_malloc_for(fn, len);
        if (!names[k]) {
            while (k--) nbi_free(names[k]);
            return -(int)NB_ERR_NOMEM;
        }
        if (k == 0)
            snprintf(names[k], len, "%s", base);
        else
            snprintf(names[k], len, "%s:%d", base, k);
    }
    int *in_arr = NULL;
    if (n_in > NBI_CALL_SMALL && !(in_arr = nbi_malloc_for(fn, sizeof *in_arr * (size_t)n_in))) {
        for (int k = 0; k < n_out; k++) nbi_free(names[k]);
        return -(int)NB_ERR_NOMEM;
    }

    if (is_new) { /* declare and draw its parameters; all undone on failure */
        int p0 = m->params->n, s0 = m->state->n;
        int64_t numel0 = m->params->numel + m->state->numel;
        nb_rng rng0 = m->rng;
        l->index = m->n_layers;
        nbi_build b = {l, m->params, m->state};
        if (l->vt->build) s = l->vt->build(l, shapes, n_in, &b);
        if (s == NB_OK && l->vt->init && !m->dry) s = l->vt->init(l, &m->rng);
        if (s != NB_OK) {
            nbi_params_truncate(m->params, p0);
            nbi_params_truncate(m->state, s0);
            m->rng = rng0;
            for (int k = 0; k < n_out; k++) nbi_free(names[k]);
            nbi_free(in_arr);
            return -(int)s;
        }
        l->first_param = p0;
        l->n_params = m->params->n - p0;
        l->first_state = s0;
        l->n_state = m->state->n - s0;
        l->param_count = m->params->numel + m->state->numel - numel0;
    }

    /* Commit: nothing below fails. */
    int expect =
        m->n_calls ? m->calls[m->n_calls - 1].first_out : (m->n_inputs == 1 ? m->inputs[0] : -2);
    if (!is_new || (l->vt->flags & NBI_LAYER_GRAPH) || n_in != 1 || n_out != 1 || idx[0] != expect)
        m->chain = false;
    if (is_new) {
        m->layers[m->n_layers++] = l;
        nbi_strmap_put(&m->layer_names, l->name, l->index);
        if (l->vt->torch_counter && l->n_state > 0) m->counters[m->n_counters++] = l->index;
        l->torch_index = m->torch_next;
        m->torch_next += l->vt->torch_modules ? l->vt->torch_modules(l) : 1;
    }
    nbi_call *c = &m->calls[m->n_calls];
    memset(c, 0, sizeof *c);
    c->layer = l->index;
    c->n_in = n_in;
    c->big = in_arr;
    int *cin = in_arr ? in_arr : c->small;
    for (int i = 0; i < n_in; i++) {
        cin[i] = idx[i];
        if (idx[i] >= 0) m->nodes[idx[i]].uses++;
    }
    c->first_out = m->n_nodes;
    c->n_out = n_out;
    for (int k = 0; k < n_out; k++) {
        nbi_gnode *g = &m->nodes[m->n_nodes + k];
        memset(g, 0, sizeof *g);
        g->call = m->n_calls;
        g->index = k;
        g->shape = out[k];
        g->name = names[k] ? names[k] : l->name;
        g->owns_name = names[k] != NULL;
        nbi_strmap_put(&m->node_names, g->name, m->n_nodes + k);
    }
    l->n_calls++;
    m->n_calls++;
    m->last = m->n_nodes;
    m->n_nodes += n_out;
    return m->last + 1;
}

int nbi_model_push(nb_model *m, nbi_layer *l, const int *in, int n_in, const char *name,
                   const char *fn) {
    int r = 0;
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0) r = r ? r : in[i]; /* an earlier failure: pass it on */
    if (r < 0) {
        nbi_free(l);
        return r;
    }
    nbi_kind_count *kc = kind_of(m, l->vt);
    int k = 0;
    nb_status s = NB_OK;
    if (name) {
        char who[96];
        snprintf(who, sizeof who, "%s layer", l->vt->kind);
        s = check_new_name(m, who, name);
        if (s == NB_OK) memcpy(l->name, name, strlen(name) + 1);
    } else {
        k = default_name(m, kc, l->vt->stem, l->name, sizeof l->name);
    }
    if (s == NB_OK && m->n_nodes == 0)
        s = nbi_error(NB_ERR_ARG,
                      "%s: the model has no input to take (add one with "
                      "nb_model_input)",
                      fn);
    r = s == NB_OK ? add_call(m, l, true, in, n_in, NULL, fn) : -(int)s;
    if (r < 0) {
        nbi_free(l);
        return r;
    }
    kc->count++;
    if (k) kc->last_k = k;
    return r;
}

const nbi_layer *nbi_model_layer_named(const nb_model *m, const char *name) {
    int i = m && name ? nbi_strmap_get(&m->layer_names, name) : -1;
    return i >= 0 ? m->layers[i] : NULL;
}

int nb_model_reuse(nb_model *m, const char *layer, const int *in, int n, const char *name) {
    const char *fn = "nb_model_reuse";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    for (int i = 0; i < n; i++)
        if (in && in[i] < 0) return in[i];
    if (!layer || (n > 0 && !in))
        return -(int)nbi_error(NB_ERR_ARG, "%s: NULL %s", fn, !layer ? "layer name" : "inputs");
    int li = nbi_strmap_get(&m->layer_names, layer);
    if (li < 0)
        return -(int)nbi_error(NB_ERR_ARG, "%s: the model has no layer named '%s'", fn, layer);
    nbi_layer *l = m->layers[li];
    char def[NBI_LAYER_NAME_MAX + 16];
    if (name) {
        nb_status s = check_new_name(m, fn, name);
        if (s != NB_OK) return -(int)s;
    } else {
        for (int k = l->n_calls + 1;; k++) {
            snprintf(def, sizeof def, "%s@%d", l->name, k);
            if (!taken(m, def)) break;
        }
        name = def;
    }
    return add_call(m, l, false, in, n, name, fn);
}

nb_status nb_model_set_outputs(nb_model *m, const int *nodes, int n) {
    const char *fn = "nb_model_set_outputs";
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    for (int i = 0; nodes && i < n; i++)
        if (nodes[i] < 0) return (nb_status)-nodes[i]; /* an earlier failure */
    if (n < 1 || !nodes || n > m->n_nodes)
        return nbi_error(NB_ERR_ARG, "%s: need 1..%d nodes, got %d%s", fn, m->n_nodes, n,
                         nodes ? "" : " (NULL)");
    for (int i = 0; i < n; i++)
        if (nodes[i] < 1 || nodes[i] > m->n_nodes)
            return nbi_error(NB_ERR_ARG, "%s: output %d is node %d; the model has nodes 1..%d", fn,
                             i, nodes[i], m->n_nodes);
    int *o = nbi_malloc_for(fn, sizeof *o * (size_t)n);
    if (!o) return NB_ERR_NOMEM;
    for (int i = 0; i < n; i++) o[i] = nodes[i] - 1;
    nbi_free(m->outputs);
    m->outputs = o;
    m->n_outputs = n;
    return NB_OK;
}

/* ---- what layers declare ------------------------------------------------------------------- */

static nb_status declare(const nbi_build *b, nb_params *ps, const char *what, int rank,
                         const int64_t *shape, nb_tensor **out) {
    char full[NBI_LAYER_NAME_MAX + 32];
    snprintf(full, sizeof full, "%s.%s", b->layer->name, what);
    return nbi_params_add_owned(ps, full, rank, shape, b->layer->index, out);
}

nb_status nbi_layer_param(const nbi_build *b, const char *what, int rank, const int64_t *shape,
                          nb_tensor **out) {
    return declare(b, b->params, what, rank, shape, out);
}

nb_status nbi_layer_state(const nbi_build *b, const char *what, int rank, const int64_t *shape,
                          nb_tensor **out) {
    return declare(b, b->state, what, rank, shape, out);
}
