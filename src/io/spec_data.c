/* io/spec_data.c — the spec's data line: where the samples come from (files, tables, audio
 * manifests, a language model's text) and how they are prepared (normalisation, the table's
 * task, columns and missing values), read from a line and written back in canonical form with
 * paths as seen from a given directory (docs/spec.md, "data"). */
#include "io/spec.h"
#include "base/file.h"
#include "nabla/audio.h" /* the features= of audio data: parsed and written canonically */

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the data line ------------------------------------------------------------------------- */

/* path, or base_dir/path when path is relative. */
static nb_status resolve(nbi_line *l, const char *base_dir, const char *path, char **out) {
    if (!nbi_utf8_valid(path, strlen(path)))
        return nbi_line_error(l, l->kind.col,
                              "the path '%s' is not valid UTF-8: model files "
                              "keep the spec as JSON text, which must be (rename the file)",
                              path);
    nbi_text t;
    nbi_text_init(&t);
    if (base_dir && base_dir[0] && path[0] != '/') {
        nbi_text_puts(&t, base_dir);
        if (base_dir[strlen(base_dir) - 1] != '/') nbi_text_puts(&t, "/");
    }
    nbi_text_puts(&t, path);
    nb_status s = nbi_text_status(&t, l->file);
    if (s == NB_OK) {
        *out = nbi_spec_str_dup(nbi_text_str(&t));
        if (!*out) s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", l->file);
    }
    nbi_text_free(&t);
    return s;
}

static nb_status data_path(nbi_line *l, const char *key, const char *base_dir, char **field) {
    const char *v = NULL;
    nb_status s = nbi_opt_str(l, key, &v);
    if (s != NB_OK || !v) return s;
    if (*field)
        return nbi_line_error(l, nbi_opt_col(l, key),
                              "'%s' was already given on an earlier "
                              "data line",
                              key);
    return resolve(l, base_dir, v, field);
}

static nb_status parse_norm(nbi_line *l, nb_data_spec *d) {
    const char *v = NULL;
    nb_status s = nbi_opt_str(l, "normalize", &v);
    if (s != NB_OK || !v) return s;
    int col = nbi_opt_col(l, "normalize");
    double a = 0, b = 0;
    char word[32];
    size_t wl = strcspn(v, ":");
    const char *rest = v[wl] ? v + wl + 1 : NULL;
    if (wl >= sizeof word) wl = sizeof word - 1;
    memcpy(word, v, wl);
    word[wl] = 0;
    d->has_norm = 1;
    d->norm_per_feature = 0;
    if (!strcmp(word, "none") && !rest) {
        d->norm = NB_NORM_NONE;
    } else if (!strcmp(word, "scale") && rest) {
        if (!nbi_tok_to_double(l, rest, &b) || !((float)b != 0.0f) || !isfinite((float)b))
            return nbi_line_error(l, col,
                                  "expected scale:D with a non-zero number D (x' = "
                                  "x / D), got '%s'",
                                  v);
        d->norm = NB_NORM_CONST;
        d->norm_shift = 0.0f;
        d->norm_div = (float)b;
    } else if (!strcmp(word, "const") && rest) {
        char num[64];
        size_t al = strcspn(rest, ":");
        if (al >= sizeof num || !rest[al]) al = sizeof num; /* forces the error below */
        bool ok = al < sizeof num;
        if (ok) {
            memcpy(num, rest, al);
            num[al] = 0;
            ok = nbi_tok_to_double(l, num, &a) && nbi_tok_to_double(l, rest + al + 1, &b) &&
                 (float)b != 0.0f && isfinite((float)a) && isfinite((float)b);
        }
        if (!ok)
            return nbi_line_error(l, col,
                                  "expected const:SHIFT:DIV with DIV non-zero (x' = "
                                  "(x - SHIFT) / DIV), got '%s'",
                                  v);
        d->norm = NB_NORM_CONST;
        d->norm_shift = (float)a;
        d->norm_div = (float)b;
    } else if ((!strcmp(word, "standard") || !strcmp(word, "minmax")) &&
               (!rest || !strcmp(rest, "per_feature") || !strcmp(rest, "per-feature") ||
                !strcmp(rest, "global"))) {
        /* per feature (scikit-learn's StandardScaler, MinMaxScaler) unless :global */
        d->norm = word[0] == 's' ? NB_NORM_STANDARD : NB_NORM_MINMAX;
        d->norm_per_feature = !rest || strcmp(rest, "global") != 0;
    } else {
        return nbi_line_error(l, col,
                              "unknown normalisation '%s' (expected none, scale:D, "
                              "const:SHIFT:DIV, standard, standard:global, minmax or "
                              "minmax:global)",
                              v);
    }
    return NB_OK;
}

/* A word of a fixed set: its index, or the error listing them. */
static nb_status one_of(nbi_line *l, const char *key, const char *const *words, int n, int *out) {
    const char *v = NULL;
    nb_status s = nbi_opt_str(l, key, &v);
    if (s != NB_OK || !v) return s;
    for (int i = 0; i < n; i++)
        if (!strcmp(v, words[i])) {
            *out = i;
            return NB_OK;
        }
    char list[160];
    size_t w = 0;
    for (int i = 0; i < n; i++)
        w += (size_t)snprintf(list + w, sizeof list - w, "%s%s", i ? ", " : "", words[i]);
    return nbi_line_error(l, nbi_opt_col(l, key), "unknown %s '%s' (expected %s)", key, v, list);
}

/* The options of tables: task, test_split, header, delimiter, missing, categorical,
 * class_weight, normalize_targets. */
static nb_status parse_table(nbi_line *l, nb_data_spec *d) {
    static const char *const tasks[] = {"classification", "regression", "multilabel"};
    static const char *const headers[] = {"auto", "yes", "no"};
    static const char *const missing[] = {"error", "mean", "median", "zero"};
    static const char *const weights[] = {"none", "balanced"};
    static const char *const tnorm[] = {"none", "standard"};
    int k = -1;
    nb_status s = one_of(l, "task", tasks, 3, &k);
    if (s == NB_OK && k >= 0) {
        d->has_task = 1;
        d->task = (nb_task)(k + 1);
    }
    k = -1;
    if (s == NB_OK) s = one_of(l, "header", headers, 3, &k);
    if (s == NB_OK && k >= 0) d->header = (nb_csv_header)k;
    k = -1;
    if (s == NB_OK) s = one_of(l, "missing", missing, 4, &k);
    if (s == NB_OK && k >= 0) {
        d->has_missing = 1;
        d->missing = (nb_missing)k;
    }
    k = -1;
    if (s == NB_OK) s = one_of(l, "class_weight", weights, 2, &k);
    if (s == NB_OK && k >= 0) d->class_weight = k;
    k = -1;
    if (s == NB_OK) s = one_of(l, "normalize_targets", tnorm, 2, &k);
    if (s == NB_OK && k >= 0) {
        d->has_target_norm = 1;
        d->target_norm = k;
    }
    double ts = -1.0;
    if (s == NB_OK) s = nbi_opt_double(l, "test_split", "test_split (a fraction)", 0, 1, &ts);
    if (s == NB_OK && ts >= 0.0) {
        if (ts >= 1.0)
            return nbi_line_error(l, nbi_opt_col(l, "test_split"),
                                  "test_split must be in [0, 1), got %g", ts);
        d->has_test_split = 1;
        d->test_split = ts;
    }
    const char *v = NULL;
    if (s == NB_OK) s = nbi_opt_str(l, "delimiter", &v);
    if (s == NB_OK && v) {
        char c = !strcmp(v, "tab") || !strcmp(v, "\\t") ? '\t'
                 : !strcmp(v, "comma")                  ? ','
                 : !strcmp(v, "semicolon")              ? ';'
                 : !strcmp(v, "pipe")                   ? '|'
                 : strlen(v) == 1                       ? v[0]
                                                        : 0;
        if (!c || c == '"' || c == ' ' || c == '\n' || c == '\r' || (unsigned char)c >= 0x80)
            return nbi_line_error(l, nbi_opt_col(l, "delimiter"),
                                  "expected one character (or tab, comma, semicolon, pipe) for "
                                  "the delimiter, not a quote or a space, got '%s'",
                                  v);
        d->delimiter = c;
    }
    v = NULL;
    if (s == NB_OK) s = nbi_opt_str(l, "categorical", &v);
    if (s == NB_OK && v) {
        if (d->categorical)
            return nbi_line_error(l, nbi_opt_col(l, "categorical"),
                                  "'categorical' was already given on an earlier data line");
        if (!nbi_utf8_valid(v, strlen(v)))
            return nbi_line_error(l, nbi_opt_col(l, "categorical"),
                                  "the column names are not "
                                  "valid UTF-8");
        if (!(d->categorical = nbi_spec_str_dup(v)))
            return nbi_error(NB_ERR_NOMEM, "%s: out of memory", l->file);
    }
    return s;
}

nb_status nbi_spec_parse_data(nbi_line *l, const char *base_dir, nb_data_spec *d) {
    static const char *const keys[] = {"train", "train_labels", "val",  "val_labels",
                                       "test",  "test_labels",  "text", "tokenizer"};
    char **fields[] = {&d->train, &d->train_labels, &d->val,  &d->val_labels,
                       &d->test,  &d->test_labels,  &d->text, &d->tokenizer};
    nb_status s = NB_OK;
    for (int i = 0; i < 8 && s == NB_OK; i++) s = data_path(l, keys[i], base_dir, fields[i]);
    const char *fmt = NULL, *label = NULL, *audio = NULL, *feat = NULL;
    if (s == NB_OK) s = nbi_opt_str(l, "audio", &audio);
    if (s == NB_OK && audio) { /* audio=PATH: train=PATH format=audio */
        if (d->train)
            return nbi_line_error(l, nbi_opt_col(l, "audio"),
                                  "audio= names the training manifest, already given by train=");
        s = resolve(l, base_dir, audio, &d->train);
        if (s == NB_OK) snprintf(d->format, sizeof d->format, "audio");
    }
    if (s == NB_OK) s = nbi_opt_str(l, "format", &fmt);
    if (s == NB_OK && fmt) {
        if (strcmp(fmt, "idx") && strcmp(fmt, "npy") && strcmp(fmt, "csv") && strcmp(fmt, "audio"))
            return nbi_line_error(l, nbi_opt_col(l, "format"),
                                  "unknown data format '%s' "
                                  "(expected idx, npy, csv or audio)",
                                  fmt);
        snprintf(d->format, sizeof d->format, "%s", fmt);
    }
    if (s == NB_OK) s = nbi_opt_str(l, "features", &feat);
    if (s == NB_OK && feat) {
        nb_features f;
        if (nb_features_parse(feat, strlen(feat), &f) != NB_OK)
            return nbi_line_error(l, nbi_opt_col(l, "features"), "features: %s", nb_last_error());
        size_t n = nb_features_format(&f, NULL, 0);
        nbi_free(d->features);
        d->features = n ? nbi_malloc(n + 1) : NULL;
        if (!d->features) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", l->file);
        nb_features_format(&f, d->features, n + 1);
    }
    const char *store = NULL;
    if (s == NB_OK) s = nbi_opt_str(l, "store", &store);
    if (s == NB_OK && store) {
        if (strcmp(store, "auto") && strcmp(store, "f32") && strcmp(store, "f16"))
            return nbi_line_error(l, nbi_opt_col(l, "store"),
                                  "unknown store '%s' for audio features (expected auto, f32 "
                                  "or f16)",
                                  store);
        snprintf(d->store, sizeof d->store, "%s", strcmp(store, "auto") ? store : "");
    }
    if (s == NB_OK) s = nbi_opt_str(l, "label", &label);
    if (s == NB_OK && label && !nbi_utf8_valid(label, strlen(label)))
        return nbi_line_error(l, nbi_opt_col(l, "label"),
                              "the label column '%s' is not valid "
                              "UTF-8",
                              label);
    if (s == NB_OK && label) {
        nbi_free(d->label);
        d->label = nbi_spec_str_dup(label);
        if (!d->label) s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", l->file);
    }
    double vs = -1.0;
    if (s == NB_OK) s = nbi_opt_double(l, "val_split", "val_split (a fraction)", 0, 1, &vs);
    if (s == NB_OK && vs >= 0.0) {
        if (vs >= 1.0)
            return nbi_line_error(l, nbi_opt_col(l, "val_split"),
                                  "val_split must be in "
                                  "[0, 1), got %g",
                                  vs);
        d->has_val_split = 1;
        d->val_split = vs;
    }
    if (s == NB_OK) s = parse_norm(l, d);
    if (s == NB_OK) s = parse_table(l, d);
    if (s == NB_OK) s = nbi_line_done(l, 0);
    if (s == NB_OK && d->text && d->train)
        return nbi_line_error(l, nbi_opt_col(l, "text"),
                              "text= (a language model's corpus) and train= (samples) "
                              "cannot both be given");
    if (s == NB_OK && d->tokenizer && !d->text)
        return nbi_line_error(l, nbi_opt_col(l, "tokenizer"),
                              "tokenizer= reads the text of a 'text=' corpus; give text= too");
    return s;
}

void nbi_spec_data_text(const nb_data_spec *d, const char *dir, nbi_text *t) {
    const char *keys[] = {"train",       "train_labels", "val",       "val_labels", "test",
                          "test_labels", "text",         "tokenizer", "label"};
    const char *vals[] = {d->train,       d->train_labels, d->val,       d->val_labels, d->test,
                          d->test_labels, d->text,         d->tokenizer, d->label};
    size_t start = t->len;
    for (int i = 0; i < 9; i++) {
        if (!vals[i]) continue;
        nbi_text_printf(t, " %s=", keys[i]);
        if (dir && i < 8) { /* a path, as seen from dir */
            nbi_text rel;
            nbi_text_init(&rel);
            nbi_path_from_dir(vals[i], dir, &rel);
            if (rel.oom) t->oom = true;
            nbi_text_value(t, nbi_text_str(&rel));
            nbi_text_free(&rel);
        } else {
            nbi_text_value(t, vals[i]);
        }
    }
    if (d->format[0]) nbi_text_printf(t, " format=%s", d->format);
    if (d->features) {
        nbi_text_puts(t, " features=");
        nbi_text_value(t, d->features);
    }
    if (d->store[0]) nbi_text_printf(t, " store=%s", d->store);
    if (d->has_val_split) {
        nbi_text_puts(t, " val_split=");
        nbi_text_double(t, d->val_split);
    }
    if (d->has_norm) {
        nbi_text_puts(t, " normalize=");
        switch (d->norm) {
        case NB_NORM_NONE:
            nbi_text_puts(t, "none");
            break;
        case NB_NORM_CONST:
            if (d->norm_shift == 0.0f) {
                nbi_text_puts(t, "scale:");
            } else {
                nbi_text_puts(t, "const:");
                nbi_text_float(t, d->norm_shift);
                nbi_text_puts(t, ":");
            }
            nbi_text_float(t, d->norm_div);
            break;
        case NB_NORM_STANDARD:
        case NB_NORM_MINMAX:
            nbi_text_puts(t, d->norm == NB_NORM_STANDARD ? "standard" : "minmax");
            if (!d->norm_per_feature) nbi_text_puts(t, ":global");
            break;
        }
    }
    if (d->has_task) nbi_text_printf(t, " task=%s", nb_task_name(d->task));
    if (d->has_test_split) {
        nbi_text_puts(t, " test_split=");
        nbi_text_double(t, d->test_split);
    }
    if (d->header != NB_CSV_HEADER_AUTO)
        nbi_text_printf(t, " header=%s", d->header == NB_CSV_HEADER_YES ? "yes" : "no");
    if (d->delimiter) {
        char dv[2] = {d->delimiter, 0};
        nbi_text_puts(t, " delimiter=");
        if (d->delimiter == '\t')
            nbi_text_puts(t, "tab");
        else
            nbi_text_value(t, dv);
    }
    if (d->has_missing) nbi_text_printf(t, " missing=%s", nb_missing_name(d->missing));
    if (d->categorical) {
        nbi_text_puts(t, " categorical=");
        nbi_text_value(t, d->categorical);
    }
    if (d->class_weight) nbi_text_puts(t, " class_weight=balanced");
    if (d->has_target_norm)
        nbi_text_printf(t, " normalize_targets=%s", d->target_norm ? "standard" : "none");
    if (t->len == start) return;
    /* "data" goes before the options written above */
    nbi_text tmp;
    nbi_text_init(&tmp);
    nbi_text_puts(&tmp, "data");
    nbi_text_put(&tmp, nbi_text_str(t) + start, t->len - start);
    nbi_text_puts(&tmp, "\n");
    t->len = start;
    if (!t->oom) t->buf[start] = 0;
    nbi_text_put(t, nbi_text_str(&tmp), tmp.len);
    if (tmp.oom) t->oom = true;
    nbi_text_free(&tmp);
}
