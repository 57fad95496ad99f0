/* data/dataset.c — in-memory datasets: storage shared by reference count between a dataset
 * and its subsets, construction from arrays and files, subsets, seeded splits, and gather,
 * the one routine that turns stored samples (u8, f16 or f32) into normalised f32 rows.
 *
 * A dataset is (storage, row list): the storage holds every sample once; a subset or split
 * is only a list of row numbers into it, so splitting 60 000 images copies no pixels. */
#include "data/data.h"
#include "base/file.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

typedef struct store {
    atomic_int refs;
    int64_t n; /* samples stored */
    int sample_rank;
    int64_t sample_shape[NB_MAX_RANK - 1];
    int64_t features;
    nb_elem x_type; /* NB_ELEM_U8, NB_ELEM_F16 or NB_ELEM_F32 */
    void *x;        /* n x features */
    int has_y;
    nb_dtype y_dtype;
    int y_rank;
    int64_t y_shape[NB_MAX_RANK - 1];
    int64_t y_dim;
    void *y; /* n labels (i32) or n x y_dim targets (f32) */
    int num_classes;
    char **names; /* num_names class names, or NULL */
    int num_names;
} store;

struct nb_dataset {
    store *st;
    int64_t n;
    int64_t *rows; /* n row numbers into st, or NULL for 0..n-1 */
};

static void store_release(store *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    nbi_free(s->x);
    nbi_free(s->y);
    for (int i = 0; i < s->num_names; i++) nbi_free(s->names[i]);
    nbi_free(s->names);
    nbi_free(s);
}

void nb_dataset_free(nb_dataset *ds) {
    if (!ds) return;
    store_release(ds->st);
    nbi_free(ds->rows);
    nbi_free(ds);
}

static nb_dataset *wrap(store *s, int64_t n, int64_t *rows) {
    nb_dataset *ds = nbi_malloc(sizeof *ds);
    if (!ds) {
        nbi_error(NB_ERR_NOMEM, "dataset: out of memory");
        return NULL;
    }
    atomic_fetch_add(&s->refs, 1);
    ds->st = s;
    ds->n = n;
    ds->rows = rows;
    return ds;
}

static nb_status check_array(const nb_array *a, const char *what, const char *which) {
    int64_t numel;
    size_t bytes;
    if ((unsigned)a->type >= NB_ELEM_COUNT || a->rank < 0 || a->rank > NB_MAX_RANK ||
        !nbi_shape_bytes(a->rank, a->shape, nb_elem_size(a->type), &numel, &bytes) ||
        numel != a->numel || (numel && !a->data))
        return nbi_error(NB_ERR_ARG,
                         "%s: the %s array is malformed (type, rank, shape, numel "
                         "or data do not agree)",
                         what, which);
    return NB_OK;
}

static void drop(nb_array *x, nb_array *y, bool owned, char **names, int num_names) {
    if (owned) {
        nb_array_free(x);
        if (y) nb_array_free(y);
    }
    for (int i = 0; names && i < num_names; i++) nbi_free(names[i]);
    nbi_free(names);
}

/* Every stored value must be finite, as the CSV reader demands of its cells: a NaN or an
 * infinity in a .npy or IDX file (or a float64 too large for float32) would otherwise reach
 * the loss as NaN many steps later. `src` is the array as read, for the value it held. */
static nb_status check_finite(const float *v, int64_t n, int64_t per, const nb_array *src,
                              const char *what, const char *which) {
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(v[i])) continue;
        double orig = src->data ? nbi_elem_get(src->type, src->data, i) : (double)v[i];
        int64_t r = i / per, c = i % per;
        if (isfinite(orig))
            return nbi_error(NB_ERR_FORMAT,
                             "%s: %s %lld, value %lld is %g, too large for "
                             "float32",
                             what, which, (long long)r, (long long)c, orig);
        return nbi_error(NB_ERR_FORMAT,
                         "%s: %s %lld, value %lld is %s; NaN and infinity are "
                         "not supported (fill or drop them first)",
                         what, which, (long long)r, (long long)c,
                         isnan(orig) ? "NaN"
                         : orig > 0  ? "inf"
                                     : "-inf");
    }
    return NB_OK;
}

/* The same of halves: an all-ones exponent is an infinity or a NaN. */
static nb_status check_finite_half(const uint16_t *v, int64_t n, int64_t per, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        if ((v[i] & 0x7C00u) != 0x7C00u) continue;
        return nbi_error(NB_ERR_FORMAT,
                         "%s: sample %lld, value %lld is %s; NaN and infinity are "
                         "not supported (fill or drop them first)",
                         what, (long long)(i / per), (long long)(i % per),
                         (v[i] & 0x3FFu) ? "NaN" : (v[i] & 0x8000u) ? "-inf" : "inf");
    }
    return NB_OK;
}

/* The stored form of x (u8, f16 or f32) and y (i32 labels or f32 targets). With `owned`, the
 * arrays' buffers are taken when they already have that form (and freed otherwise). The
 * class names (num_names strings) are always taken. `what` names x (and both) in messages,
 * `y_what` names y. */
static nb_status build(nb_array *x, nb_array *y, bool owned, char **names, int num_names,
                       const char *what, const char *y_what, nb_dataset **out) {
    *out = NULL;
    nb_status st = check_array(x, what, "x");
    bool has_y = y && (y->data || y->numel || y->rank);
    if (!st && has_y) st = check_array(y, y_what, "y");
    if (!st && x->rank < 1)
        st = nbi_error(NB_ERR_SHAPE,
                       "%s: x must have a first (sample) dimension; it is a "
                       "scalar",
                       what);
    store *s = st ? NULL : nbi_malloc(sizeof *s);
    if (!st && !s) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    if (st) {
        drop(x, y, owned, names, num_names);
        return st;
    }
    int64_t n = x->shape[0];
    memset(s, 0, sizeof *s);
    atomic_init(&s->refs, 0);
    s->n = n;
    s->sample_rank = x->rank - 1;
    for (int i = 1; i < x->rank; i++) s->sample_shape[i - 1] = x->shape[i];
    size_t fb;
    if (!nbi_shape_bytes(s->sample_rank, s->sample_shape, sizeof(float), &s->features, &fb)) {
        /* Only possible with no samples at all: otherwise x's size bounds it. */
        st = nbi_error(NB_ERR_SHAPE, "%s: a sample would be too large", what);
        goto fail;
    }
    if (s->features == 0) {
        st = nbi_error(NB_ERR_SHAPE,
                       "%s: the samples have no features (x has a zero "
                       "dimension)",
                       what);
        goto fail;
    }
    /* x */
    if (x->type == NB_ELEM_U8 || x->type == NB_ELEM_F16 || x->type == NB_ELEM_F32) {
        s->x_type = x->type;
        if (owned) {
            s->x = x->data;
            x->data = NULL;
        } else {
            size_t b = (size_t)x->numel * nb_elem_size(x->type);
            s->x = nbi_malloc(b ? b : 1);
            if (s->x && b) memcpy(s->x, x->data, b);
        }
    } else {
        s->x_type = NB_ELEM_F32;
        s->x = nbi_malloc((size_t)x->numel * sizeof(float) + 1);
        if (s->x) nbi_elem_to_f32(x->type, x->data, x->numel, s->x);
    }
    if (!s->x) {
        st = nbi_error(NB_ERR_NOMEM, "%s: out of memory for %lld samples", what, (long long)n);
        goto fail;
    }
    if (s->x_type == NB_ELEM_F32) {
        st = check_finite(s->x, x->numel, s->features, x, what, "sample");
        if (st) goto fail;
    } else if (s->x_type == NB_ELEM_F16) {
        st = check_finite_half(s->x, x->numel, s->features, what);
        if (st) goto fail;
    }
    /* y */
    if (has_y) {
        if (y->rank < 1 || y->shape[0] != n) {
            st = nbi_error(NB_ERR_SHAPE, "%s: x has %lld samples but y has %lld", what,
                           (long long)n, (long long)(y->rank ? y->shape[0] : 0));
            goto fail;
        }
        s->has_y = 1;
        if (nbi_elem_is_int(y->type)) {
            if (!(y->rank == 1 || (y->rank == 2 && y->shape[1] == 1))) {
                st = nbi_error(NB_ERR_SHAPE,
                               "%s: integer labels must have shape [n] or [n, 1]; "
                               "y has rank %d",
                               y_what, y->rank);
                goto fail;
            }
            s->y_dtype = NB_I32;
            s->y_rank = 0;
            s->y_dim = 1;
            int32_t *lab = nbi_malloc((size_t)n * sizeof(int32_t) + 1);
            if (!lab) {
                st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
                goto fail;
            }
            s->y = lab;
            int64_t maxl = -1;
            for (int64_t i = 0; i < n; i++) {
                double v = nbi_elem_get(y->type, y->data, i);
                if (!(v >= 0 && v <= 2147483646.0)) {
                    st = nbi_error(NB_ERR_FORMAT,
                                   "%s: label %lld is %.0f; class labels must be "
                                   "integers from 0 to 2^31 - 2",
                                   y_what, (long long)i, v);
                    goto fail;
                }
                lab[i] = (int32_t)v;
                if (lab[i] > maxl) maxl = lab[i];
            }
            s->num_classes = (int)(maxl + 1);
            if (names) {
                if (maxl >= num_names) {
                    st = nbi_error(NB_ERR_FORMAT, "%s: label %lld has no class name (%d names)",
                                   y_what, (long long)maxl, num_names);
                    goto fail;
                }
                s->num_classes = num_names;
            }
        } else {
            s->y_dtype = NB_F32;
            s->y_rank = y->rank - 1;
            for (int i = 1; i < y->rank; i++) s->y_shape[i - 1] = y->shape[i];
            size_t yb;
            if (!nbi_shape_bytes(s->y_rank, s->y_shape, sizeof(float), &s->y_dim, &yb) ||
                s->y_dim == 0) {
                st = nbi_error(NB_ERR_SHAPE,
                               "%s: the targets' sample shape is empty or too "
                               "large",
                               y_what);
                goto fail;
            }
            if (y->type == NB_ELEM_F32 && owned) {
                s->y = y->data;
                y->data = NULL;
            } else {
                s->y = nbi_malloc((size_t)y->numel * sizeof(float) + 1);
                if (!s->y) {
                    st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
                    goto fail;
                }
                nbi_elem_to_f32(y->type, y->data, y->numel, s->y);
            }
            st = check_finite(s->y, y->numel, s->y_dim, y, y_what, "the target of sample");
            if (st) goto fail;
        }
    }
    s->names = names;
    s->num_names = names ? num_names : 0;
    *out = wrap(s, n, NULL);
    if (!*out) {
        st = NB_ERR_NOMEM;
        goto fail;
    }
    if (owned) {
        nb_array_free(x);
        if (y) nb_array_free(y);
    }
    return NB_OK;
fail:
    /* Whatever was taken into s is freed with it; the rest goes with drop. */
    nbi_free(s->x);
    nbi_free(s->y);
    if (s->names) {
        for (int i = 0; i < s->num_names; i++) nbi_free(s->names[i]);
        nbi_free(s->names);
        names = NULL;
    }
    nbi_free(s);
    drop(x, y, owned, names, num_names);
    return st;
}

nb_status nbi_dataset_adopt(nb_array *x, nb_array *y, char **class_names, int num_names,
                            const char *what, nb_dataset **out) {
    return build(x, y, true, class_names, num_names, what, what, out);
}

nb_status nb_dataset_from_arrays(const nb_array *x, const nb_array *y, nb_dataset **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_dataset_from_arrays: out is NULL");
    *out = NULL;
    if (!x) return nbi_error(NB_ERR_ARG, "nb_dataset_from_arrays: x is NULL");
    nb_array xc = *x, yc;
    if (y) yc = *y;
    return build(&xc, y ? &yc : NULL, false, NULL, 0, "nb_dataset_from_arrays",
                 "nb_dataset_from_arrays (y)", out);
}

/* Reads x and optional y with `reader` and checks that their counts agree. */
static nb_status load_pair(nb_status (*reader)(const char *, nb_array *), const char *kind,
                           const char *x_path, const char *y_path, nb_dataset **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", kind);
    *out = NULL;
    nb_array x, y;
    memset(&y, 0, sizeof y);
    nb_status st = reader(x_path, &x);
    if (st) return st;
    if (y_path) {
        st = reader(y_path, &y);
        if (st) {
            nb_array_free(&x);
            return st;
        }
        int64_t nx = x.rank ? x.shape[0] : 0, ny = y.rank ? y.shape[0] : 0;
        if (x.rank < 1 || y.rank < 1 || nx != ny) {
            nb_array_free(&x);
            nb_array_free(&y);
            return nbi_error(NB_ERR_SHAPE,
                             "%s: '%s' holds %lld samples but '%s' holds %lld "
                             "labels; they must come in pairs",
                             kind, x_path, (long long)nx, y_path, (long long)ny);
        }
    }
    return build(&x, y_path ? &y : NULL, true, NULL, 0, x_path, y_path, out);
}

nb_status nb_dataset_load_idx(const char *images_path, const char *labels_path, nb_dataset **out) {
    return load_pair(nb_idx_read, "IDX", images_path, labels_path, out);
}

nb_status nb_dataset_load_npy(const char *x_path, const char *y_path, nb_dataset **out) {
    return load_pair(nb_npy_read, "NPY", x_path, y_path, out);
}

/* The csv's x, labels/targets and class names as arrays; with `take`, the csv's buffers
 * move into them (and the csv is left without them), otherwise they are borrowed. */
static nb_status csv_arrays(nb_csv *c, nb_array *x, nb_array *y, bool *has_y) {
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    x->type = NB_ELEM_F32;
    x->rank = 2;
    x->shape[0] = c->rows;
    x->shape[1] = c->cols;
    x->numel = c->rows * c->cols;
    x->data = c->x;
    *has_y = c->labels || c->targets;
    if (c->labels) {
        y->type = NB_ELEM_I32;
        y->rank = 1;
        y->data = c->labels;
    } else if (c->targets) {
        y->type = NB_ELEM_F32;
        y->rank = 2;
        y->shape[1] = c->num_targets > 0 ? c->num_targets : 1;
        y->data = c->targets;
    }
    y->shape[0] = c->rows;
    y->numel = c->rows * (c->targets ? y->shape[1] : 1);
    return NB_OK;
}

static nb_status copy_names(char *const *src, int n, char ***out) {
    *out = NULL;
    if (!src || n <= 0) return NB_OK;
    char **names = nbi_calloc((size_t)n, sizeof *names);
    if (!names) return nbi_error(NB_ERR_NOMEM, "dataset: out of memory");
    for (int i = 0; i < n; i++) {
        size_t k = strlen(src[i]);
        names[i] = nbi_malloc(k + 1);
        if (!names[i]) {
            for (int j = 0; j < i; j++) nbi_free(names[j]);
            nbi_free(names);
            return nbi_error(NB_ERR_NOMEM, "dataset: out of memory");
        }
        memcpy(names[i], src[i], k + 1);
    }
    *out = names;
    return NB_OK;
}

nb_status nb_dataset_from_csv(const nb_csv *csv, nb_dataset **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_dataset_from_csv: out is NULL");
    *out = NULL;
    if (!csv || !csv->x) return nbi_error(NB_ERR_ARG, "nb_dataset_from_csv: empty CSV");
    nb_csv c = *csv;
    nb_array x, y;
    bool has_y;
    csv_arrays(&c, &x, &y, &has_y);
    char **names;
    nb_status st = copy_names(c.classes, c.num_classes, &names);
    if (st) return st;
    return build(&x, has_y ? &y : NULL, false, names, names ? c.num_classes : 0, "CSV", "CSV", out);
}

nb_status nb_dataset_load_csv(const char *path, const nb_csv_opts *opts, nb_dataset **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_dataset_load_csv: out is NULL");
    *out = NULL;
    nb_csv c;
    nb_status st = nb_csv_read(path, opts, &c);
    if (st) return st;
    nb_array x, y;
    bool has_y;
    csv_arrays(&c, &x, &y, &has_y);
    char **names = c.classes;
    int nn = c.classes ? c.num_classes : 0;
    /* The buffers move into the dataset. */
    c.x = NULL;
    c.labels = NULL;
    c.targets = NULL;
    c.classes = NULL;
    c.num_classes = 0;
    nb_csv_free(&c);
    return build(&x, has_y ? &y : NULL, true, names, nn, path, path, out);
}

/* ---- queries ------------------------------------------------------------------------- */

static inline int64_t row_of(const nb_dataset *ds, int64_t i);

int64_t nb_dataset_len(const nb_dataset *ds) {
    return ds ? ds->n : 0;
}

void nb_dataset_get_info(const nb_dataset *ds, nb_dataset_info *info) {
    memset(info, 0, sizeof *info);
    if (!ds) return;
    const store *s = ds->st;
    info->n = ds->n;
    info->sample_rank = s->sample_rank;
    memcpy(info->sample_shape, s->sample_shape, sizeof info->sample_shape);
    info->features = s->features;
    info->x_type = s->x_type;
    info->has_y = s->has_y;
    info->y_dtype = s->y_dtype;
    info->y_rank = s->y_rank;
    memcpy(info->y_shape, s->y_shape, sizeof info->y_shape);
    info->y_dim = s->has_y ? s->y_dim : 0;
    info->num_classes = s->num_classes;
}

nb_status nb_dataset_labels(const nb_dataset *ds, int32_t *labels) {
    if (!ds || !labels) return nbi_error(NB_ERR_ARG, "nb_dataset_labels: NULL argument");
    const store *s = ds->st;
    if (!s->has_y || s->y_dtype != NB_I32)
        return nbi_error(NB_ERR_ARG, "nb_dataset_labels: the dataset has %s, not class labels",
                         s->has_y ? "f32 targets" : "no y");
    for (int64_t i = 0; i < ds->n; i++) labels[i] = ((const int32_t *)s->y)[row_of(ds, i)];
    return NB_OK;
}

const char *nb_dataset_class_name(const nb_dataset *ds, int k) {
    if (!ds || k < 0 || k >= ds->st->num_names) return NULL;
    return ds->st->names[k];
}

/* ---- subsets and splits ---------------------------------------------------------------- */

static inline int64_t row_of(const nb_dataset *ds, int64_t i) {
    return ds->rows ? ds->rows[i] : i;
}

nb_status nb_dataset_subset(const nb_dataset *ds, const int64_t *idx, int64_t n, nb_dataset **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_dataset_subset: out is NULL");
    *out = NULL;
    if (!ds || n < 0 || (n > 0 && !idx))
        return nbi_error(NB_ERR_ARG, "nb_dataset_subset: need a dataset and n >= 0 indices");
    size_t b;
    if (!nbi_mul_size((size_t)n, sizeof(int64_t), &b))
        return nbi_error(NB_ERR_ARG, "nb_dataset_subset: too many indices");
    int64_t *rows = nbi_malloc(b ? b : 1);
    if (!rows) return nbi_error(NB_ERR_NOMEM, "nb_dataset_subset: out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= ds->n) {
            nbi_free(rows);
            return nbi_error(NB_ERR_ARG,
                             "nb_dataset_subset: index %lld (position %lld) is out "
                             "of range for %lld samples",
                             (long long)idx[i], (long long)i, (long long)ds->n);
        }
        rows[i] = row_of(ds, idx[i]);
    }
    *out = wrap(ds->st, n, rows);
    if (!*out) {
        nbi_free(rows);
        return NB_ERR_NOMEM;
    }
    return NB_OK;
}

nb_dataset *nbi_dataset_ref(const nb_dataset *ds) {
    int64_t *rows = NULL;
    if (ds->rows) {
        rows = nbi_malloc((size_t)ds->n * sizeof(int64_t) + 1);
        if (!rows) {
            nbi_error(NB_ERR_NOMEM, "dataset: out of memory");
            return NULL;
        }
        memcpy(rows, ds->rows, (size_t)ds->n * sizeof(int64_t));
    }
    nb_dataset *d = wrap(ds->st, ds->n, rows);
    if (!d) nbi_free(rows);
    return d;
}

nb_status nb_dataset_split(const nb_dataset *ds, double val_fraction, uint64_t seed,
                           nb_dataset **train, nb_dataset **val) {
    if (!train || !val) return nbi_error(NB_ERR_ARG, "nb_dataset_split: train or val is NULL");
    *train = *val = NULL;
    if (!ds) return nbi_error(NB_ERR_ARG, "nb_dataset_split: the dataset is NULL");
    if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        return nbi_error(NB_ERR_ARG, "nb_dataset_split: val_fraction %g is not in [0, 1)",
                         val_fraction);
    if (val_fraction == 0.0) {
        *train = nbi_dataset_ref(ds);
        return *train ? NB_OK : NB_ERR_NOMEM;
    }
    int64_t n = ds->n;
    int64_t nv = (int64_t)floor(val_fraction * (double)n + 0.5);
    if (nv < 1 || nv >= n)
        return nbi_error(NB_ERR_ARG,
                         "nb_dataset_split: a validation fraction of %g of %lld "
                         "samples leaves one part empty (%lld for validation)",
                         val_fraction, (long long)n, (long long)nv);
    /* A seeded Fisher-Yates permutation; its first nv positions are the validation set. Both
     * parts are then listed in the original order. */
    int64_t *perm = nbi_malloc((size_t)n * sizeof(int64_t));
    unsigned char *in_val = nbi_calloc((size_t)n, 1);
    int64_t *tr = nbi_malloc((size_t)(n - nv) * sizeof(int64_t));
    int64_t *va = nbi_malloc((size_t)nv * sizeof(int64_t));
    if (!perm || !in_val || !tr || !va) {
        nbi_free(perm), nbi_free(in_val), nbi_free(tr), nbi_free(va);
        return nbi_error(NB_ERR_NOMEM, "nb_dataset_split: out of memory");
    }
    nb_rng rng;
    nb_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    nb_rng_shuffle_i64(&rng, perm, n);
    for (int64_t i = 0; i < nv; i++) in_val[perm[i]] = 1;
    for (int64_t i = 0, a = 0, b = 0; i < n; i++) {
        if (in_val[i])
            va[b++] = row_of(ds, i);
        else
            tr[a++] = row_of(ds, i);
    }
    nbi_free(perm);
    nbi_free(in_val);
    *train = wrap(ds->st, n - nv, tr);
    *val = *train ? wrap(ds->st, nv, va) : NULL;
    if (!*train || !*val) {
        if (*train)
            nb_dataset_free(*train);
        else
            nbi_free(tr);
        nbi_free(va);
        *train = *val = NULL;
        return NB_ERR_NOMEM;
    }
    return NB_OK;
}

/* ---- gather: stored samples -> normalised f32 rows ------------------------------------- */

/* Rows are read in a shuffled order, each from a different place in the store, and the
 * hardware's prefetcher cannot guess the next: the bytes of the row GATHER_AHEAD samples on
 * (and its label) are asked for while this one is converted (the loads of the rows were most
 * of the gather's time in the MLP's CLI run). */
#define GATHER_AHEAD 2
static void gather_prefetch(const nb_dataset *ds, int64_t i) {
#if defined(__GNUC__)
    const store *s = ds->st;
    int64_t r = row_of(ds, i);
    size_t bytes = (size_t)s->features * nb_elem_size(s->x_type);
    const char *p = (const char *)s->x + (size_t)r * bytes;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
    if (s->has_y)
        __builtin_prefetch(s->y_dtype == NB_I32
                               ? (const void *)((const int32_t *)s->y + r)
                               : (const void *)((const float *)s->y + r * s->y_dim),
                           0, 3);
#else
    (void)ds, (void)i;
#endif
}

nb_status nb_dataset_gather(const nb_dataset *ds, const int64_t *idx, int64_t n,
                            const nb_norm *norm, float *x, void *y) {
    if (!ds || n < 0 || (n > 0 && (!idx || !x)))
        return nbi_error(NB_ERR_ARG, "nb_dataset_gather: need a dataset, indices and x");
    const store *s = ds->st;
    int64_t F = s->features;
    if (norm && norm->kind != NB_NORM_NONE) {
        nb_status st = nbi_norm_check(norm, F, "nb_dataset_gather");
        if (st) return st;
    } else {
        norm = NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return nbi_error(NB_ERR_ARG,
                             "nb_dataset_gather: index %lld is out of range for "
                             "%lld samples",
                             (long long)idx[i], (long long)ds->n);
    /* bytes under one global (shift, div), or none: (0, 1) gives the byte's value exactly */
    bool global_u8 = s->x_type == NB_ELEM_U8 && (!norm || !norm->per_feature);
    float gsh = norm && global_u8 ? norm->shift[0] : 0.0f;
    float gdv = norm && global_u8 ? norm->div[0] : 1.0f;
    void (*half_to_f32)(int64_t, const uint16_t *, float *) =
        s->x_type == NB_ELEM_F16 ? nbi_kernel_set(nbi_best_isa())->half_to_f32 : NULL;
    void (*u8_to_f32)(int64_t, const uint8_t *, float, float, float *) =
        global_u8 ? nbi_kernel_set(nbi_best_isa())->u8_to_f32 : NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row_of(ds, idx[i]);
        float *dst = x + i * F;
        if (i + GATHER_AHEAD < n) gather_prefetch(ds, idx[i + GATHER_AHEAD]);
        if (s->x_type == NB_ELEM_U8) {
            const uint8_t *src = (const uint8_t *)s->x + r * F;
            if (global_u8) {
                u8_to_f32(F, src, gsh, gdv, dst);
            } else {
                for (int64_t f = 0; f < F; f++)
                    dst[f] = ((float)src[f] - norm->shift[f]) / norm->div[f];
            }
        } else {
            const float *src = dst;
            if (s->x_type == NB_ELEM_F16) /* widened in place, then normalised there */
                half_to_f32(F, (const uint16_t *)s->x + r * F, dst);
            else
                src = (const float *)s->x + r * F;
            if (!norm) {
                if (src != dst) memcpy(dst, src, (size_t)F * sizeof(float));
            } else if (norm->per_feature) {
                for (int64_t f = 0; f < F; f++) dst[f] = (src[f] - norm->shift[f]) / norm->div[f];
            } else {
                float sh = norm->shift[0], dv = norm->div[0];
                for (int64_t f = 0; f < F; f++) dst[f] = (src[f] - sh) / dv;
            }
        }
        if (y && s->has_y) {
            if (s->y_dtype == NB_I32)
                ((int32_t *)y)[i] = ((const int32_t *)s->y)[r];
            else
                memcpy((float *)y + i * s->y_dim, (const float *)s->y + r * s->y_dim,
                       (size_t)s->y_dim * sizeof(float));
        }
    }
    return NB_OK;
}

nb_status nbi_dataset_rows(const nb_dataset *ds,
                           void (*fn)(const float *row, int64_t F, void *user), void *user) {
    const store *s = ds->st;
    int64_t F = s->features;
    float *tmp = NULL;
    if (s->x_type != NB_ELEM_F32) {
        tmp = nbi_malloc((size_t)F * sizeof(float));
        if (!tmp) return nbi_error(NB_ERR_NOMEM, "dataset: out of memory");
    }
    for (int64_t i = 0; i < ds->n; i++) {
        int64_t r = row_of(ds, i);
        if (tmp) {
            nbi_elem_to_f32(s->x_type, (const unsigned char *)s->x + (size_t)(r * F) *
                                                                     nb_elem_size(s->x_type),
                            F, tmp);
            fn(tmp, F, user);
        } else {
            fn((const float *)s->x + r * F, F, user);
        }
    }
    nbi_free(tmp);
    return NB_OK;
}
