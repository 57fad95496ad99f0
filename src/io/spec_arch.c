/* io/spec_arch.c — the architecture lines of a spec: `input`, one line per layer, `reuse` and
 * `output` (docs/spec.md). They are kept as text, in order, and built by replaying them onto
 * a model through the public API (nb_model_input, the layers' _on functions, nb_model_reuse,
 * nb_model_set_outputs), so a spec builds exactly what the same calls in C build.
 *
 * Version 1 is a chain: one input line, then layers, each on the line before. Version 2 is a
 * graph: several inputs (with names, dtypes, dimensions known only at run time: None), `in=`
 * on a layer line to name the nodes it takes (default: the line before), merges (add,
 * concat, split), `reuse LAYER` to call a layer again, `output` to name the outputs.
 *
 * Parsing checks the whole architecture once on a model that only counts (nbi_model_new_dry:
 * no parameter is allocated), so every shape error is reported at its line and the model's
 * size is known before nb_spec_build allocates it, in one piece. */
#include "io/spec.h"
#include "nn/model_io.h"

#include <stdio.h>
#include <string.h>

typedef struct arch_line {
    size_t at, len; /* in the text buffer */
    int line;
} arch_line;

struct nb_spec_arch {
    char *name;    /* the text's name, for messages */
    int version;   /* of the format: 1 or 2 */
    nbi_text text; /* every line's text, one after the other */
    arch_line *lines;
    int n, cap;
    int n_layers; /* layer and reuse lines */
    int n_inputs;
    bool has_output;
    int64_t n_params, n_state; /* the model's size, from the parse's check */
};

/* More layers than any real network has: a bound on what a (hostile) spec can allocate. */
#define MAX_LAYERS 65536

nb_spec_arch *nbi_arch_new(const char *name, int version) {
    nb_spec_arch *a = nbi_calloc(1, sizeof *a);
    if (!a) return NULL;
    nbi_text_init(&a->text);
    size_t n = strlen(name);
    a->name = nbi_malloc(n + 1);
    if (!a->name) {
        nbi_free(a);
        return NULL;
    }
    memcpy(a->name, name, n + 1);
    a->version = version;
    return a;
}

void nbi_arch_free(nb_spec_arch *a) {
    if (!a) return;
    nbi_text_free(&a->text);
    nbi_free(a->lines);
    nbi_free(a->name);
    nbi_free(a);
}

const char *nbi_arch_name(const nb_spec_arch *a) {
    return a->name;
}
void nbi_arch_set_version(nb_spec_arch *a, int version) {
    a->version = version;
}
int nbi_arch_version(const nb_spec_arch *a) {
    return a->version;
}
int nbi_arch_layers(const nb_spec_arch *a) {
    return a->n_layers;
}

void nbi_arch_size(const nb_spec_arch *a, int64_t *params, int64_t *state) {
    *params = a->n_params;
    *state = a->n_state;
}

bool nbi_arch_is_line(const char *kind) {
    return !strcmp(kind, "input") || !strcmp(kind, "reuse") || !strcmp(kind, "output") ||
           nbi_spec_is_layer(kind);
}

/* ---- the lines ------------------------------------------------------------------------------ */

/* "3", "None" (version 2) or "-1" (version 2): a dimension of one sample. */
static nb_status input_dim(nbi_line *l, int i, int version, int64_t *out) {
    const char *t = l->pos[i].s;
    if (version >= 2 && (!strcmp(t, "None") || !strcmp(t, "-1"))) {
        *out = -1;
        return NB_OK;
    }
    return nbi_pos_int(l, i, "a dimension of the input", 1, out);
}

nb_status nbi_arch_input(nbi_line *l, int version, nbi_arch_in *in) {
    memset(in, 0, sizeof *in);
    in->dtype = NB_F32;
    if (l->n_pos == 1 && !strcmp(l->pos[0].s, "scalar")) {
        in->rank = 0;
    } else {
        if (l->n_pos == 0)
            return nbi_line_error(l, l->end_col,
                                  "expected the shape of one sample after "
                                  "'input' (e.g. 'input 784' or 'input 1 28 28')");
        if (l->n_pos > NB_MAX_RANK - 1)
            return nbi_line_error(l, l->pos[NB_MAX_RANK - 1].col,
                                  "a sample has at most %d "
                                  "dimensions",
                                  NB_MAX_RANK - 1);
        for (int i = 0; i < l->n_pos; i++) {
            nb_status st = input_dim(l, i, version, &in->shape[i]);
            if (st != NB_OK) return st;
        }
        in->rank = l->n_pos;
    }
    if (version >= 2) {
        const char *dt = NULL;
        nb_status st = nbi_opt_str(l, "dtype", &dt);
        if (st == NB_OK) st = nbi_opt_str(l, "name", &in->name);
        if (st != NB_OK) return st;
        if (dt && !strcmp(dt, "i32"))
            in->dtype = NB_I32;
        else if (dt && strcmp(dt, "f32"))
            return nbi_line_error(l, nbi_opt_col(l, "dtype"),
                                  "unknown dtype '%s' (expected f32, "
                                  "or i32 for token ids)",
                                  dt);
    }
    return nbi_line_done(l, l->n_pos);
}

/* The line's kind needs version 2. */
static nb_status needs_v2(nbi_line *l, int col, const char *what) {
    return nbi_line_error(l, col,
                          "%s needs 'nabla-spec 2' as the first line (this spec is "
                          "version 1, a chain of layers)",
                          what);
}

nb_status nbi_arch_add(nb_spec_arch *a, nbi_line *l, const char *text, size_t len) {
    const char *k = l->kind.s;
    bool input = !strcmp(k, "input"), output = !strcmp(k, "output");
    bool reuse = !strcmp(k, "reuse");
    if (input) {
        if (a->version < 2 && a->n_inputs > 0)
            return nbi_line_error(l, l->kind.col, "a second 'input' line (the first is line %d)%s",
                                  a->lines[0].line,
                                  "; a graph with several inputs needs "
                                  "'nabla-spec 2'");
        if (a->n_layers > 0 && a->version < 2)
            return nbi_line_error(l, l->kind.col,
                                  "the input line must come before the first "
                                  "layer");
        if (a->n_inputs == MAX_LAYERS)
            return nbi_line_error(l, l->kind.col, "too many inputs (at most %d)", MAX_LAYERS);
    } else {
        if (a->version < 2 && (reuse || output)) return needs_v2(l, l->kind.col, k);
        if (a->n_inputs == 0)
            return nbi_line_error(l, l->kind.col,
                                  "a %s before the input line: start the model with "
                                  "'input <shape of one sample>', e.g. 'input 784'",
                                  output ? "output line" : "layer");
        if (output && a->has_output)
            return nbi_line_error(l, l->kind.col, "a second 'output' line");
        if (!output && a->n_layers == MAX_LAYERS)
            return nbi_error(NB_ERR_FORMAT, "%s:%d:1: too many layers (at most %d)", a->name,
                             l->line, MAX_LAYERS);
        if (a->version < 2 && nbi_spec_is_graph_layer(k))
            return nbi_line_error(l, l->kind.col,
                                  "'%s' needs 'nabla-spec 2' as the first line (this spec is "
                                  "version 1, a chain of layers)",
                                  k);
        if (a->version < 2 && nbi_opt_col(l, "in")) return needs_v2(l, nbi_opt_col(l, "in"), "in=");
    }
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 16;
        arch_line *ls = nbi_malloc(sizeof *ls * (size_t)cap);
        if (!ls) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", a->name);
        if (a->n) memcpy(ls, a->lines, sizeof *ls * (size_t)a->n);
        nbi_free(a->lines);
        a->lines = ls;
        a->cap = cap;
    }
    size_t at = a->text.len;
    nbi_text_put(&a->text, text, len);
    if (a->text.oom) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", a->name);
    a->lines[a->n++] = (arch_line){at, len, l->line};
    if (input) a->n_inputs++;
    if (output) a->has_output = true;
    if (!input && !output) a->n_layers++;
    return NB_OK;
}

/* ---- building -------------------------------------------------------------------------------- */

/* The model's message at the line's position, unless the line already reported it. */
static nb_status at_line(nbi_line *l, nb_status s) {
    if (s == NB_OK || l->reported) return s;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    l->reported = true;
    return nbi_error(s, "%s:%d:%d: %s", l->file, l->line, l->kind.col, msg);
}

/* One node named in a line ("a", "a:1"; "-" for an optional input left out: 0). */
static nb_status node_ref(nbi_line *l, const nb_model *m, const char *ref, int col, int *node) {
    if (!strcmp(ref, "-")) {
        *node = 0;
        return NB_OK;
    }
    *node = nb_model_find_node(m, ref);
    if (*node > 0) return NB_OK;
    return nbi_line_error(l, col,
                          "no node named '%s' before this line (nodes are named after "
                          "their layers and inputs; output k of a layer is 'name:k')",
                          ref);
}

nb_status nbi_arch_nodes(nbi_line *l, const nb_model *m, const char *list, int col, int *nodes,
                         int max, int *n) {
    *n = 0;
    const char *p = list;
    char ref[160];
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof ref)
            return nbi_line_error(l, col + (int)(p - list), "expected a node name in '%s'", list);
        if (*n == max)
            return nbi_line_error(l, col, "too many nodes (at most %d) in '%s'", max, list);
        memcpy(ref, p, len);
        ref[len] = 0;
        nb_status s = node_ref(l, m, ref, col + (int)(p - list), &nodes[(*n)++]);
        if (s != NB_OK) return s;
        if (!p[len]) return NB_OK;
        p += len + 1;
    }
}

/* The nodes a layer or reuse line takes: in=a,b, else the node of the line before. */
static nb_status line_inputs(nbi_line *l, const nb_model *m, int prev, int *nodes, int *n) {
    const char *list = NULL;
    nb_status s = nbi_opt_str(l, "in", &list);
    if (s != NB_OK) return s;
    if (!list) {
        nodes[0] = prev;
        *n = 1;
        return NB_OK;
    }
    return nbi_arch_nodes(l, m, list, nbi_opt_col(l, "in"), nodes, NBI_ARCH_MAX_IN, n);
}

/* reuse LAYER [in=NODES] [name=N] */
static nb_status reuse_line(nbi_line *l, nb_model *m, int prev, int *node) {
    const char *layer, *name = NULL;
    int in[NBI_ARCH_MAX_IN], n = 0;
    nb_status s = nbi_pos_word(l, 0, "the name of the layer to call again", &layer);
    if (s == NB_OK) s = line_inputs(l, m, prev, in, &n);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &name);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s != NB_OK) return s;
    *node = nb_model_reuse(m, layer, in, n, name);
    return at_line(l, *node < 0 ? (nb_status) - *node : NB_OK);
}

/* output NODE [NODE ...] */
static nb_status output_line(nbi_line *l, nb_model *m) {
    int nodes[NBI_LINE_MAX_TOKENS]; /* one per word of the line at most */
    if (l->n_pos == 0) return nbi_line_error(l, l->end_col, "expected the model's output nodes");
    for (int i = 0; i < l->n_pos; i++) {
        nb_status s = node_ref(l, m, l->pos[i].s, l->pos[i].col, &nodes[i]);
        if (s == NB_OK && nodes[i] == 0) s = nbi_line_error(l, l->pos[i].col, "'-' is not a node");
        if (s != NB_OK) return s;
    }
    nb_status s = nbi_line_done(l, l->n_pos);
    return s != NB_OK ? s : at_line(l, nb_model_set_outputs(m, nodes, l->n_pos));
}

static nb_status build_line(const nb_spec_arch *a, nbi_line *l, nb_model *m, int *prev) {
    const char *k = l->kind.s;
    int node = 0;
    nb_status s;
    if (!strcmp(k, "input")) {
        nbi_arch_in in;
        s = nbi_arch_input(l, a->version, &in);
        if (s != NB_OK) return s;
        node = nb_model_input(m, in.name, in.dtype, in.rank, in.shape);
        s = at_line(l, node < 0 ? (nb_status)-node : NB_OK);
    } else if (!strcmp(k, "reuse")) {
        s = reuse_line(l, m, *prev, &node);
    } else if (!strcmp(k, "output")) {
        return output_line(l, m);
    } else {
        int in[NBI_ARCH_MAX_IN], n = 0;
        s = a->version >= 2 ? line_inputs(l, m, *prev, in, &n) : NB_OK;
        if (a->version < 2) {
            in[0] = *prev;
            n = 1;
        }
        if (s == NB_OK) s = at_line(l, nbi_spec_layer(m, l, a->version, in, n, &node));
    }
    if (s == NB_OK) *prev = node;
    return s;
}

nb_status nbi_arch_build(const nb_spec_arch *a, nb_model *m) {
    int prev = 0;
    nb_status s = NB_OK;
    for (int i = 0; i < a->n && s == NB_OK; i++) {
        const arch_line *al = &a->lines[i];
        nbi_line l;
        s = nbi_line_split(&l, a->name, al->line, nbi_text_str(&a->text) + al->at, al->len);
        if (s == NB_OK) s = build_line(a, &l, m, &prev);
        nbi_line_free(&l);
    }
    return s;
}

nb_status nbi_arch_dry(const nb_spec_arch *a, uint64_t seed, nb_model **out) {
    *out = NULL;
    nb_model *m = nbi_model_new_dry(seed);
    if (!m) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", a->name);
    nb_status s = nbi_arch_build(a, m);
    if (s != NB_OK) {
        nb_model_free(m);
        return s;
    }
    *out = m;
    return NB_OK;
}

nb_status nbi_arch_check(nb_spec_arch *a, uint64_t seed, nb_model **keep) {
    nb_model *m;
    nb_status s = nbi_arch_dry(a, seed, &m);
    if (s != NB_OK) return s;
    a->n_params = nb_model_param_count(m);
    a->n_state = nb_model_state_count(m);
    if (keep)
        *keep = m;
    else
        nb_model_free(m);
    return NB_OK;
}
