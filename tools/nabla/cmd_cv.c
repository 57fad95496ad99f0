/* tools/nabla/cmd_cv.c — `nabla cv SPEC --folds K`: k-fold cross-validation of a spec.
 *
 * The spec's training data is cut into K folds (stratified by class for a classification:
 * each fold keeps each class's share, data.c); for each fold in turn a fresh model — the same
 * spec, the same seed, so the same initial weights — is trained on the other K − 1 folds (a
 * table's fill values, target standardisation and the normalisation fitted on them alone)
 * and measured on the fold left out. A line per fold, then each metric's mean ± standard
 * deviation over the folds (numpy's std, ddof 0), or one JSON object with --json. Nothing is
 * saved: cv says how well the spec generalises; train makes the model. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"folds", "K", "the number of folds (default 5)"},
    {"data", "PATH",
     "the data: IDX images (or their folder), .npy samples, or CSV (- for "
     "standard input) (the spec's train=)"},
    {"labels", "PATH", "labels for IDX or .npy data (train_labels=)"},
    {"format", "FMT", "csv, npy or idx (format=; default: by the file name)"},
    {"label", "COL",
     "CSV: the label column, by name or index from 0, or names a,b,c of several "
     "targets (label=)"},
    {"task", "TASK", "classification, regression or multilabel (task=)"},
    {"header", "MODE", "CSV: auto, yes or no (header=)"},
    {"delimiter", "C", "CSV: one character, or tab, semicolon, pipe (delimiter=)"},
    {"missing", "RULE", "CSV: error, mean, median or zero (missing=)"},
    {"categorical", "COLS", "CSV: text columns to one-hot encode (categorical=)"},
    {"epochs", "N", "epochs per fold (epochs)"},
    {"batch", "N", "samples per batch (batch)"},
    {"opt", "NAME", "sgd, adam, adamw, rmsprop or adagrad (optimizer)"},
    {"lr", "X", "the learning rate"},
    {"seed", "N", "seeds the folds, the weights and the shuffles (seed)"},
    {"val-split", "F", "hold out the fraction F of each training part for validation"},
    {"json", NULL, "print the result as one JSON object"},
    {"quiet", NULL, "no progress on standard error"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

#define MAX_METRICS 24

typedef struct fold_result {
    cli_metric m[MAX_METRICS];
    int n;
} fold_result;

/* Trains a fresh model on the training part and measures it on the test part. */
static int one_fold(cli_args *a, nb_spec *spec, cli_data *d, fold_result *res,
                    nb_loss_kind *loss_out, FILE *lines, const char *prefix) {
    nb_model *m = NULL;
    nb_optim *o = NULL;
    nb_norm norm = {0};
    nb_metrics *mt = NULL;
    float *cw = NULL;
    int ncw = 0;
    int rc = nb_spec_build(spec, &m) == NB_OK ? CLI_OK : cli_lib_error(a);
    if (rc == CLI_OK) rc = cli_check_plain(a, m);
    int64_t shape[NB_MAX_RANK], outputs = 1;
    int orank = m ? nb_model_output_shape(m, shape) : 0;
    for (int i = 0; i < orank; i++) outputs *= shape[i];
    nb_loss_kind loss = NB_LOSS_CROSS_ENTROPY;
    if (rc == CLI_OK) rc = cli_decide_loss(a, spec, d->task, outputs, &loss);
    bool bin = loss == NB_LOSS_BCE || loss == NB_LOSS_BCE_LOGITS;
    unsigned flags = d->task == NB_TASK_CLASSIFICATION && bin ? NB_TABULAR_LABELS_AS_TARGETS : 0;
    if (rc == CLI_OK) rc = cli_data_make(a, d, flags);
    if (rc == CLI_OK && !d->test) rc = cli_error(a, CLI_FAIL, "a fold has no samples");
    if (rc == CLI_OK && spec->data.class_weight && !flags && d->task == NB_TASK_CLASSIFICATION) {
        ncw = (int)outputs;
        rc = cli_class_weights(a, d->train, ncw, &cw);
    }
    if (rc == CLI_OK) rc = cli_fit_norm(a, spec, d->train, &norm);
    if (rc == CLI_OK && !(o = nb_spec_optim(spec, nb_model_params(m)))) rc = cli_lib_error(a);
    const nb_tabular *t = d->has_tab ? &d->tab : NULL;
    const nb_norm *tn = t && t->target_norm.kind != NB_NORM_NONE ? &t->target_norm : NULL;
    if (rc == CLI_OK) {
        nb_fit_opts fo = {0};
        fo.epochs = spec->epochs;
        fo.batch_size = spec->batch;
        fo.loss = loss;
        fo.seed = spec->seed;
        fo.norm = norm.kind != NB_NORM_NONE ? &norm : NULL;
        fo.target_norm = tn;
        fo.class_weight = cw;
        fo.num_class_weights = ncw;
        fo.val = d->val;
        fo.verbose = NB_VERBOSE_QUIET;
        if (nb_fit(m, o, d->train, &fo, NULL) != NB_OK) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        bool cls = loss == NB_LOSS_CROSS_ENTROPY || loss == NB_LOSS_NLL;
        unsigned which = cli_report_metrics(loss);
        if (cls && (outputs < 1 || outputs > NB_CONFUSION_MAX_CLASSES))
            which &= ~(unsigned)NB_METRIC_F1;
        mt = nb_metrics_new_outputs(loss, which, cls ? (int)outputs : 0, 0, outputs);
        if (!mt) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        nb_eval_opts eo = {.norm = norm.kind != NB_NORM_NONE ? &norm : NULL, .target_norm = tn};
        if (nb_evaluate(m, d->test, &eo, mt) != NB_OK) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        nb_metric_values v;
        nb_metrics_result(mt, &v);
        res->n = cli_report_values(&v, loss, 5, res->m, MAX_METRICS);
        *loss_out = loss;
        if (lines) cli_report_line(lines, prefix, &v, loss, 5);
    }
    nb_metrics_free(mt);
    nb_optim_free(o);
    nb_norm_free(&norm);
    nb_model_free(m);
    cli_free(cw);
    return rc;
}

/* Mean and standard deviation (ddof 0) of metric `name` over the folds, NaN values left out. */
static void mean_std(const fold_result *r, int folds, const char *name, double *mean, double *sd,
                     int *count) {
    double s = 0, ss = 0;
    int n = 0;
    for (int f = 0; f < folds; f++)
        for (int i = 0; i < r[f].n; i++)
            if (!strcmp(r[f].m[i].name, name) && !isnan(r[f].m[i].value)) {
                s += r[f].m[i].value;
                n++;
            }
    *mean = n ? s / n : NAN;
    for (int f = 0; f < folds; f++)
        for (int i = 0; i < r[f].n; i++)
            if (!strcmp(r[f].m[i].name, name) && !isnan(r[f].m[i].value)) {
                double e = r[f].m[i].value - *mean;
                ss += e * e;
            }
    *sd = n ? sqrt(ss / n) : NAN;
    *count = n;
}

static int run(cli_args *a) {
    int64_t folds = 5;
    int rc = cli_threads(a);
    if (rc == CLI_OK) rc = cli_int(a, "folds", 2, 1000, &folds);
    nb_spec *spec = NULL;
    if (rc == CLI_OK && nb_spec_read(a->pos[0], &spec) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK && !spec->has_input)
        rc = cli_error(a, CLI_FAIL, "%s describes no model: it needs layers", a->pos[0]);
    if (rc == CLI_OK) rc = cli_spec_options(a, spec);
    bool quiet = cli_flag(a, "quiet"), json = cli_flag(a, "json");
    cli_data d;
    memset(&d, 0, sizeof d);
    if (rc == CLI_OK) {
        cli_data_opts o;
        cli_spec_data_opts(spec, &o);
        if (cli_get(a, "data")) o.train = cli_get(a, "data");
        o.val = o.test = o.val_labels = o.test_labels = NULL; /* the folds are the test sets */
        rc = cli_data_load(a, &o, &d);
    }
    if (rc == CLI_OK && d.table.note[0] && !quiet) fprintf(stderr, "note: %s\n", d.table.note);
    fold_result *res = rc == CLI_OK ? calloc((size_t)folds, sizeof *res) : NULL;
    if (rc == CLI_OK && !res) rc = cli_error(a, CLI_FAIL, "out of memory");
    const nb_data_spec *ds = spec ? &spec->data : NULL;
    int standardize =
        rc == CLI_OK && d.task == NB_TASK_REGRESSION && (!ds->has_target_norm || ds->target_norm);
    nb_loss_kind loss = NB_LOSS_CROSS_ENTROPY;
    for (int k = 0; rc == CLI_OK && k < folds; k++) {
        rc = cli_data_fold(a, &d, (int)folds, k, ds->has_val_split ? ds->val_split : 0, spec->seed);
        if (rc == CLI_OK)
            rc = cli_data_fit(a, &d, ds->has_missing ? ds->missing : NB_MISSING_ERROR, standardize);
        if (rc == CLI_OK && k == 0 && spec->input_auto) {
            int64_t width = d.has_tab ? d.tab.features : d.features;
            if (nb_spec_set_input_width(spec, width) != NB_OK) rc = cli_lib_error(a);
        }
        if (rc == CLI_OK && !quiet)
            fprintf(stderr, "fold %d/%lld: training on the other %lld folds\n", k + 1,
                    (long long)folds, (long long)folds - 1);
        char prefix[48];
        snprintf(prefix, sizeof prefix, "fold %d/%lld: ", k + 1, (long long)folds);
        /* with --json, standard output is the object: the fold lines go to standard error */
        FILE *lines = json ? (quiet ? NULL : stderr) : stdout;
        if (rc == CLI_OK) rc = one_fold(a, spec, &d, &res[k], &loss, lines, prefix);
    }
    if (rc == CLI_OK) {
        if (json)
            printf("{\"folds\": %lld, \"loss_function\": \"%s\"", (long long)folds,
                   nb_loss_name(loss));
        for (int i = 0; i < res[0].n; i++) {
            double mean, sd;
            int n;
            mean_std(res, (int)folds, res[0].m[i].name, &mean, &sd, &n);
            if (json)
                printf(", \"%s\": {\"mean\": %.9g, \"std\": %.9g}", res[0].m[i].name, mean, sd);
            else if (res[0].m[i].ratio)
                printf("%-9s %.4f ± %.4f\n", res[0].m[i].name, mean, sd);
            else
                printf("%-9s %.6g ± %.6g\n", res[0].m[i].name, mean, sd);
        }
        if (json) printf("}\n");
    }
    free(res);
    cli_data_free(&d);
    nb_spec_free(spec);
    return rc;
}

const cli_cmd cli_cmd_cv = {
    .name = "cv",
    .usage = "SPEC [--folds K] [options]",
    .summary = "k-fold cross-validation of a spec: each metric's mean ± std over the folds",
    .description =
        "Cuts the spec's data into K folds (--folds, default 5; stratified by class for a\n"
        "classification) and, for each, trains a fresh model of the spec on the other folds\n"
        "and measures it on the one left out, as 'nabla eval' measures. Prints a line per fold,\n"
        "then each metric's mean ± standard deviation over the folds (--json: one object).\n"
        "The options are train's, written over the spec; nothing is saved.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
