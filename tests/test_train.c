/* tests/test_train.c — training: metrics on hand-made predictions, the monitor rule and early
 * stopping on a scripted metric sequence, progress output without a terminal, the CSV history
 * and its reader, the SVG plot, exact resume (4 epochs straight = 2 + copy through memory + 2,
 * bit for bit), no heap allocation in the steady state of an epoch, the digits classifier
 * (>= 95% test accuracy), and evaluate/predict shapes and errors. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "train/train.h" /* nbi_monitor_step */

#include <stdint.h>

static const char *DIGITS = "data/digits/digits.csv";

/* ---- a counting allocator ------------------------------------------------------------------ */

static long n_alloc, n_live;

static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    n_alloc++;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    n_live++;
    return p;
}

static void count_free(void *p, void *user) {
    (void)user;
    if (p) n_live--;
    free(p);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static char *slurp(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    return s;
}

static char *read_path(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    char *s = slurp(f);
    fclose(f);
    return s;
}

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static int count_str(const char *s, const char *sub) {
    int n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

/* The digits: all samples, and the fixed 80/20 split of examples/digits.c. */
static nb_dataset *digits_all(void) {
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_load_csv(DIGITS, NULL, &ds));
    return ds;
}

static nb_model *digits_model(uint64_t seed, int hidden) {
    nb_model *m = nb_model_new(NB_DIMS(64), seed);
    if (!m) return NULL;
    if (nb_model_dense(m, hidden, NB_ACT_RELU) != NB_OK ||
        nb_model_dense(m, 10, NB_ACT_NONE) != NB_OK) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

static nb_tensor *tensor_of(const float *v, int rank, const int64_t *shape) {
    return nb_tensor_copy_of(NULL, v, rank, shape);
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void test_metrics_classifier(void) {
    /* 5 samples, 4 classes. argmax: 1, 0, 3, 2 (tie of 2 and 3 -> the first, 2), 0 */
    const float logits[5 * 4] = {
        0.1f, 2.0f, 0.3f, -1.0f, /* label 1: right */
        3.0f, 2.5f, 0.0f, 0.0f,  /* label 1: wrong, 2nd */
        0.0f, 0.2f, 0.1f, 0.9f,  /* label 2: wrong, 3rd */
        0.0f, 0.0f, 1.0f, 1.0f,  /* label 3: tie with 2 which comes first: wrong, 2nd */
        5.0f, 1.0f, 1.0f, 1.0f,  /* label 0: right */
    };
    const int32_t labels[5] = {1, 1, 2, 3, 0};
    nb_tensor *p = tensor_of(logits, NB_DIMS(5, 4));
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, NB_DIMS(5));
    CHECK_PTR(p);
    CHECK_PTR(y);
    memcpy(y->data, labels, sizeof labels);
    nb_metrics *mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY,
                                    NB_METRIC_ACCURACY | NB_METRIC_TOP_K | NB_METRIC_MSE |
                                        NB_METRIC_MAE | NB_METRIC_CONFUSION,
                                    4, 2);
    CHECK_PTR(mt);
    CHECK_OK(nb_metrics_update(mt, p, y, 0.5));
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    CHECK(v.count == 5);
    CHECK_CLOSE(v.loss, 0.5, 1e-12, 0);
    CHECK_CLOSE(v.accuracy, 2.0 / 5.0, 1e-12, 0);
    CHECK_CLOSE(v.top_k, 4.0 / 5.0, 1e-12, 0); /* all but sample 3 are in the top 2 */
    /* MSE / MAE against one-hot rows, over all 20 elements */
    double se = 0, ae = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) {
            double d = (double)logits[i * 4 + j] - (j == labels[i]);
            se += d * d;
            ae += fabs(d);
        }
    CHECK_CLOSE(v.mse, se / 20, 1e-12, 1e-12);
    CHECK_CLOSE(v.mae, ae / 20, 1e-12, 1e-12);
    int k = 0;
    const int64_t *cm = nb_metrics_confusion(mt, &k);
    CHECK(cm && k == 4);
    const int64_t want[16] = {1, 0, 0, 0, /* true 0 */
                              1, 1, 0, 0, /* true 1 */
                              0, 0, 0, 1, /* true 2 */
                              0, 0, 1, 0};
    for (int i = 0; cm && i < 16; i++) CHECK_MSG(cm[i] == want[i], "cm[%d] = %lld", i, (long long)cm[i]);

    /* Batching does not change the result: the same samples in two batches, another loss. */
    nb_metrics_reset(mt);
    nb_tensor *p1 = tensor_of(logits, NB_DIMS(2, 4)), *p2 = tensor_of(logits + 8, NB_DIMS(3, 4));
    nb_tensor *y1 = nb_tensor_from(NULL, NB_I32, (void *)labels, NB_DIMS(2));
    nb_tensor *y2 = nb_tensor_from(NULL, NB_I32, (void *)(labels + 2), NB_DIMS(3));
    CHECK_OK(nb_metrics_update(mt, p1, y1, 1.0));
    CHECK_OK(nb_metrics_update(mt, p2, y2, 2.0));
    nb_metric_values w;
    nb_metrics_result(mt, &w);
    CHECK_CLOSE(w.loss, (2 * 1.0 + 3 * 2.0) / 5, 1e-12, 0);
    CHECK(w.accuracy == v.accuracy && w.top_k == v.top_k && w.mse == v.mse && w.mae == v.mae);

    /* the table: header, 4 rows, the totals with the accuracy */
    FILE *f = tmpfile();
    CHECK_OK(nb_confusion_print(cm, k, NULL, f));
    char *s = slurp(f);
    CHECK(count_char(s, '\n') == 7);
    CHECK(strstr(s, "40.0% accuracy") != NULL);
    CHECK(strstr(s, "recall") != NULL);
    free(s);
    fclose(f);

    /* errors: a label out of range, labels of the wrong length, a regression's target */
    int32_t bad[5] = {1, 1, 2, 4, 0};
    nb_tensor *yb = nb_tensor_from(NULL, NB_I32, bad, NB_DIMS(5));
    CHECK(nb_metrics_update(mt, p, yb, 0) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "label 4") != NULL);
    CHECK(nb_metrics_update(mt, p, y1, 0) == NB_ERR_SHAPE);
    CHECK(strstr(nb_last_error(), "f32[5,4]") != NULL);
    CHECK(nb_metrics_update(mt, p, p, 0) == NB_ERR_SHAPE);

    nb_tensor_free(yb);
    nb_tensor_free(p1);
    nb_tensor_free(p2);
    nb_tensor_free(y1);
    nb_tensor_free(y2);
    nb_metrics_free(mt);
    nb_tensor_free(p);
    nb_tensor_free(y);
}

static void test_metrics_binary_and_regression(void) {
    const float prob[6] = {0.9f, 0.2f, 0.6f, 0.4f, 0.5f, 0.7f};
    const float tgt[6] = {1, 0, 0, 1, 0, 1};
    nb_tensor *p = tensor_of(prob, NB_DIMS(6, 1)), *t = tensor_of(tgt, NB_DIMS(6, 1));
    nb_metrics *mt = nb_metrics_new(NB_LOSS_BCE, NB_METRIC_ACCURACY | NB_METRIC_CONFUSION |
                                                     NB_METRIC_MSE, 0, 0);
    CHECK_PTR(mt);
    CHECK_OK(nb_metrics_update(mt, p, t, NAN));
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    /* predicted 1 where p > 0.5: 1 0 1 0 0 1; right: yes yes no no yes yes */
    CHECK_CLOSE(v.accuracy, 4.0 / 6.0, 1e-12, 0);
    CHECK(isnan(v.loss) && isnan(v.top_k) && isnan(v.mae));
    double se = 0;
    for (int i = 0; i < 6; i++) se += ((double)prob[i] - tgt[i]) * ((double)prob[i] - tgt[i]);
    CHECK_CLOSE(v.mse, se / 6, 1e-12, 1e-12);
    int k;
    const int64_t *cm = nb_metrics_confusion(mt, &k);
    CHECK(cm && k == 2);
    if (cm) CHECK(cm[0] == 2 && cm[1] == 1 && cm[2] == 1 && cm[3] == 2);
    nb_metrics_free(mt);

    /* logits: the threshold is 0 */
    const float logit[3] = {0.1f, -0.1f, 0.0f};
    const float t3[3] = {1, 0, 1};
    nb_tensor *pl = tensor_of(logit, NB_DIMS(3)), *tl = tensor_of(t3, NB_DIMS(3));
    mt = nb_metrics_new(NB_LOSS_BCE_LOGITS, NB_METRIC_ACCURACY, 0, 0);
    CHECK_OK(nb_metrics_update(mt, pl, tl, 0.25));
    nb_metrics_result(mt, &v);
    CHECK_CLOSE(v.accuracy, 2.0 / 3.0, 1e-12, 0);
    CHECK_CLOSE(v.loss, 0.25, 1e-12, 0);
    nb_metrics_free(mt);

    /* regression: MSE and MAE; accuracy is refused with a reason */
    mt = nb_metrics_new(NB_LOSS_MSE, NB_METRIC_MSE | NB_METRIC_MAE, 0, 0);
    CHECK_OK(nb_metrics_update(mt, p, t, 0.1));
    nb_metrics_result(mt, &v);
    CHECK_CLOSE(v.mse, se / 6, 1e-12, 1e-12);
    double ae = 0;
    for (int i = 0; i < 6; i++) ae += fabs((double)prob[i] - tgt[i]);
    CHECK_CLOSE(v.mae, ae / 6, 1e-12, 1e-12);
    CHECK(isnan(v.accuracy));
    nb_metrics_free(mt);
    CHECK(nb_metrics_new(NB_LOSS_MSE, NB_METRIC_ACCURACY, 0, 0) == NULL);
    CHECK(strstr(nb_last_error(), "regression") != NULL);
    CHECK(nb_metrics_new(NB_LOSS_BCE, NB_METRIC_TOP_K, 0, 0) == NULL);
    CHECK(nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_CONFUSION, 0, 0) == NULL);

    nb_tensor_free(pl);
    nb_tensor_free(tl);
    nb_tensor_free(p);
    nb_tensor_free(t);
}

static void test_loss_names(void) {
    for (int k = 0; k < NB_LOSS_COUNT; k++) {
        const char *n = nb_loss_name((nb_loss_kind)k);
        CHECK_PTR(n);
        CHECK(nb_loss_from_name(n) == k);
    }
    CHECK(nb_loss_from_name("categorical_crossentropy") == NB_LOSS_CROSS_ENTROPY);
    CHECK(nb_loss_from_name("mean_squared_error") == NB_LOSS_MSE);
    CHECK(nb_loss_from_name("hinge") == -1);
    CHECK(nb_loss_name(NB_LOSS_COUNT) == NULL);
}

/* ---- the monitor rule and early stopping ---------------------------------------------------- */

static void test_monitor_rule(void) {
    /* min mode, min_delta 0.1 */
    const double seq[] = {1.0, 0.95, 0.85, 0.9, NAN, 0.7, 0.65};
    const int improved[] = {1, 0, 1, 0, 0, 1, 0};
    const int wait[] = {0, 1, 0, 1, 2, 0, 1};
    nb_train_state st;
    nb_train_state_init(&st, 1);
    for (int i = 0; i < 7; i++) {
        CHECK_MSG(nbi_monitor_step(&st, i + 1, seq[i], 0, 0.1) == improved[i], "epoch %d", i + 1);
        CHECK_MSG(st.wait == wait[i], "epoch %d: wait %lld", i + 1, (long long)st.wait);
    }
    CHECK(st.best == 0.7 && st.best_epoch == 6);
    /* max mode, no delta: equal is not better */
    nb_train_state_init(&st, 1);
    CHECK(nbi_monitor_step(&st, 1, 0.5, 1, 0) == 1);
    CHECK(nbi_monitor_step(&st, 2, 0.5, 1, 0) == 0);
    CHECK(nbi_monitor_step(&st, 3, 0.6, 1, 0) == 1);
    CHECK(nbi_monitor_step(&st, 4, 0.4, 1, 0) == 0);
    CHECK(st.best == 0.6 && st.best_epoch == 3 && st.wait == 1);
}

typedef struct ckpt_log {
    int calls;
    unsigned reason[16];
    int64_t epoch[16];
    float *params[16]; /* a copy of the parameters at each epoch */
    int64_t n;
} ckpt_log;

static nb_status record_ckpt(const nb_checkpoint_info *ci, void *user) {
    ckpt_log *cl = user;
    if (cl->calls >= 16) return nbi_error(NB_ERR_STATE, "too many checkpoints");
    int i = cl->calls++;
    cl->reason[i] = ci->reason;
    cl->epoch[i] = ci->state->epoch;
    cl->n = nb_params_numel(nb_model_params(ci->model));
    cl->params[i] = malloc(sizeof(float) * (size_t)cl->n);
    memcpy(cl->params[i], nb_params_data(nb_model_params(ci->model)), sizeof(float) * (size_t)cl->n);
    return NB_OK;
}

static int count_epochs(const nb_epoch_record *r, const nb_train_state *st, void *user) {
    (void)r;
    (void)st;
    (*(int *)user)++;
    return 0;
}

/* The monitored value scripted through the learning rate: a per-epoch multistep schedule
 * gives lr = 1, 1, 0.5, 0.5, 0.5, 0.25, ... for epochs 1, 2, ...; monitoring "lr" in max mode
 * sees its best at epoch 1 and nothing better after, so with patience 3 training stops at
 * epoch 4, and NB_RESTORE_BEST puts back epoch 1's weights. */
static void test_early_stopping(void) {
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.9, 3, &small, &rest)); /* 180 samples */
    nb_model *m = digits_model(5, 8);
    nb_optim *opt = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.01});
    nb_norm norm = {0};
    CHECK_OK(nb_norm_const(&norm, 0, 16));
    const int64_t ms[] = {2, 5};
    nb_schedule sch = nb_schedule_multistep(0.01, ms, 2, 0.5);
    ckpt_log cl = {0};
    int epochs_seen = 0;
    nb_train_state st = {0};
    nb_fit_opts fo = {0};
    fo.epochs = 10;
    fo.batch_size = 64;
    fo.norm = &norm;
    fo.schedule = &sch;
    fo.schedule_per_epoch = 1;
    fo.monitor = "lr";
    fo.mode = NB_MONITOR_MAX;
    fo.early_stopping = 1;
    fo.patience = 3;
    fo.restore = NB_RESTORE_BEST;
    fo.checkpoint = record_ckpt;
    fo.checkpoint_user = &cl;
    fo.checkpoint_every = 2;
    fo.checkpoint_best = 1;
    fo.on_epoch = count_epochs;
    fo.hook_user = &epochs_seen;
    fo.state = &st;
    fo.verbose = 2;
    FILE *pf = tmpfile();
    fo.progress = pf;
    fo.progress_mode = NB_PROGRESS_LINES;
    nb_history h = {0};
    CHECK_OK(nb_fit(m, opt, small, &fo, &h));
    fo.verbose = NB_VERBOSE_QUIET;
    /* verbose 2: a header, a line per epoch with "(best)" on improvement, the stop, the
     * restore */
    char *out = slurp(pf);
    fclose(pf);
    CHECK_MSG(strncmp(out, "training on 180 samples (3 batches of 64); sgd, loss cross_entropy, "
                      "610 parameters\nepoch 1/10 - ", 81) == 0, "%s", out);
    CHECK(count_str(out, "(best)") == 1 && count_char(out, '\n') == 7);
    CHECK(strstr(out, "\nearly stopping after epoch 4: lr has not improved by more than 0 for 3 "
                      "epochs; best 0.01 at epoch 1\nrestored the weights of epoch 1 (lr 0.01)\n"));
    free(out);
    CHECK_MSG(h.n == 4, "stopped after %d epochs, expected 4", h.n);
    CHECK(st.stopped == 1 && st.epoch == 4 && st.best_epoch == 1 && st.wait == 3);
    CHECK(epochs_seen == 4);
    CHECK(h.n >= 3 && h.rec[0].lr == 0.01 && h.rec[1].lr == 0.01 && h.rec[2].lr == 0.005);
    /* checkpoints: epoch 1 (best), 2 and 4 (periodic) */
    CHECK(cl.calls == 3);
    CHECK(cl.epoch[0] == 1 && cl.reason[0] == NB_CHECKPOINT_BEST);
    CHECK(cl.epoch[1] == 2 && cl.reason[1] == NB_CHECKPOINT_PERIODIC);
    CHECK(cl.epoch[2] == 4 && cl.reason[2] == NB_CHECKPOINT_PERIODIC);
    /* restored: the weights are epoch 1's, not epoch 4's */
    const float *p = nb_params_data(nb_model_params(m));
    CHECK(cl.calls >= 3 && memcmp(p, cl.params[0], sizeof(float) * (size_t)cl.n) == 0);
    CHECK(cl.calls >= 3 && memcmp(p, cl.params[2], sizeof(float) * (size_t)cl.n) != 0);

    /* a stopped run does not continue */
    fo.epochs = 12;
    CHECK_OK(nb_fit(m, opt, small, &fo, &h));
    CHECK(h.n == 4 && st.epoch == 4);

    /* monitor errors: not measured, needs validation, unknown */
    nb_train_state st2 = {0};
    fo.state = &st2;
    fo.monitor = "accuracy";
    CHECK(nb_fit(m, opt, small, &fo, NULL) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "not measured") != NULL);
    fo.monitor = "val_loss";
    CHECK(nb_fit(m, opt, small, &fo, NULL) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "validation") != NULL);
    fo.monitor = "speed";
    CHECK(nb_fit(m, opt, small, &fo, NULL) == NB_ERR_ARG);
    fo.monitor = NULL;
    fo.checkpoint = NULL;
    CHECK(nb_fit(m, opt, small, &fo, NULL) == NB_ERR_ARG);

    for (int i = 0; i < cl.calls; i++) free(cl.params[i]);
    nb_history_free(&h);
    nb_norm_free(&norm);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
}

/* ---- progress, CSV, SVG ------------------------------------------------------------------- */

/* A short run of the digits with validation, for the output tests. */
static nb_status short_run(FILE *progress, int verbose, nb_progress_mode mode, int64_t epochs,
                           const char *csv, const char *svg, nb_history *h) {
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    nb_dataset_split(all, 0.75, 3, &small, &rest); /* 449 samples */
    nb_model *m = digits_model(5, 16);
    nb_optim *opt = nb_adam_new(nb_model_params(m), NULL);
    nb_norm norm = {0};
    nb_norm_const(&norm, 0, 16);
    nb_fit_opts fo = {0};
    fo.epochs = epochs;
    fo.batch_size = 32;
    fo.metrics = NB_METRIC_ACCURACY | NB_METRIC_TOP_K;
    fo.top_k = 3;
    fo.norm = &norm;
    fo.val_split = 0.2;
    fo.seed = 11;
    fo.progress = progress;
    fo.verbose = verbose;
    fo.progress_mode = mode;
    fo.csv_path = csv;
    fo.svg_path = svg;
    nb_status s = nb_fit(m, opt, small, &fo, h);
    nb_norm_free(&norm);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
    return s;
}

static void test_progress_lines(void) {
    FILE *f = tmpfile();
    CHECK_OK(short_run(f, 1, NB_PROGRESS_AUTO, 3, NULL, NULL, NULL)); /* a file: lines */
    char *s = slurp(f);
    fclose(f);
    CHECK_MSG(count_char(s, '\n') == 3, "got:\n%s", s);
    CHECK(count_char(s, '\r') == 0);
    char *line = s;
    for (int e = 1; e <= 3; e++) {
        char want[32];
        snprintf(want, sizeof want, "epoch %d/3 - ", e);
        CHECK_MSG(strncmp(line, want, strlen(want)) == 0, "line %d: %s", e, line);
        char *end = strchr(line, '\n');
        if (!end) break;
        *end = 0;
        CHECK(strstr(line, "s - ") && strstr(line, " samples/s - loss "));
        CHECK(strstr(line, " - accuracy 0.") || strstr(line, " - accuracy 1."));
        CHECK(strstr(line, " - top3_accuracy ") && strstr(line, " - val_loss ") &&
              strstr(line, " - val_accuracy ") && strstr(line, " - val_top3_accuracy "));
        line = end + 1;
    }
    free(s);

    /* verbose 2 adds a header line and the learning rate */
    f = tmpfile();
    CHECK_OK(short_run(f, 2, NB_PROGRESS_LINES, 2, NULL, NULL, NULL));
    s = slurp(f);
    fclose(f);
    CHECK(count_char(s, '\n') == 3);
    CHECK(strncmp(s, "training on 359 samples (12 batches of 32), validating on 90 samples", 68) == 0);
    CHECK(count_str(s, " - lr 0.001 - ") == 2);
    free(s);

    /* quiet: nothing; a forced bar: redrawn with \r, one finished line per epoch */
    f = tmpfile();
    CHECK_OK(short_run(f, NB_VERBOSE_QUIET, NB_PROGRESS_AUTO, 1, NULL, NULL, NULL));
    CHECK(ftell(f) == 0);
    fclose(f);
    f = tmpfile();
    CHECK_OK(short_run(f, 1, NB_PROGRESS_BAR, 2, NULL, NULL, NULL));
    s = slurp(f);
    fclose(f);
    CHECK(count_char(s, '\r') >= 2 && count_char(s, '\n') == 2);
    CHECK(strstr(s, "[====================] 12/12") != NULL);
    free(s);
}

static void test_csv_history(void) {
    const char *path = "build/test_train_history.csv";
    nb_history h = {0};
    CHECK_OK(short_run(NULL, NB_VERBOSE_QUIET, NB_PROGRESS_AUTO, 3, path, NULL, &h));
    CHECK(h.n == 3);
    char *s = read_path(path);
    CHECK_PTR(s);
    if (!s) return;
    const char *hdr = "epoch,step,lr,seconds,samples_per_s,loss,accuracy,top3_accuracy,val_loss,"
                      "val_accuracy,val_top3_accuracy\n";
    CHECK_MSG(strncmp(s, hdr, strlen(hdr)) == 0, "header: %.120s", s);
    CHECK(count_char(s, '\n') == 4);
    CHECK(strncmp(s + strlen(hdr), "1,12,0.001,", 11) == 0);
    free(s);
    /* read back: the same numbers to 9 digits */
    nb_history r = {0};
    CHECK_OK(nb_history_read_csv(&r, path));
    CHECK(r.n == 3 && r.top_k == 3 &&
          r.metrics == (NB_METRIC_ACCURACY | NB_METRIC_TOP_K));
    for (int i = 0; i < r.n && i < h.n; i++) {
        CHECK(r.rec[i].epoch == h.rec[i].epoch && r.rec[i].step == h.rec[i].step);
        CHECK(r.rec[i].has_val);
        CHECK_CLOSE(r.rec[i].train.loss, h.rec[i].train.loss, 0, 1e-8);
        CHECK_CLOSE(r.rec[i].val.top_k, h.rec[i].val.top_k, 0, 1e-8);
        CHECK_CLOSE(r.rec[i].samples_per_s, h.rec[i].samples_per_s, 0, 1e-8);
    }
    double v;
    CHECK_OK(nb_record_value(&h.rec[2], "val_top3_accuracy", 3, &v));
    CHECK(v == h.rec[2].val.top_k);
    CHECK(nb_record_value(&h.rec[2], "val_top5_accuracy", 3, &v) == NB_ERR_ARG);

    /* malformed logs: the message gives line and column */
    static const struct {
        const char *text, *where;
    } bad[] = {
        {"", "empty"},
        {"step,epoch\n1,1\n", ":1:1:"},
        {"epoch,loss,speed\n", ":1:12:"},
        {"epoch,loss\n1,0.5\n2,zero\n", ":3:3:"},
        {"epoch,loss\n1,0.5,7\n", ":2:"},
        {"epoch,loss\n2,0.5\n1,0.4\n", ":3:1:"},
        {"epoch,loss,loss\n", "twice"},
        {"epoch,loss\n1.5,0.5\n", ":2:1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(nb_history_parse_csv(&r, bad[i].text, strlen(bad[i].text), "log.csv") ==
                      NB_ERR_FORMAT, "case %zu", i);
        CHECK_MSG(strstr(nb_last_error(), bad[i].where) != NULL, "case %zu: %s", i,
                  nb_last_error());
    }
    CHECK(r.n == 3); /* a failed read leaves the history as it was */
    const char *ok = "epoch,loss,val_loss\r\n1,0.5,\r\n2,0.25,0.3\r\n";
    CHECK_OK(nb_history_parse_csv(&r, ok, strlen(ok), "ok.csv"));
    CHECK(r.n == 2 && !r.rec[0].has_val && r.rec[1].has_val && r.rec[1].val.loss == 0.3);
    remove(path);
    nb_history_free(&r);
    nb_history_free(&h);
}

static void test_svg_plot(void) {
    const char *path = "build/test_train_plot.svg";
    nb_history h = {0};
    CHECK_OK(short_run(NULL, NB_VERBOSE_QUIET, NB_PROGRESS_AUTO, 3, NULL, path, &h));
    char *s = read_path(path);
    CHECK_PTR(s);
    if (!s) return;
    size_t n = strlen(s);
    CHECK(strncmp(s, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    CHECK(n > 7 && strcmp(s + n - 7, "</svg>\n") == 0);
    CHECK(count_str(s, "<polyline class=\"train\"") == 2); /* loss and accuracy */
    CHECK(count_str(s, "<polyline class=\"val\"") == 2);
    CHECK(count_str(s, "<svg") == 1 && count_str(s, "</g>") == count_str(s, "<g"));
    CHECK(strstr(s, ">epoch</text>") && strstr(s, ">validation</text>"));
    free(s);
    /* a title is escaped; no validation: no val curves; no accuracy: one panel */
    for (int i = 0; i < h.n; i++) {
        h.rec[i].has_val = 0;
        h.rec[i].train.accuracy = NAN;
    }
    CHECK_OK(nb_history_write_svg(&h, path, "loss <&> \"digits\""));
    s = read_path(path);
    CHECK(s && strstr(s, "loss &lt;&amp;&gt; &quot;digits&quot;"));
    CHECK(s && count_str(s, "<polyline") == 1 && !strstr(s, "class=\"val\""));
    CHECK(s && strstr(s, "width=\"480\""));
    free(s);
    remove(path);
    nb_history_free(&h);
}

/* ---- exact resume --------------------------------------------------------------------------- */

typedef struct run {
    nb_model *m;
    nb_optim *o;
} run;

static run make_run(uint64_t seed, int adam) {
    run r;
    r.m = digits_model(seed, 24);
    if (adam)
        r.o = nb_adam_new(nb_model_params(r.m), &(nb_adam_opts){.lr = 2e-3, .beta1 = 0.9,
                                                                 .beta2 = 0.999, .eps = 1e-8});
    else
        r.o = nb_sgd_new(nb_model_params(r.m), &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
    return r;
}

static void free_run(run *r) {
    nb_optim_free(r->o);
    nb_model_free(r->m);
}

/* 4 epochs straight against 2 epochs, then everything copied through memory into a fresh
 * model and optimizer (made with another seed, so nothing carries over by accident), then 2
 * more: the parameters must be the same bits. Shuffling, validation and a schedule (per step
 * with Adam, per epoch with SGD + momentum) all take part. */
static void resume_case(int adam) {
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.7, 3, &small, &rest)); /* 539 samples */
    nb_norm norm = {0};
    nb_norm_const(&norm, 0, 16);
    nb_schedule sch = adam ? nb_schedule_cosine(2e-3, 60, 1e-4) : nb_schedule_step(0.05, 1, 0.7);
    nb_fit_opts fo = {0};
    fo.batch_size = 40; /* a partial last batch */
    fo.metrics = NB_METRIC_ACCURACY;
    fo.norm = &norm;
    fo.val_split = 0.15;
    fo.seed = 99;
    fo.schedule = &sch;
    fo.schedule_per_epoch = !adam;
    fo.verbose = NB_VERBOSE_QUIET;

    run a = make_run(1, adam);
    nb_train_state sa = {0};
    fo.state = &sa;
    fo.epochs = 4;
    nb_history ha = {0};
    CHECK_OK(nb_fit(a.m, a.o, small, &fo, &ha));

    run b = make_run(1, adam);
    nb_train_state sb = {0};
    fo.state = &sb;
    fo.epochs = 2;
    const char *log = "build/test_train_resume.csv";
    fo.csv_path = log; /* the resumed run continues this log */
    CHECK_OK(nb_fit(b.m, b.o, small, &fo, NULL));
    CHECK(sb.epoch == 2 && sb.step == nb_optim_step_count(b.o));

    run c = make_run(777, adam);
    nb_params *pb = nb_model_params(b.m), *pc = nb_model_params(c.m);
    CHECK(nb_params_numel(pb) == nb_params_numel(pc));
    memcpy(nb_params_data(pc), nb_params_data(pb), sizeof(float) * (size_t)nb_params_numel(pb));
    /* the optimizer's state: every slot, copied through memory */
    CHECK(nb_optim_state_slots(c.o) == (adam ? 2 : 1) &&
          nb_optim_state_slots(b.o) == nb_optim_state_slots(c.o));
    CHECK(strcmp(nb_optim_state_name(c.o, 0), adam ? "exp_avg" : "momentum_buffer") == 0);
    for (int k = 0; k < nb_optim_state_slots(b.o); k++) {
        int64_t nb_ = 0, nc_ = 0;
        float *from = nb_optim_state_buffer(b.o, k, &nb_);
        float *to = nb_optim_state_buffer(c.o, k, &nc_);
        CHECK(from && to && nb_ == nc_ && nb_ == nb_params_numel(pb));
        if (from && to && nb_ == nc_) memcpy(to, from, sizeof(float) * (size_t)nb_);
    }
    nb_train_state sc = sb; /* a plain struct: what a checkpoint would store */
    fo.state = &sc;
    fo.epochs = 4;
    /* the optimizer's step count is part of its state: without it, fit refuses */
    CHECK(nb_fit(c.m, c.o, small, &fo, NULL) == NB_ERR_STATE);
    CHECK(strstr(nb_last_error(), "nb_optim_set_step_count") != NULL);
    CHECK_OK(nb_optim_set_step_count(c.o, nb_optim_step_count(b.o)));
    nb_history hc = {0};
    CHECK_OK(nb_fit(c.m, c.o, small, &fo, &hc));

    const int64_t n = nb_params_numel(pc);
    CHECK_MSG(memcmp(nb_params_data(pc), nb_params_data(nb_model_params(a.m)),
                     sizeof(float) * (size_t)n) == 0, "resumed parameters differ (%s)",
              adam ? "adam" : "sgd");
    for (int k = 0; k < nb_optim_state_slots(a.o); k++) {
        int64_t na_;
        const float *sa_ = nb_optim_state_buffer(a.o, k, &na_);
        CHECK(memcmp(nb_optim_state_buffer(c.o, k, NULL), sa_, sizeof(float) * (size_t)na_) == 0);
    }
    CHECK(sc.epoch == 4 && sc.step == sa.step);
    CHECK(memcmp(&sc.shuffle_rng, &sa.shuffle_rng, sizeof sa.shuffle_rng) == 0);
    /* hc was empty: fit read epochs 1-2 back from the CSV log and appended 3-4 */
    CHECK(hc.n == 4 && ha.n == 4);
    for (int i = 2; i < 4 && hc.n == 4 && ha.n == 4; i++) {
        CHECK(hc.rec[i].epoch == ha.rec[i].epoch);
        CHECK(hc.rec[i].train.loss == ha.rec[i].train.loss);
        CHECK(hc.rec[i].val.loss == ha.rec[i].val.loss);
        CHECK(hc.rec[i].lr == ha.rec[i].lr);
    }
    /* the log holds all four epochs, the first two read back from the interrupted run's */
    nb_history hl = {0};
    CHECK_OK(nb_history_read_csv(&hl, log));
    CHECK(hl.n == 4);
    for (int i = 0; i < hl.n && ha.n == 4; i++) {
        CHECK(hl.rec[i].epoch == i + 1 && hl.rec[i].step == ha.rec[i].step);
        CHECK_CLOSE(hl.rec[i].val.loss, ha.rec[i].val.loss, 0, 1e-8);
    }
    nb_history_free(&hl);
    remove(log);
    /* and the parameters did move in the last two epochs */
    CHECK(memcmp(nb_params_data(pc), nb_params_data(pb), sizeof(float) * (size_t)n) != 0);

    nb_history_free(&ha);
    nb_history_free(&hc);
    free_run(&a);
    free_run(&b);
    free_run(&c);
    nb_norm_free(&norm);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
}

static void test_resume_bit_identical(void) {
    resume_case(1);
    resume_case(0);
}

/* A state from outside is checked before fit runs from it (issue 16: epoch 2^63 − 1
 * overflowed the loop, a step count at INT64_MAX overflowed Adam's t). */
static void test_state_checked(void) {
    nb_train_state st;
    nb_train_state_init(&st, 3);
    CHECK_OK(nb_train_state_check(&st));
    CHECK(st.version == NB_TRAIN_STATE_VERSION && st.epoch == 0 && isnan(st.best));
    static const struct {
        int field;
        int64_t v;
        const char *msg;
    } bad[] = {
        {0, INT64_MAX, "epoch 9223372036854775807 is out of range [0, 1073741824]"},
        {0, -1, "epoch -1"},
        {1, INT64_MAX, "step 9223372036854775807 is out of range [0, 9007199254740992]"},
        {2, 1, "best_epoch 1 is out of range [0, 0]"},
        {3, -2, "wait -2"},
        {4, 2, "stopped must be 0 or 1"},
        {5, 7, "version 7"},
        {6, 0, "all zero"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nb_train_state b = st;
        switch (bad[i].field) {
        case 0:
            b.epoch = bad[i].v;
            break;
        case 1:
            b.step = bad[i].v;
            break;
        case 2:
            b.best_epoch = bad[i].v;
            break;
        case 3:
            b.wait = bad[i].v;
            break;
        case 4:
            b.stopped = (int)bad[i].v;
            break;
        case 5:
            b.version = (int)bad[i].v;
            break;
        default:
            memset(&b.dropout_rng, 0, sizeof b.dropout_rng);
            break;
        }
        CHECK(nb_train_state_check(&b) == NB_ERR_ARG);
        CHECK_MSG(strstr(nb_last_error(), bad[i].msg) != NULL, "case %zu: %s", i, nb_last_error());
    }
    CHECK(nb_train_state_check(NULL) == NB_ERR_ARG);

    /* fit refuses such a state before touching the model */
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.9, 3, &small, &rest));
    nb_model *m = digits_model(5, 8);
    nb_optim *opt = nb_adam_new(nb_model_params(m), NULL);
    const int64_t n = nb_params_numel(nb_model_params(m));
    float *before = malloc(sizeof(float) * (size_t)n);
    memcpy(before, nb_params_data(nb_model_params(m)), sizeof(float) * (size_t)n);
    nb_train_state huge = st;
    huge.epoch = INT64_MAX;
    nb_history h = {0};
    CHECK(nb_fit(m, opt, small, &(nb_fit_opts){.epochs = 3, .state = &huge}, &h) == NB_ERR_ARG);
    CHECK_MSG(strstr(nb_last_error(), "nb_fit: training state: epoch 9223372036854775807"), "%s",
              nb_last_error());
    CHECK(h.n == 0 && nb_optim_step_count(opt) == 0);
    CHECK(!memcmp(before, nb_params_data(nb_model_params(m)), sizeof(float) * (size_t)n));
    CHECK(nb_fit(m, opt, small, &(nb_fit_opts){.epochs = INT64_MAX}, NULL) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "epochs") != NULL);

    /* the optimizer's own counter: set to its limit, it refuses to step past it */
    CHECK(nb_optim_set_step_count(opt, INT64_MAX) == NB_ERR_ARG);
    CHECK(nb_optim_set_step_count(opt, NB_OPTIM_MAX_STEPS + 1) == NB_ERR_ARG);
    CHECK_OK(nb_optim_set_step_count(opt, NB_OPTIM_MAX_STEPS));
    CHECK(nb_optim_step(opt) == NB_ERR_STATE);
    CHECK(strstr(nb_last_error(), "the most an optimizer takes") != NULL);
    CHECK(!memcmp(before, nb_params_data(nb_model_params(m)), sizeof(float) * (size_t)n));
    CHECK_OK(nb_optim_set_step_count(opt, NB_OPTIM_MAX_STEPS - 1));
    CHECK_OK(nb_optim_step(opt)); /* the last one: finite weights */
    const float *p = nb_params_data(nb_model_params(m));
    int finite = 1;
    for (int64_t i = 0; i < n; i++) finite &= isfinite(p[i]) != 0;
    CHECK(finite);

    free(before);
    nb_history_free(&h);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
}

/* ---- the step, the gradient hook, clipping ------------------------------------------------- */

static bool same_params(nb_model *a, nb_model *b) {
    nb_params *pa = nb_model_params(a), *pb = nb_model_params(b);
    return nb_params_numel(pa) == nb_params_numel(pb) &&
           !memcmp(nb_params_data(pa), nb_params_data(pb),
                   sizeof(float) * (size_t)nb_params_numel(pa));
}

typedef struct hook_log {
    int calls;
    int64_t last_step, last_batch, last_epoch, last_size;
    double last_loss;
    float scale;        /* gradients *= scale */
    float clamp;        /* > 0: clamp to [-clamp, clamp] */
    int fail_at;        /* > 0: fail on this call */
    int nan_at;         /* > 0: put a NaN in the gradients on this call */
    bool grads_nonzero; /* every call saw gradients that backward had filled */
} hook_log;

static nb_status grad_hook(const nb_grad_info *g, void *user) {
    hook_log *hl = user;
    hl->calls++;
    hl->last_step = g->step;
    hl->last_batch = g->batch;
    hl->last_epoch = g->epoch;
    hl->last_size = g->size;
    hl->last_loss = g->loss;
    float *gr = nb_params_grad(g->params);
    const int64_t n = nb_params_numel(g->params);
    bool any = false;
    for (int64_t i = 0; i < n; i++) any |= gr[i] != 0.0f;
    if (!any) hl->grads_nonzero = false;
    if (hl->fail_at && hl->calls == hl->fail_at)
        return nbi_error(NB_ERR_IO, "all-reduce failed (scripted)");
    for (int64_t i = 0; i < n; i++) {
        gr[i] = gr[i] * hl->scale;
        if (hl->clamp > 0 && gr[i] > hl->clamp) gr[i] = hl->clamp;
        if (hl->clamp > 0 && gr[i] < -hl->clamp) gr[i] = -hl->clamp;
    }
    if (hl->nan_at && hl->calls == hl->nan_at) gr[n - 1] = NAN;
    return NB_OK;
}

static int log_batch(const nb_batch_info *b, void *user) {
    hook_log *hl = user;
    /* the hook ran for this batch, before its update: it saw the step count before it */
    CHECK(hl->last_step == b->step - 1 && hl->last_batch == b->batch &&
          hl->last_epoch == b->epoch && hl->last_size == b->size && hl->last_loss == b->loss);
    return 0;
}

/* nb_fit is a driver over nb_train_step: a loop of steps over the same batches gives the
 * same bits. The gradient hook runs between backward and the update, and what it does to the
 * gradients is what the update uses: halving them is halving SGD's rate (exactly: a power of
 * two), clamping them is clip_grad_value. */
static void test_step_and_hook(void) {
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.9, 3, &small, &rest)); /* 180 samples */
    nb_norm norm = {0};
    nb_norm_const(&norm, 0, 16);

    /* fit (no shuffle) against a loop of nb_train_step */
    nb_model *a = digits_model(9, 12), *b = digits_model(9, 12);
    nb_optim *oa = nb_adam_new(nb_model_params(a), &(nb_adam_opts){.lr = 1e-2});
    nb_optim *ob = nb_adam_new(nb_model_params(b), &(nb_adam_opts){.lr = 1e-2});
    CHECK_OK(nb_fit(a, oa, small,
                    &(nb_fit_opts){.epochs = 2, .batch_size = 50, .no_shuffle = 1, .norm = &norm},
                    NULL));
    nb_loader *ld = NULL;
    CHECK_OK(nb_loader_new(small, &(nb_loader_opts){.batch_size = 50, .norm = &norm}, &ld));
    nb_ctx *ctx = nb_ctx_new(NULL);
    int steps = 0;
    for (int e = 0; e < 2 && ld; e++) {
        CHECK_OK(nb_loader_epoch(ld, NULL));
        nb_batch bt;
        while (nb_loader_next(ld, NULL, &bt) == NB_OK && bt.size > 0) {
            nb_ctx_reset(ctx);
            nb_step_result res;
            CHECK_OK(nb_train_step(b, ob, ctx, nb_reshape(ctx, bt.x, NB_DIMS(bt.size, 64)), bt.y,
                                   NULL, &res));
            CHECK(res.lr == 1e-2 && res.loss > 0 && isnan(res.grad_norm) && res.out &&
                  res.out->shape[1] == 10);
            steps++;
        }
    }
    CHECK(steps == 8 && nb_optim_step_count(ob) == 8 && nb_optim_step_count(oa) == 8);
    CHECK_MSG(same_params(a, b), "a loop of nb_train_step differs from nb_fit");
    nb_loader_free(ld);
    nb_optim_free(oa);
    nb_optim_free(ob);
    nb_model_free(a);
    nb_model_free(b);

    /* the hook: halving the gradients = halving plain SGD's rate, bit for bit */
    a = digits_model(9, 12);
    b = digits_model(9, 12);
    oa = nb_sgd_new(nb_model_params(a), &(nb_sgd_opts){.lr = 0.5});
    ob = nb_sgd_new(nb_model_params(b), &(nb_sgd_opts){.lr = 0.25});
    hook_log hl = {.scale = 0.5f, .grads_nonzero = true};
    nb_fit_opts fo = {.epochs = 2, .batch_size = 64, .norm = &norm, .seed = 4};
    CHECK_OK(nb_fit(b, ob, small, &fo, NULL));
    fo.on_grad = grad_hook;
    fo.on_batch = log_batch;
    fo.hook_user = &hl;
    CHECK_OK(nb_fit(a, oa, small, &fo, NULL));
    CHECK(hl.calls == 6 && hl.grads_nonzero); /* 3 batches of 180, 2 epochs */
    CHECK_MSG(same_params(a, b), "scaling the gradients in the hook is not scaling the rate");

    /* clip_grad_value is the same as clamping in the hook */
    nb_model_free(a);
    nb_model_free(b);
    nb_optim_free(oa);
    nb_optim_free(ob);
    a = digits_model(9, 12);
    b = digits_model(9, 12);
    oa = nb_sgd_new(nb_model_params(a), &(nb_sgd_opts){.lr = 0.5});
    ob = nb_sgd_new(nb_model_params(b), &(nb_sgd_opts){.lr = 0.5});
    hl = (hook_log){.scale = 1.0f, .clamp = 1e-3f, .grads_nonzero = true};
    fo = (nb_fit_opts){.epochs = 1, .norm = &norm, .seed = 4, .clip_grad_value = 1e-3f};
    CHECK_OK(nb_fit(b, ob, small, &fo, NULL));
    fo = (nb_fit_opts){
        .epochs = 1, .norm = &norm, .seed = 4, .on_grad = grad_hook, .hook_user = &hl};
    CHECK_OK(nb_fit(a, oa, small, &fo, NULL));
    CHECK(hl.calls == 6);
    CHECK_MSG(same_params(a, b), "clip_grad_value differs from clamping in the hook");

    /* clip_grad_norm in a step: the update moves the parameters by at most lr · max_norm */
    nb_params *ps = nb_model_params(a);
    const int64_t n = nb_params_numel(ps);
    float *before = malloc(sizeof(float) * (size_t)n);
    memcpy(before, nb_params_data(ps), sizeof(float) * (size_t)n);
    nb_ctx_reset(ctx);
    float xs[3 * 64];
    for (int i = 0; i < 3 * 64; i++) xs[i] = (float)(i % 17) / 4.0f;
    int32_t ys[3] = {1, 7, 3};
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(3, 64));
    nb_tensor *y = nb_tensor_from(ctx, NB_I32, ys, NB_DIMS(3));
    nb_step_result res;
    CHECK_OK(nb_train_step(a, oa, ctx, x, y, &(nb_step_opts){.clip_grad_norm = 1e-3f}, &res));
    double d2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)nb_params_data(ps)[i] - before[i];
        d2 += d * d;
    }
    CHECK_MSG(res.grad_norm > 1e-3f && sqrt(d2) <= 0.5 * 1e-3 * (1 + 1e-4) &&
                  sqrt(d2) > 0.5 * 1e-3 * 0.99,
              "norm %g, moved %g", (double)res.grad_norm, sqrt(d2));

    /* a hook's error ends the step before the update, and fit with it */
    memcpy(before, nb_params_data(ps), sizeof(float) * (size_t)n);
    const int64_t t = nb_optim_step_count(oa);
    hl = (hook_log){.scale = 1.0f, .fail_at = 1, .grads_nonzero = true};
    nb_ctx_reset(ctx);
    x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(3, 64));
    y = nb_tensor_from(ctx, NB_I32, ys, NB_DIMS(3));
    CHECK(nb_train_step(a, oa, ctx, x, y, &(nb_step_opts){.on_grad = grad_hook, .user = &hl},
                        NULL) == NB_ERR_IO);
    CHECK(nb_optim_step_count(oa) == t && !memcmp(before, nb_params_data(ps), sizeof(float) * n));
    hl = (hook_log){.scale = 1.0f, .fail_at = 2, .grads_nonzero = true};
    nb_history h = {0};
    CHECK(nb_fit(a, oa, small,
                 &(nb_fit_opts){.norm = &norm, .on_grad = grad_hook, .hook_user = &hl},
                 &h) == NB_ERR_IO);
    CHECK(strstr(nb_last_error(), "all-reduce failed") && h.n == 0 && hl.calls == 2);
    CHECK(nb_optim_step_count(oa) == t + 1);

    /* a NaN the hook puts in the gradients: refused before the update, the parameter named */
    memcpy(before, nb_params_data(ps), sizeof(float) * (size_t)n);
    hl = (hook_log){.scale = 1.0f, .nan_at = 1, .grads_nonzero = true};
    nb_ctx_reset(ctx);
    x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(3, 64));
    y = nb_tensor_from(ctx, NB_I32, ys, NB_DIMS(3));
    CHECK(nb_train_step(a, oa, ctx, x, y,
                        &(nb_step_opts){.on_grad = grad_hook, .user = &hl, .epoch = 7, .batch = 2},
                        NULL) == NB_ERR_NUMERIC);
    CHECK_MSG(strstr(nb_last_error(), "the gradient of step 9 (epoch 7, batch 3) is NaN at "
                                      "element 9 of 'dense_2.bias'"),
              "%s", nb_last_error());
    CHECK(!memcmp(before, nb_params_data(ps), sizeof(float) * n));
    /* bad options */
    CHECK(nb_train_step(a, oa, ctx, x, y, &(nb_step_opts){.clip_grad_norm = -1}, NULL) ==
          NB_ERR_ARG);
    CHECK(nb_train_step(NULL, oa, ctx, x, y, NULL, NULL) == NB_ERR_ARG);
    CHECK(nb_fit(a, oa, small, &(nb_fit_opts){.clip_grad_value = NAN}, NULL) == NB_ERR_ARG);

    free(before);
    nb_history_free(&h);
    nb_ctx_free(ctx);
    nb_optim_free(oa);
    nb_optim_free(ob);
    nb_model_free(a);
    nb_model_free(b);
    nb_norm_free(&norm);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
}

/* A zeroed nb_fit_opts and NULL are the same run: 1 epoch of batches of 32, cross-entropy,
 * and, given a stream, one progress line (verbose 0 is the default, 1). */
static void test_fit_zero_opts_are_defaults(void) {
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.9, 3, &small, &rest)); /* 180 samples */
    nb_model *a = digits_model(9, 12), *b = digits_model(9, 12);
    nb_optim *oa = nb_sgd_new(nb_model_params(a), &(nb_sgd_opts){.lr = 0.1});
    nb_optim *ob = nb_sgd_new(nb_model_params(b), &(nb_sgd_opts){.lr = 0.1});
    nb_history h = {0};
    CHECK_OK(nb_fit(a, oa, small, NULL, &h));
    CHECK(h.n == 1 && h.rec[0].step == 6 && !h.rec[0].has_val); /* ceil(180 / 32) */
    FILE *f = tmpfile();
    CHECK_OK(nb_fit(b, ob, small, &(nb_fit_opts){.progress = f}, NULL));
    char *s = slurp(f);
    fclose(f);
    CHECK_MSG(count_char(s, '\n') == 1 && !strncmp(s, "epoch 1/1 - ", 12), "%s", s);
    free(s);
    CHECK(same_params(a, b));
    nb_history_free(&h);
    nb_optim_free(oa);
    nb_optim_free(ob);
    nb_model_free(a);
    nb_model_free(b);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
}

/* ---- divergence ----------------------------------------------------------------------------
 * A linear regression with a rate far above 2/λmax: every step multiplies the error by about
 * −2000, so the loss overflows to Inf within a few steps (issue 12: --lr 1000 trained to NaN
 * and returned NB_OK). */

static nb_dataset *line_data(void) {
    float x[64 * 2], y[64];
    for (int i = 0; i < 64; i++) {
        x[2 * i] = (float)(i % 8) / 4.0f - 1.0f;
        x[2 * i + 1] = (float)(i / 8) / 4.0f - 1.0f;
        y[i] = 3.0f * x[2 * i] - 2.0f * x[2 * i + 1] + 0.5f;
    }
    nb_array ax = {.type = NB_ELEM_F32, .rank = 2, .shape = {64, 2}, .numel = 128, .data = x};
    nb_array ay = {.type = NB_ELEM_F32, .rank = 2, .shape = {64, 1}, .numel = 64, .data = y};
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&ax, &ay, &ds));
    return ds;
}

static void test_divergence(void) {
    nb_dataset *ds = line_data();
    for (int check = 0; check < 2; check++) {
        if (check) setenv("NB_CHECK", "1", 1);
        nb_model *m = nb_model_new(NB_DIMS(2), 1);
        CHECK_OK(nb_model_dense(m, 1, NB_ACT_NONE));
        /* a sane epoch first (a small rate), then the divergent one */
        nb_optim *o = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.01});
        ckpt_log cl = {0};
        nb_train_state st = {0};
        nb_history h = {0};
        const char *log = "build/test_train_diverge.csv";
        nb_fit_opts fo = {.epochs = 1,
                          .batch_size = 8,
                          .loss = NB_LOSS_MSE,
                          .state = &st,
                          .checkpoint = record_ckpt,
                          .checkpoint_user = &cl,
                          .checkpoint_every = 1,
                          .csv_path = log};
        CHECK_OK(nb_fit(m, o, ds, &fo, &h));
        CHECK(h.n == 1 && cl.calls == 1 && st.epoch == 1);
        char *log1 = read_path(log);
        CHECK_OK(nb_optim_set_lr(o, 1000.0));
        fo.epochs = 5;
        nb_status s = nb_fit(m, o, ds, &fo, &h);
        CHECK_MSG(s == NB_ERR_NUMERIC, "status %d: %s", (int)s, nb_last_error());
        const char *e = nb_last_error();
        CHECK_MSG(!strncmp(e, "nb_fit: training diverged", 25) && strstr(e, "epoch 2") &&
                      strstr(e, "step "),
                  "%s", e);
        if (check)
            CHECK_MSG(strstr(e, "check mode: op '") != NULL, "%s", e);
        else
            CHECK_MSG(strstr(e, "is +Inf") || strstr(e, "is NaN"), "%s", e);
        if (getenv("NB_VERBOSE")) printf("     %s\n", e);
        /* nothing of the diverged epoch: no record, no checkpoint, the log as it was */
        CHECK(h.n == 1 && cl.calls == 1 && st.epoch == 1);
        char *log2 = read_path(log);
        CHECK(log1 && log2 && !strcmp(log1, log2));
        free(log1);
        free(log2);
        remove(log);
        /* the checkpoint's weights (epoch 1) are finite; so are the model's, under check mode
         * or not, since a step that would make them otherwise is refused */
        const float *p = nb_params_data(nb_model_params(m));
        for (int i = 0; i < 3; i++) CHECK(isfinite(cl.params[0][i]) && isfinite(p[i]));
        for (int i = 0; i < cl.calls; i++) free(cl.params[i]);
        nb_history_free(&h);
        nb_optim_free(o);
        nb_model_free(m);
        if (check) unsetenv("NB_CHECK");
    }

    /* an update that overflows where the loss and gradients did not (one batch per epoch):
     * caught at the end of the epoch, before its record, log and checkpoint */
    {
        nb_model *m = nb_model_new(NB_DIMS(2), 1);
        CHECK_OK(nb_model_dense(m, 1, NB_ACT_NONE));
        nb_optim *o = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 3.4e38});
        ckpt_log cl = {0};
        nb_history h = {0};
        nb_status s = nb_fit(m, o, ds,
                             &(nb_fit_opts){.epochs = 2,
                                            .batch_size = 64,
                                            .loss = NB_LOSS_MSE,
                                            .checkpoint = record_ckpt,
                                            .checkpoint_user = &cl,
                                            .checkpoint_every = 1},
                             &h);
        CHECK(s == NB_ERR_NUMERIC && h.n == 0 && cl.calls == 0 && nb_optim_step_count(o) == 1);
        CHECK_MSG(strstr(nb_last_error(), "nb_fit: training diverged in epoch 1 (by step 1): "
                                          "parameter 'dense_1."),
                  "%s", nb_last_error());
        nb_history_free(&h);
        nb_optim_free(o);
        nb_model_free(m);
    }

    /* the step itself: a loss that is not finite stops before backward, parameters untouched */
    nb_model *m = nb_model_new(NB_DIMS(2), 1);
    CHECK_OK(nb_model_dense(m, 1, NB_ACT_NONE));
    nb_optim *o = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.1});
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.check = -1});
    float xs[2] = {1.0f, INFINITY}, ys[1] = {0.0f}, before[3];
    memcpy(before, nb_params_data(nb_model_params(m)), sizeof before);
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(1, 2));
    nb_tensor *y = nb_tensor_from(ctx, NB_F32, ys, NB_DIMS(1, 1));
    nb_step_result res;
    CHECK(nb_train_step(m, o, ctx, x, y, &(nb_step_opts){.loss = NB_LOSS_MSE}, &res) ==
          NB_ERR_NUMERIC);
    CHECK_MSG(strstr(nb_last_error(), "nb_train_step: the loss of step 1 is "), "%s",
              nb_last_error());
    CHECK(!isfinite(res.loss) && isnan(res.lr) && nb_optim_step_count(o) == 0);
    CHECK(!memcmp(before, nb_params_data(nb_model_params(m)), sizeof before));
    nb_ctx_free(ctx);
    nb_optim_free(o);
    nb_model_free(m);
    nb_dataset_free(ds);
}

/* Early stopping restores the best weights by default (Keras's restore_best_weights), and
 * NB_RESTORE_LAST keeps the last epoch's. Without early stopping the default keeps the last.
 * The monitored value is scripted as in test_early_stopping: best at epoch 1, stop at 4. */
static void restore_case(nb_restore_mode mode, int early, int want_epoch) {
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.9, 3, &small, &rest));
    nb_model *m = digits_model(5, 8);
    nb_optim *opt = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.01});
    nb_norm norm = {0};
    CHECK_OK(nb_norm_const(&norm, 0, 16));
    nb_schedule sch = nb_schedule_multistep(0.01, (const int64_t[]){2, 5}, 2, 0.5);
    ckpt_log cl = {0};
    nb_fit_opts fo = {.epochs = early ? 10 : 4,
                      .batch_size = 64,
                      .norm = &norm,
                      .schedule = &sch,
                      .schedule_per_epoch = 1,
                      .monitor = "lr",
                      .mode = NB_MONITOR_MAX,
                      .early_stopping = early,
                      .patience = 3,
                      .restore = mode,
                      .checkpoint = record_ckpt,
                      .checkpoint_user = &cl,
                      .checkpoint_every = 1};
    nb_train_state st = {0};
    fo.state = &st;
    nb_history h = {0};
    CHECK_OK(nb_fit(m, opt, small, &fo, &h));
    CHECK(h.n == 4 && cl.calls == 4);
    const float *p = nb_params_data(nb_model_params(m));
    for (int i = 0; i < cl.calls; i++)
        CHECK_MSG(!memcmp(p, cl.params[i], sizeof(float) * (size_t)cl.n) == (i + 1 == want_epoch),
                  "mode %d, early %d: the weights are%s epoch %d's", (int)mode, early,
                  i + 1 == want_epoch ? " not" : "", i + 1);
    if (early) {
        /* fit again on the stopped run: nothing happens, nothing is restored, one note */
        FILE *f = tmpfile();
        fo.progress = f;
        CHECK_OK(nb_fit(m, opt, small, &fo, &h));
        char *out = slurp(f);
        fclose(f);
        CHECK_MSG(!strcmp(out, "resuming after epoch 4 (step 12)\n"
                               "early stopping already ended this run at epoch 4\n"),
                  "[%s]", out);
        free(out);
        CHECK(h.n == 4 && cl.calls == 4 && st.epoch == 4);
        CHECK(!memcmp(p, cl.params[want_epoch - 1], sizeof(float) * (size_t)cl.n));
    }
    for (int i = 0; i < cl.calls; i++) free(cl.params[i]);
    nb_history_free(&h);
    nb_norm_free(&norm);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
}

static void test_restore_best_default(void) {
    restore_case(NB_RESTORE_AUTO, 1, 1);
    restore_case(NB_RESTORE_LAST, 1, 4);
    restore_case(NB_RESTORE_AUTO, 0, 4);
    restore_case(NB_RESTORE_BEST, 0, 1);
}

/* ---- no allocation in the steady state ----------------------------------------------------- */

typedef struct alloc_probe {
    long at_start, at_end;
    int64_t epochs;
} alloc_probe;

static int probe_batch(const nb_batch_info *b, void *user) {
    alloc_probe *p = user;
    if (b->epoch == 2 && b->batch == 0) p->at_start = n_alloc;
    if (b->epoch == p->epochs && b->batch == b->num_batches - 1) p->at_end = n_alloc;
    return 0;
}

static void no_alloc_case(int prefetch) {
    nb_set_allocator(&(nb_allocator){count_alloc, count_free, NULL});
    n_alloc = n_live = 0;
    nb_dataset *all = digits_all(), *small = NULL, *rest = NULL;
    CHECK_OK(nb_dataset_split(all, 0.8, 3, &small, &rest));
    nb_model *m = digits_model(2, 16);
    nb_optim *opt = nb_adam_new(nb_model_params(m), NULL);
    nb_norm norm = {0};
    nb_norm_const(&norm, 0, 16);
    alloc_probe p = {0, -1, 4};
    nb_fit_opts fo = {0};
    fo.epochs = p.epochs;
    fo.metrics = NB_METRIC_ACCURACY | NB_METRIC_TOP_K | NB_METRIC_MSE;
    fo.norm = &norm;
    fo.val_split = 0.2;
    fo.prefetch = prefetch;
    fo.on_batch = probe_batch;
    fo.hook_user = &p;
    fo.verbose = NB_VERBOSE_QUIET;
    nb_history h = {0};
    CHECK_OK(nb_fit(m, opt, small, &fo, &h));
    CHECK_MSG(p.at_end == p.at_start, "%ld allocations in epochs 2..4 (prefetch %d)",
              p.at_end - p.at_start, prefetch);
    nb_history_free(&h);
    nb_norm_free(&norm);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(small);
    nb_dataset_free(rest);
    nb_dataset_free(all);
    CHECK_MSG(n_live == 0, "%ld allocations not freed", n_live);
    nb_set_allocator(NULL);
}

static void test_no_alloc_in_epochs(void) {
    no_alloc_case(0);
    no_alloc_case(1);
}

/* ---- the digits classifier ------------------------------------------------------------------ */

static void test_digits_accuracy(void) {
    nb_dataset *all = digits_all(), *train = NULL, *test = NULL;
    CHECK_OK(nb_dataset_split(all, 0.2, 1, &train, &test));
    nb_model *m = digits_model(42, 64);
    nb_optim *opt = nb_adam_new(nb_model_params(m), NULL);
    nb_norm norm = {0};
    nb_norm_const(&norm, 0, 16);
    nb_schedule cos = nb_schedule_cosine(3e-3, 20, 1e-4);
    nb_fit_opts fo = {0};
    fo.epochs = 20;
    fo.norm = &norm;
    fo.seed = 7;
    fo.schedule = &cos;
    fo.schedule_per_epoch = 1;
    fo.verbose = NB_VERBOSE_QUIET;
    CHECK_OK(nb_fit(m, opt, train, &fo, NULL));
    nb_metrics *mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY | NB_METRIC_CONFUSION,
                                    10, 0);
    CHECK_OK(nb_evaluate(m, test, &(nb_eval_opts){.norm = &norm, .batch_size = 100}, mt));
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    CHECK(v.count == 359);
    CHECK_MSG(v.accuracy >= 0.95, "digits test accuracy %.4f < 0.95", v.accuracy);
    int k;
    const int64_t *cm = nb_metrics_confusion(mt, &k);
    int64_t tot = 0, diag = 0;
    for (int i = 0; cm && i < k * k; i++) tot += cm[i];
    for (int i = 0; cm && i < k; i++) diag += cm[i * k + i];
    CHECK(tot == 359 && (double)diag / (double)tot == v.accuracy);

    /* predict_dataset = predict on the same (normalised) inputs = what evaluate saw */
    nb_tensor *p1 = nb_predict_dataset(m, test, &norm, 50);
    CHECK_PTR(p1);
    nb_dataset_info info;
    nb_dataset_get_info(test, &info);
    nb_tensor *x = nb_tensor_new(NULL, NB_F32, NB_DIMS(359, 8, 8));
    int64_t idx[359];
    for (int i = 0; i < 359; i++) idx[i] = i;
    CHECK_OK(nb_dataset_gather(test, idx, 359, &norm, nb_f32(x), NULL));
    nb_tensor *p2 = nb_predict(m, x, 0);
    CHECK_PTR(p2);
    CHECK(p1 && p2 && p1->rank == 2 && p1->shape[0] == 359 && p1->shape[1] == 10 &&
          nb_tensor_same_shape(p1, p2));
    CHECK(p1 && p2 && memcmp(p1->data, p2->data, sizeof(float) * 3590) == 0);
    nb_tensor_free(p1);
    nb_tensor_free(p2);
    nb_tensor_free(x);
    nb_metrics_free(mt);
    nb_norm_free(&norm);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(train);
    nb_dataset_free(test);
    nb_dataset_free(all);
}

/* ---- evaluate / predict shapes and errors --------------------------------------------------- */

static void test_eval_predict_errors(void) {
    nb_model *m = digits_model(1, 8);
    /* predict: shapes, a strided input, batch sizes */
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_tensor *x = nb_randn(NULL, NB_DIMS(7, 64), 0, 1, &r);
    nb_tensor *y = nb_predict(m, x, 3);
    CHECK(y && y->rank == 2 && y->shape[0] == 7 && y->shape[1] == 10);
    nb_tensor *y1 = nb_predict(m, x, 100);
    CHECK(y && y1 && memcmp(y->data, y1->data, sizeof(float) * 70) == 0);
    nb_tensor_free(y1);
    /* a wrong width: the error names the first layer and both shapes */
    nb_tensor *x63 = nb_randn(NULL, NB_DIMS(7, 63), 0, 1, &r);
    CHECK(nb_predict(m, x63, 0) == NULL);
    CHECK_MSG(strstr(nb_last_error(), "dense_1") && strstr(nb_last_error(), "(64)") &&
              strstr(nb_last_error(), "63"), "%s", nb_last_error());
    nb_tensor *xi = nb_tensor_new(NULL, NB_I32, NB_DIMS(7, 64));
    CHECK(nb_predict(m, xi, 0) == NULL && strstr(nb_last_error(), "f32"));
    CHECK(nb_predict(m, x, -1) == NULL);
    CHECK(nb_predict(NULL, x, 0) == NULL);

    /* evaluate: a dataset of the wrong width, labels past the outputs, targets for a
     * classifier */
    float xs[4 * 63] = {0};
    int32_t ls[4] = {0, 1, 2, 3};
    nb_array ax = {.type = NB_ELEM_F32, .rank = 2, .shape = {4, 63}, .numel = 4 * 63, .data = xs};
    nb_array ay = {.type = NB_ELEM_I32, .rank = 1, .shape = {4}, .numel = 4, .data = ls};
    nb_dataset *d63 = NULL;
    CHECK_OK(nb_dataset_from_arrays(&ax, &ay, &d63));
    nb_metrics *mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY, 10, 0);
    CHECK(nb_evaluate(m, d63, NULL, mt) == NB_ERR_SHAPE);
    CHECK_MSG(strstr(nb_last_error(), "first layer 'dense_1'") &&
              strstr(nb_last_error(), "(63)"), "%s", nb_last_error());
    CHECK(nb_predict_dataset(m, d63, NULL, 0) == NULL);
    CHECK(strstr(nb_last_error(), "dense_1") != NULL);

    float x64[4 * 64] = {0};
    int32_t big[4] = {0, 1, 2, 11};
    nb_array bx = {.type = NB_ELEM_F32, .rank = 2, .shape = {4, 64}, .numel = 4 * 64, .data = x64};
    nb_array by = {.type = NB_ELEM_I32, .rank = 1, .shape = {4}, .numel = 4, .data = big};
    nb_dataset *d12 = NULL;
    CHECK_OK(nb_dataset_from_arrays(&bx, &by, &d12));
    CHECK(nb_evaluate(m, d12, NULL, mt) == NB_ERR_SHAPE);
    CHECK_MSG(strstr(nb_last_error(), "12 classes") && strstr(nb_last_error(), "'dense_2'"), "%s",
              nb_last_error());
    float tg[4] = {0};
    nb_array ty = {.type = NB_ELEM_F32, .rank = 1, .shape = {4}, .numel = 4, .data = tg};
    nb_dataset *dt = NULL;
    CHECK_OK(nb_dataset_from_arrays(&bx, &ty, &dt));
    CHECK(nb_evaluate(m, dt, NULL, mt) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "class labels") != NULL);
    /* a good evaluate restores the model's mode */
    nb_dataset *dok = NULL;
    CHECK_OK(nb_dataset_from_arrays(&bx, &ay, &dok));
    nb_model_set_training(m, 1);
    CHECK_OK(nb_evaluate(m, dok, &(nb_eval_opts){.batch_size = 3}, mt));
    CHECK(nb_model_training(m) == 1);
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    CHECK(v.count == 4 && v.loss > 0);

    /* fit: bad options */
    nb_optim *opt = nb_sgd_new(nb_model_params(m), NULL);
    nb_fit_opts fo = {0};
    fo.verbose = NB_VERBOSE_QUIET;
    CHECK(nb_fit(m, opt, d63, &fo, NULL) == NB_ERR_SHAPE);
    fo.val_split = 1.0;
    CHECK(nb_fit(m, opt, dok, &fo, NULL) == NB_ERR_ARG);
    fo.val_split = 0;
    fo.loss = NB_LOSS_MSE;
    CHECK(nb_fit(m, opt, dok, &fo, NULL) == NB_ERR_ARG);
    fo.loss = NB_LOSS_CROSS_ENTROPY;
    fo.batch_size = 8;
    fo.drop_last = 1;
    CHECK(nb_fit(m, opt, dok, &fo, NULL) == NB_ERR_ARG); /* no whole batch */
    CHECK(nb_optim_step_count(opt) == 0);

    nb_optim_free(opt);
    nb_metrics_free(mt);
    nb_dataset_free(dok);
    nb_dataset_free(dt);
    nb_dataset_free(d12);
    nb_dataset_free(d63);
    nb_tensor_free(xi);
    nb_tensor_free(x63);
    nb_tensor_free(y);
    nb_tensor_free(x);
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"metrics_classifier", test_metrics_classifier},
    {"metrics_binary_and_regression", test_metrics_binary_and_regression},
    {"loss_names", test_loss_names},
    {"monitor_rule", test_monitor_rule},
    {"early_stopping", test_early_stopping},
    {"progress_lines", test_progress_lines},
    {"csv_history", test_csv_history},
    {"svg_plot", test_svg_plot},
    {"resume_bit_identical", test_resume_bit_identical},
    {"state_checked", test_state_checked},
    {"step_and_hook", test_step_and_hook},
    {"fit_zero_opts_are_defaults", test_fit_zero_opts_are_defaults},
    {"divergence", test_divergence},
    {"restore_best_default", test_restore_best_default},
    {"no_alloc_in_epochs", test_no_alloc_in_epochs},
    {"digits_accuracy", test_digits_accuracy},
    {"eval_predict_errors", test_eval_predict_errors},
};

NBT_MAIN(cases)
