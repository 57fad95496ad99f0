/* tools/nabla/cli.c — option parsing, help text, one-line errors, and the loading every
 * command needs: models (a model file, or weights plus a spec), input rows (from files or,
 * for "-", standard input) and datasets; and the check of output paths before the work. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- options ------------------------------------------------------------------------------ */

static int find_opt(const cli_cmd *cmd, const char *name, size_t len) {
    for (int i = 0; i < cmd->n_opts; i++)
        if (strlen(cmd->opts[i].name) == len && !strncmp(cmd->opts[i].name, name, len)) return i;
    return -1;
}

/* The option that -c stands for (cmd->short_opts), or -1. */
static int find_short(const cli_cmd *cmd, char c) {
    for (const char *p = cmd->short_opts; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n > 2 && p[0] == c && p[1] == '=') return find_opt(cmd, p + 2, n - 2);
        p += n + (p[n] == ',');
    }
    return -1;
}

/* The letter of option i's alias, or 0. */
static char short_of(const cli_cmd *cmd, int i) {
    for (char c = 'a'; c <= 'z'; c++)
        if (find_short(cmd, c) == i) return c;
    return 0;
}

void cli_print_help(const cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: nabla %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->description);
    if (cmd->n_opts) fprintf(f, "\noptions:\n");
    for (int i = 0; i < cmd->n_opts; i++) {
        char left[64];
        char c = short_of(cmd, i), sh[8] = "";
        if (c) snprintf(sh, sizeof sh, "-%c, ", c);
        snprintf(left, sizeof left, "%s--%s%s%s", sh, cmd->opts[i].name,
                 cmd->opts[i].arg ? " " : "", cmd->opts[i].arg ? cmd->opts[i].arg : "");
        fprintf(f, "  %-22s %s\n", left, cmd->opts[i].help);
    }
    fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *a) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!only_pos && !strcmp(s, "--")) {
            only_pos = true;
            continue;
        }
        if (!only_pos && (!strcmp(s, "--help") || !strcmp(s, "-h"))) {
            cli_print_help(cmd, stdout);
            return CLI_HELP;
        }
        int k_short = !only_pos && s[0] == '-' && s[1] && s[1] != '-' && !s[2]
                          ? find_short(cmd, s[1])
                          : -1;
        if (!only_pos && ((s[0] == '-' && s[1] == '-') || k_short >= 0)) {
            const char *name = s + 2, *eq = k_short >= 0 ? NULL : strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int k = k_short >= 0 ? k_short : find_opt(cmd, name, len);
            if (k < 0)
                return cli_error(a, CLI_USAGE, "unknown option '--%.*s' (see 'nabla %s --help')",
                                 (int)len, name, cmd->name);
            const cli_opt *o = &cmd->opts[k];
            if (a->val[k]) return cli_error(a, CLI_USAGE, "option --%s is given twice", o->name);
            if (!o->arg) {
                if (eq) return cli_error(a, CLI_USAGE, "option --%s takes no value", o->name);
                a->val[k] = "";
            } else if (eq) {
                a->val[k] = eq + 1;
            } else if (i + 1 < argc) {
                a->val[k] = argv[++i];
            } else {
                return cli_error(a, CLI_USAGE, "option --%s needs a value (%s)", o->name, o->arg);
            }
            continue;
        }
        if (!only_pos && s[0] == '-' && s[1] && strcmp(s, "-") != 0)
            return cli_error(a, CLI_USAGE,
                             "unknown option '%s' (options are spelled --name; see "
                             "'nabla %s --help')",
                             s, cmd->name);
        if (a->n_pos == CLI_MAX_POS || a->n_pos == cmd->max_pos)
            return cli_error(a, CLI_USAGE, "unexpected argument '%s' (usage: nabla %s %s)", s,
                             cmd->name, cmd->usage);
        a->pos[a->n_pos++] = s;
    }
    if (a->n_pos < cmd->min_pos)
        return cli_error(a, CLI_USAGE, "missing argument (usage: nabla %s %s)", cmd->name,
                         cmd->usage);
    return CLI_OK;
}

const char *cli_get(const cli_args *a, const char *name) {
    int k = find_opt(a->cmd, name, strlen(name));
    return k < 0 ? NULL : a->val[k];
}

bool cli_flag(const cli_args *a, const char *name) {
    return cli_get(a, name) != NULL;
}

int cli_int(const cli_args *a, const char *name, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = cli_get(a, name);
    if (!v) return CLI_OK;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return cli_error(a, CLI_USAGE, "--%s expects an integer in [%lld, %lld], got '%s'", name,
                         (long long)lo, (long long)hi, v);
    *out = x;
    return CLI_OK;
}

int cli_double(const cli_args *a, const char *name, double lo, double hi, double *out) {
    const char *v = cli_get(a, name);
    if (!v) return CLI_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !(x >= lo && x <= hi))
        return cli_error(a, CLI_USAGE, "--%s expects a number in [%g, %g], got '%s'", name, lo, hi,
                         v);
    *out = x;
    return CLI_OK;
}

/* ---- errors -------------------------------------------------------------------------------- */

int cli_error(const cli_args *a, int code, const char *fmt, ...) {
    char msg[2048], safe[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one line, and nothing a terminal would obey: messages quote paths and names from files */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    cli_escape(safe, sizeof safe, msg, sizeof msg);
    fprintf(stderr, "nabla%s%s: %s\n", a && a->cmd ? " " : "", a && a->cmd ? a->cmd->name : "",
            safe);
    return code;
}

int cli_lib_error(const cli_args *a) {
    const char *e = nb_last_error();
    char note[256];
    return cli_error(a, CLI_FAIL, "%s%s", e[0] ? e : "failed (no message)",
                     cli_memory_note(note, sizeof note));
}

/* ---- outputs ------------------------------------------------------------------------------- */

static bool same_file(const char *p, const char *q) {
    if (!strcmp(p, q)) return true;
    struct stat a, b;
    return stat(p, &a) == 0 && stat(q, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int cli_check_outputs(const cli_args *a, const char *const *names, const char *const *paths) {
    for (int i = 0; names[i]; i++) {
        if (!paths[i]) continue;
        for (int j = 0; j < i; j++)
            if (paths[j] && same_file(paths[i], paths[j]))
                return cli_error(a, CLI_USAGE,
                                 "--%s and --%s name the same file '%s'; give "
                                 "each its own",
                                 names[j], names[i], paths[i]);
        if (nb_output_check(paths[i]) != NB_OK)
            return cli_error(a, CLI_FAIL, "--%s: %s (checked before starting)", names[i],
                             nb_last_error());
    }
    return CLI_OK;
}

int cli_threads(const cli_args *a) {
    int64_t n = 0;
    int rc = cli_int(a, "threads", 1, 64, &n);
    if (rc != CLI_OK) return rc;
    if (n > 0 && nb_set_threads((int)n) != NB_OK) return cli_lib_error(a);
    return CLI_OK;
}

/* ---- models -------------------------------------------------------------------------------- */

int cli_load_model(const cli_args *a, const char *path, const char *spec_path, nb_model **m,
                   nb_model_file *info) {
    memset(info, 0, sizeof *info);
    *m = NULL;
    if (!spec_path && nb_is_onnx_file(path))
        return nb_model_load_onnx(path, m, info) == NB_OK ? CLI_OK : cli_lib_error(a);
    if (!spec_path) return nb_model_load(path, m, info) == NB_OK ? CLI_OK : cli_lib_error(a);
    nb_spec *spec = NULL;
    if (nb_spec_read(spec_path, &spec) != NB_OK || nb_spec_build(spec, m) != NB_OK ||
        nb_model_load_weights(*m, path) != NB_OK) {
        int rc = cli_lib_error(a);
        nb_model_free(*m);
        *m = NULL;
        nb_spec_free(spec);
        return rc;
    }
    info->spec = spec;
    return CLI_OK;
}

int cli_load_any(const cli_args *a, const char *path, const char *spec_path, cli_model *cm,
                 nb_model_file *info) {
    memset(cm, 0, sizeof *cm);
    if (spec_path || !nb_qmodel_is_file(path)) {
        int rc = cli_load_model(a, path, spec_path, &cm->m, info);
        /* a language model (it has a tokenizer) is its commands' own business (lm.c) */
        if (rc == CLI_OK && !nb_model_has_tokenizer(cm->m) &&
            (rc = cli_check_plain(a, cm->m)) != CLI_OK) {
            nb_model_file_free(info);
            cli_model_free(cm);
        }
        return rc;
    }
    return nb_qmodel_load(path, &cm->q, info) == NB_OK ? CLI_OK : cli_lib_error(a);
}

void cli_model_free(cli_model *cm) {
    nb_model_free(cm->m);
    nb_qmodel_free(cm->q);
    memset(cm, 0, sizeof *cm);
}

int cli_any_input_shape(const cli_model *cm, int64_t *shape) {
    return cm->q ? nb_qmodel_input_shape(cm->q, shape) : nb_model_input_shape(cm->m, shape);
}

int cli_any_output_shape(const cli_model *cm, int64_t *shape) {
    return cm->q ? nb_qmodel_output_shape(cm->q, shape) : nb_model_output_shape(cm->m, shape);
}

nb_activation cli_any_output_activation(const cli_model *cm) {
    return cm->q ? nb_qmodel_output_activation(cm->q, NULL)
                 : nb_model_output_activation(cm->m, 0, NULL);
}

int cli_any_class_count(const cli_model *cm) {
    return cm->q ? nb_qmodel_class_count(cm->q) : nb_model_class_count(cm->m);
}

const char *cli_any_class_name(const cli_model *cm, int i) {
    return cm->q ? nb_qmodel_class_name(cm->q, i) : nb_model_class_name(cm->m, i);
}

nb_tensor *cli_any_infer(const cli_model *cm, nb_ctx *ctx, nb_tensor *x) {
    return cm->q ? nb_qmodel_infer(cm->q, ctx, x) : nb_model_infer(cm->m, ctx, x);
}

nb_status cli_any_evaluate(const cli_model *cm, const nb_dataset *ds, const nb_eval_opts *eo,
                           nb_metrics *mt) {
    return cm->q ? nb_qmodel_evaluate(cm->q, ds, eo, mt) : nb_evaluate(cm->m, ds, eo, mt);
}

int cli_check_plain(const cli_args *a, const nb_model *m) {
    int64_t shape[NB_MAX_RANK];
    nb_dtype dt = NB_F32;
    int rank = nb_model_node_shape(m, nb_model_input_node(m, 0), &dt, shape);
    if (nb_model_input_count(m) != 1 || nb_model_output_count(m) != 1)
        return cli_error(a, CLI_FAIL,
                         "the model has %d inputs and %d outputs; the nabla command runs "
                         "models with one of each (use the library for the others)",
                         nb_model_input_count(m), nb_model_output_count(m));
    if (dt != NB_F32)
        return cli_error(a, CLI_FAIL,
                         "the model's input '%s' takes i32 token ids; the nabla "
                         "command reads float features",
                         nb_model_node_name(m, nb_model_input_node(m, 0)));
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0)
            return cli_error(a, CLI_FAIL,
                             "dimension %d of the model's input is known only at "
                             "run time; the nabla command reads samples of a fixed size",
                             i + 1);
    return CLI_OK;
}

int64_t cli_model_features(const nb_model *m) {
    int64_t shape[NB_MAX_RANK], n = 1;
    int r = nb_model_input_shape(m, shape);
    for (int i = 0; i < r; i++) n *= shape[i];
    return n;
}

/* ---- input rows ---------------------------------------------------------------------------- */

void cli_rows_free(cli_rows *r) {
    cli_free(r->x);
    cli_free(r->labels);
    memset(r, 0, sizeof *r);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

bool cli_is_csv_name(const char *path) {
    size_t n = strlen(path);
    return !strcmp(path, "-") ||
           (n > 4 && (!strcmp(path + n - 4, ".csv") || !strcmp(path + n - 4, ".CSV") ||
                      !strcmp(path + n - 4, ".tsv")));
}

/* "idx", "npy" or "csv" for a path (by --format, else the name; standard input: CSV). */
static const char *format_of(const char *path, const char *format) {
    if (format) return format;
    if (!strcmp(path, "-")) return "csv";
    if (cli_is_csv_name(path)) return "csv";
    if (ends_with(path, ".npy")) return "npy";
    return "idx";
}

/* An array's values as n rows of features floats. */
static int array_rows(const cli_args *a, const char *path, const nb_array *arr, cli_rows *out) {
    if (arr->rank < 1)
        return cli_error(a, CLI_FAIL,
                         "%s: a scalar is not a list of samples (expected the "
                         "samples along the first axis)",
                         path);
    out->n = arr->shape[0];
    out->features = arr->shape[0] ? arr->numel / arr->shape[0] : 0;
    nb_tensor *t = nb_array_to_tensor(NULL, arr, NB_F32);
    if (!t) return cli_lib_error(a);
    out->x = cli_malloc(sizeof(float) * (size_t)arr->numel);
    if (!out->x) {
        nb_tensor_free(t);
        return cli_lib_error(a);
    }
    if (arr->numel) memcpy(out->x, t->data, sizeof(float) * (size_t)arr->numel);
    nb_tensor_free(t);
    /* NaN and infinity are refused here as the CSV reader refuses them */
    for (int64_t i = 0; i < arr->numel; i++) {
        if (isfinite(out->x[i])) continue;
        double v = arr->type == NB_ELEM_F64 ? ((const double *)arr->data)[i] : out->x[i];
        int64_t r = i / out->features, c = i % out->features;
        if (isfinite(v))
            return cli_error(a, CLI_FAIL,
                             "%s: sample %lld, value %lld is %g, too large for "
                             "float32",
                             path, (long long)r, (long long)c, v);
        return cli_error(a, CLI_FAIL,
                         "%s: sample %lld, value %lld is %s; NaN and infinity are "
                         "not supported (fill or drop them first)",
                         path, (long long)r, (long long)c,
                         isnan(v) ? "NaN"
                         : v > 0  ? "inf"
                                  : "-inf");
    }
    return CLI_OK;
}

static int read_labels(const cli_args *a, const char *path, const char *format, cli_rows *out) {
    nb_array arr;
    (void)format; /* labels are IDX or .npy by their own name */
    nb_status s =
        !strcmp(format_of(path, NULL), "npy") ? nb_npy_read(path, &arr) : nb_idx_read(path, &arr);
    if (s != NB_OK) return cli_lib_error(a);
    int rc = CLI_OK;
    if (arr.numel != out->n || (arr.rank != 1 && !(arr.rank == 2 && arr.shape[1] == 1)))
        rc = cli_error(a, CLI_FAIL,
                       "%s: %lld labels for %lld samples (expected one integer per "
                       "sample)",
                       path, (long long)arr.numel, (long long)out->n);
    nb_tensor *t = rc == CLI_OK ? nb_array_to_tensor(NULL, &arr, NB_I32) : NULL;
    if (rc == CLI_OK && !t) rc = cli_lib_error(a);
    if (rc == CLI_OK) {
        out->labels = cli_malloc(sizeof(int32_t) * (size_t)out->n);
        if (!out->labels) rc = cli_lib_error(a);
        const int32_t *v = t->data;
        for (int64_t i = 0; out->labels && i < out->n; i++) {
            if (v[i] < 0) {
                rc = cli_error(a, CLI_FAIL, "%s: label %lld is negative (%d)", path, (long long)i,
                               v[i]);
                break;
            }
            out->labels[i] = v[i];
            if (v[i] + 1 > out->num_classes) out->num_classes = v[i] + 1;
        }
    }
    nb_tensor_free(t);
    nb_array_free(&arr);
    return rc;
}

/* A column index of the command line (from 0; negative from the end) as nb_csv_opts counts
 * columns (from 1; negative from the end), out-of-range values kept out of range. */
static int label_column(long idx) {
    if (idx >= 0) return idx < INT_MAX ? (int)idx + 1 : INT_MAX;
    return idx > INT_MIN ? (int)idx : INT_MIN;
}

/* All of standard input (a pipe is the one non-regular input nabla reads), in memory counted
 * against the limit. */
int cli_read_stdin(const cli_args *a, unsigned char **buf, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = cli_malloc(cap);
    if (!b) return cli_lib_error(a);
    for (;;) {
        if (n == cap) {
            unsigned char *nb = cap <= SIZE_MAX / 2 ? cli_malloc(2 * cap) : NULL;
            if (!nb) {
                cli_free(b);
                return cli_lib_error(a);
            }
            memcpy(nb, b, n);
            cli_free(b);
            b = nb;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n, stdin);
        n += k;
        if (k == 0) break;
    }
    if (ferror(stdin)) {
        cli_free(b);
        return cli_error(a, CLI_FAIL, "cannot read standard input: %s", strerror(errno));
    }
    *buf = b;
    *len = n;
    return CLI_OK;
}

int cli_read_rows(const cli_args *a, const char *path, const char *format, const char *label_col,
                  const char *labels_path, cli_rows *out) {
    memset(out, 0, sizeof *out);
    const char *fmt = format_of(path, format);
    if (strcmp(fmt, "csv") && strcmp(fmt, "npy") && strcmp(fmt, "idx"))
        return cli_error(a, CLI_USAGE, "unknown format '%s' (expected csv, npy or idx)", fmt);
    bool from_stdin = !strcmp(path, "-");
    const char *name = from_stdin ? "(standard input)" : path;
    unsigned char *in = NULL;
    size_t in_len = 0;
    if (from_stdin) {
        int rc = cli_read_stdin(a, &in, &in_len);
        if (rc != CLI_OK) return rc;
    }
    int rc;
    nb_status s;
    if (!strcmp(fmt, "csv")) {
        nb_csv_opts o = {0};
        if (label_col) {
            char *end;
            long idx = strtol(label_col, &end, 10);
            if (*label_col && !*end)
                o.label_column = label_column(idx);
            else
                o.label_name = label_col;
        } else {
            o.no_label = 1;
        }
        nb_csv c;
        s = from_stdin ? nb_csv_parse(in, in_len, name, &o, &c) : nb_csv_read(path, &o, &c);
        cli_free(in);
        if (s != NB_OK) return cli_lib_error(a);
        /* the buffers move over (nabla's allocator made them, cli_free frees them) */
        out->n = c.rows;
        out->features = c.cols;
        out->x = c.x;
        out->labels = c.labels;
        out->num_classes = c.labels ? c.num_classes : 0;
        c.x = NULL;
        c.labels = NULL;
        nb_csv_free(&c);
        rc = CLI_OK;
    } else {
        nb_array arr;
        if (from_stdin)
            s = !strcmp(fmt, "npy") ? nb_npy_parse(in, in_len, name, &arr)
                                    : nb_idx_parse(in, in_len, name, &arr);
        else
            s = !strcmp(fmt, "npy") ? nb_npy_read(path, &arr) : nb_idx_read(path, &arr);
        cli_free(in);
        if (s != NB_OK) return cli_lib_error(a);
        rc = array_rows(a, name, &arr, out);
        nb_array_free(&arr);
    }
    if (rc == CLI_OK && out->n == 0)
        rc = cli_error(a, CLI_FAIL, "%s holds no samples%s: nothing to do", name,
                       !strcmp(fmt, "csv") ? " (only a header row)" : "");
    if (rc == CLI_OK && labels_path) rc = read_labels(a, labels_path, format, out);
    if (rc != CLI_OK) cli_rows_free(out);
    return rc;
}

/* ---- datasets ------------------------------------------------------------------------------ */

/* A table's labels renumbered as the model's class names number them; a label the model does
 * not know is refused with its row and name. */
static int map_classes(const cli_args *a, const char *name, const nb_model *m, nb_csv *c) {
    int k = nb_model_class_count(m), nk = c->num_classes > 0 ? c->num_classes : 1;
    int *map = cli_malloc(sizeof *map * (size_t)nk);
    if (!map) return cli_lib_error(a);
    for (int i = 0; i < nk; i++) map[i] = -2; /* not looked up yet */
    int rc = CLI_OK;
    for (int64_t r = 0; r < c->rows && rc == CLI_OK; r++) {
        int32_t l = c->labels[r];
        if (map[l] == -2) {
            char num[24];
            const char *text = c->classes ? c->classes[l] : num;
            if (!c->classes) snprintf(num, sizeof num, "%d", (int)l);
            map[l] = -1;
            for (int j = 0; j < k && map[l] < 0; j++)
                if (!strcmp(nb_model_class_name(m, j), text)) map[l] = j;
        }
        if (map[l] < 0) {
            char e[64], known[200];
            size_t w = 0;
            cli_escape(e, sizeof e, c->classes ? c->classes[l] : "?", 32);
            if (!c->classes) snprintf(e, sizeof e, "%d", (int)l);
            for (int j = 0; j < k && w + 40 < sizeof known; j++) {
                if (j) w += (size_t)snprintf(known + w, sizeof known - w, ", ");
                w += cli_escape(known + w, sizeof known - w, nb_model_class_name(m, j), 24);
            }
            rc = cli_error(a, CLI_FAIL,
                           "%s: row %lld: the label '%s' is not one of the model's %d classes "
                           "(%s%s)",
                           name, (long long)r + 1, e, k, known,
                           w + 40 >= sizeof known ? ", ..." : "");
            break;
        }
        c->labels[r] = map[l];
    }
    cli_free(map);
    if (rc != CLI_OK) return rc;
    for (int i = 0; c->classes && i < c->num_classes; i++) cli_free(c->classes[i]);
    cli_free(c->classes);
    c->classes = NULL;
    c->num_classes = k;
    return CLI_OK;
}

int cli_load_dataset(const cli_args *a, const char *path, const char *labels_path,
                     const char *format, const char *label_col, const nb_model *m,
                     nb_dataset **out) {
    *out = NULL;
    const char *fmt = format_of(path, format);
    nb_status s;
    if (!strcmp(fmt, "csv")) {
        if (labels_path)
            return cli_error(a, CLI_USAGE,
                             "a CSV file holds its labels in a column: choose it "
                             "with a label= in the spec's data line or --label, not a labels "
                             "file");
        nb_csv_opts o = {0};
        if (label_col) {
            char *end;
            long idx = strtol(label_col, &end, 10);
            if (*label_col && !*end)
                o.label_column = label_column(idx);
            else
                o.label_name = label_col;
        }
        unsigned char *buf;
        size_t len;
        int rc = cli_input_read(a, path, &buf, &len);
        if (rc != CLI_OK) return rc;
        nb_csv c;
        s = nb_csv_parse(buf, len, cli_input_name(path), &o, &c);
        cli_free(buf);
        if (s != NB_OK) return cli_lib_error(a);
        /* class names as the model numbers them, not afresh (issue 12); when the widths
         * differ, evaluation says so first */
        if (m && nb_model_class_count(m) > 0 && c.labels && c.cols == cli_model_features(m))
            rc = map_classes(a, cli_input_name(path), m, &c);
        if (rc == CLI_OK) {
            s = nb_dataset_from_csv(&c, out);
            if (s != NB_OK) rc = cli_lib_error(a);
        }
        nb_csv_free(&c);
        if (rc != CLI_OK) return rc;
    } else if (!strcmp(fmt, "npy")) {
        s = nb_dataset_load_npy(path, labels_path, out);
    } else if (!strcmp(fmt, "idx")) {
        s = nb_dataset_load_idx(path, labels_path, out);
    } else {
        return cli_error(a, CLI_USAGE, "unknown format '%s' (expected csv, npy or idx)", fmt);
    }
    if (s != NB_OK) return cli_lib_error(a);
    if (nb_dataset_len(*out) == 0) {
        nb_dataset_free(*out);
        *out = NULL;
        return cli_error(a, CLI_FAIL, "%s holds no samples%s: nothing to do", path,
                         !strcmp(fmt, "csv") ? " (only a header row)" : "");
    }
    return CLI_OK;
}
