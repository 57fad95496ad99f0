/* nn/spec.c — a model's architecture as text in the spec format (docs/spec.md).
 *
 * Each layer writes its own line through its table's `spec` function (kind and the settings
 * that differ from their defaults); the model writes the header and the input lines, adds
 * `name=` to a layer whose name is not the one the model would give it by default (so that
 * building the text again reproduces the names, and with them the parameter names that model
 * files store), and for a graph (version 2) `in=` where a line does not take the node before
 * it, `reuse` lines for layers called again, and the `output` line. A chain of layers is
 * written as version 1, which every nabla reads. The reader of this text is src/io/spec.c. */
#include "nn/model.h"

#include <stdio.h>
#include <string.h>

void nbi_init_text(const nb_init *init, nbi_text *out) {
    static const char *const names[] = {
        [NB_INIT_DEFAULT] = "default",
        [NB_INIT_ZEROS] = "zeros",
        [NB_INIT_CONSTANT] = "constant",
        [NB_INIT_UNIFORM] = "uniform",
        [NB_INIT_NORMAL] = "normal",
        [NB_INIT_XAVIER_UNIFORM] = "xavier_uniform",
        [NB_INIT_XAVIER_NORMAL] = "xavier_normal",
        [NB_INIT_KAIMING_UNIFORM] = "kaiming_uniform",
        [NB_INIT_KAIMING_NORMAL] = "kaiming_normal",
    };
    NBI_ASSERT((unsigned)init->kind <= NB_INIT_KAIMING_NORMAL);
    nbi_text_puts(out, names[init->kind]);
    switch (init->kind) {
    case NB_INIT_CONSTANT:
        nbi_text_puts(out, ":");
        nbi_text_float(out, init->a);
        break;
    case NB_INIT_UNIFORM:
    case NB_INIT_NORMAL:
        nbi_text_puts(out, ":");
        nbi_text_float(out, init->a);
        nbi_text_puts(out, ":");
        nbi_text_float(out, init->b);
        break;
    case NB_INIT_XAVIER_UNIFORM:
    case NB_INIT_XAVIER_NORMAL:
    case NB_INIT_KAIMING_UNIFORM:
    case NB_INIT_KAIMING_NORMAL:
        if (init->gain != 0.0f) {
            nbi_text_puts(out, ":");
            nbi_text_float(out, init->gain);
        }
        break;
    default:
        break;
    }
}

void nbi_pair_text(const int64_t *v, nbi_text *out) {
    if (v[0] == v[1])
        nbi_text_printf(out, "%lld", (long long)v[0]);
    else
        nbi_text_printf(out, "%lld,%lld", (long long)v[0], (long long)v[1]);
}

void nbi_activation_spec(nb_activation act, float alpha, nbi_text *out) {
    const char *nm = nb_activation_name(act);
    NBI_ASSERT(nm);
    nbi_text_puts(out, nm);
    if (nbi_activation_has_alpha(act) && alpha != 0.0f) {
        nbi_text_puts(out, " alpha=");
        nbi_text_float(out, alpha);
    }
}

/* How many layers of each kind the walk has met, for their default names. */
typedef struct kind_seen {
    const nbi_layer_vt *vt[NBI_MAX_KINDS];
    int count[NBI_MAX_KINDS];
    int n;
} kind_seen;

static int next_of_kind(kind_seen *ks, const nbi_layer_vt *vt) {
    for (int i = 0; i < ks->n; i++)
        if (ks->vt[i] == vt) return ++ks->count[i];
    NBI_ASSERT(ks->n < NBI_MAX_KINDS);
    ks->vt[ks->n] = vt;
    ks->count[ks->n++] = 1;
    return 1;
}

static void name_opt(nbi_text *t, const char *name, const char *def) {
    if (strcmp(def, name) == 0) return;
    nbi_text_puts(t, " name=");
    nbi_text_value(t, name);
}

/* " in=a,b" unless the call takes just the node before it; "-" for an input left out. */
static void in_opt(const nb_model *m, nbi_text *t, const nbi_call *c, int prev) {
    if (c->n_in == 1 && nbi_call_in(c)[0] == prev) return;
    nbi_text_puts(t, " in=");
    nbi_text tmp;
    nbi_text_init(&tmp);
    for (int i = 0; i < c->n_in; i++) {
        if (i) nbi_text_puts(&tmp, ",");
        nbi_text_puts(&tmp, nbi_call_in(c)[i] >= 0 ? m->nodes[nbi_call_in(c)[i]].name : "-");
    }
    nbi_text_value(t, nbi_text_str(&tmp));
    if (tmp.oom) t->oom = true;
    nbi_text_free(&tmp);
}

static void input_line(nbi_text *t, const nbi_gnode *g, int k, bool v2) {
    nbi_text_puts(t, "input");
    for (int i = 0; i < g->shape.rank; i++) {
        if (g->shape.dim[i] < 0)
            nbi_text_puts(t, " None");
        else
            nbi_text_printf(t, " %lld", (long long)g->shape.dim[i]);
    }
    if (g->shape.rank == 0) nbi_text_puts(t, " scalar");
    if (!v2) return;
    if (g->shape.dtype == NB_I32) nbi_text_puts(t, " dtype=i32");
    char def[32];
    if (k == 1)
        snprintf(def, sizeof def, "input");
    else
        snprintf(def, sizeof def, "input_%d", k);
    name_opt(t, g->name, def);
}

/* Lines in the order the model was built: inputs and calls as their nodes were made. */
void nbi_model_spec_text(const nb_model *m, nbi_text *t) {
    bool v2 = !nbi_model_is_chain(m);
    nbi_text_puts(t, v2 ? "nabla-spec 2\n" : "nabla-spec 1\n");
    kind_seen ks = {.n = 0};
    int *calls_of = nbi_calloc((size_t)m->n_layers + 1, sizeof *calls_of);
    if (!calls_of) {
        t->oom = true;
        return;
    }
    int prev = -1, inputs = 0;
    for (int n = 0; n < m->n_nodes; n++) {
        const nbi_gnode *g = &m->nodes[n];
        if (g->call < 0) {
            input_line(t, g, ++inputs, v2);
            nbi_text_puts(t, "\n");
            prev = n;
            continue;
        }
        if (g->index != 0) continue;
        const nbi_call *c = &m->calls[g->call];
        const nbi_layer *l = m->layers[c->layer];
        char def[NBI_LAYER_NAME_MAX + 24];
        if (calls_of[c->layer]++ == 0) {
            NBI_ASSERT(l->vt->spec);
            l->vt->spec(l, t);
            if (v2) in_opt(m, t, c, prev);
            snprintf(def, sizeof def, "%s_%d", l->vt->stem, next_of_kind(&ks, l->vt));
        } else {
            nbi_text_puts(t, "reuse ");
            nbi_text_value(t, l->name);
            in_opt(m, t, c, prev);
            snprintf(def, sizeof def, "%s@%d", l->name, calls_of[c->layer]);
        }
        name_opt(t, g->name, def);
        nbi_text_puts(t, "\n");
        prev = n;
    }
    nbi_free(calls_of);
    const int *outs;
    int n_out = nbi_model_outputs(m, &outs);
    if (v2 && !(n_out == 1 && outs[0] == m->last)) {
        nbi_text_puts(t, "output");
        for (int k = 0; k < n_out; k++) {
            nbi_text_puts(t, " ");
            nbi_text_value(t, m->nodes[outs[k]].name);
        }
        nbi_text_puts(t, "\n");
    }
}

size_t nb_model_spec(const nb_model *m, char *buf, size_t n) {
    if (!m) {
        nbi_error(NB_ERR_ARG, "nb_model_spec: model is NULL");
        return 0;
    }
    nbi_text t;
    nbi_text_init(&t);
    nbi_model_spec_text(m, &t);
    return nbi_text_export(&t, "nb_model_spec", buf, n);
}
