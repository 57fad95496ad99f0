/* train/scores.c — the metrics computed from counts and scores at the end of an evaluation:
 * precision, recall and F1 from a confusion matrix or binary counts, the area under the ROC
 * curve from scores and truths, R² and RMSE from per-output sums. metrics.c accumulates what
 * these read.
 *
 *   precision_c = tp / (tp + fp),  recall_c = tp / (tp + fn)       (0 when the denominator is)
 *   F1_c        = 2 tp / (2 tp + fp + fn)                          (the harmonic mean of both)
 *   macro       = the mean over the classes present in the labels or the predictions
 *   micro       = the same ratios of the counts summed over classes
 *   AUC         = (R₊ − n₊(n₊ + 1)/2) / (n₊ n₋)                    R₊: the positives' rank sum,
 *                                                                   ties given their mean rank
 *   R²          = 1 − SS_res / SS_tot per output, averaged; SS_tot = Σ (y − ȳ)²
 * (scikit-learn's precision_recall_fscore_support, roc_auc_score, r2_score.) */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ratio(double a, double b) {
    return b > 0 ? a / b : 0.0;
}

static void prf(double tp, double fp, double fn, double *p, double *r, double *f) {
    *p = ratio(tp, tp + fp);
    *r = ratio(tp, tp + fn);
    *f = ratio(2 * tp, 2 * tp + fp + fn);
}

void nbi_scores_from_confusion(const int64_t *cm, int k, nb_metric_values *v) {
    double sp = 0, sr = 0, sf = 0, diag = 0, total = 0;
    int present = 0;
    for (int i = 0; i < k; i++) {
        double tp = (double)cm[(size_t)i * (size_t)k + (size_t)i], row = 0, col = 0;
        for (int j = 0; j < k; j++) {
            row += (double)cm[(size_t)i * (size_t)k + (size_t)j];
            col += (double)cm[(size_t)j * (size_t)k + (size_t)i];
        }
        diag += tp;
        total += row;
        if (row + col == 0) continue; /* neither a label nor a prediction */
        double p, r, f;
        prf(tp, col - tp, row - tp, &p, &r, &f);
        sp += p, sr += r, sf += f;
        present++;
        if (k == 2 && i == 1) v->precision = p, v->recall = r, v->f1 = f;
    }
    if (k == 2 && isnan(v->f1)) v->precision = v->recall = v->f1 = 0.0; /* class 1 never seen */
    if (!present) return;
    v->precision_macro = sp / present;
    v->recall_macro = sr / present;
    v->f1_macro = sf / present;
    v->f1_micro = ratio(diag, total);
}

void nbi_scores_from_binary(const int64_t *counts, int64_t outputs, nb_metric_values *v) {
    /* counts: tp, fp, fn, tn per output */
    if (outputs == 1) { /* one yes/no label: the two classes, as a 2 x 2 confusion matrix */
        const int64_t cm[4] = {counts[3], counts[1], counts[2], counts[0]};
        nbi_scores_from_confusion(cm, 2, v);
        return;
    }
    double sp = 0, sr = 0, sf = 0, tp = 0, fp = 0, fn = 0;
    for (int64_t j = 0; j < outputs; j++) {
        const int64_t *c = counts + 4 * j;
        double p, r, f;
        prf((double)c[0], (double)c[1], (double)c[2], &p, &r, &f);
        sp += p, sr += r, sf += f;
        tp += (double)c[0], fp += (double)c[1], fn += (double)c[2];
    }
    v->precision_macro = sp / (double)outputs;
    v->recall_macro = sr / (double)outputs;
    v->f1_macro = sf / (double)outputs;
    v->f1_micro = ratio(2 * tp, 2 * tp + fp + fn);
}

typedef struct scored {
    float s;
    int pos;
} scored;

static int by_score(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* The AUC of n scores (every stride-th from s) against truths pos(i); NaN without both kinds.
 * buf: room for n. */
static double auc(const float *s, int64_t stride, const int32_t *truth, int64_t tstride,
                  int32_t positive, int64_t n, scored *buf) {
    double np = 0;
    for (int64_t i = 0; i < n; i++) {
        buf[i].s = s[i * stride];
        buf[i].pos = truth[i * tstride] == positive;
        np += buf[i].pos;
    }
    double nn = (double)n - np;
    if (np == 0 || nn == 0) return NAN;
    qsort(buf, (size_t)n, sizeof *buf, by_score);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && buf[j].s == buf[i].s) j++;
        double mid = (double)(i + 1 + j) / 2.0; /* ranks i+1 .. j share their mean */
        for (int64_t q = i; q < j; q++)
            if (buf[q].pos) rank_sum += mid;
        i = j;
    }
    return (rank_sum - np * (np + 1) / 2) / (np * nn);
}

double nbi_roc_auc(const float *scores, const int32_t *truth, int64_t n, int dim, int binary) {
    if (n < 1 || dim < 1) return NAN;
    scored *buf = nbi_malloc(sizeof *buf * (size_t)n);
    if (!buf) return NAN;
    double r = NAN;
    if (!binary && dim == 2) {
        r = auc(scores + 1, 2, truth, 1, 1, n, buf); /* class 1's probability */
    } else {
        double sum = 0;
        int m = 0;
        for (int c = 0; c < dim; c++) {
            double a = binary ? auc(scores + c, dim, truth + c, dim, 1, n, buf)
                              : auc(scores + c, dim, truth, 1, c, n, buf);
            if (isnan(a)) continue;
            sum += a;
            m++;
        }
        if (m) r = sum / m;
    }
    nbi_free(buf);
    return r;
}
