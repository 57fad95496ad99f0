/* data/lm_data.c — token datasets for language models: a corpus encoded once into int32 ids,
 * held in memory, split by position, and cut into windows.
 *
 * A language model learns p(w_{t+1} | w_0..w_t) at every position of a window at once: for a
 * window w[0..T] of T + 1 ids, the inputs are w[0..T) and the targets w[1..T]. Training
 * windows start at random offsets (any offset, so every id is seen in every position over
 * time); validation windows tile the held-out tail without overlap, so the validation loss is
 * an average over fixed text and comparable from epoch to epoch. The split is by position —
 * the last val_fraction of the ids — not by random windows, so no validation text leaks into
 * training through an overlapping window. */
#include "data/text.h"

#include <math.h>
#include <string.h>

struct nb_lm_data {
    int32_t *ids;
    int64_t n, n_train, vocab;
};

void nb_lm_data_free(nb_lm_data *d) {
    if (!d) return;
    nbi_free(d->ids);
    nbi_free(d);
}

/* Takes ids (nbi_malloc'd) on success and on failure. */
static nb_status adopt(int32_t *ids, int64_t n, int64_t vocab, double val_fraction,
                       const char *what, nb_lm_data **out) {
    nb_status st = NB_OK;
    if (n <= 0)
        st = nbi_error(NB_ERR_ARG, "%s: the corpus is empty (no tokens to learn from)", what);
    else if (vocab <= 0 || vocab > INT32_MAX)
        st = nbi_error(NB_ERR_ARG, "%s: a vocabulary of %lld tokens", what, (long long)vocab);
    else if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        st = nbi_error(NB_ERR_ARG, "%s: val_fraction %g is not in [0, 1)", what, val_fraction);
    for (int64_t i = 0; !st && i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            st = nbi_error(NB_ERR_ARG,
                           "%s: token id %d at position %lld is out of range for a "
                           "vocabulary of %lld tokens (ids 0 to %lld)",
                           what, ids[i], (long long)i, (long long)vocab, (long long)vocab - 1);
    nb_lm_data *d = st ? NULL : nbi_malloc(sizeof *d);
    if (!st && !d) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    if (st) {
        nbi_free(ids);
        return st;
    }
    d->ids = ids;
    d->n = n;
    d->vocab = vocab;
    d->n_train = n - (int64_t)floor(val_fraction * (double)n + 0.5);
    *out = d;
    return NB_OK;
}

nb_status nb_lm_data_new(const int32_t *ids, int64_t n, int64_t vocab, double val_fraction,
                         nb_lm_data **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_lm_data_new: out is NULL");
    *out = NULL;
    if (n < 0 || (n > 0 && !ids) || (uint64_t)n > SIZE_MAX / 8)
        return nbi_error(NB_ERR_ARG, "nb_lm_data_new: need n >= 0 ids");
    int32_t *copy = nbi_malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!copy)
        return nbi_error(NB_ERR_NOMEM, "nb_lm_data_new: out of memory for %lld ids", (long long)n);
    if (n) memcpy(copy, ids, (size_t)n * sizeof(int32_t));
    return adopt(copy, n, vocab, val_fraction, "nb_lm_data_new", out);
}

nb_status nb_lm_data_encode(const nb_tokenizer *t, const void *text, size_t len, int flags,
                            double val_fraction, nb_lm_data **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_lm_data_encode: out is NULL");
    *out = NULL;
    int32_t *ids;
    int64_t n;
    nb_status st = nb_tokenizer_encode(t, text, len, flags, &ids, &n);
    if (st) return st;
    return adopt(ids, n, nb_tokenizer_vocab_size(t), val_fraction, "nb_lm_data_encode", out);
}

void nb_lm_data_get_info(const nb_lm_data *d, nb_lm_info *info) {
    memset(info, 0, sizeof *info);
    if (!d) return;
    info->tokens = d->n;
    info->train_tokens = d->n_train;
    info->val_tokens = d->n - d->n_train;
    info->vocab = d->vocab;
    info->bytes = sizeof *d + (size_t)d->n * sizeof(int32_t);
}

const int32_t *nb_lm_data_ids(const nb_lm_data *d) {
    return d ? d->ids : NULL;
}

/* x and y: contiguous i32 tensors of one shape [B, T]. */
static nb_status check_xy(const nb_tensor *x, const nb_tensor *y, const char *what, int64_t *B,
                          int64_t *T) {
    if (!x || !y) return nbi_error(NB_ERR_ARG, "%s: x or y is NULL", what);
    if (x->dtype != NB_I32 || y->dtype != NB_I32 || x->rank != 2 || y->rank != 2 ||
        x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1] || x->shape[0] < 1 ||
        x->shape[1] < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "%s: x and y must be i32 tensors of one shape [B, T] with "
                         "B, T >= 1",
                         what);
    if (!nb_tensor_is_contiguous(x) || !nb_tensor_is_contiguous(y) || !x->data || !y->data)
        return nbi_error(NB_ERR_ARG, "%s: x and y must be contiguous tensors with storage", what);
    *B = x->shape[0];
    *T = x->shape[1];
    return NB_OK;
}

static void window(const nb_lm_data *d, int64_t off, int64_t T, int32_t *x, int32_t *y) {
    memcpy(x, d->ids + off, (size_t)T * sizeof(int32_t));
    memcpy(y, d->ids + off + 1, (size_t)T * sizeof(int32_t));
}

nb_status nb_lm_data_batch(const nb_lm_data *d, nb_rng *rng, nb_tensor *x, nb_tensor *y) {
    if (!d || !rng) return nbi_error(NB_ERR_ARG, "nb_lm_data_batch: need a dataset and an rng");
    int64_t B, T;
    nb_status st = check_xy(x, y, "nb_lm_data_batch", &B, &T);
    if (st) return st;
    if (d->n_train < T + 1)
        return nbi_error(NB_ERR_ARG,
                         "nb_lm_data_batch: the training part holds %lld tokens, "
                         "fewer than one window of T + 1 = %lld (a shorter context, or more "
                         "text)",
                         (long long)d->n_train, (long long)T + 1);
    /* Offsets 0 .. n_train - T - 1: the window's last id (a target) stays in the training part. */
    uint64_t offsets = (uint64_t)(d->n_train - T);
    int32_t *xd = x->data, *yd = y->data;
    for (int64_t b = 0; b < B; b++)
        window(d, (int64_t)nb_rng_below(rng, offsets), T, xd + b * T, yd + b * T);
    return NB_OK;
}

int64_t nb_lm_data_val_windows(const nb_lm_data *d, int64_t T) {
    if (!d || T < 1) return 0;
    int64_t nv = d->n - d->n_train;
    return nv > T ? (nv - 1) / T : 0;
}

nb_status nb_lm_data_val_batch(const nb_lm_data *d, int64_t batch, nb_tensor *x, nb_tensor *y,
                               int64_t *rows) {
    if (!rows) return nbi_error(NB_ERR_ARG, "nb_lm_data_val_batch: rows is NULL");
    *rows = 0;
    if (!d || batch < 0)
        return nbi_error(NB_ERR_ARG, "nb_lm_data_val_batch: need a dataset and a batch >= 0");
    int64_t B, T;
    nb_status st = check_xy(x, y, "nb_lm_data_val_batch", &B, &T);
    if (st) return st;
    int64_t nw = nb_lm_data_val_windows(d, T);
    if (nw == 0)
        return nbi_error(NB_ERR_ARG,
                         "nb_lm_data_val_batch: the validation part holds %lld "
                         "tokens, fewer than one window of T + 1 = %lld (more text, a larger "
                         "validation fraction or a shorter context)",
                         (long long)(d->n - d->n_train), (long long)T + 1);
    int64_t first = batch > nw / B ? nw : batch * B;
    int64_t k = nw - first < B ? nw - first : B;
    int32_t *xd = x->data, *yd = y->data;
    for (int64_t r = 0; r < k; r++)
        window(d, d->n_train + (first + r) * T, T, xd + r * T, yd + r * T);
    *rows = k;
    return NB_OK;
}
