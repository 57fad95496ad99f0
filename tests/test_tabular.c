/* tests/test_tabular.c — tables through the C API: CSV dialects (delimiters, quotes, CRLF, a
 * byte-order mark, files with and without a header), missing values, categorical columns,
 * several target columns, column selection by name; the table description (nb_tabular: fit,
 * encode, dataset), stratified splits and folds, target normalisation; the refusals (an
 * unknown category, a missing value the model cannot fill, a missing column). The fixtures
 * are the CSV files of tests/data/tabular/, one per dialect. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "nbtest.h"
#include "fixture.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define D "tests/data/tabular/"

static bool has(const char *s, const char *sub) {
    return s && strstr(s, sub) != NULL;
}

#define CHECK_ERR(expr, want, text)                                                                \
    do {                                                                                           \
        nb_status s_ = (expr);                                                                     \
        CHECK_MSG(s_ == (want), "%s returned %s, expected %s (%s)", #expr, nb_status_str(s_),      \
                  nb_status_str(want), nb_last_error());                                           \
        CHECK_MSG(has(nb_last_error(), text), "%s: message '%s' lacks '%s'", #expr,                \
                  nb_last_error(), text);                                                          \
    } while (0)

/* ---- dialects ------------------------------------------------------------------------------ */

static void test_delimiters_detected(void) {
    nb_csv c;
    CHECK_OK(nb_csv_read(D "semicolon.csv", NULL, &c));
    CHECK(c.delimiter == ';' && c.header == 1 && c.rows == 3 && c.cols == 2);
    CHECK(c.col_names && !strcmp(c.col_names[0], "sepal length"));
    CHECK(c.num_classes == 3 && c.classes && !strcmp(c.classes[2], "virginica"));
    CHECK(c.x && c.x[2] == 7.0f && c.x[5] == 3.3f);
    nb_csv_free(&c);
    const char *files[] = {D "tab.csv", D "pipe.csv"};
    const char delims[] = {'\t', '|'};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(nb_csv_read(files[i], &(nb_csv_opts){.label_is_target = 1}, &c));
        CHECK_MSG(c.delimiter == delims[i] && c.rows == 2 && c.cols == 2, "%s", files[i]);
        CHECK(c.targets && c.targets[1] == 1.5f && c.num_targets == 1);
        CHECK(c.target_names && !strcmp(c.target_names[0], "target"));
        nb_csv_free(&c);
    }
    /* a given delimiter wins over detection */
    CHECK_ERR(nb_csv_read(D "semicolon.csv", &(nb_csv_opts){.delimiter = ','}, &c), NB_ERR_FORMAT,
              "no feature columns");
    /* a decimal comma is named as such */
    CHECK_ERR(nb_csv_read(D "decimal_comma.csv", NULL, &c), NB_ERR_FORMAT, "a decimal comma?");
    /* a ';' file read with ',' gets the hint */
    const char *semi = "a,b,label\n1;2,3,x\n";
    CHECK_ERR(nb_csv_parse(semi, strlen(semi), "semi", NULL, &c), NB_ERR_FORMAT,
              "(is the delimiter ';'?)");
}

static void test_header_detection(void) {
    nb_csv c;
    /* no header: the first row is data (issue 12: it used to be dropped) */
    CHECK_OK(nb_csv_read(D "noheader.csv", NULL, &c));
    CHECK(c.header == 0 && c.rows == 4 && c.cols == 2 && c.x && c.x[0] == 5.1f);
    CHECK(c.col_names && !strcmp(c.col_names[1], "column_2") && !strcmp(c.label_name, "column_3"));
    CHECK(c.labels && c.labels[0] == 0 && c.labels[2] == 2 && c.num_classes == 3);
    nb_csv_free(&c);
    /* one row without a header is one row */
    const char *one = "1.5,2.5,3.5\n";
    CHECK_OK(nb_csv_parse(one, strlen(one), "one", &(nb_csv_opts){.no_label = 1}, &c));
    CHECK(c.rows == 1 && c.cols == 3 && c.header == 0);
    nb_csv_free(&c);
    /* forced either way */
    CHECK_OK(nb_csv_read(D "noheader.csv", &(nb_csv_opts){.header = NB_CSV_HEADER_YES}, &c));
    CHECK(c.header == 1 && c.rows == 3 && !strcmp(c.col_names[0], "5.1"));
    nb_csv_free(&c);
    CHECK_ERR(
        nb_csv_read(D "crlf.csv", &(nb_csv_opts){.header = NB_CSV_HEADER_NO, .no_label = 1}, &c),
        NB_ERR_FORMAT, "crlf.csv:1: column 1 ('column_1'): cannot read as a number");
    /* a header of text over rows of text and numbers; a header that names the label asked
     * for; a file of nothing but text rows reads its first as the header */
    const char *text = "name,score\nann,1\nbob,2\n";
    CHECK_OK(nb_csv_parse(text, strlen(text), "t", &(nb_csv_opts){.label_column = 1}, &c));
    CHECK(c.header == 1 && c.rows == 2 && c.cols == 1 && c.num_classes == 2);
    nb_csv_free(&c);
    const char *named = "1,2,label\n3,4,a\n";
    CHECK_OK(nb_csv_parse(named, strlen(named), "n", &(nb_csv_opts){.label_name = "label"}, &c));
    CHECK(c.header == 1 && c.rows == 1);
    nb_csv_free(&c);
    /* CRLF, a byte-order mark, quotes */
    CHECK_OK(nb_csv_read(D "crlf.csv", NULL, &c));
    CHECK(c.header == 1 && c.rows == 2 && c.x && c.x[3] == 4.0f && c.labels[1] == 1);
    nb_csv_free(&c);
    CHECK_OK(nb_csv_read(D "bom.csv", &(nb_csv_opts){.label_is_target = 1}, &c));
    CHECK(c.header == 1 && !strcmp(c.col_names[0], "id") && c.targets && c.targets[0] == 3.0f);
    nb_csv_free(&c);
}

static void test_missing_and_categorical(void) {
    nb_csv c;
    /* missing values refused by default, with the way out in the message */
    const char *cat[] = {"colour"};
    nb_csv_opts o = {.categorical = cat, .num_categorical = 1};
    CHECK_ERR(nb_csv_read(D "mixed.csv", &o, &c), NB_ERR_FORMAT,
              "mixed.csv:4: column 1 ('size'): the cell is empty (a missing value: fill or drop "
              "it, or impute it with missing=mean, median or zero)");
    o.allow_missing = 1;
    CHECK_OK(nb_csv_read(D "mixed.csv", &o, &c));
    CHECK(c.rows == 5 && c.cols == 3 && c.num_classes == 2 && c.header == 1);
    CHECK(c.col_names && !strcmp(c.col_names[2], "note, quoted"));
    CHECK(c.num_categories && c.num_categories[0] == 0 && c.num_categories[1] == 3);
    if (c.categories && c.categories[1]) {
        /* sorted: blue, green, red; the cells hold their indices; '?' is missing */
        CHECK(!strcmp(c.categories[1][0], "blue") && !strcmp(c.categories[1][2], "red"));
        CHECK(c.x[1] == 2.0f && c.x[4] == 0.0f && c.x[7] == 1.0f && isnan(c.x[13]));
    }
    CHECK(isnan(c.x[6]) && isnan(c.x[11]) && c.x[14] == 7.0f);
    nb_csv_free(&c);
    /* text in a number column: the message says how to read it as categories */
    CHECK_ERR(nb_csv_read(D "mixed.csv", &(nb_csv_opts){.allow_missing = 1}, &c), NB_ERR_FORMAT,
              "column 2 ('colour'): cannot read as a number (only the label column may hold "
              "text): \"red\" (list the column as categorical");
    /* a categorical column that is not there: named, with the columns and a near name */
    const char *bad[] = {"Color"};
    CHECK_ERR(
        nb_csv_read(D "mixed.csv", &(nb_csv_opts){.categorical = bad, .num_categorical = 1}, &c),
        NB_ERR_ARG, "no column is named 'Color'");
    CHECK(has(nb_last_error(), "did you mean 'colour'?"));
}

static void test_label_column_message(void) {
    /* the list shows the end of a long header, where the label usually is */
    char text[4096];
    size_t w = 0;
    for (int i = 0; i < 60; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, "feature_%02d,", i);
    w += (size_t)snprintf(text + w, sizeof text - w, "target\n");
    for (int i = 0; i < 60; i++) w += (size_t)snprintf(text + w, sizeof text - w, "1,");
    w += (size_t)snprintf(text + w, sizeof text - w, "2\n");
    nb_csv c;
    CHECK_ERR(nb_csv_parse(text, w, "wide", &(nb_csv_opts){.label_name = "Target"}, &c), NB_ERR_ARG,
              "'feature_59', 'target')");
    CHECK(has(nb_last_error(), "did you mean 'target'?") && has(nb_last_error(), "61 columns"));
    /* headerless: the names say what to use */
    CHECK_ERR(nb_csv_read(D "noheader.csv", &(nb_csv_opts){.label_name = "species"}, &c),
              NB_ERR_ARG, "without a header row");
}

static void test_several_targets_and_columns(void) {
    nb_csv c;
    const char *ys[] = {"y1", "y2", "y3"};
    nb_csv_opts o = {.label_names = ys, .num_labels = 3, .label_is_target = 1};
    CHECK_OK(nb_csv_read(D "multi_target.csv", &o, &c));
    CHECK(c.rows == 4 && c.cols == 2 && c.num_targets == 3);
    CHECK(c.targets && c.targets[3 * 2 + 2] == 300.0f && c.targets[3 * 3 + 0] == 4.0f);
    CHECK(c.target_names && !strcmp(c.target_names[1], "y2"));
    nb_csv_free(&c);
    o.label_is_target = 0; /* several class-label columns make no sense */
    CHECK_ERR(nb_csv_read(D "multi_target.csv", &o, &c), NB_ERR_ARG, "label_is_target");
    /* columns by name, in the asked order, others skipped: a target column left in is fine */
    const char *cols[] = {"x2", "x1"};
    CHECK_OK(
        nb_csv_read(D "multi_target.csv", &(nb_csv_opts){.columns = cols, .num_columns = 2}, &c));
    CHECK(c.cols == 2 && c.rows == 4 && c.labels == NULL && c.targets == NULL);
    CHECK(c.x && c.x[0] == 0.0f && c.x[1] == 1.0f && !strcmp(c.col_names[0], "x2"));
    nb_csv_free(&c);
    const char *gone[] = {"x1", "x3"};
    CHECK_ERR(
        nb_csv_read(D "multi_target.csv", &(nb_csv_opts){.columns = gone, .num_columns = 2}, &c),
        NB_ERR_ARG, "no column is named 'x3' (a feature column asked for");
}

/* ---- the table description ----------------------------------------------------------------- */

static void read_mixed(nb_csv *c) {
    const char *cat[] = {"colour"};
    CHECK_OK(nb_csv_read(
        D "mixed.csv", &(nb_csv_opts){.categorical = cat, .num_categorical = 1, .allow_missing = 1},
        c));
}

static void test_tabular_encode(void) {
    nb_csv c;
    read_mixed(&c);
    nb_tabular t;
    int64_t rows[3] = {0, 1, 3}; /* fit the fills on three rows: size 1.5 2.5 3.5, note 3 4 */
    CHECK_OK(nb_tabular_fit(
        &t, &c, &(nb_tabular_opts){.missing = NB_MISSING_MEDIAN, .rows = rows, .num_rows = 3}));
    CHECK(t.task == NB_TASK_CLASSIFICATION && t.named == 1 && t.num_columns == 3);
    CHECK(t.features == 5 && t.num_targets == 1 && !strcmp(t.targets[0], "label"));
    CHECK(t.columns[0].fill == 2.5f && t.columns[2].fill == 3.5f &&
          t.columns[1].num_categories == 3);
    char name[64];
    CHECK_OK(nb_tabular_feature_name(&t, 3, name, sizeof name));
    CHECK(!strcmp(name, "colour=red"));
    float *x = NULL;
    CHECK_OK(nb_tabular_encode(&t, &c, &x));
    /* rows: size, blue, green, red, note */
    const float want[5][5] = {{1.5f, 0, 0, 1, 3},
                              {2.5f, 1, 0, 0, 4},
                              {2.5f, 0, 1, 0, 5},
                              {3.5f, 0, 0, 1, 3.5f},
                              {4.5f, 0, 0, 0, 7}};
    CHECK(x && !memcmp(x, want, sizeof want));
    nb_free(x);
    /* the dataset: encoded x and the class labels, with their names */
    nb_dataset *ds = NULL;
    CHECK_OK(nb_tabular_dataset(&t, &c, 0, &ds));
    nb_dataset_info di;
    nb_dataset_get_info(ds, &di);
    CHECK(di.n == 5 && di.features == 5 && di.y_dtype == NB_I32 && di.num_classes == 2);
    CHECK(nb_dataset_class_name(ds, 1) && !strcmp(nb_dataset_class_name(ds, 1), "yes"));
    nb_dataset_free(ds);
    /* as 0/1 targets for a binary classifier */
    CHECK_OK(nb_tabular_dataset(&t, &c, NB_TABULAR_LABELS_AS_TARGETS, &ds));
    nb_dataset_get_info(ds, &di);
    CHECK(di.y_dtype == NB_F32 && di.y_dim == 1);
    nb_dataset_free(ds);
    nb_csv_free(&c);

    /* a later file: read as t says, in another column order, with an unknown category */
    const char *later2 = "colour,label,size,\"note, quoted\"\nblue,no,9,8\nred,yes,NA,1\n";
    const char *names[6];
    nb_csv_opts o = {0};
    nb_tabular_csv_opts(&t, 1, 1, &o, names);
    CHECK(o.num_columns == 3 && o.num_categorical == 1 && o.allow_missing && o.label_name);
    CHECK_OK(nb_csv_parse(later2, strlen(later2), "later", &o, &c));
    CHECK_OK(nb_tabular_encode(&t, &c, &x));
    const float want2[2][5] = {{9, 1, 0, 0, 8}, {2.5f, 0, 0, 1, 1}};
    CHECK(x && !memcmp(x, want2, sizeof want2));
    nb_free(x);
    nb_csv_free(&c);
    const char *unknown = "size,colour,\"note, quoted\",label\n1,red,2,no\n3,purple,4,yes\n";
    CHECK_OK(nb_csv_parse(unknown, strlen(unknown), "unknown", &o, &c));
    CHECK_ERR(nb_tabular_encode(&t, &c, &x), NB_ERR_FORMAT,
              "row 2, column 'colour': the category 'purple' is not one the model was trained on "
              "(it knows 3: blue, green, red)");
    CHECK(x == NULL);
    nb_csv_free(&c);
    const char *missing_col = "size,colour,label\n1,red,no\n";
    CHECK_ERR(nb_csv_parse(missing_col, strlen(missing_col), "nocol", &o, &c), NB_ERR_ARG,
              "no column is named 'note, quoted'");
    nb_tabular_free(&t);

    /* a model that fills nothing refuses a missing value in a later file */
    read_mixed(&c);
    CHECK_OK(nb_tabular_fit(&t, &c, NULL));
    CHECK_ERR(nb_tabular_encode(&t, &c, &x), NB_ERR_FORMAT,
              "row 3, column 'size': a missing value, and the model fills none");
    nb_tabular_free(&t);
    /* mean and zero */
    CHECK_OK(nb_tabular_fit(&t, &c, &(nb_tabular_opts){.missing = NB_MISSING_MEAN}));
    CHECK(t.columns[0].fill == 3.0f && t.columns[2].fill == 4.75f);
    nb_tabular_free(&t);
    CHECK_OK(nb_tabular_fit(&t, &c, &(nb_tabular_opts){.missing = NB_MISSING_ZERO}));
    CHECK(t.columns[0].fill == 0.0f);
    /* a copy is the same description */
    nb_tabular t2;
    CHECK_OK(nb_tabular_copy(&t2, &t));
    CHECK(t2.features == 5 && !strcmp(t2.columns[1].categories[1], "green") &&
          t2.columns[1].name != t.columns[1].name);
    nb_tabular_free(&t2);
    nb_tabular_free(&t);
    nb_csv_free(&c);
}

static void test_tabular_regression(void) {
    const char *ys[] = {"y1", "y2", "y3"};
    nb_csv c;
    CHECK_OK(nb_csv_read(D "multi_target.csv",
                         &(nb_csv_opts){.label_names = ys, .num_labels = 3, .label_is_target = 1},
                         &c));
    nb_tabular t;
    CHECK_OK(nb_tabular_fit(&t, &c, &(nb_tabular_opts){.standardize_targets = 1}));
    CHECK(t.task == NB_TASK_REGRESSION && t.num_targets == 3 && !strcmp(t.targets[2], "y3"));
    /* y1 = 1..4: mean 2.5, population std sqrt(1.25) */
    CHECK(t.target_norm.kind == NB_NORM_STANDARD && t.target_norm.n == 3);
    CHECK_CLOSE(t.target_norm.shift[0], 2.5, 0, 1e-7);
    CHECK_CLOSE(t.target_norm.div[0], sqrt(1.25), 0, 1e-6);
    CHECK_CLOSE(t.target_norm.div[2], 100 * sqrt(1.25), 0, 1e-6);
    nb_dataset *ds;
    CHECK_OK(nb_tabular_dataset(&t, &c, 0, &ds));
    nb_dataset_info di;
    nb_dataset_get_info(ds, &di);
    CHECK(di.y_dtype == NB_F32 && di.y_dim == 3 && di.n == 4);
    /* the loader standardises the targets; nb_norm_invert takes them back */
    nb_loader *ld;
    CHECK_OK(
        nb_loader_new(ds, &(nb_loader_opts){.batch_size = 4, .target_norm = &t.target_norm}, &ld));
    nb_batch b;
    CHECK_OK(nb_loader_epoch(ld, NULL));
    CHECK_OK(nb_loader_next(ld, NULL, &b));
    float y[12];
    memcpy(y, nb_f32(b.y), sizeof y);
    double mean = 0;
    for (int i = 0; i < 4; i++) mean += y[3 * i + 1];
    CHECK_CLOSE(mean, 0, 1e-6, 0);
    CHECK_OK(nb_norm_invert(&t.target_norm, y, 4, 3));
    CHECK_CLOSE(y[3 * 3 + 2], 400, 1e-4, 0);
    nb_loader_free(ld);
    /* the same parameters from the dataset */
    nb_norm n2;
    CHECK_OK(nb_norm_fit_targets(&n2, ds, NB_NORM_STANDARD, 1));
    CHECK(n2.n == 3);
    CHECK_CLOSE(n2.div[1], t.target_norm.div[1], 0, 1e-6);
    nb_norm_free(&n2);
    nb_dataset_free(ds);
    nb_tabular_free(&t);
    /* multilabel wants 0/1 */
    CHECK_ERR(nb_tabular_fit(&t, &c, &(nb_tabular_opts){.task = NB_TASK_MULTILABEL}), NB_ERR_FORMAT,
              "row 1, label column 'y2' holds 10; a multilabel task needs 0 or 1");
    CHECK_ERR(nb_tabular_fit(&t, &c, &(nb_tabular_opts){.task = NB_TASK_CLASSIFICATION}),
              NB_ERR_ARG, "a classification needs a column of class labels");
    nb_csv_free(&c);
    CHECK(nb_task_from_name("regression") == NB_TASK_REGRESSION && nb_task_from_name("x") < 0);
    CHECK(!strcmp(nb_missing_name(NB_MISSING_MEDIAN), "median"));
}

/* ---- splits -------------------------------------------------------------------------------- */

static void test_stratified_split_and_folds(void) {
    /* 30 samples: classes 0 (20), 1 (7), 2 (3) */
    enum { N = 30 };
    float x[N];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = i < 20 ? 0 : i < 27 ? 1 : 2;
    }
    nb_array ax = {.type = NB_ELEM_F32, .rank = 2, .shape = {N, 1}, .numel = N, .data = x};
    nb_array ay = {.type = NB_ELEM_I32, .rank = 1, .shape = {N}, .numel = N, .data = y};
    nb_dataset *ds;
    CHECK_OK(nb_dataset_from_arrays(&ax, &ay, &ds));
    unsigned char held[N];
    CHECK_OK(nb_split_mask(N, y, 0.3, 7, held));
    int per[3] = {0}, total = 0;
    for (int i = 0; i < N; i++) {
        per[y[i]] += held[i];
        total += held[i];
    }
    /* 0.3 of 20, 7, 3 = 6, 2.1, 0.9: floors 6, 2, 0, one more to the largest remainder */
    CHECK_MSG(total == 9 && per[0] == 6 && per[1] == 2 && per[2] == 1, "%d: %d %d %d", total,
              per[0], per[1], per[2]);
    nb_dataset *tr, *te;
    CHECK_OK(nb_dataset_split_stratified(ds, 0.3, 7, &tr, &te));
    CHECK(nb_dataset_len(tr) == 21 && nb_dataset_len(te) == 9);
    nb_dataset_free(tr);
    nb_dataset_free(te);
    /* the same seed, the same split; another seed, another one */
    unsigned char again[N], other[N];
    CHECK_OK(nb_split_mask(N, y, 0.3, 7, again));
    CHECK_OK(nb_split_mask(N, y, 0.3, 8, other));
    CHECK(!memcmp(held, again, N) && memcmp(held, other, N));
    /* folds: every sample once, sizes 6 each, class 0 four per fold */
    int32_t fold[N];
    CHECK_OK(nb_fold_assign(N, y, 5, 3, fold));
    int size[5] = {0}, zero[5] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(fold[i] >= 0 && fold[i] < 5);
        size[fold[i]]++;
        zero[fold[i]] += y[i] == 0;
    }
    for (int k = 0; k < 5; k++)
        CHECK_MSG(size[k] == 6 && zero[k] == 4, "fold %d: %d, %d", k, size[k], zero[k]);
    int64_t covered = 0;
    for (int k = 0; k < 5; k++) {
        CHECK_OK(nb_dataset_fold(ds, 5, k, 3, 1, &tr, &te));
        CHECK(nb_dataset_len(tr) + nb_dataset_len(te) == N);
        covered += nb_dataset_len(te);
        nb_dataset_free(tr);
        nb_dataset_free(te);
    }
    CHECK(covered == N);
    CHECK_ERR(nb_dataset_fold(ds, 5, 5, 3, 1, &tr, &te), NB_ERR_ARG, "fold 5 of 5");
    CHECK_ERR(nb_fold_assign(3, NULL, 5, 1, fold), NB_ERR_ARG, "3 samples cannot make 5 folds");
    nb_dataset_free(ds);
}

/* ---- losses and metrics against PyTorch and scikit-learn (tests/ref/gen_tabular.py) -------- */

static const nbt_array *get(const nbt_fixture *fx, const char *name) {
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s missing", name);
    return a;
}

static void test_losses_vs_torch(void) {
    nbt_fixture *fx = nbt_fixture_load("tests/ref/tabular.txt");
    CHECK_PTR(fx);
    if (!fx) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    /* Huber, delta 1 */
    const nbt_array *hp = get(fx, "huber_pred"), *hy = get(fx, "huber_y");
    nb_tensor *p = nb_tensor_from(ctx, NB_F32, hp->data, 2, hp->shape);
    nb_tensor *y = nb_tensor_from(ctx, NB_F32, hy->data, 2, hy->shape);
    p = nb_tensor_clone(ctx, p);
    nb_tensor_set_requires_grad(p, 1);
    nb_tensor *l = nb_loss_apply(ctx, NB_LOSS_HUBER, p, y);
    CHECK_OK(nb_backward(ctx, l));
    if (l && p->grad) {
        CHECK_CLOSE(nb_item(l), get(fx, "huber_loss")->data[0], 1e-7, 1e-6);
        nbt_compare("huber grad", nb_f32(p->grad), get(fx, "huber_grad")->data, p->numel, 1e-7,
                    1e-5);
    }
    CHECK(nb_loss_from_name("huber") == NB_LOSS_HUBER &&
          !strcmp(nb_loss_name(NB_LOSS_HUBER), "huber"));
    nb_ctx_reset(ctx);
    /* cross-entropy with class weights */
    const nbt_array *z = get(fx, "wce_logits"), *lab = get(fx, "wce_labels"),
                    *w = get(fx, "wce_weight");
    int32_t labels[8];
    for (int i = 0; i < 8; i++) labels[i] = (int32_t)lab->data[i];
    nb_tensor *zt = nb_tensor_clone(ctx, nb_tensor_from(ctx, NB_F32, z->data, 2, z->shape));
    nb_tensor *lt = nb_tensor_from(ctx, NB_I32, labels, 1, (int64_t[]){8});
    nb_tensor_set_requires_grad(zt, 1);
    l = nb_loss_apply_weighted(ctx, NB_LOSS_CROSS_ENTROPY, zt, lt, w->data, 3);
    CHECK_OK(nb_backward(ctx, l));
    if (l && zt->grad) {
        CHECK_CLOSE(nb_item(l), get(fx, "wce_loss")->data[0], 1e-7, 1e-6);
        nbt_compare("weighted ce grad", nb_f32(zt->grad), get(fx, "wce_grad")->data, zt->numel,
                    1e-7, 1e-5);
    }
    nb_ctx_reset(ctx);
    /* a regression's loss takes no class weights; a label without one is an error */
    CHECK(nb_loss_apply_weighted(ctx, NB_LOSS_MSE, zt, zt, w->data, 3) == NULL);
    CHECK(has(nb_last_error(), "takes no class weights"));
    nb_ctx_reset(ctx);
    CHECK(nb_loss_apply_weighted(ctx, NB_LOSS_CROSS_ENTROPY, zt, lt, w->data, 2) == NULL);
    CHECK(has(nb_last_error(), "label 2 has no class weight"));
    nb_ctx_free(ctx);
    nbt_fixture_free(fx);
}

/* Feeds pred and y to a new accumulator in two batches (the split must not matter). */
static nb_metric_values measure(nb_loss_kind loss, unsigned which, int k, int64_t outputs,
                                const float *pred, int64_t n, int64_t d, const void *y,
                                nb_dtype ydt) {
    nb_metric_values v;
    nb_metrics *mt = nb_metrics_new_outputs(loss, which, k, 0, outputs);
    CHECK_PTR(mt);
    int64_t h = n / 3;
    for (int part = 0; mt && part < 2; part++) {
        int64_t a = part ? h : 0, b = part ? n : h;
        nb_tensor *pt =
            nb_tensor_from(NULL, NB_F32, (void *)(pred + a * d), 2, (int64_t[]){b - a, d});
        nb_tensor *yt =
            ydt == NB_I32
                ? nb_tensor_from(NULL, NB_I32, (int32_t *)y + a, 1, (int64_t[]){b - a})
                : nb_tensor_from(NULL, NB_F32, (float *)y + a * d, 2, (int64_t[]){b - a, d});
        CHECK_OK(nb_metrics_update(mt, pt, yt, NAN));
        nb_tensor_free(pt);
        nb_tensor_free(yt);
    }
    nb_metrics_result(mt, &v);
    nb_metrics_free(mt);
    return v;
}

static void test_metrics_vs_sklearn(void) {
    nbt_fixture *fx = nbt_fixture_load("tests/ref/tabular.txt");
    CHECK_PTR(fx);
    if (!fx) return;
    const double tol = 2e-6;
    /* regression: R², RMSE, MAE averaged over two outputs */
    const nbt_array *ry = get(fx, "reg_y"), *rp = get(fx, "reg_pred");
    nb_metric_values v = measure(NB_LOSS_MSE, NB_METRIC_R2 | NB_METRIC_RMSE | NB_METRIC_MAE, 0, 2,
                                 rp->data, 20, 2, ry->data, NB_F32);
    CHECK_CLOSE(v.r2, get(fx, "reg_r2")->data[0], tol, tol);
    CHECK_CLOSE(v.rmse, get(fx, "reg_rmse")->data[0], tol, tol);
    CHECK_CLOSE(v.mae, get(fx, "reg_mae")->data[0], tol, tol);
    CHECK(isnan(v.accuracy) && isnan(v.f1_macro));
    /* three classes */
    const nbt_array *mz = get(fx, "mc_logits"), *ml = get(fx, "mc_labels");
    int32_t lab[30];
    for (int i = 0; i < 30; i++) lab[i] = (int32_t)ml->data[i];
    v = measure(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY | NB_METRIC_F1 | NB_METRIC_ROC_AUC, 3, 0,
                mz->data, 30, 3, lab, NB_I32);
    const float *want = get(fx, "mc_metrics")->data;
    CHECK_CLOSE(v.accuracy, want[0], tol, tol);
    CHECK_CLOSE(v.precision_macro, want[1], tol, tol);
    CHECK_CLOSE(v.recall_macro, want[2], tol, tol);
    CHECK_CLOSE(v.f1_macro, want[3], tol, tol);
    CHECK_CLOSE(v.f1_micro, want[4], tol, tol);
    CHECK_CLOSE(v.roc_auc, want[5], tol, tol);
    CHECK(isnan(v.f1)); /* class 1's own only for two classes */
    /* the same through log-probabilities (nll) */
    float logp[90];
    for (int i = 0; i < 30; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < 3; j++) mx = fmax(mx, mz->data[3 * i + j]);
        for (int j = 0; j < 3; j++) sum += exp(mz->data[3 * i + j] - mx);
        for (int j = 0; j < 3; j++) logp[3 * i + j] = (float)(mz->data[3 * i + j] - mx - log(sum));
    }
    nb_metric_values v2 =
        measure(NB_LOSS_NLL, NB_METRIC_F1 | NB_METRIC_ROC_AUC, 3, 0, logp, 30, 3, lab, NB_I32);
    CHECK_CLOSE(v2.roc_auc, want[5], 1e-5, 1e-5);
    CHECK_CLOSE(v2.f1_macro, want[3], tol, tol);
    /* binary: one logit per sample */
    const nbt_array *bz = get(fx, "bin_logits"), *bl = get(fx, "bin_labels");
    v = measure(NB_LOSS_BCE_LOGITS, NB_METRIC_ACCURACY | NB_METRIC_F1 | NB_METRIC_ROC_AUC, 0, 1,
                bz->data, 25, 1, bl->data, NB_F32);
    want = get(fx, "bin_metrics")->data;
    CHECK_CLOSE(v.accuracy, want[0], tol, tol);
    CHECK_CLOSE(v.precision, want[1], tol, tol);
    CHECK_CLOSE(v.recall, want[2], tol, tol);
    CHECK_CLOSE(v.f1, want[3], tol, tol);
    CHECK_CLOSE(v.f1_macro, want[4], tol, tol);
    CHECK_CLOSE(v.f1_micro, want[5], tol, tol);
    CHECK_CLOSE(v.roc_auc, want[6], tol, tol);
    /* multilabel: three yes/no outputs */
    const nbt_array *lz = get(fx, "ml_logits"), *ll = get(fx, "ml_labels");
    v = measure(NB_LOSS_BCE_LOGITS, NB_METRIC_F1 | NB_METRIC_ROC_AUC, 0, 3, lz->data, 15, 3,
                ll->data, NB_F32);
    want = get(fx, "ml_metrics")->data;
    CHECK_CLOSE(v.precision_macro, want[0], tol, tol);
    CHECK_CLOSE(v.recall_macro, want[1], tol, tol);
    CHECK_CLOSE(v.f1_macro, want[2], tol, tol);
    CHECK_CLOSE(v.f1_micro, want[3], tol, tol);
    CHECK_CLOSE(v.roc_auc, get(fx, "ml_auc")->data[0], tol, tol);
    /* refusals: R² of a classifier, F1 of a regression, per-output sums of the wrong width */
    CHECK(nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_R2, 3, 0) == NULL);
    CHECK(nb_metrics_new(NB_LOSS_MSE, NB_METRIC_F1, 0, 0) == NULL);
    nb_metrics *mt = nb_metrics_new_outputs(NB_LOSS_MSE, NB_METRIC_R2, 0, 0, 3);
    nb_tensor *pt = nb_tensor_from(NULL, NB_F32, rp->data, 2, (int64_t[]){20, 2});
    CHECK(nb_metrics_update(mt, pt, pt, NAN) == NB_ERR_SHAPE && has(nb_last_error(), "3 outputs"));
    nb_tensor_free(pt);
    nb_metrics_free(mt);
    nbt_fixture_free(fx);
}

/* ---- the spec: data-line options, input auto; model files keep the table ------------------- */

static void test_spec_table_options(void) {
    const char *text = "nabla-spec 1\ndense 8 relu\ndense 2\nloss cross_entropy\n"
                       "data train=t.csv label=species task=classification test_split=0.25 "
                       "header=no delimiter=tab missing=median categorical=colour,size "
                       "class_weight=balanced normalize=standard normalize_targets=none\n";
    nb_spec *s = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), "t.spec", NULL, &s));
    if (!s) return;
    const nb_data_spec *d = &s->data;
    CHECK(s->has_input && s->input_auto && d->has_task && d->task == NB_TASK_CLASSIFICATION);
    CHECK(d->has_test_split && d->test_split == 0.25 && d->header == NB_CSV_HEADER_NO);
    CHECK(d->delimiter == '\t' && d->has_missing && d->missing == NB_MISSING_MEDIAN);
    CHECK(d->categorical && !strcmp(d->categorical, "colour,size") && d->class_weight == 1);
    CHECK(d->has_target_norm && d->target_norm == 0);
    CHECK(d->norm == NB_NORM_STANDARD && d->norm_per_feature == 1); /* per feature by default */
    /* the canonical text says it all again */
    char buf[1024];
    nb_spec_training_text(s, buf, sizeof buf);
    CHECK_MSG(has(buf, " normalize=standard task=classification test_split=0.25 header=no "
                       "delimiter=tab missing=median categorical=colour,size "
                       "class_weight=balanced normalize_targets=none"),
              "%s", buf);
    /* input auto: no model until the data's width is known; then every line is checked */
    nb_model *m = NULL;
    CHECK_ERR(nb_spec_build(s, &m), NB_ERR_ARG, "the input is 'input auto'");
    CHECK_OK(nb_spec_set_input_width(s, 5));
    CHECK_OK(nb_spec_build(s, &m));
    if (m) {
        char spec[256];
        nb_model_spec(m, spec, sizeof spec);
        CHECK_MSG(has(spec, "input 5\ndense 8 relu\n"), "%s", spec);
        nb_model_free(m);
    }
    nb_spec_free(s);
    const char *global = "nabla-spec 1\ninput auto\ndense 1\ndata normalize=minmax:global\n";
    CHECK_OK(nb_spec_parse(global, strlen(global), "g.spec", NULL, &s));
    if (s) {
        CHECK(s->input_auto && s->data.norm == NB_NORM_MINMAX && !s->data.norm_per_feature);
        nb_spec_training_text(s, buf, sizeof buf);
        CHECK(has(buf, "normalize=minmax:global"));
        nb_spec_free(s);
    }
    /* a shape error of an auto input is found at its line when the width comes */
    const char *conv = "nabla-spec 1\ninput auto\nconv2d 4 3\n";
    CHECK_OK(nb_spec_parse(conv, strlen(conv), "c.spec", NULL, &s));
    if (s) {
        CHECK_ERR(nb_spec_set_input_width(s, 7), NB_ERR_SHAPE, "c.spec:3:");
        CHECK_ERR(nb_spec_build(s, &m), NB_ERR_ARG, "input auto");
        nb_spec_free(s);
    }
    /* bad values are named at their column */
    const struct {
        const char *line, *msg;
    } bad[] = {
        {"data task=clustering\n", "t.spec:2:11: unknown task 'clustering' (expected "
                                   "classification, regression, multilabel)"},
        {"data delimiter=ab\n", "expected one character (or tab, comma, semicolon, pipe)"},
        {"data missing=drop\n", "unknown missing 'drop'"},
        {"data test_split=1\n", "test_split must be in [0, 1)"},
        {"data normalize=standard:per_row\n", "unknown normalisation 'standard:per_row'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[256];
        snprintf(t, sizeof t, "nabla-spec 1\n%s", bad[i].line);
        CHECK_ERR(nb_spec_parse(t, strlen(t), "t.spec", NULL, &s), NB_ERR_FORMAT, bad[i].msg);
    }
    CHECK(nb_loss_from_name("huber") == NB_LOSS_HUBER);
    const char *hub = "nabla-spec 1\ninput 2\ndense 1\nloss huber\n";
    CHECK_OK(nb_spec_parse(hub, strlen(hub), "h.spec", NULL, &s));
    nb_spec_free(s);
}

/* A copy of safetensors file src at dst with metadata `key` set to `value`. */
static bool rewrite_meta(const char *src, const char *dst, const char *key, const char *value) {
    nb_safetensors *st = NULL;
    if (nb_safetensors_read(src, &st) != NB_OK) return false;
    int n = nb_safetensors_count(st), nm = nb_safetensors_meta_count(st);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    nb_array *arrays = calloc((size_t)n + 1, sizeof *arrays);
    const char **meta = calloc(2 * (size_t)nm + 2, sizeof *meta);
    bool ok = names && arrays && meta;
    for (int i = 0; ok && i < n; i++) {
        names[i] = nb_safetensors_name(st, i);
        ok = nb_safetensors_get(st, i, &arrays[i]) == NB_OK;
    }
    for (int i = 0; ok && i < nm; i++) {
        meta[2 * i] = nb_safetensors_meta_key(st, i);
        meta[2 * i + 1] = strcmp(meta[2 * i], key) ? nb_safetensors_meta_value(st, i) : value;
    }
    ok = ok && nb_safetensors_write(dst, n, names, arrays, nm, meta) == NB_OK;
    for (int i = 0; arrays && i < n; i++) nb_array_free(&arrays[i]);
    free(names);
    free(arrays);
    free(meta);
    nb_safetensors_free(st);
    return ok;
}

static void test_model_file_table(void) {
    char dir[] = "/tmp/nabla-tab-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[64], data[96], path[96];
    snprintf(sub, sizeof sub, "%s/models", dir);
    snprintf(data, sizeof data, "%s/data.csv", dir);
    snprintf(path, sizeof path, "%s/m.safetensors", sub);
    CHECK(mkdir(sub, 0700) == 0);
    FILE *f = fopen(data, "w");
    if (f) {
        fputs("a,b\n1,2\n", f);
        fclose(f);
    }
    nb_csv c;
    read_mixed(&c);
    nb_tabular t;
    CHECK_OK(nb_tabular_fit(&t, &c, &(nb_tabular_opts){.missing = NB_MISSING_MEAN}));
    nb_csv_free(&c);
    char text[512];
    snprintf(text, sizeof text, "nabla-spec 1\ndense 2\nloss cross_entropy\ndata test=%s\n", data);
    nb_spec *s = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), "m.spec", NULL, &s));
    if (s) CHECK_OK(nb_spec_set_input_width(s, t.features));
    if (s) CHECK_OK(nb_spec_build(s, &m));
    if (!m) {
        nb_spec_free(s);
        nb_tabular_free(&t);
        return;
    }
    CHECK_OK(nb_model_save(m, path, &(nb_save_opts){.spec = s, .tabular = &t}));
    /* a table whose width is not the model's is refused before the file is written */
    nb_tabular wrong;
    CHECK_OK(nb_tabular_copy(&wrong, &t));
    wrong.columns[1].num_categories = 2;
    wrong.features = 4;
    CHECK_ERR(nb_model_save(m, path, &(nb_save_opts){.tabular = &wrong}), NB_ERR_ARG,
              "the table makes 4 features but the model takes 5");
    wrong.columns[1].num_categories = 3;
    nb_tabular_free(&wrong);
    /* loaded from another working directory: the table, and the data path found */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir("/") == 0);
    nb_model *back = NULL;
    nb_model_file info;
    CHECK_OK(nb_model_load(path, &back, &info));
    CHECK(chdir(cwd) == 0);
    if (back) {
        CHECK(info.has_tabular && info.tabular.features == 5 && info.tabular.named);
        CHECK(info.tabular.task == NB_TASK_CLASSIFICATION &&
              info.tabular.missing == NB_MISSING_MEAN);
        CHECK(info.tabular.columns && !strcmp(info.tabular.columns[2].name, "note, quoted"));
        CHECK(info.tabular.columns[1].num_categories == 3 &&
              !strcmp(info.tabular.columns[1].categories[2], "red"));
        CHECK(info.tabular.columns[0].fill == t.columns[0].fill);
        CHECK(!strcmp(info.tabular.targets[0], "label"));
        /* stored relative to the model's directory, resolved against it */
        CHECK_MSG(has(info.spec_text, "test=../data.csv"), "%s", info.spec_text);
        CHECK_MSG(info.spec->data.test && access(info.spec->data.test, F_OK) == 0, "%s",
                  info.spec->data.test ? info.spec->data.test : "(none)");
        nb_model_file_free(&info);
        nb_model_free(back);
    }
    /* a regression's targets and their normalisation */
    const char *ys[] = {"y1", "y2", "y3"};
    CHECK_OK(nb_csv_read(D "multi_target.csv",
                         &(nb_csv_opts){.label_names = ys, .num_labels = 3, .label_is_target = 1},
                         &c));
    nb_tabular tr;
    CHECK_OK(nb_tabular_fit(&tr, &c, &(nb_tabular_opts){.standardize_targets = 1}));
    nb_csv_free(&c);
    const char *rt = "nabla-spec 1\ninput 2\ndense 3\nloss mse\n";
    nb_spec *rs = NULL;
    nb_model *rm = NULL;
    CHECK_OK(nb_spec_parse(rt, strlen(rt), "r.spec", NULL, &rs));
    if (rs) CHECK_OK(nb_spec_build(rs, &rm));
    if (rm) {
        CHECK_OK(nb_model_save(rm, path, &(nb_save_opts){.spec = rs, .tabular = &tr}));
        CHECK_OK(nb_model_load(path, &back, &info));
        if (back) {
            CHECK(info.has_tabular && info.tabular.num_targets == 3 &&
                  info.tabular.target_norm.n == 3 && info.tabular.named == 1);
            CHECK(info.tabular.target_norm.div[2] == tr.target_norm.div[2]);
            nb_model_file_free(&info);
            nb_model_free(back);
        }
    }
    nb_model_free(rm);
    nb_spec_free(rs);
    nb_tabular_free(&tr);
    /* a model file's table is checked like the rest of it */
    static const struct {
        const char *key, *value, *msg;
    } bad[] = {
        {"nabla.columns", "[\"a\"", "expected ']'"},
        {"nabla.columns", "[\"a\",\"b\",\"c\"]",
         "the stored table makes 3 features, but the model takes 2"},
        {"nabla.task", "clustering", "metadata 'nabla.task' is malformed"},
        {"nabla.targets.div", "1,0,1", "the stored target normalisation is invalid"},
        {"nabla.targets", "[\"y1\"]", "a shift and a divisor per target"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char bp[128];
        snprintf(bp, sizeof bp, "%s/bad.safetensors", sub);
        if (!rewrite_meta(path, bp, bad[i].key, bad[i].value)) {
            CHECK_MSG(0, "cannot rewrite %s", bad[i].key);
            continue;
        }
        back = NULL;
        nb_status st = nb_model_load(bp, &back, &info);
        CHECK_MSG(st == NB_ERR_FORMAT && has(nb_last_error(), bad[i].msg), "%s: %s", bad[i].key,
                  nb_last_error());
        CHECK(back == NULL);
        unlink(bp);
    }
    unlink(path);
    unlink(data);
    rmdir(sub);
    rmdir(dir);
    nb_model_free(m);
    nb_spec_free(s);
    nb_tabular_free(&t);
}

static const nbt_case cases[] = {
    {"delimiters_detected", test_delimiters_detected},
    {"header_detection", test_header_detection},
    {"missing_and_categorical", test_missing_and_categorical},
    {"label_column_message", test_label_column_message},
    {"several_targets_and_columns", test_several_targets_and_columns},
    {"tabular_encode", test_tabular_encode},
    {"tabular_regression", test_tabular_regression},
    {"stratified_split_and_folds", test_stratified_split_and_folds},
    {"losses_vs_torch", test_losses_vs_torch},
    {"metrics_vs_sklearn", test_metrics_vs_sklearn},
    {"spec_table_options", test_spec_table_options},
    {"model_file_table", test_model_file_table},
};

NBT_MAIN(cases)
