/* tools/nabla/spec_opts.c — what `nabla train` and `nabla cv` share: command-line options
 * written into the spec (so the model file's stored spec says what the run really did), the
 * data options a spec gives, and the pieces of a run built from them (the model for the data's
 * width, the normalisation, the class weights). */
#include "cli.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A copy through nabla's allocator: the spec frees its strings. */
static char *spec_str(const char *s) {
    size_t n = strlen(s);
    char *d = cli_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static int set_str(const cli_args *a, char **field, const char *v) {
    char *d = NULL;
    if (v && strcmp(v, "-") != 0 && !(d = spec_str(v))) return cli_lib_error(a);
    cli_free(*field);
    *field = d; /* standard input is no path to store */
    return CLI_OK;
}

int cli_spec_options(cli_args *a, nb_spec *s) {
    int rc = cli_int(a, "epochs", 1, INT64_MAX, &s->epochs);
    if (rc == CLI_OK && cli_get(a, "epochs")) s->has_epochs = 1;
    if (rc == CLI_OK) rc = cli_int(a, "batch", 1, INT64_MAX, &s->batch);
    if (rc == CLI_OK && cli_get(a, "batch")) s->has_batch = 1;
    int64_t seed = (int64_t)s->seed;
    if (rc == CLI_OK) rc = cli_int(a, "seed", 0, INT64_MAX, &seed);
    if (rc == CLI_OK && cli_get(a, "seed")) s->has_seed = 1;
    s->seed = (uint64_t)seed;
    nb_data_spec *d = &s->data;
    if (rc == CLI_OK) rc = cli_double(a, "val-split", 0.0, 0.999999, &d->val_split);
    if (rc == CLI_OK && cli_get(a, "val-split")) d->has_val_split = 1;
    if (rc == CLI_OK) rc = cli_double(a, "test-split", 0.0, 0.999999, &d->test_split);
    if (rc == CLI_OK && cli_get(a, "test-split")) d->has_test_split = 1;
    const char *opt = cli_get(a, "opt");
    if (rc == CLI_OK && opt) {
        int k = nb_optim_kind_from_name(opt);
        if (k < 0)
            return cli_error(a, CLI_USAGE,
                             "--opt: unknown optimizer '%s' (expected sgd, adam, "
                             "adamw, rmsprop or adagrad)",
                             opt);
        /* PyTorch's defaults for the new kind; a rate the spec set carries over */
        nb_optim_config c = {.kind = (nb_optim_kind)k};
        if (s->has_optim) nb_optim_config_set_lr(&c, nb_optim_config_lr(&s->optim));
        s->optim = c;
        s->has_optim = 1;
    }
    double lr = -1;
    if (rc == CLI_OK) rc = cli_double(a, "lr", 0.0, 1e6, &lr);
    if (rc == CLI_OK && lr >= 0 && nb_spec_set_lr(s, lr) != NB_OK) rc = cli_lib_error(a);
    if (rc != CLI_OK) return rc;
    /* the data */
    static const struct {
        const char *opt;
        size_t off;
    } paths[] = {
        {"data", offsetof(nb_data_spec, train)},
        {"labels", offsetof(nb_data_spec, train_labels)},
        {"val", offsetof(nb_data_spec, val)},
        {"val-labels", offsetof(nb_data_spec, val_labels)},
        {"test", offsetof(nb_data_spec, test)},
        {"test-labels", offsetof(nb_data_spec, test_labels)},
        {"label", offsetof(nb_data_spec, label)},
        {"categorical", offsetof(nb_data_spec, categorical)},
        {"tokenizer", offsetof(nb_data_spec, tokenizer)},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && rc == CLI_OK; i++) {
        const char *v = cli_get(a, paths[i].opt);
        size_t off = paths[i].off;
        if (i == 0 && d->text) off = offsetof(nb_data_spec, text); /* a language model's text */
        if (v) rc = set_str(a, (char **)((char *)d + off), v);
    }
    const char *v = cli_get(a, "format");
    if (rc == CLI_OK && v) {
        if (strcmp(v, "csv") && strcmp(v, "npy") && strcmp(v, "idx"))
            return cli_error(a, CLI_USAGE, "unknown format '%s' (expected csv, npy or idx)", v);
        snprintf(d->format, sizeof d->format, "%s", v);
    }
    if (rc == CLI_OK && (v = cli_get(a, "store"))) {
        if (strcmp(v, "auto") && strcmp(v, "f32") && strcmp(v, "f16"))
            return cli_error(a, CLI_USAGE, "--store: expected auto, f32 or f16, got '%s'", v);
        snprintf(d->store, sizeof d->store, "%s", strcmp(v, "auto") ? v : "");
    }
    if (rc == CLI_OK && (v = cli_get(a, "task"))) {
        int t = nb_task_from_name(v);
        if (t <= 0)
            return cli_error(a, CLI_USAGE,
                             "--task: unknown task '%s' (expected classification, regression or "
                             "multilabel)",
                             v);
        d->has_task = 1;
        d->task = (nb_task)t;
    }
    if (rc == CLI_OK && (v = cli_get(a, "missing"))) {
        int m = nb_missing_from_name(v);
        if (m < 0)
            return cli_error(a, CLI_USAGE,
                             "--missing: unknown rule '%s' (expected error, mean, median or zero)",
                             v);
        d->has_missing = 1;
        d->missing = (nb_missing)m;
    }
    if (rc == CLI_OK && (v = cli_get(a, "header"))) {
        if (strcmp(v, "auto") && strcmp(v, "yes") && strcmp(v, "no"))
            return cli_error(a, CLI_USAGE, "--header: expected auto, yes or no, got '%s'", v);
        d->header = v[0] == 'y'   ? NB_CSV_HEADER_YES
                    : v[0] == 'n' ? NB_CSV_HEADER_NO
                                  : NB_CSV_HEADER_AUTO;
    }
    if (rc == CLI_OK && (v = cli_get(a, "delimiter"))) rc = cli_delimiter(a, v, &d->delimiter);
    return rc;
}

int cli_delimiter(const cli_args *a, const char *v, char *out) {
    char c = !strcmp(v, "tab") || !strcmp(v, "\\t") ? '\t'
             : !strcmp(v, "comma")                  ? ','
             : !strcmp(v, "semicolon")              ? ';'
             : !strcmp(v, "pipe")                   ? '|'
             : strlen(v) == 1                       ? v[0]
                                                    : 0;
    if (!c || c == '"' || c == ' ' || c == '\n' || c == '\r' || (unsigned char)c >= 0x80)
        return cli_error(a, CLI_USAGE,
                         "--delimiter: expected one character (or tab, comma, semicolon, pipe), "
                         "not a quote or a space, got '%s'",
                         v);
    *out = c;
    return CLI_OK;
}

void cli_spec_data_opts(const nb_spec *s, cli_data_opts *o) {
    const nb_data_spec *d = &s->data;
    memset(o, 0, sizeof *o);
    o->train = d->train;
    o->train_labels = d->train_labels;
    o->val = d->val;
    o->val_labels = d->val_labels;
    o->test = d->test;
    o->test_labels = d->test_labels;
    o->format = d->format[0] ? d->format : NULL;
    o->features = d->features;
    o->store = d->store;
    o->frames_first = s->in_rank == 2; /* a sequence model over frames [T, F] */
    o->table.label = d->label;
    o->table.task = d->has_task ? d->task : NB_TASK_AUTO;
    o->table.loss = s->has_loss ? s->loss : NULL;
    o->table.header = d->header;
    o->table.delimiter = d->delimiter;
    o->table.missing = d->has_missing ? d->missing : NB_MISSING_ERROR;
    o->table.categorical = d->categorical;
}

int cli_class_weights(const cli_args *a, const nb_dataset *train, int k, float **out) {
    *out = NULL;
    int64_t n = nb_dataset_len(train);
    int32_t *lab = cli_malloc(sizeof *lab * (size_t)(n ? n : 1));
    int64_t *count = cli_malloc(sizeof *count * (size_t)(k ? k : 1));
    float *w = cli_malloc(sizeof *w * (size_t)(k ? k : 1));
    int rc = lab && count && w ? CLI_OK : cli_lib_error(a);
    if (rc == CLI_OK && nb_dataset_labels(train, lab) != NB_OK) rc = cli_lib_error(a);
    int present = 0;
    for (int c = 0; rc == CLI_OK && c < k; c++) count[c] = 0;
    for (int64_t i = 0; rc == CLI_OK && i < n; i++)
        if (lab[i] >= 0 && lab[i] < k) count[lab[i]]++;
    for (int c = 0; rc == CLI_OK && c < k; c++) present += count[c] > 0;
    /* balanced: w_c = n / (k n_c) over the classes present (scikit-learn's compute_class_weight) */
    for (int c = 0; rc == CLI_OK && c < k; c++)
        w[c] = count[c] ? (float)((double)n / ((double)present * (double)count[c])) : 1.0f;
    cli_free(lab);
    cli_free(count);
    if (rc != CLI_OK) {
        cli_free(w);
        return rc;
    }
    *out = w;
    return CLI_OK;
}

int cli_fit_norm(const cli_args *a, const nb_spec *s, const nb_dataset *train, nb_norm *norm) {
    memset(norm, 0, sizeof *norm);
    const nb_data_spec *d = &s->data;
    if (!d->has_norm || d->norm == NB_NORM_NONE) return CLI_OK;
    nb_status st = d->norm == NB_NORM_CONST
                       ? nb_norm_const(norm, d->norm_shift, d->norm_div)
                       : nb_norm_fit(norm, train, d->norm, d->norm_per_feature);
    return st == NB_OK ? CLI_OK : cli_lib_error(a);
}
