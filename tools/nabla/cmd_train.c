/* tools/nabla/cmd_train.c — `nabla train SPEC`: train the model a spec describes.
 *
 * The spec gives the model, the loss, the optimizer and schedule, the batch size, the epochs,
 * the seed and the data (paths, validation split, normalisation); options on the command line
 * override each of them. Training is train.h's nb_fit: progress goes to standard error (a live
 * bar on a terminal, one line per epoch otherwise), checkpoints are model files with the whole
 * training state, from which --resume continues bit for bit. At the end the model is saved
 * (--out) and, when there is a test set (a file, or --test-split of the training data), evaluated
 * on it; the test metrics go to standard output. Training that diverges (a NaN or infinite loss,
 * gradient or weight) fails with the epoch and step: nothing is saved over --out, and the
 * checkpoints keep the last good epoch.
 *
 * A CSV training file is a table (data.c, table.c): the task is said (--task, task=), implied by
 * the loss, or read from the label column; text columns listed as categorical are one-hot
 * encoded, missing values filled as --missing says, a regression's targets standardised, and
 * all of it is fitted on the training part and stored in the model file, which so reads every
 * later table the same way. 'input auto' (or no input line) takes the data's width. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"data", "PATH",
     "training data: IDX images (or their folder), .npy samples, or CSV (- for "
     "standard input) (the spec's train=); for a language model, its text (text=)"},
    {"tokenizer", "FILE", "a language model's tokenizer, from nabla tokenize (tokenizer=)"},
    {"steps", "N", "a language model: stop after N optimizer steps (default: epochs' worth)"},
    {"eval-every", "N", "a language model: the validation loss every N steps (default N/10)"},
    {"labels", "PATH", "training labels for IDX or .npy data (train_labels=)"},
    {"val", "PATH", "a validation set, instead of a split of the training data (val=)"},
    {"val-labels", "PATH", "its labels (val_labels=)"},
    {"test", "PATH", "a test set, evaluated after training (test=)"},
    {"test-labels", "PATH", "its labels (test_labels=)"},
    {"format", "FMT", "csv, npy or idx (format=; default: by the file name)"},
    {"store", "KIND",
     "audio: features kept in memory as f32 or f16 (store=; default auto: f32 when it fits "
     "in half the memory, else f16)"},
    {"label", "COL",
     "CSV: the label column, by name or index from 0, or names a,b,c of several "
     "targets (label=; default: the last)"},
    {"epochs", "N", "train until N epochs are done (epochs)"},
    {"batch", "N", "samples per batch (batch)"},
    {"opt", "NAME", "sgd, adam, adamw, rmsprop or adagrad, PyTorch's defaults (optimizer)"},
    {"lr", "X", "the learning rate"},
    {"seed", "N", "seeds the weights, the validation split and the shuffles (seed)"},
    {"val-split", "F", "fraction of the training data held out for validation (val_split)"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"out", "FILE", "the trained model (default: the spec's name with .safetensors)"},
    {"checkpoint", "FILE",
     "a resumable checkpoint, saved every --every epochs (steps for a language model)"},
    {"every", "N",
     "epochs between checkpoints (default 1); a language model: steps (default --eval-every)"},
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
    {"task", "TASK",
     "classification, regression or multilabel (task=; default: from the loss or "
     "the label column)"},
    {"test-split", "F", "hold out the fraction F of the data as the test set (test_split)"},
    {"header", "MODE", "CSV: auto, yes or no: is the first row the column names (header=)"},
    {"delimiter", "C",
     "CSV: the delimiter: one character, or tab, semicolon, pipe (delimiter=; "
     "default: detected)"},
    {"missing", "RULE",
     "CSV: error, mean, median or zero: what a missing value becomes (missing=)"},
    {"categorical", "COLS", "CSV: text columns to one-hot encode, comma-separated (categorical=)"},
    /* data-parallel training (an MPI build, under mpirun or srun; docs/distributed.md) */
    {"dist-info", NULL,
     "print the processes, the gradient buckets and all-reduce times; no training"},
    {"zero", NULL, "ZeRO-1: each process keeps 1/N of the optimizer state"},
    {"deterministic", NULL, "sum gradients in a fixed order: bit-identical runs at a fixed N"},
    {"no-sync-bn", NULL,
     "batch norm with each process's own statistics (default: the global batch's)"},
    {"bucket-kb", "N", "gradients per all-reduce bucket, in KiB (default 256)"},
    {"dist-timeout", "S", "seconds to wait for the other processes before failing (default 300)"},
};

/* Everything the run holds, released in one place. */
typedef struct run {
    nb_spec *spec;
    cli_data data;
    nb_model *model;
    nb_optim *optim;
    nb_norm norm;
    nb_model_file ckpt;
    nb_loss_kind loss;
    float *class_weight;
    int num_class_weights;
    char *out;
    const char *monitor;
    const char *periodic_path, *best_path;
    bool quiet;
} run;

static void run_free(run *r) {
    nb_spec_free(r->spec);
    cli_data_free(&r->data);
    nb_optim_free(r->optim);
    nb_model_free(r->model);
    nb_norm_free(&r->norm);
    nb_model_file_free(&r->ckpt);
    cli_free(r->class_weight);
    free(r->out);
}

static nb_save_opts save_opts(const run *r) {
    nb_save_opts so;
    memset(&so, 0, sizeof so);
    so.spec = r->spec;
    so.norm = r->norm.kind != NB_NORM_NONE ? &r->norm : NULL;
    so.tabular = r->data.has_tab ? &r->data.tab : NULL;
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

/* The model: the spec's (its 'input auto' given the data's width), or the checkpoint's. */
static int build(cli_args *a, run *r, nb_train_state *st) {
    const char *resume = cli_get(a, "resume");
    nb_train_state_init(st, r->spec->seed);
    if (r->spec->input_auto && nb_spec_set_input_width(r->spec, r->data.features) != NB_OK)
        return cli_lib_error(a);
    if (!resume) {
        if (nb_spec_build(r->spec, &r->model) != NB_OK) return cli_lib_error(a);
        r->optim = nb_spec_optim(r->spec, nb_model_params(r->model));
        return r->optim ? CLI_OK : cli_lib_error(a);
    }
    if (nb_model_load(resume, &r->model, &r->ckpt) != NB_OK) return cli_lib_error(a);
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

/* Class names (CSV labels that were words) onto the model, and into its file: set before
 * training, so that a name a model file cannot hold stops the run at its start. */
static int set_classes(cli_args *a, run *r) {
    const nb_dataset *tr = r->data.train;
    nb_dataset_info di;
    nb_dataset_get_info(tr, &di);
    const nb_csv *c = &r->data.table.csv;
    int k = r->data.is_table && c->classes                         ? c->num_classes
            : di.y_dtype == NB_I32 && nb_dataset_class_name(tr, 0) ? di.num_classes
                                                                   : 0;
    if (!k) return CLI_OK;
    const char **names = cli_malloc(sizeof *names * (size_t)k);
    if (!names) return cli_lib_error(a);
    for (int i = 0; i < k; i++)
        names[i] = r->data.is_table ? c->classes[i] : nb_dataset_class_name(tr, i);
    nb_status s = nb_model_set_classes(r->model, names, k);
    cli_free(names);
    return s == NB_OK ? CLI_OK : cli_lib_error(a);
}

/* The loss, and the datasets in the form it wants. */
static int prepare(cli_args *a, run *r) {
    int64_t shape[NB_MAX_RANK], outputs = 1;
    int orank = nb_model_output_shape(r->model, shape);
    for (int i = 0; i < orank; i++) outputs *= shape[i];
    int rc = cli_decide_loss(a, r->spec, r->data.task, outputs, &r->loss);
    bool bin = r->loss == NB_LOSS_BCE || r->loss == NB_LOSS_BCE_LOGITS;
    unsigned flags =
        r->data.task == NB_TASK_CLASSIFICATION && bin ? NB_TABULAR_LABELS_AS_TARGETS : 0;
    if (rc == CLI_OK && flags && r->data.table.csv.num_classes > 2)
        rc = cli_error(a, CLI_FAIL,
                       "loss %s is a binary classifier's, but the labels have %d classes (use "
                       "cross_entropy and an output per class)",
                       nb_loss_name(r->loss), r->data.table.csv.num_classes);
    if (rc == CLI_OK) rc = cli_data_make(a, &r->data, flags);
    if (rc == CLI_OK) rc = set_classes(a, r);
    if (rc == CLI_OK && r->spec->data.class_weight) {
        if (r->data.task != NB_TASK_CLASSIFICATION || flags)
            return cli_error(a, CLI_USAGE,
                             "class_weight=balanced weighs the classes of a "
                             "cross-entropy classifier; this run's loss is %s",
                             nb_loss_name(r->loss));
        r->num_class_weights = (int)outputs;
        rc = cli_class_weights(a, r->data.train, r->num_class_weights, &r->class_weight);
    }
    if (rc != CLI_OK) return rc;
    if (r->ckpt.norm.kind != NB_NORM_NONE) { /* a resumed run keeps its normalisation */
        const nb_norm *n = &r->ckpt.norm;
        return nb_norm_set(&r->norm, n->kind, n->per_feature, n->n, n->shift, n->div) == NB_OK
                   ? CLI_OK
                   : cli_lib_error(a);
    }
    return cli_fit_norm(a, r->spec, r->data.train, &r->norm);
}

static unsigned metrics_for(nb_loss_kind loss) {
    return loss == NB_LOSS_CROSS_ENTROPY || loss == NB_LOSS_NLL || loss == NB_LOSS_BCE ||
                   loss == NB_LOSS_BCE_LOGITS
               ? NB_METRIC_ACCURACY
               : NB_METRIC_MAE;
}

/* The metrics of the test set, on one line: "test: N samples, loss x, accuracy y, ...". */
static int test_eval(cli_args *a, run *r) {
    int64_t shape[NB_MAX_RANK], outputs = 1;
    int orank = nb_model_output_shape(r->model, shape);
    for (int i = 0; i < orank; i++) outputs *= shape[i];
    bool cls = r->loss == NB_LOSS_CROSS_ENTROPY || r->loss == NB_LOSS_NLL;
    int classes = cls ? (int)outputs : 0;
    unsigned which = cli_report_metrics(r->loss);
    if (cls && (classes < 1 || classes > NB_CONFUSION_MAX_CLASSES))
        which &= ~(unsigned)NB_METRIC_F1;
    nb_metrics *mt = nb_metrics_new_outputs(r->loss, which, classes, 0, outputs);
    if (!mt) return cli_lib_error(a);
    const nb_tabular *t = r->data.has_tab ? &r->data.tab : NULL;
    nb_eval_opts eo = {.batch_size = 256,
                       .norm = r->norm.kind != NB_NORM_NONE ? &r->norm : NULL,
                       .target_norm =
                           t && t->target_norm.kind != NB_NORM_NONE ? &t->target_norm : NULL};
    int rc = nb_evaluate(r->model, r->data.test, &eo, mt) == NB_OK ? CLI_OK : cli_lib_error(a);
    if (rc == CLI_OK) {
        nb_metric_values v;
        nb_metrics_result(mt, &v);
        cli_report_line(stdout, "test: ", &v, r->loss, 5);
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

/* The data: read, split, the table fitted on the training part. */
static int load_data(cli_args *a, run *r) {
    cli_data_opts o;
    cli_spec_data_opts(r->spec, &o);
    if (cli_get(a, "data")) o.train = cli_get(a, "data"); /* "-": standard input */
    int rc = cli_data_load(a, &o, &r->data);
    if (rc != CLI_OK) return rc;
    if (r->data.table.note[0] && !r->quiet) fprintf(stderr, "note: %s\n", r->data.table.note);
    const nb_data_spec *d = &r->spec->data;
    rc = cli_data_split(a, &r->data, d->has_test_split ? d->test_split : 0,
                        d->has_val_split ? d->val_split : 0, r->spec->seed);
    /* a regression's targets are standardised unless the spec says normalize_targets=none */
    int standardize = r->data.task == NB_TASK_REGRESSION && (!d->has_target_norm || d->target_norm);
    if (rc == CLI_OK)
        rc = cli_data_fit(a, &r->data, d->has_missing ? d->missing : NB_MISSING_ERROR, standardize);
    if (rc == CLI_OK && r->data.has_tab) r->data.features = r->data.tab.features;
    if (rc == CLI_OK && r->data.task == NB_TASK_AUTO) r->data.task = NB_TASK_CLASSIFICATION;
    if (rc == CLI_OK && d->has_task == 0 && r->data.is_table) { /* what was decided, stored */
        r->spec->data.has_task = 1;
        r->spec->data.task = r->data.task;
    }
    return rc;
}

/* A failure of the run proper: printed unless another process reports it (cli_dist_reports). */
static int run_failed(cli_args *a, const cli_dist *cd, nb_status s) {
    if (!cli_dist_reports(cd, s)) return CLI_FAIL;
    if (cd->rank == 0) return cli_lib_error(a);
    return cli_error(a, CLI_FAIL, "process %d: %s", cd->rank, nb_last_error());
}

/* The options the model file keeps in its stored spec, which is JSON text: valid UTF-8,
 * checked before anything is loaded or trained rather than when the trained model is saved
 * (a spec's own paths and names are checked when it is parsed, class names and column names
 * when the data is read, both before training). */
static int storable_options(cli_args *a) {
    static const char *const kept[] = {"data",        "labels", "val",         "val-labels", "test",
                                       "test-labels", "label",  "categorical", "tokenizer"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        const char *v = cli_get(a, kept[i]);
        if (v && !cli_utf8_valid(v))
            return cli_error(a, CLI_USAGE,
                             "--%s: '%s' is not valid UTF-8: the model file keeps it in its "
                             "stored spec, which is JSON text (rename the file)",
                             kept[i], v);
    }
    return CLI_OK;
}

static int run_train(cli_args *a) {
    cli_dist cd;
    int rc = cli_dist_start(a, &cd);
    if (rc != CLI_OK) return cli_dist_end(&cd, rc);
    run r;
    memset(&r, 0, sizeof r);
    rc = cli_threads(a);
    int64_t every = 1, patience = 0;
    if (rc == CLI_OK) rc = cli_int(a, "every", 1, INT32_MAX, &every);
    if (rc == CLI_OK) rc = cli_int(a, "early-stop", 1, INT32_MAX, &patience);
    if (rc == CLI_OK && cli_flag(a, "no-restore-best") && patience == 0)
        rc = cli_error(a, CLI_USAGE, "--no-restore-best needs --early-stop N");
    if (rc == CLI_OK && nb_spec_read(a->pos[0], &r.spec) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK && !r.spec->has_input && !cli_get(a, "resume"))
        rc = cli_error(a, CLI_FAIL,
                       "%s describes no model: it needs layers (and an input line, "
                       "or 'input auto')",
                       a->pos[0]);
    r.quiet = cli_flag(a, "quiet");
    bool epochs_said = r.spec && (r.spec->has_epochs || cli_get(a, "epochs"));
    if (rc == CLI_OK) rc = storable_options(a);
    if (rc == CLI_OK) rc = cli_spec_options(a, r.spec);
    if (rc == CLI_OK) {
        r.out = cli_get(a, "out") ? copy_str(cli_get(a, "out")) : default_out(a->pos[0]);
        if (!r.out) rc = cli_error(a, CLI_FAIL, "out of memory");
    }
    /* Every file the run will write is checked now, not after the last epoch. */
    static const char *const outputs[] = {"out", "checkpoint", "best", "log", "plot", NULL};
    const char *paths[] = {
        r.out, cli_get(a, "checkpoint"), cli_get(a, "best"), cli_get(a, "log"), cli_get(a, "plot"),
        NULL};
    if (rc == CLI_OK && cd.rank == 0 && !cli_flag(a, "dist-info")) /* process 0 writes */
        rc = cli_check_outputs(a, outputs, paths);
    if (rc == CLI_OK && !r.spec->data.text &&
        (cli_get(a, "steps") || cli_get(a, "eval-every") || cli_get(a, "tokenizer")))
        rc = cli_error(a, CLI_USAGE,
                       "--steps, --eval-every and --tokenizer are for a language model's run "
                       "(a spec whose data line says text=PATH)");
    if (rc == CLI_OK && r.spec->data.text) { /* a language model: lm.c */
        rc = cli_lm_train(a, r.spec, r.out, r.quiet);
        run_free(&r);
        return cli_dist_end(&cd, rc);
    }
    if (rc == CLI_OK) rc = load_data(a, &r);
    nb_train_state st;
    if (rc == CLI_OK) rc = build(a, &r, &st);
    if (rc == CLI_OK) rc = cli_check_plain(a, r.model); /* one input of a fixed size, one output */
    if (rc == CLI_OK) rc = prepare(a, &r);
    if (rc == CLI_OK && cli_flag(a, "dist-info")) {
        rc = cli_dist_info(a, &cd, r.model, r.optim);
        run_free(&r);
        return cli_dist_end(&cd, rc);
    }
    if (rc == CLI_OK && cd.size > 1) {
        rc = cli_dist_wrap(a, &cd, r.model, r.optim);
        if (rc == CLI_FAIL) rc = run_failed(a, &cd, NB_ERR_ARG);
    }
    if (rc != CLI_OK) {
        run_free(&r);
        return cli_dist_end(&cd, rc);
    }
    if (!epochs_said && !r.quiet)
        fprintf(stderr, "note: the spec has no 'epochs' line: training 1 epoch (add 'epochs N', "
                        "or --epochs N)\n");
    const nb_tabular *t = r.data.has_tab ? &r.data.tab : NULL;
    nb_fit_opts fo = {0};
    fo.epochs = r.spec->epochs;
    fo.batch_size = r.spec->batch;
    fo.loss = r.loss;
    fo.metrics = metrics_for(r.loss);
    fo.seed = r.spec->seed;
    fo.prefetch = cli_flag(a, "prefetch");
    fo.norm = r.norm.kind != NB_NORM_NONE ? &r.norm : NULL;
    fo.target_norm = t && t->target_norm.kind != NB_NORM_NONE ? &t->target_norm : NULL;
    fo.class_weight = r.class_weight;
    fo.num_class_weights = r.num_class_weights;
    fo.val = r.data.val;
    fo.monitor = cli_get(a, "monitor");
    fo.early_stopping = patience > 0;
    fo.patience = (int)patience;
    fo.restore = cli_flag(a, "no-restore-best") ? NB_RESTORE_LAST : NB_RESTORE_AUTO;
    r.periodic_path = cli_get(a, "checkpoint");
    r.best_path = cli_get(a, "best");
    r.monitor = fo.monitor ? fo.monitor : r.data.val ? "val_loss" : "loss";
    fo.checkpoint = save_checkpoint;
    fo.checkpoint_user = &r;
    fo.checkpoint_every = r.periodic_path ? (int)every : 0;
    fo.checkpoint_best = r.best_path != NULL;
    fo.progress = stderr;
    fo.verbose = r.quiet ? NB_VERBOSE_QUIET : cli_flag(a, "verbose") ? 2 : 1;
    fo.csv_path = cli_get(a, "log");
    fo.svg_path = cli_get(a, "plot");
    fo.state = &st;
    fo.clip_grad_norm = (float)r.spec->clip_norm; /* the spec's clip line (0: none) */
    fo.clip_grad_value = (float)r.spec->clip_value;
    r.quiet = r.quiet || cd.rank != 0;
    nb_status fs = rc == CLI_OK ? cli_dist_fit(&cd, r.model, r.optim, r.data.train, &fo) : NB_OK;
    if (fs != NB_OK) rc = run_failed(a, &cd, fs);
    /* the model and the test metrics: process 0's (every process holds the same weights) */
    nb_save_opts so = save_opts(&r);
    if (rc == CLI_OK && cd.rank == 0 && nb_model_save(r.model, r.out, &so) != NB_OK)
        rc = cli_lib_error(a);
    if (rc == CLI_OK && !r.quiet) fprintf(stderr, "saved %s\n", r.out);
    if (rc == CLI_OK && r.data.test && cd.rank == 0) rc = test_eval(a, &r);
    run_free(&r);
    return cli_dist_end(&cd, rc);
}

const cli_cmd cli_cmd_train = {
    .name = "train",
    .usage = "SPEC [options]",
    .summary = "train the model of a spec file on its data; save it",
    .description =
        "Builds the model that SPEC describes (docs/spec.md) and trains it with the spec's\n"
        "loss, optimizer, schedule, batch size and epochs on the spec's data; the options\n"
        "below override the spec (and are stored with the model). Progress goes to standard\n"
        "error: a live bar on a terminal, one line per epoch otherwise. The trained model is\n"
        "saved (--out) as safetensors with its architecture and normalisation; with a test set\n"
        "(--test, or --test-split of the data) its metrics are printed. A CSV file is a table\n"
        "(docs/tabular.md): --task says what the label column is (else the loss, else the\n"
        "column decides), categorical text columns are one-hot encoded, missing values filled,\n"
        "and the model file keeps how, for eval and predict. --checkpoint saves the whole\n"
        "training state, and --resume continues from it exactly as if the run had not stopped.\n"
        "With --early-stop the saved model has the weights of the best epoch (--no-restore-best:\n"
        "the last). A run whose loss or weights become NaN or infinite stops with an error\n"
        "naming the epoch and step, and saves nothing.\n\n"
        "Under mpirun or srun, a build with MPI (make MPI=1) trains data-parallel: each of\n"
        "the N processes takes --batch samples of every global batch of N x batch, the\n"
        "gradients are summed while backward runs, and process 0 alone prints and writes;\n"
        "--resume works with any number of processes (docs/distributed.md).",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run_train,
};
