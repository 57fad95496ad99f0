/* nabla/train.h — training a model on a dataset, Keras-style: fit, evaluate, predict; the
 * metrics they report; the per-epoch history (kept in memory, logged as CSV, plotted as SVG);
 * early stopping, checkpoint and progress callbacks; and one training step (nb_train_step)
 * with the gradient hook between backward and the update, which fit repeats and loops of your
 * own can call.
 *
 *     nb_fit_opts fo = {.epochs = 10, .batch_size = 64, .metrics = NB_METRIC_ACCURACY,
 *                       .val_split = 0.1, .progress = stderr};   // zero fields: defaults
 *     nb_history h = {0};
 *     nb_status s = nb_fit(model, opt, train, &fo, &h);   // one line (or a live bar) per epoch
 *     ...
 *     nb_metrics *mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY |
 *                                     NB_METRIC_CONFUSION, 10, 0);
 *     nb_evaluate(model, test, NULL, mt);                  // then nb_metrics_result(mt, &v)
 *
 * The library never prints on its own: progress goes to the FILE* given in the options (NULL
 * or NB_VERBOSE_QUIET: nothing). Files (history CSV, SVG plot) are written atomically. Checkpoints
 * are the caller's: fit calls a function the caller supplies (e.g. one that calls the model
 * file writer) and knows nothing of file formats.
 *
 * A training epoch allocates nothing from the heap once running: batches come from the data
 * loader's buffers (prefetched on another thread when asked), activations from a context
 * arena reset after each step, metrics accumulate into buffers made before the first epoch. */
#ifndef NABLA_TRAIN_H
#define NABLA_TRAIN_H

#include "nabla/data.h"
#include "nabla/optim.h"
#include "nabla/text.h"
#include "nabla/train_state.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- losses --------------------------------------------------------------------------------
 * What the model's output means and what the data's y must be:
 *   CROSS_ENTROPY  logits [N, C], y class labels (i32) in [0, C)    softmax cross-entropy
 *                  (or a language model's logits [N, T, V] and next tokens [N, T]: the
 *                  mean over every position, nb_cross_entropy_ex)
 *   NLL            log-probabilities [N, C], y labels               negative log-likelihood
 *   MSE, MAE       any output, y f32 targets of the output's shape  mean squared / absolute
 *   BCE            probabilities in [0, 1], y f32 targets in [0, 1] binary cross-entropy
 *   BCE_LOGITS     logits, y f32 targets in [0, 1]                  the same from logits
 *   HUBER          any output, y f32 targets of the output's shape  ½d² for |d| ≤ 1, |d| − ½
 *                                                                   beyond (torch's HuberLoss,
 *                                                                   delta 1), d = ŷ − y
 * Every loss is the mean over the batch (PyTorch's default reduction). */
typedef enum nb_loss_kind {
    NB_LOSS_CROSS_ENTROPY = 0,
    NB_LOSS_NLL,
    NB_LOSS_MSE,
    NB_LOSS_MAE,
    NB_LOSS_BCE,
    NB_LOSS_BCE_LOGITS,
    NB_LOSS_HUBER,
    NB_LOSS_COUNT
} nb_loss_kind;

/* "cross_entropy", "nll", "mse", "mae", "bce", "bce_logits", "huber"; NULL for an unknown
 * value. */
const char *nb_loss_name(nb_loss_kind k);
/* The kind with that name (the names above; also "mean_squared_error", "l1",
 * "categorical_crossentropy", "binary_crossentropy"); -1 if there is none. */
int nb_loss_from_name(const char *name);
/* The loss of a batch as an op in ctx (recorded on the tape): a one-element tensor. The
 * message of an error names the loss and the shapes and says what y must be. */
nb_tensor *nb_loss_apply(nb_ctx *ctx, nb_loss_kind k, nb_tensor *pred, nb_tensor *y);
/* The same with a weight per class for CROSS_ENTROPY and NLL: Σ w[y_i] l_i / Σ w[y_i], the
 * weighted mean of torch's CrossEntropyLoss(weight=w) (class_weight NULL: nb_loss_apply).
 * Other losses take no class weights (an error). Keras's class_weight='balanced' is
 * w_c = n / (k n_c). */
nb_tensor *nb_loss_apply_weighted(nb_ctx *ctx, nb_loss_kind k, nb_tensor *pred, nb_tensor *y,
                                  const float *class_weight, int num_classes);

/* ---- metrics -------------------------------------------------------------------------------
 * The loss is always measured; these add more, as bit flags:
 *   ACCURACY   classifiers (CROSS_ENTROPY, NLL): argmax of the output == label; binary
 *              outputs (BCE: p > 0.5, BCE_LOGITS: x > 0) against targets > 0.5; regression
 *              outputs: not defined (an error)
 *   TOP_K      the label among the k largest outputs (ties: the earlier index ranks higher)
 *   MSE, MAE   mean squared / absolute error between output and target, over every element
 *              (for labels: against the one-hot vector of the label)
 *   CONFUSION  counts[true][predicted], num_classes x num_classes (binary: 2 x 2)
 *   R2         regressions: R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ)² per output, averaged over the
 *              outputs (scikit-learn's r2_score; an output that does not vary scores 1 when
 *              predicted exactly, else 0)
 *   RMSE       regressions: √(mean (y - ŷ)²) per output, averaged over the outputs
 *              (root_mean_squared_error)
 *   F1         classifiers: precision, recall and F1 per class from the confusion counts,
 *              macro-averaged over the classes present in the labels or the predictions, and
 *              micro-averaged (= accuracy for one label per sample); for two classes also those
 *              of class 1. Binary outputs (BCE): each output a yes/no label (multilabel: macro
 *              over the labels, micro over all decisions)
 *   ROC_AUC    classifiers: the area under the ROC curve of class 1 (two classes, one binary
 *              output), else one-vs-rest of each class's probability (softmax of the logits),
 *              macro-averaged over the classes (or labels) with both positives and negatives;
 *              ties share their ranks (the Mann-Whitney U form of the trapezoidal area). It
 *              keeps every sample's scores, in buffers that grow with the data. */
enum {
    NB_METRIC_ACCURACY = 1u << 0,
    NB_METRIC_TOP_K = 1u << 1,
    NB_METRIC_MSE = 1u << 2,
    NB_METRIC_MAE = 1u << 3,
    NB_METRIC_CONFUSION = 1u << 4,
    NB_METRIC_R2 = 1u << 5,
    NB_METRIC_RMSE = 1u << 6,
    NB_METRIC_F1 = 1u << 7,
    NB_METRIC_ROC_AUC = 1u << 8,
};

/* The values of the metrics over the samples seen (NaN for those not measured). */
typedef struct nb_metric_values {
    double loss;
    double accuracy;
    double top_k;      /* top-k accuracy */
    double mse;
    double mae;
    int64_t count;     /* samples */
    double r2;
    double rmse;
    double precision, recall, f1; /* of class 1: two classes, or one binary output */
    double precision_macro, recall_macro, f1_macro, f1_micro;
    double roc_auc;
} nb_metric_values;

/* An accumulator of metrics over batches. num_classes is needed for the confusion matrix and
 * top-k (0: no confusion matrix); top_k 0 means 5. Holds its buffers from creation on, so
 * updates allocate nothing. The confusion matrix is kept for at most NB_CONFUSION_MAX_CLASSES
 * classes (8 MiB of counts); more is refused at creation rather than allocated. */
typedef struct nb_metrics nb_metrics;
#define NB_CONFUSION_MAX_CLASSES 1024

nb_metrics *nb_metrics_new(nb_loss_kind loss, unsigned which, int num_classes, int top_k);
/* The same with the number of values per sample, which R2, RMSE (per output) and, for binary
 * outputs, F1 and ROC_AUC (per label) need to keep their sums from the start; 0: one. */
nb_metrics *nb_metrics_new_outputs(nb_loss_kind loss, unsigned which, int num_classes, int top_k,
                                   int64_t outputs);
void nb_metrics_free(nb_metrics *mt); /* NULL is a no-op */
void nb_metrics_reset(nb_metrics *mt);
/* Adds a batch: pred [N, ...] (the model's output), y its labels (i32 [N]) or targets (f32,
 * pred's shape), and batch_loss the batch's mean loss (NaN: not tracked). */
nb_status nb_metrics_update(nb_metrics *mt, const nb_tensor *pred, const nb_tensor *y,
                            double batch_loss);
/* The metrics so far: the loss is the sample-weighted mean of the batch losses. */
void nb_metrics_result(const nb_metrics *mt, nb_metric_values *out);
/* The confusion matrix (row = true class, column = predicted; row-major), or NULL when not
 * measured; *k gets its size. */
const int64_t *nb_metrics_confusion(const nb_metrics *mt, int *k);
/* The matrix as an aligned table with row and column totals and per-class recall;
 * class_names may be NULL (then 0, 1, ...). */
nb_status nb_confusion_print(const int64_t *cm, int k, const char *const *class_names, FILE *f);

/* ---- history ------------------------------------------------------------------------------- */

/* One epoch of training. */
typedef struct nb_epoch_record {
    int64_t epoch;          /* 1-based */
    int64_t step;           /* optimizer steps taken at the end of the epoch */
    double lr;              /* the learning rate of the epoch's last step */
    double seconds;         /* wall time of the training part (validation excluded) */
    double samples_per_s;   /* training samples / seconds */
    nb_metric_values train;
    nb_metric_values val;   /* NaN values and count 0 without validation */
    int has_val;
} nb_epoch_record;

/* Every epoch of a run (of several runs when a resumed fit appends). Start with a zeroed
 * struct; fit appends; nb_history_free releases. `metrics` and `top_k` say which columns the
 * CSV has. */
typedef struct nb_history {
    nb_epoch_record *rec;
    int n, cap;
    unsigned metrics;
    int top_k;
} nb_history;

void nb_history_free(nb_history *h); /* frees the records and zeroes h; NULL is a no-op */
/* Value of a metric by name: "loss", "accuracy", "top5_accuracy" (top<k>), "mse", "mae",
 * "lr", "seconds", "samples_per_s", each of the first five with a "val_" prefix for
 * validation. NB_ERR_ARG (the message lists the names) for an unknown name. */
nb_status nb_record_value(const nb_epoch_record *r, const char *name, int top_k, double *out);

/* The history as CSV: a header "epoch,step,lr,seconds,samples_per_s,loss,..." then one row
 * per epoch (metrics in the order loss, accuracy, top<k>_accuracy, mse, mae; then the same
 * with val_; only those measured; numbers with 9 significant digits, empty for NaN).
 * Written atomically (temporary file, fsync, rename). */
nb_status nb_history_write_csv(const nb_history *h, const char *path);
/* Reads such a file back (to continue a log after a resume), replacing h's records. A
 * malformed file gives NB_ERR_FORMAT with the line and column. */
nb_status nb_history_read_csv(nb_history *h, const char *path);
nb_status nb_history_parse_csv(nb_history *h, const char *buf, size_t len, const char *name);
/* An SVG plot of the loss (left panel) and accuracy (right panel; only when measured) against
 * the epoch, train and validation curves, with axes, ticks, labels and a legend. `title` may be
 * NULL. Written atomically. */
nb_status nb_history_write_svg(const nb_history *h, const char *path, const char *title);

/* The training state, for exact resume, is nb_train_state (nabla/train_state.h): the struct
 * fit advances, a checkpoint function receives and a model file stores. */

/* ---- one training step ----------------------------------------------------------------------
 * What fit does with every batch, as a function of its own for loops of your own:
 *
 *     ŷ = model(x)               forward in the model's current mode, recorded on ctx's tape
 *     L = loss(ŷ, y)             the batch mean; a NaN or infinite L stops here (below)
 *     ∇ = ∂L/∂θ                  gradients zeroed, then nb_backward into the flat buffer
 *     on_grad(∇)                 the gradient hook, with every gradient final
 *     clip(∇)                    clip_grad_norm, then clip_grad_value, when set
 *     θ ← update(θ, ∇, lr(t))    the optimizer (nb_optim_step)
 *
 * The hook sits between backward and the update, where a data-parallel run averages the
 * gradients of its replicas (an all-reduce over nb_params_grad: one flat buffer, in the
 * store's order), where gradients are inspected or transformed, and before the clipping, so
 * that clipping sees the averaged gradient as torch's DDP + clip_grad_norm_ does.
 *
 * An overlapped all-reduce starts earlier: autograd announces each parameter's gradient as
 * soon as it is final (nb_ctx_on_grad_ready, after the oldest tape node that reads it), and a
 * data-parallel step (nb_step_opts.replicas, below) sums buckets of them while backward goes
 * on; on_grad then runs after the sums are waited for, on the summed gradients.
 *
 * A step never allocates from the heap once ctx's arena has grown to the step's size. */

/* ---- data parallelism: the replicas of a run, as the step and fit see them ----------------
 * A data-parallel run (src/dist, MPI: nabla/dist.h, which fills this table) keeps one replica
 * of the model per process; each takes its part of every global batch, and between backward
 * and the update the replicas' gradients are combined so that every replica takes the step
 * one process would take on the whole global batch. The step and fit call these functions
 * (each on every replica, in the same order: they may be collective operations):
 *
 *   step_begin   the batch's samples here (local) and over all replicas (*global; 0: the
 *                replicas add their local counts up). Backward is then seeded with
 *                local/global instead of 1, so that each replica's gradient is its share of
 *                the global batch's mean gradient, and the shares only have to be summed.
 *   grad_ready   installed as the context's gradient-ready hook (nb_ctx_on_grad_ready):
 *                buckets of final gradients start their sum while backward goes on
 *   grad_end     after backward: waits until every gradient in [grad_lo, grad_hi) of the
 *                store holds the sum over the replicas; *loss in: this replica's mean loss,
 *                out: the global batch's mean loss
 *   update       the optimizer step (NULL: nb_optim_step); ZeRO-1 updates this replica's
 *                shard and then gathers the parameters
 *   sum          n doubles summed over the replicas, the same bits on each (metrics; batch
 *                norm's statistics when sync_bn, through nb_ctx_set_sum)
 *   agree        NB_OK on every replica if s is NB_OK on every replica, else the same error
 *                on all (a replica that failed alone does not leave the others waiting)
 *   sync_state   the model's non-trainable state (running statistics) made equal to
 *                replica 0's (NULL: nothing to do, e.g. with sync_bn)
 *   full_optim   (a collective) an optimizer holding the whole state, for a checkpoint
 *                written by replica 0: *full is opt itself unless the state is sharded, in
 *                which case replica 0 gets a gathered copy (valid until the next call) and
 *                the others NULL
 * Replica 0 alone prints progress and writes logs, plots and checkpoints. */
typedef struct nb_replicas {
    int rank, size; /* this replica, of `size` */
    void *impl;     /* passed to every function below */
    int sync_bn;    /* 1: batch norm's statistics over the global batch */
    int64_t grad_lo, grad_hi; /* the part of the flat gradient buffer that grad_end reduces on
                                 this replica; 0, 0: all of it */
    nb_status (*step_begin)(void *impl, int64_t local, int64_t *global);
    void (*grad_ready)(nb_tensor *leaf, void *impl);
    nb_status (*grad_end)(void *impl, double *loss);
    nb_status (*update)(void *impl, nb_optim *opt);
    nb_status (*sum)(double *v, int64_t n, void *impl);
    nb_status (*agree)(void *impl, nb_status s);
    nb_status (*sync_state)(void *impl);
    nb_status (*full_optim)(void *impl, nb_optim *opt, nb_optim **full);
} nb_replicas;

/* What the gradient hook sees. */
typedef struct nb_grad_info {
    nb_model *model;
    nb_optim *optim;
    nb_params *params; /* the model's store: nb_params_grad(params) holds every gradient,
                          one float per parameter, in the store's order (nb_params_at) */
    int64_t epoch;     /* as given in nb_step_opts (fit: 1-based) */
    int64_t batch;     /* as given (fit: 0-based within the epoch) */
    int64_t step;      /* optimizer steps taken before this one */
    int64_t size;      /* samples in the batch */
    double loss;       /* the batch's loss */
} nb_grad_info;
/* A non-OK return skips the update and ends the step (and fit) with that status. */
typedef nb_status (*nb_grad_fn)(const nb_grad_info *g, void *user);

/* The options of a step, zero-initialised: every 0 field is the default. */
typedef struct nb_step_opts {
    nb_loss_kind loss;     /* default CROSS_ENTROPY */
    nb_rng *dropout_rng;   /* draws the masks of layers that drop (nb_model_forward_rng);
                              NULL: a model without them */
    nb_grad_fn on_grad;    /* the gradient hook; NULL: none */
    void *user;            /* passed to on_grad */
    float clip_grad_norm;  /* > 0: scale the gradients to this global L2 norm at most
                              (torch.nn.utils.clip_grad_norm_); 0: no clipping */
    float clip_grad_value; /* > 0: clamp each gradient to [-v, v] (clip_grad_value_) */
    int64_t epoch, batch;  /* passed to on_grad and named in messages */
    const float *class_weight; /* cross_entropy / nll: a weight per class (nb_loss_apply_weighted);
                                  NULL: none */
    int num_class_weights;
    /* a data-parallel step (see nb_replicas): x is this replica's part of a global batch of
     * global_size samples (0: the replicas count them). NULL: a step of one process. */
    const nb_replicas *replicas;
    int64_t global_size;
} nb_step_opts;

/* What a step did. */
typedef struct nb_step_result {
    double loss;     /* the batch's mean loss (data-parallel: the global batch's) */
    double lr;       /* the learning rate the update used */
    float grad_norm; /* the global gradient norm before clipping (NaN: not measured, i.e.
                        no clip_grad_norm) */
    nb_tensor *out;  /* the model's output, in ctx until nb_ctx_reset */
} nb_step_result;

/* One step on a batch: x [b, input shape...] (f32), y the batch's labels or targets as the
 * loss wants them (nb_loss_apply). opts may be NULL; res may be NULL. Returns NB_OK after the
 * update. A loss or gradient that is NaN or infinite is NB_ERR_NUMERIC before the update, with
 * a message naming the epoch, batch and step (and the first non-finite gradient's parameter),
 * and the parameters as they were; under check mode (NB_CHECK=1) the op that first produced
 * the value is named instead. The model is run in its current mode: put it in training mode
 * first (fit does). */
nb_status nb_train_step(nb_model *model, nb_optim *opt, nb_ctx *ctx, nb_tensor *x, nb_tensor *y,
                        const nb_step_opts *opts, nb_step_result *res);

/* ---- a recorded step (nb_step): the eager step, recorded once and replayed --------------------
 *
 *     nb_step *step = nb_step_new(net, sgd, &(nb_step_def){.loss = NB_LOSS_MSE});
 *     for (int epoch = 0; epoch < 10000; epoch++)
 *         if (nb_step_run(step, x, y, &loss) != NB_OK) ...;   // as the eager loop, bit for bit
 *     nb_step_free(step);
 *
 * A step does what the eager loop does — nb_ctx_reset, forward, loss, zero_grad, nb_backward,
 * nb_optim_step — in a context of its own. Its first run is that eager step, during which the
 * kernel calls of the forward, loss and backward are recorded; each later run with inputs of
 * the same shapes and dtypes copies x and y into the recorded input buffers and calls the same
 * kernels again on the same buffers (no graph, no shape inference, no tape, no allocation),
 * then runs the optimizer. The parameters, gradients and losses are the eager loop's bit for
 * bit, at any thread count. Two recordings are kept, by input shapes (an epoch's full batches
 * and its last one); inputs of a third shape replace the least recently used. nb_fit trains
 * through one where it applies (one process, no class weights).
 *
 * What replays: models and losses made of the elementwise ops and activations, softmax and
 * log-softmax, matmul and the dense layer's ops, reshapes, permutes, slices, concatenation,
 * sums, means, max, and the losses (mse, l1, bce, bce with logits, cross-entropy, nll).
 * Dropout (a new mask each step), batch norm, convolutions and pooling, the sequence layers,
 * check mode (NB_CHECK=1), and a model whose parameter buffers or training mode changed since
 * the recording run eagerly instead, with the same results; nb_step_eager_reason says why. */
typedef nb_tensor *(*nb_loss_fn)(nb_ctx *ctx, nb_tensor *out, nb_tensor *y, void *user);

typedef struct nb_step_def {
    nb_loss_kind loss;      /* as nb_train_step (0: CROSS_ENTROPY); unused with loss_fn */
    nb_loss_fn loss_fn;     /* or a loss of one's own, from ops on the model's output and y:
                               one f32 element (e.g. ½ Σ (out − y)²) */
    void *user;             /* passed to loss_fn */
    const nb_ctx_opts *ctx; /* the step's context: device, threads (NULL: the defaults) */
    nb_rng *dropout_rng;    /* draws dropout masks, as nb_step_opts (a step that draws runs
                               eagerly); NULL: a model without active dropout */
    int require_replay;     /* 1: a step that cannot be replayed is NB_ERR_UNSUPPORTED (before
                               the update) instead of running eagerly */
} nb_step_def;

typedef struct nb_step nb_step;

/* A step of model and opt (both borrowed: they outlive the step); def may be NULL (the
 * defaults). NULL on error (message set). */
nb_step *nb_step_new(nb_model *model, nb_optim *opt, const nb_step_def *def);
/* One step on x (contiguous f32, [b, input shape...]) and y (as the loss wants it; may be
 * NULL for a loss_fn that does not read it); *loss (may be NULL) gets the loss before the
 * update. x and y are copied: they may change or go after the call. */
nb_status nb_step_run(nb_step *s, const nb_tensor *x, const nb_tensor *y, float *loss);
/* The model's output of the last run (the step's own tensor: read it before the next run). */
nb_tensor *nb_step_output(const nb_step *s);
/* How many runs were replays; and why the last recording could not be replayed (NULL: it
 * can, or none was tried yet). */
int64_t nb_step_replays(const nb_step *s);
const char *nb_step_eager_reason(const nb_step *s);
void nb_step_free(nb_step *s);

/* ---- callbacks --------------------------------------------------------------------------- */

enum {
    NB_CHECKPOINT_PERIODIC = 1u << 0, /* every checkpoint_every epochs */
    NB_CHECKPOINT_BEST = 1u << 1,     /* the monitored metric improved */
};

/* What a checkpoint function gets: the model and optimizer after the epoch, the training
 * state (epoch = the epoch just finished), the epoch's record, and why (NB_CHECKPOINT_*
 * flags; both when both apply). A non-OK return stops fit with that status. */
typedef struct nb_checkpoint_info {
    nb_model *model;
    nb_optim *optim;
    const nb_train_state *state;
    const nb_epoch_record *record;
    unsigned reason;
} nb_checkpoint_info;
typedef nb_status (*nb_checkpoint_fn)(const nb_checkpoint_info *info, void *user);

/* After every batch: a non-zero return stops training after this batch (the epoch is then
 * recorded as it stands). */
typedef struct nb_batch_info {
    int64_t epoch;          /* 1-based */
    int64_t batch;          /* 0-based within the epoch */
    int64_t num_batches;
    int64_t size;           /* samples in this batch */
    int64_t step;           /* optimizer steps taken, this one included */
    double loss;            /* this batch's loss */
    double lr;              /* the rate this step used */
} nb_batch_info;
typedef int (*nb_batch_fn)(const nb_batch_info *b, void *user);
/* After every epoch (after validation, early stopping and checkpoints): non-zero stops. */
typedef int (*nb_epoch_fn)(const nb_epoch_record *r, const nb_train_state *st, void *user);

/* ---- fit ----------------------------------------------------------------------------------- */

typedef enum nb_monitor_mode {
    NB_MONITOR_AUTO = 0, /* max for accuracies and r2, min for the rest */
    NB_MONITOR_MIN,
    NB_MONITOR_MAX,
} nb_monitor_mode;

typedef enum nb_progress_mode {
    NB_PROGRESS_AUTO = 0, /* a live bar when the stream is a terminal, lines otherwise */
    NB_PROGRESS_BAR,
    NB_PROGRESS_LINES,
} nb_progress_mode;

typedef enum nb_restore_mode {
    NB_RESTORE_AUTO = 0, /* the best epoch's weights when early stopping ended the run (Keras's
                            EarlyStopping(restore_best_weights=True)), else the last epoch's */
    NB_RESTORE_BEST,     /* the best epoch's weights, however the run ended */
    NB_RESTORE_LAST,     /* the last epoch's weights, always */
} nb_restore_mode;

/* verbose: nothing at all, even with a progress stream. */
#define NB_VERBOSE_QUIET (-1)

/* The options of fit, zero-initialised: every field left 0 takes the default in its comment
 * (Keras's fit defaults where PyTorch has none), and NULL options are the all-zero struct. */
typedef struct nb_fit_opts {
    int64_t epochs;           /* train until this many epochs are done (a resumed run too);
                                 default 1 */
    int64_t batch_size;       /* default 32 */
    nb_loss_kind loss;        /* default CROSS_ENTROPY */
    unsigned metrics;         /* NB_METRIC_* (the loss is always there) */
    int top_k;                /* for NB_METRIC_TOP_K; default 5 */
    uint64_t seed;            /* seeds a fresh training state and the validation split */
    int no_shuffle;           /* 1: the dataset's order every epoch */
    int drop_last;            /* 1: skip a final partial batch */
    int prefetch;             /* 1: assemble the next batch on a background thread */
    const nb_norm *norm;      /* applied to every batch (train, validation); NULL: none */
    const nb_norm *target_norm; /* applied to the f32 targets of every batch (train and
                                   validation): the losses and metrics of the run are in its
                                   units; NULL: none */
    const float *class_weight; /* training loss only (cross_entropy, nll): a weight per class,
                                  nb_loss_apply_weighted; validation is unweighted, as Keras's
                                  class_weight. NULL: none */
    int num_class_weights;

    /* validation, after every epoch: a separate set, or a held-out fraction of `train`
     * (nb_dataset_split with `seed`); neither: no validation */
    const nb_dataset *val;
    double val_split;
    int64_t val_batch_size;   /* default 256 */

    /* learning rate: a schedule, stepped per optimizer step or per epoch; NULL: the
     * optimizer's own rate (or the schedule already attached to it) */
    const nb_schedule *schedule;
    int schedule_per_epoch;

    /* the monitored metric, for early stopping, restoring and best checkpoints: a name as for
     * nb_record_value; NULL: "val_loss" with validation, else "loss" */
    const char *monitor;
    nb_monitor_mode mode;
    double min_delta;         /* an improvement must beat the best by more than this */
    int early_stopping;       /* 1: stop after `patience` epochs without improvement */
    int patience;             /* 0 as Keras: stop at the first epoch that does not improve */
    nb_restore_mode restore;  /* which weights the model has when fit returns; default: the
                                 best epoch's when early stopping ended the run */

    nb_checkpoint_fn checkpoint;
    void *checkpoint_user;
    int checkpoint_every;     /* > 0: every N epochs */
    int checkpoint_best;      /* 1: whenever the monitored metric improves */

    /* the gradients, each step between backward and the update (see nb_train_step) */
    nb_grad_fn on_grad;    /* the gradient hook (an all-reduce goes here); NULL: none */
    float clip_grad_norm;  /* > 0: clip to this global L2 norm (after on_grad) */
    float clip_grad_value; /* > 0: clamp each gradient to [-v, v] */

    nb_batch_fn on_batch;
    nb_epoch_fn on_epoch;
    void *hook_user; /* passed to on_grad, on_batch and on_epoch */

    /* a data-parallel run (nb_replicas; NULL: one process): batch_size and val_batch_size
     * are per replica, each replica trains on its shard of every global batch of
     * size * batch_size (the same shuffled order everywhere), metrics are summed over the
     * replicas, and replica 0 alone prints, logs, plots and checkpoints. The callbacks run on
     * every replica; a stop asked by on_batch or on_epoch on any replica stops all. */
    const nb_replicas *replicas;

    /* progress on `progress` (NULL: none). verbose 1 (the default, also 0): a bar or a line
     * per epoch and the reason training stopped; 2: also a header (samples, batches,
     * optimizer) and, on a terminal, each epoch's line kept after its bar; NB_VERBOSE_QUIET:
     * nothing */
    FILE *progress;
    int verbose;
    nb_progress_mode progress_mode;

    const char *csv_path;     /* the history as CSV after every epoch (NULL: none) */
    const char *svg_path;     /* the plot after every epoch (NULL: none) */

    /* in: where to start (zeroed: a fresh run; else checked by nb_train_state_check, and its
     * step must be the optimizer's); out: where training ended. NULL: fit uses a fresh state
     * of its own. A resumed model file's nb_model_file.run goes here as it is. */
    nb_train_state *state;
} nb_fit_opts;

/* Trains model with opt on train: for each epoch, nb_train_step over the batches, then
 * validation, the monitor, early stopping, logs, checkpoints and the callbacks above.
 * history (may be NULL) gets one record per epoch appended.
 * A resumed run (state->epoch > 0) needs the optimizer in the state it had then (parameters,
 * nb_optim_state_buffer, nb_optim_set_step_count) and the same options; the history may hold the
 * earlier epochs (nb_history_read_csv), records after state->epoch are dropped. Returns NB_OK
 * when the epochs are done or a callback or early stopping ended training.
 * Training that diverges — a NaN or infinite loss or gradient, or parameters that are no
 * longer finite at the end of an epoch — returns NB_ERR_NUMERIC, with a message naming the
 * epoch and step, before the epoch is recorded, logged or checkpointed: the last good
 * checkpoint stays the last one written. */
nb_status nb_fit(nb_model *model, nb_optim *opt, const nb_dataset *train,
                 const nb_fit_opts *opts, nb_history *history);

/* ---- evaluate and predict ------------------------------------------------------------------ */

typedef struct nb_eval_opts { /* zero-initialised: every 0 field is the default */
    int64_t batch_size;       /* default 256 */
    const nb_norm *norm;      /* applied to every batch; NULL: none */
    int prefetch;
    const nb_norm *target_norm; /* the model was trained on targets normalised so: its outputs
                                   are taken back (nb_norm_invert) before the loss and the
                                   metrics, which so are in the targets' own units */
} nb_eval_opts;

/* Runs the model in inference mode over ds and accumulates into mt (reset first); the loss
 * is mt's (nb_metrics_new). opts may be NULL. The model's training/inference mode is restored
 * afterwards. A dataset that does not fit the model gives NB_ERR_SHAPE naming the model's
 * first layer (or, for y, its last) and both shapes. */
nb_status nb_evaluate(nb_model *model, const nb_dataset *ds, const nb_eval_opts *opts,
                      nb_metrics *mt);

/* The model's outputs for every sample of x ([N, input shape...] or [N, features]), in
 * inference mode and batches of batch_size (0: 256): a new heap tensor [N, output shape...]
 * (nb_tensor_free), or NULL with the error set. */
nb_tensor *nb_predict(nb_model *model, const nb_tensor *x, int64_t batch_size);
/* The same over a dataset's samples, normalised by norm (may be NULL). */
nb_tensor *nb_predict_dataset(nb_model *model, const nb_dataset *ds, const nb_norm *norm,
                              int64_t batch_size);

/* ---- generating text ------------------------------------------------------------------------
 * A language model (token ids i32 [T] in, logits [T, V] out) continues a prompt: each next
 * token is drawn from the last position's logits by nb_sample_logits (temperature, top-k,
 * top-p; text.h), through an incremental decoder (nn.h: KV caches and recurrent states, so a
 * token costs O(T), not O(T²)). A model with a fixed context (a learned positional table of
 * N positions) sees at most N tokens: when the window is full it starts again on its last
 * N/2 tokens. Each token is given to on_token as soon as it is drawn — a command line prints
 * it there — and written to out (which may be NULL when on_token is given). ctx is reset
 * before every token: give nb_generate a context of its own. */
typedef int (*nb_token_fn)(int32_t token, void *user); /* nonzero: stop */

typedef struct nb_generate_opts {
    int64_t max_tokens;           /* tokens to draw (out holds at least this many) */
    const nb_sample_opts *sample; /* NULL: the defaults, {0} (temperature 1) */
    int stop_at;                  /* 1: stop_id ends the text (it is not given nor written) */
    int32_t stop_id;
    nb_token_fn on_token; /* may be NULL */
    void *user;
} nb_generate_opts;

/* Draws up to opts->max_tokens tokens after prompt[0..n_prompt) (n_prompt >= 1) into out,
 * their number in *n_out (fewer when stopped). rng draws the samples (NULL only when
 * greedy: temperature NB_ZERO); the same state gives the same text. */
nb_status nb_generate(const nb_model *m, nb_ctx *ctx, const int32_t *prompt, int64_t n_prompt,
                      const nb_generate_opts *opts, nb_rng *rng, int32_t *out, int64_t *n_out);

#ifdef __cplusplus
}
#endif
#endif
