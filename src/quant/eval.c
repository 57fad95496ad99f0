/* quant/eval.c — evaluating a quantized model over a dataset: nb_evaluate's loop (the loader's
 * flat, normalised batches; the loss and metrics of an accumulator) around nb_qmodel_infer.
 * The data is checked against the model first, with nb_evaluate's rules. */
#include "quant/quant.h"
#include "train/train.h"

#include <string.h>

static nb_status check_data(const nb_qmodel *q, const nb_dataset *ds, nb_loss_kind loss) {
    const char *fn = "nb_qmodel_evaluate";
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    int64_t F = nbi_qshape_size(&q->in), outs = 1;
    for (int d = 0; d < q->out_rank; d++) outs *= q->out_shape[d];
    if (info.features != F)
        return nbi_error(NB_ERR_SHAPE,
                         "%s: the data's samples have %lld values but the model "
                         "takes %lld",
                         fn, (long long)info.features, (long long)F);
    if (!info.has_y)
        return nbi_error(NB_ERR_ARG, "%s: the data has no labels or targets (loss %s needs them)",
                         fn, nb_loss_name(loss));
    if (nbi_loss_is_classifier(loss)) {
        if (info.y_dtype != NB_I32 || q->out_rank != 1)
            return nbi_error(NB_ERR_ARG, "%s: loss %s needs class labels and one score per class",
                             fn, nb_loss_name(loss));
        if (info.num_classes > outs)
            return nbi_error(NB_ERR_SHAPE,
                             "%s: the data has %d classes but the model has %lld "
                             "outputs",
                             fn, info.num_classes, (long long)outs);
    } else if (info.y_dtype != NB_F32 || info.y_dim != outs) {
        return nbi_error(NB_ERR_SHAPE, "%s: loss %s needs %lld f32 targets per sample", fn,
                         nb_loss_name(loss), (long long)outs);
    }
    return NB_OK;
}

nb_status nb_qmodel_evaluate(const nb_qmodel *q, const nb_dataset *ds, const nb_eval_opts *opts,
                             nb_metrics *mt) {
    const char *fn = "nb_qmodel_evaluate";
    if (!q || !ds || !mt)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn,
                         !q    ? "the model"
                         : !ds ? "the dataset"
                               : "the metrics accumulator");
    nb_eval_opts o = opts ? *opts : (nb_eval_opts){0};
    if (o.batch_size == 0) o.batch_size = 256;
    if (o.batch_size < 0)
        return nbi_error(NB_ERR_ARG, "%s: batch_size must be > 0, got %lld", fn,
                         (long long)o.batch_size);
    nb_loss_kind loss = nbi_metrics_loss(mt);
    nb_status s = check_data(q, ds, loss);
    if (s != NB_OK) return s;
    nb_loader *ld = NULL;
    nb_loader_opts lo = {
        .batch_size = o.batch_size, .flatten = 1, .prefetch = o.prefetch, .norm = o.norm};
    if ((s = nb_loader_new(ds, &lo, &ld)) != NB_OK) return s;
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!ctx) {
        nb_loader_free(ld);
        return NB_ERR_NOMEM;
    }
    nb_metrics_reset(mt);
    int64_t shape[NB_MAX_RANK + 1];
    for (int d = 0; d < q->in_rank; d++) shape[d + 1] = q->in_shape[d];
    s = nb_loader_epoch(ld, NULL);
    while (s == NB_OK) {
        nb_batch b;
        s = nb_loader_next(ld, NULL, &b);
        if (s != NB_OK || b.size == 0) break;
        nb_ctx_reset(ctx);
        shape[0] = b.size;
        nb_tensor *x = nb_tensor_from(ctx, NB_F32, b.x->data, q->in_rank + 1, shape);
        nb_tensor *y = x ? nb_qmodel_infer(q, ctx, x) : NULL;
        nb_tensor *l = y ? nb_loss_apply(ctx, loss, y, b.y) : NULL;
        if (!l) {
            s = nb_ctx_status(ctx) != NB_OK ? nb_ctx_status(ctx) : NB_ERR_ARG;
            break;
        }
        s = nb_metrics_update(mt, y, b.y, (double)nb_item(l));
    }
    nb_ctx_free(ctx);
    nb_loader_free(ld);
    return s;
}
