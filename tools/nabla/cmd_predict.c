/* tools/nabla/cmd_predict.c — `nabla predict MODEL INPUT...`: run a model on files of samples.
 *
 * Inputs are CSV (every column a feature, unless --label names a column to leave out), .npy
 * or IDX files whose first axis is the samples; the model file's normalisation is applied
 * first. One line per sample comes out, in order:
 *   a classifier (the model ends in softmax, or its loss is cross_entropy or nll):
 *       the class (its name when the file has class names), then the K probabilities
 *   a binary classifier (one output and sigmoid, bce or bce_with_logits):
 *       the class (0 or 1), then the probability of class 1
 *   anything else: the output values
 * --raw prints the model's outputs as they are in every case. */
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
static out_kind output_kind(const nb_model *m, const nb_spec *spec, int64_t outputs) {
    nb_activation act = nb_model_output_activation(m, 0, NULL);
    const char *loss = spec && spec->has_loss ? spec->loss : "";
    if (outputs > 1) {
        if (act == NB_ACT_SOFTMAX) return OUT_PROBS;
        if (!strcmp(loss, "cross_entropy")) return OUT_LOGITS;
        if (!strcmp(loss, "nll")) return OUT_LOGPROBS;
    } else if (outputs == 1) {
        if (act == NB_ACT_SIGMOID || !strcmp(loss, "bce")) return OUT_PROB1;
        if (!strcmp(loss, "bce_with_logits") || !strcmp(loss, "bce_logits")) return OUT_LOGIT1;
    }
    return OUT_VALUES;
}

static void print_row(FILE *f, const float *y, int64_t k, out_kind kind, const nb_model *m) {
    if (kind == OUT_VALUES) {
        for (int64_t j = 0; j < k; j++) fprintf(f, "%s%.7g", j ? " " : "", (double)y[j]);
        fprintf(f, "\n");
        return;
    }
    double p[4096], *pp = k <= 4096 ? p : cli_malloc(sizeof(double) * (size_t)k);
    if (!pp) return;
    if (kind == OUT_PROB1 || kind == OUT_LOGIT1) {
        double q = kind == OUT_PROB1 ? (double)y[0] : 1.0 / (1.0 + exp(-(double)y[0]));
        fprintf(f, "%d %.6g\n", q > 0.5, q);
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
    if (best < nb_model_class_count(m))
        cli_put_escaped(f, nb_model_class_name(m, (int)best)); /* names from the file: no terminal codes */
    else
        fprintf(f, "%lld", (long long)best);
    for (int64_t j = 0; j < k; j++) fprintf(f, " %.6g", pp[j]);
    fprintf(f, "\n");
    if (pp != p) cli_free(pp);
}

/* Runs rows through the model in batches and prints one line per sample. */
static int predict_rows(cli_args *a, nb_model *m, const nb_model_file *info, const cli_rows *r,
                        int64_t batch, out_kind kind, int64_t outputs, FILE *f) {
    int64_t in[NB_MAX_RANK + 1];
    int rank = nb_model_input_shape(m, in + 1);
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
        nb_tensor *y = nb_model_infer(m, ctx, xt); /* inference mode, nothing written */
        y = y ? nb_contiguous(ctx, y) : NULL;
        if (!y) {
            rc = cli_lib_error(a);
            break;
        }
        const float *yd = y->data;
        for (int64_t s = 0; s < b; s++) print_row(f, yd + s * outputs, outputs, kind, m);
        nb_ctx_reset(ctx);
    }
    cli_free(x);
    nb_ctx_free(ctx);
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
    nb_model *m;
    nb_model_file info;
    rc = cli_load_model(a, a->pos[0], cli_get(a, "spec"), &m, &info);
    if (rc != CLI_OK) {
        nb_atomic_abort(af);
        return rc;
    }
    rc = cli_check_plain(a, m);
    if (rc != CLI_OK) {
        nb_atomic_abort(af);
        nb_model_file_free(&info);
        nb_model_free(m);
        return rc;
    }
    int64_t out_shape[NB_MAX_RANK], outputs = 1;
    int orank = nb_model_output_shape(m, out_shape);
    for (int i = 0; i < orank; i++) outputs *= out_shape[i];
    out_kind kind =
        cli_flag(a, "raw") || orank > 1 ? OUT_VALUES : output_kind(m, info.spec, outputs);
    int64_t features = cli_model_features(m);
    for (int i = 1; rc == CLI_OK && i < a->n_pos; i++) {
        cli_rows r;
        rc = cli_read_rows(a, a->pos[i], cli_get(a, "format"), cli_get(a, "label"), NULL, &r);
        if (rc != CLI_OK) break;
        if (r.features != features) {
            char shape[128];
            int64_t in[NB_MAX_RANK];
            int k = nb_model_input_shape(m, in), w = snprintf(shape, sizeof shape, "[");
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
            rc = predict_rows(a, m, &info, &r, batch, kind, outputs, f);
        }
        cli_rows_free(&r);
    }
    if (af && rc == CLI_OK)
        rc = nb_atomic_commit(af) == NB_OK ? CLI_OK : cli_lib_error(a);
    else
        nb_atomic_abort(af);
    nb_model_file_free(&info);
    nb_model_free(m);
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
        "names) followed by the probability of every class; for a binary classifier, 0 or 1\n"
        "and the probability of 1; otherwise the output values. An INPUT of - reads standard\n"
        "input (CSV unless --format says otherwise); --out FILE is replaced atomically.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 2,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
