/* tools/nabla/table.c — CSV tables for the commands: reading a file or standard input, the
 * label option (a name, an index, or several names), deciding the task of a training table
 * (said, implied by the loss, or read from the label column), and reading a later table the
 * way a model trained on a table expects it (its columns by name when the file has a header,
 * by position when it has none; its categories, fill values and class names). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- input bytes and lists --------------------------------------------------------------- */

int cli_input_read(const cli_args *a, const char *path, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (!strcmp(path, "-")) return cli_read_stdin(a, buf, len);
    void *b;
    if (nb_file_read(path, &b, len) != NB_OK) return cli_lib_error(a);
    *buf = b;
    return CLI_OK;
}

const char *cli_input_name(const char *path) {
    return strcmp(path, "-") ? path : "(standard input)";
}

void cli_list_free(cli_list *l) {
    cli_free(l->text);
    cli_free(l->item);
    memset(l, 0, sizeof *l);
}

int cli_list_split(const cli_args *a, const char *s, cli_list *l) {
    memset(l, 0, sizeof *l);
    if (!s) return CLI_OK;
    size_t n = strlen(s);
    int count = 1;
    for (const char *p = s; *p; p++) count += *p == ',';
    l->text = cli_malloc(n + 1);
    l->item = cli_malloc(sizeof *l->item * (size_t)count);
    if (!l->text || !l->item) {
        cli_list_free(l);
        return cli_lib_error(a);
    }
    memcpy(l->text, s, n + 1);
    for (char *p = l->text;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (!*p) {
            cli_list_free(l);
            return cli_error(a, CLI_USAGE, "an empty name in the list '%s'", s);
        }
        l->item[l->n++] = p;
        if (!c) break;
        p = c + 1;
    }
    return CLI_OK;
}

/* A column index of the command line (from 0; negative from the end) as nb_csv_opts counts
 * columns (from 1; negative from the end), out-of-range values kept out of range. */
static int label_column(long idx) {
    if (idx >= 0) return idx < INT_MAX ? (int)idx + 1 : INT_MAX;
    return idx > INT_MIN ? (int)idx : INT_MIN;
}

void cli_label_opts(const char *label, const cli_list *labels, nb_csv_opts *o) {
    if (labels && labels->n > 1) {
        o->label_names = labels->item;
        o->num_labels = labels->n;
        o->label_name = NULL;
        return;
    }
    if (!label) return;
    char *end;
    errno = 0;
    long idx = strtol(label, &end, 10);
    if (*label && !*end && !errno) {
        o->label_column = label_column(idx);
        o->label_name = NULL;
    } else {
        o->label_name = label;
    }
}

/* ---- the task of a training table ---------------------------------------------------------- */

static bool numeric_text(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && !errno && isfinite(*v);
}

/* AUTO: the loss says (mse, l1, huber: regression; bce: yes/no labels), else the label column
 * (text: classes; numbers with fractions: regression; a few integers: classes). */
static nb_task task_from_loss(const char *loss, int nlabels) {
    if (!loss) return nlabels > 1 ? NB_TASK_REGRESSION : NB_TASK_AUTO;
    int k = nb_loss_from_name(loss);
    if (k == NB_LOSS_MSE || k == NB_LOSS_MAE || k == NB_LOSS_HUBER) return NB_TASK_REGRESSION;
    if (k == NB_LOSS_BCE || k == NB_LOSS_BCE_LOGITS)
        return nlabels > 1 ? NB_TASK_MULTILABEL : NB_TASK_CLASSIFICATION;
    return NB_TASK_CLASSIFICATION;
}

#define MAX_AUTO_CLASSES 50 /* more distinct integers than this: say which task it is */

/* Looks at a table read as classes: is its label column a regression's target? */
static int infer_task(const cli_args *a, cli_table *t, nb_task *task) {
    const nb_csv *c = &t->csv;
    *task = NB_TASK_CLASSIFICATION;
    if (c->classes) {
        bool numbers = true, fractions = false;
        for (int k = 0; k < c->num_classes && numbers; k++) {
            double v;
            numbers = numeric_text(c->classes[k], &v);
            fractions = fractions || (numbers && v != floor(v));
        }
        if (numbers && (fractions || c->num_classes > MAX_AUTO_CLASSES)) {
            *task = NB_TASK_REGRESSION;
            snprintf(t->note, sizeof t->note,
                     "task regression: the label column '%.40s' holds numbers%s (say "
                     "task=classification to read them as classes)",
                     c->label_name ? c->label_name : "?",
                     fractions ? " with fractions" : ", many of them");
        }
        return CLI_OK;
    }
    /* non-negative integers: as many classes as distinct values */
    unsigned char *seen = cli_malloc((size_t)(c->num_classes > 0 ? c->num_classes : 1));
    if (!seen) return cli_lib_error(a);
    memset(seen, 0, (size_t)(c->num_classes > 0 ? c->num_classes : 1));
    int distinct = 0;
    for (int64_t r = 0; r < c->rows; r++) distinct += !seen[c->labels[r]]++ ? 1 : 0;
    cli_free(seen);
    if (distinct > MAX_AUTO_CLASSES)
        return cli_error(a, CLI_FAIL,
                         "%s: the label column '%s' holds %d distinct integers: classes or a "
                         "number to predict? Say task=classification or task=regression "
                         "(--task), or give the loss",
                         t->name, c->label_name ? c->label_name : "?", distinct);
    return CLI_OK;
}

void cli_table_free(cli_table *t) {
    nb_csv_free(&t->csv);
    cli_list_free(&t->labels);
    cli_list_free(&t->cats);
    memset(t, 0, sizeof *t);
}

int cli_table_read(const cli_args *a, const char *path, const cli_table_opts *o, cli_table *t) {
    memset(t, 0, sizeof *t);
    t->name = cli_input_name(path);
    unsigned char *buf;
    size_t len;
    int rc = cli_input_read(a, path, &buf, &len);
    if (rc == CLI_OK)
        rc = cli_list_split(a, o->label && strchr(o->label, ',') ? o->label : NULL, &t->labels);
    if (rc == CLI_OK) rc = cli_list_split(a, o->categorical, &t->cats);
    if (rc != CLI_OK) {
        cli_free(buf);
        cli_table_free(t);
        return rc;
    }
    nb_csv_opts co = {0};
    co.header = o->header;
    co.delimiter = o->delimiter;
    co.allow_missing = o->missing != NB_MISSING_ERROR;
    co.categorical = t->cats.n ? t->cats.item : NULL;
    co.num_categorical = t->cats.n;
    cli_label_opts(o->label, &t->labels, &co);
    nb_task task = o->task != NB_TASK_AUTO ? o->task : task_from_loss(o->loss, t->labels.n);
    co.label_is_target = task == NB_TASK_REGRESSION || task == NB_TASK_MULTILABEL;
    if (task == NB_TASK_CLASSIFICATION && t->labels.n > 1)
        rc = cli_error(a, CLI_USAGE,
                       "%d label columns for a classification: one column holds the "
                       "classes (several are a regression's or a multilabel task's)",
                       t->labels.n);
    if (rc == CLI_OK && nb_csv_parse(buf, len, t->name, &co, &t->csv) != NB_OK)
        rc = cli_lib_error(a);
    if (rc == CLI_OK && task == NB_TASK_AUTO) {
        rc = infer_task(a, t, &task);
        if (rc == CLI_OK && task == NB_TASK_REGRESSION) { /* again, the labels as numbers */
            nb_csv_free(&t->csv);
            co.label_is_target = 1;
            if (nb_csv_parse(buf, len, t->name, &co, &t->csv) != NB_OK) rc = cli_lib_error(a);
        }
    }
    cli_free(buf);
    if (rc == CLI_OK && t->csv.rows == 0)
        rc = cli_error(a, CLI_FAIL, "%s holds no samples (only a header row): nothing to do",
                       t->name);
    if (rc != CLI_OK) {
        cli_table_free(t);
        return rc;
    }
    t->task = task;
    return CLI_OK;
}

/* ---- a later table, read as a model expects it ---------------------------------------------- */

int cli_table_read_for(const cli_args *a, const char *path, const cli_table_for *f, nb_csv *out) {
    memset(out, 0, sizeof *out);
    const nb_tabular *t = f->tab;
    const char *name = cli_input_name(path);
    unsigned char *buf;
    size_t len;
    int rc = cli_input_read(a, path, &buf, &len);
    if (rc != CLI_OK) return rc;
    const char **names = cli_malloc(sizeof *names * (size_t)(2 * t->num_columns + 2));
    char **synth = NULL;
    cli_list labels = {0};
    if (!names) rc = cli_lib_error(a);
    if (rc == CLI_OK)
        rc = cli_list_split(a, f->label && strchr(f->label, ',') ? f->label : NULL, &labels);
    nb_csv_opts o = {0};
    o.header = f->header;
    o.delimiter = f->delimiter;
    int header = 0;
    int64_t ncols = 0;
    if (rc == CLI_OK) {
        nb_tabular_csv_opts(t, 1, f->with_labels, &o, names);
        if (f->with_labels && f->label) { /* --label over the model's label columns */
            o.label_names = NULL;
            o.num_labels = 0;
            o.label_name = NULL;
            cli_label_opts(f->label, &labels, &o);
        }
        if (nb_csv_sniff(buf, len, name, &o, NULL, &header, &ncols) != NB_OK) rc = cli_lib_error(a);
    }
    char **cats = NULL;
    int ncat = o.num_categorical;
    if (rc == CLI_OK && !header) {
        /* no names: the model's columns by position, its label column(s) last, its
         * categorical columns by their places */
        o.columns = NULL;
        o.num_columns = 0;
        cats = ncat ? cli_malloc(sizeof *cats * (size_t)ncat) : NULL;
        if (ncat && !cats) rc = cli_lib_error(a);
        int k = 0;
        for (int64_t j = 0; rc == CLI_OK && j < t->num_columns; j++) {
            if (t->columns[j].num_categories <= 0) continue;
            if (!(cats[k] = cli_malloc(32))) {
                rc = cli_lib_error(a);
                break;
            }
            snprintf(cats[k++], 32, "column_%lld", (long long)j + 1);
        }
        ncat = k;
        o.categorical = (const char *const *)cats;
        o.num_categorical = k;
        if (!f->with_labels) {
            o.no_label = 1;
        } else if (!f->label && t->task == NB_TASK_CLASSIFICATION) {
            o.label_name = NULL;
            o.label_column = 0;
        } else if (!f->label) {
            synth = cli_malloc(sizeof *synth * (size_t)t->num_targets);
            if (!synth) rc = cli_lib_error(a);
            if (synth) memset(synth, 0, sizeof *synth * (size_t)t->num_targets);
            for (int q = 0; rc == CLI_OK && q < t->num_targets; q++) {
                if (!(synth[q] = cli_malloc(32))) {
                    rc = cli_lib_error(a);
                    break;
                }
                snprintf(synth[q], 32, "column_%lld", (long long)(ncols - t->num_targets + 1 + q));
            }
            o.label_names = (const char *const *)synth;
            o.num_labels = t->num_targets;
        }
    }
    if (rc == CLI_OK && f->with_labels && t->task == NB_TASK_CLASSIFICATION && f->classes &&
        f->num_classes > 0) {
        o.classes = f->classes;
        o.num_classes = f->num_classes;
    }
    if (rc == CLI_OK && nb_csv_parse(buf, len, name, &o, out) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK && out->rows == 0)
        rc = cli_error(a, CLI_FAIL, "%s holds no samples (only a header row): nothing to do", name);
    if (rc == CLI_OK && !header && out->cols != t->num_columns)
        rc = cli_error(a, CLI_FAIL,
                       "%s has no header row and %lld feature columns; the model takes %lld "
                       "(%s, in the training file's order)%s",
                       name, (long long)out->cols, (long long)t->num_columns,
                       t->named ? "a file with a header row is matched by column name"
                                : "by position",
                       f->with_labels ? "" : "; leave a label column out with --label");
    for (int k = 0; cats && k < ncat; k++) cli_free(cats[k]);
    cli_free(cats);
    for (int k = 0; synth && k < t->num_targets; k++) cli_free(synth[k]);
    cli_free(synth);
    cli_free(names);
    cli_list_free(&labels);
    cli_free(buf);
    if (rc != CLI_OK) nb_csv_free(out);
    return rc;
}
