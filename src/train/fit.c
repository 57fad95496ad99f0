/* train/fit.c — the training loop: epochs of nb_train_step (step.c) over the batches, then
 * validation, the monitored metric, early stopping, logs, checkpoints and the callbacks.
 *
 *     fit_start       options, data, loaders, metrics, the monitor, the state, the history
 *     for each epoch:
 *       fit_epoch     the learning rate, a fresh order, nb_train_step per batch, on_batch
 *       fit_end_epoch finite parameters?, validation, monitor, early stopping, record, logs,
 *                     checkpoint, on_epoch
 *     fit_finish      the best weights back, when asked
 *
 * Everything random draws from the training state: the shuffle of each epoch from
 * shuffle_rng, dropout masks from dropout_rng. With the parameters and the optimizer state,
 * the state is all a run needs to continue exactly (nabla/train_state.h).
 *
 * Nothing in the batch loop allocates from the heap: the loader fills its own buffers (on
 * another thread when prefetching), the context's arena keeps its chunks across resets, the
 * metric accumulators exist before the first epoch. The history has room for the first
 * HISTORY_FIRST epochs from the start and doubles, between epochs, when it is full: a run of
 * 10⁹ epochs reserves nothing it has not reached.
 *
 * A data-parallel run (nb_fit_opts.replicas) is the same loop on every replica: each loader
 * yields its shard of every global batch, the step combines the gradients, the metrics are
 * summed over the replicas at the end of the epoch (so every replica sees the same numbers and
 * takes the same early-stopping decision), and replica 0 alone prints, logs and checkpoints;
 * whatever only it does is followed by an agreement, so a failure there stops every replica. */
#include "train/train.h"
#include "tensor/ctx.h" /* the context's back end: find_nonfinite */

#include <math.h>
#include <string.h>

/* Epoch records reserved when fit starts; more are made as epochs complete. */
#define HISTORY_FIRST 64

int nbi_monitor_step(nb_train_state *st, int64_t epoch, double v, int maximize, double min_delta) {
    int better;
    if (isnan(v))
        better = 0;
    else if (isnan(st->best))
        better = 1;
    else
        better = maximize ? v > st->best + min_delta : v < st->best - min_delta;
    if (better) {
        st->best = v;
        st->best_epoch = epoch;
        st->wait = 0;
    } else {
        st->wait++;
    }
    return better;
}

/* A run of fit: its inputs, everything it makes (freed in one place), what it derives. */
typedef struct fit_run {
    nb_model *model;
    nb_optim *opt;
    nb_fit_opts o;         /* resolved: the defaults filled in */
    const nb_replicas *rp; /* NULL: one process */
    int lead;              /* this process prints, logs and checkpoints (replica 0) */
    nb_train_state *st;    /* the caller's, or own_state */
    nb_train_state own_state;
    nb_history *h; /* the caller's, or local */
    nb_history local;
    nbi_model_io io;

    nb_dataset *split_train, *split_val;
    const nb_dataset *tr, *va; /* what is trained on and validated on */
    nb_loader *train_ld, *val_ld;
    nb_ctx *ctx;
    nb_step *step; /* the training step, recorded and replayed where it can be (step_replay.c) */
    nb_metrics *train_mt, *val_mt;
    unsigned mflags; /* the metrics measured (no confusion matrix) */
    int64_t num_batches, samples;

    const char *monitor;
    int maximize;
    float *best; /* the best epoch's parameters, then the model's state */
    int64_t nparams, nstate;
    int have_best; /* best holds the weights of st->best_epoch */

    nbi_progress pr;
} fit_run;

static void run_free(fit_run *r) {
    nb_dataset_free(r->split_train);
    nb_dataset_free(r->split_val);
    nb_loader_free(r->train_ld);
    nb_loader_free(r->val_ld);
    nb_step_free(r->step);
    nb_ctx_free(r->ctx);
    nb_metrics_free(r->train_mt);
    nb_metrics_free(r->val_mt);
    nbi_free(r->best);
    nb_history_free(&r->local);
}

/* ---- options ------------------------------------------------------------------------------- */

/* Checks the options and fills in the defaults (a NULL or zeroed struct is every default). */
static nb_status resolve_opts(nb_fit_opts *o, const nb_fit_opts *in) {
    const char *fn = "nb_fit";
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (o->epochs == 0) o->epochs = 1;
    if (o->batch_size == 0) o->batch_size = 32;
    if (o->val_batch_size == 0) o->val_batch_size = 256;
    if (o->top_k == 0) o->top_k = 5;
    if (o->epochs > NB_TRAIN_MAX_EPOCHS)
        return nbi_error(NB_ERR_ARG, "%s: %lld epochs is more than the %lld a run can hold", fn,
                         (long long)o->epochs, (long long)NB_TRAIN_MAX_EPOCHS);
    if (o->epochs < 0 || o->batch_size < 0 || o->val_batch_size < 0 || o->top_k < 0)
        return nbi_error(NB_ERR_ARG,
                         "%s: epochs, batch_size, val_batch_size and top_k must be "
                         "> 0 (0 takes the default); got %lld, %lld, %lld, %d",
                         fn, (long long)o->epochs, (long long)o->batch_size,
                         (long long)o->val_batch_size, o->top_k);
    if (!nb_loss_name(o->loss))
        return nbi_error(NB_ERR_ARG, "%s: unknown loss kind %d", fn, (int)o->loss);
    if (!(o->val_split >= 0.0 && o->val_split < 1.0))
        return nbi_error(NB_ERR_ARG, "%s: val_split must be in [0, 1), got %g", fn, o->val_split);
    if (o->val && o->val_split > 0.0)
        return nbi_error(NB_ERR_ARG, "%s: give either a validation set or val_split, not both", fn);
    if (o->patience < 0 || o->checkpoint_every < 0 || !(o->min_delta >= 0.0))
        return nbi_error(NB_ERR_ARG, "%s: patience, checkpoint_every and min_delta must be >= 0",
                         fn);
    if ((o->checkpoint_every > 0 || o->checkpoint_best) && !o->checkpoint)
        return nbi_error(NB_ERR_ARG,
                         "%s: checkpoints asked for (checkpoint_every or "
                         "checkpoint_best) but no checkpoint function given",
                         fn);
    if (o->schedule) {
        nb_status s = nb_schedule_check(o->schedule);
        if (s != NB_OK) return s;
    }
    if ((unsigned)o->mode > NB_MONITOR_MAX || (unsigned)o->progress_mode > NB_PROGRESS_LINES ||
        (unsigned)o->restore > NB_RESTORE_LAST)
        return nbi_error(NB_ERR_ARG, "%s: unknown monitor, progress or restore mode", fn);
    if (!(o->clip_grad_norm >= 0.0f) || isinf(o->clip_grad_norm) || !(o->clip_grad_value >= 0.0f) ||
        isinf(o->clip_grad_value))
        return nbi_error(NB_ERR_ARG,
                         "%s: clip_grad_norm and clip_grad_value must be finite and "
                         ">= 0 (0: no clipping)",
                         fn);
    if (o->class_weight) {
        if (o->num_class_weights < 1)
            return nbi_error(NB_ERR_ARG, "%s: class_weight needs num_class_weights >= 1", fn);
        for (int i = 0; i < o->num_class_weights; i++)
            if (!(o->class_weight[i] >= 0.0f) || isinf(o->class_weight[i]))
                return nbi_error(NB_ERR_ARG,
                                 "%s: class weight %d is %g; weights are finite and "
                                 ">= 0",
                                 fn, i, (double)o->class_weight[i]);
    }
    if (o->verbose < NB_VERBOSE_QUIET)
        return nbi_error(NB_ERR_ARG, "%s: verbose must be 0, 1, 2 or NB_VERBOSE_QUIET, got %d", fn,
                         o->verbose);
    o->verbose = o->verbose == 0 ? 1 : o->verbose < 0 ? 0 : o->verbose; /* 0 inside: silent */
    const nb_replicas *rp = o->replicas;
    if (rp && (rp->size < 1 || rp->rank < 0 || rp->rank >= rp->size || !rp->step_begin ||
               !rp->grad_end || !rp->sum || !rp->agree || !rp->full_optim))
        return nbi_error(NB_ERR_ARG, "%s: replicas: replica %d of %d, or a function missing", fn,
                         rp->rank, rp->size);
    if (rp && rp->rank != 0) { /* replica 0 alone prints and writes */
        o->progress = NULL;
        o->csv_path = NULL;
        o->svg_path = NULL;
    }
    return NB_OK;
}

/* Is the monitored metric one that this run measures? */
static nb_status check_monitor(const nb_fit_opts *o, int has_val, const char *name) {
    nb_epoch_record probe;
    memset(&probe, 0, sizeof probe);
    double v;
    nb_status s = nb_record_value(&probe, name, o->top_k, &v);
    if (s != NB_OK) return nbi_error(s, "nb_fit: monitor: %s", nb_last_error());
    const char *m = strncmp(name, "val_", 4) == 0 ? name + 4 : name;
    if (m != name && !has_val)
        return nbi_error(NB_ERR_ARG,
                         "nb_fit: monitor '%s' needs validation data (give val or "
                         "val_split)",
                         name);
    unsigned need = strcmp(m, "accuracy") == 0  ? NB_METRIC_ACCURACY
                    : strcmp(m, "mse") == 0     ? NB_METRIC_MSE
                    : strcmp(m, "mae") == 0     ? NB_METRIC_MAE
                    : strcmp(m, "r2") == 0      ? NB_METRIC_R2
                    : strcmp(m, "rmse") == 0    ? NB_METRIC_RMSE
                    : strncmp(m, "top", 3) == 0 ? NB_METRIC_TOP_K
                                                : 0;
    if (need && !(o->metrics & need))
        return nbi_error(NB_ERR_ARG,
                         "nb_fit: monitor '%s' is not measured; add its metric to "
                         "nb_fit_opts.metrics",
                         name);
    return NB_OK;
}

/* ---- the start ----------------------------------------------------------------------------- */

/* The training state: a fresh one from the seed, or the caller's, checked. */
static nb_status start_state(fit_run *r) {
    const char *fn = "nb_fit";
    r->st = r->o.state ? r->o.state : &r->own_state;
    nb_train_state *st = r->st;
    if (!r->o.state || st->version == 0) {
        nb_train_state_init(st, r->o.seed);
        st->step = nb_optim_step_count(r->opt);
        return NB_OK;
    }
    if (nb_train_state_check(st) != NB_OK)
        return nbi_error(NB_ERR_ARG, "%s: %s", fn, nb_last_error());
    if (st->step != nb_optim_step_count(r->opt))
        return nbi_error(NB_ERR_STATE,
                         "%s: the training state is at step %lld (epoch %lld) but "
                         "the optimizer has taken %lld steps; restore the optimizer's state "
                         "(nb_optim_state_buffer, nb_optim_set_step_count) with the parameters",
                         fn, (long long)st->step, (long long)st->epoch,
                         (long long)nb_optim_step_count(r->opt));
    return NB_OK;
}

/* The training set (or its split), the validation set, their loaders. */
static nb_status start_data(fit_run *r, const nb_dataset *train) {
    const nb_fit_opts *o = &r->o;
    nb_status s;
    r->tr = train;
    r->va = o->val;
    if (o->val_split > 0.0) {
        s = nb_dataset_split(train, o->val_split, o->seed, &r->split_train, &r->split_val);
        if (s != NB_OK) return s;
        r->tr = r->split_train;
        r->va = r->split_val;
    }
    const int shards = r->rp ? r->rp->size : 1, shard = r->rp ? r->rp->rank : 0;
    nb_loader_opts lo = {.batch_size = o->batch_size,
                         .shuffle = !o->no_shuffle,
                         .drop_last = o->drop_last,
                         .flatten = 1,
                         .prefetch = o->prefetch,
                         .norm = o->norm,
                         .target_norm = o->target_norm,

                         .shards = shards,
                         .shard = shard};
    if ((s = nb_loader_new(r->tr, &lo, &r->train_ld)) != NB_OK) return s;
    if (r->va) {
        nb_loader_opts vo = {.batch_size = o->val_batch_size,
                             .flatten = 1,
                             .prefetch = o->prefetch,
                             .norm = o->norm,
                             .target_norm = o->target_norm,

                             .shards = shards,
                             .shard = shard};
        if ((s = nb_loader_new(r->va, &vo, &r->val_ld)) != NB_OK) return s;
    }
    r->num_batches = nb_loader_num_batches(r->train_ld);
    r->samples = o->drop_last ? r->num_batches * o->batch_size * shards : nb_dataset_len(r->tr);
    if (r->samples > nb_dataset_len(r->tr)) r->samples = nb_dataset_len(r->tr);
    if (r->num_batches == 0)
        return nbi_error(NB_ERR_ARG, "nb_fit: no training batch: %lld samples, batch size %lld%s%s",
                         (long long)nb_dataset_len(r->tr), (long long)o->batch_size,
                         shards > 1 ? " per replica" : "", o->drop_last ? " with drop_last" : "");
    return NB_OK;
}

/* The metric accumulators, the monitor, the buffer for the best weights. */
static nb_status start_metrics(fit_run *r) {
    const nb_fit_opts *o = &r->o;
    r->mflags = o->metrics & ~(unsigned)NB_METRIC_CONFUSION;
    if (r->mflags & (NB_METRIC_F1 | NB_METRIC_ROC_AUC))
        return nbi_error(NB_ERR_ARG, "nb_fit: F1 and ROC-AUC are not kept per epoch; measure "
                                     "them with nb_evaluate");
    /* classes from the model's output (2 for a binary output) */
    int classes = nbi_loss_is_classifier(o->loss) ? (int)r->io.out_shape[0] : 0;
    r->train_mt = nb_metrics_new_outputs(o->loss, r->mflags, classes, o->top_k, r->io.out_features);
    if (!r->train_mt) return nbi_error(NB_ERR_ARG, "nb_fit: %s", nb_last_error());
    if (r->va && !(r->val_mt = nb_metrics_new_outputs(o->loss, r->mflags, classes, o->top_k,
                                                      r->io.out_features)))
        return NB_ERR_NOMEM;

    r->monitor = o->monitor ? o->monitor : r->va ? "val_loss" : "loss";
    nb_status s = check_monitor(o, r->va != NULL, r->monitor);
    if (s != NB_OK) return s;
    const char *m = strncmp(r->monitor, "val_", 4) == 0 ? r->monitor + 4 : r->monitor;
    r->maximize = o->mode == NB_MONITOR_MAX ||
                  (o->mode == NB_MONITOR_AUTO &&
                   (strstr(r->monitor, "accuracy") != NULL || strcmp(m, "r2") == 0));

    /* a copy of the best epoch's weights (and the model's state, batchnorm's running
     * statistics), when they may be put back at the end */
    const int may_restore =
        o->restore == NB_RESTORE_BEST || (o->restore == NB_RESTORE_AUTO && o->early_stopping);
    nb_params *state = nb_model_state(r->model);
    r->nparams = nb_params_numel(nb_model_params(r->model));
    r->nstate = state ? nb_params_numel(state) : 0;
    if (may_restore && r->nparams + r->nstate > 0) {
        r->best = nbi_malloc_for("nb_fit: best weights",
                                 sizeof(float) * (size_t)(r->nparams + r->nstate));
        if (!r->best) return NB_ERR_NOMEM;
    }
    return NB_OK;
}

/* Options, state, data, metrics, history, context, schedule, the progress header. */
static nb_status fit_start(fit_run *r, const nb_dataset *train) {
    const char *fn = "nb_fit";
    const nb_fit_opts *o = &r->o;
    nbi_model_io_get(r->model, &r->io);
    nb_status s = nbi_check_data(fn, r->model, &r->io, train, 1, o->loss);
    if (s == NB_OK && o->val)
        s = nbi_check_data("nb_fit (validation set)", r->model, &r->io, o->val, 1, o->loss);
    if (s == NB_OK) s = start_state(r);
    if (s == NB_OK) s = start_data(r, train);
    if (s == NB_OK) s = start_metrics(r);
    if (s != NB_OK) return s;

    /* history: earlier epochs of a resumed run stay (from the caller, or from the CSV log) */
    const int64_t start = r->st->epoch;
    nb_history *h = r->h;
    if (start > 0 && h->n == 0 && o->csv_path) {
        nb_status rs = nb_history_read_csv(h, o->csv_path);
        if (rs == NB_ERR_FORMAT) return rs;
        if (rs != NB_OK) nb_clear_error(); /* no earlier log: start one */
    }
    while (h->n > 0 && h->rec[h->n - 1].epoch > start) h->n--;
    h->metrics = r->mflags;
    h->top_k = o->top_k;
    const int64_t left = o->epochs > start ? o->epochs - start : 0;
    s = nbi_history_reserve(h, (int64_t)h->n + (left < HISTORY_FIRST ? left : HISTORY_FIRST));
    if (s != NB_OK) return s;

    if (!(r->ctx = nb_ctx_new(NULL))) return NB_ERR_NOMEM;
    /* one process, unweighted: the step can be recorded once a batch size and replayed, the
     * same bits as nb_train_step's eager step (test_train's fit against a loop of it) */
    if (!r->rp && !o->class_weight &&
        !(r->step = nb_step_new(r->model, r->opt, &(nb_step_def){.loss = o->loss})))
        return NB_ERR_NOMEM;
    /* the learning rate: a per-step schedule is attached; a per-epoch one is set each epoch */
    if (o->schedule && !o->schedule_per_epoch &&
        (s = nb_optim_set_schedule(r->opt, o->schedule)) != NB_OK)
        return s;

    nbi_progress *pr = &r->pr;
    nbi_progress_init(pr, o->progress, o->verbose, o->progress_mode, o->epochs, r->mflags,
                      o->top_k);
    char vtext[64] = "";
    if (r->va)
        snprintf(vtext, sizeof vtext, ", validating on %lld samples",
                 (long long)nb_dataset_len(r->va));
    nbi_progress_note(pr, 2,
                      "training on %lld samples (%lld batches of %lld)%s; %s, loss %s, "
                      "%lld parameters",
                      (long long)r->samples, (long long)r->num_batches,
                      (long long)(o->batch_size * (r->rp ? r->rp->size : 1)), vtext,
                      nb_optim_name(r->opt), nb_loss_name(o->loss), (long long)r->nparams);
    if (r->rp)
        nbi_progress_note(pr, 2, "data parallel: %d replicas, %lld samples each per batch%s",
                          r->rp->size, (long long)o->batch_size,
                          r->rp->sync_bn ? ", batch norm synchronised" : "");
    if (start > 0)
        nbi_progress_note(pr, 1, "resuming after epoch %lld (step %lld)", (long long)start,
                          (long long)r->st->step);
    if (r->st->stopped)
        nbi_progress_note(pr, 1, "early stopping already ended this run at epoch %lld",
                          (long long)start);
    return NB_OK;
}

/* ---- an epoch ------------------------------------------------------------------------------ */

/* A step that diverged, or whose forward or backward pass check mode stopped: the message
 * says where (nb_train_step's own message already names the epoch, batch and step). */
static nb_status diverged(const fit_run *r, nb_status s, int64_t epoch, int64_t batch) {
    if (s != NB_ERR_NUMERIC) return s; /* a shape, memory, a hook's own status: as it is */
    const char *e = nb_last_error();
    if (!strncmp(e, "nb_train_step: ", 15))
        return nbi_error(s, "nb_fit: training diverged: %s", e + 15);
    return nbi_error(s,
                     "nb_fit: training diverged in epoch %lld at step %lld (batch %lld of "
                     "%lld): %s",
                     (long long)epoch, (long long)nb_optim_step_count(r->opt) + 1,
                     (long long)batch + 1, (long long)r->num_batches, e);
}

/* The learning rate, a fresh order, a step per batch; fills the record's training part.
 * *stop: on_batch asked to stop. */
static nb_status fit_epoch(fit_run *r, int64_t epoch, nb_epoch_record *rec, int *stop) {
    const nb_fit_opts *o = &r->o;
    nb_train_state *st = r->st;
    nb_status s;
    nb_model_set_training(r->model, 1);
    if (o->schedule && o->schedule_per_epoch &&
        (s = nb_optim_set_lr(r->opt, nb_schedule_lr(o->schedule, epoch - 1))) != NB_OK)
        return s;
    if ((s = nb_loader_epoch(r->train_ld, o->no_shuffle ? NULL : &st->shuffle_rng)) != NB_OK)
        return s;
    nb_metrics_reset(r->train_mt);
    nbi_progress_epoch_begin(&r->pr, epoch, r->num_batches, r->samples);
    const double t0 = nb_time();
    int64_t done = 0;
    double lr = nb_optim_lr(r->opt);
    nb_step_opts so = {.loss = o->loss,
                       .class_weight = o->class_weight,
                       .num_class_weights = o->num_class_weights,
                       .dropout_rng = &st->dropout_rng,
                       .on_grad = o->on_grad,
                       .user = o->hook_user,
                       .clip_grad_norm = o->clip_grad_norm,
                       .clip_grad_value = o->clip_grad_value,
                       .epoch = epoch,
                       .replicas = r->rp};
    for (int64_t bi = 0;; bi++) {
        nb_batch b;
        s = nb_loader_next(r->train_ld, NULL, &b);
        if (s != NB_OK || b.size == 0) break;
        nb_ctx_reset(r->ctx);
        nb_tensor *x = nbi_batch_input(r->ctx, &r->io, b.x, b.size);
        nb_step_result res;
        so.batch = bi;
        so.global_size = b.global;
        s = nbi_train_step_with(r->model, r->opt, r->ctx, x, b.y, &so, &res, r->step);
        if (s != NB_OK) {
            s = diverged(r, s, epoch, bi);
            break;
        }
        lr = res.lr;
        st->step = nb_optim_step_count(r->opt);
        nb_tensor *out = res.out;
        if (!nb_tensor_is_contiguous(out)) out = nb_contiguous(r->ctx, out);
        /* res.loss is the global batch's with replicas: weighted by this shard's size, the
         * replicas' sums add up to the global batch's */
        s = out ? nb_metrics_update(r->train_mt, out, b.y, res.loss) : nb_ctx_status(r->ctx);
        if (s != NB_OK) break;
        done += b.global;
        if (r->pr.bar) {
            nb_metric_values run;
            nb_metrics_result(r->train_mt, &run);
            nbi_progress_batch(&r->pr, bi, done, &run);
        }
        if (o->on_batch) {
            nb_batch_info info = {epoch, bi, r->num_batches, b.size, st->step, res.loss, lr};
            double want = o->on_batch(&info, o->hook_user) != 0;
            if (r->rp && (s = r->rp->sum(&want, 1, r->rp->impl)) != NB_OK) break;
            if (want > 0) {
                *stop = 1;
                break;
            }
        }
    }
    nb_ctx_reset(r->ctx);
    if (s != NB_OK) return s;
    if (r->rp && (s = nbi_metrics_sum(r->train_mt, r->rp)) != NB_OK) return s;
    memset(rec, 0, sizeof *rec);
    rec->epoch = epoch;
    rec->step = st->step;
    rec->lr = lr;
    rec->seconds = nb_time() - t0;
    rec->samples_per_s = rec->seconds > 0 ? (double)done / rec->seconds : 0.0;
    nb_metrics_result(r->train_mt, &rec->train);
    nb_metrics_result(NULL, &rec->val);
    return NB_OK;
}

/* After the batches: the parameters are still finite (an update can overflow where the
 * gradients did not), validation, the monitor, early stopping, the record, logs, checkpoint,
 * on_epoch. Nothing is recorded, logged or checkpointed for an epoch that diverged. */
static nb_status fit_end_epoch(fit_run *r, nb_epoch_record *rec, int *stop) {
    const nb_fit_opts *o = &r->o;
    nb_train_state *st = r->st;
    const int64_t epoch = rec->epoch;
    nb_params *ps = nb_model_params(r->model);
    for (int k = 0; k < 2; k++) { /* the parameters, then the state (running statistics) */
        nb_params *store = k == 0 ? ps : nb_model_state(r->model);
        const int64_t n = k == 0 ? r->nparams : r->nstate;
        const int64_t at =
            n > 0 ? r->ctx->be->find_nonfinite(r->ctx->be, n, nb_params_data(store)) : -1;
        if (at < 0) continue;
        int64_t i;
        const char *name = nbi_param_at(store, at, &i);
        const float v = nb_params_data(store)[at];
        return nbi_error(NB_ERR_NUMERIC,
                         "nb_fit: training diverged in epoch %lld (by step %lld): %s '%s' is %s "
                         "at element %lld (lower the learning rate or clip the gradients)",
                         (long long)epoch, (long long)st->step, k == 0 ? "parameter" : "state",
                         name,
                         isnan(v) ? "NaN"
                         : v > 0  ? "+Inf"
                                  : "-Inf",
                         (long long)i);
    }
    nb_status s;
    if (r->rp && r->rp->sync_state && (s = r->rp->sync_state(r->rp->impl)) != NB_OK) return s;
    if (r->va) {
        nb_metrics_reset(r->val_mt);
        s = nbi_eval_loader(r->model, &r->io, r->val_ld, r->ctx, o->loss, NULL, r->val_mt);
        if (r->rp) s = r->rp->agree(r->rp->impl, s);
        if (s == NB_OK && r->rp) s = nbi_metrics_sum(r->val_mt, r->rp);
        if (s != NB_OK) return s;
        nb_metrics_result(r->val_mt, &rec->val);
        rec->has_val = 1;
    }
    nb_model_set_training(r->model, 1);

    /* the state after this epoch, then what it says about stopping */
    st->epoch = epoch;
    double mv;
    nb_record_value(rec, r->monitor, o->top_k, &mv);
    const int improved = nbi_monitor_step(st, epoch, mv, r->maximize, o->min_delta);
    if (improved && r->best) {
        memcpy(r->best, nb_params_data(ps), sizeof(float) * (size_t)r->nparams);
        if (r->nstate > 0)
            memcpy(r->best + r->nparams, nb_params_data(nb_model_state(r->model)),
                   sizeof(float) * (size_t)r->nstate);
        r->have_best = 1;
    }
    if (o->early_stopping && st->wait >= o->patience && st->wait > 0) {
        st->stopped = 1;
        *stop = 1;
    }

    nb_history *h = r->h;
    h->rec[h->n++] = *rec;
    nbi_progress_epoch_end(&r->pr, rec, improved);
    s = NB_OK;
    if (o->csv_path) s = nb_history_write_csv(h, o->csv_path);
    if (s == NB_OK && o->svg_path) s = nb_history_write_svg(h, o->svg_path, NULL);
    unsigned why = 0;
    if (o->checkpoint_every > 0 && epoch % o->checkpoint_every == 0) why |= NB_CHECKPOINT_PERIODIC;
    if (o->checkpoint_best && improved) why |= NB_CHECKPOINT_BEST;
    if (why && o->checkpoint) {
        /* with replicas: the whole optimizer state (gathered from the shards under ZeRO-1),
         * written by replica 0 */
        nb_optim *full = r->opt;
        nb_status gs = r->rp ? r->rp->full_optim(r->rp->impl, r->opt, &full) : NB_OK;
        if (s == NB_OK) s = gs;
        if (s == NB_OK && r->lead) {
            nb_checkpoint_info ci = {r->model, full, st, &h->rec[h->n - 1], why};
            s = o->checkpoint(&ci, o->checkpoint_user);
        }
    }
    if (r->rp) s = r->rp->agree(r->rp->impl, s);
    if (s != NB_OK) return s;
    if (o->on_epoch) {
        double want = o->on_epoch(&h->rec[h->n - 1], st, o->hook_user) != 0;
        if (r->rp && (s = r->rp->sum(&want, 1, r->rp->impl)) != NB_OK) return s;
        if (want > 0) *stop = 1;
    }
    if (st->stopped)
        nbi_progress_note(&r->pr, 1,
                          "early stopping after epoch %lld: %s has not improved by "
                          "more than %g for %lld epochs; best %.6g at epoch %lld",
                          (long long)epoch, r->monitor, o->min_delta, (long long)st->wait, st->best,
                          (long long)st->best_epoch);
    return NB_OK;
}

/* ---- the end ------------------------------------------------------------------------------- */

/* The best epoch's weights back, when the options ask for them (nb_restore_mode). */
static void fit_finish(fit_run *r) {
    const nb_train_state *st = r->st;
    const nb_history *h = r->h;
    const int restore = r->o.restore == NB_RESTORE_BEST ||
                        (r->o.restore == NB_RESTORE_AUTO && r->o.early_stopping && st->stopped);
    if (!restore || h->n == 0 || st->best_epoch == 0 || st->best_epoch == h->rec[h->n - 1].epoch)
        return;
    if (!r->have_best) {
        nbi_progress_note(&r->pr, 1,
                          "the best weights (epoch %lld) predate this resumed run; "
                          "keeping the last epoch's (load the best checkpoint for them)",
                          (long long)st->best_epoch);
        return;
    }
    memcpy(nb_params_data(nb_model_params(r->model)), r->best, sizeof(float) * (size_t)r->nparams);
    if (r->nstate > 0)
        memcpy(nb_params_data(nb_model_state(r->model)), r->best + r->nparams,
               sizeof(float) * (size_t)r->nstate);
    nbi_progress_note(&r->pr, 1, "restored the weights of epoch %lld (%s %.6g)",
                      (long long)st->best_epoch, r->monitor, st->best);
}

nb_status nb_fit(nb_model *model, nb_optim *opt, const nb_dataset *train, const nb_fit_opts *opts,
                 nb_history *history) {
    if (!model || !opt || !train)
        return nbi_error(NB_ERR_ARG, "nb_fit: %s is NULL",
                         !model ? "the model"
                         : !opt ? "the optimizer"
                                : "the training set");
    fit_run r;
    memset(&r, 0, sizeof r);
    r.model = model;
    r.opt = opt;
    r.h = history ? history : &r.local;
    nb_status s = resolve_opts(&r.o, opts);
    r.rp = s == NB_OK ? r.o.replicas : NULL;
    r.lead = !r.rp || r.rp->rank == 0;
    if (s == NB_OK) s = fit_start(&r, train);
    if (r.rp) s = r.rp->agree(r.rp->impl, s); /* a replica that cannot start stops them all */
    const int stopped_before = s == NB_OK && r.st->stopped; /* early stopping ended it */
    int stop = s != NB_OK || stopped_before;
    for (int64_t epoch = stop ? 0 : r.st->epoch + 1; !stop && epoch <= r.o.epochs; epoch++) {
        nb_epoch_record rec;
        if (r.h->n == r.h->cap) /* room for this epoch's record before it is trained */
            s = nbi_history_reserve(r.h, r.h->cap ? 2 * (int64_t)r.h->cap : HISTORY_FIRST);
        if (s == NB_OK) s = fit_epoch(&r, epoch, &rec, &stop);
        if (s == NB_OK) s = fit_end_epoch(&r, &rec, &stop);
        if (s != NB_OK) stop = 1;
    }
    if (s == NB_OK && !stopped_before)
        fit_finish(&r);
    else if (s != NB_OK)
        nbi_progress_clear(&r.pr); /* the caller's message goes on a line of its own */
    nb_model_set_training(model, 1);
    run_free(&r);
    return s;
}
