/* tools/nabla/data.c — the training data of a run, for `nabla train` and `nabla cv`: the
 * training file (a table, IDX images — a folder of them with the standard names — or .npy
 * arrays) and its parts.
 *
 * Every sample of the training file gets a part: training, validation or test. The test and
 * validation parts are held out by fraction (stratified by class for a classification, so
 * every part keeps each class's share), or a fold of a k-fold cross-validation is the test
 * part. (The validation part is drawn at random, as nb_dataset_split draws it, so that runs
 * keep the partition they always had.) A table's description (fill values, the targets'
 * standardisation) is fitted on the training part alone, then every row is encoded with it, so
 * nothing of the held-out rows leaks into what the model sees; separate validation and test files
 * are read afterwards, the way the model will read every later file. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- files --------------------------------------------------------------------------------- */

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* dir/name, or dir/name.gz, whichever exists (NULL if neither). */
static char *find(const char *dir, const char *name) {
    char gz[96];
    snprintf(gz, sizeof gz, "%s.gz", name);
    const char *names[2] = {name, gz};
    for (int i = 0; i < 2; i++) {
        char *p = join(dir, names[i]);
        struct stat sb;
        if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) return p;
        free(p);
    }
    return NULL;
}

int cli_idx_folder(const cli_args *a, const char *path, const char *which, char **images,
                   char **labels) {
    *images = *labels = NULL;
    struct stat sb;
    if (strcmp(path, "-") == 0 || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return CLI_OK;
    char in[64], ln[64];
    snprintf(in, sizeof in, "%s-images-idx3-ubyte", which);
    snprintf(ln, sizeof ln, "%s-labels-idx1-ubyte", which);
    *images = find(path, in);
    *labels = find(path, ln);
    if (*images && *labels) return CLI_OK;
    free(*images);
    free(*labels);
    *images = *labels = NULL;
    return cli_error(a, CLI_FAIL,
                     "%s is a folder without %s[.gz] and %s[.gz] (the IDX names of MNIST and "
                     "its family); give the files themselves",
                     path, in, ln);
}

static void release_parts(cli_data *d) {
    nb_dataset_free(d->train);
    nb_dataset_free(d->val);
    nb_dataset_free(d->test);
    d->train = d->val = d->test = NULL;
}

void cli_data_free(cli_data *d) {
    release_parts(d);
    cli_table_free(&d->table);
    nb_dataset_free(d->file);
    nb_dataset_free(d->val_file);
    nb_dataset_free(d->test_file);
    nb_tabular_free(&d->tab);
    free(d->idx_test);
    free(d->idx_test_labels);
    cli_free(d->labels);
    cli_free(d->part);
    memset(d, 0, sizeof *d);
}

int cli_data_load(const cli_args *a, const cli_data_opts *o, cli_data *d) {
    memset(d, 0, sizeof *d);
    d->o = *o;
    if (!o->train)
        return cli_error(a, CLI_USAGE,
                         "no training data: give --data PATH, or train= on the spec's data line");
    char *images = NULL, *labels = NULL;
    int rc = cli_idx_folder(a, o->train, "train", &images, &labels);
    if (rc != CLI_OK) return rc;
    if (images) { /* a folder of IDX files: the training files, and t10k as the test set */
        if (!o->test &&
            cli_idx_folder(a, o->train, "t10k", &d->idx_test, &d->idx_test_labels) != CLI_OK)
            return CLI_FAIL;
        rc = cli_load_dataset(a, images, labels, "idx", NULL, NULL, &d->file);
        free(images);
        free(labels);
    } else if ((o->format ? !strcmp(o->format, "csv") : cli_is_csv_name(o->train))) {
        if (o->train_labels)
            return cli_error(a, CLI_USAGE,
                             "a CSV file holds its labels in a column: choose it with a label= "
                             "in the spec's data line or --label, not a labels file");
        d->is_table = 1;
        rc = cli_table_read(a, o->train, &o->table, &d->table);
        if (rc != CLI_OK) return rc;
        d->task = d->table.task;
        d->n = d->table.csv.rows;
        if (d->table.csv.labels) {
            d->labels = cli_malloc(sizeof *d->labels * (size_t)d->n);
            if (!d->labels) return cli_lib_error(a);
            memcpy(d->labels, d->table.csv.labels, sizeof *d->labels * (size_t)d->n);
        }
    } else if (o->format && !strcmp(o->format, "audio")) { /* manifests of WAV clips */
        rc = cli_load_audio(a, o->train, o->features, o->store, o->frames_first, &d->file);
    } else {
        rc = cli_load_dataset(a, o->train, o->train_labels, o->format, NULL, NULL, &d->file);
    }
    if (rc != CLI_OK) return rc;
    if (!d->is_table) {
        nb_dataset_info di;
        nb_dataset_get_info(d->file, &di);
        if (!di.has_y)
            return cli_error(a, CLI_FAIL,
                             "%s has no labels or targets to learn (IDX and .npy data need a "
                             "labels file: --labels or train_labels=)",
                             o->train);
        d->task = di.y_dtype == NB_I32 ? NB_TASK_CLASSIFICATION : NB_TASK_REGRESSION;
        d->n = di.n;
        d->features = di.features;
        if (di.y_dtype == NB_I32) {
            d->labels = cli_malloc(sizeof *d->labels * (size_t)(d->n ? d->n : 1));
            if (!d->labels) return cli_lib_error(a);
            if (nb_dataset_labels(d->file, d->labels) != NB_OK) return cli_lib_error(a);
        }
        const char *test = o->test ? o->test : d->idx_test;
        const char *test_labels = o->test ? o->test_labels : d->idx_test_labels;
        const bool audio = o->format && !strcmp(o->format, "audio");
        if (o->val)
            rc = audio ? cli_load_audio(a, o->val, o->features, o->store, o->frames_first, &d->val_file)
                       : cli_load_dataset(a, o->val, o->val_labels, o->format, NULL, NULL,
                                          &d->val_file);
        if (rc == CLI_OK && test)
            rc = audio
                     ? cli_load_audio(a, test, o->features, o->store, o->frames_first, &d->test_file)
                     : cli_load_dataset(a, test, test_labels, o->format, NULL, NULL, &d->test_file);
        if (rc != CLI_OK) return rc;
    }
    d->part = cli_malloc((size_t)(d->n ? d->n : 1));
    if (!d->part) return cli_lib_error(a);
    memset(d->part, CLI_PART_TRAIN, (size_t)d->n);
    return CLI_OK;
}

/* ---- parts --------------------------------------------------------------------------------- */

/* Holds out `fraction` of the samples now in part `from` as part `to`. */
static int hold_out(const cli_args *a, cli_data *d, unsigned char from, unsigned char to,
                    double fraction, uint64_t seed, bool stratify, const char *what) {
    if (fraction <= 0) return CLI_OK;
    int64_t m = 0;
    for (int64_t i = 0; i < d->n; i++) m += d->part[i] == from;
    int64_t *idx = cli_malloc(sizeof *idx * (size_t)(m ? m : 1));
    int32_t *lab = d->labels ? cli_malloc(sizeof *lab * (size_t)(m ? m : 1)) : NULL;
    unsigned char *held = cli_malloc((size_t)(m ? m : 1));
    int rc = idx && held && (lab || !d->labels) ? CLI_OK : cli_lib_error(a);
    int64_t k = 0;
    for (int64_t i = 0; rc == CLI_OK && i < d->n; i++)
        if (d->part[i] == from) {
            if (lab) lab[k] = d->labels[i];
            idx[k++] = i;
        }
    /* stratified by class for a classification: each class keeps its share */
    const int32_t *strata = stratify && d->task == NB_TASK_CLASSIFICATION ? lab : NULL;
    if (rc == CLI_OK && nb_split_mask(m, strata, fraction, seed, held) != NB_OK)
        rc = cli_lib_error(a);
    int64_t nh = 0;
    for (int64_t i = 0; rc == CLI_OK && i < m; i++) {
        if (held[i]) d->part[idx[i]] = to;
        nh += held[i];
    }
    if (rc == CLI_OK && (nh == 0 || nh == m))
        rc = cli_error(a, CLI_USAGE, "%s %g of %lld samples leaves one part empty", what, fraction,
                       (long long)m);
    cli_free(idx);
    cli_free(lab);
    cli_free(held);
    return rc;
}

int cli_data_split(const cli_args *a, cli_data *d, double test_split, double val_split,
                   uint64_t seed) {
    memset(d->part, CLI_PART_TRAIN, (size_t)d->n);
    bool separate_test = d->test_file || d->o.test || d->idx_test;
    if (test_split > 0 && separate_test)
        return cli_error(a, CLI_USAGE, "give either a test set or a test split, not both");
    /* the test part first, with a seed of its own, so that it stays the same whatever the
     * validation split */
    int rc = hold_out(a, d, CLI_PART_TRAIN, CLI_PART_TEST, test_split, seed ^ 0x7e57, true,
                      "a test split of");
    if (rc == CLI_OK && !(d->val_file || d->o.val))
        rc = hold_out(a, d, CLI_PART_TRAIN, CLI_PART_VAL, val_split, seed, false,
                      "a validation split of");
    return rc;
}

int cli_data_fold(const cli_args *a, cli_data *d, int folds, int k, double val_split,
                  uint64_t seed) {
    int32_t *fold = cli_malloc(sizeof *fold * (size_t)(d->n ? d->n : 1));
    if (!fold) return cli_lib_error(a);
    const int32_t *strata = d->task == NB_TASK_CLASSIFICATION ? d->labels : NULL;
    int rc = nb_fold_assign(d->n, strata, folds, seed, fold) == NB_OK ? CLI_OK : cli_lib_error(a);
    for (int64_t i = 0; rc == CLI_OK && i < d->n; i++)
        d->part[i] = fold[i] == k ? CLI_PART_TEST : CLI_PART_TRAIN;
    cli_free(fold);
    if (rc == CLI_OK)
        rc = hold_out(a, d, CLI_PART_TRAIN, CLI_PART_VAL, val_split, seed, false,
                      "a validation split of");
    return rc;
}

int cli_data_fit(const cli_args *a, cli_data *d, nb_missing missing, int standardize_targets) {
    if (!d->is_table) return CLI_OK;
    nb_tabular_free(&d->tab);
    d->has_tab = 0;
    int64_t *rows = cli_malloc(sizeof *rows * (size_t)(d->n ? d->n : 1)), nr = 0;
    if (!rows) return cli_lib_error(a);
    for (int64_t i = 0; i < d->n; i++)
        if (d->part[i] == CLI_PART_TRAIN) rows[nr++] = i;
    nb_tabular_opts to = {.task = d->task,
                          .missing = missing,
                          .standardize_targets = standardize_targets,
                          .rows = rows,
                          .num_rows = nr};
    int rc = nb_tabular_fit(&d->tab, &d->table.csv, &to) == NB_OK ? CLI_OK : cli_lib_error(a);
    cli_free(rows);
    if (rc != CLI_OK) return rc;
    d->has_tab = 1;
    d->features = d->tab.features;
    return CLI_OK;
}

/* The samples of `all` in part p (NULL when there are none). */
static int part_of(const cli_args *a, const cli_data *d, const nb_dataset *all, unsigned char p,
                   nb_dataset **out) {
    *out = NULL;
    int64_t *idx = cli_malloc(sizeof *idx * (size_t)(d->n ? d->n : 1)), k = 0;
    if (!idx) return cli_lib_error(a);
    for (int64_t i = 0; i < d->n; i++)
        if (d->part[i] == p) idx[k++] = i;
    int rc = CLI_OK;
    if (k && nb_dataset_subset(all, idx, k, out) != NB_OK) rc = cli_lib_error(a);
    cli_free(idx);
    return rc;
}

/* A separate validation or test table, read as the model will read later files. */
static int other_table(const cli_args *a, cli_data *d, const char *path, unsigned flags,
                       nb_dataset **out) {
    const nb_csv *tc = &d->table.csv;
    cli_table_for f = {.tab = &d->tab,
                       .label = NULL,
                       .with_labels = 1,
                       .header = d->o.table.header,
                       .delimiter = d->o.table.delimiter,
                       .classes = (const char *const *)tc->classes,
                       .num_classes = tc->classes ? tc->num_classes : 0};
    nb_csv c;
    int rc = cli_table_read_for(a, path, &f, &c);
    if (rc != CLI_OK) return rc;
    if (nb_tabular_dataset(&d->tab, &c, flags, out) != NB_OK) rc = cli_lib_error(a);
    nb_csv_free(&c);
    return rc;
}

/* A dataset over all of src (sharing its samples). */
static int whole(const cli_args *a, const nb_dataset *src, nb_dataset **out) {
    int64_t n = nb_dataset_len(src);
    int64_t *idx = cli_malloc(sizeof *idx * (size_t)(n ? n : 1));
    if (!idx) return cli_lib_error(a);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    int rc = nb_dataset_subset(src, idx, n, out) == NB_OK ? CLI_OK : cli_lib_error(a);
    cli_free(idx);
    return rc;
}

int cli_data_make(const cli_args *a, cli_data *d, unsigned flags) {
    release_parts(d);
    nb_dataset *all = d->file;
    if (d->is_table) {
        if (!d->has_tab) return cli_error(a, CLI_FAIL, "internal: the table was not fitted");
        if (nb_tabular_dataset(&d->tab, &d->table.csv, flags, &all) != NB_OK)
            return cli_lib_error(a);
    }
    int rc = part_of(a, d, all, CLI_PART_TRAIN, &d->train);
    if (rc == CLI_OK) rc = part_of(a, d, all, CLI_PART_VAL, &d->val);
    if (rc == CLI_OK) rc = part_of(a, d, all, CLI_PART_TEST, &d->test);
    if (d->is_table) nb_dataset_free(all); /* the parts keep what they need */
    if (rc == CLI_OK && !d->train)
        rc = cli_error(a, CLI_USAGE, "no training samples are left after the held-out parts");
    if (rc == CLI_OK && d->is_table) {
        if (d->o.val) rc = other_table(a, d, d->o.val, flags, &d->val);
        if (rc == CLI_OK && d->o.test) rc = other_table(a, d, d->o.test, flags, &d->test);
    } else if (rc == CLI_OK) {
        if (d->val_file) rc = whole(a, d->val_file, &d->val);
        if (rc == CLI_OK && d->test_file) rc = whole(a, d->test_file, &d->test);
    }
    if (rc != CLI_OK) release_parts(d);
    return rc;
}

/* ---- the loss ------------------------------------------------------------------------------- */

int cli_decide_loss(const cli_args *a, const nb_spec *spec, nb_task task, int64_t outputs,
                    nb_loss_kind *loss) {
    if (spec->has_loss) {
        int k = nb_loss_from_name(spec->loss);
        if (k < 0) return cli_error(a, CLI_FAIL, "unknown loss '%s'", spec->loss);
        *loss = (nb_loss_kind)k;
        bool reg = k == NB_LOSS_MSE || k == NB_LOSS_MAE || k == NB_LOSS_HUBER;
        bool bin = k == NB_LOSS_BCE || k == NB_LOSS_BCE_LOGITS;
        if (task == NB_TASK_REGRESSION && !reg)
            return cli_error(a, CLI_USAGE,
                             "loss %s is a classifier's, but the task is regression (its "
                             "targets are numbers): use mse, l1 or huber, or say "
                             "task=classification",
                             spec->loss);
        if (task == NB_TASK_CLASSIFICATION && reg)
            return cli_error(a, CLI_USAGE,
                             "loss %s is a regression's, but the task is classification (the "
                             "labels are classes): say task=regression (--task regression) to "
                             "read the label column as numbers",
                             spec->loss);
        if (task == NB_TASK_MULTILABEL && !bin)
            return cli_error(a, CLI_USAGE,
                             "a multilabel task trains with bce_with_logits or bce, "
                             "not %s",
                             spec->loss);
        return CLI_OK;
    }
    *loss = task == NB_TASK_REGRESSION ? NB_LOSS_MSE
            : task == NB_TASK_MULTILABEL || (task == NB_TASK_CLASSIFICATION && outputs == 1)
                ? NB_LOSS_BCE_LOGITS
                : NB_LOSS_CROSS_ENTROPY;
    return CLI_OK;
}
