/* train/metrics.c — metrics accumulated over batches: the loss (the sample-weighted mean of
 * batch means), accuracy, top-k accuracy, mean squared and absolute error, the confusion
 * matrix, R² and RMSE per output, the counts that precision, recall and F1 come from, and the
 * scores ROC-AUC ranks; and the confusion matrix as a table. scores.c turns counts and scores
 * into the final values.
 *
 *   accuracy      (1/N) Σ [argmax_c ŷ_ic = y_i]              classifiers
 *                 (1/E) Σ [(ŷ_e > θ) = (y_e > 0.5)]          binary outputs, θ = 0.5 (p) or 0
 * (logits) top-k         (1/N) Σ [rank of ŷ_i,y_i among ŷ_i < k]      rank: larger first, earlier
 * on ties MSE, MAE      (1/E) Σ (ŷ_e − y_e)², (1/E) Σ |ŷ_e − y_e|    y one-hot for labels R², RMSE
 * per output j: ȳ_j and Σ (y − ȳ_j)² by Welford's update, Σ (y − ŷ)²
 *
 * Sums are kept in double and integer counts, so the result does not depend on how the
 * samples were cut into batches (beyond the float loss of each batch). */
#include "train/train.h"

#include <math.h>
#include <string.h>

struct nb_metrics {
    nb_loss_kind loss;
    unsigned which;
    int k; /* classes (confusion matrix size), 0 if none */
    int top_k;
    double loss_sum;
    int64_t loss_n;
    int64_t n; /* samples seen */
    int64_t correct, acc_total;
    int64_t topk_correct;
    double se, ae;
    int64_t err_n;
    int64_t *cm;             /* k x k */
    int64_t outputs;         /* values per sample, for the per-output sums */
    double *mean, *m2, *sse; /* R², RMSE: per output */
    int64_t *bin;            /* binary outputs: tp, fp, fn, tn per output */
    float *sc;               /* ROC-AUC: scores, nsc x sdim */
    int32_t *truth;          /* their labels (nsc) or 0/1 truths (nsc x sdim) */
    int64_t nsc, capsc;
    int sdim;
};

nb_metrics *nb_metrics_new_outputs(nb_loss_kind loss, unsigned which, int num_classes, int top_k,
                                   int64_t outputs) {
    const char *fn = "nb_metrics_new";
    const char *ln = nb_loss_name(loss);
    if (!ln) {
        nbi_error(NB_ERR_ARG, "%s: unknown loss kind %d", fn, (int)loss);
        return NULL;
    }
    unsigned all = NB_METRIC_ACCURACY | NB_METRIC_TOP_K | NB_METRIC_MSE | NB_METRIC_MAE |
                   NB_METRIC_CONFUSION | NB_METRIC_R2 | NB_METRIC_RMSE | NB_METRIC_F1 |
                   NB_METRIC_ROC_AUC;
    if (which & ~all) {
        nbi_error(NB_ERR_ARG, "%s: unknown metric flags 0x%x", fn, which & ~all);
        return NULL;
    }
    int cls = nbi_loss_is_classifier(loss), bin = nbi_loss_is_binary(loss);
    unsigned for_classes =
        NB_METRIC_ACCURACY | NB_METRIC_CONFUSION | NB_METRIC_F1 | NB_METRIC_ROC_AUC;
    if ((which & for_classes) && !cls && !bin) {
        nbi_error(NB_ERR_ARG,
                  "%s: accuracy, the confusion matrix, F1 and ROC-AUC need a "
                  "classifier's loss (cross_entropy, nll, bce, bce_logits); loss %s is a "
                  "regression's (use mse, mae, r2 or rmse as metrics)",
                  fn, ln);
        return NULL;
    }
    if ((which & (NB_METRIC_R2 | NB_METRIC_RMSE)) && (cls || bin)) {
        nbi_error(NB_ERR_ARG, "%s: R² and RMSE are a regression's (mse, mae), not %s's", fn, ln);
        return NULL;
    }
    if ((which & NB_METRIC_TOP_K) && !cls) {
        nbi_error(NB_ERR_ARG,
                  "%s: top-k accuracy needs a multi-class loss (cross_entropy or "
                  "nll), not %s",
                  fn, ln);
        return NULL;
    }
    if (top_k == 0) top_k = 5;
    if (top_k < 1) {
        nbi_error(NB_ERR_ARG, "%s: top_k must be >= 1 (0 for the default 5), got %d", fn, top_k);
        return NULL;
    }
    if (outputs == 0) outputs = 1;
    if (outputs < 1 || outputs > (int64_t)1 << 30) {
        nbi_error(NB_ERR_ARG, "%s: %lld outputs per sample", fn, (long long)outputs);
        return NULL;
    }
    if (bin && num_classes == 0) num_classes = 2;
    bool counts = (which & NB_METRIC_CONFUSION) || (cls && (which & NB_METRIC_F1));
    if (counts) {
        if (bin && num_classes != 2) {
            nbi_error(NB_ERR_ARG, "%s: a binary loss (%s) has 2 classes, not %d", fn, ln,
                      num_classes);
            return NULL;
        }
        if (num_classes < 1 || num_classes > NB_CONFUSION_MAX_CLASSES) {
            /* k^2 counts: 40 000 classes would be 12.8 GB, allocated before one sample */
            nbi_error(NB_ERR_ARG,
                      "%s: a confusion matrix (for it, or for F1) is kept for 1 to %d classes, "
                      "not %d (%d x %d counts would take %.3g GB)",
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
    mt->outputs = outputs;
    bool ok = true;
    if (counts) {
        mt->k = num_classes;
        ok = (mt->cm = nbi_calloc((size_t)num_classes * (size_t)num_classes, sizeof *mt->cm));
    }
    if (which & (NB_METRIC_R2 | NB_METRIC_RMSE))
        ok = ok && (mt->mean = nbi_calloc((size_t)outputs * 3, sizeof(double)));
    if (ok && mt->mean) mt->m2 = mt->mean + outputs, mt->sse = mt->mean + 2 * outputs;
    if (bin && (which & NB_METRIC_F1))
        ok = ok && (mt->bin = nbi_calloc((size_t)outputs * 4, sizeof *mt->bin));
    if (!ok) {
        nbi_error(NB_ERR_NOMEM, "%s: out of memory for the metrics' counts", fn);
        nb_metrics_free(mt);
        return NULL;
    }
    return mt;
}

nb_metrics *nb_metrics_new(nb_loss_kind loss, unsigned which, int num_classes, int top_k) {
    return nb_metrics_new_outputs(loss, which, num_classes, top_k, 0);
}

nb_loss_kind nbi_metrics_loss(const nb_metrics *mt) {
    return mt->loss;
}

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
    nbi_free(mt->mean);
    nbi_free(mt->bin);
    nbi_free(mt->sc);
    nbi_free(mt->truth);
    nbi_free(mt);
}

void nb_metrics_reset(nb_metrics *mt) {
    if (!mt) return;
    nb_metrics keep = *mt;
    memset(mt, 0, sizeof *mt);
    mt->loss = keep.loss;
    mt->which = keep.which;
    mt->k = keep.k;
    mt->top_k = keep.top_k;
    mt->outputs = keep.outputs;
    mt->cm = keep.cm;
    mt->mean = keep.mean, mt->m2 = keep.m2, mt->sse = keep.sse;
    mt->bin = keep.bin;
    mt->sc = keep.sc, mt->truth = keep.truth, mt->capsc = keep.capsc; /* kept for reuse */
    mt->sdim = keep.sdim;
    if (mt->cm) memset(mt->cm, 0, (size_t)mt->k * (size_t)mt->k * sizeof *mt->cm);
    if (mt->mean) memset(mt->mean, 0, (size_t)mt->outputs * 3 * sizeof(double));
    if (mt->bin) memset(mt->bin, 0, (size_t)mt->outputs * 4 * sizeof *mt->bin);
}

/* Room for n more score rows of dim values (ROC-AUC): the one buffer that grows with the
 * data, doubling. tdim: truths per row. */
static nb_status grow_scores(nb_metrics *mt, int64_t n, int dim, int tdim) {
    if (mt->sdim && mt->sdim != dim)
        return nbi_error(NB_ERR_SHAPE, "nb_metrics_update: %d scores per sample after %d", dim,
                         mt->sdim);
    mt->sdim = dim;
    if (mt->nsc + n <= mt->capsc) return NB_OK;
    int64_t cap = mt->capsc ? mt->capsc : 1024;
    while (cap < mt->nsc + n) cap *= 2;
    size_t sb, tb;
    if (!nbi_mul_size((size_t)cap, (size_t)dim * sizeof(float), &sb) ||
        !nbi_mul_size((size_t)cap, (size_t)tdim * sizeof(int32_t), &tb))
        return nbi_error(NB_ERR_NOMEM, "nb_metrics_update: too many scores for ROC-AUC");
    float *sc = nbi_malloc(sb);
    int32_t *tr = nbi_malloc(tb);
    if (!sc || !tr) {
        nbi_free(sc);
        nbi_free(tr);
        return nbi_error(NB_ERR_NOMEM, "nb_metrics_update: out of memory for ROC-AUC's scores");
    }
    if (mt->nsc) {
        memcpy(sc, mt->sc, (size_t)mt->nsc * (size_t)dim * sizeof(float));
        memcpy(tr, mt->truth, (size_t)mt->nsc * (size_t)tdim * sizeof(int32_t));
    }
    nbi_free(mt->sc);
    nbi_free(mt->truth);
    mt->sc = sc;
    mt->truth = tr;
    mt->capsc = cap;
    return NB_OK;
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
        return nbi_error(NB_ERR_SHAPE,
                         "%s (%s): the output must be [N, C] scores and y [N] "
                         "i32 labels; got output %s and y %s",
                         fn, nb_loss_name(mt->loss), nb_shape_str(pred, ps, sizeof ps),
                         nb_shape_str(y, ys, sizeof ys));
    const int64_t n = pred->shape[0], c = pred->shape[1];
    const float *p = nb_f32(pred);
    const int32_t *lab = nb_i32(y);
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] < 0 || lab[i] >= c)
            return nbi_error(NB_ERR_ARG,
                             "%s: label %d of row %lld is outside [0, %lld) (the "
                             "model has %lld outputs)",
                             fn, (int)lab[i], (long long)i, (long long)c, (long long)c);
        if (mt->cm && lab[i] >= mt->k)
            return nbi_error(NB_ERR_ARG,
                             "%s: label %d does not fit the %d x %d confusion "
                             "matrix",
                             fn, (int)lab[i], mt->k, mt->k);
    }
    if (mt->cm && c > mt->k)
        return nbi_error(NB_ERR_ARG,
                         "%s: %lld outputs per sample do not fit the %d x %d "
                         "confusion matrix (make it with num_classes = %lld)",
                         fn, (long long)c, mt->k, mt->k, (long long)c);
    if (mt->which & NB_METRIC_ROC_AUC) {
        if (c > (1 << 16))
            return nbi_error(NB_ERR_ARG, "%s: ROC-AUC of %lld classes", fn, (long long)c);
        nb_status s = grow_scores(mt, n, (int)c, 1);
        if (s != NB_OK) return s;
        /* probabilities: softmax of logits (cross-entropy), exp of log-probabilities (nll) */
        for (int64_t i = 0; i < n; i++) {
            const float *row = p + i * c;
            float *dst = mt->sc + (mt->nsc + i) * c;
            double mx = row[argmax(row, c)], sum = 0;
            for (int64_t j = 0; j < c; j++) {
                double e = mt->loss == NB_LOSS_NLL ? exp((double)row[j]) : exp((double)row[j] - mx);
                dst[j] = (float)e;
                sum += e;
            }
            if (mt->loss != NB_LOSS_NLL)
                for (int64_t j = 0; j < c; j++) dst[j] = (float)((double)dst[j] / sum);
            mt->truth[mt->nsc + i] = lab[i];
        }
        mt->nsc += n;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *row = p + i * c;
        const int64_t t = lab[i];
        const int64_t am = argmax(row, c);
        if (mt->which & NB_METRIC_ACCURACY) mt->correct += am == t;
        if (mt->cm) mt->cm[t * mt->k + am]++;
        if (mt->which & NB_METRIC_TOP_K) {
            /* the label's rank: outputs above it, and equal ones before it */
            int64_t rank = 0;
            for (int64_t j = 0; j < c; j++) rank += row[j] > row[t] || (row[j] == row[t] && j < t);
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
    if (y->dtype != NB_F32 || y->numel != pred->numel ||
        (y->rank >= 1 && pred->rank >= 1 && y->shape[0] != pred->shape[0]))
        return nbi_error(NB_ERR_SHAPE,
                         "nb_metrics_update (%s): y must be f32 targets with the "
                         "output's shape; got output %s and y %s",
                         nb_loss_name(mt->loss), nb_shape_str(pred, ps, sizeof ps),
                         nb_shape_str(y, ys, sizeof ys));
    const float *p = nb_f32(pred), *t = nb_f32(y);
    const int64_t e = pred->numel, n = pred->rank ? pred->shape[0] : 1;
    const int64_t d = n ? e / n : 0;
    if ((mt->mean || mt->bin) && d != mt->outputs)
        return nbi_error(NB_ERR_SHAPE,
                         "nb_metrics_update (%s): %lld values per sample, but the "
                         "metrics were made for %lld outputs",
                         nb_loss_name(mt->loss), (long long)d, (long long)mt->outputs);
    if (nbi_loss_is_binary(mt->loss)) {
        const float thr = mt->loss == NB_LOSS_BCE ? 0.5f : 0.0f;
        for (int64_t i = 0; i < e; i++) {
            int yp = p[i] > thr, yt = t[i] > 0.5f;
            mt->correct += yp == yt;
            if (mt->cm) mt->cm[yt * 2 + yp]++;
            /* tp, fp, fn, tn of output i % d */
            if (mt->bin) mt->bin[4 * (i % d) + (yp ? (yt ? 0 : 1) : (yt ? 2 : 3))]++;
        }
        mt->acc_total += e;
        if (mt->which & NB_METRIC_ROC_AUC) {
            if (d > (1 << 16))
                return nbi_error(NB_ERR_ARG, "nb_metrics_update: ROC-AUC of %lld labels",
                                 (long long)d);
            nb_status s = grow_scores(mt, n, (int)d, (int)d);
            if (s != NB_OK) return s;
            memcpy(mt->sc + mt->nsc * d, p, (size_t)e * sizeof(float));
            for (int64_t i = 0; i < e; i++) mt->truth[mt->nsc * d + i] = t[i] > 0.5f;
            mt->nsc += n;
        }
    }
    if (mt->mean) {
        /* Welford per output: mean_j += (y - mean_j) / count, m2_j += (y - mean_old)(y - mean_new)
         */
        for (int64_t i = 0; i < n; i++) {
            double cnt = (double)(mt->n + i + 1);
            for (int64_t j = 0; j < d; j++) {
                double yv = t[i * d + j], old = mt->mean[j], r = (double)p[i * d + j] - yv;
                mt->mean[j] += (yv - old) / cnt;
                mt->m2[j] += (yv - old) * (yv - mt->mean[j]);
                mt->sse[j] += r * r;
            }
        }
    }
    if (mt->which & (NB_METRIC_MSE | NB_METRIC_MAE)) {
        for (int64_t i = 0; i < e; i++) {
            double diff = (double)p[i] - (double)t[i];
            mt->se += diff * diff;
            mt->ae += fabs(diff);
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
                         !mt     ? "the accumulator"
                         : !pred ? "the output"
                                 : "y");
    if (pred->dtype != NB_F32 || !nb_tensor_is_contiguous(pred) || pred->rank < 1 ||
        !nb_tensor_is_contiguous(y)) {
        char ps[96];
        return nbi_error(NB_ERR_ARG,
                         "%s: the output must be a contiguous f32 tensor [N, ...] "
                         "and y contiguous (got output %s; use nb_contiguous)",
                         fn, nb_shape_str(pred, ps, sizeof ps));
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
    out->r2 = out->rmse = out->precision = out->recall = out->f1 = NAN;
    out->precision_macro = out->recall_macro = out->f1_macro = out->f1_micro = NAN;
    out->roc_auc = NAN;
    out->count = 0;
    if (!mt) return;
    if (mt->mean && mt->n) {
        double r2 = 0, rmse = 0;
        for (int64_t j = 0; j < mt->outputs; j++) {
            double tot = mt->m2[j], res = mt->sse[j];
            r2 += tot > 0 ? 1.0 - res / tot : res == 0 ? 1.0 : 0.0;
            rmse += sqrt(res / (double)mt->n);
        }
        if (mt->which & NB_METRIC_R2) out->r2 = r2 / (double)mt->outputs;
        if (mt->which & NB_METRIC_RMSE) out->rmse = rmse / (double)mt->outputs;
    }
    if ((mt->which & NB_METRIC_F1) && mt->n) {
        if (mt->bin)
            nbi_scores_from_binary(mt->bin, mt->outputs, out);
        else if (mt->cm)
            nbi_scores_from_confusion(mt->cm, mt->k, out);
    }
    if ((mt->which & NB_METRIC_ROC_AUC) && mt->nsc)
        out->roc_auc =
            nbi_roc_auc(mt->sc, mt->truth, mt->nsc, mt->sdim, nbi_loss_is_binary(mt->loss));
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
    bool has = mt && mt->cm && (mt->which & NB_METRIC_CONFUSION);
    if (k) *k = has ? mt->k : 0;
    return has ? mt->cm : NULL;
}

static int digits(int64_t v) {
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

nb_status nb_confusion_print(const int64_t *cm, int k, const char *const *class_names, FILE *f) {
    if (!cm || k < 1 || !f)
        return nbi_error(NB_ERR_ARG, "nb_confusion_print: %s",
                         !cm  ? "matrix is NULL"
                         : !f ? "stream is NULL"
                              : "size must be >= 1");
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
#define NAME(i)                                                                                    \
    (class_names && class_names[i] ? class_names[i] : (snprintf(nb, sizeof nb, "%d", i), nb))
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
