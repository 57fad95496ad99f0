/* nn/spec.c — a model's architecture as text in the spec format (docs/spec.md).
 *
 * Each layer writes its own line through its table's `spec` function (kind and the settings
 * that differ from their defaults); the model writes the header and the input line, and adds
 * `name=` to a layer whose name is not the one the model would give it by default, so that
 * building the text again reproduces the names, and with them the parameter names that model
 * files store. The reader of this text is src/io/spec.c. */
#include "nn/nn.h"

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

/* 1-based position of layer i among the layers of its kind: the k of "<stem>_<k>". */
static int kind_index(const nb_model *m, int i) {
    const nbi_layer *l = nbi_model_layer(m, i);
    int k = 0;
    for (int j = 0; j <= i; j++)
        if (nbi_model_layer(m, j)->vt == l->vt) k++;
    return k;
}

void nbi_model_spec_text(const nb_model *m, nbi_text *t) {
    int64_t shape[NB_MAX_RANK];
    int rank = nb_model_input_shape(m, shape);
    nbi_text_puts(t, "nabla-spec 1\ninput");
    for (int i = 0; i < rank; i++) nbi_text_printf(t, " %lld", (long long)shape[i]);
    if (rank == 0) nbi_text_puts(t, " scalar");
    nbi_text_puts(t, "\n");
    for (int i = 0; i < nb_model_layer_count(m); i++) {
        const nbi_layer *l = nbi_model_layer(m, i);
        NBI_ASSERT(l->vt->spec);
        l->vt->spec(l, t);
        char def[NBI_LAYER_NAME_MAX + 16];
        snprintf(def, sizeof def, "%s_%d", l->vt->stem, kind_index(m, i));
        if (strcmp(def, l->name) != 0) {
            nbi_text_puts(t, " name=");
            nbi_text_value(t, l->name);
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
