/* tools/nabla/cmd_eval.c — `nabla eval MODEL`: measure a trained model on labelled data.
 *
 * The data is --data (with --labels for IDX and .npy files), or — only when asked with
 * --use-stored-data — the test set named in the spec stored in the model file: a model file
 * from elsewhere must not decide which files of this machine are opened. The loss is the model's
 * (its spec's loss line; else cross-entropy for class labels, MSE for targets); classifiers also
 * get accuracy, and
 * --top-k and --confusion add top-k accuracy and the confusion matrix. */
#include "cli.h"

#include <stdlib.h>

#include <math.h>
#include <string.h>

static const cli_opt opts[] = {
    {"data", "PATH", "the samples: IDX images, .npy or CSV (default: the spec's test=)"},
    {"labels", "PATH", "their labels, for IDX or .npy samples"},
    {"format", "FMT", "csv, npy or idx (default: by the file name)"},
    {"label", "COL", "CSV: the label column, by name or index (default: the last)"},
    {"spec", "SPEC", "the architecture, for a file of weights without nabla's metadata"},
    {"batch", "N", "samples per forward pass (default 256)"},
    {"top-k", "K", "also report top-K accuracy"},
    {"confusion", NULL, "also print the confusion matrix"},
    {"use-stored-data", NULL, "without --data: the test set the model's stored spec names"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

static int run(cli_args *a) {
    int64_t batch = 256, top_k = 0;
    int rc = cli_int(a, "batch", 1, 1 << 24, &batch);
    if (rc == CLI_OK) rc = cli_int(a, "top-k", 1, 1000, &top_k);
    if (rc == CLI_OK) rc = cli_threads(a);
    if (rc != CLI_OK) return rc;
    nb_model *m;
    nb_model_file info;
    rc = cli_load_model(a, a->pos[0], cli_get(a, "spec"), &m, &info);
    if (rc != CLI_OK) return rc;
    if ((rc = cli_check_plain(a, m)) != CLI_OK) {
        nb_model_file_free(&info);
        nb_model_free(m);
        return rc;
    }
    const nb_data_spec *d = info.spec ? &info.spec->data : NULL;
    const char *path = cli_get(a, "data"), *labels = cli_get(a, "labels");
    bool stored = !path && d && d->test;
    if (stored && cli_flag(a, "use-stored-data")) {
        path = d->test;
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
    if (rc == CLI_OK) rc = cli_load_dataset(a, path, labels, fmt, label, &ds);
    nb_dataset_info di;
    if (rc == CLI_OK) {
        nb_dataset_get_info(ds, &di);
        if (!di.has_y)
            rc = cli_error(a, CLI_FAIL,
                           "%s has no labels to compare with (IDX and .npy data "
                           "need --labels)",
                           path);
    }
    nb_metrics *mt = NULL;
    nb_loss_kind loss = NB_LOSS_CROSS_ENTROPY;
    if (rc == CLI_OK) {
        int lk = info.spec && info.spec->has_loss ? nb_loss_from_name(info.spec->loss) : -1;
        loss = lk >= 0                ? (nb_loss_kind)lk
               : di.y_dtype == NB_I32 ? NB_LOSS_CROSS_ENTROPY
                                      : NB_LOSS_MSE;
        bool cls = loss == NB_LOSS_CROSS_ENTROPY || loss == NB_LOSS_NLL || loss == NB_LOSS_BCE ||
                   loss == NB_LOSS_BCE_LOGITS;
        unsigned which = cls ? NB_METRIC_ACCURACY : NB_METRIC_MSE | NB_METRIC_MAE;
        if (top_k) which |= NB_METRIC_TOP_K;
        if (cli_flag(a, "confusion")) which |= NB_METRIC_CONFUSION;
        int64_t out_shape[NB_MAX_RANK];
        int orank = nb_model_output_shape(m, out_shape);
        int classes = orank == 1 ? (int)out_shape[0] : di.num_classes;
        if (loss == NB_LOSS_BCE || loss == NB_LOSS_BCE_LOGITS) classes = 2;
        mt = nb_metrics_new(loss, which, classes, (int)top_k);
        if (!mt) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        nb_eval_opts eo = {.batch_size = batch,
                           .norm = info.norm.kind != NB_NORM_NONE ? &info.norm : NULL};
        if (nb_evaluate(m, ds, &eo, mt) != NB_OK) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        nb_metric_values v;
        nb_metrics_result(mt, &v);
        printf("samples   %lld\n", (long long)v.count);
        printf("loss      %.6g   (%s)\n", v.loss, nb_loss_name(loss));
        if (!isnan(v.accuracy)) printf("accuracy  %.4f\n", v.accuracy);
        if (!isnan(v.top_k)) printf("top-%lld     %.4f\n", (long long)top_k, v.top_k);
        if (!isnan(v.mse)) printf("mse       %.6g\n", v.mse);
        if (!isnan(v.mae)) printf("mae       %.6g\n", v.mae);
        int k;
        const int64_t *cm = nb_metrics_confusion(mt, &k);
        if (cm) {
            printf("\n");
            /* the model's class names, when it has k of them: escaped before they reach a
             * terminal (they come from the model file) */
            char **names = NULL, *text = NULL;
            if (nb_model_class_count(m) == k) {
                names = cli_malloc(sizeof *names * (size_t)k);
                text = cli_malloc((size_t)k * 64);
                for (int i = 0; names && text && i < k; i++) {
                    names[i] = text + (size_t)i * 64;
                    cli_escape(names[i], 64, nb_model_class_name(m, i), 32);
                }
            }
            if (nb_confusion_print(cm, k, names && text ? (const char *const *)names : NULL,
                                   stdout) != NB_OK)
                rc = cli_lib_error(a);
            cli_free(names);
            cli_free(text);
        }
    }
    nb_metrics_free(mt);
    nb_dataset_free(ds);
    nb_model_file_free(&info);
    nb_model_free(m);
    return rc;
}

const cli_cmd cli_cmd_eval = {
    .name = "eval",
    .usage = "MODEL [--data PATH [--labels PATH]] [options]",
    .summary = "measure a model on labelled data: loss, accuracy, confusion matrix",
    .description =
        "Runs the model in MODEL over labelled samples (--data, or the test set its spec\n"
        "names), normalised as in training, and prints the number of samples, the loss and,\n"
        "for classifiers, the accuracy (with --top-k, top-k accuracy; with --confusion, the\n"
        "confusion matrix); for regression, MSE and MAE.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
