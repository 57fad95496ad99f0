/* train/metrics.c — metrics accumulated over batches: the loss (the sample-weighted mean of
 * batch means), accuracy, top-k accuracy, mean squared and absolute error, the confusion
 * matrix; and the confusion matrix as a table.
 *
 *   accuracy      (1/N) Σ [argmax_c ŷ_ic = y_i]              classifiers
 *                 (1/E) Σ [(ŷ_e > θ) = (y_e > 0.5)]          binary outputs, θ = 0.5 (p) or 0 (logits)
 *   top-k         (1/N) Σ [rank of ŷ_i,y_i among ŷ_i < k]      rank: larger first, earlier on ties
 *   MSE, MAE      (1/E) Σ (ŷ_e − y_e)², (1/E) Σ |ŷ_e − y_e|    y one-hot for labels
 *
 * Sums are kept in double and integer counts, so the result does not depend on how the
 * samples were cut into batches (beyond the float loss of each batch). */
#include "train/train.h"

#include <math.h>
#include <string.h>

struct nb_metrics {
    nb_loss_kind loss;
    unsigned which;
    int k;                  /* classes (confusion matrix size), 0 if none */
    int top_k;
    double loss_sum;
    int64_t loss_n;
    int64_t n;              /* samples seen */
    int64_t correct, acc_total;
    int64_t topk_correct;
    double se, ae;
    int64_t err_n;
    int64_t *cm;            /* k x k */
};

nb_metrics *nb_metrics_new(nb_loss_kind loss, unsigned which, int num_classes, int top_k) {
    const char *fn = "nb_metrics_new";
    const char *ln = nb_loss_name(loss);
    if (!ln) {
        nbi_error(NB_ERR_ARG, "%s: unknown loss kind %d", fn, (int)loss);
        return NULL;
    }
    unsigned all = NB_METRIC_ACCURACY | NB_METRIC_TOP_K | NB_METRIC_MSE | NB_METRIC_MAE |
                   NB_METRIC_CONFUSION;
    if (which & ~all) {
        nbi_error(NB_ERR_ARG, "%s: unknown metric flags 0x%x", fn, which & ~all);
        return NULL;
    }
    int cls = nbi_loss_is_classifier(loss), bin = nbi_loss_is_binary(loss);
    if ((which & (NB_METRIC_ACCURACY | NB_METRIC_CONFUSION)) && !cls && !bin) {
        nbi_error(NB_ERR_ARG, "%s: accuracy and the confusion matrix need a classifier's loss "
                  "(cross_entropy, nll, bce, bce_logits); loss %s is a regression's (use mse "
                  "or mae as metrics)", fn, ln);
        return NULL;
    }
    if ((which & NB_METRIC_TOP_K) && !cls) {
        nbi_error(NB_ERR_ARG, "%s: top-k accuracy needs a multi-class loss (cross_entropy or "
                  "nll), not %s", fn, ln);
        return NULL;
    }
    if (top_k == 0) top_k = 5;
    if (top_k < 1) {
        nbi_error(NB_ERR_ARG, "%s: top_k must be >= 1 (0 for the default 5), got %d", fn, top_k);
        return NULL;
    }
    if (bin && num_classes == 0) num_classes = 2;
    if (which & NB_METRIC_CONFUSION) {
        if (bin && num_classes != 2) {
            nbi_error(NB_ERR_ARG, "%s: a binary loss (%s) has 2 classes, not %d", fn, ln,
                      num_classes);
            return NULL;
        }
        if (num_classes < 1 || num_classes > NB_CONFUSION_MAX_CLASSES) {
            /* k^2 counts: 40 000 classes would be 12.8 GB, allocated before one sample */
            nbi_error(NB_ERR_ARG,
                      "%s: a confusion matrix is kept for 1 to %d classes, not %d "
                      "(%d x %d counts would take %.3g GB)",
                      fn, NB_CONFUSION_MAX_CLASSES, num_classes, num_classes, num_classes,
                      (double)num_classes * (double)num_classes * 8e-9);
            return NULL;
        }
    }
    nb_metrics *mt = nbi_malloc_for(fn, sizeof *mt);
    if (!mt) return NULL;
    memset(mt, 0, sizeof *mt);
    mt->loss = loss;
    mt->which = which;
    mt->top_k = top_k;
    if (which & NB_METRIC_CONFUSION) {
        mt->k = num_classes;
        mt->cm = nbi_calloc((size_t)num_classes * (size_t)num_classes, sizeof *mt->cm);
        if (!mt->cm) {
            nbi_error(NB_ERR_NOMEM, "%s: out of memory for a %d x %d confusion matrix", fn,
                      num_classes, num_classes);
            nbi_free(mt);
            return NULL;
        }
    }
    return mt;
}

nb_loss_kind nbi_metrics_loss(const nb_metrics *mt) { return mt->loss; }

/* Counts travel as doubles: exact below 2^53 samples. The confusion matrix stays local (fit
 * does not keep one). */
nb_status nbi_metrics_sum(nb_metrics *mt, const nb_replicas *rp) {
    double v[NBI_METRICS_SUMS] = {mt->loss_sum,          (double)mt->loss_n,     (double)mt->n,
                                  (double)mt->correct,   (double)mt->acc_total,
                                  (double)mt->topk_correct, mt->se,              mt->ae,
                                  (double)mt->err_n};
    nb_status s = rp->sum(v, NBI_METRICS_SUMS, rp->impl);
    if (s != NB_OK) return s;
    mt->loss_sum = v[0];
    mt->loss_n = (int64_t)v[1];
    mt->n = (int64_t)v[2];
    mt->correct = (int64_t)v[3];
    mt->acc_total = (int64_t)v[4];
    mt->topk_correct = (int64_t)v[5];
    mt->se = v[6];
    mt->ae = v[7];
    mt->err_n = (int64_t)v[8];
    return NB_OK;
}

void nb_metrics_free(nb_metrics *mt) {
    if (!mt) return;
    nbi_free(mt->cm);
    nbi_free(mt);
}

void nb_metrics_reset(nb_metrics *mt) {
    if (!mt) return;
    int64_t *cm = mt->cm;
    nb_metrics keep = *mt;
    memset(mt, 0, sizeof *mt);
    mt->loss = keep.loss;
    mt->which = keep.which;
    mt->k = keep.k;
    mt->top_k = keep.top_k;
    mt->cm = cm;
    if (cm) memset(cm, 0, (size_t)mt->k * (size_t)mt->k * sizeof *cm);
}

/* The first index of the largest value of row[0..c). */
static int64_t argmax(const float *row, int64_t c) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

static nb_status update_classifier(nb_metrics *mt, const nb_tensor *pred, const nb_tensor *y) {
    const char *fn = "nb_metrics_update";
    char ps[96], ys[96];
    if (pred->rank != 2 || y->dtype != NB_I32 || y->numel != pred->shape[0] ||
        (y->rank != 1 && !(y->rank == 2 && y->shape[1] == 1)))
        return nbi_error(NB_ERR_SHAPE, "%s (%s): the output must be [N, C] scores and y [N] "
                         "i32 labels; got output %s and y %s", fn, nb_loss_name(mt->loss),
                         nb_shape_str(pred, ps, sizeof ps), nb_shape_str(y, ys, sizeof ys));
    const int64_t n = pred->shape[0], c = pred->shape[1];
    const float *p = nb_f32(pred);
    const int32_t *lab = nb_i32(y);
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] < 0 || lab[i] >= c)
            return nbi_error(NB_ERR_ARG, "%s: label %d of row %lld is outside [0, %lld) (the "
                             "model has %lld outputs)", fn, (int)lab[i], (long long)i,
                             (long long)c, (long long)c);
        if (mt->cm && lab[i] >= mt->k)
            return nbi_error(NB_ERR_ARG, "%s: label %d does not fit the %d x %d confusion "
                             "matrix", fn, (int)lab[i], mt->k, mt->k);
    }
    if (mt->cm && c > mt->k)
        return nbi_error(NB_ERR_ARG, "%s: %lld outputs per sample do not fit the %d x %d "
                         "confusion matrix (make it with num_classes = %lld)", fn,
                         (long long)c, mt->k, mt->k, (long long)c);
    for (int64_t i = 0; i < n; i++) {
        const float *row = p + i * c;
        const int64_t t = lab[i];
        const int64_t am = argmax(row, c);
        if (mt->which & NB_METRIC_ACCURACY) mt->correct += am == t;
        if (mt->cm) mt->cm[t * mt->k + am]++;
        if (mt->which & NB_METRIC_TOP_K) {
            /* the label's rank: outputs above it, and equal ones before it */
            int64_t rank = 0;
            for (int64_t j = 0; j < c; j++)
                rank += row[j] > row[t] || (row[j] == row[t] && j < t);
            mt->topk_correct += rank < mt->top_k;
        }
        if (mt->which & (NB_METRIC_MSE | NB_METRIC_MAE)) {
            for (int64_t j = 0; j < c; j++) {
                double d = (double)row[j] - (j == t ? 1.0 : 0.0);
                mt->se += d * d;
                mt->ae += fabs(d);
            }
        }
    }
    mt->acc_total += n;
    mt->err_n += n * c;
    return NB_OK;
}

static nb_status update_pointwise(nb_metrics *mt, const nb_tensor *pred, const nb_tensor *y) {
    char ps[96], ys[96];
    if (y->dtype != NB_F32 || y->numel != pred->numel || (y->rank >= 1 && pred->rank >= 1 &&
                                                          y->shape[0] != pred->shape[0]))
        return nbi_error(NB_ERR_SHAPE, "nb_metrics_update (%s): y must be f32 targets with the "
                         "output's shape; got output %s and y %s", nb_loss_name(mt->loss),
                         nb_shape_str(pred, ps, sizeof ps), nb_shape_str(y, ys, sizeof ys));
    const float *p = nb_f32(pred), *t = nb_f32(y);
    const int64_t e = pred->numel;
    if (nbi_loss_is_binary(mt->loss)) {
        const float thr = mt->loss == NB_LOSS_BCE ? 0.5f : 0.0f;
        for (int64_t i = 0; i < e; i++) {
            int yp = p[i] > thr, yt = t[i] > 0.5f;
            mt->correct += yp == yt;
            if (mt->cm) mt->cm[yt * 2 + yp]++;
        }
        mt->acc_total += e;
    }
    if (mt->which & (NB_METRIC_MSE | NB_METRIC_MAE)) {
        for (int64_t i = 0; i < e; i++) {
            double d = (double)p[i] - (double)t[i];
            mt->se += d * d;
            mt->ae += fabs(d);
        }
    }
    mt->err_n += e;
    return NB_OK;
}

nb_status nb_metrics_update(nb_metrics *mt, const nb_tensor *pred, const nb_tensor *y,
                            double batch_loss) {
    const char *fn = "nb_metrics_update";
    if (!mt || !pred || !y)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn,
                         !mt ? "the accumulator" : !pred ? "the output" : "y");
    if (pred->dtype != NB_F32 || !nb_tensor_is_contiguous(pred) || pred->rank < 1 ||
        !nb_tensor_is_contiguous(y)) {
        char ps[96];
        return nbi_error(NB_ERR_ARG, "%s: the output must be a contiguous f32 tensor [N, ...] "
                         "and y contiguous (got output %s; use nb_contiguous)", fn,
                         nb_shape_str(pred, ps, sizeof ps));
    }
    nb_status s = nbi_loss_is_classifier(mt->loss) ? update_classifier(mt, pred, y)
                                                     : update_pointwise(mt, pred, y);
    if (s != NB_OK) return s;
    const int64_t n = pred->shape[0];
    mt->n += n;
    if (!isnan(batch_loss)) {
        mt->loss_sum += batch_loss * (double)n;
        mt->loss_n += n;
    }
    return NB_OK;
}

void nb_metrics_result(const nb_metrics *mt, nb_metric_values *out) {
    if (!out) return;
    out->loss = out->accuracy = out->top_k = out->mse = out->mae = NAN;
    out->count = 0;
    if (!mt) return;
    out->count = mt->n;
    if (mt->loss_n) out->loss = mt->loss_sum / (double)mt->loss_n;
    if ((mt->which & NB_METRIC_ACCURACY) && mt->acc_total)
        out->accuracy = (double)mt->correct / (double)mt->acc_total;
    if ((mt->which & NB_METRIC_TOP_K) && mt->acc_total)
        out->top_k = (double)mt->topk_correct / (double)mt->acc_total;
    if ((mt->which & NB_METRIC_MSE) && mt->err_n) out->mse = mt->se / (double)mt->err_n;
    if ((mt->which & NB_METRIC_MAE) && mt->err_n) out->mae = mt->ae / (double)mt->err_n;
}

const int64_t *nb_metrics_confusion(const nb_metrics *mt, int *k) {
    if (k) *k = mt && mt->cm ? mt->k : 0;
    return mt ? mt->cm : NULL;
}

static int digits(int64_t v) {
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

nb_status nb_confusion_print(const int64_t *cm, int k, const char *const *class_names,
                             FILE *f) {
    if (!cm || k < 1 || !f)
        return nbi_error(NB_ERR_ARG, "nb_confusion_print: %s", !cm ? "matrix is NULL"
                         : !f ? "stream is NULL" : "size must be >= 1");
    int64_t total = 0, diag = 0, maxv = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            int64_t v = cm[(size_t)i * (size_t)k + (size_t)j];
            total += v;
            if (i == j) diag += v;
            if (v > maxv) maxv = v;
        }
    /* column width: the widest count or class name; row labels as wide as the widest name */
    int w = digits(total) + 1, lw = 5;
    for (int i = 0; i < k; i++) {
        int nl = class_names && class_names[i] ? (int)strlen(class_names[i]) : digits(i);
        if (nl > lw) lw = nl;
        if (nl + 1 > w && nl < 12) w = nl + 1;
    }
    if (lw > 16) lw = 16;
    char nb[24];
#define NAME(i) (class_names && class_names[i] ? class_names[i] : (snprintf(nb, sizeof nb, "%d", i), nb))
    fprintf(f, "confusion matrix (rows: true class, columns: predicted)\n");
    fprintf(f, "%*s", lw, "");
    for (int j = 0; j < k; j++) fprintf(f, " %*.*s", w, w, NAME(j));
    fprintf(f, " | %*s  recall\n", w, "total");
    for (int i = 0; i < k; i++) {
        int64_t row = 0;
        fprintf(f, "%*.*s", lw, lw, NAME(i));
        for (int j = 0; j < k; j++) {
            int64_t v = cm[(size_t)i * (size_t)k + (size_t)j];
            row += v;
            fprintf(f, " %*lld", w, (long long)v);
        }
        int64_t d = cm[(size_t)i * (size_t)k + (size_t)i];
        if (row)
            fprintf(f, " | %*lld  %5.1f%%\n", w, (long long)row, 100.0 * (double)d / (double)row);
        else
            fprintf(f, " | %*lld       -\n", w, (long long)row);
    }
    fprintf(f, "%*s", lw, "total");
    for (int j = 0; j < k; j++) {
        int64_t col = 0;
        for (int i = 0; i < k; i++) col += cm[(size_t)i * (size_t)k + (size_t)j];
        fprintf(f, " %*lld", w, (long long)col);
    }
    if (total)
        fprintf(f, " | %*lld  %5.1f%% accuracy\n", w, (long long)total,
                100.0 * (double)diag / (double)total);
    else
        fprintf(f, " | %*lld\n", w, (long long)total);
#undef NAME
    return ferror(f) ? nbi_error(NB_ERR_IO, "nb_confusion_print: write error") : NB_OK;
}
