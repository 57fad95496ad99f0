/* data/split.c — held-out parts and folds, stratified by class: which samples of a dataset
 * (or of any n samples with labels) go to a test or validation part, and which fold of a
 * k-fold cross-validation each sample belongs to.
 *
 * A stratified split keeps each class's share: class c of n_c samples gives floor(f n_c) of
 * them to the held-out part, and the round(f n) − Σ floor(f n_c) samples still owed go one
 * each to the classes with the largest remainders f n_c − floor(f n_c) (the earlier class on
 * a tie) — the largest-remainder rule, so the part has exactly round(f n) samples, as the
 * unstratified nb_dataset_split has. Which samples of a class are held out is a seeded
 * Fisher-Yates shuffle of the class's samples. Folds deal each class's shuffled samples
 * round-robin onto the folds, the rotation carried from one class to the next, so every fold
 * has n/k samples (±1) and each class's share (±1 sample). Everything depends only on the
 * seed, n and the labels. */
#include "data/data.h"

#include <math.h>
#include <string.h>

/* The samples of each class, each class's list shuffled: order[start[c] .. start[c+1]) are
 * class c's samples. k classes (labels in [0, k)). */
static nb_status by_class(int64_t n, const int32_t *labels, int k, uint64_t seed, int64_t *order,
                          int64_t *start) {
    for (int c = 0; c <= k; c++) start[c] = 0;
    for (int64_t i = 0; i < n; i++) start[labels[i] + 1]++;
    for (int c = 0; c < k; c++) start[c + 1] += start[c];
    int64_t *next = nbi_malloc(sizeof *next * (size_t)(k ? k : 1));
    if (!next) return nbi_error(NB_ERR_NOMEM, "split: out of memory");
    memcpy(next, start, sizeof *next * (size_t)k);
    for (int64_t i = 0; i < n; i++) order[next[labels[i]]++] = i;
    nbi_free(next);
    nb_rng rng;
    nb_rng_seed(&rng, seed);
    for (int c = 0; c < k; c++) nb_rng_shuffle_i64(&rng, order + start[c], start[c + 1] - start[c]);
    return NB_OK;
}

/* Labels are checked and counted: k = largest + 1. */
static nb_status check_labels(int64_t n, const int32_t *labels, int *k, const char *fn) {
    int32_t mx = -1;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0)
            return nbi_error(NB_ERR_ARG, "%s: label %d of sample %lld is negative", fn,
                             (int)labels[i], (long long)i);
        if (labels[i] > mx) mx = labels[i];
    }
    if (mx >= (1 << 24))
        return nbi_error(NB_ERR_ARG, "%s: label %d: too many classes to stratify", fn, (int)mx);
    *k = (int)mx + 1;
    return NB_OK;
}

nb_status nb_split_mask(int64_t n, const int32_t *labels, double fraction, uint64_t seed,
                        unsigned char *held) {
    const char *fn = "nb_split_mask";
    if (n < 0 || (n > 0 && !held) || !(fraction >= 0.0 && fraction < 1.0))
        return nbi_error(NB_ERR_ARG, "%s: need n >= 0, a mask and a fraction in [0, 1) (got %g)",
                         fn, fraction);
    if (n) memset(held, 0, (size_t)n);
    int64_t nv = (int64_t)floor(fraction * (double)n + 0.5);
    if (nv == 0) return NB_OK;
    int k = 1;
    nb_status st = labels ? check_labels(n, labels, &k, fn) : NB_OK;
    if (st) return st;
    int64_t *order = nbi_malloc(sizeof *order * (size_t)n);
    int64_t *start = nbi_malloc(sizeof *start * ((size_t)k + 1));
    int64_t *take = nbi_malloc(sizeof *take * (size_t)k);
    double *rem = nbi_malloc(sizeof *rem * (size_t)k);
    if (!order || !start || !take || !rem) {
        nbi_free(order), nbi_free(start), nbi_free(take), nbi_free(rem);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (labels) {
        st = by_class(n, labels, k, seed, order, start);
    } else { /* one class: a shuffle of all, as nb_dataset_split draws it */
        for (int64_t i = 0; i < n; i++) order[i] = i;
        nb_rng rng;
        nb_rng_seed(&rng, seed);
        nb_rng_shuffle_i64(&rng, order, n);
        start[0] = 0;
        start[1] = n;
    }
    if (!st) {
        int64_t given = 0;
        for (int c = 0; c < k; c++) {
            double want = fraction * (double)(start[c + 1] - start[c]);
            take[c] = (int64_t)floor(want);
            rem[c] = want - (double)take[c];
            given += take[c];
        }
        for (; given < nv; given++) { /* the largest remainder first, the earlier class on ties */
            int best = -1;
            for (int c = 0; c < k; c++)
                if (take[c] < start[c + 1] - start[c] && (best < 0 || rem[c] > rem[best])) best = c;
            if (best < 0) break;
            take[best]++;
            rem[best] = -1.0;
        }
        for (int c = 0; c < k; c++)
            for (int64_t j = 0; j < take[c]; j++) held[order[start[c] + j]] = 1;
    }
    nbi_free(order), nbi_free(start), nbi_free(take), nbi_free(rem);
    return st;
}

nb_status nb_fold_assign(int64_t n, const int32_t *labels, int folds, uint64_t seed,
                         int32_t *fold) {
    const char *fn = "nb_fold_assign";
    if (n < 0 || (n > 0 && !fold) || folds < 2)
        return nbi_error(NB_ERR_ARG, "%s: need n >= 0, an output and at least 2 folds (got %d)", fn,
                         folds);
    if (n < folds)
        return nbi_error(NB_ERR_ARG, "%s: %lld samples cannot make %d folds (each needs one)", fn,
                         (long long)n, folds);
    int k = 1;
    nb_status st = labels ? check_labels(n, labels, &k, fn) : NB_OK;
    if (st) return st;
    int64_t *order = nbi_malloc(sizeof *order * (size_t)n);
    int64_t *start = nbi_malloc(sizeof *start * ((size_t)k + 1));
    if (!order || !start) {
        nbi_free(order), nbi_free(start);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (labels) {
        st = by_class(n, labels, k, seed, order, start);
    } else {
        for (int64_t i = 0; i < n; i++) order[i] = i;
        nb_rng rng;
        nb_rng_seed(&rng, seed);
        nb_rng_shuffle_i64(&rng, order, n);
    }
    /* class after class, round-robin: the rotation goes on where the last class left it */
    for (int64_t j = 0; !st && j < n; j++) fold[order[j]] = (int32_t)(j % folds);
    nbi_free(order), nbi_free(start);
    return st;
}

/* The labels of a dataset (for stratifying), or NULL when it has none. */
static nb_status labels_of(const nb_dataset *ds, int32_t **out) {
    *out = NULL;
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    if (!info.has_y || info.y_dtype != NB_I32) return NB_OK;
    int32_t *lab = nbi_malloc(sizeof *lab * (size_t)(info.n ? info.n : 1));
    if (!lab) return nbi_error(NB_ERR_NOMEM, "split: out of memory");
    nb_status st = nb_dataset_labels(ds, lab);
    if (st) {
        nbi_free(lab);
        return st;
    }
    *out = lab;
    return NB_OK;
}

/* The two parts of ds: samples where part[i] == which go to *a, the others to *b. */
static nb_status two_parts(const nb_dataset *ds, const void *part, bool bytes, int32_t which,
                           nb_dataset **a, nb_dataset **b) {
    int64_t n = nb_dataset_len(ds), na = 0;
    int64_t *ia = nbi_malloc(sizeof *ia * (size_t)(n ? n : 1));
    int64_t *ib = nbi_malloc(sizeof *ib * (size_t)(n ? n : 1));
    if (!ia || !ib) {
        nbi_free(ia), nbi_free(ib);
        return nbi_error(NB_ERR_NOMEM, "split: out of memory");
    }
    int64_t nb = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t v = bytes ? ((const unsigned char *)part)[i] : ((const int32_t *)part)[i];
        if (v == which)
            ia[na++] = i;
        else
            ib[nb++] = i;
    }
    nb_status st = nb_dataset_subset(ds, ia, na, a);
    if (!st) st = nb_dataset_subset(ds, ib, nb, b);
    if (st) {
        nb_dataset_free(*a);
        *a = *b = NULL;
    }
    nbi_free(ia), nbi_free(ib);
    return st;
}

nb_status nb_dataset_split_stratified(const nb_dataset *ds, double val_fraction, uint64_t seed,
                                      nb_dataset **train, nb_dataset **val) {
    const char *fn = "nb_dataset_split_stratified";
    if (!train || !val) return nbi_error(NB_ERR_ARG, "%s: train or val is NULL", fn);
    *train = *val = NULL;
    if (!ds) return nbi_error(NB_ERR_ARG, "%s: the dataset is NULL", fn);
    int32_t *lab;
    nb_status st = labels_of(ds, &lab);
    if (st) return st;
    if (!lab) { /* regression targets, or no y: the plain split */
        return nb_dataset_split(ds, val_fraction, seed, train, val);
    }
    int64_t n = nb_dataset_len(ds);
    int64_t nv = (int64_t)floor(val_fraction * (double)n + 0.5);
    if (val_fraction > 0 && (nv < 1 || nv >= n)) {
        nbi_free(lab);
        return nbi_error(NB_ERR_ARG,
                         "%s: a fraction of %g of %lld samples leaves one part empty "
                         "(%lld held out)",
                         fn, val_fraction, (long long)n, (long long)nv);
    }
    unsigned char *held = nbi_malloc((size_t)(n ? n : 1));
    st = held ? nb_split_mask(n, lab, val_fraction, seed, held)
              : nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    nbi_free(lab);
    if (!st && nv == 0) {
        nbi_free(held);
        *train = nbi_dataset_ref(ds);
        return *train ? NB_OK : NB_ERR_NOMEM;
    }
    if (!st) st = two_parts(ds, held, true, 1, val, train);
    nbi_free(held);
    return st;
}

nb_status nb_dataset_fold(const nb_dataset *ds, int folds, int k, uint64_t seed, int stratify,
                          nb_dataset **train, nb_dataset **test) {
    const char *fn = "nb_dataset_fold";
    if (!train || !test) return nbi_error(NB_ERR_ARG, "%s: train or test is NULL", fn);
    *train = *test = NULL;
    if (!ds) return nbi_error(NB_ERR_ARG, "%s: the dataset is NULL", fn);
    if (folds < 2 || k < 0 || k >= folds)
        return nbi_error(NB_ERR_ARG, "%s: fold %d of %d (need 2 or more folds, 0 <= k < folds)", fn,
                         k, folds);
    int32_t *lab = NULL;
    nb_status st = stratify ? labels_of(ds, &lab) : NB_OK;
    if (st) return st;
    int64_t n = nb_dataset_len(ds);
    int32_t *fold = nbi_malloc(sizeof *fold * (size_t)(n ? n : 1));
    st = fold ? nb_fold_assign(n, lab, folds, seed, fold)
              : nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    nbi_free(lab);
    if (!st) st = two_parts(ds, fold, false, k, test, train);
    nbi_free(fold);
    return st;
}
