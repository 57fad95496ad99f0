/* tools/nabla/cmd_eval.c — `nabla eval MODEL`: measure a trained model on labelled data.
 *
 * The data is --data (with --labels for IDX and .npy files; a folder of IDX files gives its
 * t10k files; - is standard input), or — only when asked with --use-stored-data — the test set
 * named in the spec stored in the model file (its path relative to the model file): a model
 * file from elsewhere must not decide which files of this machine are opened. A model trained
 * on a table reads the file as it read its training file: columns by name (in any order) when
 * the file has a header, class names through the model's own, categories and fill values as
 * stored; an unknown class or category, or a missing column, is refused with its name. The
 * loss is the model's (its spec's loss line; else the task's); classifiers get accuracy,
 * precision, recall, F1 and ROC-AUC (--top-k and --confusion add top-k accuracy and the
 * confusion matrix), regressions R², RMSE, MAE and MSE, in the targets' own units. One
 * "name value" line per metric, or one JSON object with --json. An int8 model file (nabla
 * quantize) is evaluated by its integer inference. */
#include "cli.h"

#include <stdlib.h>

#include <math.h>
#include <string.h>

static const cli_opt opts[] = {
    {"data", "PATH",
     "the samples: IDX images (or their folder), .npy or CSV (- for standard input)"},
    {"labels", "PATH", "their labels, for IDX or .npy samples"},
    {"format", "FMT", "csv, npy or idx (default: by the file name)"},
    {"label", "COL",
     "CSV: the label column, by name or index from 0 (default: the model's, or "
     "the last)"},
    {"spec", "SPEC", "the architecture, for a file of weights without nabla's metadata"},
    {"batch", "N", "samples per forward pass (default 256)"},
    {"top-k", "K", "also report top-K accuracy"},
    {"confusion", NULL, "also print the confusion matrix"},
    {"json", NULL, "print the metrics as one JSON object"},
    {"header", "MODE", "CSV: auto, yes or no: is the first row the column names"},
    {"delimiter", "C", "CSV: one character, or tab, semicolon, pipe (default: detected)"},
    {"confusion-svg", "FILE", "audio manifests: also draw the confusion matrix as SVG"},
    {"use-stored-data", NULL, "without --data: the test set the model's stored spec names"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

/* A table, read as the model expects it, into a dataset for its loss. */
static int load_table(cli_args *a, const char *path, const nb_model *m, const nb_model_file *info,
                      nb_loss_kind loss, nb_dataset **ds) {
    const nb_tabular *t = &info->tabular;
    const nb_data_spec *d = info->spec ? &info->spec->data : NULL;
    cli_table_for f = {.tab = t, .label = cli_get(a, "label"), .with_labels = 1};
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
    int k = nb_model_class_count(m);
    const char **classes = k ? cli_malloc(sizeof *classes * (size_t)k) : NULL;
    if (k && !classes) return cli_lib_error(a);
    for (int i = 0; i < k; i++) classes[i] = nb_model_class_name(m, i);
    f.classes = classes;
    f.num_classes = k;
    nb_csv c;
    int rc = cli_table_read_for(a, path, &f, &c);
    cli_free(classes);
    if (rc != CLI_OK) return rc;
    unsigned flags =
        t->task == NB_TASK_CLASSIFICATION && (loss == NB_LOSS_BCE || loss == NB_LOSS_BCE_LOGITS)
            ? NB_TABULAR_LABELS_AS_TARGETS
            : 0;
    if (nb_tabular_dataset(t, &c, flags, ds) != NB_OK) rc = cli_lib_error(a);
    nb_csv_free(&c);
    return rc;
}

static int run(cli_args *a) {
    int64_t batch = 256, top_k = 0;
    int rc = cli_int(a, "batch", 1, 1 << 24, &batch);
    if (rc == CLI_OK) rc = cli_int(a, "top-k", 1, 1000, &top_k);
    if (rc == CLI_OK) rc = cli_threads(a);
    if (rc != CLI_OK) return rc;
    cli_model m; /* a float model, or an int8 one */
    nb_model_file info;
    rc = cli_load_any(a, a->pos[0], cli_get(a, "spec"), &m, &info);
    if (rc != CLI_OK) return rc;
    if (m.m && nb_model_has_tokenizer(m.m)) { /* a language model: lm.c */
        rc = cli_lm_eval(a, m.m, &info);
        nb_model_file_free(&info);
        cli_model_free(&m);
        return rc;
    }
    const nb_data_spec *d = info.spec ? &info.spec->data : NULL;
    const char *path = cli_get(a, "data"), *labels = cli_get(a, "labels");
    bool stored = !path && d && d->test;
    /* a model trained on audio manifests evaluates on its test manifest by default */
    bool audio = m.m && d && !strcmp(d->format, "audio") && !cli_get(a, "format");
    if (stored && (cli_flag(a, "use-stored-data") || audio)) {
        path = d->test; /* resolved against the model file's directory when it was read */
        labels = d->test_labels;
    }
    nb_dataset *ds = NULL;
    if (!path)
        rc = cli_error(a, CLI_USAGE, "no data to evaluate on: give --data PATH (%s)",
                       stored ? "the model's stored spec names a test set; --use-stored-data "
                                "evaluates on it"
                              : "the model's spec names no test set");
    const char *fmt = cli_get(a, "format"), *label = cli_get(a, "label");
    if (!fmt && d && d->format[0]) fmt = d->format;
    if (!label && d) label = d->label;
    /* an IDX folder: its test files */
    char *images = NULL, *ilabels = NULL;
    if (rc == CLI_OK && !audio) rc = cli_idx_folder(a, path, "t10k", &images, &ilabels);
    if (rc == CLI_OK && images) {
        path = images;
        labels = ilabels;
        fmt = "idx";
    }
    int64_t out_shape[NB_MAX_RANK], outputs = 1;
    int orank = cli_any_output_shape(&m, out_shape);
    for (int i = 0; i < orank; i++) outputs *= out_shape[i];
    nb_loss_kind loss = NB_LOSS_CROSS_ENTROPY;
    bool table =
        rc == CLI_OK && m.m && info.has_tabular && (!fmt || !strcmp(fmt, "csv")) && !images;
    if (table) {
        /* the loss of a table's model: its spec's, else its task's */
        rc = cli_decide_loss(a, info.spec, info.tabular.task, outputs, &loss);
        if (rc == CLI_OK) rc = load_table(a, path, m.m, &info, loss, &ds);
    } else if (rc == CLI_OK) {
        rc = audio ? cli_load_audio(a, path, d->features, d->store, cli_frames_first(m.m), &ds)
                   : cli_load_dataset(a, path, labels, fmt, label, m.m, &ds);
    }
    nb_dataset_info di;
    if (rc == CLI_OK) {
        nb_dataset_get_info(ds, &di);
        if (!di.has_y)
            rc = cli_error(a, CLI_FAIL,
                           "%s has no labels to compare with (IDX and .npy data "
                           "need --labels)",
                           cli_input_name(path));
    }
    nb_metrics *mt = NULL;
    if (rc == CLI_OK && !table) {
        int lk = info.spec && info.spec->has_loss ? nb_loss_from_name(info.spec->loss) : -1;
        loss = lk >= 0                ? (nb_loss_kind)lk
               : di.y_dtype == NB_I32 ? NB_LOSS_CROSS_ENTROPY
                                      : NB_LOSS_MSE;
    }
    if (rc == CLI_OK) {
        bool cls = loss == NB_LOSS_CROSS_ENTROPY || loss == NB_LOSS_NLL;
        bool bin = loss == NB_LOSS_BCE || loss == NB_LOSS_BCE_LOGITS;
        unsigned which = cli_report_metrics(loss);
        if (top_k) which |= NB_METRIC_TOP_K;
        if (cli_flag(a, "confusion")) which |= NB_METRIC_CONFUSION;
        int classes = orank == 1 ? (int)out_shape[0] : di.num_classes;
        if (bin) classes = 2;
        /* F1 keeps a confusion matrix: not for more classes than it can hold */
        if (cls && (classes < 1 || classes > NB_CONFUSION_MAX_CLASSES) &&
            !(which & NB_METRIC_CONFUSION))
            which &= ~(unsigned)NB_METRIC_F1;
        mt = nb_metrics_new_outputs(loss, which, classes, (int)top_k, cls ? 0 : outputs);
        if (!mt) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        const nb_norm *tn = info.has_tabular && info.tabular.target_norm.kind != NB_NORM_NONE
                                ? &info.tabular.target_norm
                                : NULL;
        nb_eval_opts eo = {.batch_size = batch,
                           .norm = info.norm.kind != NB_NORM_NONE ? &info.norm : NULL,
                           .target_norm = tn};
        if (cli_any_evaluate(&m, ds, &eo, mt) != NB_OK) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        nb_metric_values v;
        nb_metrics_result(mt, &v);
        if (cli_flag(a, "json"))
            cli_report_json(stdout, &v, loss, (int)top_k,
                            info.has_tabular ? nb_task_name(info.tabular.task) : NULL);
        else
            cli_report_lines(stdout, &v, loss, (int)top_k);
        int k;
        const int64_t *cm = nb_metrics_confusion(mt, &k);
        if (cm && !cli_flag(a, "json")) {
            printf("\n");
            /* the model's class names, when it has k of them: escaped before they reach a
             * terminal (they come from the model file) */
            char **names = NULL, *text = NULL;
            if (cli_any_class_count(&m) == k) {
                names = cli_malloc(sizeof *names * (size_t)k);
                text = cli_malloc((size_t)k * 64);
                for (int i = 0; names && text && i < k; i++) {
                    names[i] = text + (size_t)i * 64;
                    cli_escape(names[i], 64, cli_any_class_name(&m, i), 32);
                }
            }
            if (nb_confusion_print(cm, k, names && text ? (const char *const *)names : NULL,
                                   stdout) != NB_OK)
                rc = cli_lib_error(a);
            cli_free(names);
            cli_free(text);
        }
    }
    free(images);
    free(ilabels);
    /* audio: the accuracy per group (voice, speaker) of the manifest, and the SVG picture */
    if (rc == CLI_OK && audio)
        rc = cli_audio_report(a, m.m, path, ds, info.norm.kind != NB_NORM_NONE ? &info.norm : NULL,
                              cli_get(a, "confusion-svg"));
    else if (rc == CLI_OK && cli_get(a, "confusion-svg"))
        rc = cli_error(a, CLI_USAGE, "--confusion-svg is for models trained on audio manifests");
    nb_metrics_free(mt);
    nb_dataset_free(ds);
    nb_model_file_free(&info);
    cli_model_free(&m);
    return rc;
}

const cli_cmd cli_cmd_eval = {
    .name = "eval",
    .usage = "MODEL [--data PATH [--labels PATH]] [options]",
    .summary = "measure a model on labelled data: accuracy, F1, ROC-AUC; R², RMSE, MAE",
    .description =
        "Runs the model in MODEL over labelled samples (--data, or the test set its spec\n"
        "names), normalised as in training, and prints one 'name value' line per metric\n"
        "(--json: one JSON object): the number of samples and the loss; for classifiers the\n"
        "accuracy, precision, recall and F1 (macro and micro averages) and ROC-AUC (with\n"
        "--top-k, top-k accuracy; with --confusion, the confusion matrix); for regressions R²,\n"
        "RMSE, MAE and MSE in the targets' units. A model trained on a CSV table reads the file\n"
        "as it was trained: columns by name, classes and categories by the names it knows.\n"
        "A model trained on audio manifests (data audio=) evaluates on its test manifest by\n"
        "default, featurised as in training, and also prints the accuracy per group (voice).\n"
        "MODEL may be an int8 model file (nabla quantize).",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
