/* tools/nabla/cmd_predict.c — `nabla predict MODEL INPUT...`: run a model on files of samples.
 *
 * Inputs are CSV (every column a feature, unless --label names a column to leave out), .npy
 * or IDX files whose first axis is the samples; - is standard input. A model trained on a
 * table reads a CSV file as it read its training file: the columns by name, in any order and
 * with others (the label) besides, when the file has a header, by position when it has none;
 * a column the model needs and the file lacks is refused, naming it; categories one-hot
 * encoded, missing values filled as stored. The model file's normalisation is applied first.
 * One line per sample comes out, in order:
 *   a classifier (the model ends in softmax, or its loss is cross_entropy or nll):
 *       the class (its name when the model has class names); --proba: then the K probabilities
 *   a binary classifier (one output and sigmoid, bce or bce_with_logits):
 *       the class (its name, or 0 or 1); --proba: then the probability of class 1
 *   anything else (a regression): the output values, in the targets' units
 * --raw prints the model's outputs as they are in every case. A model trained on audio
 * (data audio=) takes WAV files, and manifests of them, featurised by the pipeline its file
 * stores. An int8 model file (nabla quantize) runs its integer inference. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"spec", "SPEC", "the architecture, for a file of weights without nabla's metadata"},
    {"format", "FMT", "csv, npy or idx (default: by the file name; IDX when unknown)"},
    {"label", "COL", "CSV: a label column (name or index) to leave out of the features"},
    {"batch", "N", "samples per forward pass (default 256)"},
    {"raw", NULL, "print the raw outputs (no class, no probabilities)"},
    {"proba", NULL, "after each class, the probability of every class (binary: of class 1)"},
    {"header", "MODE", "CSV: auto, yes or no: is the first row the column names"},
    {"delimiter", "C", "CSV: one character, or tab, semicolon, pipe (default: detected)"},
    {"out", "FILE", "write the predictions to FILE instead of standard output"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

typedef enum out_kind {
    OUT_VALUES,
    OUT_PROBS,
    OUT_LOGITS,
    OUT_LOGPROBS,
    OUT_PROB1,
    OUT_LOGIT1
} out_kind;

/* How to read the model's output: from the activation it ends with (the model says), else
 * from the loss it was trained with. */
static out_kind output_kind(const cli_model *m, const nb_spec *spec, int64_t outputs) {
    nb_activation act = cli_any_output_activation(m);
    const char *loss = spec && spec->has_loss ? spec->loss : "";
    if (outputs > 1) {
        if (act == NB_ACT_SOFTMAX) return OUT_PROBS;
        if (act == NB_ACT_LOG_SOFTMAX) return OUT_LOGPROBS;
        if (!strcmp(loss, "cross_entropy")) return OUT_LOGITS;
        if (!strcmp(loss, "nll")) return OUT_LOGPROBS;
    } else if (outputs == 1) {
        if (act == NB_ACT_SIGMOID || !strcmp(loss, "bce")) return OUT_PROB1;
        if (!strcmp(loss, "bce_with_logits") || !strcmp(loss, "bce_logits")) return OUT_LOGIT1;
    }
    return OUT_VALUES;
}

/* The class: its name when the model has one, else its number. */
static void put_class(FILE *f, int64_t k, const cli_model *m) {
    if (k < cli_any_class_count(m))
        cli_put_escaped(f, cli_any_class_name(m, (int)k)); /* names from the file: escaped */
    else
        fprintf(f, "%lld", (long long)k);
}

static void print_row(FILE *f, const float *y, int64_t k, out_kind kind, const cli_model *m,
                      bool proba) {
    if (kind == OUT_VALUES) {
        for (int64_t j = 0; j < k; j++) fprintf(f, "%s%.7g", j ? " " : "", (double)y[j]);
        fprintf(f, "\n");
        return;
    }
    double p[4096], *pp = k <= 4096 ? p : cli_malloc(sizeof(double) * (size_t)k);
    if (!pp) return;
    if (kind == OUT_PROB1 || kind == OUT_LOGIT1) {
        double q = kind == OUT_PROB1 ? (double)y[0] : 1.0 / (1.0 + exp(-(double)y[0]));
        put_class(f, q > 0.5, m);
        if (proba) fprintf(f, " %.6g", q);
        fprintf(f, "\n");
        return;
    }
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < k; j++) mx = (double)y[j] > mx ? (double)y[j] : mx;
    for (int64_t j = 0; j < k; j++) {
        pp[j] = kind == OUT_PROBS      ? (double)y[j]
                : kind == OUT_LOGPROBS ? exp((double)y[j])
                                       : exp((double)y[j] - mx);
        sum += pp[j];
    }
    int64_t best = 0;
    for (int64_t j = 0; j < k; j++) {
        if (kind == OUT_LOGITS) pp[j] /= sum;
        if (pp[j] > pp[best]) best = j;
    }
    put_class(f, best, m);
    for (int64_t j = 0; proba && j < k; j++) fprintf(f, " %.6g", pp[j]);
    fprintf(f, "\n");
    if (pp != p) cli_free(pp);
}

/* Runs rows through the model in batches and prints one line per sample. */
static int predict_rows(cli_args *a, const cli_model *m, const nb_model_file *info,
                        const cli_rows *r, int64_t batch, out_kind kind, int64_t outputs, FILE *f) {
    bool proba = cli_flag(a, "proba");
    /* a regression trained on standardised targets: its outputs back in their units */
    const nb_norm *tn = info->has_tabular && info->tabular.target_norm.kind != NB_NORM_NONE &&
                                kind == OUT_VALUES && !cli_flag(a, "raw")
                            ? &info->tabular.target_norm
                            : NULL;
    int64_t in[NB_MAX_RANK + 1];
    int rank = cli_any_input_shape(m, in + 1);
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!ctx) return cli_lib_error(a);
    if (batch > r->n) batch = r->n; /* --batch 16777216 on 10 samples: room for 10 */
    float *x = cli_malloc(sizeof(float) * (size_t)(batch * r->features));
    int rc = x ? CLI_OK : cli_lib_error(a);
    for (int64_t i = 0; rc == CLI_OK && i < r->n; i += batch) {
        int64_t b = r->n - i < batch ? r->n - i : batch;
        memcpy(x, r->x + i * r->features, sizeof(float) * (size_t)(b * r->features));
        if (info->norm.kind != NB_NORM_NONE &&
            nb_norm_apply(&info->norm, x, b, r->features) != NB_OK) {
            rc = cli_lib_error(a);
            break;
        }
        in[0] = b;
        nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, rank + 1, in);
        nb_tensor *y = cli_any_infer(m, ctx, xt); /* inference mode, nothing written */
        y = y ? nb_contiguous(ctx, y) : NULL;
        if (!y) {
            rc = cli_lib_error(a);
            break;
        }
        if (tn && nb_norm_invert(tn, y->data, b, outputs) != NB_OK) {
            rc = cli_lib_error(a);
            break;
        }
        const float *yd = y->data;
        for (int64_t s = 0; s < b; s++) print_row(f, yd + s * outputs, outputs, kind, m, proba);
        nb_ctx_reset(ctx);
    }
    cli_free(x);
    nb_ctx_free(ctx);
    return rc;
}

/* A table's rows, encoded as the model's table says. */
static int table_rows(cli_args *a, const char *path, const nb_model_file *info, cli_rows *out) {
    memset(out, 0, sizeof *out);
    const nb_tabular *t = &info->tabular;
    const nb_data_spec *d = info->spec ? &info->spec->data : NULL;
    cli_table_for f = {.tab = t, .label = cli_get(a, "label")};
    f.with_labels = f.label != NULL; /* a column to leave out of a file without a header */
    f.header = d ? d->header : NB_CSV_HEADER_AUTO;
    f.delimiter = d ? d->delimiter : 0;
    const char *h = cli_get(a, "header"), *dl = cli_get(a, "delimiter");
    if (h) {
        if (strcmp(h, "auto") && strcmp(h, "yes") && strcmp(h, "no"))
            return cli_error(a, CLI_USAGE, "--header: expected auto, yes or no, got '%s'", h);
        f.header = h[0] == 'y'   ? NB_CSV_HEADER_YES
                   : h[0] == 'n' ? NB_CSV_HEADER_NO
                                 : NB_CSV_HEADER_AUTO;
    }
    if (dl && cli_delimiter(a, dl, &f.delimiter) != CLI_OK) return CLI_USAGE;
    nb_csv c;
    int rc = cli_table_read_for(a, path, &f, &c);
    if (rc != CLI_OK) return rc;
    if (nb_tabular_encode(t, &c, &out->x) != NB_OK) rc = cli_lib_error(a);
    out->n = c.rows;
    out->features = t->features;
    nb_csv_free(&c);
    return rc;
}

static int run(cli_args *a) {
    int64_t batch = 256;
    int rc = cli_int(a, "batch", 1, 1 << 24, &batch);
    if (rc == CLI_OK) rc = cli_threads(a);
    if (rc != CLI_OK) return rc;
    /* --out: written atomically (a failed run leaves the old file), and opened first, so that
     * a path that cannot be written fails before any work, with the system's reason */
    const char *out_path = cli_get(a, "out");
    nb_atomic_file *af = NULL;
    if (out_path && nb_atomic_open(out_path, 0, &af) != NB_OK) return cli_lib_error(a);
    FILE *f = af ? nb_atomic_stream(af) : stdout;
    cli_model m; /* a float model, or an int8 one */
    nb_model_file info;
    rc = cli_load_any(a, a->pos[0], cli_get(a, "spec"), &m, &info);
    if (rc != CLI_OK) {
        nb_atomic_abort(af);
        return rc;
    }
    if (m.m && (rc = cli_check_plain(a, m.m)) != CLI_OK) { /* one input, one output */
        nb_atomic_abort(af);
        nb_model_file_free(&info);
        cli_model_free(&m);
        return rc;
    }
    int64_t out_shape[NB_MAX_RANK], outputs = 1;
    int orank = cli_any_output_shape(&m, out_shape);
    for (int i = 0; i < orank; i++) outputs *= out_shape[i];
    out_kind kind =
        cli_flag(a, "raw") || orank > 1 ? OUT_VALUES : output_kind(&m, info.spec, outputs);
    int64_t in_shape[NB_MAX_RANK], features = 1;
    for (int d = 0, r = cli_any_input_shape(&m, in_shape); d < r; d++) features *= in_shape[d];
    const char *fmt = cli_get(a, "format");
    /* a model trained on audio manifests featurises WAV files (and manifests) as in training */
    const bool audio = m.m && info.spec && !strcmp(info.spec->data.format, "audio");
    for (int i = 1; rc == CLI_OK && i < a->n_pos; i++) {
        cli_rows r;
        bool csv = fmt ? !strcmp(fmt, "csv") : cli_is_csv_name(a->pos[i]);
        if (audio && (cli_is_wav(a->pos[i]) || !fmt))
            rc = cli_audio_rows(a, a->pos[i], info.spec->data.features, features,
                                cli_frames_first(m.m), &r);
        else if (cli_is_wav(a->pos[i]))
            rc = cli_error(a, CLI_FAIL,
                           "%s: the model was not trained on audio (its spec has no data "
                           "audio=), so it has no feature pipeline for a WAV file",
                           a->pos[i]);
        else if (info.has_tabular && csv)
            rc = table_rows(a, a->pos[i], &info, &r);
        else
            rc = cli_read_rows(a, a->pos[i], fmt, cli_get(a, "label"), NULL, &r);
        if (rc != CLI_OK) break;
        if (r.features != features) {
            char shape[128];
            int64_t in[NB_MAX_RANK];
            int k = cli_any_input_shape(&m, in), w = snprintf(shape, sizeof shape, "[");
            for (int d = 0; d < k; d++)
                w += snprintf(shape + w, sizeof shape - (size_t)w, "%s%lld", d ? ", " : "",
                              (long long)in[d]);
            snprintf(shape + w, sizeof shape - (size_t)w, "]");
            rc = cli_error(a, CLI_FAIL,
                           "%s: its samples have %lld values each; the model takes "
                           "%lld (%s)%s",
                           a->pos[i], (long long)r.features, (long long)features, shape,
                           cli_get(a, "label") ? ""
                                               : " — if the file has a label column, "
                                                 "leave it out with --label");
        } else {
            rc = predict_rows(a, &m, &info, &r, batch, kind, outputs, f);
        }
        cli_rows_free(&r);
    }
    if (af && rc == CLI_OK)
        rc = nb_atomic_commit(af) == NB_OK ? CLI_OK : cli_lib_error(a);
    else
        nb_atomic_abort(af);
    nb_model_file_free(&info);
    cli_model_free(&m);
    return rc;
}

const cli_cmd cli_cmd_predict = {
    .name = "predict",
    .usage = "MODEL INPUT... [options]",
    .summary = "run a model on CSV, .npy or IDX files: one line of output per sample",
    .description =
        "Runs the model in MODEL on the samples of each INPUT file (CSV, .npy or IDX, samples\n"
        "along the first axis), normalised as the model was trained, and prints one line per\n"
        "sample: for a classifier, the predicted class (its name when the model has class\n"
        "names), with --proba followed by the probability of every class (a binary\n"
        "classifier: of class 1); otherwise (a regression) the output values. A model trained\n"
        "on a CSV table reads its columns by name when the file has a header (any order, other\n"
        "columns ignored) and refuses a file that lacks one it needs. An INPUT of - reads\n"
        "standard input (CSV unless --format says otherwise); --out FILE is replaced\n"
        "atomically.\n"
        "A model trained on audio (data audio=) takes WAV files, or manifests of them, and\n"
        "featurises them with the pipeline stored in the model file.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 2,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
