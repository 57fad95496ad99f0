/* data/tabular.c — a table's columns as a model's features, and its label columns as its
 * targets: fitting (columns, categories, fill values, target standardisation), encoding
 * (one-hot categories, missing values filled) and the dataset of a table.
 *
 * Encoding row r of a table with columns c_1 .. c_m gives the features, column after column:
 *   a number      v, or fill_j when it is missing (NaN)          one feature
 *   a category    e_k: 1 at the category's index k, 0 elsewhere   num_categories features
 *                 (all zeros when missing)
 * fill_j is the mean, the median or 0 of the column's values over the fitting rows
 * (NB_MISSING_*); target_norm standardises each target, y' = (y - mean) / std (population
 * std, 1 when a target does not vary), mean and std over the fitting rows, so that a model
 * predicting y' sees targets of unit scale whatever their units. */
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const task_names[] = {"auto", "classification", "regression", "multilabel"};
static const char *const missing_names[] = {"error", "mean", "median", "zero"};

const char *nb_task_name(nb_task t) {
    return (unsigned)t < 4 ? task_names[t] : NULL;
}

int nb_task_from_name(const char *name) {
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, task_names[i])) return i;
    return -1;
}

const char *nb_missing_name(nb_missing m) {
    return (unsigned)m < 4 ? missing_names[m] : NULL;
}

int nb_missing_from_name(const char *name) {
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, missing_names[i])) return i;
    return -1;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = nbi_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

void nb_tabular_free(nb_tabular *t) {
    if (!t) return;
    for (int64_t j = 0; t->columns && j < t->num_columns; j++) {
        nb_tabular_column *c = &t->columns[j];
        nbi_free(c->name);
        for (int k = 0; c->categories && k < c->num_categories; k++) nbi_free(c->categories[k]);
        nbi_free(c->categories);
    }
    nbi_free(t->columns);
    for (int k = 0; t->targets && k < t->num_targets; k++) nbi_free(t->targets[k]);
    nbi_free(t->targets);
    nb_norm_free(&t->target_norm);
    memset(t, 0, sizeof *t);
}

/* A name a model file can keep: valid UTF-8 (its header is JSON). */
static nb_status keepable(const char *s, const char *what, const char *fn) {
    if (nbi_utf8_valid(s, strlen(s))) return NB_OK;
    char e[48];
    return nbi_error(NB_ERR_FORMAT,
                     "%s: %s '%s' is not valid UTF-8: a model file could not keep it "
                     "(rename it in the file)",
                     fn, what, nbi_csv_excerpt(s, strlen(s), e, sizeof e));
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The fill of column j over the fitting rows: mean (in double), median or zero; 0 when the
 * column has no value at all there. */
static nb_status fill_value(const nb_csv *c, int64_t j, nb_missing m, const int64_t *rows,
                            int64_t nr, float *out) {
    *out = 0.0f;
    if (m == NB_MISSING_ERROR || m == NB_MISSING_ZERO) return NB_OK;
    float *v = m == NB_MISSING_MEDIAN ? nbi_malloc(sizeof *v * (size_t)(nr ? nr : 1)) : NULL;
    if (m == NB_MISSING_MEDIAN && !v)
        return nbi_error(NB_ERR_NOMEM, "nb_tabular_fit: out of memory");
    double sum = 0.0;
    int64_t k = 0;
    for (int64_t i = 0; i < nr; i++) {
        int64_t r = rows ? rows[i] : i;
        float x = c->x[r * c->cols + j];
        if (isnan(x)) continue;
        sum += x;
        if (v) v[k] = x;
        k++;
    }
    if (k && m == NB_MISSING_MEAN) *out = (float)(sum / (double)k);
    if (k && v) {
        qsort(v, (size_t)k, sizeof *v, cmp_float);
        *out = k % 2 ? v[k / 2] : (float)(((double)v[k / 2 - 1] + (double)v[k / 2]) / 2.0);
    }
    nbi_free(v);
    return NB_OK;
}

/* y' = (y - mean) / std per target over the fitting rows (two passes in double). */
static nb_status fit_target_norm(nb_tabular *t, const nb_csv *c, const int64_t *rows, int64_t nr) {
    int d = c->num_targets;
    float *shift = nbi_malloc(sizeof *shift * (size_t)d),
          *div = nbi_malloc(sizeof *div * (size_t)d);
    nb_status st = shift && div ? NB_OK : nbi_error(NB_ERR_NOMEM, "nb_tabular_fit: out of memory");
    for (int k = 0; !st && k < d; k++) {
        double s = 0.0, ss = 0.0;
        for (int64_t i = 0; i < nr; i++) s += c->targets[(rows ? rows[i] : i) * d + k];
        double mean = nr ? s / (double)nr : 0.0;
        for (int64_t i = 0; i < nr; i++) {
            double e = c->targets[(rows ? rows[i] : i) * d + k] - mean;
            ss += e * e;
        }
        double sd = nr ? sqrt(ss / (double)nr) : 0.0;
        shift[k] = (float)mean;
        div[k] = sd > 0 && isfinite((float)sd) && (float)sd >= 1.17549435e-38f ? (float)sd : 1.0f;
    }
    if (!st) st = nb_norm_set(&t->target_norm, NB_NORM_STANDARD, 1, d, shift, div);
    nbi_free(shift);
    nbi_free(div);
    return st;
}

static nb_status check_multilabel(const nb_csv *c, const char *fn) {
    for (int64_t i = 0; i < c->rows * c->num_targets; i++) {
        float v = c->targets[i];
        if (v != 0.0f && v != 1.0f)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: row %lld, label column '%s' holds %g; a multilabel "
                             "task needs 0 or 1 in every label column",
                             fn, (long long)(i / c->num_targets) + 1,
                             c->target_names[i % c->num_targets], (double)v);
    }
    return NB_OK;
}

nb_status nb_tabular_fit(nb_tabular *t, const nb_csv *c, const nb_tabular_opts *opts) {
    const char *fn = "nb_tabular_fit";
    if (!t) return nbi_error(NB_ERR_ARG, "%s: t is NULL", fn);
    memset(t, 0, sizeof *t);
    if (!c || !c->x || !c->col_names) return nbi_error(NB_ERR_ARG, "%s: the table is empty", fn);
    nb_tabular_opts o = opts ? *opts : (nb_tabular_opts){0};
    if ((unsigned)o.task > NB_TASK_MULTILABEL || (unsigned)o.missing > NB_MISSING_ZERO ||
        o.num_rows < 0 || (o.num_rows && !o.rows))
        return nbi_error(NB_ERR_ARG, "%s: unknown task or missing-value rule, or a bad row list",
                         fn);
    for (int64_t i = 0; o.rows && i < o.num_rows; i++)
        if (o.rows[i] < 0 || o.rows[i] >= c->rows)
            return nbi_error(NB_ERR_ARG, "%s: fitting row %lld is out of range (%lld rows)", fn,
                             (long long)o.rows[i], (long long)c->rows);
    nb_task task = o.task;
    if (task == NB_TASK_AUTO) task = c->labels ? NB_TASK_CLASSIFICATION : NB_TASK_REGRESSION;
    if (task == NB_TASK_CLASSIFICATION && !c->labels)
        return nbi_error(NB_ERR_ARG, "%s: a classification needs a column of class labels; %s", fn,
                         c->targets ? "the label column was read as numeric targets"
                                    : "the table has no label column");
    if (task != NB_TASK_CLASSIFICATION && !c->targets)
        return nbi_error(NB_ERR_ARG,
                         "%s: a %s needs the label column(s) read as numbers "
                         "(label_is_target); %s",
                         fn, nb_task_name(task),
                         c->labels ? "it was read as class labels" : "the table has none");
    nb_status st = task == NB_TASK_MULTILABEL ? check_multilabel(c, fn) : NB_OK;
    if (st) return st;
    t->task = task;
    t->missing = o.missing;
    t->named = c->header ? 1 : 0;
    t->num_columns = c->cols;
    t->columns = nbi_calloc((size_t)(c->cols ? c->cols : 1), sizeof *t->columns);
    int nt = task == NB_TASK_CLASSIFICATION ? 1 : c->num_targets;
    t->targets = nbi_calloc((size_t)(nt ? nt : 1), sizeof *t->targets);
    if (!t->columns || !t->targets) {
        nb_tabular_free(t);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    }
    int64_t nr = o.rows ? o.num_rows : c->rows;
    for (int64_t j = 0; !st && j < c->cols; j++) {
        nb_tabular_column *col = &t->columns[j];
        st = keepable(c->col_names[j], "the column name", fn);
        if (!st && !(col->name = dup_str(c->col_names[j])))
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
        int k = c->num_categories ? c->num_categories[j] : 0;
        if (!st && k > 0) {
            col->categories = nbi_calloc((size_t)k, sizeof *col->categories);
            if (!col->categories) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
            for (int i = 0; !st && i < k; i++) {
                st = keepable(c->categories[j][i], "the category", fn);
                if (!st && !(col->categories[i] = dup_str(c->categories[j][i])))
                    st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
                if (!st) col->num_categories = i + 1;
            }
            col->fill = 0.0f;
        } else if (!st) {
            st = fill_value(c, j, o.missing, o.rows, nr, &col->fill);
        }
        if (!st) t->features += k > 0 ? k : 1;
    }
    for (int k = 0; !st && k < nt; k++) {
        const char *name = task == NB_TASK_CLASSIFICATION ? c->label_name : c->target_names[k];
        if (!name) name = "label";
        st = keepable(name, "the label column's name", fn);
        if (!st && !(t->targets[k] = dup_str(name)))
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
        if (!st) t->num_targets = k + 1;
    }
    if (!st && task == NB_TASK_REGRESSION && o.standardize_targets)
        st = fit_target_norm(t, c, o.rows, nr);
    if (st) nb_tabular_free(t);
    return st;
}

nb_status nb_tabular_copy(nb_tabular *dst, const nb_tabular *src) {
    if (!dst || !src) return nbi_error(NB_ERR_ARG, "nb_tabular_copy: NULL argument");
    memset(dst, 0, sizeof *dst);
    nb_tabular t = *src;
    t.columns = nbi_calloc((size_t)(src->num_columns ? src->num_columns : 1), sizeof *t.columns);
    t.targets = nbi_calloc((size_t)(src->num_targets ? src->num_targets : 1), sizeof *t.targets);
    memset(&t.target_norm, 0, sizeof t.target_norm);
    bool ok = t.columns && t.targets;
    int64_t done = 0;
    for (; ok && done < src->num_columns; done++) {
        const nb_tabular_column *s = &src->columns[done];
        nb_tabular_column *d = &t.columns[done];
        d->fill = s->fill;
        ok = (d->name = dup_str(s->name)) != NULL;
        if (ok && s->num_categories) {
            ok = (d->categories = nbi_calloc((size_t)s->num_categories, sizeof(char *))) != NULL;
            for (int k = 0; ok && k < s->num_categories; k++, d->num_categories = k)
                ok = (d->categories[k] = dup_str(s->categories[k])) != NULL;
        }
    }
    t.num_columns = done;
    int nt = 0;
    for (; ok && nt < src->num_targets; nt++)
        ok = (t.targets[nt] = dup_str(src->targets[nt])) != NULL;
    t.num_targets = nt;
    const nb_norm *n = &src->target_norm;
    if (ok && n->kind != NB_NORM_NONE)
        ok = nb_norm_set(&t.target_norm, n->kind, n->per_feature, n->n, n->shift, n->div) == NB_OK;
    if (!ok) {
        nb_tabular_free(&t);
        return nbi_error(NB_ERR_NOMEM, "nb_tabular_copy: out of memory");
    }
    *dst = t;
    return NB_OK;
}

void nb_tabular_csv_opts(const nb_tabular *t, int with_columns, int with_labels, nb_csv_opts *o,
                         const char **names) {
    /* names[0 .. num_columns): the columns; names[num_columns ..): the categorical ones */
    const char **cats = names + t->num_columns;
    int k = 0;
    for (int64_t j = 0; j < t->num_columns; j++) {
        names[j] = t->columns[j].name;
        if (t->columns[j].num_categories > 0) cats[k++] = t->columns[j].name;
    }
    o->categorical = k ? cats : NULL;
    o->num_categorical = k;
    o->allow_missing = t->missing != NB_MISSING_ERROR;
    if (with_columns && t->named) {
        o->columns = names;
        o->num_columns = (int)t->num_columns;
    }
    if (with_labels) {
        o->no_label = 0;
        if (t->task == NB_TASK_CLASSIFICATION) {
            o->label_name = t->num_targets ? t->targets[0] : NULL;
            o->label_is_target = 0;
        } else {
            o->label_names = (const char *const *)t->targets;
            o->num_labels = t->num_targets;
            o->label_is_target = 1;
        }
    } else if (!o->columns) {
        o->no_label = 1;
    }
}

/* ---- encoding ------------------------------------------------------------------------------ */

/* The first row (1-based) whose column j holds value v, for a message. */
static int64_t row_with(const nb_csv *c, int64_t j, float v) {
    for (int64_t r = 0; r < c->rows; r++)
        if (c->x[r * c->cols + j] == v) return r + 1;
    return 0;
}

/* For categorical column j: map[i] = t's index of c's category i. */
static nb_status category_map(const nb_tabular_column *tc, const nb_csv *c, int64_t j, int *map,
                              const char *fn) {
    nbi_names known;
    memset(&known, 0, sizeof known);
    nb_status st = NB_OK;
    for (int k = 0; k < tc->num_categories && !st; k++)
        if (nbi_names_add(&known, tc->categories[k], strlen(tc->categories[k])) != k)
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    for (int i = 0; !st && i < c->num_categories[j]; i++) {
        const char *v = c->categories[j][i];
        map[i] = nbi_names_find(&known, v, strlen(v));
        if (map[i] >= 0) continue;
        char e[48], n[48], list[160];
        size_t w = 0;
        for (int k = 0; k < tc->num_categories && w + 40 < sizeof list; k++)
            w += (size_t)snprintf(
                list + w, sizeof list - w, "%s%s", k ? ", " : "",
                nbi_csv_excerpt(tc->categories[k], strlen(tc->categories[k]), e, 24));
        if (w + 40 >= sizeof list) snprintf(list + w, sizeof list - w, ", ...");
        st = nbi_error(NB_ERR_FORMAT,
                       "%s: row %lld, column '%s': the category '%s' is not one the "
                       "model was trained on (it knows %d: %s)",
                       fn, (long long)row_with(c, j, (float)i),
                       nbi_csv_excerpt(tc->name, strlen(tc->name), n, sizeof n),
                       nbi_csv_excerpt(v, strlen(v), e, sizeof e), tc->num_categories, list);
    }
    nbi_names_free(&known);
    return st;
}

nb_status nb_tabular_encode(const nb_tabular *t, const nb_csv *c, float **x) {
    const char *fn = "nb_tabular_encode";
    if (!x) return nbi_error(NB_ERR_ARG, "%s: x is NULL", fn);
    *x = NULL;
    if (!t || !c || (c->rows && !c->x)) return nbi_error(NB_ERR_ARG, "%s: NULL argument", fn);
    if (c->cols != t->num_columns)
        return nbi_error(NB_ERR_SHAPE,
                         "%s: the table has %lld feature columns, the model %lld (%s)", fn,
                         (long long)c->cols, (long long)t->num_columns,
                         t->named ? "a file with a header row may hold them in any order; one "
                                    "without must hold exactly the model's, in order"
                                  : "in the order of the training file");
    size_t xb;
    if (!nbi_mul_size((size_t)c->rows, (size_t)t->features * sizeof(float), &xb))
        return nbi_error(NB_ERR_NOMEM, "%s: the table is too large", fn);
    int maxk = 0;
    for (int64_t j = 0; j < t->num_columns; j++) {
        const nb_tabular_column *tc = &t->columns[j];
        int ck = c->num_categories ? c->num_categories[j] : 0;
        char n[48];
        if (tc->num_categories > 0 && !(c->num_categories && c->categories[j]))
            return nbi_error(NB_ERR_ARG,
                             "%s: column '%s' holds categories in the model; read it as "
                             "categorical",
                             fn, nbi_csv_excerpt(tc->name, strlen(tc->name), n, sizeof n));
        if (tc->num_categories == 0 && ck > 0)
            return nbi_error(NB_ERR_ARG,
                             "%s: column '%s' holds numbers in the model, not categories", fn,
                             nbi_csv_excerpt(tc->name, strlen(tc->name), n, sizeof n));
        if (ck > maxk) maxk = ck;
    }
    float *out = nbi_malloc(xb ? xb : 1);
    int *map = nbi_malloc(sizeof *map * (size_t)(maxk ? maxk : 1));
    if (!out || !map) {
        nbi_free(out);
        nbi_free(map);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (xb) memset(out, 0, xb);
    nb_status st = NB_OK;
    int64_t off = 0;
    for (int64_t j = 0; !st && j < t->num_columns; j++) {
        const nb_tabular_column *tc = &t->columns[j];
        char n[48];
        if (tc->num_categories > 0) {
            st = category_map(tc, c, j, map, fn);
            for (int64_t r = 0; !st && r < c->rows; r++) {
                float v = c->x[r * c->cols + j];
                if (isnan(v)) {
                    if (t->missing == NB_MISSING_ERROR)
                        st = nbi_error(NB_ERR_FORMAT,
                                       "%s: row %lld, column '%s': a missing category, and "
                                       "the model fills none (it was trained with missing=error)",
                                       fn, (long long)r + 1,
                                       nbi_csv_excerpt(tc->name, strlen(tc->name), n, sizeof n));
                    continue; /* all zeros */
                }
                out[r * t->features + off + map[(int)v]] = 1.0f;
            }
            off += tc->num_categories;
        } else {
            for (int64_t r = 0; !st && r < c->rows; r++) {
                float v = c->x[r * c->cols + j];
                if (isnan(v) && t->missing == NB_MISSING_ERROR)
                    st = nbi_error(NB_ERR_FORMAT,
                                   "%s: row %lld, column '%s': a missing value, and the model "
                                   "fills none (it was trained with missing=error)",
                                   fn, (long long)r + 1,
                                   nbi_csv_excerpt(tc->name, strlen(tc->name), n, sizeof n));
                out[r * t->features + off] = isnan(v) ? tc->fill : v;
            }
            off++;
        }
    }
    nbi_free(map);
    if (st) {
        nbi_free(out);
        return st;
    }
    *x = out;
    return NB_OK;
}

static nb_status copy_names(char *const *src, int n, char ***out) {
    *out = NULL;
    if (!src || n <= 0) return NB_OK;
    char **names = nbi_calloc((size_t)n, sizeof *names);
    if (!names) return nbi_error(NB_ERR_NOMEM, "nb_tabular_dataset: out of memory");
    for (int i = 0; i < n; i++)
        if (!(names[i] = dup_str(src[i]))) {
            for (int k = 0; k < i; k++) nbi_free(names[k]);
            nbi_free(names);
            return nbi_error(NB_ERR_NOMEM, "nb_tabular_dataset: out of memory");
        }
    *out = names;
    return NB_OK;
}

nb_status nb_tabular_dataset(const nb_tabular *t, const nb_csv *c, unsigned flags,
                             nb_dataset **out) {
    const char *fn = "nb_tabular_dataset";
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!t || !c) return nbi_error(NB_ERR_ARG, "%s: NULL argument", fn);
    bool cls = t->task == NB_TASK_CLASSIFICATION;
    if (cls && !c->labels)
        return nbi_error(NB_ERR_ARG, "%s: the table has no class labels (the label column '%s')",
                         fn, t->num_targets ? t->targets[0] : "?");
    if (!cls && (!c->targets || c->num_targets != t->num_targets))
        return nbi_error(NB_ERR_ARG, "%s: the table has %d target columns, the model %d", fn,
                         c->targets ? c->num_targets : 0, t->num_targets);
    nb_status st = !cls && t->task == NB_TASK_MULTILABEL ? check_multilabel(c, fn) : NB_OK;
    if (st) return st;
    float *x;
    if ((st = nb_tabular_encode(t, c, &x)) != NB_OK) return st;
    nb_array ax = {.type = NB_ELEM_F32,
                   .rank = 2,
                   .shape = {c->rows, t->features},
                   .numel = c->rows * t->features,
                   .data = x};
    nb_array ay = {.rank = 2, .shape = {c->rows, 1}, .numel = c->rows};
    size_t yb = (size_t)c->rows * (size_t)(cls ? 1 : t->num_targets) * 4;
    void *y = nbi_malloc(yb ? yb : 1);
    char **names = NULL;
    if (!y) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    if (!st && cls && (flags & NB_TABULAR_LABELS_AS_TARGETS)) {
        ay.type = NB_ELEM_F32;
        for (int64_t r = 0; !st && r < c->rows; r++) {
            char e[48];
            if (c->labels[r] > 1)
                st = nbi_error(NB_ERR_FORMAT,
                               "%s: row %lld has class %d (%s); a binary classifier's labels "
                               "are two classes",
                               fn, (long long)r + 1, (int)c->labels[r],
                               c->classes
                                   ? nbi_csv_excerpt(c->classes[c->labels[r]],
                                                     strlen(c->classes[c->labels[r]]), e, sizeof e)
                                   : "an integer label");
            ((float *)y)[r] = (float)c->labels[r];
        }
    } else if (!st && cls) {
        ay.type = NB_ELEM_I32;
        ay.rank = 1;
        if (c->rows) memcpy(y, c->labels, yb);
    } else if (!st) {
        ay.type = NB_ELEM_F32;
        ay.shape[1] = t->num_targets;
        ay.numel = c->rows * t->num_targets;
        if (yb) memcpy(y, c->targets, yb);
    }
    ay.data = y;
    if (!st && cls && c->classes) st = copy_names(c->classes, c->num_classes, &names);
    if (st) {
        nbi_free(x);
        nbi_free(y);
        return st;
    }
    return nbi_dataset_adopt(&ax, &ay, names, names ? c->num_classes : 0, fn, out);
}

nb_status nb_tabular_feature_name(const nb_tabular *t, int64_t j, char *buf, size_t n) {
    if (!t || !buf || !n || j < 0 || j >= t->features)
        return nbi_error(NB_ERR_ARG, "nb_tabular_feature_name: feature %lld of %lld", (long long)j,
                         t ? (long long)t->features : 0LL);
    for (int64_t c = 0; c < t->num_columns; c++) {
        const nb_tabular_column *tc = &t->columns[c];
        int64_t w = tc->num_categories > 0 ? tc->num_categories : 1;
        if (j < w) {
            if (tc->num_categories > 0)
                snprintf(buf, n, "%s=%s", tc->name, tc->categories[j]);
            else
                snprintf(buf, n, "%s", tc->name);
            return NB_OK;
        }
        j -= w;
    }
    return nbi_error(NB_ERR_ARG, "nb_tabular_feature_name: the table's features do not add up");
}

/* ---- checks of a table description from elsewhere (a model file) -------------------------- */

nb_status nbi_tabular_check(const nb_tabular *t, const char *what) {
    if ((unsigned)t->task > NB_TASK_MULTILABEL || t->task == NB_TASK_AUTO ||
        (unsigned)t->missing > NB_MISSING_ZERO)
        return nbi_error(NB_ERR_FORMAT, "%s: unknown task or missing-value rule", what);
    if (t->num_columns < 1 || !t->columns || t->num_targets < 1 || !t->targets)
        return nbi_error(NB_ERR_FORMAT, "%s: the table has no columns or no label column", what);
    if (t->task == NB_TASK_CLASSIFICATION && t->num_targets != 1)
        return nbi_error(NB_ERR_FORMAT, "%s: a classification has one label column, not %d", what,
                         t->num_targets);
    int64_t f = 0;
    nbi_names seen;
    memset(&seen, 0, sizeof seen);
    nb_status st = NB_OK;
    for (int64_t j = 0; !st && j < t->num_columns; j++) {
        const nb_tabular_column *c = &t->columns[j];
        if (!c->name || (c->num_categories && !c->categories) || c->num_categories < 0 ||
            !isfinite(c->fill)) {
            st = nbi_error(NB_ERR_FORMAT, "%s: column %lld is malformed", what, (long long)j + 1);
            break;
        }
        if (t->named && nbi_names_find(&seen, c->name, strlen(c->name)) >= 0) {
            char e[48];
            st = nbi_error(NB_ERR_FORMAT, "%s: the column '%s' is named twice", what,
                           nbi_csv_excerpt(c->name, strlen(c->name), e, sizeof e));
            break;
        }
        if (t->named && nbi_names_add(&seen, c->name, strlen(c->name)) < 0)
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
        nbi_names cats;
        memset(&cats, 0, sizeof cats);
        for (int k = 0; !st && k < c->num_categories; k++) {
            const char *v = c->categories[k];
            if (!v || nbi_names_find(&cats, v, strlen(v)) >= 0)
                st = nbi_error(NB_ERR_FORMAT, "%s: column %lld: category %d is missing or repeated",
                               what, (long long)j + 1, k);
            else if (nbi_names_add(&cats, v, strlen(v)) < 0)
                st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
        }
        nbi_names_free(&cats);
        if (!nbi_add_i64(f, c->num_categories > 0 ? c->num_categories : 1, &f))
            st = nbi_error(NB_ERR_FORMAT, "%s: too many features", what);
    }
    nbi_names_free(&seen);
    if (st) return st;
    if (f != t->features)
        return nbi_error(NB_ERR_FORMAT, "%s: the columns make %lld features, not %lld", what,
                         (long long)f, (long long)t->features);
    for (int k = 0; k < t->num_targets; k++)
        if (!t->targets[k])
            return nbi_error(NB_ERR_FORMAT, "%s: label column %d has no name", what, k);
    const nb_norm *n = &t->target_norm;
    if (n->kind != NB_NORM_NONE &&
        (t->task != NB_TASK_REGRESSION || nbi_norm_check(n, t->num_targets, what) != NB_OK))
        return nbi_error(NB_ERR_FORMAT, "%s: the target normalisation does not fit %d targets",
                         what, t->num_targets);
    return NB_OK;
}
