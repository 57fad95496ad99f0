/* train/eval.c — running a model over data without training it: evaluate (loss and metrics
 * over a dataset), predict (outputs for a tensor or a dataset), and the checks and batch
 * loop they share with fit's validation.
 *
 * Batches come from the data loader flat ([b, features], normalised) and are viewed with the
 * model's input shape, so an image dataset stored [28, 28] feeds a model declared [784] or
 * [1, 28, 28] alike. Forward passes run in inference mode with grad off; the model's mode is
 * put back afterwards. */
#include "train/train.h"
#include "autograd/autograd.h"

#include <string.h>

static int64_t prod(int rank, const int64_t *shape) {
    int64_t p = 1;
    for (int i = 0; i < rank; i++) p *= shape[i];
    return p;
}

void nbi_model_io_get(const nb_model *m, nbi_model_io *io) {
    memset(io, 0, sizeof *io);
    io->in_rank = nb_model_input_shape(m, io->in_shape);
    io->in_features = prod(io->in_rank, io->in_shape);
    io->out_rank = nb_model_output_shape(m, io->out_shape);
    io->out_features = prod(io->out_rank, io->out_shape);
}

static void shape_text(int rank, const int64_t *shape, char *b, size_t n) {
    size_t k = 0;
    int w = snprintf(b, n, "(");
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < rank && k < n; i++) {
        w = snprintf(b + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w > 0) k += (size_t)w;
    }
    if (k < n) snprintf(b + k, n - k, ")");
}

static const char *first_layer(const nb_model *m) {
    const char *n = nb_model_layer_name(m, 0);
    return n ? n : "(no layers)";
}

static const char *last_layer(const nb_model *m) {
    const char *n = nb_model_layer_name(m, nb_model_layer_count(m) - 1);
    return n ? n : "(no layers)";
}

nb_status nbi_check_data(const char *fn, const nb_model *m, const nbi_model_io *io,
                         const nb_dataset *ds, int need_y, nb_loss_kind loss) {
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    char want[128], got[128];
    if (info.features != io->in_features) {
        shape_text(io->in_rank, io->in_shape, want, sizeof want);
        shape_text(info.sample_rank, info.sample_shape, got, sizeof got);
        return nbi_error(NB_ERR_SHAPE, "%s: the data's samples have shape %s (%lld values) but "
                         "the model's first layer '%s' takes input %s (%lld values); check the "
                         "data file or the model's input shape", fn, got,
                         (long long)info.features, first_layer(m), want,
                         (long long)io->in_features);
    }
    if (!need_y) return NB_OK;
    shape_text(io->out_rank, io->out_shape, want, sizeof want);
    if (!info.has_y)
        return nbi_error(NB_ERR_ARG, "%s: the data has no labels or targets (loss %s needs "
                         "them)", fn, nb_loss_name(loss));
    if (nbi_loss_is_classifier(loss)) {
        if (info.y_dtype != NB_I32)
            return nbi_error(NB_ERR_ARG, "%s: loss %s needs class labels, but the data has f32 "
                             "targets (use mse/mae/bce, or integer labels)", fn,
                             nb_loss_name(loss));
        if (io->out_rank != 1)
            return nbi_error(NB_ERR_SHAPE, "%s: loss %s needs one score per class, [C], but the "
                             "last layer '%s' outputs %s per sample", fn, nb_loss_name(loss),
                             last_layer(m), want);
        if (info.num_classes > io->out_shape[0])
            return nbi_error(NB_ERR_SHAPE, "%s: the data has %d classes (labels 0..%d) but the "
                             "last layer '%s' has %lld outputs; give it at least %d units", fn,
                             info.num_classes, info.num_classes - 1, last_layer(m),
                             (long long)io->out_shape[0], info.num_classes);
    } else {
        if (info.y_dtype != NB_F32)
            return nbi_error(NB_ERR_ARG, "%s: loss %s needs f32 targets, but the data has class "
                             "labels (use cross_entropy, or load the column as a target)", fn,
                             nb_loss_name(loss));
        if (info.y_dim != io->out_features) {
            shape_text(info.y_rank, info.y_shape, got, sizeof got);
            return nbi_error(NB_ERR_SHAPE, "%s: the data's targets have shape %s (%lld values) "
                             "but the last layer '%s' outputs %s (%lld values)", fn, got,
                             (long long)info.y_dim, last_layer(m), want,
                             (long long)io->out_features);
        }
    }
    return NB_OK;
}

nb_tensor *nbi_batch_input(nb_ctx *ctx, const nbi_model_io *io, nb_tensor *flat, int64_t b) {
    int64_t shape[NB_MAX_RANK];
    shape[0] = b;
    for (int i = 0; i < io->in_rank; i++) shape[i + 1] = io->in_shape[i];
    return nb_tensor_from(ctx, NB_F32, flat->data, io->in_rank + 1, shape);
}

nb_status nbi_eval_loader(nb_model *m, const nbi_model_io *io, nb_loader *ld, nb_ctx *ctx,
                          nb_loss_kind loss, nb_metrics *mt) {
    nb_status s = nb_loader_epoch(ld, NULL);
    if (s != NB_OK) return s;
    int was_training = nb_model_training(m);
    nb_model_set_training(m, 0);
    int had_grad = nb_ctx_set_grad(ctx, 0);
    for (;;) {
        nb_batch b;
        s = nb_loader_next(ld, NULL, &b);
        if (s != NB_OK || b.size == 0) break;
        nb_ctx_reset(ctx);
        nb_tensor *out = nb_model_forward(m, ctx, nbi_batch_input(ctx, io, b.x, b.size));
        nb_tensor *l = nb_loss_apply(ctx, loss, out, b.y);
        if (l) out = nbi_contig(ctx, out);
        if (!l || !out) {
            s = nb_ctx_status(ctx) != NB_OK ? nb_ctx_status(ctx) : NB_ERR_ARG;
            break;
        }
        s = nb_metrics_update(mt, out, b.y, (double)nb_item(l));
        if (s != NB_OK) break;
    }
    nb_ctx_reset(ctx);
    nb_ctx_set_grad(ctx, had_grad);
    nb_model_set_training(m, was_training);
    return s;
}

nb_status nb_evaluate(nb_model *model, const nb_dataset *ds, const nb_eval_opts *opts,
                      nb_metrics *mt) {
    const char *fn = "nb_evaluate";
    if (!model || !ds || !mt)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn,
                         !model ? "the model" : !ds ? "the dataset" : "the metrics accumulator");
    nb_eval_opts o = opts ? *opts : (nb_eval_opts){0};
    if (o.batch_size == 0) o.batch_size = 256;
    if (o.batch_size < 0)
        return nbi_error(NB_ERR_ARG, "%s: batch_size must be > 0, got %lld", fn,
                         (long long)o.batch_size);
    nbi_model_io io;
    nbi_model_io_get(model, &io);
    nb_loss_kind loss = nbi_metrics_loss(mt);
    nb_status s = nbi_check_data(fn, model, &io, ds, 1, loss);
    if (s != NB_OK) return s;
    nb_loader *ld = NULL;
    nb_loader_opts lo = {.batch_size = o.batch_size, .flatten = 1, .prefetch = o.prefetch,
                         .norm = o.norm};
    s = nb_loader_new(ds, &lo, &ld);
    if (s != NB_OK) return s;
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!ctx) {
        nb_loader_free(ld);
        return NB_ERR_NOMEM;
    }
    nb_metrics_reset(mt);
    s = nbi_eval_loader(model, &io, ld, ctx, loss, mt);
    nb_ctx_free(ctx);
    nb_loader_free(ld);
    return s;
}

/* ---- predict ------------------------------------------------------------------------------- */

/* A heap tensor [n, output shape...]. */
static nb_tensor *new_output(const nbi_model_io *io, int64_t n) {
    int64_t shape[NB_MAX_RANK];
    shape[0] = n;
    for (int i = 0; i < io->out_rank; i++) shape[i + 1] = io->out_shape[i];
    return nb_tensor_new(NULL, NB_F32, io->out_rank + 1, shape);
}

/* Runs one batch of flat inputs and copies its outputs to dst. */
static nb_status predict_batch(nb_model *m, const nbi_model_io *io, nb_ctx *ctx, nb_tensor *flat,
                               int64_t b, float *dst) {
    nb_ctx_reset(ctx);
    nb_tensor *out = nb_model_forward(m, ctx, nbi_batch_input(ctx, io, flat, b));
    if (out) out = nbi_contig(ctx, out);
    if (!out) return nb_ctx_status(ctx) != NB_OK ? nb_ctx_status(ctx) : NB_ERR_ARG;
    NBI_ASSERT(out->numel == b * io->out_features);
    memcpy(dst, out->data, sizeof(float) * (size_t)out->numel);
    return NB_OK;
}

nb_tensor *nb_predict(nb_model *model, const nb_tensor *x, int64_t batch_size) {
    const char *fn = "nb_predict";
    if (!model || !x) {
        nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, !model ? "the model" : "the input");
        return NULL;
    }
    if (batch_size == 0) batch_size = 256;
    nbi_model_io io;
    nbi_model_io_get(model, &io);
    char got[96], want[128];
    if (batch_size < 0 || x->dtype != NB_F32 || x->rank < 1) {
        nbi_error(NB_ERR_ARG, "%s: %s (got input %s, batch size %lld)", fn,
                  batch_size < 0 ? "batch_size must be > 0"
                                 : "the input must be f32 [N, ...], one sample per row",
                  nb_shape_str(x, got, sizeof got), (long long)batch_size);
        return NULL;
    }
    const int64_t n = x->shape[0];
    if (prod(x->rank - 1, x->shape + 1) != io.in_features) {
        shape_text(io.in_rank, io.in_shape, want, sizeof want);
        nbi_error(NB_ERR_SHAPE, "%s: input %s has %lld values per sample but the model's first "
                  "layer '%s' takes input %s (%lld values)", fn, nb_shape_str(x, got, sizeof got),
                  (long long)prod(x->rank - 1, x->shape + 1), first_layer(model), want,
                  (long long)io.in_features);
        return NULL;
    }
    nb_tensor *xc = NULL; /* a contiguous copy, if x is not */
    if (!nb_tensor_is_contiguous(x)) {
        xc = nb_tensor_clone(NULL, x);
        if (!xc) return NULL;
        x = xc;
    }
    nb_tensor *y = new_output(&io, n);
    nb_ctx *ctx = y ? nb_ctx_new(NULL) : NULL;
    nb_status s = ctx ? NB_OK : NB_ERR_NOMEM;
    int was_training = nb_model_training(model);
    nb_model_set_training(model, 0);
    if (ctx) nb_ctx_set_grad(ctx, 0);
    for (int64_t i = 0; s == NB_OK && i < n; i += batch_size) {
        int64_t b = n - i < batch_size ? n - i : batch_size;
        nb_tensor flat = *x; /* rows i .. i+b as a flat view */
        flat.data = nb_f32(x) + i * io.in_features;
        s = predict_batch(model, &io, ctx, &flat, b, nb_f32(y) + i * io.out_features);
    }
    nb_model_set_training(model, was_training);
    nb_ctx_free(ctx);
    nb_tensor_free(xc);
    if (s != NB_OK) {
        nb_tensor_free(y);
        return NULL;
    }
    return y;
}

nb_tensor *nb_predict_dataset(nb_model *model, const nb_dataset *ds, const nb_norm *norm,
                              int64_t batch_size) {
    const char *fn = "nb_predict_dataset";
    if (!model || !ds) {
        nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, !model ? "the model" : "the dataset");
        return NULL;
    }
    if (batch_size == 0) batch_size = 256;
    if (batch_size < 0) {
        nbi_error(NB_ERR_ARG, "%s: batch_size must be > 0, got %lld", fn, (long long)batch_size);
        return NULL;
    }
    nbi_model_io io;
    nbi_model_io_get(model, &io);
    if (nbi_check_data(fn, model, &io, ds, 0, NB_LOSS_MSE) != NB_OK) return NULL;
    nb_loader *ld = NULL;
    nb_loader_opts lo = {.batch_size = batch_size, .flatten = 1, .norm = norm};
    if (nb_loader_new(ds, &lo, &ld) != NB_OK) return NULL;
    nb_tensor *y = new_output(&io, nb_dataset_len(ds));
    nb_ctx *ctx = y ? nb_ctx_new(NULL) : NULL;
    nb_status s = ctx ? nb_loader_epoch(ld, NULL) : NB_ERR_NOMEM;
    int was_training = nb_model_training(model);
    nb_model_set_training(model, 0);
    if (ctx) nb_ctx_set_grad(ctx, 0);
    int64_t done = 0;
    while (s == NB_OK) {
        nb_batch b;
        s = nb_loader_next(ld, NULL, &b);
        if (s != NB_OK || b.size == 0) break;
        s = predict_batch(model, &io, ctx, b.x, b.size, nb_f32(y) + done * io.out_features);
        done += b.size;
    }
    nb_model_set_training(model, was_training);
    nb_ctx_free(ctx);
    nb_loader_free(ld);
    if (s != NB_OK) {
        nb_tensor_free(y);
        return NULL;
    }
    return y;
}
