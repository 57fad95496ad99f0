/* train/loss.c — the losses fit can train with, by kind and by name, and the one function that
 * applies them to a batch (through the loss ops of src/ops/loss.c, so the backward pass comes
 * with them). Every loss is the batch mean, PyTorch's default reduction. */
#include "train/train.h"
#include "autograd/autograd.h"

#include <string.h>

static const char *const names[NB_LOSS_COUNT] = {
    "cross_entropy", "nll", "mse", "mae", "bce", "bce_logits",
};

const char *nb_loss_name(nb_loss_kind k) {
    return (unsigned)k < NB_LOSS_COUNT ? names[k] : NULL;
}

int nb_loss_from_name(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < NB_LOSS_COUNT; k++)
        if (strcmp(name, names[k]) == 0) return k;
    /* Keras's and PyTorch's words for the same losses */
    static const struct {
        const char *name;
        nb_loss_kind k;
    } alias[] = {
        {"categorical_crossentropy", NB_LOSS_CROSS_ENTROPY},
        {"sparse_categorical_crossentropy", NB_LOSS_CROSS_ENTROPY},
        {"crossentropy", NB_LOSS_CROSS_ENTROPY},
        {"mean_squared_error", NB_LOSS_MSE},
        {"mean_absolute_error", NB_LOSS_MAE},
        {"l1", NB_LOSS_MAE},
        {"binary_crossentropy", NB_LOSS_BCE},
        {"bce_with_logits", NB_LOSS_BCE_LOGITS},
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcmp(name, alias[i].name) == 0) return (int)alias[i].k;
    return -1;
}

nb_tensor *nb_loss_apply(nb_ctx *ctx, nb_loss_kind k, nb_tensor *pred, nb_tensor *y) {
    if (!ctx) {
        nbi_error(NB_ERR_ARG, "nb_loss_apply: context is NULL");
        return NULL;
    }
    if (!pred || !y) {
        if (nb_ctx_status(ctx) == NB_OK)
            nbi_error(NB_ERR_ARG, "nb_loss_apply: %s is NULL", pred ? "y" : "the prediction");
        return NULL;
    }
    switch (k) {
    case NB_LOSS_CROSS_ENTROPY:
        /* a language model's logits [B, T, V] and targets [B, T]: the mean over positions
         * (F.cross_entropy on the flattened positions) */
        if (pred->rank > 2) return nb_cross_entropy_ex(ctx, pred, y, NB_REDUCE_MEAN, -100, 0.0f);
        return nb_cross_entropy(ctx, pred, y, NB_REDUCE_MEAN);
    case NB_LOSS_NLL: return nb_nll_loss(ctx, pred, y, NB_REDUCE_MEAN);
    case NB_LOSS_MSE:
    case NB_LOSS_MAE:
    case NB_LOSS_BCE:
    case NB_LOSS_BCE_LOGITS:
        if (y->dtype != NB_F32) {
            return nbi_fail(ctx, nbi_error(NB_ERR_ARG, "loss %s: y must be f32 targets of the "
                                           "output's shape, got class labels (i32); use "
                                           "cross_entropy for labels, or load the column as "
                                           "a target", names[k]));
        }
        /* Targets stored [N] for outputs [N, 1] (or any equal count per sample): view them
         * with the output's shape. The loss ops themselves never broadcast. */
        if (!nb_tensor_same_shape(pred, y) && y->numel == pred->numel && pred->rank >= 1 &&
            y->rank >= 1 && y->shape[0] == pred->shape[0] && nb_tensor_is_contiguous(y))
            y = nb_tensor_from(ctx, NB_F32, y->data, pred->rank, pred->shape);
        if (k == NB_LOSS_MSE) return nb_mse_loss(ctx, pred, y, NB_REDUCE_MEAN);
        if (k == NB_LOSS_MAE) return nb_l1_loss(ctx, pred, y, NB_REDUCE_MEAN);
        if (k == NB_LOSS_BCE) return nb_bce_loss(ctx, pred, y, NB_REDUCE_MEAN);
        return nb_bce_logits_loss(ctx, pred, y, NB_REDUCE_MEAN);
    default:
        return nbi_fail(ctx, nbi_error(NB_ERR_ARG, "nb_loss_apply: unknown loss kind %d",
                                       (int)k));
    }
}
