/* nn/summary.c — a model as a Keras-like table: one row per call (the layer's name and kind,
 * its output shape, its parameter count on its first call, its settings), then the totals.
 * A graph also says which nodes each call takes, and its inputs and outputs. */
#include "nn/model.h"

#include <stdio.h>
#include <string.h>

#define RULE_W 86

static void rule(FILE *f, char c) {
    for (int i = 0; i < RULE_W; i++) fputc(c, f);
    fputc('\n', f);
}

/* "a, b:1" — the names of a call's inputs, cut to fit. */
static void inputs_text(const nb_model *m, const nbi_call *c, char *buf, size_t n) {
    size_t w = 0;
    buf[0] = 0;
    for (int i = 0; i < c->n_in && w < n; i++) {
        int r = snprintf(buf + w, n - w, "%s%s", i ? ", " : "",
                         nbi_call_in(c)[i] >= 0 ? m->nodes[nbi_call_in(c)[i]].name : "-");
        if (r < 0) break;
        w += (size_t)r;
    }
}

nb_status nb_model_summary(const nb_model *m, FILE *f) {
    if (!m || !f) return nbi_error(NB_ERR_ARG, "nb_model_summary: NULL %s", m ? "file" : "model");
    bool chain = nbi_model_is_chain(m);
    char in[160];
    if (chain) {
        const nbi_gnode *g = &m->nodes[m->inputs[0]];
        nbi_batch_shape_str(g->shape.rank, g->shape.dim, in, sizeof in);
        fprintf(f, "Model: sequential, input %s\n", in);
    } else {
        fprintf(f, "Model: graph, input%s", m->n_inputs == 1 ? "" : "s");
        for (int i = 0; i < m->n_inputs; i++) {
            const nbi_gnode *g = &m->nodes[m->inputs[i]];
            nbi_shape_str(&g->shape, in, sizeof in);
            fprintf(f, "%s %s %s", i ? "," : "", g->name, in);
        }
        fprintf(f, "\n");
    }
    rule(f, '_');
    fprintf(f, "%-30s %-22s %-11s %s\n", "Layer (type)", "Output Shape", "Param #",
            chain ? "Config" : "Config <- inputs");
    rule(f, '=');
    for (int c = 0; c < m->n_calls; c++) {
        const nbi_call *call = &m->calls[c];
        const nbi_layer *l = m->layers[call->layer];
        const nbi_gnode *g = &m->nodes[call->first_out];
        char name[NBI_LAYER_NAME_MAX * 2 + 32], shape[160], conf[160] = "", from[160] = "";
        bool first = g->name == l->name;
        snprintf(name, sizeof name, "%s (%s)", g->name, first ? l->vt->kind : "reused");
        nbi_shape_str(&g->shape, shape, sizeof shape);
        if (l->vt->describe) l->vt->describe(l, conf, sizeof conf);
        if (!chain) inputs_text(m, call, from, sizeof from);
        fprintf(f, "%-30s %-22s %-11lld%s%s%s%s\n", name, shape,
                first ? (long long)l->param_count : 0LL, conf[0] ? " " : "", conf,
                from[0] ? " <- " : "", from);
        for (int k = 1; k < call->n_out; k++) {
            g = &m->nodes[call->first_out + k];
            nbi_shape_str(&g->shape, shape, sizeof shape);
            fprintf(f, "  %-28s %-22s\n", g->name, shape);
        }
    }
    rule(f, '=');
    if (!chain) {
        const int *outs;
        int n = nbi_model_outputs(m, &outs);
        fprintf(f, "Output%s:", n == 1 ? "" : "s");
        for (int k = 0; k < n; k++) fprintf(f, "%s %s", k ? "," : "", m->nodes[outs[k]].name);
        fprintf(f, "\n");
    }
    long long trainable = (long long)m->params->numel, fixed = (long long)m->state->numel;
    long long total = trainable + fixed;
    fprintf(f, "Total params: %lld (%lld bytes)\n", total, total * 4);
    fprintf(f, "Trainable params: %lld\n", trainable);
    fprintf(f, "Non-trainable params: %lld\n", fixed);
    rule(f, '_');
    if (ferror(f)) return nbi_error(NB_ERR_IO, "nb_model_summary: writing failed");
    return NB_OK;
}
