/* io/spec_layers.c — the layer lines of the spec format: one table entry per layer kind,
 * each a function that reads the line's arguments and appends the layer to the model.
 *
 * The other direction, model to text, is each layer's `spec` function (src/nn/); the two
 * must agree, which tests/test_spec.c checks by a round trip over every kind (text → model
 * → nb_model_spec → the same text). To add a layer kind: write its spec function in its
 * nn/ file, then one parse function and one table entry here, and a line in the test. */
#include "io/spec.h"

#include <stdio.h>
#include <string.h>

/* dense UNITS [ACTIVATION] [alpha=A] [bias=false] [init=I] [bias_init=I] [name=N] */
static nb_status parse_dense(nb_model *m, nbi_line *l) {
    nb_dense_opts o;
    memset(&o, 0, sizeof o);
    int64_t units;
    int bias = 1;
    nb_status s = nbi_pos_int(l, 0, "the number of units", 1, &units);
    if (s == NB_OK && nbi_pos_has(l, 1)) s = nbi_tok_activation(l, &l->pos[1], &o.activation);
    if (s == NB_OK) s = nbi_opt_float(l, "alpha", "alpha", 0.0, 0.0, &o.alpha);
    if (s == NB_OK) s = nbi_opt_bool(l, "bias", &bias);
    if (s == NB_OK) s = nbi_opt_init(l, "init", &o.weight_init);
    if (s == NB_OK) s = nbi_opt_init(l, "bias_init", &o.bias_init);
    if (s == NB_OK) s = nbi_opt_str(l, "name", &o.name);
    if (s == NB_OK) s = nbi_line_done(l, 2);
    if (s != NB_OK) return s;
    o.no_bias = !bias;
    return nb_model_dense_with(m, units, &o);
}

/* activation NAME [alpha=A] */
static nb_status parse_activation(nb_model *m, nbi_line *l) {
    nb_activation act = NB_ACT_NONE;
    float alpha = 0.0f;
    const char *word;
    nb_status s = nbi_pos_word(l, 0, "an activation name", &word);
    if (s == NB_OK) s = nbi_tok_activation(l, &l->pos[0], &act);
    if (s == NB_OK) s = nbi_opt_float(l, "alpha", "alpha", 0.0, 0.0, &alpha);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s != NB_OK) return s;
    return nb_model_activation(m, act, alpha);
}

static const struct {
    const char *kind;
    nb_status (*parse)(nb_model *m, nbi_line *l);
} layer_kinds[] = {
    {"dense", parse_dense},
    {"activation", parse_activation},
};

#define N_KINDS (sizeof layer_kinds / sizeof layer_kinds[0])

nb_status nbi_spec_layer(nb_model *m, nbi_line *l, bool *known) {
    *known = false;
    for (size_t k = 0; k < N_KINDS; k++) {
        if (strcmp(layer_kinds[k].kind, l->kind.s) != 0) continue;
        *known = true;
        nb_status s = layer_kinds[k].parse(m, l);
        /* The model's own messages (a shape that does not fit, a name taken twice) do not
         * know the line: put its position in front. */
        if (s != NB_OK && !l->reported) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", nb_last_error());
            return nbi_error(s, "%s:%d:%d: %s", l->file, l->line, l->kind.col, msg);
        }
        return s;
    }
    return NB_OK;
}

bool nbi_spec_is_layer(const char *kind) {
    for (size_t k = 0; k < N_KINDS; k++)
        if (!strcmp(layer_kinds[k].kind, kind)) return true;
    return false;
}

void nbi_spec_layer_kinds(char *buf, size_t n) {
    size_t w = 0;
    buf[0] = 0;
    for (size_t k = 0; k < N_KINDS && w < n; k++) {
        int r = snprintf(buf + w, n - w, "%s%s", k ? ", " : "", layer_kinds[k].kind);
        if (r > 0) w += (size_t)r;
    }
}
