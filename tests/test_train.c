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
 * epoch 4, and restore_best puts back epoch 1's weights. */
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
    nb_fit_opts fo = nb_fit_defaults();
    fo.epochs = 10;
    fo.batch_size = 64;
    fo.norm = &norm;
    fo.schedule = &sch;
    fo.schedule_per_epoch = 1;
    fo.monitor = "lr";
    fo.mode = NB_MONITOR_MAX;
    fo.early_stopping = 1;
    fo.patience = 3;
    fo.restore_best = 1;
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
    fo.verbose = 0;
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
    nb_fit_opts fo = nb_fit_defaults();
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

    /* verbose 0: nothing; a forced bar: redrawn with \r, one finished line per epoch */
    f = tmpfile();
    CHECK_OK(short_run(f, 0, NB_PROGRESS_AUTO, 1, NULL, NULL, NULL));
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
    CHECK_OK(short_run(NULL, 0, NB_PROGRESS_AUTO, 3, path, NULL, &h));
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
    CHECK_OK(short_run(NULL, 0, NB_PROGRESS_AUTO, 3, NULL, path, &h));
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
    nb_fit_opts fo = nb_fit_defaults();
    fo.batch_size = 40; /* a partial last batch */
    fo.metrics = NB_METRIC_ACCURACY;
    fo.norm = &norm;
    fo.val_split = 0.15;
    fo.seed = 99;
    fo.schedule = &sch;
    fo.schedule_per_epoch = !adam;
    fo.verbose = 0;

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
    nb_fit_opts fo = nb_fit_defaults();
    fo.epochs = p.epochs;
    fo.metrics = NB_METRIC_ACCURACY | NB_METRIC_TOP_K | NB_METRIC_MSE;
    fo.norm = &norm;
    fo.val_split = 0.2;
    fo.prefetch = prefetch;
    fo.on_batch = probe_batch;
    fo.hook_user = &p;
    fo.verbose = 0;
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
    nb_fit_opts fo = nb_fit_defaults();
    fo.epochs = 20;
    fo.norm = &norm;
    fo.seed = 7;
    fo.schedule = &cos;
    fo.schedule_per_epoch = 1;
    fo.verbose = 0;
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
    nb_fit_opts fo = nb_fit_defaults();
    fo.verbose = 0;
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
    {"no_alloc_in_epochs", test_no_alloc_in_epochs},
    {"digits_accuracy", test_digits_accuracy},
    {"eval_predict_errors", test_eval_predict_errors},
};

NBT_MAIN(cases)
