/* data/norm.c — normalisation parameters: fitting them to a dataset, checking and applying
 * them.
 *
 * Every kind is x' = (x - shift) / div, so one struct of two arrays describes them all and
 * a model file stores it as two tensors:
 *   standardise  shift = mean = (1/N) sum x,  div = std = sqrt((1/N) sum (x - mean)^2)
 *   min-max      shift = min,                 div = max - min
 *   constant     shift, div given (e.g. 0 and 255 for bytes)
 * Sums are taken in double and in two passes (mean first, then squared deviations), which is
 * how numpy computes x.std(); a feature with no spread keeps div = 1, and so does one whose
 * spread is below float32's normal range (it is no spread a float can show). A divisor must be
 * a normal float: dividing by a subnormal one (below 1.2e-38) turns ordinary inputs into
 * infinities, so nb_norm_set refuses it — a model file or a spec that asks for one included. */
#include "data/data.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void nb_norm_free(nb_norm *norm) {
    if (!norm) return;
    nbi_free(norm->shift);
    nbi_free(norm->div);
    memset(norm, 0, sizeof *norm);
}

nb_status nbi_norm_check(const nb_norm *norm, int64_t features, const char *what) {
    if (norm->kind == NB_NORM_NONE) return NB_OK;
    if ((unsigned)norm->kind > NB_NORM_MINMAX || !norm->shift || !norm->div)
        return nbi_error(NB_ERR_ARG, "%s: the normalisation is not initialised", what);
    int64_t want = norm->per_feature ? features : 1;
    if (norm->n != want)
        return nbi_error(NB_ERR_SHAPE,
                         "%s: the normalisation has %lld parameters but the data "
                         "has %lld features",
                         what, (long long)norm->n, (long long)features);
    return NB_OK;
}

static nb_status alloc_params(nb_norm *norm, nb_norm_kind kind, int per_feature, int64_t n) {
    memset(norm, 0, sizeof *norm);
    if (n < 1 || (uint64_t)n > SIZE_MAX / sizeof(float))
        return nbi_error(NB_ERR_ARG, "normalisation: %lld parameters", (long long)n);
    norm->shift = nbi_malloc((size_t)n * sizeof(float));
    norm->div = nbi_malloc((size_t)n * sizeof(float));
    if (!norm->shift || !norm->div) {
        nb_norm_free(norm);
        return nbi_error(NB_ERR_NOMEM, "normalisation: out of memory");
    }
    norm->kind = kind;
    norm->per_feature = per_feature ? 1 : 0;
    norm->n = n;
    return NB_OK;
}

nb_status nb_norm_set(nb_norm *norm, nb_norm_kind kind, int per_feature, int64_t n,
                      const float *shift, const float *div) {
    if (!norm) return nbi_error(NB_ERR_ARG, "nb_norm_set: norm is NULL");
    memset(norm, 0, sizeof *norm);
    if ((unsigned)kind > NB_NORM_MINMAX)
        return nbi_error(NB_ERR_ARG, "nb_norm_set: unknown kind %d", (int)kind);
    if (kind == NB_NORM_NONE) return NB_OK;
    if (!shift || !div) return nbi_error(NB_ERR_ARG, "nb_norm_set: shift or div is NULL");
    if (!per_feature && n != 1)
        return nbi_error(NB_ERR_ARG,
                         "nb_norm_set: a global normalisation has 1 parameter, "
                         "not %lld",
                         (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(shift[i]) || !isfinite(div[i]) || div[i] == 0.0f)
            return nbi_error(NB_ERR_ARG,
                             "nb_norm_set: parameter %lld is (shift %g, div %g); "
                             "both must be finite and div non-zero",
                             (long long)i, (double)shift[i], (double)div[i]);
        if (fabsf(div[i]) < FLT_MIN)
            return nbi_error(NB_ERR_ARG,
                             "nb_norm_set: parameter %lld has div %g, below the "
                             "smallest normal float32 (%g): dividing by it would overflow "
                             "ordinary inputs to infinity",
                             (long long)i, (double)div[i], (double)FLT_MIN);
    }
    nb_status st = alloc_params(norm, kind, per_feature, n);
    if (st) return st;
    memcpy(norm->shift, shift, (size_t)n * sizeof(float));
    memcpy(norm->div, div, (size_t)n * sizeof(float));
    return NB_OK;
}

nb_status nb_norm_const(nb_norm *norm, float shift, float div) {
    return nb_norm_set(norm, NB_NORM_CONST, 0, 1, &shift, &div);
}

typedef struct acc {
    int64_t F;
    int per_feature;
    int pass;      /* 0: sums (and min/max), 1: squared deviations */
    double *a, *b; /* pass 0: sum, min; pass 1: sum of squares */
    double *mx;    /* max */
    double count;
} acc;

static void visit(const float *row, int64_t F, void *user) {
    acc *c = user;
    for (int64_t f = 0; f < F; f++) {
        int64_t k = c->per_feature ? f : 0;
        double v = row[f];
        if (c->pass == 0) {
            c->a[k] += v;
            if (v < c->b[k]) c->b[k] = v;
            if (v > c->mx[k]) c->mx[k] = v;
        } else {
            double d = v - c->a[k];
            c->b[k] += d * d;
        }
    }
    c->count += c->per_feature ? 1.0 : (double)F;
}

nb_status nb_norm_fit(nb_norm *norm, const nb_dataset *ds, nb_norm_kind kind, int per_feature) {
    if (!norm) return nbi_error(NB_ERR_ARG, "nb_norm_fit: norm is NULL");
    memset(norm, 0, sizeof *norm);
    if (!ds) return nbi_error(NB_ERR_ARG, "nb_norm_fit: the dataset is NULL");
    if (kind != NB_NORM_STANDARD && kind != NB_NORM_MINMAX)
        return nbi_error(NB_ERR_ARG, "nb_norm_fit: only NB_NORM_STANDARD and NB_NORM_MINMAX are "
                                     "fitted to data (use nb_norm_const for a constant)");
    if (nb_dataset_len(ds) < 1) return nbi_error(NB_ERR_ARG, "nb_norm_fit: the dataset is empty");
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    int64_t n = per_feature ? info.features : 1;
    acc c;
    memset(&c, 0, sizeof c);
    c.F = info.features;
    c.per_feature = per_feature;
    c.a = nbi_calloc((size_t)n, sizeof(double));
    c.b = nbi_malloc((size_t)n * sizeof(double));
    c.mx = nbi_malloc((size_t)n * sizeof(double));
    nb_status st = NB_OK;
    if (!c.a || !c.b || !c.mx) st = nbi_error(NB_ERR_NOMEM, "nb_norm_fit: out of memory");
    if (!st) {
        for (int64_t k = 0; k < n; k++) c.b[k] = INFINITY, c.mx[k] = -INFINITY;
        st = nbi_dataset_rows(ds, visit, &c);
    }
    if (!st) st = alloc_params(norm, kind, per_feature, n);
    /* A spread beyond float32 (values near both ends of its range) would make x - shift
     * overflow however it is divided: refused. */
    for (int64_t k = 0; !st && k < n; k++) {
        if (isfinite((float)(c.mx[k] - c.b[k]))) continue;
        char which[48] = "the data";
        if (per_feature) snprintf(which, sizeof which, "feature %lld", (long long)k);
        st = nbi_error(NB_ERR_ARG,
                       "nb_norm_fit: %s spans [%g, %g], wider than float32 can "
                       "hold; rescale the data first",
                       which, c.b[k], c.mx[k]);
    }
    if (st) nb_norm_free(norm);
    if (!st && kind == NB_NORM_MINMAX) {
        for (int64_t k = 0; k < n; k++) {
            double range = c.mx[k] - c.b[k];
            norm->shift[k] = (float)c.b[k];
            norm->div[k] = range > 0 && isfinite((float)range) && (float)range >= FLT_MIN
                               ? (float)range
                               : 1.0f;
        }
    } else if (!st) {
        double count = c.count; /* samples per parameter: N, or N x features */
        for (int64_t k = 0; k < n; k++) c.a[k] /= count, c.b[k] = 0.0;
        c.pass = 1;
        c.count = 0;
        st = nbi_dataset_rows(ds, visit, &c);
        for (int64_t k = 0; !st && k < n; k++) {
            double sd = sqrt(c.b[k] / count);
            norm->shift[k] = (float)c.a[k];
            norm->div[k] = sd > 0 && (float)sd >= FLT_MIN && isfinite((float)sd) ? (float)sd : 1.0f;
        }
        if (st) nb_norm_free(norm);
    }
    nbi_free(c.a);
    nbi_free(c.b);
    nbi_free(c.mx);
    return st;
}

nb_status nb_norm_apply(const nb_norm *norm, float *x, int64_t rows, int64_t features) {
    if (!norm || (rows * features > 0 && !x) || rows < 0 || features < 1)
        return nbi_error(NB_ERR_ARG, "nb_norm_apply: need a norm, data and features >= 1");
    nb_status st = nbi_norm_check(norm, features, "nb_norm_apply");
    if (st || norm->kind == NB_NORM_NONE) return st;
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * features;
        for (int64_t f = 0; f < features; f++) {
            int64_t k = norm->per_feature ? f : 0;
            row[f] = (row[f] - norm->shift[k]) / norm->div[k];
        }
    }
    return NB_OK;
}

nb_status nb_norm_invert(const nb_norm *norm, float *x, int64_t rows, int64_t features) {
    if (!norm || (rows * features > 0 && !x) || rows < 0 || features < 1)
        return nbi_error(NB_ERR_ARG, "nb_norm_invert: need a norm, data and features >= 1");
    nb_status st = nbi_norm_check(norm, features, "nb_norm_invert");
    if (st || norm->kind == NB_NORM_NONE) return st;
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * features;
        for (int64_t f = 0; f < features; f++) {
            int64_t k = norm->per_feature ? f : 0;
            row[f] = row[f] * norm->div[k] + norm->shift[k];
        }
    }
    return NB_OK;
}

/* The targets are gathered into a dataset of their own (as its x), whose parameters are then
 * those of nb_norm_fit: one computation, one set of rules (zero spread, float32's range). */
nb_status nb_norm_fit_targets(nb_norm *norm, const nb_dataset *ds, nb_norm_kind kind,
                              int per_feature) {
    if (!norm) return nbi_error(NB_ERR_ARG, "nb_norm_fit_targets: norm is NULL");
    memset(norm, 0, sizeof *norm);
    if (!ds) return nbi_error(NB_ERR_ARG, "nb_norm_fit_targets: the dataset is NULL");
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    if (!info.has_y || info.y_dtype != NB_F32)
        return nbi_error(NB_ERR_ARG, "nb_norm_fit_targets: the dataset has %s, not f32 targets",
                         info.has_y ? "class labels" : "no y");
    if (info.n < 1) return nbi_error(NB_ERR_ARG, "nb_norm_fit_targets: the dataset is empty");
    size_t xb, yb;
    if (!nbi_mul_size((size_t)info.n, (size_t)info.features * sizeof(float), &xb) ||
        !nbi_mul_size((size_t)info.n, (size_t)info.y_dim * sizeof(float), &yb))
        return nbi_error(NB_ERR_NOMEM, "nb_norm_fit_targets: the dataset is too large");
    int64_t *idx = nbi_malloc((size_t)info.n * sizeof *idx);
    float *x = nbi_malloc(xb), *y = nbi_malloc(yb);
    nb_status st =
        idx && x && y ? NB_OK : nbi_error(NB_ERR_NOMEM, "nb_norm_fit_targets: out of memory");
    for (int64_t i = 0; !st && i < info.n; i++) idx[i] = i;
    if (!st) st = nb_dataset_gather(ds, idx, info.n, NULL, x, y);
    nbi_free(idx);
    nbi_free(x);
    nb_dataset *t = NULL;
    if (!st) {
        nb_array a = {.type = NB_ELEM_F32,
                      .rank = 2,
                      .shape = {info.n, info.y_dim},
                      .numel = info.n * info.y_dim,
                      .data = y};
        st = nb_dataset_from_arrays(&a, NULL, &t);
    }
    nbi_free(y);
    if (!st) st = nb_norm_fit(norm, t, kind, per_feature);
    nb_dataset_free(t);
    return st;
}
