/* train/train.h — internals shared by the training files: the progress reporter, the one
 * batch loop that evaluation, validation and prediction share, and shape checks of a dataset
 * against a model. */
#ifndef NBI_TRAIN_H
#define NBI_TRAIN_H

#include "base/base.h"
#include "nabla/train.h"

#include <stdio.h>

/* Is this loss a classifier's (output [N, C], y labels)? */
static inline int nbi_loss_is_classifier(nb_loss_kind k) {
    return k == NB_LOSS_CROSS_ENTROPY || k == NB_LOSS_NLL;
}
/* Is it a binary classifier's (outputs compared with 0.5 / 0 for accuracy)? */
static inline int nbi_loss_is_binary(nb_loss_kind k) {
    return k == NB_LOSS_BCE || k == NB_LOSS_BCE_LOGITS;
}

/* The loss an accumulator was made for. */
nb_loss_kind nbi_metrics_loss(const nb_metrics *mt);

/* ---- final metrics from counts and scores (scores.c) --------------------------------------- */
/* Precision, recall and F1 (macro, micro, and of class 1 for two classes) from a k x k
 * confusion matrix (rows: true, columns: predicted) into v. */
void nbi_scores_from_confusion(const int64_t *cm, int k, nb_metric_values *v);
/* The same from binary outputs' counts: tp, fp, fn, tn per output. */
void nbi_scores_from_binary(const int64_t *counts, int64_t outputs, nb_metric_values *v);
/* ROC-AUC of n rows of dim scores: binary, truths n x dim (0/1), macro over the columns;
 * else truths are n labels, class 1's AUC for dim 2, else one-vs-rest macro. NaN when no
 * column has both positives and negatives (or out of memory). */
double nbi_roc_auc(const float *scores, const int32_t *truth, int64_t n, int dim, int binary);

/* Replaces mt's sums and counts with their sums over the replicas of a data-parallel run, so
 * that every replica holds the metrics of all samples seen by any. */
#define NBI_METRICS_SUMS 9
nb_status nbi_metrics_sum(nb_metrics *mt, const nb_replicas *rp);

/* Feeds epoch's value v of the monitored metric into st (best, best_epoch, wait): returns 1
 * if it improved on the best by more than min_delta (or is the first value), else 0 and
 * wait grows by one. NaN never improves. Keras's EarlyStopping rule. */
int nbi_monitor_step(nb_train_state *st, int64_t epoch, double v, int maximize, double min_delta);

/* Room for n records in all. */
nb_status nbi_history_reserve(nb_history *h, int64_t n);

/* The name of the parameter of ps that holds element `flat` of the store's flat buffers, and
 * (index, may be NULL) the element's index within it. */
const char *nbi_param_at(nb_params *ps, int64_t flat, int64_t *index);

/* ---- the recorded step's halves (step_replay.c), for nb_train_step ------------------------ */
/* Forward and loss on x, y (copied into the step's inputs): replayed when the step holds a
 * recording of these shapes, else eager and recorded. *out (may be NULL): the output, in the
 * step's context; *loss: the loss. Then nbi_step_backward: zero_grad and backward, replayed
 * or eager to match. rng draws dropout masks (a step with them is never replayed). */
nb_status nbi_step_forward(nb_step *s, const nb_tensor *x, const nb_tensor *y, nb_rng *rng,
                           nb_tensor **out, float *loss);
nb_status nbi_step_backward(nb_step *s);
/* The step's loss kind; -1 for a loss function of the caller's. */
nb_loss_kind nbi_step_loss(const nb_step *s);
/* nb_train_step with a recorded step for its forward and backward (rs may be NULL: eager).
 * rs is used only where it applies: one process (no replicas), no class weights, contiguous
 * x and y, and rs's loss kind = opts->loss. */
nb_status nbi_train_step_with(nb_model *model, nb_optim *opt, nb_ctx *ctx, nb_tensor *x,
                              nb_tensor *y, const nb_step_opts *opts, nb_step_result *res,
                              nb_step *rs);

/* ---- model and data shapes ---------------------------------------------------------------- */

/* What a batch must look like for a model: its per-sample input shape (for the view that
 * reshapes a flat batch) and its per-sample output. */
typedef struct nbi_model_io {
    int in_rank;
    int64_t in_shape[NB_MAX_RANK];
    int64_t in_features; /* product of in_shape */
    int out_rank;
    int64_t out_shape[NB_MAX_RANK];
    int64_t out_features;
} nbi_model_io;

void nbi_model_io_get(const nb_model *m, nbi_model_io *io);

/* Checks that ds's samples fit the model's input (same number of features) and, when
 * need_y, that its y suits the loss and the model's output. `fn` names the caller; the
 * message names the model's first (or last) layer and both shapes. */
nb_status nbi_check_data(const char *fn, const nb_model *m, const nbi_model_io *io,
                         const nb_dataset *ds, int need_y, nb_loss_kind loss);

/* A batch of the loader (flat [b, features]) viewed with the model's input shape, in ctx. */
nb_tensor *nbi_batch_input(nb_ctx *ctx, const nbi_model_io *io, nb_tensor *flat, int64_t b);

/* Runs the model (inference mode, no grad) over every batch of an epoch of ld and
 * accumulates the loss and metrics into mt (not reset here). ctx is reset per batch.
 * target_norm (may be NULL): the outputs are taken back to the targets' units first. */
nb_status nbi_eval_loader(nb_model *m, const nbi_model_io *io, nb_loader *ld, nb_ctx *ctx,
                          nb_loss_kind loss, const nb_norm *target_norm, nb_metrics *mt);

/* ---- progress ------------------------------------------------------------------------------ */

typedef struct nbi_progress {
    FILE *f; /* NULL: silent */
    int verbose;
    int bar; /* 1: live bar (terminal), 0: lines */
    int64_t epochs;
    int64_t epoch;
    int64_t num_batches;
    int64_t samples; /* training samples per epoch */
    unsigned metrics;
    int top_k;
    double t0; /* epoch start */
    double last_draw;
    int last_len; /* characters of the bar now on screen */
    int width;    /* the terminal's columns (0: unknown) */
} nbi_progress;

void nbi_progress_init(nbi_progress *p, FILE *f, int verbose, nb_progress_mode mode, int64_t epochs,
                       unsigned metrics, int top_k);
void nbi_progress_epoch_begin(nbi_progress *p, int64_t epoch, int64_t num_batches, int64_t samples);
/* After each batch: `done` samples so far, the running metrics. Redraws at most 10 times a
 * second (and at the last batch). */
void nbi_progress_batch(nbi_progress *p, int64_t batch, int64_t done, const nb_metric_values *run);
/* The epoch's final line (on a terminal it replaces the bar). best: 1 if the monitored
 * metric improved. */
void nbi_progress_epoch_end(nbi_progress *p, const nb_epoch_record *r, int best);
/* Clears a bar if one is showing (before an error is reported on the same stream). */
void nbi_progress_clear(nbi_progress *p);
/* A free-form line (verbose >= level), after clearing a bar if one is showing. */
void nbi_progress_note(nbi_progress *p, int level, const char *fmt, ...) NBI_PRINTF(3, 4);

/* "loss 0.4123 - accuracy 0.8512 - val_loss ..." for a record, into buf. */
void nbi_format_metrics(char *buf, size_t n, const nb_epoch_record *r, unsigned metrics, int top_k);

#endif
