/* train/fit.c — the training loop: epochs of mini-batch gradient descent with validation,
 * early stopping, checkpoints, hooks, progress and logs.
 *
 * One step, for a batch (x, y) of b samples:
 *     ŷ = model(x)                  forward, recorded on the tape (training mode)
 *     L = loss(ŷ, y)                the batch mean
 *     ∇ = ∂L/∂θ                     nb_backward into the flat gradient buffer (zeroed first)
 *     θ ← update(θ, ∇, lr(t))       the optimizer; t = steps so far (per-step schedules)
 * then the context is reset, releasing the step's tensors at once.
 *
 * Everything random draws from the training state: the shuffle of each epoch from
 * shuffle_rng, dropout masks from dropout_rng. With the parameters and the optimizer state,
 * the state is all a run needs to continue exactly (see nb_train_state in train.h).
 *
 * Nothing in the batch loop allocates from the heap: the loader fills its own buffers (on
 * another thread when prefetching), the context's arena keeps its chunks across resets, the
 * metric accumulators and history records exist before the first epoch. */
#include "train/train.h"

#include <math.h>
#include <string.h>

nb_fit_opts nb_fit_defaults(void) {
    nb_fit_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 1;
    o.batch_size = 32;
    o.loss = NB_LOSS_CROSS_ENTROPY;
    o.top_k = 5;
    o.val_batch_size = 256;
    o.verbose = 1;
    return o;
}

void nb_train_state_init(nb_train_state *st, uint64_t seed) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    st->version = NB_TRAIN_STATE_VERSION;
    nb_rng root;
    nb_rng_seed(&root, seed);
    st->shuffle_rng = nb_rng_split(&root);
    st->dropout_rng = nb_rng_split(&root);
    st->best = NAN;
}

int nbi_monitor_step(nb_train_state *st, int64_t epoch, double v, int maximize,
                     double min_delta) {
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

/* The forward pass of a training step, with the generator of layers that draw (dropout). */
static nb_tensor *train_forward(nb_model *m, nb_ctx *ctx, nb_tensor *x, nb_rng *dropout_rng) {
    return nb_model_forward_rng(m, ctx, x, dropout_rng);
}

/* Everything fit makes, freed in one place. */
typedef struct fit_run {
    nb_dataset *split_train, *split_val;
    nb_loader *train_ld, *val_ld;
    nb_ctx *ctx;
    nb_metrics *train_mt, *val_mt;
    float *best_params;
    nb_history local;
} fit_run;

static void run_free(fit_run *r) {
    nb_dataset_free(r->split_train);
    nb_dataset_free(r->split_val);
    nb_loader_free(r->train_ld);
    nb_loader_free(r->val_ld);
    nb_ctx_free(r->ctx);
    nb_metrics_free(r->train_mt);
    nb_metrics_free(r->val_mt);
    nbi_free(r->best_params);
    nb_history_free(&r->local);
}

/* Checks the options and fills in the defaults. */
static nb_status resolve_opts(nb_fit_opts *o, const nb_fit_opts *in) {
    const char *fn = "nb_fit";
    *o = in ? *in : nb_fit_defaults();
    if (o->epochs == 0) o->epochs = 1;
    if (o->batch_size == 0) o->batch_size = 32;
    if (o->val_batch_size == 0) o->val_batch_size = 256;
    if (o->top_k == 0) o->top_k = 5;
    if (o->epochs < 0 || o->batch_size < 0 || o->val_batch_size < 0 || o->top_k < 0)
        return nbi_error(NB_ERR_ARG, "%s: epochs, batch_size, val_batch_size and top_k must be "
                         "> 0 (0 takes the default); got %lld, %lld, %lld, %d", fn,
                         (long long)o->epochs, (long long)o->batch_size,
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
        return nbi_error(NB_ERR_ARG, "%s: checkpoints asked for (checkpoint_every or "
                         "checkpoint_best) but no checkpoint function given", fn);
    if (o->schedule) {
        nb_status s = nb_schedule_check(o->schedule);
        if (s != NB_OK) return s;
    }
    if ((unsigned)o->mode > NB_MONITOR_MAX || (unsigned)o->progress_mode > NB_PROGRESS_LINES)
        return nbi_error(NB_ERR_ARG, "%s: unknown monitor mode or progress mode", fn);
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
        return nbi_error(NB_ERR_ARG, "nb_fit: monitor '%s' needs validation data (give val or "
                         "val_split)", name);
    unsigned need = strcmp(m, "accuracy") == 0 ? NB_METRIC_ACCURACY
                    : strcmp(m, "mse") == 0    ? NB_METRIC_MSE
                    : strcmp(m, "mae") == 0    ? NB_METRIC_MAE
                    : strncmp(m, "top", 3) == 0 ? NB_METRIC_TOP_K
                                               : 0;
    if (need && !(o->metrics & need))
        return nbi_error(NB_ERR_ARG, "nb_fit: monitor '%s' is not measured; add its metric to "
                         "nb_fit_opts.metrics", name);
    return NB_OK;
}

static nb_status write_logs(const nb_fit_opts *o, const nb_history *h) {
    nb_status s = NB_OK;
    if (o->csv_path) s = nb_history_write_csv(h, o->csv_path);
    if (s == NB_OK && o->svg_path) s = nb_history_write_svg(h, o->svg_path, NULL);
    return s;
}

nb_status nb_fit(nb_model *model, nb_optim *opt, const nb_dataset *train,
                 const nb_fit_opts *opts, nb_history *history) {
    const char *fn = "nb_fit";
    if (!model || !opt || !train)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn,
                         !model ? "the model" : !opt ? "the optimizer" : "the training set");
    nb_fit_opts o;
    nb_status s = resolve_opts(&o, opts);
    if (s != NB_OK) return s;

    nbi_model_io io;
    nbi_model_io_get(model, &io);
    s = nbi_check_data(fn, model, &io, train, 1, o.loss);
    if (s != NB_OK) return s;
    if (o.val) {
        s = nbi_check_data("nb_fit (validation set)", model, &io, o.val, 1, o.loss);
        if (s != NB_OK) return s;
    }

    nb_train_state own_state;
    nb_train_state *st = o.state ? o.state : &own_state;
    if (!o.state || st->version == 0) {
        nb_train_state_init(st, o.seed);
        st->step = nb_optim_step_count(opt);
    } else if (st->version != NB_TRAIN_STATE_VERSION) {
        return nbi_error(NB_ERR_ARG, "%s: training state version %d is not %d (made by another "
                         "nabla?)", fn, st->version, NB_TRAIN_STATE_VERSION);
    } else if (st->epoch < 0 || st->step != nb_optim_step_count(opt)) {
        return nbi_error(NB_ERR_STATE, "%s: the training state is at step %lld (epoch %lld) but "
                         "the optimizer has taken %lld steps; restore the optimizer's state "
                         "(nb_optim_state_buffer, nb_optim_set_step_count) with the parameters", fn,
                         (long long)st->step, (long long)st->epoch,
                         (long long)nb_optim_step_count(opt));
    }
    const int64_t start = st->epoch;

    fit_run r;
    memset(&r, 0, sizeof r);
    nb_history *h = history ? history : &r.local;

    /* data: the training set (or its split) and the validation set */
    const nb_dataset *tr = train, *va = o.val;
    if (o.val_split > 0.0) {
        s = nb_dataset_split(train, o.val_split, o.seed, &r.split_train, &r.split_val);
        if (s != NB_OK) goto done;
        tr = r.split_train;
        va = r.split_val;
    }
    nb_loader_opts lo = {.batch_size = o.batch_size, .shuffle = !o.no_shuffle,
                         .drop_last = o.drop_last, .flatten = 1, .prefetch = o.prefetch,
                         .norm = o.norm};
    s = nb_loader_new(tr, &lo, &r.train_ld);
    if (s != NB_OK) goto done;
    if (va) {
        nb_loader_opts vo = {.batch_size = o.val_batch_size, .flatten = 1,
                             .prefetch = o.prefetch, .norm = o.norm};
        s = nb_loader_new(va, &vo, &r.val_ld);
        if (s != NB_OK) goto done;
    }
    const int64_t num_batches = nb_loader_num_batches(r.train_ld);
    int64_t samples = nb_dataset_len(tr);
    if (o.drop_last) samples = num_batches * o.batch_size;
    if (num_batches == 0) {
        s = nbi_error(NB_ERR_ARG, "%s: no training batch: %lld samples, batch size %lld%s", fn,
                      (long long)nb_dataset_len(tr), (long long)o.batch_size,
                      o.drop_last ? " with drop_last" : "");
        goto done;
    }

    /* metrics: classes from the model's output (2 for a binary output) */
    unsigned mflags = o.metrics & ~(unsigned)NB_METRIC_CONFUSION;
    int classes = nbi_loss_is_classifier(o.loss) ? (int)io.out_shape[0] : 0;
    r.train_mt = nb_metrics_new(o.loss, mflags, classes, o.top_k);
    if (!r.train_mt) {
        s = nbi_error(NB_ERR_ARG, "%s: %s", fn, nb_last_error());
        goto done;
    }
    if (va) {
        r.val_mt = nb_metrics_new(o.loss, mflags, classes, o.top_k);
        if (!r.val_mt) {
            s = NB_ERR_NOMEM;
            goto done;
        }
    }

    /* the monitored metric */
    const char *monitor = o.monitor ? o.monitor : va ? "val_loss" : "loss";
    s = check_monitor(&o, va != NULL, monitor);
    if (s != NB_OK) goto done;
    const int maximize = o.mode == NB_MONITOR_MAX ||
                         (o.mode == NB_MONITOR_AUTO && strstr(monitor, "accuracy") != NULL);
    const int64_t nparams = nb_params_numel(nb_model_params(model));
    float *params = nb_params_data(nb_model_params(model));
    if (o.restore_best && nparams > 0) {
        r.best_params = nbi_malloc_for("nb_fit: best weights", sizeof(float) * (size_t)nparams);
        if (!r.best_params) {
            s = NB_ERR_NOMEM;
            goto done;
        }
    }
    int have_best = 0; /* best_params holds the weights of st->best_epoch */

    /* history: earlier epochs of a resumed run stay (from the caller, or from the CSV log) */
    if (start > 0 && h->n == 0 && o.csv_path) {
        nb_status rs = nb_history_read_csv(h, o.csv_path);
        if (rs == NB_ERR_FORMAT) {
            s = rs;
            goto done;
        }
        if (rs != NB_OK) nb_clear_error(); /* no earlier log: start one */
    }
    while (h->n > 0 && h->rec[h->n - 1].epoch > start) h->n--;
    h->metrics = mflags;
    h->top_k = o.top_k;
    s = nbi_history_reserve(h, (int64_t)h->n + (o.epochs > start ? o.epochs - start : 0));
    if (s != NB_OK) goto done;

    r.ctx = nb_ctx_new(NULL);
    if (!r.ctx) {
        s = NB_ERR_NOMEM;
        goto done;
    }

    /* the learning rate: a per-step schedule is attached; a per-epoch one is set each epoch */
    if (o.schedule && !o.schedule_per_epoch) {
        s = nb_optim_set_schedule(opt, o.schedule);
        if (s != NB_OK) goto done;
    }

    nbi_progress pr;
    nbi_progress_init(&pr, o.progress, o.verbose, o.progress_mode, o.epochs, mflags, o.top_k);
    char vtext[64] = "";
    if (va)
        snprintf(vtext, sizeof vtext, ", validating on %lld samples", (long long)nb_dataset_len(va));
    nbi_progress_note(&pr, 2, "training on %lld samples (%lld batches of %lld)%s; %s, loss %s, "
                      "%lld parameters", (long long)samples, (long long)num_batches,
                      (long long)o.batch_size, vtext, nb_optim_name(opt), nb_loss_name(o.loss),
                      (long long)nparams);
    if (start > 0)
        nbi_progress_note(&pr, 1, "resuming after epoch %lld (step %lld)", (long long)start,
                          (long long)st->step);
    if (st->stopped) {
        nbi_progress_note(&pr, 1, "early stopping already ended this run at epoch %lld",
                          (long long)start);
        goto done;
    }

    int stop = 0;
    for (int64_t epoch = start + 1; epoch <= o.epochs && !stop; epoch++) {
        nb_model_set_training(model, 1);
        if (o.schedule && o.schedule_per_epoch) {
            s = nb_optim_set_lr(opt, nb_schedule_lr(o.schedule, epoch - 1));
            if (s != NB_OK) break;
        }
        s = nb_loader_epoch(r.train_ld, lo.shuffle ? &st->shuffle_rng : NULL);
        if (s != NB_OK) break;
        nb_metrics_reset(r.train_mt);
        nbi_progress_epoch_begin(&pr, epoch, num_batches, samples);
        const double t0 = nb_time();
        int64_t done_samples = 0;
        double lr = nb_optim_lr(opt);
        for (int64_t bi = 0;; bi++) {
            nb_batch b;
            s = nb_loader_next(r.train_ld, NULL, &b);
            if (s != NB_OK || b.size == 0) break;
            nb_ctx_reset(r.ctx);
            nb_tensor *x = nbi_batch_input(r.ctx, &io, b.x, b.size);
            nb_tensor *out = train_forward(model, r.ctx, x, &st->dropout_rng);
            nb_tensor *loss = nb_loss_apply(r.ctx, o.loss, out, b.y);
            if (!loss) {
                s = nb_ctx_status(r.ctx) != NB_OK ? nb_ctx_status(r.ctx) : NB_ERR_ARG;
                break;
            }
            nb_optim_zero_grad(opt);
            s = nb_backward(r.ctx, loss);
            if (s != NB_OK) break;
            lr = nb_optim_lr(opt);
            s = nb_optim_step(opt);
            if (s != NB_OK) break;
            st->step = nb_optim_step_count(opt);
            const double bl = (double)nb_item(loss);
            if (!nb_tensor_is_contiguous(out)) out = nb_contiguous(r.ctx, out);
            s = out ? nb_metrics_update(r.train_mt, out, b.y, bl) : nb_ctx_status(r.ctx);
            if (s != NB_OK) break;
            done_samples += b.size;
            if (pr.bar) {
                nb_metric_values run;
                nb_metrics_result(r.train_mt, &run);
                nbi_progress_batch(&pr, bi, done_samples, &run);
            }
            if (o.on_batch) {
                nb_batch_info bi_info = {epoch, bi, num_batches, b.size, st->step, bl, lr};
                if (o.on_batch(&bi_info, o.hook_user)) {
                    stop = 1;
                    break;
                }
            }
        }
        nb_ctx_reset(r.ctx);
        if (s != NB_OK) break;

        nb_epoch_record rec;
        memset(&rec, 0, sizeof rec);
        rec.epoch = epoch;
        rec.step = st->step;
        rec.lr = lr;
        rec.seconds = nb_time() - t0;
        rec.samples_per_s = rec.seconds > 0 ? (double)done_samples / rec.seconds : 0.0;
        nb_metrics_result(r.train_mt, &rec.train);
        nb_metrics_result(NULL, &rec.val);
        if (va) {
            nb_metrics_reset(r.val_mt);
            s = nbi_eval_loader(model, &io, r.val_ld, r.ctx, o.loss, r.val_mt);
            if (s != NB_OK) break;
            nb_metrics_result(r.val_mt, &rec.val);
            rec.has_val = 1;
        }
        nb_model_set_training(model, 1);

        /* the state after this epoch, then what it says about stopping */
        st->epoch = epoch;
        double mv;
        nb_record_value(&rec, monitor, o.top_k, &mv);
        const int improved = nbi_monitor_step(st, epoch, mv, maximize, o.min_delta);
        if (improved && r.best_params) {
            memcpy(r.best_params, params, sizeof(float) * (size_t)nparams);
            have_best = 1;
        }
        if (o.early_stopping && st->wait >= o.patience && st->wait > 0) {
            st->stopped = 1;
            stop = 1;
        }

        h->rec[h->n++] = rec;
        nbi_progress_epoch_end(&pr, &rec, improved);
        s = write_logs(&o, h);
        if (s != NB_OK) break;
        unsigned why = 0;
        if (o.checkpoint_every > 0 && epoch % o.checkpoint_every == 0) why |= NB_CHECKPOINT_PERIODIC;
        if (o.checkpoint_best && improved) why |= NB_CHECKPOINT_BEST;
        if (why && o.checkpoint) {
            nb_checkpoint_info ci = {model, opt, st, &h->rec[h->n - 1], why};
            s = o.checkpoint(&ci, o.checkpoint_user);
            if (s != NB_OK) break;
        }
        if (o.on_epoch && o.on_epoch(&h->rec[h->n - 1], st, o.hook_user)) stop = 1;
        if (st->stopped)
            nbi_progress_note(&pr, 1, "early stopping after epoch %lld: %s has not improved by "
                              "more than %g for %lld epochs; best %.6g at epoch %lld",
                              (long long)epoch, monitor, o.min_delta, (long long)st->wait,
                              st->best, (long long)st->best_epoch);
    }

    if (s == NB_OK && o.restore_best && h->n > 0 && st->best_epoch > 0 &&
        st->best_epoch != h->rec[h->n - 1].epoch) {
        if (have_best) {
            memcpy(params, r.best_params, sizeof(float) * (size_t)nparams);
            nbi_progress_note(&pr, 1, "restored the weights of epoch %lld (%s %.6g)",
                              (long long)st->best_epoch, monitor, st->best);
        } else {
            nbi_progress_note(&pr, 1, "the best weights (epoch %lld) predate this resumed run; "
                              "keeping the last epoch's (load the best checkpoint for them)",
                              (long long)st->best_epoch);
        }
    }

done:
    nb_model_set_training(model, 1);
    run_free(&r);
    return s;
}
