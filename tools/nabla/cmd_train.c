/* tools/nabla/cmd_train.c — `nabla train SPEC`: train the model a spec describes.
 *
 * The spec gives the model, the loss, the optimizer and schedule, the batch size, the epochs,
 * the seed and the data (paths, validation split, normalisation); options on the command line
 * override each of them. Training is train.h's nb_fit: progress goes to standard error (a live
 * bar on a terminal, one line per epoch otherwise), checkpoints are model files with the whole
 * training state, from which --resume continues bit for bit. At the end the model is saved
 * (--out) and, when there is a test set, evaluated on it; the test metrics go to standard
 * output. Training that diverges (a NaN or infinite loss, gradient or weight) fails with the
 * epoch and step: nothing is saved over --out, and the checkpoints keep the last good epoch. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"data", "PATH", "training data: IDX images, .npy samples or CSV (the spec's train=)"},
    {"labels", "PATH", "training labels for IDX or .npy data (train_labels=)"},
    {"val", "PATH", "a validation set, instead of a split of the training data (val=)"},
    {"val-labels", "PATH", "its labels (val_labels=)"},
    {"test", "PATH", "a test set, evaluated after training (test=)"},
    {"test-labels", "PATH", "its labels (test_labels=)"},
    {"format", "FMT", "csv, npy or idx (format=; default: by the file name)"},
    {"label", "COL", "CSV: the label column, by name or index (label=; default: the last)"},
    {"epochs", "N", "train until N epochs are done (epochs)"},
    {"batch", "N", "samples per batch (batch)"},
    {"opt", "NAME", "sgd, adam, adamw, rmsprop or adagrad, PyTorch's defaults (optimizer)"},
    {"lr", "X", "the learning rate"},
    {"seed", "N", "seeds the weights, the validation split and the shuffles (seed)"},
    {"val-split", "F", "fraction of the training data held out for validation (val_split)"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"out", "FILE", "the trained model (default: the spec's name with .safetensors)"},
    {"checkpoint", "FILE", "a resumable checkpoint, saved every --every epochs"},
    {"every", "N", "epochs between checkpoints (default 1)"},
    {"best", "FILE", "a checkpoint saved whenever the monitored metric improves"},
    {"resume", "CKPT", "continue the run a checkpoint stopped (same spec and options)"},
    {"early-stop", "N",
     "stop after N epochs without improvement of the monitored metric; the model keeps "
     "the best epoch's weights"},
    {"no-restore-best", NULL, "with --early-stop: keep the last epoch's weights instead"},
    {"monitor", "NAME",
     "the metric to monitor: val_loss (default with validation), loss, "
     "val_accuracy, ..."},
    {"log", "CSV", "the history of every epoch as CSV"},
    {"plot", "SVG", "loss and accuracy curves as an SVG plot"},
    {"prefetch", NULL, "prepare the next batch on another thread"},
    {"quiet", NULL, "no progress output"},
    {"verbose", NULL, "more progress output (a header, every epoch's line kept)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

/* Everything the run holds, released in one place. */
typedef struct run {
    nb_spec *spec;
    nb_dataset *train, *val, *test, *split_train, *split_val;
    nb_model *model;
    nb_optim *optim;
    nb_norm norm;
    nb_model_file ckpt;
    char **classes;
    int num_classes;
    char *out;
    const char *monitor;
    const char *periodic_path, *best_path;
    bool quiet;
} run;

static void run_free(run *r) {
    nb_spec_free(r->spec);
    nb_dataset_free(r->train);
    nb_dataset_free(r->val);
    nb_dataset_free(r->test);
    nb_dataset_free(r->split_train);
    nb_dataset_free(r->split_val);
    nb_optim_free(r->optim);
    nb_model_free(r->model);
    nb_norm_free(&r->norm);
    nb_model_file_free(&r->ckpt);
    free(r->classes);
    free(r->out);
}

static nb_save_opts save_opts(const run *r) {
    nb_save_opts so;
    memset(&so, 0, sizeof so);
    so.spec = r->spec;
    so.norm = r->norm.kind != NB_NORM_NONE ? &r->norm : NULL;
    return so;
}

/* fit's checkpoint callback: a model file with the optimizer and the run state. */
static nb_status save_checkpoint(const nb_checkpoint_info *ci, void *user) {
    const run *r = user;
    nb_save_opts so = save_opts(r);
    so.optim = ci->optim;
    so.run = ci->state;
    so.monitor = r->monitor;
    nb_status s = NB_OK;
    if ((ci->reason & NB_CHECKPOINT_PERIODIC) && r->periodic_path)
        s = nb_model_save(ci->model, r->periodic_path, &so);
    if (s == NB_OK && (ci->reason & NB_CHECKPOINT_BEST) && r->best_path)
        s = nb_model_save(ci->model, r->best_path, &so);
    return s;
}

/* Command-line options over the spec's settings. */
static int apply_overrides(cli_args *a, nb_spec *s) {
    int rc = cli_int(a, "epochs", 1, INT64_MAX, &s->epochs);
    if (rc == CLI_OK) rc = cli_int(a, "batch", 1, INT64_MAX, &s->batch);
    int64_t seed = (int64_t)s->seed;
    if (rc == CLI_OK) rc = cli_int(a, "seed", 0, INT64_MAX, &seed);
    s->seed = (uint64_t)seed;
    if (rc == CLI_OK) rc = cli_double(a, "val-split", 0.0, 0.999999, &s->data.val_split);
    if (rc == CLI_OK && cli_get(a, "val-split")) s->data.has_val_split = 1;
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
    return rc;
}

static const char *pick(const cli_args *a, const char *opt, const char *from_spec) {
    const char *v = cli_get(a, opt);
    return v ? v : from_spec;
}

static int load_data(cli_args *a, run *r) {
    const nb_data_spec *d = &r->spec->data;
    const char *fmt = pick(a, "format", d->format[0] ? d->format : NULL);
    const char *label = pick(a, "label", d->label);
    const char *train = pick(a, "data", d->train);
    if (!train)
        return cli_error(a, CLI_USAGE,
                         "no training data: give --data PATH, or train= on the "
                         "spec's data line");
    int rc = cli_load_dataset(a, train, pick(a, "labels", d->train_labels), fmt, label, &r->train);
    const char *val = pick(a, "val", d->val), *test = pick(a, "test", d->test);
    if (rc == CLI_OK && val)
        rc = cli_load_dataset(a, val, pick(a, "val-labels", d->val_labels), fmt, label, &r->val);
    if (rc == CLI_OK && test)
        rc =
            cli_load_dataset(a, test, pick(a, "test-labels", d->test_labels), fmt, label, &r->test);
    if (rc != CLI_OK) return rc;
    nb_dataset_info di;
    nb_dataset_get_info(r->train, &di);
    if (!di.has_y)
        return cli_error(a, CLI_FAIL,
                         "%s has no labels or targets to learn (IDX and .npy data "
                         "need a labels file: --labels or train_labels=)",
                         train);
    /* class names (CSV labels that were words) go onto the model, and into its file */
    if (di.y_dtype == NB_I32 && di.num_classes > 0 && nb_dataset_class_name(r->train, 0)) {
        r->classes = calloc((size_t)di.num_classes, sizeof *r->classes);
        if (!r->classes) return cli_error(a, CLI_FAIL, "out of memory");
        for (int k = 0; k < di.num_classes; k++)
            r->classes[k] = (char *)nb_dataset_class_name(r->train, k);
        r->num_classes = di.num_classes;
    }
    return CLI_OK;
}

/* The validation split and the normalisation (fitted on the training part only). */
static int prepare(cli_args *a, run *r, const nb_dataset **fit_train, const nb_dataset **fit_val) {
    const nb_spec *s = r->spec;
    *fit_train = r->train;
    *fit_val = r->val;
    if (!r->val && s->data.val_split > 0) {
        if (nb_dataset_split(r->train, s->data.val_split, s->seed, &r->split_train,
                             &r->split_val) != NB_OK)
            return cli_lib_error(a);
        *fit_train = r->split_train;
        *fit_val = r->split_val;
    }
    if (r->ckpt.norm.kind != NB_NORM_NONE) { /* a resumed run keeps its normalisation */
        const nb_norm *n = &r->ckpt.norm;
        if (nb_norm_set(&r->norm, n->kind, n->per_feature, n->n, n->shift, n->div) != NB_OK)
            return cli_lib_error(a);
        return CLI_OK;
    }
    if (!s->data.has_norm || s->data.norm == NB_NORM_NONE) return CLI_OK;
    nb_status st = s->data.norm == NB_NORM_CONST
                       ? nb_norm_const(&r->norm, s->data.norm_shift, s->data.norm_div)
                       : nb_norm_fit(&r->norm, *fit_train, s->data.norm, s->data.norm_per_feature);
    return st == NB_OK ? CLI_OK : cli_lib_error(a);
}

/* Before training, so that a name a model file cannot hold stops the run at its start. */
static int set_classes(cli_args *a, run *r) {
    if (!r->classes) return CLI_OK;
    nb_status s = nb_model_set_classes(r->model, (const char *const *)r->classes, r->num_classes);
    return s == NB_OK ? CLI_OK : cli_lib_error(a);
}

static int build(cli_args *a, run *r, nb_train_state *st) {
    const char *resume = cli_get(a, "resume");
    nb_train_state_init(st, r->spec->seed);
    if (!resume) {
        if (nb_spec_build(r->spec, &r->model) != NB_OK) return cli_lib_error(a);
        int rc = set_classes(a, r);
        if (rc != CLI_OK) return rc;
        r->optim = nb_spec_optim(r->spec, nb_model_params(r->model));
        return r->optim ? CLI_OK : cli_lib_error(a);
    }
    if (nb_model_load(resume, &r->model, &r->ckpt) != NB_OK) return cli_lib_error(a);
    int rc = set_classes(a, r);
    if (rc != CLI_OK) return rc;
    if (!r->ckpt.optim || !r->ckpt.has_run)
        return cli_error(a, CLI_FAIL,
                         "%s is not a checkpoint: it has no %s (checkpoints are "
                         "written by --checkpoint or --best)",
                         resume, r->ckpt.optim ? "training state" : "optimizer state");
    r->optim = r->ckpt.optim;
    r->ckpt.optim = NULL;
    *st = r->ckpt.run; /* the state fit left in the checkpoint, checked when it was read */
    return CLI_OK;
}

static unsigned metrics_for(nb_loss_kind loss) {
    return loss == NB_LOSS_CROSS_ENTROPY || loss == NB_LOSS_NLL || loss == NB_LOSS_BCE ||
                   loss == NB_LOSS_BCE_LOGITS
               ? NB_METRIC_ACCURACY
               : NB_METRIC_MAE;
}

static int test_eval(cli_args *a, run *r, nb_loss_kind loss, unsigned metrics) {
    nb_dataset_info di;
    nb_dataset_get_info(r->test, &di);
    nb_metrics *mt = nb_metrics_new(loss, metrics, di.num_classes, 0);
    if (!mt) return cli_lib_error(a);
    nb_eval_opts eo = {.batch_size = 256, .norm = r->norm.kind != NB_NORM_NONE ? &r->norm : NULL};
    int rc = nb_evaluate(r->model, r->test, &eo, mt) == NB_OK ? CLI_OK : cli_lib_error(a);
    if (rc == CLI_OK) {
        nb_metric_values v;
        nb_metrics_result(mt, &v);
        printf("test: %lld samples, loss %.6g", (long long)v.count, v.loss);
        if (!isnan(v.accuracy)) printf(", accuracy %.4f", v.accuracy);
        if (!isnan(v.mae)) printf(", mae %.6g", v.mae);
        printf("\n");
    }
    nb_metrics_free(mt);
    return rc;
}

static char *copy_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* The spec's file name with .safetensors for .spec, in the current directory. */
static char *default_out(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".spec")) n -= 5;
    char *out = malloc(n + 13);
    if (out) snprintf(out, n + 13, "%.*s.safetensors", (int)n, base);
    return out;
}

static int run_train(cli_args *a) {
    run r;
    memset(&r, 0, sizeof r);
    int rc = cli_threads(a);
    int64_t every = 1, patience = 0;
    if (rc == CLI_OK) rc = cli_int(a, "every", 1, INT32_MAX, &every);
    if (rc == CLI_OK) rc = cli_int(a, "early-stop", 1, INT32_MAX, &patience);
    if (rc == CLI_OK && cli_flag(a, "no-restore-best") && patience == 0)
        rc = cli_error(a, CLI_USAGE, "--no-restore-best needs --early-stop N");
    if (rc == CLI_OK && nb_spec_read(a->pos[0], &r.spec) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK && !r.spec->has_input && !cli_get(a, "resume"))
        rc = cli_error(a, CLI_FAIL, "%s describes no model: it needs an input line and layers",
                       a->pos[0]);
    if (rc == CLI_OK) rc = apply_overrides(a, r.spec);
    if (rc == CLI_OK) {
        r.out = cli_get(a, "out") ? copy_str(cli_get(a, "out")) : default_out(a->pos[0]);
        if (!r.out) rc = cli_error(a, CLI_FAIL, "out of memory");
    }
    /* Every file the run will write is checked now, not after the last epoch. */
    static const char *const outputs[] = {"out", "checkpoint", "best", "log", "plot", NULL};
    const char *paths[] = {
        r.out, cli_get(a, "checkpoint"), cli_get(a, "best"), cli_get(a, "log"), cli_get(a, "plot"),
        NULL};
    if (rc == CLI_OK) rc = cli_check_outputs(a, outputs, paths);
    if (rc == CLI_OK) rc = load_data(a, &r);
    nb_train_state st;
    if (rc == CLI_OK) rc = build(a, &r, &st);
    if (rc == CLI_OK) rc = cli_check_plain(a, r.model); /* one input of a fixed size, one output */
    const nb_dataset *fit_train = NULL, *fit_val = NULL;
    if (rc == CLI_OK) rc = prepare(a, &r, &fit_train, &fit_val);
    if (rc != CLI_OK) {
        run_free(&r);
        return rc;
    }
    nb_dataset_info di;
    nb_dataset_get_info(r.train, &di);
    int lk = r.spec->has_loss ? nb_loss_from_name(r.spec->loss) : -1;
    nb_loss_kind loss = lk >= 0                ? (nb_loss_kind)lk
                        : di.y_dtype == NB_I32 ? NB_LOSS_CROSS_ENTROPY
                                               : NB_LOSS_MSE;
    nb_fit_opts fo = {0};
    fo.epochs = r.spec->epochs;
    fo.batch_size = r.spec->batch;
    fo.loss = loss;
    fo.metrics = metrics_for(loss);
    fo.seed = r.spec->seed;
    fo.prefetch = cli_flag(a, "prefetch");
    fo.norm = r.norm.kind != NB_NORM_NONE ? &r.norm : NULL;
    fo.val = fit_val;
    fo.monitor = cli_get(a, "monitor");
    fo.early_stopping = patience > 0;
    fo.patience = (int)patience;
    fo.restore = cli_flag(a, "no-restore-best") ? NB_RESTORE_LAST : NB_RESTORE_AUTO;
    r.periodic_path = cli_get(a, "checkpoint");
    r.best_path = cli_get(a, "best");
    r.monitor = fo.monitor ? fo.monitor : fit_val ? "val_loss" : "loss";
    fo.checkpoint = save_checkpoint;
    fo.checkpoint_user = &r;
    fo.checkpoint_every = r.periodic_path ? (int)every : 0;
    fo.checkpoint_best = r.best_path != NULL;
    fo.progress = stderr;
    fo.verbose = cli_flag(a, "quiet") ? NB_VERBOSE_QUIET : cli_flag(a, "verbose") ? 2 : 1;
    fo.csv_path = cli_get(a, "log");
    fo.svg_path = cli_get(a, "plot");
    fo.state = &st;
    fo.clip_grad_norm = (float)r.spec->clip_norm; /* the spec's clip line (0: none) */
    fo.clip_grad_value = (float)r.spec->clip_value;
    r.quiet = cli_flag(a, "quiet");
    if (rc == CLI_OK && nb_fit(r.model, r.optim, fit_train, &fo, NULL) != NB_OK)
        rc = cli_lib_error(a);
    nb_save_opts so = save_opts(&r);
    if (rc == CLI_OK && nb_model_save(r.model, r.out, &so) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK && !r.quiet) fprintf(stderr, "saved %s\n", r.out);
    if (rc == CLI_OK && r.test) rc = test_eval(a, &r, loss, fo.metrics);
    run_free(&r);
    return rc;
}

const cli_cmd cli_cmd_train = {
    .name = "train",
    .usage = "SPEC [options]",
    .summary = "train the model of a spec file on its data; save it",
    .description =
        "Builds the model that SPEC describes (docs/spec.md) and trains it with the spec's\n"
        "loss, optimizer, schedule, batch size and epochs on the spec's data; the options\n"
        "below override the spec. Progress goes to standard error: a live bar on a terminal,\n"
        "one line per epoch otherwise. The trained model is saved (--out) as safetensors with\n"
        "its architecture and normalisation; with a test set, the test loss and accuracy are\n"
        "printed. --checkpoint saves the whole training state, and --resume continues from it\n"
        "exactly as if the run had not stopped. With --early-stop the saved model has the\n"
        "weights of the best epoch (--no-restore-best: the last). A run whose loss or weights\n"
        "become NaN or infinite stops with an error naming the epoch and step, and saves\n"
        "nothing.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run_train,
};
